/* log.h - leveled log lines (text or JSON), with a per-thread request id; never prints secrets. */
#ifndef ATCR_LOG_H
#define ATCR_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level;

/* Configure the process-wide log: level "debug"|"info"|"warn"|"error", format "text"|"json", file ""
 * (or NULL) for stderr, else a path opened for append (created mode 0600). NULL level/format mean
 * "info"/"text". Returns 0, or -1 with *err set (caller frees). Call before starting threads. */
int log_setup(const char *level, const char *format, const char *file, char **err);
/* Reopen the log file after rotation (SIGHUP). Returns 0, or -1 (the old file stays in use). */
int log_reopen(void);
/* Set the id printed with each line from this thread (copied); NULL clears. */
void log_set_request_id(const char *id);
/* This thread's request id, or NULL. */
const char *log_request_id(void);
/* Write one line if lvl is at or above the configured level; secrets in the message are masked. */
void log_msg(log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
/* Redact secrets in a URL query or header value for logging: "Bearer eyJ..." -> "Bearer [redacted]",
 * "Basic ..." likewise, "password=...", "token=...", "secret=...", "code=..." query values (also
 * access_token=, refresh_token=, client_secret=, ...) -> "[redacted]". Caller frees; NULL when out of
 * memory or s is NULL. */
char *log_redact(const char *s);

#endif
