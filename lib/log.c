/* log.c - leveled log lines in text or JSON. One mutex guards the destination so that a line is
 * written whole (one write(2)) and log_reopen/log_setup never pull the file from under a writer.
 * Every message passes through log_redact, so a credential that slips into a format string is
 * masked before it reaches the disk. */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

enum log_format { LOG_TEXT, LOG_JSON };

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* All under log_lock. */
static log_level log_min = LOG_INFO;
static enum log_format log_fmt = LOG_TEXT;
static int log_fd = STDERR_FILENO;
static char *log_path; /* NULL: stderr */

static _Thread_local char log_req_id[128];
static _Thread_local int log_req_set;

static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
static const char *const level_names_lower[] = {"debug", "info", "warn", "error"};

static int open_log_file(const char *path)
{
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

int log_setup(const char *level, const char *format, const char *file, char **err)
{
	log_level lvl = LOG_INFO;
	enum log_format fmt = LOG_TEXT;
	int fd = STDERR_FILENO;
	char *path = NULL;
	if (err)
		*err = NULL;

	if (level && *level) {
		int found = 0;
		for (int i = LOG_DEBUG; i <= LOG_ERROR; i++)
			if (strcasecmp(level, level_names_lower[i]) == 0) {
				lvl = (log_level)i;
				found = 1;
			}
		if (!found && strcasecmp(level, "warning") == 0) {
			lvl = LOG_WARN;
			found = 1;
		}
		if (!found) {
			if (err)
				*err = buf_strf("unknown log level '%s' (expected debug, info, warn or error)", level);
			return -1;
		}
	}
	if (format && *format) {
		if (strcasecmp(format, "json") == 0)
			fmt = LOG_JSON;
		else if (strcasecmp(format, "text") != 0) {
			if (err)
				*err = buf_strf("unknown log format '%s' (expected text or json)", format);
			return -1;
		}
	}
	if (file && *file) {
		fd = open_log_file(file);
		if (fd < 0) {
			if (err)
				*err = buf_strf("cannot open log file %s: %s", file, strerror(errno));
			return -1;
		}
		path = strdup(file);
		if (!path) {
			close(fd);
			if (err)
				*err = buf_strf("out of memory");
			return -1;
		}
	}

	pthread_mutex_lock(&log_lock);
	int old_fd = log_fd;
	char *old_path = log_path;
	log_min = lvl;
	log_fmt = fmt;
	log_fd = fd;
	log_path = path;
	pthread_mutex_unlock(&log_lock);

	if (old_path && old_fd != STDERR_FILENO)
		close(old_fd);
	free(old_path);
	return 0;
}

int log_reopen(void)
{
	int rc = 0;
	pthread_mutex_lock(&log_lock);
	if (log_path) {
		int fd = open_log_file(log_path);
		if (fd < 0) {
			rc = -1;
		} else {
			close(log_fd);
			log_fd = fd;
		}
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void log_set_request_id(const char *id)
{
	if (!id) {
		log_req_set = 0;
		log_req_id[0] = '\0';
		return;
	}
	snprintf(log_req_id, sizeof log_req_id, "%s", id);
	log_req_set = 1;
}

const char *log_request_id(void)
{
	return log_req_set ? log_req_id : NULL;
}

/* ---- redaction */

static int is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

static int is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Query/form parameters whose values are credentials: exact names, and names ending in a suffix
 * (access_token, client_secret, X-Amz-Signature, X-Amz-Security-Token, device_secret, ...). */
static int secret_param(const char *name, size_t n)
{
	static const char *const exact[] = {"code", "code_verifier", "sig", "pass", "pwd", "dpop", NULL};
	static const char *const suffix[] = {"password", "passwd", "token", "secret", "signature", NULL};
	for (int i = 0; exact[i]; i++)
		if (strlen(exact[i]) == n && strncasecmp(name, exact[i], n) == 0)
			return 1;
	for (int i = 0; suffix[i]; i++) {
		size_t k = strlen(suffix[i]);
		if (n >= k && strncasecmp(name + n - k, suffix[i], k) == 0)
			return 1;
	}
	return 0;
}

/* Length of an authorization credential after a scheme word at s ("Bearer abc" -> the scheme, the
 * blanks and the credential), or 0 when s does not start one. */
static size_t auth_scheme_at(const char *s, size_t *cred_start)
{
	static const char *const schemes[] = {"Bearer", "Basic", "DPoP", NULL};
	for (int i = 0; schemes[i]; i++) {
		size_t k = strlen(schemes[i]);
		if (strncasecmp(s, schemes[i], k) != 0 || (s[k] != ' ' && s[k] != '\t'))
			continue;
		size_t j = k;
		while (s[j] == ' ' || s[j] == '\t')
			j++;
		size_t start = j;
		while (is_token_char((unsigned char)s[j]))
			j++;
		if (j == start)
			continue;
		*cred_start = start;
		return j;
	}
	return 0;
}

/* Length of a JWT-shaped run ("eyJ....eyJ....sig") at s, or 0. */
static size_t jwt_at(const char *s)
{
	if (strncmp(s, "eyJ", 3) != 0)
		return 0;
	size_t j = 0;
	int dots = 0;
	for (;; j++) {
		unsigned char c = (unsigned char)s[j];
		if (c == '.')
			dots++;
		else if (!is_word_char(c) && c != '-')
			break;
	}
	return dots >= 2 ? j : 0;
}

char *log_redact(const char *s)
{
	if (!s)
		return NULL;
	buf_t out = BUF_INIT;
	size_t i = 0;
	int failed = buf_puts(&out, "") != 0;
	while (!failed && s[i]) {
		int at_word_start = i == 0 || !is_word_char((unsigned char)s[i - 1]);
		size_t cred = 0, n;
		if (at_word_start && (n = auth_scheme_at(s + i, &cred)) > 0) {
			failed |= buf_append(&out, s + i, cred) != 0;
			failed |= buf_puts(&out, "[redacted]") != 0;
			i += n;
			continue;
		}
		if (at_word_start && (n = jwt_at(s + i)) > 0) {
			failed |= buf_puts(&out, "[redacted]") != 0;
			i += n;
			continue;
		}
		/* name=value where the name starts the string or follows '?', '&' or ';'. */
		if (i == 0 || s[i - 1] == '?' || s[i - 1] == '&' || s[i - 1] == ';') {
			size_t k = i;
			while (s[k] && (is_word_char((unsigned char)s[k]) || s[k] == '-'))
				k++;
			if (k > i && s[k] == '=' && secret_param(s + i, k - i)) {
				size_t v = k + 1;
				while (s[v] && s[v] != '&' && s[v] != '#' && s[v] != ';' && s[v] != ' ' &&
				       s[v] != '\t' && s[v] != '"' && s[v] != '\'' && s[v] != '\n' && s[v] != '\r')
					v++;
				failed |= buf_append(&out, s + i, k + 1 - i) != 0;
				if (v > k + 1)
					failed |= buf_puts(&out, "[redacted]") != 0;
				i = v;
				continue;
			}
		}
		failed |= buf_append(&out, s + i, 1) != 0;
		i++;
	}
	if (failed) {
		buf_free(&out);
		return NULL;
	}
	return buf_detach(&out);
}

/* ---- writing */

static void format_time(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

/* Text lines stay one line: control characters in a message cannot forge further entries. */
static void append_escaped(buf_t *b, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n')
			buf_puts(b, "\\n");
		else if (c == '\r')
			buf_puts(b, "\\r");
		else if (c < 0x20 && c != '\t')
			buf_printf(b, "\\x%02x", c);
		else
			buf_append(b, s, 1);
	}
}

static int build_line(buf_t *line, enum log_format fmt, log_level lvl, const char *msg)
{
	char when[32];
	const char *req = log_request_id();
	format_time(when);
	if (fmt == LOG_JSON) {
		json_object *o = json_object_new_object();
		if (!o)
			return -1;
		json_object_object_add(o, "time", json_object_new_string(when));
		json_object_object_add(o, "level", json_object_new_string(level_names_lower[lvl]));
		json_object_object_add(o, "req", req ? json_object_new_string(req) : NULL);
		json_object_object_add(o, "msg", json_object_new_string(msg));
		const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		int rc = js ? buf_puts(line, js) : -1;
		json_object_put(o);
		if (rc != 0)
			return -1;
	} else {
		buf_printf(line, "%s %s ", when, level_names[lvl]);
		if (req) {
			buf_puts(line, "[");
			append_escaped(line, req);
			buf_puts(line, "] ");
		}
		append_escaped(line, msg);
	}
	return buf_puts(line, "\n");
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere left to report it */
		p += w;
		n -= (size_t)w;
	}
}

void log_msg(log_level lvl, const char *fmt, ...)
{
	if ((int)lvl < LOG_DEBUG || lvl > LOG_ERROR)
		lvl = LOG_ERROR;
	pthread_mutex_lock(&log_lock);
	log_level min = log_min;
	enum log_format format = log_fmt;
	pthread_mutex_unlock(&log_lock);
	if (lvl < min)
		return;

	buf_t raw = BUF_INIT, line = BUF_INIT;
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	if (rc != 0)
		goto out;
	msg = log_redact(buf_str(&raw));
	if (!msg || build_line(&line, format, lvl, msg) != 0)
		goto out;

	pthread_mutex_lock(&log_lock);
	write_all(log_fd, line.data, line.len);
	pthread_mutex_unlock(&log_lock);
out:
	free(msg);
	buf_free(&raw);
	buf_free(&line);
}
