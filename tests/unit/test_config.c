/* test_config.c - defaults, YAML file, environment overrides, every refusal with its file:line, and
 * the template's round trip (for a test schema and for the AppView's own). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../cgi/appview_config.h"
#include "config.h"
#include "tap.h"

static const cfg_option schema[] = {
	{"name", CFG_STRING, "plain", "A top-level option."},
	{"server.base_url", CFG_STRING, "http://127.0.0.1:5000", "Public URL."},
	{"server.threads", CFG_INT, "8", "Threads."},
	{"server.test_mode", CFG_BOOL, "false", "Test mode.\nSecond help line."},
	{"storage.s3.bucket", CFG_STRING, "", "Nested two levels."},
	{"storage.s3.part_size", CFG_INT, "-5", "Negative default."},
	{"log.level", CFG_STRING, "info", "Level."},
	{"storage.root", CFG_STRING, "/var/lib/x", "Back in an earlier section."},
	{NULL, 0, NULL, NULL},
};

/* Defaults that YAML must quote to survive. */
static const cfg_option tricky[] = {
	{"a.quote", CFG_STRING, "say \"hi\" \\ back", "q"},
	{"a.colon", CFG_STRING, "key: value # not a comment", "c"},
	{"a.lead", CFG_STRING, " - leading space, dash", "l"},
	{"a.ctrl", CFG_STRING, "tab\there\nnew line", "x"},
	{"a.yes", CFG_STRING, "yes", "a string that looks like a bool"},
	{"a.num", CFG_STRING, "0123", "a string that looks like a number"},
	{"a.utf8", CFG_STRING, "h\xc3\xa9llo", "utf-8"},
	{"b.flag", CFG_BOOL, "true", ""},
	{NULL, 0, NULL, NULL},
};

static char dir[] = "/tmp/test_config.XXXXXX";
static char path[300];

