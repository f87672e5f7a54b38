/* test_log.c - log lines in both formats, levels, request ids, reopen, concurrency and redaction. */
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/test_log.XXXXXX";

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *data = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&data, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		fwrite(chunk, 1, n, mem);
	fclose(mem);
	fclose(f);
	return data;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; s && *s; s++)
		n += *s == '\n';
	return n;
}

/* "2026-11-23T04:00:00.123Z" */
static int is_timestamp(const char *s)
{
	const char *shape = "dddd-dd-ddTdd:dd:dd.dddZ";
	for (int i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	}
	return 1;
}

static void check_redact(const char *in, const char *want)
{
	char *got = log_redact(in);
	is_str(got, want, "redact %s", in);
	free(got);
}

static void *thread_request_id(void *arg)
{
	const char **seen = arg;
	*seen = log_request_id();
	log_set_request_id("other-thread");
	return NULL;
}

#define LINES_PER_THREAD 500
static void *thread_writer(void *arg)
{
	int id = (int)(long)arg;
	char rid[32];
	snprintf(rid, sizeof rid, "w%d", id);
	log_set_request_id(rid);
	for (int i = 0; i < LINES_PER_THREAD; i++)
		log_info("writer %d line %d %0300d", id, i, 0);
	return NULL;
}

int main(void)
{
	char *err = NULL, path[256], rotated[256];
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof path, "%s/atcr.log", dir);
	snprintf(rotated, sizeof rotated, "%s/atcr.log.1", dir);

	/* Redaction of header values and query strings. */
	check_redact("Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "Bearer [redacted]");
	check_redact("Authorization: basic dXNlcjpodW50ZXIy", "Authorization: basic [redacted]");
	check_redact("DPoP abc.def", "DPoP [redacted]");
	check_redact("/auth/token?service=atcr&password=hunter2&scope=repository:a/b:pull",
		     "/auth/token?service=atcr&password=[redacted]&scope=repository:a/b:pull");
	check_redact("/auth/oauth/callback?state=s1&code=abc123#x", "/auth/oauth/callback?state=s1&code=[redacted]#x");
	check_redact("token=abc&x=1", "token=[redacted]&x=1");
	check_redact("/x?access_token=a&refresh_token=b&client_secret=c", "/x?access_token=[redacted]&refresh_token=[redacted]&client_secret=[redacted]");
	check_redact("https://s3/b/k?X-Amz-Credential=AK&X-Amz-Signature=f00d&X-Amz-Security-Token=t",
		     "https://s3/b/k?X-Amz-Credential=AK&X-Amz-Signature=[redacted]&X-Amz-Security-Token=[redacted]");
	check_redact("/v2/alice/app/blobs/sha256:abcd?digest=sha256:abcd&barcode=1",
		     "/v2/alice/app/blobs/sha256:abcd?digest=sha256:abcd&barcode=1");
	check_redact("got eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln back", "got [redacted] back");
	check_redact("Bearerish text and basically fine", "Bearerish text and basically fine");
	check_redact("", "");
	ok(log_redact(NULL) == NULL, "redact NULL gives NULL");

	/* Setup errors are explained. */
	int rc = log_setup("loud", "text", "", &err);
	ok(rc == -1 && err && strstr(err, "loud"), "unknown level refused: %s", err ? err : "");
	free(err);
	err = NULL;
	rc = log_setup("info", "xml", "", &err);
	ok(rc == -1 && err && strstr(err, "xml"), "unknown format refused: %s", err ? err : "");
	free(err);
	err = NULL;
	rc = log_setup("info", "text", "/nonexistent-dir/x/atcr.log", &err);
	ok(rc == -1 && err && strstr(err, "/nonexistent-dir"), "unopenable file refused: %s", err ? err : "");
	free(err);
	err = NULL;

	/* Text format. */
	ok(log_setup("info", "text", path, &err) == 0, "setup text to a file");
	struct stat st;
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "log file created with mode 0600");
	ok(log_request_id() == NULL, "no request id at first");
	log_set_request_id("req-1");
	is_str(log_request_id(), "req-1", "request id set");
	log_debug("hidden %d", 1);
	log_info("hello %d", 42);
	log_set_request_id(NULL);
	ok(log_request_id() == NULL, "request id cleared");
	log_warn("no id here");
	log_error("two\nlines Authorization: Bearer sekrit.tok");
	char *text = slurp(path);
	ok(text != NULL, "log file readable");
	is_int(count_lines(text), 3, "three lines at level info (debug suppressed)");
	ok(text && is_timestamp(text), "line starts with a UTC timestamp: %.30s", text ? text : "");
	ok(text && strncmp(text + 24, " INFO [req-1] hello 42\n", 23) == 0, "text line: level, request id, message");
	ok(text && strstr(text, " WARN no id here\n"), "no brackets without a request id");
	ok(text && strstr(text, " ERROR two\\nlines Authorization: Bearer [redacted]\n"), "newline escaped, bearer masked");
	ok(text && !strstr(text, "sekrit") && !strstr(text, "hidden"), "neither the secret nor the debug line is written");
	free(text);

	/* A thread has its own request id. */
	log_set_request_id("main-id");
	const char *seen = "unset";
	pthread_t th;
	pthread_create(&th, NULL, thread_request_id, &seen);
	pthread_join(th, NULL);
	ok(seen == NULL, "a new thread starts without a request id");
	is_str(log_request_id(), "main-id", "another thread's id does not leak into this one");

	/* Reopen after rotation. */
	ok(rename(path, rotated) == 0, "rotate the file");
	log_info("after rename, before reopen");
	ok(log_reopen() == 0, "log_reopen");
	log_info("after reopen");
	char *old = slurp(rotated), *fresh = slurp(path);
	ok(old && strstr(old, "before reopen") && !strstr(old, "after reopen"), "old file gets the lines until reopen");
	ok(fresh && strstr(fresh, "after reopen") && count_lines(fresh) == 1, "new file gets the lines after reopen");
	free(old);
	free(fresh);
	unlink(rotated);
	unlink(path);

	/* JSON format, with levels. */
	ok(log_setup("debug", "json", path, &err) == 0, "setup json at debug");
	log_set_request_id("r\"2");
	log_debug("quote \" backslash \\ newline \n tab \t end");
	log_set_request_id(NULL);
	log_warn("token=abc&x=1");
	char *json = slurp(path);
	is_int(count_lines(json), 2, "two JSON lines");
	char *nl = json ? strchr(json, '\n') : NULL;
	if (nl)
		*nl = '\0';
	json_object *o = json ? json_tokener_parse(json) : NULL, *v;
	ok(o != NULL, "first line is a JSON object");
	ok(o && json_object_object_get_ex(o, "time", &v) && is_timestamp(json_object_get_string(v)), "time field");
	is_str(o && json_object_object_get_ex(o, "level", &v) ? json_object_get_string(v) : NULL, "debug", "level field");
	is_str(o && json_object_object_get_ex(o, "req", &v) ? json_object_get_string(v) : NULL, "r\"2", "req field");
	is_str(o && json_object_object_get_ex(o, "msg", &v) ? json_object_get_string(v) : NULL,
	       "quote \" backslash \\ newline \n tab \t end", "msg round-trips through JSON escaping");
	json_object_put(o);
	o = nl ? json_tokener_parse(nl + 1) : NULL;
	ok(o && json_object_object_get_ex(o, "req", &v) && v == NULL, "req is null without a request id");
	is_str(o && json_object_object_get_ex(o, "msg", &v) ? json_object_get_string(v) : NULL, "token=[redacted]&x=1",
	       "JSON message is redacted");
	is_str(o && json_object_object_get_ex(o, "level", &v) ? json_object_get_string(v) : NULL, "warn", "warn level");
	json_object_put(o);
	free(json);
	unlink(path);

	/* Many threads: every line arrives whole. */
	ok(log_setup("warn", "text", path, &err) == 0, "setup at warn");
	log_info("suppressed at warn");
	ok(log_setup("info", "json", path, &err) == 0, "setup json again");
	pthread_t writers[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&writers[i], NULL, thread_writer, (void *)i);
	for (int i = 0; i < 4; i++)
		pthread_join(writers[i], NULL);
	char *many = slurp(path);
	int lines = 0, whole = 1;
	for (char *line = many, *end; line && *line; line = end + 1) {
		end = strchr(line, '\n');
		if (!end)
			break;
		*end = '\0';
		json_object *lo = json_tokener_parse(line);
		if (!lo || !json_object_object_get_ex(lo, "msg", &v) || strlen(json_object_get_string(v)) < 300)
			whole = 0;
		json_object_put(lo);
		lines++;
	}
	is_int(lines, 4 * LINES_PER_THREAD, "every line from 4 threads written");
	ok(whole, "no line is torn or interleaved");
	ok(many && !strstr(many, "suppressed"), "below-level line not written");
	free(many);

	ok(log_setup(NULL, NULL, NULL, &err) == 0, "back to stderr with defaults");
	unlink(path);
	rmdir(dir);
	return tap_done();
}
