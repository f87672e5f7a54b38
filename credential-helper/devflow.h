/* devflow.h - docker-credential-atcr's side of the device login (docs/credential-helper.md): ask the
 * registry for a code, tell the user where to approve it, poll until it is approved, denied or expired.
 * The parsing of each answer is separate from the HTTP (libcurl) so it can be tested alone. */
#ifndef ATCR_DEVFLOW_H
#define ATCR_DEVFLOW_H
#include <stdio.h>

typedef struct {
	char *device_code;
	char *user_code;
	char *verification_uri;
	char *verification_uri_complete;
	long expires_in; /* seconds */
	long interval;   /* seconds between polls */
} devflow_code;

typedef struct {
	char *did;
	char *handle;
	char *secret;
} devflow_grant;

typedef enum {
	DEVFLOW_FAILED = -1,  /* anything unexpected: *err says what */
	DEVFLOW_APPROVED,
	DEVFLOW_PENDING,      /* authorization_pending */
	DEVFLOW_SLOW_DOWN,    /* slow_down: wait 5 s longer from now on */
	DEVFLOW_DENIED,       /* access_denied */
	DEVFLOW_EXPIRED,      /* expired_token */
} devflow_state;

/* The registry's base URL for a stored key (host[:port]): http:// for 127.0.0.1, localhost and [::1],
 * or when insecure; https:// otherwise. Caller frees. */
char *devflow_base_url(const char *key, int insecure);

/* The device authorization answer (HTTP status, body). 0 with out filled (free with devflow_code_free),
 * or -1 with *err: a refusal names the registry's error, a malformed answer says so. */
int devflow_parse_code(long status, const char *body, devflow_code *out, char **err);
void devflow_code_free(devflow_code *c);

/* One poll's answer (HTTP status, body): APPROVED with out filled (free with devflow_grant_free), the
 * state an RFC 8628 error names, or FAILED with *err. */
devflow_state devflow_parse_token(long status, const char *body, devflow_grant *out, char **err);
void devflow_grant_free(devflow_grant *g);

/* The whole login against base (from devflow_base_url) for a device called name: prints "Open <url> and
 * approve code XXXX-XXXX" on tell, polls (first_interval seconds before the first poll when >= 0, else the
 * registry's interval) until the registry answers. DEVFLOW_APPROVED with out filled, DEVFLOW_DENIED,
 * DEVFLOW_EXPIRED or DEVFLOW_FAILED (with *err). */
devflow_state devflow_login(const char *base, const char *name, long first_interval, FILE *tell, devflow_grant *out,
			    char **err);

#endif
