/* tap.h - a tiny Test Anything Protocol emitter for the unit tests (header-only).
 *
 *   ok(cond, "name %d", i);  is_str(got, want, "name");  is_int(got, want, "name");
 *   return tap_done();       // prints the plan, exit status 1 if anything failed
 *
 * vector_path("syntax/did_syntax_valid.txt") finds a file under $ATCR_VECTORS
 * (tests/vectors by default, relative to the source tree).
 */
#ifndef ATCR_TAP_H
#define ATCR_TAP_H
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_run, tap_failed;

static int tap_ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3), unused));
static int tap_ok(int cond, const char *fmt, ...)
{
	va_list ap;
	tap_run++;
	if (!cond)
		tap_failed++;
	printf("%sok %d - ", cond ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return cond;
}
#define ok(cond, ...) tap_ok(!!(cond), __VA_ARGS__)

#define is_str(got, want, ...)                                                         \
	do {                                                                           \
		const char *g_ = (got), *w_ = (want);                                  \
		if (!tap_ok(g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_, __VA_ARGS__))   \
			printf("#   got: '%s'\n# want: '%s'\n", g_ ? g_ : "(null)",      \
			       w_ ? w_ : "(null)");                                    \
	} while (0)

#define is_int(got, want, ...)                                                         \
	do {                                                                           \
		long long g_ = (long long)(got), w_ = (long long)(want);               \
		if (!tap_ok(g_ == w_, __VA_ARGS__))                                    \
			printf("#   got: %lld\n# want: %lld\n", g_, w_);                   \
	} while (0)

static void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2), unused));
static void diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *vector_path(const char *rel) __attribute__((unused));
static const char *vector_path(const char *rel)
{
	static char path[4096];
	const char *dir = getenv("ATCR_VECTORS");
	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : "tests/vectors", rel);
	return path;
}

/* An environment variable a test program cannot run without (exit 2 when missing). */
static const char *tap_env(const char *name) __attribute__((unused));
static const char *tap_env(const char *name)
{
	const char *v = getenv(name);
	if (!v || !*v) {
		fprintf(stderr, "%s is not set\n", name);
		exit(2);
	}
	return v;
}

static int tap_done(void) __attribute__((unused));
static int tap_done(void)
{
	printf("1..%d\n", tap_run);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_run);
	return tap_failed ? 1 : 0;
}
#endif
