/* devflow.c - the credential helper's device login over libcurl (see devflow.h). */
#include "devflow.h"

#include <curl/curl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (64 * 1024)
#define POLL_RETRIES 3 /* transport failures in a row before giving up */

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (err) {
		free(*err);
		*err = msg;
	} else {
		free(msg);
	}
	return -1;
}

char *devflow_base_url(const char *key, int insecure)
{
	size_t host_len = key[0] == '[' ? strcspn(key, "]") + 1 : strcspn(key, ":");
	int loopback = (host_len == 9 && strncmp(key, "127.0.0.1", 9) == 0) ||
		       (host_len == 9 && strncmp(key, "localhost", 9) == 0) || (host_len == 5 && strncmp(key, "[::1]", 5) == 0);
	char *url = NULL;
	if (asprintf(&url, "%s://%s", loopback || insecure ? "http" : "https", key) < 0)
		url = NULL;
	return url;
}

/* ---- parsing the answers */

static const char *str_member(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

static long int_member(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_int)
		       ? (long)json_object_get_int64(v)
		       : -1;
}

static json_object *parse_object(const char *body)
{
	json_object *o = body ? json_tokener_parse(body) : NULL;
	if (o && !json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		o = NULL;
	}
	return o;
}

/* "error: description" of an error answer, or a generic line. */
static void answer_error(long status, json_object *o, const char *what, char **err)
{
	const char *e = str_member(o, "error"), *d = str_member(o, "error_description");
	if (e)
		fail(err, "%s: the registry answered %s%s%s", what, e, d ? ": " : "", d ? d : "");
	else
		fail(err, "%s: the registry answered HTTP %ld without an error the protocol knows", what, status);
}

int devflow_parse_code(long status, const char *body, devflow_code *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_object *o = parse_object(body);
	int rc = -1;
	if (status != 200) {
		answer_error(status, o, "starting the device login", err);
		goto out;
	}
	const char *dc = str_member(o, "device_code"), *uc = str_member(o, "user_code"),
		   *uri = str_member(o, "verification_uri"), *complete = str_member(o, "verification_uri_complete");
	long expires = int_member(o, "expires_in"), interval = int_member(o, "interval");
	if (!dc || !*dc || !uc || !*uc || !uri || strncmp(uri, "http", 4) != 0 || expires <= 0) {
		fail(err, "starting the device login: the registry's answer lacks device_code, user_code, "
			  "verification_uri or expires_in");
		goto out;
	}
	out->device_code = strdup(dc);
	out->user_code = strdup(uc);
	out->verification_uri = strdup(uri);
	out->verification_uri_complete = strdup(complete && strncmp(complete, "http", 4) == 0 ? complete : uri);
	out->expires_in = expires;
	out->interval = interval > 0 ? interval : 5; /* RFC 8628: 5 when absent */
	rc = out->device_code && out->user_code && out->verification_uri && out->verification_uri_complete
		     ? 0
		     : fail(err, "out of memory");
out:
	if (rc != 0)
		devflow_code_free(out);
	json_object_put(o);
	return rc;
}

void devflow_code_free(devflow_code *c)
{
	free(c->device_code);
	free(c->user_code);
	free(c->verification_uri);
	free(c->verification_uri_complete);
	memset(c, 0, sizeof *c);
}

devflow_state devflow_parse_token(long status, const char *body, devflow_grant *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_object *o = parse_object(body);
	devflow_state st = DEVFLOW_FAILED;
	if (status == 200) {
		const char *did = str_member(o, "did"), *handle = str_member(o, "handle"),
			   *secret = str_member(o, "device_secret");
		if (!did || !secret || !*secret) {
			fail(err, "the registry approved the login but sent no did or device_secret");
		} else {
			out->did = strdup(did);
			out->handle = strdup(handle && *handle ? handle : did);
			out->secret = strdup(secret);
			st = out->did && out->handle && out->secret ? DEVFLOW_APPROVED : DEVFLOW_FAILED;
		}
		goto out;
	}
	const char *e = status == 400 ? str_member(o, "error") : NULL;
	if (e && strcmp(e, "authorization_pending") == 0)
		st = DEVFLOW_PENDING;
	else if (e && strcmp(e, "slow_down") == 0)
		st = DEVFLOW_SLOW_DOWN;
	else if (e && strcmp(e, "access_denied") == 0)
		st = DEVFLOW_DENIED;
	else if (e && strcmp(e, "expired_token") == 0)
		st = DEVFLOW_EXPIRED;
	else
		answer_error(status, o, "waiting for the approval", err);
out:
	if (st != DEVFLOW_APPROVED)
		devflow_grant_free(out);
	json_object_put(o);
	return st;
}

