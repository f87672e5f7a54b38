/* digest.c - resumable SHA-256/SHA-512 on OpenSSL's low-level contexts.
 *
 * EVP_MD_CTX cannot export its running state, and an upload's sha256 must survive between requests
 * served by different processes. SHA256_CTX/SHA512_CTX are plain structs we can read and rebuild,
 * but their functions are deprecated in OpenSSL 3: ask for the 1.1.1 API in this one file, so
 * -Werror stays quiet, instead of carrying our own SHA-2. */
#define OPENSSL_API_COMPAT 0x10100000L
#include "digest.h"

#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

_Static_assert(sizeof(SHA256_CTX) <= DIGEST_CTX_SIZE, "DIGEST_CTX_SIZE too small for SHA256_CTX");
_Static_assert(sizeof(SHA512_CTX) <= DIGEST_CTX_SIZE, "DIGEST_CTX_SIZE too small for SHA512_CTX");
_Static_assert(_Alignof(SHA512_CTX) <= _Alignof(uint64_t), "digest ctx alignment");

/* Saved format, version 1, all integers big-endian:
 *   version(1) alg(1) count(8) chaining words(32 or 64) pending bytes(count % block) check(8)
 * where check is the first 8 bytes of SHA-256 over everything before it. */
#define SAVED_VERSION 1
#define SAVED_HEAD 10
#define SAVED_CHECK 8
/* SHA-256 counts bits in 64 bits: keep byte counts below 2^61 for both algorithms. */
#define COUNT_LIMIT (UINT64_C(1) << 61)

static SHA256_CTX *ctx256(digest_state *st) { return (SHA256_CTX *)(void *)st->ctx.bytes; }
static SHA512_CTX *ctx512(digest_state *st) { return (SHA512_CTX *)(void *)st->ctx.bytes; }
static const SHA256_CTX *cctx256(const digest_state *st)
{
	return (const SHA256_CTX *)(const void *)st->ctx.bytes;
}
static const SHA512_CTX *cctx512(const digest_state *st)
{
	return (const SHA512_CTX *)(const void *)st->ctx.bytes;
}

static size_t block_size(digest_alg alg)
{
	return alg == DIGEST_SHA256 ? 64 : alg == DIGEST_SHA512 ? 128 : 0;
}

static int alg_known(digest_alg alg) { return alg == DIGEST_SHA256 || alg == DIGEST_SHA512; }

digest_alg digest_alg_from_name(const char *name, size_t len)
{
	if (len == 6 && memcmp(name, "sha256", 6) == 0)
		return DIGEST_SHA256;
	if (len == 6 && memcmp(name, "sha512", 6) == 0)
		return DIGEST_SHA512;
	return 0;
}

const char *digest_alg_name(digest_alg alg)
{
	return alg == DIGEST_SHA256 ? "sha256" : alg == DIGEST_SHA512 ? "sha512" : NULL;
}

size_t digest_alg_size(digest_alg alg)
{
	return alg == DIGEST_SHA256 ? SHA256_DIGEST_LENGTH
	       : alg == DIGEST_SHA512 ? SHA512_DIGEST_LENGTH
				      : 0;
}

int digest_init(digest_state *st, digest_alg alg)
{
	memset(st, 0, sizeof *st);
	if (!alg_known(alg))
		return -1;
	st->alg = alg;
	if (alg == DIGEST_SHA256)
		SHA256_Init(ctx256(st));
	else
		SHA512_Init(ctx512(st));
	return 0;
}

void digest_update(digest_state *st, const void *data, size_t len)
{
	if (len == 0)
		return;
	if (st->alg == DIGEST_SHA256)
		SHA256_Update(ctx256(st), data, len);
	else if (st->alg == DIGEST_SHA512)
		SHA512_Update(ctx512(st), data, len);
	else
		return;
	st->count += len;
}

uint64_t digest_count(const digest_state *st) { return st->count; }

int digest_final_raw(const digest_state *st, unsigned char *out)
{
	digest_state copy = *st; /* finishing wipes the context; keep the caller's running */

	if (st->alg == DIGEST_SHA256)
		SHA256_Final(out, ctx256(&copy));
	else if (st->alg == DIGEST_SHA512)
		SHA512_Final(out, ctx512(&copy));
	else
		return -1;
	return 0;
}

char *digest_final(const digest_state *st)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[SHA512_DIGEST_LENGTH];
	size_t n = digest_alg_size(st->alg), i;
	const char *name = digest_alg_name(st->alg);
	char *out, *p;

	if (!name || digest_final_raw(st, raw) != 0)
		return NULL;
	out = malloc(strlen(name) + 1 + 2 * n + 1);
	if (!out)
		return NULL;
	p = out + strlen(name);
	memcpy(out, name, strlen(name));
	*p++ = ':';
	for (i = 0; i < n; i++) {
		*p++ = hex[raw[i] >> 4];
		*p++ = hex[raw[i] & 15];
	}
	*p = '\0';
	return out;
}

