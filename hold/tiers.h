/* tiers.h - a hold's storage tiers: the quota tiers file (YAML, quota.tiers_file) parsed into a ranked
 * list, and the byte sizes it is written in. Pure: no database, no state. */
#ifndef ATCR_HOLD_TIERS_H
#define ATCR_HOLD_TIERS_H
#include <stddef.h>

#define TIER_UNLIMITED (-1LL)
#define TIER_NAME_MAX 32 /* the crew record's and getQuota's tier: maxLength 32 */

typedef struct {
	char *name;
	long long limit; /* bytes, or TIER_UNLIMITED */
} hold_tier;

typedef struct {
	hold_tier *tier;     /* in rank order: tierRank 0 is the first */
	size_t count;        /* at least 1 */
	size_t default_rank; /* defaults.new_crew_tier */
} hold_tiers;

/* Parse a tiers file's text; name (the path) starts every message, with the line: "FILE:3: ...".
 * Caller frees with tiers_free; NULL with *err (caller frees). */
hold_tiers *tiers_parse(const char *text, size_t len, const char *name, char **err);
/* tiers_parse of the file at path. */
hold_tiers *tiers_load(const char *path, char **err);
void tiers_free(hold_tiers *t);

/* The tier called name, NULL when there is none. */
const hold_tier *tiers_find(const hold_tiers *t, const char *name);
/* The tier a crew record's `tier` puts its member in: that tier, else the default one (name NULL or
 * empty, or a name the file does not know: then *unknown = 1, so the caller can log it). */
const hold_tier *tiers_for_member(const hold_tiers *t, const char *name, int *unknown);

/* "5GB", "1.5 GiB", "512KB", "1048576" (bytes), "unlimited" (TIER_UNLIMITED): units are powers of 1024
 * whichever way they are spelled (KB = KiB = K), case-insensitive. 0 ok, -1 not a size. */
int tiers_parse_size(const char *s, long long *bytes);
/* A size for people: "512 bytes", "1 byte", "3.0 MiB", "1.5 GiB" (one decimal, binary units). */
void tiers_format_size(long long bytes, char out[32]);

#endif
