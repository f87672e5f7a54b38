/* digest.h - streaming SHA-256/SHA-512 whose running state can be saved to bytes and resumed in
 * another process: a blob upload arrives as several requests that different FastCGI processes serve. */
#ifndef ATCR_DIGEST_H
#define ATCR_DIGEST_H
#include <stddef.h>
#include <stdint.h>

typedef enum { DIGEST_SHA256 = 1, DIGEST_SHA512 = 2 } digest_alg;

/* Room for the private hash context (OpenSSL's SHA256_CTX or SHA512_CTX); checked in digest.c. */
#define DIGEST_CTX_SIZE 256
/* The largest saved state digest_save writes (sha512: 10 + 64 + 127 + 8 bytes). */
#define DIGEST_SAVED_MAX 224

/* One running digest. Plain data: copy it, keep it on the stack; there is nothing to free. */
typedef struct {
	digest_alg alg;
	uint64_t count; /* bytes hashed so far */
	union {
		uint64_t align_;
		unsigned char bytes[DIGEST_CTX_SIZE];
	} ctx; /* private */
} digest_state;

/* The algorithm of an OCI digest prefix: "sha256" or "sha512" (len bytes of name, no colon).
 * 0 for anything else. */
digest_alg digest_alg_from_name(const char *name, size_t len);
/* "sha256" or "sha512"; NULL for an unknown alg. */
const char *digest_alg_name(digest_alg alg);
/* Raw digest length in bytes (32 or 64); 0 for an unknown alg. */
size_t digest_alg_size(digest_alg alg);

/* Start a digest. 0 ok, -1 for an unknown alg (st is then zeroed). */
int digest_init(digest_state *st, digest_alg alg);
/* Hash len more bytes (ignored on an uninitialised state). */
void digest_update(digest_state *st, const void *data, size_t len);
/* Bytes hashed so far. */
uint64_t digest_count(const digest_state *st);
/* The raw digest of everything hashed so far into out (digest_alg_size bytes). st is left as it
 * was, so hashing may go on. 0 ok, -1 for an uninitialised state. */
int digest_final_raw(const digest_state *st, unsigned char *out);
/* The OCI digest "sha256:<lower hex>" of everything hashed so far; st is left as it was.
 * Caller frees; NULL for an uninitialised state or out of memory. */
char *digest_final(const digest_state *st);
/* One-shot OCI digest of a buffer; caller frees; NULL for an unknown alg or out of memory. */
char *digest_buffer(digest_alg alg, const void *data, size_t len);

/* Serialise the running state for storage (e.g. a BLOB column): a versioned, byte-order
 * independent format with a checksum. *len is the room in out on entry (DIGEST_SAVED_MAX is
 * always enough) and the bytes written on return. 0 ok, -1 when out is too small or st is
 * uninitialised. */
int digest_save(const digest_state *st, unsigned char *out, size_t *len);
/* Resume a state from digest_save's bytes. Anything else (unknown version or alg, wrong length,
 * bad checksum) is refused: -1 with *err set, st zeroed. 0 ok. */
int digest_load(digest_state *st, const unsigned char *in, size_t len, char **err);

#endif