char *digest_buffer(digest_alg alg, const void *data, size_t len)
{
	digest_state st;

	if (digest_init(&st, alg) != 0)
		return NULL;
	digest_update(&st, data, len);
	return digest_final(&st);
}

/* ---------------------------------------------------------------- saving and loading */

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t get_be(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = v << 8 | p[i];
	return v;
}

static void checksum(const unsigned char *data, size_t len, unsigned char out[SAVED_CHECK])
{
	unsigned char md[SHA256_DIGEST_LENGTH];
	SHA256(data, len, md);
	memcpy(out, md, SAVED_CHECK);
}

/* The saved length for alg after count bytes. */
static size_t saved_size(digest_alg alg, uint64_t count)
{
	return SAVED_HEAD + 8 * (alg == DIGEST_SHA256 ? 4 : 8) + (size_t)(count % block_size(alg)) +
	       SAVED_CHECK;
}

int digest_save(const digest_state *st, unsigned char *out, size_t *len)
{
	size_t need, pending, i;
	unsigned char *p = out;

	if (!alg_known(st->alg))
		return -1;
	need = saved_size(st->alg, st->count);
	pending = (size_t)(st->count % block_size(st->alg));
	if (*len < need)
		return -1;
	*p++ = SAVED_VERSION;
	*p++ = (unsigned char)st->alg;
	put_be(p, st->count, 8);
	p += 8;
	if (st->alg == DIGEST_SHA256) {
		const SHA256_CTX *c = cctx256(st);
		if (c->num != pending)
			return -1;
		for (i = 0; i < 8; i++, p += 4)
			put_be(p, c->h[i], 4);
		memcpy(p, c->data, pending);
	} else {
		const SHA512_CTX *c = cctx512(st);
		if (c->num != pending)
			return -1;
		for (i = 0; i < 8; i++, p += 8)
			put_be(p, c->h[i], 8);
		memcpy(p, c->u.p, pending);
	}
	p += pending;
	checksum(out, (size_t)(p - out), p);
	*len = need;
	return 0;
}

int digest_load(digest_state *st, const unsigned char *in, size_t len, char **err)
{
	unsigned char check[SAVED_CHECK];
	const unsigned char *p = in + SAVED_HEAD;
	digest_alg alg;
	uint64_t count;
	size_t pending, i;

	memset(st, 0, sizeof *st);
	if (!in || len < SAVED_HEAD + SAVED_CHECK)
		return buf_error(err, "digest: saved state too short (%zu bytes)", len);
	if (in[0] != SAVED_VERSION)
		return buf_error(err, "digest: unknown saved state version %u", in[0]);
	alg = (digest_alg)in[1];
	if (!alg_known(alg))
		return buf_error(err, "digest: unknown algorithm %u in saved state", in[1]);
	count = get_be(in + 2, 8);
	if (count >= COUNT_LIMIT)
		return buf_error(err, "digest: byte count out of range in saved state");
	if (len != saved_size(alg, count))
		return buf_error(err, "digest: saved state has %zu bytes, want %zu", len,
				 saved_size(alg, count));
	checksum(in, len - SAVED_CHECK, check);
	if (memcmp(check, in + len - SAVED_CHECK, SAVED_CHECK) != 0)
		return buf_error(err, "digest: saved state checksum mismatch");

	pending = (size_t)(count % block_size(alg));
	/* Init sets the fields we do not carry (md_len); then overwrite the running ones. The bit
	 * counters are derived from count exactly as the Update functions keep them. */
	digest_init(st, alg);
	st->count = count;
	if (alg == DIGEST_SHA256) {
		SHA256_CTX *c = ctx256(st);
		for (i = 0; i < 8; i++, p += 4)
			c->h[i] = (SHA_LONG)get_be(p, 4);
		c->Nl = (SHA_LONG)((count << 3) & 0xffffffffu);
		c->Nh = (SHA_LONG)((count >> 29) & 0xffffffffu);
		memcpy(c->data, p, pending);
		c->num = (unsigned int)pending;
	} else {
		SHA512_CTX *c = ctx512(st);
		for (i = 0; i < 8; i++, p += 8)
			c->h[i] = get_be(p, 8);
		c->Nl = count << 3;
		c->Nh = count >> 61;
		memcpy(c->u.p, p, pending);
		c->num = (unsigned int)pending;
	}
	return 0;
}
