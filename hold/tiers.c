/* tiers.c - the quota tiers file: YAML read with libyaml's document API (every node knows its line, so
 * each complaint names one), checked whole before the hold uses any of it. Format: hold/README.md. */
#include "tiers.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "buf.h"

#define TIERS_FILE_MAX (1024 * 1024)

/* ---- sizes */

static const struct {
	const char *unit;
	int shift;
} units[] = {
	{"", 0},    {"b", 0},    {"k", 10},   {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
	{"mib", 20}, {"g", 30},  {"gb", 30},  {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
	{"p", 50},  {"pb", 50},  {"pib", 50},
};

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int is_space(char c)
{
	return c == ' ' || c == '\t';
}

int tiers_parse_size(const char *s, long long *bytes)
{
	if (!s)
		return -1;
	while (is_space(*s))
		s++;
	size_t n = strlen(s);
	while (n > 0 && is_space(s[n - 1]))
		n--;
	if (n == 9 && strncasecmp(s, "unlimited", 9) == 0) {
		*bytes = TIER_UNLIMITED;
		return 0;
	}
	const char *p = s, *end = s + n;
	unsigned long long whole = 0, frac = 0, scale = 1;
	if (p == end || !is_digit(*p))
		return -1;
	for (; p < end && is_digit(*p); p++) {
		if (whole > (unsigned long long)(LLONG_MAX - 9) / 10)
			return -1;
		whole = whole * 10 + (unsigned long long)(*p - '0');
	}
	if (p < end && *p == '.') {
		/* Up to three decimals ("1.5GB", "2.25 TiB"): exact in integers, and finer than anyone means. */
		p++;
		if (p == end || !is_digit(*p))
			return -1;
		for (; p < end && is_digit(*p); p++) {
			if (scale == 1000)
				return -1;
			frac = frac * 10 + (unsigned long long)(*p - '0');
			scale *= 10;
		}
	}
	while (p < end && is_space(*p))
		p++;
	size_t ulen = (size_t)(end - p);
	for (size_t i = 0; i < sizeof units / sizeof *units; i++) {
		if (strlen(units[i].unit) != ulen || strncasecmp(p, units[i].unit, ulen) != 0)
			continue;
		int shift = units[i].shift;
		if (scale > 1 && shift == 0)
			return -1; /* a byte count is whole */
		if (whole > (unsigned long long)LLONG_MAX >> shift)
			return -1;
		unsigned long long v = (whole << shift) + ((frac << shift) / scale);
		if (v > (unsigned long long)LLONG_MAX)
			return -1;
		*bytes = (long long)v;
		return 0;
	}
	return -1;
}

void tiers_format_size(long long bytes, char out[32])
{
	static const char *const names[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (bytes < 1024) {
		snprintf(out, 32, "%lld byte%s", bytes, bytes == 1 ? "" : "s");
		return;
	}
	int i = 0;
	while (i < 5 && bytes >= 1024LL << (10 * (i + 1)))
		i++;
	snprintf(out, 32, "%.1f %s", (double)bytes / (double)(1LL << (10 * (i + 1))), names[i]);
}

/* ---- the file */

typedef struct {
	yaml_document_t *doc;
	const char *name;
	char *err;
} reader;

static int fail(reader *rd, const yaml_node_t *at, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reader *rd, const yaml_node_t *at, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (at)
		rd->err = buf_strf("%s:%lu: %s", rd->name, (unsigned long)at->start_mark.line + 1, msg);
	else
		rd->err = buf_strf("%s: %s", rd->name, msg);
	return -1;
}

static yaml_node_t *node_at(reader *rd, int index)
{
	return yaml_document_get_node(rd->doc, index);
}

/* The scalar's text, or NULL (and a message) when the node is something else. */
static const char *scalar(reader *rd, const yaml_node_t *n, const char *what)
{
	if (n && n->type == YAML_SCALAR_NODE)
		return (const char *)n->data.scalar.value;
	fail(rd, n, "%s must be a single value, not a %s", what,
	     n && n->type == YAML_MAPPING_NODE ? "mapping" : "list");
	return NULL;
}

/* Walks a mapping's pairs: each key must be one of keys (NULL-terminated) and appear once; values[i]
 * gets the value node of keys[i] (NULL when absent). */
static int mapping_fields(reader *rd, const yaml_node_t *map, const char *what, const char *const *keys,
			  yaml_node_t **values)
{
	size_t nkeys = 0;
	while (keys[nkeys])
		values[nkeys++] = NULL;
	if (map->type != YAML_MAPPING_NODE)
		return fail(rd, map, "%s must be a mapping (%s: ...)", what, keys[0]);
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = node_at(rd, p->key), *v = node_at(rd, p->value);
		const char *name = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : NULL;
		if (!name)
			return fail(rd, k, "expected a key name in %s", what);
		size_t i = 0;
		while (i < nkeys && strcmp(keys[i], name) != 0)
			i++;
		if (i == nkeys) {
			buf_t known = BUF_INIT;
			for (size_t j = 0; j < nkeys; j++)
				buf_printf(&known, "%s%s", j ? ", " : "", keys[j]);
			fail(rd, k, "unknown key '%s' in %s (known: %s)", name, what, buf_str(&known));
			buf_free(&known);
			return -1;
		}
		if (values[i])
			return fail(rd, k, "duplicate key '%s' in %s", name, what);
		values[i] = v;
	}
	return 0;
}

static int name_ok(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TIER_NAME_MAX)
		return 0;
	for (; *s; s++)
		if (!(is_digit(*s) || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '-' || *s == '_' ||
		      *s == '.'))
			return 0;
	return 1;
}

static int parse_tier(reader *rd, const yaml_node_t *item, size_t rank, hold_tiers *t)
{
	static const char *const keys[] = {"name", "limit", NULL};
	yaml_node_t *v[2];
	char what[48];
	snprintf(what, sizeof what, "tier %zu", rank);
	if (mapping_fields(rd, item, what, keys, v) != 0)
		return -1;
	if (!v[0] || !v[1])
		return fail(rd, item, "%s needs both name: and limit:", what);
	const char *name = scalar(rd, v[0], "a tier's name"), *limit = name ? scalar(rd, v[1], "a tier's limit") : NULL;
	if (!limit)
		return -1;
	if (!name_ok(name))
		return fail(rd, v[0], "tier name '%s': 1 to %d letters, digits, '-', '_' or '.'", name, TIER_NAME_MAX);
	if (tiers_find(t, name))
		return fail(rd, v[0], "tier '%s' is listed twice", name);
	hold_tier *dst = &t->tier[t->count];
	if (tiers_parse_size(limit, &dst->limit) != 0)
		return fail(rd, v[1], "tier '%s': limit '%s' is not a size (e.g. 5GB, 500 MiB, 1048576, unlimited)", name,
			    limit);
	dst->name = strdup(name);
	if (!dst->name)
		return fail(rd, NULL, "out of memory");
	t->count++;
	return 0;
}

static int parse_document(reader *rd, hold_tiers *t)
{
	static const char *const top_keys[] = {"tiers", "defaults", NULL};
	static const char *const default_keys[] = {"new_crew_tier", NULL};
	yaml_node_t *root = yaml_document_get_root_node(rd->doc), *top[2], *def[1];
	if (!root)
		return fail(rd, NULL, "the file is empty: expected tiers: and defaults:");
	if (mapping_fields(rd, root, "the tiers file", top_keys, top) != 0)
		return -1;
	yaml_node_t *list = top[0];
	if (!list)
		return fail(rd, root, "tiers: is missing (the list of tiers, in rank order)");
	if (list->type != YAML_SEQUENCE_NODE)
		return fail(rd, list, "tiers: must be a list (- name: ... limit: ...)");
	size_t n = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
	if (n == 0)
		return fail(rd, list, "tiers: lists no tier");
	t->tier = calloc(n, sizeof *t->tier);
	if (!t->tier)
		return fail(rd, NULL, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (parse_tier(rd, node_at(rd, list->data.sequence.items.start[i]), i, t) != 0)
			return -1;
	if (!top[1])
		return fail(rd, root, "defaults: is missing (defaults.new_crew_tier: the tier of crew members whose "
				      "record names none)");
	if (mapping_fields(rd, top[1], "defaults", default_keys, def) != 0)
		return -1;
	if (!def[0])
		return fail(rd, top[1], "defaults.new_crew_tier is missing (the tier of crew members whose record "
					"names none)");
	const char *name = scalar(rd, def[0], "defaults.new_crew_tier");
	if (!name)
		return -1;
	const hold_tier *d = tiers_find(t, name);
	if (!d)
		return fail(rd, def[0], "defaults.new_crew_tier '%s' is not one of the tiers", name);
	t->default_rank = (size_t)(d - t->tier);
	return 0;
}

hold_tiers *tiers_parse(const char *text, size_t len, const char *name, char **err)
{
	yaml_parser_t parser;
	yaml_document_t doc, extra;
	int have_doc = 0, have_extra = 0;
	reader rd = {.doc = &doc, .name = name};
	hold_tiers *t = calloc(1, sizeof *t);
	if (!t || !yaml_parser_initialize(&parser)) {
		free(t);
		buf_error(err, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!(have_doc = yaml_parser_load(&parser, &doc)) || !(have_extra = yaml_parser_load(&parser, &extra))) {
		rd.err = buf_strf("%s:%lu: not YAML: %s%s%s", name, (unsigned long)parser.problem_mark.line + 1,
				  parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
				  parser.context ? parser.context : "");
		goto out;
	}
	if (yaml_document_get_root_node(&extra)) {
		fail(&rd, yaml_document_get_root_node(&extra), "only one YAML document is allowed");
		goto out;
	}
	parse_document(&rd, t);
out:
	if (have_doc)
		yaml_document_delete(&doc);
	if (have_extra)
		yaml_document_delete(&extra);
	yaml_parser_delete(&parser);
	if (rd.err) {
		tiers_free(t);
		*err = rd.err;
		return NULL;
	}
	return t;
}

hold_tiers *tiers_load(const char *path, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		buf_error(err, "cannot open the tiers file %s: %s", path, strerror(errno));
		return NULL;
	}
	buf_t text = BUF_INIT;
	char chunk[8192];
	size_t n;
	int too_big = 0;
	while (!too_big && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		too_big = text.len + n > TIERS_FILE_MAX;
		if (!too_big)
			buf_append(&text, chunk, n);
	}
	int bad = ferror(f);
	fclose(f);
	hold_tiers *t = NULL;
	if (bad || too_big)
		buf_error(err, "%s: %s", path, too_big ? "larger than 1 MiB: not a tiers file" : "read error");
	else
		t = tiers_parse(text.data ? text.data : "", text.len, path, err);
	buf_free(&text);
	return t;
}

void tiers_free(hold_tiers *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->count; i++)
		free(t->tier[i].name);
	free(t->tier);
	free(t);
}

const hold_tier *tiers_find(const hold_tiers *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->count; i++)
		if (strcmp(t->tier[i].name, name) == 0)
			return &t->tier[i];
	return NULL;
}

const hold_tier *tiers_for_member(const hold_tiers *t, const char *name, int *unknown)
{
	*unknown = 0;
	if (!t)
		return NULL;
	const hold_tier *found = tiers_find(t, name);
	if (found)
		return found;
	*unknown = name && *name;
	return &t->tier[t->default_rank];
}
