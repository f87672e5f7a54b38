/* test_encoding.c - RFC 4648 vectors, base58btc known answers, round trips, rejects. */
#include <stdlib.h>
#include <string.h>

#include "encoding.h"
#include "tap.h"

/* RFC 4648 section 10 test vectors: input, base64, base32 (upper, padded in the RFC), base16 */
static const struct {
	const char *in, *b64, *b32, *hex;
} rfc[] = {
	{"", "", "", ""},
	{"f", "Zg==", "MY======", "66"},
	{"fo", "Zm8=", "MZXQ====", "666F"},
	{"foo", "Zm9v", "MZXW6===", "666F6F"},
	{"foob", "Zm9vYg==", "MZXW6YQ=", "666F6F62"},
	{"fooba", "Zm9vYmE=", "MZXW6YTB", "666F6F6261"},
	{"foobar", "Zm9vYmFy", "MZXW6YTBOI======", "666F6F626172"},
};

/* the RFC's base32, lower-cased and unpadded (multibase 'b' form) */
static char *b32_multibase(const char *rfc_b32)
{
	char *s = strdup(rfc_b32), *p;
	for (p = s; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	p = strchr(s, '=');
	if (p)
		*p = '\0';
	return s;
}

static char *lower(const char *in)
{
	char *s = strdup(in);
	for (char *p = s; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
	return s;
}

static void test_rfc4648(void)
{
	for (size_t i = 0; i < sizeof rfc / sizeof rfc[0]; i++) {
		size_t n = strlen(rfc[i].in), outlen = 0;
		unsigned char *out = NULL;
		char *s, *want;

		s = enc_b64_encode(rfc[i].in, n);
		is_str(s, rfc[i].b64, "b64 encode '%s'", rfc[i].in);
		free(s);
		ok(enc_b64_decode(rfc[i].b64, strlen(rfc[i].b64), &out, &outlen) == 0 && outlen == n &&
			   memcmp(out, rfc[i].in, n) == 0,
		   "b64 decode padded, RFC 4648 vector %zu", i);
		free(out);
		/* padding is optional */
		{
			size_t unp = strcspn(rfc[i].b64, "=");
			ok(enc_b64_decode(rfc[i].b64, unp, &out, &outlen) == 0 && outlen == n &&
				   memcmp(out, rfc[i].in, n) == 0,
			   "b64 decode unpadded '%.*s'", (int)unp, rfc[i].b64);
			free(out);
			s = enc_b64url_encode(rfc[i].in, n);
			ok(s && strlen(s) == unp && strncmp(s, rfc[i].b64, unp) == 0,
			   "b64url encode '%s' has no padding", rfc[i].in);
			free(s);
			ok(enc_b64url_decode(rfc[i].b64, strlen(rfc[i].b64), &out, &outlen) == 0 &&
				   outlen == n && memcmp(out, rfc[i].in, n) == 0,
			   "b64url decode accepts padding '%s'", rfc[i].b64);
			free(out);
		}

		want = b32_multibase(rfc[i].b32);
		s = enc_base32_lower_encode(rfc[i].in, n);
		is_str(s, want, "base32 encode '%s'", rfc[i].in);
		free(s);
		ok(enc_base32_lower_decode(want, &out, &outlen) == 0 && outlen == n &&
			   memcmp(out, rfc[i].in, n) == 0,
		   "base32 decode '%s'", want);
		free(out);
		free(want);

		want = lower(rfc[i].hex);
		s = enc_hex_encode(rfc[i].in, n);
		is_str(s, want, "hex encode '%s'", rfc[i].in);
		free(s);
		ok(enc_hex_decode(rfc[i].hex, strlen(rfc[i].hex), &out, &outlen) == 0 && outlen == n &&
			   memcmp(out, rfc[i].in, n) == 0,
		   "hex decode upper '%s'", rfc[i].hex);
		free(out);
		free(want);
	}
}

static void test_b64_alphabets(void)
{
	static const unsigned char bytes[] = {0xfb, 0xff, 0xbf, 0xfe};
	unsigned char *out = NULL;
	size_t outlen = 0;
	char *s;

	s = enc_b64_encode(bytes, sizeof bytes);
	is_str(s, "+/+//g==", "b64 uses + and /");
	free(s);
	s = enc_b64url_encode(bytes, sizeof bytes);
	is_str(s, "-_-__g", "b64url uses - and _");
	free(s);
	ok(enc_b64url_decode("-_-__g", 6, &out, &outlen) == 0 && outlen == 4 &&
		   memcmp(out, bytes, 4) == 0,
	   "b64url decode - and _");
	free(out);
	ok(enc_b64url_decode("+/+//g", 6, &out, &outlen) == -1 && !out, "b64url rejects + and /");
	ok(enc_b64_decode("-_-__g", 6, &out, &outlen) == -1 && !out, "b64 rejects - and _");
	ok(enc_b64_decode("Zm9v!mFy", 8, &out, &outlen) == -1, "b64 rejects '!'");
	ok(enc_b64_decode("Zm9v YmFy", 9, &out, &outlen) == -1, "b64 rejects space");
	ok(enc_b64_decode("Z", 1, &out, &outlen) == -1, "b64 rejects length 1 mod 4");
	ok(enc_b64_decode("Zg=", 3, &out, &outlen) == -1, "b64 rejects partial padding");
	ok(enc_b64_decode("Zg===", 5, &out, &outlen) == -1, "b64 rejects excess padding");
	ok(enc_b64_decode("Zh==", 4, &out, &outlen) == -1, "b64 rejects non-zero trailing bits");
	ok(enc_b64_decode("Zg==Zg==", 8, &out, &outlen) == -1, "b64 rejects padding in the middle");
	ok(enc_b64url_decode("Zm9vYmFy", 4, &out, &outlen) == 0 && outlen == 3 &&
		   memcmp(out, "foo", 3) == 0,
	   "b64url honours slen");
	free(out);
}

static void test_base58(void)
{
	/* known answers (Bitcoin base58 test set / IETF draft-msporny-base58) */
	static const struct {
		const char *hex, *b58;
	} kv[] = {
		{"", ""},
		{"61", "2g"},
		{"626262", "a3gV"},
		{"636363", "aPEr"},
		{"73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"},
		{"00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"},
		{"516b6fcd0f", "ABnLTmg"},
		{"bf4f89001e670274dd", "3SEo3LWLoPntC"},
		{"572e4794", "3EFU7m"},
		{"ecac89cad93923c02321", "EJDM8drfXA6uyA"},
		{"10c8511e", "Rt5zm"},
		{"00000000000000000000", "1111111111"},
		{"48656c6c6f20576f726c6421", "2NEpo7TZRRrLZSi2U"},
		{"0000287fb4cd", "11233QC4"},
	};
	for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++) {
		unsigned char *bin = NULL, *out = NULL;
		size_t binlen = 0, outlen = 0;
		char *s;
		enc_hex_decode(kv[i].hex, strlen(kv[i].hex), &bin, &binlen);
		s = enc_base58btc_encode(bin, binlen);
		is_str(s, kv[i].b58, "base58 encode %s", kv[i].hex);
		ok(enc_base58btc_decode(kv[i].b58, &out, &outlen) == 0 && outlen == binlen &&
			   memcmp(out, bin, binlen) == 0,
		   "base58 decode %s", kv[i].b58);
		free(s);
		free(bin);
		free(out);
	}
	{
		unsigned char *out = NULL;
		size_t outlen = 0;
		ok(enc_base58btc_decode("abc0", &out, &outlen) == -1 && !out, "base58 rejects '0'");
		ok(enc_base58btc_decode("abcO", &out, &outlen) == -1, "base58 rejects 'O'");
		ok(enc_base58btc_decode("abcI", &out, &outlen) == -1, "base58 rejects 'I'");
		ok(enc_base58btc_decode("abcl", &out, &outlen) == -1, "base58 rejects 'l'");
		ok(enc_base58btc_decode("ab+c", &out, &outlen) == -1, "base58 rejects '+'");
	}
}

static void test_base32_rejects(void)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	ok(enc_base32_lower_decode("MZXW6", &out, &outlen) == -1 && !out, "base32 rejects upper case");
	ok(enc_base32_lower_decode("mzxw1", &out, &outlen) == -1, "base32 rejects '1'");
	ok(enc_base32_lower_decode("mzxw6===", &out, &outlen) == -1, "base32 rejects padding");
	ok(enc_base32_lower_decode("mzx", &out, &outlen) == -1, "base32 rejects impossible length");
	ok(enc_base32_lower_decode("mz", &out, &outlen) == -1 && enc_base32_lower_decode("my", &out, &outlen) == 0,
	   "base32 rejects non-zero trailing bits");
	free(out);
	ok(enc_hex_decode("abc", 3, &out, &outlen) == -1, "hex rejects odd length");
	ok(enc_hex_decode("zz", 2, &out, &outlen) == -1, "hex rejects non-hex");
}

