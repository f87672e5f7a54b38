/* ttlcache.c - an expiring string cache behind one mutex (see ttlcache.h). */
#include "ttlcache.h"

#include <stdlib.h>
#include <string.h>

char *ttlcache_get(ttlcache *c, const char *key, long long now)
{
	char *value = NULL;
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < TTLCACHE_SLOTS; i++)
		if (c->slot[i].key && strcmp(c->slot[i].key, key) == 0) {
			if (c->slot[i].expires > now)
				value = strdup(c->slot[i].value);
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return value;
}

void ttlcache_put(ttlcache *c, const char *key, const char *value, long long expires, long long now)
{
	char *k = strdup(key), *v = strdup(value);
	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	pthread_mutex_lock(&c->lock);
	int slot = -1;
	for (int i = 0; i < TTLCACHE_SLOTS && slot < 0; i++)
		if (c->slot[i].key && strcmp(c->slot[i].key, key) == 0)
			slot = i;
	for (int i = 0; i < TTLCACHE_SLOTS && slot < 0; i++)
		if (!c->slot[i].key || c->slot[i].expires <= now)
			slot = i;
	if (slot < 0) {
		slot = 0;
		for (int i = 1; i < TTLCACHE_SLOTS; i++)
			if (c->slot[i].expires < c->slot[slot].expires)
				slot = i;
	}
	free(c->slot[slot].key);
	free(c->slot[slot].value);
	c->slot[slot].key = k;
	c->slot[slot].value = v;
	c->slot[slot].expires = expires;
	pthread_mutex_unlock(&c->lock);
}

void ttlcache_clear(ttlcache *c)
{
	pthread_mutex_lock(&c->lock);
	for (int i = 0; i < TTLCACHE_SLOTS; i++) {
		free(c->slot[i].key);
		free(c->slot[i].value);
		c->slot[i].key = c->slot[i].value = NULL;
		c->slot[i].expires = 0;
	}
	pthread_mutex_unlock(&c->lock);
}
