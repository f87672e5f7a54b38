/* multikey.c - Multikey / did:key and legacy DID-document key encodings. */
#include "multikey.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "encoding.h"

/* multicodec varint prefixes: secp256k1-pub (0xe7) and p256-pub (0x1200) */
static const unsigned char k256_prefix[2] = {0xe7, 0x01};
static const unsigned char p256_prefix[2] = {0x80, 0x24};

#define DID_KEY_PREFIX "did:key:"

char *multikey_encode(const crypto_key *k)
{
	unsigned char raw[35];
	char *b58, *out = NULL;
	crypto_alg alg = crypto_key_alg(k);

	if (alg == CRYPTO_K256)
		memcpy(raw, k256_prefix, 2);
	else if (alg == CRYPTO_P256)
		memcpy(raw, p256_prefix, 2);
	else
		return NULL;
	if (crypto_key_public_compressed(k, raw + 2) < 0)
		return NULL;
	b58 = enc_base58btc_encode(raw, sizeof raw);
	if (!b58)
		return NULL;
	if (asprintf(&out, "z%s", b58) < 0)
		out = NULL;
	free(b58);
	return out;
}

crypto_key *multikey_decode(const char *multibase, char **err)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	crypto_alg alg;
	crypto_key *k = NULL;

	if (!multibase || multibase[0] != 'z') {
		buf_error(err, "multikey must be base58btc multibase (start with 'z')");
		return NULL;
	}
	if (enc_base58btc_decode(multibase + 1, &raw, &rawlen) < 0) {
		buf_error(err, "multikey: invalid base58btc");
		return NULL;
	}
	if (rawlen > 2 && memcmp(raw, k256_prefix, 2) == 0) {
		alg = CRYPTO_K256;
	} else if (rawlen > 2 && memcmp(raw, p256_prefix, 2) == 0) {
		alg = CRYPTO_P256;
	} else {
		buf_error(err, "multikey: unsupported key type (want secp256k1 or p256)");
		goto out;
	}
	k = crypto_key_from_public(alg, raw + 2, rawlen - 2);
	if (!k)
		buf_error(err, "multikey: invalid %s public key point",
			alg == CRYPTO_K256 ? "secp256k1" : "p256");
out:
	free(raw);
	return k;
}

char *did_key_encode(const crypto_key *k)
{
	char *mk = multikey_encode(k), *out = NULL;
	if (!mk)
		return NULL;
	if (asprintf(&out, DID_KEY_PREFIX "%s", mk) < 0)
		out = NULL;
	free(mk);
	return out;
}

crypto_key *did_key_decode(const char *did_key, char **err)
{
	if (!did_key || strncmp(did_key, DID_KEY_PREFIX, strlen(DID_KEY_PREFIX)) != 0) {
		buf_error(err, "not a did:key");
		return NULL;
	}
	return multikey_decode(did_key + strlen(DID_KEY_PREFIX), err);
}

crypto_key *multikey_from_verification_method(const char *type, const char *public_key_multibase,
					      char **err)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	crypto_alg alg;
	crypto_key *k;

	if (!type || !public_key_multibase) {
		buf_error(err, "verification method lacks type or publicKeyMultibase");
		return NULL;
	}
	if (strcmp(type, "Multikey") == 0)
		return multikey_decode(public_key_multibase, err);
	if (strcmp(type, "EcdsaSecp256k1VerificationKey2019") == 0) {
		alg = CRYPTO_K256;
	} else if (strcmp(type, "EcdsaSecp256r1VerificationKey2019") == 0) {
		alg = CRYPTO_P256;
	} else {
		buf_error(err, "unsupported verification method type '%s'", type);
		return NULL;
	}
	if (public_key_multibase[0] != 'z' ||
	    enc_base58btc_decode(public_key_multibase + 1, &raw, &rawlen) < 0) {
		buf_error(err, "%s: publicKeyMultibase is not base58btc multibase", type);
		return NULL;
	}
	k = crypto_key_from_public(alg, raw, rawlen);
	free(raw);
	if (!k)
		buf_error(err, "%s: invalid public key point", type);
	return k;
}