static void write_file(const char *text)
{
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static void clear_env(void)
{
	unsetenv("TCFG_NAME");
	unsetenv("TCFG_SERVER_THREADS");
	unsetenv("TCFG_SERVER_TEST_MODE");
	unsetenv("TCFG_STORAGE_S3_BUCKET");
}

/* Load the file with text and expect a refusal whose message is exactly want (with PATH for path). */
static void refuses(const char *text, const char *want_fmt, const char *name)
{
	char want[600], *err = NULL;
	write_file(text);
	snprintf(want, sizeof want, want_fmt, path);
	config *c = config_load(schema, path, "TCFG_", &err);
	ok(c == NULL, "%s: refused", name);
	is_str(err, want, "%s: message", name);
	config_free(c);
	free(err);
}

static void bool_is(const char *text, int want)
{
	char *err = NULL;
	setenv("TCFG_SERVER_TEST_MODE", text, 1);
	config *c = config_load(schema, NULL, "TCFG_", &err);
	ok(c && config_bool(c, "server.test_mode") == want, "bool '%s' is %d", text, want);
	config_free(c);
	free(err);
	unsetenv("TCFG_SERVER_TEST_MODE");
}

/* Each key of the schema equals its default after loading the template back. */
static void template_round_trip(const cfg_option *opts, const char *prefix, const char *name)
{
	char *err = NULL;
	FILE *f = fopen(path, "w");
	ok(config_write_template(opts, prefix, f) == 0, "%s: template written", name);
	fclose(f);
	config *c = config_load(opts, path, prefix, &err);
	ok(c != NULL, "%s: template loads back%s%s", name, err ? ": " : "", err ? err : "");
	int same = c != NULL, from_file = c != NULL;
	for (int i = 0; c && opts[i].key; i++) {
		const cfg_option *o = &opts[i];
		int eq;
		if (o->type == CFG_INT)
			eq = config_int(c, o->key) == strtoll(o->def, NULL, 10);
		else if (o->type == CFG_BOOL)
			eq = config_bool(c, o->key) == (strcmp(o->def, "true") == 0);
		else
			eq = strcmp(config_str(c, o->key), o->def) == 0;
		if (!eq) {
			same = 0;
			diag("%s: %s is '%s', default '%s'", name, o->key, config_str(c, o->key), o->def);
		}
		if (strcmp(config_source(c, o->key), "file") != 0)
			from_file = 0;
	}
	ok(same, "%s: every option equals its default", name);
	ok(from_file, "%s: every option was read from the template", name);
	config_free(c);
	free(err);
}

int main(void)
{
	char *err = NULL;
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/config.yaml", dir);
	clear_env();

	/* Defaults only. */
	config *c = config_load(schema, NULL, "TCFG_", &err);
	ok(c != NULL && err == NULL, "defaults load");
	is_str(config_str(c, "server.base_url"), "http://127.0.0.1:5000", "string default");
	is_int(config_int(c, "server.threads"), 8, "int default");
	is_int(config_int(c, "storage.s3.part_size"), -5, "negative int default");
	is_int(config_bool(c, "server.test_mode"), 0, "bool default");
	is_str(config_str(c, "storage.s3.bucket"), "", "empty default is \"\", not NULL");
	is_str(config_source(c, "server.threads"), "default", "source default");
	config_free(c);

	/* The file, nested sections, then the environment on top. */
	write_file("# comment\n"
		   "name: top\n"
		   "server:\n"
		   "  base_url: https://registry.example.com   # trailing comment\n"
		   "  threads: 16\n"
		   "  test_mode: yes\n"
		   "storage:\n"
		   "  s3: {bucket: 'my bucket', part_size: -1}\n"
		   "log:\n"
		   "  level:\n");
	setenv("TCFG_SERVER_THREADS", "4", 1);
	setenv("TCFG_STORAGE_S3_BUCKET", "", 1);
	c = config_load(schema, path, "TCFG_", &err);
	ok(c != NULL, "file loads%s%s", err ? ": " : "", err ? err : "");
	is_str(config_str(c, "name"), "top", "top-level key");
	is_str(config_str(c, "server.base_url"), "https://registry.example.com", "nested string, comment stripped");
	is_str(config_source(c, "server.base_url"), "file", "source file");
	is_int(config_bool(c, "server.test_mode"), 1, "bool from file");
	is_int(config_int(c, "server.threads"), 4, "environment beats the file");
	is_str(config_source(c, "server.threads"), "env", "source env");
	is_str(config_str(c, "storage.s3.bucket"), "", "empty environment variable sets an empty string");
	is_int(config_int(c, "storage.s3.part_size"), -1, "two-level section, flow mapping, negative int");
	is_str(config_str(c, "log.level"), "", "a key with no value is the empty string");
	is_str(config_str(c, "storage.root"), "/var/lib/x", "untouched key keeps its default");
	is_str(config_source(c, "storage.root"), "default", "untouched key's source");
	is_str(config_str(c, "server.threads"), "4", "config_str of an int");
	is_str(config_str(c, "server.test_mode"), "true", "config_str of a bool is canonical");
	config_free(c);
	clear_env();

	/* Booleans and integers. */
	const char *trues[] = {"true", "TRUE", "yes", "On", "1"}, *falses[] = {"false", "No", "off", "0", "False"};
	for (int i = 0; i < 5; i++) {
		bool_is(trues[i], 1);
		bool_is(falses[i], 0);
	}
	setenv("TCFG_SERVER_THREADS", "-12", 1);
	c = config_load(schema, NULL, "TCFG_", &err);
	is_int(c ? config_int(c, "server.threads") : 0, -12, "negative int from the environment");
	config_free(c);

	/* Refusals from the environment name the variable. */
	setenv("TCFG_SERVER_THREADS", "12x", 1);
	c = config_load(schema, NULL, "TCFG_", &err);
	ok(c == NULL, "bad int in the environment refused");
	is_str(err, "environment variable TCFG_SERVER_THREADS: server.threads: expected an integer, got '12x'", "env int message");
	free(err);
	err = NULL;
	setenv("TCFG_SERVER_THREADS", "99999999999999999999", 1);
	c = config_load(schema, NULL, "TCFG_", &err);
	ok(c == NULL && err && strstr(err, "TCFG_SERVER_THREADS"), "out-of-range int refused");
	free(err);
	err = NULL;
	clear_env();
	setenv("TCFG_SERVER_TEST_MODE", "maybe", 1);
	c = config_load(schema, NULL, "TCFG_", &err);
	ok(c == NULL, "bad bool in the environment refused");
	is_str(err, "environment variable TCFG_SERVER_TEST_MODE: server.test_mode: expected true or false, got 'maybe'",
	       "env bool message");
	free(err);
	err = NULL;
	clear_env();
	setenv("TCFG_UNRELATED", "x", 1);
	c = config_load(schema, NULL, "TCFG_", &err);
	ok(c != NULL, "unrelated variables with the prefix are ignored");
	config_free(c);
	unsetenv("TCFG_UNRELATED");

	/* Refusals from the file name the file and the line. */
	refuses("server:\n  threads: 2\n  bse_url: x\n", "%s:3: unknown key 'server.bse_url'", "unknown key");
	refuses("name: a\nnope:\n  x: 1\n", "%s:2: unknown key 'nope'", "unknown section");
	refuses("server:\n  threads: many\n", "%s:2: server.threads: expected an integer, got 'many'", "bad int");
	refuses("server:\n  threads: 3.5\n", "%s:2: server.threads: expected an integer, got '3.5'", "fraction");
	refuses("server:\n  threads:\n", "%s:2: server.threads: expected an integer, got ''", "empty int");
	refuses("server:\n  test_mode: sometimes\n", "%s:2: server.test_mode: expected true or false, got 'sometimes'",
		"bad bool");
	refuses("server: x\n", "%s:1: 'server' is a section: expected a mapping of its keys", "section given a value");
	refuses("name:\n  x: 1\n", "%s:1: 'name' takes a value, not a mapping", "value given a mapping");
	refuses("name: a\nname: b\n", "%s:2: duplicate key 'name'", "duplicate key");
	refuses("name: [a, b]\n", "%s:1: 'name': lists are not supported", "list");
	refuses("- a\n- b\n", "%s:1: expected a mapping of settings at the top level", "top-level list");
	refuses("just text\n", "%s:1: expected a mapping of settings at the top level", "top-level scalar");
	refuses("name: a\n---\nname: b\n", "%s:2: only one YAML document is allowed", "two documents");
	write_file("name: a\n  b: c\n");
	c = config_load(schema, path, "TCFG_", &err);
	char want[400];
	snprintf(want, sizeof want, "%s:2: could not parse YAML", path);
	ok(c == NULL && err && strncmp(err, want, strlen(want)) == 0, "YAML syntax error names file and line: %s",
	   err ? err : "(none)");
	free(err);
	err = NULL;
	write_file("name: \"unterminated\n");
	c = config_load(schema, path, "TCFG_", &err);
	snprintf(want, sizeof want, "%s:", path);
	ok(c == NULL && err && strncmp(err, want, strlen(want)) == 0 && strstr(err, "could not parse YAML"),
	   "unterminated string: %s", err ? err : "(none)");
	free(err);
	err = NULL;

	/* Missing and empty files. */
	char missing[400];
	snprintf(missing, sizeof missing, "%s/missing.yaml", dir);
	c = config_load(schema, missing, "TCFG_", &err);
	ok(c == NULL && err && strstr(err, missing) && strstr(err, "No such file"), "missing file refused: %s",
	   err ? err : "(none)");
	free(err);
	err = NULL;
	write_file("");
	c = config_load(schema, path, "TCFG_", &err);
	ok(c != NULL && strcmp(config_source(c, "name"), "default") == 0, "empty file gives the defaults");
	config_free(c);
	write_file("# only comments\n\n");
	c = config_load(schema, path, "TCFG_", &err);
	ok(c != NULL, "comment-only file loads");
	config_free(c);

	/* A broken schema is reported, not trusted. */
	static const cfg_option bad_schema[] = {{"a.b", CFG_INT, "eight", ""}, {NULL, 0, NULL, NULL}};
	c = config_load(bad_schema, NULL, "TCFG_", &err);
	ok(c == NULL && err && strstr(err, "a.b"), "bad default in the schema refused: %s", err ? err : "(none)");
	free(err);
	err = NULL;
	static const cfg_option dup_schema[] = {{"a", CFG_STRING, "", ""}, {"a.b", CFG_STRING, "", ""}, {NULL, 0, NULL, NULL}};
	c = config_load(dup_schema, NULL, "TCFG_", &err);
	ok(c == NULL && err, "a key that is also a section refused");
	free(err);
	err = NULL;

	/* A key outside the schema is a programming error: the process aborts. */
	c = config_load(schema, NULL, "TCFG_", &err);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		config_str(c, "server.nope");
		_exit(0);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "config_str of an unknown key aborts");
	pid = fork();
	if (pid == 0) {
		freopen("/dev/null", "w", stderr);
		config_int(c, "server.base_url");
		_exit(0);
	}
	waitpid(pid, &status, 0);
	ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "config_int of a string key aborts");
	config_free(c);

	/* Templates. */
	template_round_trip(schema, "TCFG_", "test schema");
	char *tpl = NULL;
	size_t tpl_len = 0;
	FILE *mem = open_memstream(&tpl, &tpl_len);
	config_write_template(schema, "TCFG_", mem);
	fclose(mem);
	ok(strstr(tpl, "# Test mode.\n  # Second help line.\n") != NULL, "help lines become indented comments");
	ok(strstr(tpl, "TCFG_SERVER_BASE_URL") != NULL, "template names the environment variable");
	const char *first = strstr(tpl, "\nstorage:\n"), *again = first ? strstr(first + 1, "\nstorage:\n") : NULL;
	ok(first && !again && strstr(tpl, "\n  s3:\n    # Nested two levels.\n"), "sections written once, nested");
	free(tpl);
	template_round_trip(tricky, "TCFG_", "strings YAML must quote");
	clear_env();
	template_round_trip(appview_options, "ATCR_TEST_", "AppView options");

	/* The AppView schema has the keys and defaults the programs rely on. */
	c = config_load(appview_options, NULL, "ATCR_TEST_", &err);
	ok(c != NULL, "AppView defaults load");
	if (c) {
		is_str(config_str(c, "server.base_url"), "http://127.0.0.1:5000", "server.base_url");
		is_str(config_str(c, "server.service_name"), "", "server.service_name");
		is_str(config_str(c, "server.listen"), "", "server.listen");
		is_int(config_int(c, "server.threads"), 8, "server.threads");
		is_int(config_bool(c, "server.test_mode"), 0, "server.test_mode");
		is_str(config_str(c, "log.level"), "info", "log.level");
		is_str(config_str(c, "log.format"), "text", "log.format");
		is_str(config_str(c, "log.file"), "", "log.file");
		is_str(config_str(c, "database.path"), "/var/lib/atcr/appview.db", "database.path");
		is_str(config_str(c, "identity.plc_url"), "https://plc.directory", "identity.plc_url");
		is_str(config_str(c, "identity.handle_resolver_url"), "", "identity.handle_resolver_url");
		is_int(config_int(c, "identity.cache_ttl"), 3600, "identity.cache_ttl");
		is_int(config_int(c, "http.timeout"), 30, "http.timeout");
		is_int(config_int(c, "http.max_response_bytes"), 67108864, "http.max_response_bytes");
		is_str(config_str(c, "auth.key_path"), "/var/lib/atcr/auth/private-key.pem", "auth.key_path");
		is_int(config_int(c, "auth.token_expiry"), 300, "auth.token_expiry");
		is_str(config_str(c, "registry.default_hold_did"), "", "registry.default_hold_did");
	}
	config_free(c);
	int helped = 1;
	for (int i = 0; appview_options[i].key; i++)
		if (!appview_options[i].help || !*appview_options[i].help)
			helped = 0;
	ok(helped, "every AppView option has help text");

	unlink(path);
	rmdir(dir);
	return tap_done();
}
