/* config.c - settings from built-in defaults, a YAML file (libyaml events) and environment variables.
 * The schema table is the single list of keys: it checks the file, names the environment variables
 * and writes the commented template, so the three can never disagree. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "buf.h"

struct config {
	const cfg_option *schema;
	size_t count;
	char **values;        /* canonical text of each option, by schema index */
	const char **sources; /* "default", "file" or "env" */
};

static long find_option(const cfg_option *schema, const char *key)
{
	for (long i = 0; schema[i].key; i++)
		if (strcmp(schema[i].key, key) == 0)
			return i;
	return -1;
}

/* Whether key names a section: some option lives below it. */
static int is_section(const cfg_option *schema, const char *key)
{
	size_t n = strlen(key);
	for (size_t i = 0; schema[i].key; i++)
		if (strncmp(schema[i].key, key, n) == 0 && schema[i].key[n] == '.')
			return 1;
	return 0;
}

static int parse_int(const char *s, long long *out)
{
	if (!*s || isspace((unsigned char)*s))
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_bool(const char *s, int *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1", NULL};
	static const char *const no[] = {"false", "no", "off", "0", NULL};
	for (int i = 0; yes[i]; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

/* Check text against the option's type; on success *canon is the stored form (caller frees). */
static int canonical_value(const cfg_option *opt, const char *text, char **canon, char **why)
{
	long long n;
	int b;
	switch (opt->type) {
	case CFG_INT:
		if (parse_int(text, &n) != 0) {
			*why = buf_strf("%s: expected an integer, got '%s'", opt->key, text);
			return -1;
		}
		*canon = buf_strf("%lld", n);
		break;
	case CFG_BOOL:
		if (parse_bool(text, &b) != 0) {
			*why = buf_strf("%s: expected true or false, got '%s'", opt->key, text);
			return -1;
		}
		*canon = strdup(b ? "true" : "false");
		break;
	default:
		*canon = strdup(text);
		break;
	}
	if (!*canon) {
		*why = buf_strf("out of memory");
		return -1;
	}
	return 0;
}

static int set_value(config *c, long idx, const char *text, const char *source, char **why)
{
	char *canon = NULL;
	if (canonical_value(&c->schema[idx], text, &canon, why) != 0)
		return -1;
	free(c->values[idx]);
	c->values[idx] = canon;
	c->sources[idx] = source;
	return 0;
}

/* The schema is code: refuse duplicate keys, a key that is also a section, and bad defaults. */
static int check_schema(config *c, char **err)
{
	for (size_t i = 0; i < c->count; i++) {
		const cfg_option *o = &c->schema[i];
		char *why = NULL;
		if (!*o->key || find_option(c->schema, o->key) != (long)i || is_section(c->schema, o->key)) {
			*err = buf_strf("config schema: key '%s' is empty, repeated or also a section", o->key);
			return -1;
		}
		if (set_value(c, (long)i, o->def ? o->def : "", "default", &why) != 0) {
			*err = buf_strf("config schema: default of %s", why);
			free(why);
			return -1;
		}
	}
	return 0;
}

/* ---- the YAML file */

typedef struct {
	config *c;
	yaml_parser_t parser;
	const char *path;
	unsigned char *seen; /* per option: already set by this file */
	char *err;
} yaml_ctx;

static int next_event(yaml_ctx *y, yaml_event_t *ev)
{
	if (yaml_parser_parse(&y->parser, ev))
		return 0;
	y->err = buf_strf("%s:%lu: could not parse YAML: %s%s%s", y->path,
			(unsigned long)y->parser.problem_mark.line + 1,
			y->parser.problem ? y->parser.problem : "syntax error",
			y->parser.context ? " " : "", y->parser.context ? y->parser.context : "");
	return -1;
}

/* A plain empty, "~" or "null" scalar means "no value": the empty string. */
static const char *scalar_text(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	    (!*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0))
		return "";
	return v;
}

static int set_from_file(yaml_ctx *y, const char *key, unsigned long line, const yaml_event_t *val)
{
	long idx = find_option(y->c->schema, key);
	char *why = NULL;
	if (idx < 0) {
		if (is_section(y->c->schema, key))
			y->err = buf_strf("%s:%lu: '%s' is a section: expected a mapping of its keys", y->path, line, key);
		else
			y->err = buf_strf("%s:%lu: unknown key '%s'", y->path, line, key);
		return -1;
	}
	if (y->seen[idx]) {
		y->err = buf_strf("%s:%lu: duplicate key '%s'", y->path, line, key);
		return -1;
	}
	y->seen[idx] = 1;
	if (set_value(y->c, idx, scalar_text(val), "file", &why) != 0) {
		y->err = buf_strf("%s:%lu: %s", y->path, line, why);
		free(why);
		return -1;
	}
	return 0;
}

/* Called after a MAPPING-START; consumes through the matching MAPPING-END. prefix "" is the top. */
static int parse_mapping(yaml_ctx *y, const char *prefix)
{
	for (;;) {
		yaml_event_t key, val;
		int rc = -1;
		char *full = NULL;
		if (next_event(y, &key) != 0)
			return -1;
		if (key.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&key);
			return 0;
		}
		unsigned long line = (unsigned long)key.start_mark.line + 1;
		if (key.type != YAML_SCALAR_EVENT) {
			y->err = buf_strf("%s:%lu: expected a key name", y->path, line);
			yaml_event_delete(&key);
			return -1;
		}
		full = *prefix ? buf_strf("%s.%s", prefix, (const char *)key.data.scalar.value)
			       : strdup((const char *)key.data.scalar.value);
		yaml_event_delete(&key);
		if (!full) {
			y->err = buf_strf("out of memory");
			return -1;
		}
		if (next_event(y, &val) != 0)
			goto next;
		switch (val.type) {
		case YAML_SCALAR_EVENT:
			rc = set_from_file(y, full, line, &val);
			break;
		case YAML_MAPPING_START_EVENT:
			if (find_option(y->c->schema, full) >= 0)
				y->err = buf_strf("%s:%lu: '%s' takes a value, not a mapping", y->path, line, full);
			else if (!is_section(y->c->schema, full))
				y->err = buf_strf("%s:%lu: unknown key '%s'", y->path, line, full);
			else
				rc = parse_mapping(y, full);
			break;
		case YAML_SEQUENCE_START_EVENT:
			y->err = buf_strf("%s:%lu: '%s': lists are not supported", y->path, line, full);
			break;
		default:
			y->err = buf_strf("%s:%lu: '%s': anchors and aliases are not supported", y->path, line, full);
			break;
		}
		yaml_event_delete(&val);
	next:
		free(full);
		if (rc != 0)
			return -1;
	}
}

/* The stream: nothing (an empty file), or one document holding a mapping (or an empty scalar). */
static int parse_stream(yaml_ctx *y)
{
	int documents = 0;
	for (;;) {
		yaml_event_t ev;
		int rc = 0;
		if (next_event(y, &ev) != 0)
			return -1;
		unsigned long line = (unsigned long)ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			if (++documents > 1) {
				y->err = buf_strf("%s:%lu: only one YAML document is allowed", y->path, line);
				rc = -1;
			}
			break;
		case YAML_MAPPING_START_EVENT:
			rc = parse_mapping(y, "");
			break;
		case YAML_SCALAR_EVENT:
			if (*scalar_text(&ev)) {
				y->err = buf_strf("%s:%lu: expected a mapping of settings at the top level", y->path, line);
				rc = -1;
			}
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_ALIAS_EVENT:
			y->err = buf_strf("%s:%lu: expected a mapping of settings at the top level", y->path, line);
			rc = -1;
			break;
		default: /* STREAM-START, DOCUMENT-END */
			break;
		}
		yaml_event_delete(&ev);
		if (rc != 0)
			return -1;
	}
}

