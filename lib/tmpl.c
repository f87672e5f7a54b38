/* tmpl.c - templates parsed once into trees of nodes, rendered per call with a context stack. */
#include "tmpl.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "html.h"

#define TMPL_MAX_FILE (1024 * 1024)
#define TMPL_MAX_NESTING 64 /* sections inside sections, in a file and on the context stack */
#define TMPL_MAX_PARTIALS 32 /* partials inside partials while rendering (recursion is allowed) */

enum node_kind { N_TEXT, N_VAR, N_URL, N_RAW, N_SECTION, N_INVERTED, N_PARTIAL };

struct tmpl;

struct node_list {
	struct node *v;
	size_t n, cap;
};

struct node {
	enum node_kind kind;
	int line;
	char *text;             /* N_TEXT: the literal; else the name as written ("a.b", ".", "header") */
	size_t len;             /* N_TEXT: its length */
	char **path;            /* variables and sections: the name's parts; npath 0 for "." */
	size_t npath;
	struct node_list body;  /* sections */
	const struct tmpl *partial; /* N_PARTIAL: resolved after every file is parsed */
};

struct tmpl {
	char *name; /* file name without ".html" */
	char *file; /* dir/name.html, for messages */
	struct node_list body;
};

struct tmpl_set {
	struct tmpl *v; /* sorted by name */
	size_t n;
};

/* The trust mark: only the address matters (see tmpl_trusted_html). */
static const char trusted_marker = 'T';

/* ---- freeing */

static void nodes_free(struct node_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		struct node *nd = &l->v[i];
		free(nd->text);
		for (size_t k = 0; k < nd->npath; k++)
			free(nd->path[k]);
		free(nd->path);
		nodes_free(&nd->body);
	}
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

void tmpl_free(tmpl_set *set)
{
	if (!set)
		return;
	for (size_t i = 0; i < set->n; i++) {
		free(set->v[i].name);
		free(set->v[i].file);
		nodes_free(&set->v[i].body);
	}
	free(set->v);
	free(set);
}

/* ---- parsing */

struct parser {
	const char *file;
	const char *src, *p, *end;
	int line;
	char **err;
};

static struct node *nodes_add(struct node_list *l, enum node_kind kind, int line)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		struct node *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return NULL;
		l->v = v;
		l->cap = cap;
	}
	struct node *nd = &l->v[l->n++];
	memset(nd, 0, sizeof *nd);
	nd->kind = kind;
	nd->line = line;
	return nd;
}

static int parse_error(struct parser *ps, int line, const char *what, const char *name)
{
	if (name)
		return buf_error(ps->err, "%s:%d: %s '%s'", ps->file, line, what, name);
	return buf_error(ps->err, "%s:%d: %s", ps->file, line, what);
}

static int count_lines(const char *s, const char *end)
{
	int n = 0;
	for (; s < end; s++)
		n += *s == '\n';
	return n;
}

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
	       c == '-';
}

/* Split a dotted name into nd->path; "." is the current context (no parts). 0, or -1 for a bad name. */
static int set_name(struct node *nd, const char *name, size_t len)
{
	nd->text = strndup(name, len);
	if (!nd->text)
		return -1;
	if (len == 1 && name[0] == '.')
		return 0;
	size_t parts = 1;
	for (size_t i = 0; i < len; i++) {
		if (name[i] == '.') {
			if (i == 0 || i + 1 == len || name[i + 1] == '.')
				return -1;
			parts++;
		} else if (!name_char(name[i])) {
			return -1;
		}
	}
	if (len == 0 || !(nd->path = calloc(parts, sizeof *nd->path)))
		return -1;
	const char *s = name, *end = name + len;
	while (s < end) {
		const char *dot = memchr(s, '.', (size_t)(end - s));
		size_t n = dot ? (size_t)(dot - s) : (size_t)(end - s);
		if (!(nd->path[nd->npath] = strndup(s, n)))
			return -1;
		nd->npath++;
		s += n + 1;
	}
	return 0;
}

static int parse_list(struct parser *ps, struct node_list *out, const struct node *open, int depth);

/* One tag whose inside is [in, in_end), starting on line `line`. Returns 0, 1 when it closes `open`,
 * or -1 with *err set. */
