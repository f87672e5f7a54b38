/* test_multikey.c - did:key / Multikey / legacy DID-document keys against the atproto
 * interop vectors (signature-fixtures.json, w3c_didkey_*.json). */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "encoding.h"
#include "multikey.h"
#include "ecdsa_util.h"
#include "tap.h"

static const unsigned char k256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const unsigned char p256_n[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static const char *str(json_object *o, const char *key)
{
	json_object *v;
	return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int has_tag(json_object *o, const char *tag)
{
	json_object *tags;
	if (!json_object_object_get_ex(o, "tags", &tags))
		return 0;
	for (size_t i = 0; i < json_object_array_length(tags); i++)
		if (strcmp(json_object_get_string(json_object_array_get_idx(tags, i)), tag) == 0)
			return 1;
	return 0;
}

static void test_signature_fixtures(void)
{
	json_object *all = json_object_from_file(vector_path("crypto/signature-fixtures.json"));
	size_t n = all ? json_object_array_length(all) : 0;

	ok(n >= 6, "signature fixtures loaded (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		json_object *fx = json_object_array_get_idx(all, i);
		const char *comment = str(fx, "comment"), *alg = str(fx, "algorithm");
		json_object *vs;
		int want_valid = json_object_object_get_ex(fx, "validSignature", &vs) &&
				 json_object_get_boolean(vs);
		unsigned char *msg = NULL, *sig = NULL;
		size_t msglen = 0, siglen = 0;
		char *err = NULL, *reenc;
		crypto_key *kd, *km;
		crypto_alg want_alg = strcmp(alg, "ES256K") == 0 ? CRYPTO_K256 : CRYPTO_P256;

		kd = did_key_decode(str(fx, "publicKeyDid"), &err);
		ok(kd && crypto_key_alg(kd) == want_alg, "[%s] did:key decodes", comment);
		if (err)
			diag("%s", err);
		free(err);
		err = NULL;
		km = multikey_from_verification_method(str(fx, "didDocSuite"),
						       str(fx, "publicKeyMultibase"), &err);
		ok(km && crypto_key_alg(km) == want_alg, "[%s] %s publicKeyMultibase decodes", comment,
		   str(fx, "didDocSuite"));
		if (err)
			diag("%s", err);
		free(err);
		err = NULL;
		reenc = did_key_encode(kd);
		is_str(reenc, str(fx, "publicKeyDid"), "[%s] did:key re-encodes", comment);
		free(reenc);
		{
			unsigned char a[33], b[33];
			ok(kd && km && crypto_key_public_compressed(kd, a) == 0 &&
				   crypto_key_public_compressed(km, b) == 0 && memcmp(a, b, 33) == 0,
			   "[%s] both encodings name the same key", comment);
		}
		ok(enc_b64_decode(str(fx, "messageBase64"), strlen(str(fx, "messageBase64")), &msg,
				  &msglen) == 0 &&
			   enc_b64_decode(str(fx, "signatureBase64"),
					  strlen(str(fx, "signatureBase64")), &sig, &siglen) == 0,
		   "[%s] base64 fields decode", comment);
		is_int(crypto_ecdsa_verify(kd, msg, msglen, sig, siglen), want_valid,
		       "[%s] verify via did:key", comment);
		is_int(crypto_ecdsa_verify(km, msg, msglen, sig, siglen), want_valid,
		       "[%s] verify via DID document key", comment);
		if (has_tag(fx, "high-s") && siglen == 64) {
			/* the refusal is the low-S rule: the low-S twin of the same signature verifies */
			negate_s(sig, want_alg == CRYPTO_K256 ? k256_n : p256_n);
			is_int(crypto_ecdsa_verify(kd, msg, msglen, sig, siglen), 1,
			       "[%s] normalised to low-S it verifies", comment);
		}
		if (has_tag(fx, "der-encoded"))
			ok(siglen != 64, "[%s] DER signature is not 64 bytes", comment);
		free(msg);
		free(sig);
		crypto_key_free(kd);
		crypto_key_free(km);
	}
	json_object_put(all);
}

static void test_w3c(const char *file, crypto_alg alg)
{
	json_object *all = json_object_from_file(vector_path(file));
	size_t n = all ? json_object_array_length(all) : 0;

	ok(n >= 1, "%s loaded (%zu)", file, n);
	for (size_t i = 0; i < n; i++) {
		json_object *v = json_object_array_get_idx(all, i);
		const char *hex = str(v, "privateKeyBytesHex"), *b58 = str(v, "privateKeyBytesBase58");
		const char *want = str(v, "publicDidKey");
		unsigned char *priv = NULL;
		size_t privlen = 0;
		crypto_key *k = NULL, *back;
		char *got = NULL, *err = NULL, *mk;
		unsigned char sig[64];

		if (hex)
			enc_hex_decode(hex, strlen(hex), &priv, &privlen);
		else if (b58)
			enc_base58btc_decode(b58, &priv, &privlen);
		k = priv ? crypto_key_from_private(alg, priv, privlen) : NULL;
		ok(k != NULL, "%s[%zu] private key loads", file, i);
		got = did_key_encode(k);
		is_str(got, want, "%s[%zu] did:key from private key", file, i);
		back = did_key_decode(want, &err);
		ok(back && crypto_ecdsa_sign(k, "round trip", 10, sig) == 0 &&
			   crypto_ecdsa_verify(back, "round trip", 10, sig, 64) == 1,
		   "%s[%zu] decoded did:key verifies the private key's signature", file, i);
		mk = multikey_encode(k);
		ok(mk && strcmp(mk, want + strlen("did:key:")) == 0, "%s[%zu] multikey form", file, i);
		crypto_key_free(back);
		back = multikey_from_verification_method("Multikey", mk, &err);
		ok(back != NULL, "%s[%zu] type Multikey accepted", file, i);
		free(mk);
		free(err);
		free(got);
		free(priv);
		crypto_key_free(k);
		crypto_key_free(back);
	}
	json_object_put(all);
}

static void test_prefixes_and_errors(void)
{
	crypto_key *k = crypto_key_generate(CRYPTO_K256), *p = crypto_key_generate(CRYPTO_P256);
	crypto_key *r = crypto_key_generate(CRYPTO_RSA), *back;
	char *a = did_key_encode(k), *b = did_key_encode(p), *err = NULL;
	unsigned char raw[67], *dec = NULL;
	size_t declen;
	char *b58, mb[128];

	ok(a && strncmp(a, "did:key:zQ3sh", 13) == 0, "K-256 did:key starts zQ3sh");
	ok(b && strncmp(b, "did:key:zDn", 11) == 0, "P-256 did:key starts zDn");
	ok(multikey_encode(r) == NULL, "RSA has no multikey");
	/* uncompressed point after the prefix is accepted */
	enc_base58btc_decode(a + 9, &dec, &declen);
	{
		unsigned char comp[33];
		crypto_key_public_compressed(k, comp);
		ok(declen == 35 && dec[0] == 0xe7 && dec[1] == 0x01 && memcmp(dec + 2, comp, 33) == 0,
		   "K-256 multikey = 0xe7 0x01 + compressed point");
	}
	free(dec);
	{
		/* build an uncompressed form: the public point in 65-byte form from a fixed key */
		static const unsigned char one[32] = {[31] = 1};
		static const char *gx = "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
		static const char *gy = "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
		crypto_key *g = crypto_key_from_private(CRYPTO_P256, one, 32);
		unsigned char *x, *y;
		size_t xl, yl;
		char *want = did_key_encode(g);
		enc_hex_decode(gx, 64, &x, &xl);
		enc_hex_decode(gy, 64, &y, &yl);
		raw[0] = 0x80;
		raw[1] = 0x24;
		raw[2] = 0x04;
		memcpy(raw + 3, x, 32);
		memcpy(raw + 35, y, 32);
		b58 = enc_base58btc_encode(raw, 67);
		snprintf(mb, sizeof mb, "z%s", b58);
		back = multikey_decode(mb, &err);
		{
			char *got = did_key_encode(back);
			is_str(got, want, "uncompressed P-256 multikey decodes to the same key");
			free(got);
		}
		/* legacy suite with the raw uncompressed point */
		free(b58);
		b58 = enc_base58btc_encode(raw + 2, 65);
		snprintf(mb, sizeof mb, "z%s", b58);
		crypto_key_free(back);
		back = multikey_from_verification_method("EcdsaSecp256r1VerificationKey2019", mb, &err);
		{
			char *got = did_key_encode(back);
			is_str(got, want, "legacy P-256 suite with uncompressed point");
			free(got);
		}
		crypto_key_free(back);
		back = multikey_from_verification_method("EcdsaSecp256k1VerificationKey2019", mb, &err);
		ok(back == NULL, "P-256 point under the K-256 suite refused (not on the curve)");
		free(err);
		err = NULL;
		free(b58);
		free(x);
		free(y);
		free(want);
		crypto_key_free(g);
	}
	ok(did_key_decode("did:web:example.com", &err) == NULL && err, "did:web is not a did:key");
	free(err);
	err = NULL;
	ok(did_key_decode("did:key:mAQID", &err) == NULL && err, "non-base58 multibase refused");
	free(err);
	err = NULL;
	ok(did_key_decode("did:key:z0OIl", &err) == NULL && err, "bad base58 refused");
	free(err);
	err = NULL;
	/* ed25519 multicodec (0xed 0x01) is not an atproto key */
	memset(raw, 7, sizeof raw);
	raw[0] = 0xed;
	raw[1] = 0x01;
	b58 = enc_base58btc_encode(raw, 34);
	snprintf(mb, sizeof mb, "did:key:z%s", b58);
	free(b58);
	ok(did_key_decode(mb, &err) == NULL && err, "ed25519 did:key refused");
	diag("%s", err ? err : "");
	free(err);
	err = NULL;
	{
		/* truncated K-256 key */
		char trunc[64];
		snprintf(trunc, sizeof trunc, "%.*s", (int)strlen(a) - 3, a);
		ok(did_key_decode(trunc, &err) == NULL && err, "truncated did:key refused");
		free(err);
		err = NULL;
	}
	ok(multikey_from_verification_method("Ed25519VerificationKey2020", "zabc", &err) == NULL &&
		   err,
	   "unknown verification method type refused");
	free(err);
	free(a);
	free(b);
	crypto_key_free(k);
	crypto_key_free(p);
	crypto_key_free(r);
}

int main(void)
{
	test_signature_fixtures();
	test_w3c("crypto/w3c_didkey_K256.json", CRYPTO_K256);
	test_w3c("crypto/w3c_didkey_P256.json", CRYPTO_P256);
	test_prefixes_and_errors();
	return tap_done();
}
