/* main.c - docker-credential-atcr: the docker credential helper protocol (get, store, erase, list on
 * stdin/stdout; github.com/docker/docker-credential-helpers) for ATCR registries. `get` for a registry
 * with nothing stored runs the device login: the user approves a code in the browser and the helper
 * keeps the device secret it is given. README.md beside this file says how to use it. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "credstore.h"
#include "devflow.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "unknown"
#endif
#define PROG "docker-credential-atcr"
#define INPUT_MAX (64 * 1024)
/* What docker and containers/image recognise as "nothing stored" (credentials.ErrCredentialsNotFound). */
#define NOT_FOUND "credentials not found in native keychain"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: " PROG " get|store|erase|list|version\n"
		"\n"
		"A docker credential helper for ATCR registries. Docker, podman and skopeo run it when their\n"
		"configuration says {\"credHelpers\": {\"registry.example\": \"atcr\"}}.\n"
		"  get     the server on stdin; prints {\"ServerURL\",\"Username\",\"Secret\"}. With nothing stored,\n"
		"          logs this computer in: open the link it prints, approve the code, and it keeps the\n"
		"          device secret it is given (ATCR_NO_DEVICE_FLOW=1: just say nothing is stored)\n"
		"  store   {\"ServerURL\",\"Username\",\"Secret\"} on stdin (docker login with an app password)\n"
		"  erase   the server on stdin\n"
		"  list    prints {\"<server>\": \"<username>\"}\n"
		"\n"
		"Credentials: $XDG_CONFIG_HOME/atcr/credentials.json (default ~/.config/atcr/), mode 0600.\n"
		"Environment: ATCR_INSECURE=1 talks plain http to any registry (127.0.0.1 and localhost always);\n"
		"ATCR_DEVICE_NAME names this computer on the registry's settings page.\n");
}

/* All of stdin, trailing blanks kept. Caller frees; NULL when unreadable or too large. */
static char *read_stdin(void)
{
	char *in = malloc(INPUT_MAX + 1);
	size_t n = in ? fread(in, 1, INPUT_MAX + 1, stdin) : 0;
	if (!in || ferror(stdin) || n > INPUT_MAX) {
		free(in);
		return NULL;
	}
	in[n] = '\0';
	return in;
}

static int die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static void print_credentials(const char *server, const char *username, const char *secret)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "ServerURL", json_object_new_string(server));
	json_object_object_add(o, "Username", json_object_new_string(username));
	json_object_object_add(o, "Secret", json_object_new_string(secret));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* This computer's name for the registry's device list. Caller frees. */
static char *device_name(void)
{
	const char *set = getenv("ATCR_DEVICE_NAME");
	char host[256] = "", *name = NULL;
	if (set && *set)
		return strndup(set, 64);
	if (gethostname(host, sizeof host - 1) != 0 || !*host)
		snprintf(host, sizeof host, "unknown host");
	host[sizeof host - 1] = '\0';
	if (asprintf(&name, PROG " on %.38s", host) < 0) /* within the registry's 64 bytes */
		name = NULL;
	return name;
}

static int env_flag(const char *name)
{
	const char *v = getenv(name);
	return v && *v && strcmp(v, "0") != 0;
}

/* Log in with the device flow, store what the registry gives and print it. */
static int device_login(const char *path, const char *server, const char *key)
{
	devflow_grant g = {0};
	char *err = NULL, *base = devflow_base_url(key, env_flag("ATCR_INSECURE")), *name = device_name();
	const char *first = getenv("ATCR_DEVICE_POLL_INTERVAL"); /* tests: poll sooner than the registry asks */
	int rc = 1;
	if (!base || !name) {
		rc = die("out of memory");
		goto out;
	}
	devflow_state st = devflow_login(base, name, first && *first ? atol(first) : -1, stderr, &g, &err);
	if (st == DEVFLOW_DENIED) {
		die("the login was denied in the browser");
	} else if (st == DEVFLOW_EXPIRED) {
		die("the code expired before it was approved: run the command again for a new one");
	} else if (st != DEVFLOW_APPROVED) {
		die("%s", err ? err : "the device login failed");
	} else {
		credstore_entry e = {.username = g.handle, .secret = g.secret, .did = g.did};
		if (credstore_put(path, key, &e, &err) != 0) {
			die("%s", err);
		} else {
			fprintf(stderr, "Logged in to %s as %s.\n", key, g.handle);
			print_credentials(server, g.handle, g.secret);
			rc = 0;
		}
	}
out:
	devflow_grant_free(&g);
	free(base);
	free(name);
	free(err);
	return rc;
}