static int parse_tag(struct parser *ps, struct node_list *out, const struct node *open, int depth,
		     const char *in, const char *in_end, int line)
{
	char sigil = 0;
	enum node_kind kind = N_VAR;
	while (in < in_end && is_blank(*in))
		in++;
	while (in_end > in && is_blank(in_end[-1]))
		in_end--;
	if (in < in_end && *in && strchr("#^/>&!{=", *in))
		sigil = *in++;
	if (sigil == '!')
		return 0;
	if (sigil == '{')
		return parse_error(ps, line, "{{{...}}} is not supported: raw HTML is {{& name}} with a tmpl_trusted_html value",
				   NULL);
	if (sigil == '=')
		return parse_error(ps, line, "delimiter changes are not supported", NULL);
	if (!sigil && in_end - in > 4 && strncmp(in, "url", 3) == 0 && is_blank(in[3])) {
		kind = N_URL;
		in += 3;
	}
	while (in < in_end && is_blank(*in))
		in++;
	size_t len = (size_t)(in_end - in);
	if (len == 0)
		return parse_error(ps, line, "empty tag", NULL);
	switch (sigil) {
	case '#': kind = N_SECTION; break;
	case '^': kind = N_INVERTED; break;
	case '>': kind = N_PARTIAL; break;
	case '&': kind = N_RAW; break;
	case '/':
		if (!open || strlen(open->text) != len || strncmp(open->text, in, len) != 0) {
			char *name = strndup(in, len);
			buf_t msg = BUF_INIT;
			if (open)
				buf_printf(&msg, "{{/%s}} closes nothing: the open section is '%s' (line %d)",
					   name ? name : "?", open->text, open->line);
			else
				buf_printf(&msg, "{{/%s}} closes nothing: no section is open", name ? name : "?");
			parse_error(ps, line, buf_str(&msg), NULL);
			buf_free(&msg);
			free(name);
			return -1;
		}
		return 1;
	default: break;
	}
	struct node *nd = nodes_add(out, kind, line);
	if (!nd)
		return parse_error(ps, line, "out of memory", NULL);
	if (kind == N_PARTIAL) {
		if (!(nd->text = strndup(in, len)))
			return parse_error(ps, line, "out of memory", NULL);
		for (size_t i = 0; i < len; i++)
			if (!name_char(in[i]))
				return parse_error(ps, line, "bad partial name", nd->text);
		return 0;
	}
	if (set_name(nd, in, len) < 0)
		return parse_error(ps, line, "bad name", nd->text ? nd->text : "?");
	if (kind != N_SECTION && kind != N_INVERTED)
		return 0;
	if (depth + 1 >= TMPL_MAX_NESTING)
		return parse_error(ps, line, "sections nested too deeply at", nd->text);
	/* nd stays put: the body goes into a list of its own, out does not grow meanwhile */
	return parse_list(ps, &nd->body, nd, depth + 1) < 0 ? -1 : 0;
}

/* Nodes up to the end of the file, or up to the {{/...}} that closes `open`. */
static int parse_list(struct parser *ps, struct node_list *out, const struct node *open, int depth)
{
	for (;;) {
		const char *tag = ps->p;
		while (tag < ps->end && !(tag[0] == '{' && tag + 1 < ps->end && tag[1] == '{'))
			tag++;
		if (tag > ps->p) {
			size_t len = (size_t)(tag - ps->p);
			struct node *nd = nodes_add(out, N_TEXT, ps->line);
			if (!nd || !(nd->text = malloc(len + 1)))
				return parse_error(ps, ps->line, "out of memory", NULL);
			memcpy(nd->text, ps->p, len); /* the file may hold NUL bytes: no strndup */
			nd->text[len] = '\0';
			nd->len = len;
			ps->line += count_lines(ps->p, tag);
			ps->p = tag;
		}
		if (tag >= ps->end) {
			if (open)
				return parse_error(ps, open->line, "section is never closed:", open->text);
			return 0;
		}
		int line = ps->line;
		const char *in = tag + 2, *close = in;
		while (close + 1 < ps->end && !(close[0] == '}' && close[1] == '}'))
			close++;
		if (close + 1 >= ps->end)
			return parse_error(ps, line, "tag is never closed with }}", NULL);
		if (*in == '{' && close + 2 < ps->end && close[2] == '}')
			close++; /* {{{x}}}: let parse_tag refuse it by name */
		ps->line += count_lines(in, close);
		ps->p = close + 2;
		int rc = parse_tag(ps, out, open, depth, in, close, line);
		if (rc != 0)
			return rc;
	}
}

static int parse_file(struct tmpl *t, const char *src, size_t len, char **err)
{
	struct parser ps = {.file = t->file, .src = src, .p = src, .end = src + len, .line = 1, .err = err};
	int rc = parse_list(&ps, &t->body, NULL, 0);
	if (rc > 0)
		return -1; /* cannot happen: a close tag without an open section is an error */
	return rc;
}

/* ---- loading */

static int tmpl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct tmpl *)a)->name, ((const struct tmpl *)b)->name);
}

static const struct tmpl *find(const tmpl_set *set, const char *name)
{
	struct tmpl key = {.name = (char *)name};
	return bsearch(&key, set->v, set->n, sizeof *set->v, tmpl_cmp);
}

