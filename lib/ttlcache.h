/* ttlcache.h - a small in-process cache of strings that expire, shared by a FastCGI program's threads:
 * service tokens, users' push holds. Fixed size: when full, the entry closest to expiry makes room. */
#ifndef ATCR_TTLCACHE_H
#define ATCR_TTLCACHE_H
#include <pthread.h>

#define TTLCACHE_SLOTS 256

typedef struct {
	pthread_mutex_t lock;
	struct {
		char *key, *value;
		long long expires; /* unix seconds; the entry is stale from then on */
	} slot[TTLCACHE_SLOTS];
} ttlcache;

/* For a static cache: `static ttlcache c = TTLCACHE_INIT;` */
#define TTLCACHE_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* A copy of key's value if it is still fresh at now (caller frees), else NULL. */
char *ttlcache_get(ttlcache *c, const char *key, long long now);
/* Keep value for key until expires (replacing key's entry, else taking a free or stale slot, else the
 * one that expires first). Out of memory just leaves the entry out. */
void ttlcache_put(ttlcache *c, const char *key, const char *value, long long expires, long long now);
/* Forget every entry. */
void ttlcache_clear(ttlcache *c);

#endif