/* Random data of every length 0..64, with and without leading zero bytes, survives every codec. */
static void test_round_trips(void)
{
	unsigned char data[64];
	int bad_b64 = 0, bad_url = 0, bad_58 = 0, bad_32 = 0, bad_hex = 0;
	unsigned seed = 12345;

	for (int zeros = 0; zeros <= 3; zeros++) {
		for (size_t len = 0; len <= sizeof data; len++) {
			unsigned char *out;
			size_t outlen;
			char *s;
			for (size_t i = 0; i < len; i++) {
				seed = seed * 1103515245u + 12345u;
				data[i] = i < (size_t)zeros ? 0 : (unsigned char)(seed >> 16);
			}
#define RT(enc, dec, counter)                                                          \
	s = enc(data, len);                                                            \
	out = NULL;                                                                    \
	if (!s || dec != 0 || outlen != len || (len && memcmp(out, data, len) != 0))   \
		counter++;                                                             \
	free(s);                                                                       \
	free(out);
			RT(enc_b64_encode, enc_b64_decode(s, strlen(s), &out, &outlen), bad_b64)
			RT(enc_b64url_encode, enc_b64url_decode(s, strlen(s), &out, &outlen), bad_url)
			RT(enc_base58btc_encode, enc_base58btc_decode(s, &out, &outlen), bad_58)
			RT(enc_base32_lower_encode, enc_base32_lower_decode(s, &out, &outlen), bad_32)
			RT(enc_hex_encode, enc_hex_decode(s, strlen(s), &out, &outlen), bad_hex)
#undef RT
		}
	}
	is_int(bad_b64, 0, "b64 round trips (0-3 leading zeros, lengths 0-64)");
	is_int(bad_url, 0, "b64url round trips");
	is_int(bad_58, 0, "base58btc round trips incl. leading zero bytes");
	is_int(bad_32, 0, "base32 round trips");
	is_int(bad_hex, 0, "hex round trips");
}

int main(void)
{
	test_rfc4648();
	test_b64_alphabets();
	test_base58();
	test_base32_rejects();
	test_round_trips();
	return tap_done();
}