static int cmd_get(const char *path, char *in)
{
	credstore_entry e = {0};
	char *err = NULL, *server = in + strspn(in, " \t\r\n"), *key;
	server[strcspn(server, "\r\n")] = '\0';
	if (!(key = credstore_key(server)))
		return die("no server URL on standard input");
	int rc = 1, found = credstore_get(path, key, &e, &err);
	if (found < 0) {
		die("%s", err);
	} else if (found == 1) {
		print_credentials(server, e.username, e.secret);
		rc = 0;
	} else if (env_flag("ATCR_NO_DEVICE_FLOW")) {
		puts(NOT_FOUND);
	} else {
		rc = device_login(path, server, key);
	}
	credstore_entry_free(&e);
	free(key);
	free(err);
	return rc;
}

static int cmd_store(const char *path, const char *in)
{
	json_object *o = json_tokener_parse(in), *v;
	const char *server = NULL, *user = NULL, *secret = NULL;
	char *key = NULL, *err = NULL;
	int rc = 1;
	if (json_object_is_type(o, json_type_object)) {
		server = json_object_object_get_ex(o, "ServerURL", &v) ? json_object_get_string(v) : NULL;
		user = json_object_object_get_ex(o, "Username", &v) ? json_object_get_string(v) : NULL;
		secret = json_object_object_get_ex(o, "Secret", &v) ? json_object_get_string(v) : NULL;
	}
	if (!server || !user || !secret || !(key = credstore_key(server))) {
		die("store wants {\"ServerURL\", \"Username\", \"Secret\"} on standard input");
	} else {
		credstore_entry e = {.username = (char *)user, .secret = (char *)secret};
		rc = credstore_put(path, key, &e, &err) == 0 ? 0 : die("%s", err);
	}
	json_object_put(o);
	free(key);
	free(err);
	return rc;
}

static int cmd_erase(const char *path, const char *in)
{
	char *key = credstore_key(in), *err = NULL;
	int rc = 1;
	if (!key) {
		die("no server URL on standard input");
	} else {
		int done = credstore_put(path, key, NULL, &err);
		if (done == 1)
			puts(NOT_FOUND);
		else if (done < 0)
			die("%s", err);
		else
			rc = 0;
	}
	free(key);
	free(err);
	return rc;
}

static int cmd_list(const char *path)
{
	char *err = NULL;
	json_object *list = credstore_list(path, &err);
	if (!list) {
		int rc = die("%s", err);
		free(err);
		return rc;
	}
	puts(json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(list);
	return 0;
}

int main(int argc, char **argv)
{
	const char *cmd = argc == 2 ? argv[1] : NULL;
	if (cmd && (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)) {
		printf(PROG " (atcr) %s\n", ATCR_VERSION);
		return 0;
	}
	if (cmd && (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	int known = cmd && (strcmp(cmd, "get") == 0 || strcmp(cmd, "store") == 0 || strcmp(cmd, "erase") == 0 ||
			    strcmp(cmd, "list") == 0);
	if (!known) {
		usage(stderr);
		return 2;
	}
	char *path = credstore_path(), *in = NULL;
	int rc = 1;
	if (!path) {
		rc = die("neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep credentials");
		goto out;
	}
	if (strcmp(cmd, "list") == 0) {
		rc = cmd_list(path);
		goto out;
	}
	if (!(in = read_stdin())) {
		rc = die("standard input cannot be read (or is larger than 64 KiB)");
		goto out;
	}
	if (strcmp(cmd, "get") == 0)
		rc = cmd_get(path, in);
	else if (strcmp(cmd, "store") == 0)
		rc = cmd_store(path, in);
	else
		rc = cmd_erase(path, in);
out:
	if (in)
		explicit_bzero(in, strlen(in));
	free(in);
	free(path);
	return rc;
}