static int load_file(config *c, const char *path, char **err)
{
	int rc = -1;
	yaml_ctx y = {.c = c, .path = path};
	FILE *f = fopen(path, "rb");
	if (!f) {
		*err = buf_strf("cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	y.seen = calloc(c->count ? c->count : 1, 1);
	if (!y.seen || !yaml_parser_initialize(&y.parser)) {
		*err = buf_strf("out of memory");
		free(y.seen);
		fclose(f);
		return -1;
	}
	yaml_parser_set_input_file(&y.parser, f);
	rc = parse_stream(&y);
	if (rc != 0)
		*err = y.err ? y.err : buf_strf("%s: could not read the configuration", path);
	else
		free(y.err);
	yaml_parser_delete(&y.parser);
	free(y.seen);
	fclose(f);
	return rc;
}

/* ---- environment */

/* PREFIX + the key in upper case with dots as underscores: "server.base_url" -> ATCR_SERVER_BASE_URL. */
static char *env_name(const char *prefix, const char *key)
{
	char *name = buf_strf("%s%s", prefix ? prefix : "", key);
	if (!name)
		return NULL;
	for (char *p = name + (prefix ? strlen(prefix) : 0); *p; p++)
		*p = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
	return name;
}

static int load_env(config *c, const char *prefix, char **err)
{
	for (size_t i = 0; i < c->count; i++) {
		char *name = env_name(prefix, c->schema[i].key);
		char *why = NULL;
		if (!name) {
			*err = buf_strf("out of memory");
			return -1;
		}
		const char *v = getenv(name);
		if (v && set_value(c, (long)i, v, "env", &why) != 0) {
			*err = buf_strf("environment variable %s: %s", name, why);
			free(why);
			free(name);
			return -1;
		}
		free(name);
	}
	return 0;
}

/* ---- public */

config *config_load(const cfg_option *schema, const char *path, const char *env_prefix, char **err)
{
	char *why = NULL;
	config *c = calloc(1, sizeof *c);
	if (err)
		*err = NULL;
	if (!c)
		goto nomem;
	c->schema = schema;
	while (schema[c->count].key)
		c->count++;
	c->values = calloc(c->count + 1, sizeof *c->values);
	c->sources = calloc(c->count + 1, sizeof *c->sources);
	if (!c->values || !c->sources)
		goto nomem;
	if (check_schema(c, &why) != 0)
		goto fail;
	if (path && load_file(c, path, &why) != 0)
		goto fail;
	if (load_env(c, env_prefix, &why) != 0)
		goto fail;
	return c;
nomem:
	why = buf_strf("out of memory");
fail:
	if (err)
		*err = why;
	else
		free(why);
	config_free(c);
	return NULL;
}

static long must_find(const config *c, const char *key, int want_type)
{
	long idx = key ? find_option(c->schema, key) : -1;
	if (idx < 0 || (want_type >= 0 && (int)c->schema[idx].type != want_type)) {
		fprintf(stderr, "config: '%s' is not %s option of the schema\n", key ? key : "(null)",
			want_type == CFG_INT ? "an integer" : want_type == CFG_BOOL ? "a boolean" : "an");
		abort();
	}
	return idx;
}

const char *config_str(const config *c, const char *key)
{
	return c->values[must_find(c, key, -1)];
}

long long config_int(const config *c, const char *key)
{
	long long v = 0;
	parse_int(c->values[must_find(c, key, CFG_INT)], &v);
	return v;
}

int config_bool(const config *c, const char *key)
{
	return strcmp(c->values[must_find(c, key, CFG_BOOL)], "true") == 0;
}

const char *config_source(const config *c, const char *key)
{
	return c->sources[must_find(c, key, -1)];
}

void config_free(config *c)
{
	if (!c)
		return;
	if (c->values)
		for (size_t i = 0; i < c->count; i++)
			free(c->values[i]);
	free(c->values);
	free(c->sources);
	free(c);
}

/* ---- the template */

static void write_comment(FILE *out, int indent, const char *text)
{
	const char *p = text;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(out, "%*s#%s%.*s\n", indent, "", n ? " " : "", (int)n, p);
		p += n + (nl ? 1 : 0);
	}
}

/* A YAML double-quoted scalar: every string survives the round trip, whatever it holds. */
static void write_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

/* The name of the child of prefix that key lies under ("server" for "server.base_url" at the top), or
 * 0 when key is not under prefix. *leaf tells whether that child is the option itself. */
static size_t child_of(const char *prefix, const char *key, const char **child, int *leaf)
{
	size_t pn = strlen(prefix);
	if (pn) {
		if (strncmp(key, prefix, pn) != 0 || key[pn] != '.')
			return 0;
		key += pn + 1;
	}
	const char *dot = strchr(key, '.');
	*child = key;
	*leaf = !dot;
	return dot ? (size_t)(dot - key) : strlen(key);
}

/* Write the options under prefix, children in the order the schema first mentions them. */
static void write_level(FILE *out, const cfg_option *schema, const char *env_prefix, const char *prefix, int indent)
{
	for (size_t i = 0; schema[i].key; i++) {
		const char *child;
		int leaf;
		size_t n = child_of(prefix, schema[i].key, &child, &leaf);
		if (!n)
			continue;
		/* Only the first option under a child section writes it. */
		int first = 1;
		for (size_t j = 0; j < i && first; j++) {
			const char *other;
			int other_leaf;
			size_t m = child_of(prefix, schema[j].key, &other, &other_leaf);
			if (m == n && strncmp(other, child, n) == 0)
				first = 0;
		}
		if (!first)
			continue;
		if (leaf) {
			const cfg_option *o = &schema[i];
			char *env = env_name(env_prefix, o->key);
			if (o->help && *o->help)
				write_comment(out, indent, o->help);
			if (env)
				fprintf(out, "%*s# (environment: %s)\n", indent, "", env);
			free(env);
			fprintf(out, "%*s%.*s: ", indent, "", (int)n, child);
			if (o->type == CFG_STRING)
				write_quoted(out, o->def ? o->def : "");
			else
				fputs(o->def && *o->def ? o->def : "0", out);
			fputs("\n\n", out);
		} else {
			char *sub = *prefix ? buf_strf("%s.%.*s", prefix, (int)n, child) : buf_strf("%.*s", (int)n, child);
			if (!sub)
				continue;
			fprintf(out, "%*s%.*s:\n", indent, "", (int)n, child);
			write_level(out, schema, env_prefix, sub, indent + 2);
			free(sub);
		}
	}
}

int config_write_template(const cfg_option *schema, const char *env_prefix, FILE *out)
{
	fputs("# Configuration. Every option is listed with its default value; delete the ones you do\n"
	      "# not change so that future defaults apply. Each option can also be set from the\n"
	      "# environment variable named below it, which takes precedence over this file.\n\n",
	      out);
	write_level(out, schema, env_prefix, "", 0);
	return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int config_write_template_file(const cfg_option *schema, const char *env_prefix, const char *path, char **err)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return buf_error(err, "%s: %s", path, errno == EEXIST ? "already exists, not overwriting" : strerror(errno));
	fchmod(fd, 0644); /* whatever the umask */
	FILE *out = fdopen(fd, "w");
	if (!out) {
		close(fd);
		return buf_error(err, "%s: %s", path, strerror(errno));
	}
	int bad = config_write_template(schema, env_prefix, out) != 0;
	bad |= fclose(out) != 0;
	return bad ? buf_error(err, "%s: write failed", path) : 0;
}

int config_parse_options(int argc, char **argv, const char *prog, const char *version, void (*usage)(FILE *out),
			 const char **config_path, int *exit_code)
{
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			*exit_code = 0;
			return -1;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("%s %s\n", prog, version);
			*exit_code = 0;
			return -1;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			*config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			*config_path = argv[i] + 9;
		} else {
			fprintf(stderr, "%s: unknown option %s\n", prog, argv[i]);
			usage(stderr);
			*exit_code = 2;
			return -1;
		}
	}
	return i;
}