static int resolve_partials(const tmpl_set *set, const struct tmpl *t, struct node_list *l, char **err)
{
	for (size_t i = 0; i < l->n; i++) {
		struct node *nd = &l->v[i];
		if (nd->kind == N_PARTIAL && !(nd->partial = find(set, nd->text)))
			return buf_error(err, "%s:%d: no template '%s' for {{> %s}}", t->file, nd->line, nd->text,
					 nd->text);
		if (resolve_partials(set, t, &nd->body, err) < 0)
			return -1;
	}
	return 0;
}

/* Whether a directory entry is a template: "<name>.html" with a name of name_char only. */
static size_t template_name_len(const char *fname)
{
	size_t n = strlen(fname);
	if (n <= 5 || strcmp(fname + n - 5, ".html") != 0)
		return 0;
	for (size_t i = 0; i < n - 5; i++)
		if (!name_char(fname[i]))
			return 0;
	return n - 5;
}

static char *read_file(const char *path, size_t *len, char **err)
{
	char *data = NULL;
	FILE *f = fopen(path, "rb");
	if (!f) {
		buf_error(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	struct stat st;
	if (fstat(fileno(f), &st) < 0 || !S_ISREG(st.st_mode)) {
		buf_error(err, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > TMPL_MAX_FILE) {
		buf_error(err, "%s: larger than %d bytes", path, TMPL_MAX_FILE);
		goto out;
	}
	if (!(data = malloc((size_t)st.st_size + 1))) {
		buf_error(err, "%s: out of memory", path);
		goto out;
	}
	*len = fread(data, 1, (size_t)st.st_size, f);
	if (ferror(f)) {
		buf_error(err, "%s: read error", path);
		free(data);
		data = NULL;
		goto out;
	}
	data[*len] = '\0';
out:
	fclose(f);
	return data;
}

tmpl_set *tmpl_load(const char *dir, char **err)
{
	tmpl_set *set = calloc(1, sizeof *set);
	size_t cap = 0;
	DIR *d = opendir(dir);
	if (!set || !d) {
		buf_error(err, "%s: %s", dir, set ? strerror(errno) : "out of memory");
		goto fail;
	}
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t n = template_name_len(de->d_name);
		if (!n)
			continue;
		if (set->n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			struct tmpl *v = realloc(set->v, ncap * sizeof *v);
			if (!v) {
				buf_error(err, "%s: out of memory", dir);
				goto fail;
			}
			set->v = v;
			cap = ncap;
		}
		struct tmpl *t = &set->v[set->n];
		memset(t, 0, sizeof *t);
		t->name = strndup(de->d_name, n);
		t->file = buf_strf("%s/%s", dir, de->d_name);
		set->n++;
		if (!t->name || !t->file) {
			buf_error(err, "%s: out of memory", dir);
			goto fail;
		}
	}
	closedir(d);
	d = NULL;
	if (set->n)
		qsort(set->v, set->n, sizeof *set->v, tmpl_cmp);
	for (size_t i = 0; i < set->n; i++) {
		size_t len = 0;
		char *src = read_file(set->v[i].file, &len, err);
		if (!src)
			goto fail;
		int rc = parse_file(&set->v[i], src, len, err);
		free(src);
		if (rc < 0)
			goto fail;
	}
	for (size_t i = 0; i < set->n; i++)
		if (resolve_partials(set, &set->v[i], &set->v[i].body, err) < 0)
			goto fail;
	return set;
fail:
	if (d)
		closedir(d);
	tmpl_free(set);
	return NULL;
}

/* ---- rendering */

json_object *tmpl_trusted_html(const char *html)
{
	json_object *s = json_object_new_string(html);
	if (s)
		json_object_set_userdata(s, (void *)&trusted_marker, NULL);
	return s;
}

static int is_trusted(json_object *v)
{
	return json_object_is_type(v, json_type_string) && json_object_get_userdata(v) == &trusted_marker;
}

struct render {
	buf_t *out;
	char **err;
	json_object *stack[TMPL_MAX_NESTING + 1];
	int depth;          /* entries in stack */
	int partial_depth;
};

static json_object *lookup(const struct render *r, const struct node *nd)
{
	if (nd->npath == 0)
		return r->depth ? r->stack[r->depth - 1] : NULL;
	json_object *v = NULL;
	int i;
	for (i = r->depth - 1; i >= 0; i--)
		if (json_object_is_type(r->stack[i], json_type_object) &&
		    json_object_object_get_ex(r->stack[i], nd->path[0], &v))
			break;
	if (i < 0)
		return NULL;
	for (size_t k = 1; k < nd->npath; k++)
		if (!json_object_is_type(v, json_type_object) || !json_object_object_get_ex(v, nd->path[k], &v))
			return NULL;
	return v;
}

/* Scalars as text without json_object_get_string, which caches a string inside numbers (a write, and
 * the context may be shared between threads). Objects, arrays and null are "". */
static const char *scalar_text(json_object *v, char tmp[64])
{
	switch (json_object_get_type(v)) {
	case json_type_string: return json_object_get_string(v);
	case json_type_boolean: return json_object_get_boolean(v) ? "true" : "false";
	case json_type_int: snprintf(tmp, 64, "%" PRId64, json_object_get_int64(v)); return tmp;
	case json_type_double: snprintf(tmp, 64, "%.15g", json_object_get_double(v)); return tmp;
	default: return "";
	}
}

static int truthy(json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null: return 0;
	case json_type_boolean: return json_object_get_boolean(v);
	case json_type_int: return json_object_get_int64(v) != 0;
	case json_type_double: return json_object_get_double(v) != 0.0;
	case json_type_string: return json_object_get_string_len(v) > 0;
	case json_type_array: return json_object_array_length(v) > 0;
	case json_type_object: return 1;
	}
	return 0;
}

static int render_list(struct render *r, const struct tmpl *t, const struct node_list *l);

static int render_pushed(struct render *r, const struct tmpl *t, const struct node *nd, json_object *ctx)
{
	if (r->depth >= TMPL_MAX_NESTING)
		return buf_error(r->err, "%s:%d: sections nested too deeply at '%s'", t->file, nd->line, nd->text);
	r->stack[r->depth++] = ctx;
	int rc = render_list(r, t, &nd->body);
	r->depth--;
	return rc;
}

static int render_node(struct render *r, const struct tmpl *t, const struct node *nd)
{
	char tmp[64];
	json_object *v;
	switch (nd->kind) {
	case N_TEXT:
		return buf_append(r->out, nd->text, nd->len);
	case N_VAR: {
		v = lookup(r, nd);
		const char *s = scalar_text(v, tmp);
		if (json_object_is_type(v, json_type_string))
			return html_escape_n(r->out, s, (size_t)json_object_get_string_len(v));
		return html_escape(r->out, s);
	}
	case N_RAW:
		v = lookup(r, nd);
		if (is_trusted(v))
			return buf_append(r->out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		if (json_object_is_type(v, json_type_string))
			return html_escape_n(r->out, json_object_get_string(v), (size_t)json_object_get_string_len(v));
		return html_escape(r->out, scalar_text(v, tmp));
	case N_URL:
		v = lookup(r, nd);
		if (json_object_is_type(v, json_type_string) &&
		    strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
			return buf_puts(r->out, "#"); /* a NUL inside: what follows it would go unchecked */
		return html_url(r->out, scalar_text(v, tmp));
	case N_SECTION:
		v = lookup(r, nd);
		if (!truthy(v))
			return 0;
		if (json_object_is_type(v, json_type_array)) {
			size_t n = json_object_array_length(v);
			for (size_t i = 0; i < n; i++)
				if (render_pushed(r, t, nd, json_object_array_get_idx(v, i)) < 0)
					return -1;
			return 0;
		}
		return render_pushed(r, t, nd, v);
	case N_INVERTED:
		if (truthy(lookup(r, nd)))
			return 0;
		return render_list(r, t, &nd->body);
	case N_PARTIAL: {
		if (r->partial_depth >= TMPL_MAX_PARTIALS)
			return buf_error(r->err, "%s:%d: partials nested more than %d deep at {{> %s}}", t->file,
					 nd->line, TMPL_MAX_PARTIALS, nd->text);
		r->partial_depth++;
		int rc = render_list(r, nd->partial, &nd->partial->body);
		r->partial_depth--;
		return rc;
	}
	}
	return 0;
}

static int render_list(struct render *r, const struct tmpl *t, const struct node_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		if (render_node(r, t, &l->v[i]) < 0) {
			if (!r->err || !*r->err)
				buf_error(r->err, "%s:%d: out of memory", t->file, l->v[i].line);
			return -1;
		}
	}
	return 0;
}

int tmpl_render(const tmpl_set *set, const char *name, json_object *ctx, buf_t *out, char **err)
{
	size_t start = out->len;
	const struct tmpl *t = find(set, name);
	if (!t)
		return buf_error(err, "no template '%s'", name);
	if (err) {
		free(*err);
		*err = NULL; /* so render_list can tell "message already set" from out of memory */
	}
	struct render r = {.out = out, .err = err};
	if (ctx)
		r.stack[r.depth++] = ctx;
	if (render_list(&r, t, &t->body) < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	return 0;
}
