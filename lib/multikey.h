/* multikey.h - atproto public key encodings: Multikey / did:key, and the legacy DID-document
 * key forms, to and from crypto_key. */
#ifndef ATCR_MULTIKEY_H
#define ATCR_MULTIKEY_H
#include "crypto.h"

/* "zQ3sh..." (K-256, multicodec 0xe7 0x01) or "zDn..." (P-256, 0x80 0x24) with the 33-byte
 * compressed point; caller frees; NULL for RSA keys. */
char *multikey_encode(const crypto_key *k);
/* Inverse of multikey_encode; also accepts the 65-byte uncompressed point after the prefix.
 * NULL with *err set on failure. */
crypto_key *multikey_decode(const char *multibase, char **err);
/* "did:key:" + multikey; caller frees. */
char *did_key_encode(const crypto_key *k);
/* Public key of a did:key; NULL with *err set on failure. */
crypto_key *did_key_decode(const char *did_key, char **err);
/* A DID document verificationMethod: type "Multikey" (publicKeyMultibase is a multikey), or the
 * legacy "EcdsaSecp256k1VerificationKey2019" / "EcdsaSecp256r1VerificationKey2019"
 * (publicKeyMultibase = 'z' + base58btc of the raw point, compressed or 65-byte uncompressed,
 * no multicodec prefix). NULL with *err set on failure. */
crypto_key *multikey_from_verification_method(const char *type, const char *public_key_multibase,
					      char **err);

#endif
