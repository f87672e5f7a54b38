/* test_ttlcache.c - the expiring string cache: hits, expiry, replacement, eviction when full, threads. */
#include <pthread.h>
#include <stdio.h>

#include "tap.h"
#include "ttlcache.h"

static ttlcache shared = TTLCACHE_INIT;

static void *hammer(void *arg)
{
	int id = *(int *)arg;
	char key[32], value[32];
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof key, "k%d-%d", id, i % 50);
		snprintf(value, sizeof value, "v%d", i);
		ttlcache_put(&shared, key, value, 1000, 0);
		free(ttlcache_get(&shared, key, 0));
	}
	return NULL;
}

int main(void)
{
	static ttlcache c = TTLCACHE_INIT;
	char *v;

	ok(ttlcache_get(&c, "a", 100) == NULL, "empty cache: miss");
	ttlcache_put(&c, "a", "one", 200, 100);
	v = ttlcache_get(&c, "a", 150);
	is_str(v, "one", "a fresh entry is a hit");
	free(v);
	ok(ttlcache_get(&c, "a", 200) == NULL, "stale at its expiry second");
	ok(ttlcache_get(&c, "b", 150) == NULL, "another key misses");
	ttlcache_put(&c, "a", "two", 300, 150);
	v = ttlcache_get(&c, "a", 250);
	is_str(v, "two", "put replaces the key's value");
	free(v);
	ttlcache_put(&c, "", "", 300, 150);
	v = ttlcache_get(&c, "", 250);
	is_str(v, "", "empty key and value are kept");
	free(v);

	/* fill every slot, then one more: the entry expiring first makes room */
	ttlcache_clear(&c);
	char key[32];
	for (int i = 0; i < TTLCACHE_SLOTS; i++) {
		snprintf(key, sizeof key, "k%d", i);
		ttlcache_put(&c, key, key, 1000 + i, 0);
	}
	ttlcache_put(&c, "new", "x", 5000, 0);
	ok(ttlcache_get(&c, "k0", 1) == NULL, "full: the entry expiring first was evicted");
	v = ttlcache_get(&c, "k1", 1);
	is_str(v, "k1", "the others stay");
	free(v);
	v = ttlcache_get(&c, "new", 1);
	is_str(v, "x", "the new entry is in");
	free(v);
	/* a stale slot is reused before a fresh one is evicted */
	ttlcache_put(&c, "newer", "y", 5000, 1002); /* k1 (1001) and k2 (1002) are stale at 1002 */
	v = ttlcache_get(&c, "k3", 1002);
	is_str(v, "k3", "fresh entries survive when a stale slot is free");
	free(v);
	ttlcache_clear(&c);
	ok(ttlcache_get(&c, "new", 1) == NULL, "clear forgets everything");

	pthread_t th[4];
	int ids[4] = {0, 1, 2, 3};
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, &ids[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	v = ttlcache_get(&shared, "k2-49", 0);
	is_str(v, "v1999", "four threads: the last value of each key wins");
	free(v);
	ttlcache_clear(&shared);
	return tap_done();
}