void devflow_grant_free(devflow_grant *g)
{
	free(g->did);
	free(g->handle);
	if (g->secret)
		explicit_bzero(g->secret, strlen(g->secret));
	free(g->secret);
	memset(g, 0, sizeof *g);
}

/* ---- HTTP */

typedef struct {
	char *data;
	size_t len;
	int too_big;
} answer;

static size_t collect(char *p, size_t size, size_t n, void *ctx)
{
	answer *a = ctx;
	size_t len = size * n;
	if (a->len + len > ANSWER_MAX) {
		a->too_big = 1;
		return 0;
	}
	char *grown = realloc(a->data, a->len + len + 1);
	if (!grown)
		return 0;
	memcpy(grown + a->len, p, len);
	a->data = grown;
	a->len += len;
	a->data[a->len] = '\0';
	return len;
}

/* POST a form (name=value, value escaped) to url. 0 with *status and *body (caller frees), -1 with *err. */
static int post_form(CURL *curl, const char *url, const char *name, const char *value, long *status, char **body,
		     char **err)
{
	answer a = {0};
	char *escaped = curl_easy_escape(curl, value, 0), *form = NULL;
	int rc = -1;
	if (!escaped || asprintf(&form, "%s=%s", name, escaped) < 0) {
		form = NULL;
		fail(err, "out of memory");
		goto out;
	}
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "docker-credential-atcr");
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
	CURLcode c = curl_easy_perform(curl);
	if (c != CURLE_OK) {
		fail(err, "%s: %s", url, a.too_big ? "the answer is too large" : curl_easy_strerror(c));
		goto out;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
	*body = a.data ? a.data : strdup("");
	a.data = NULL;
	rc = *body ? 0 : fail(err, "out of memory");
out:
	if (form)
		explicit_bzero(form, strlen(form));
	free(form);
	curl_free(escaped);
	free(a.data);
	return rc;
}

devflow_state devflow_login(const char *base, const char *name, long first_interval, FILE *tell, devflow_grant *out,
			    char **err)
{
	devflow_code code = {0};
	devflow_state st = DEVFLOW_FAILED;
	char *url = NULL, *body = NULL;
	long status = 0;
	memset(out, 0, sizeof *out);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *curl = curl_easy_init();
	if (!curl || asprintf(&url, "%s/auth/device/code", base) < 0) {
		url = NULL;
		fail(err, "cannot start libcurl");
		goto out;
	}
	if (post_form(curl, url, "device_name", name, &status, &body, err) != 0 ||
	    devflow_parse_code(status, body, &code, err) != 0)
		goto out;
	fprintf(tell, "Open %s and approve code %s\n", code.verification_uri_complete, code.user_code);
	fflush(tell);
	free(url);
	if (asprintf(&url, "%s/auth/device/token", base) < 0) {
		url = NULL;
		fail(err, "out of memory");
		goto out;
	}
	long interval = first_interval >= 0 ? first_interval : code.interval;
	time_t deadline = time(NULL) + code.expires_in + 30; /* the registry says when it expired; this is a backstop */
	int failures = 0;
	for (;;) {
		if (time(NULL) > deadline) {
			st = DEVFLOW_EXPIRED;
			break;
		}
		sleep((unsigned)interval);
		free(body);
		body = NULL;
		if (post_form(curl, url, "device_code", code.device_code, &status, &body, err) != 0) {
			if (++failures < POLL_RETRIES)
				continue;
			st = DEVFLOW_FAILED;
			break;
		}
		failures = 0;
		st = devflow_parse_token(status, body, out, err);
		if (st == DEVFLOW_SLOW_DOWN) {
			interval += 5; /* RFC 8628 section 3.5: for this and every later poll */
			fprintf(tell, "The registry asks to poll more slowly: every %ld seconds.\n", interval);
			fflush(tell);
		} else if (st != DEVFLOW_PENDING) {
			break;
		}
	}
out:
	if (body)
		explicit_bzero(body, strlen(body));
	free(body);
	free(url);
	devflow_code_free(&code);
	if (curl)
		curl_easy_cleanup(curl);
	curl_global_cleanup();
	return st;
}
