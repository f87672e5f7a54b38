/* cli.h - the atcr-appview operator commands that are not the server: migrate, resolve, expire-uploads, expire-sessions. */
#ifndef ATCR_CLI_H
#define ATCR_CLI_H
#include "config.h"

/* Open database.path, apply pending migrations, print the schema version. Returns an exit code. */
int cli_migrate(const config *cfg);
/* Resolve a handle or DID (bypassing the cache) and print did/handle/pds/key lines. Returns an exit code. */
int cli_resolve(const config *cfg, const char *who);

/* Abort (on their holds) and forget upload sessions untouched for max_age seconds: cron runs it hourly.
 * Returns an exit code. */
int cli_expire_uploads(const config *cfg, long long max_age);

/* Remove expired UI sessions and stale pending logins (cron). Returns an exit code. */
int cli_expire_sessions(const config *cfg);

#endif
