/* buf.h - a growable byte buffer, always NUL-terminated, for building strings and bodies. */
#ifndef ATCR_BUF_H
#define ATCR_BUF_H
#include <stdarg.h>
#include <stddef.h>

typedef struct {
	char *data; /* NUL-terminated; NULL until the first append */
	size_t len;
	size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

/* Append len bytes; returns 0, or -1 when out of memory (the buffer is left unchanged). */
int buf_append(buf_t *b, const void *data, size_t len);
/* Append a C string. */
int buf_puts(buf_t *b, const char *s);
/* Append printf-formatted text. */
int buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* The contents as a C string ("" when empty); valid until the next append or free. */
const char *buf_str(const buf_t *b);
/* Hand the malloc'd string to the caller (never NULL unless out of memory) and reset b. */
char *buf_detach(buf_t *b);
/* Forget the contents but keep the memory. */
void buf_reset(buf_t *b);
void buf_free(buf_t *b);

/* A malloc'd printf-formatted string (caller frees); NULL when out of memory. */
char *buf_strf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The out-parameter error idiom: when err is not NULL, free *err (NULL or a message from an earlier
 * call) and set it to the formatted message. Returns -1, so `return buf_error(err, ...)` reads well. */
int buf_error(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
