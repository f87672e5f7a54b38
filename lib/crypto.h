/* crypto.h - hashing, ECDSA (K-256, P-256) with atproto's low-S rule, RSA for RS256, key files.
 * A thin layer over OpenSSL 3 EVP; every function is thread-safe. */
#ifndef ATCR_CRYPTO_H
#define ATCR_CRYPTO_H
#include <stddef.h>

typedef enum { CRYPTO_K256 = 1, CRYPTO_P256 = 2, CRYPTO_RSA = 3 } crypto_alg;
typedef struct crypto_key crypto_key; /* opaque, wraps EVP_PKEY; public or private */

/* SHA-256 of data. */
void crypto_sha256(const void *data, size_t len, unsigned char out[32]);
/* Constant-time comparison of secrets; 1 when equal, 0 otherwise. */
int crypto_memeq(const void *a, const void *b, size_t len);
/* Fill out with cryptographically secure random bytes; 0 ok, -1 on failure. */
int crypto_random(void *out, size_t len);

/* A fresh private key (RSA: 2048 bits); NULL on failure. Free with crypto_key_free. */
crypto_key *crypto_key_generate(crypto_alg alg);
/* A public key from a SEC1 point: 33-byte compressed or 65-byte uncompressed (EC only).
 * NULL when the point is malformed or not on the curve. */
crypto_key *crypto_key_from_public(crypto_alg alg, const unsigned char *point, size_t len);
/* A private key from a 32-byte big-endian scalar (EC only); NULL when out of range. */
crypto_key *crypto_key_from_private(crypto_alg alg, const unsigned char *scalar, size_t len);
/* Load a private key PEM (PKCS#8 or SEC1 / PKCS#1); NULL with *err set on failure. */
crypto_key *crypto_key_load_pem(const char *path, char **err);
/* Save the private key as PKCS#8 PEM: written to a temp file of mode 0600, fsync'd, renamed
 * over path. 0 ok, -1 with *err set. */
int crypto_key_save_pem(const crypto_key *k, const char *path, char **err);
/* The private key as a PKCS#8 PEM string, for keys kept in the index (OAuth DPoP keys). Caller frees
 * (it is a secret: never log it); NULL for a public key or on failure. */
char *crypto_key_to_pem(const crypto_key *k);
/* A private key from a PEM string of len bytes (as crypto_key_load_pem); NULL with *err set. */
crypto_key *crypto_key_from_pem(const char *pem, size_t len, char **err);
/* Load path, or when it does not exist generate a key of alg and save it (0600).
 * An existing key of another algorithm is an error. NULL with *err set on failure. */
crypto_key *crypto_key_load_or_create(const char *path, crypto_alg alg, char **err);

/* The key's algorithm. */
crypto_alg crypto_key_alg(const crypto_key *k);
/* 1 when the key holds private material (can sign). */
int crypto_key_is_private(const crypto_key *k);
/* The 33-byte compressed SEC1 public point (EC only); 0 ok, -1 otherwise. */
int crypto_key_public_compressed(const crypto_key *k, unsigned char out[33]);
/* A public-only copy of k (for publishing or verifying); NULL on failure. */
crypto_key *crypto_key_public_copy(const crypto_key *k);

/* Sign sha256(msg) with an EC key; writes compact r||s, always low-S. 0 ok, -1 on failure. */
int crypto_ecdsa_sign(const crypto_key *k, const void *msg, size_t len, unsigned char sig[64]);
/* Verify compact r||s over sha256(msg). 1 valid; 0 invalid: siglen != 64 (so DER is refused),
 * high-S, r or s out of range, or a bad signature. */
int crypto_ecdsa_verify(const crypto_key *k, const void *msg, size_t len,
			const unsigned char *sig, size_t siglen);
/* RSASSA-PKCS1-v1_5 with SHA-256 (RS256). Sign: *sig malloc'd (caller frees), 0 ok.
 * Verify: 1 valid, 0 invalid. */
int crypto_rsa_sign(const crypto_key *k, const void *msg, size_t len, unsigned char **sig,
		    size_t *siglen);
int crypto_rsa_verify(const crypto_key *k, const void *msg, size_t len, const unsigned char *sig,
		      size_t siglen);

/* A salted password hash for storage: "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>". Caller frees;
 * NULL when out of memory. */
char *crypto_password_hash(const char *password);
/* 1 when password matches a crypto_password_hash string (constant-time compare), else 0. */
int crypto_password_verify(const char *password, const char *stored);
void crypto_key_free(crypto_key *k);

#endif
