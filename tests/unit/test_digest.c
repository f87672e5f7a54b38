/* test_digest.c - resumable SHA-256/SHA-512: NIST answers, save/load between random splits
 * against one-shot EVP, the saved format, corrupted states refused. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "encoding.h"
#include "tap.h"

static const char msg448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

/* The OCI digest of data by one-shot EVP; caller frees. */
static char *evp_digest(digest_alg alg, const void *data, size_t len)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *hex, *out;

	EVP_Digest(data, len, md, &mdlen, alg == DIGEST_SHA256 ? EVP_sha256() : EVP_sha512(), NULL);
	hex = enc_hex_encode(md, mdlen);
	out = malloc(strlen(hex) + 8);
	snprintf(out, strlen(hex) + 8, "%s:%s", alg == DIGEST_SHA256 ? "sha256" : "sha512", hex);
	free(hex);
	return out;
}

static void check_known(digest_alg alg, const char *label, const void *data, size_t len,
			const char *want)
{
	char *got = digest_buffer(alg, data, len);
	is_str(got, want, "%s %s", digest_alg_name(alg), label);
	free(got);
}

static void known_answers(void)
{
	char *million = malloc(1000000);
	digest_state st;
	char *got;

	memset(million, 'a', 1000000);
	check_known(DIGEST_SHA256, "\"abc\"", "abc", 3,
		    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	check_known(DIGEST_SHA256, "empty", "", 0,
		    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	check_known(DIGEST_SHA256, "448-bit message", msg448, strlen(msg448),
		    "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	check_known(DIGEST_SHA256, "one million 'a'", million, 1000000,
		    "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	check_known(DIGEST_SHA512, "\"abc\"", "abc", 3,
		    "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
		    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
	check_known(DIGEST_SHA512, "empty", "", 0,
		    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
		    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e");
	check_known(DIGEST_SHA512, "448-bit message", msg448, strlen(msg448),
		    "sha512:204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c335"
		    "96fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445");
	check_known(DIGEST_SHA512, "one million 'a'", million, 1000000,
		    "sha512:e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
		    "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b");

	/* The million 'a' fed one byte at a time through the streaming API. */
	digest_init(&st, DIGEST_SHA256);
	for (size_t i = 0; i < 1000000; i++)
		digest_update(&st, "a", 1);
	got = digest_final(&st);
	is_str(got, "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	       "sha256 one million 'a' byte by byte");
	is_int(digest_count(&st), 1000000, "count after a million bytes");
	free(got);
	free(million);
}

static void names(void)
{
	is_int(digest_alg_from_name("sha256", 6), DIGEST_SHA256, "sha256 by name");
	is_int(digest_alg_from_name("sha512:abc", 6), DIGEST_SHA512, "sha512 by prefix length");
	is_int(digest_alg_from_name("sha384", 6), 0, "sha384 unknown");
	is_int(digest_alg_from_name("sha25", 5), 0, "short name unknown");
	is_int(digest_alg_size(DIGEST_SHA256), 32, "sha256 size");
	is_int(digest_alg_size(DIGEST_SHA512), 64, "sha512 size");
	ok(digest_alg_name(0) == NULL, "no name for alg 0");
	ok(digest_buffer(7, "x", 1) == NULL, "digest_buffer refuses an unknown alg");
}

/* Final must not disturb the running state: peek, go on, compare with one-shot. */
static void final_is_a_peek(void)
{
	digest_state st;
	char *mid, *end, *want_mid = evp_digest(DIGEST_SHA256, "hello ", 6),
		      *want_end = evp_digest(DIGEST_SHA256, "hello world", 11);

	digest_init(&st, DIGEST_SHA256);
	digest_update(&st, "hello ", 6);
	mid = digest_final(&st);
	digest_update(&st, "world", 5);
	end = digest_final(&st);
	is_str(mid, want_mid, "final mid-stream");
	is_str(end, want_end, "hashing goes on after final");
	free(mid);
	free(end);
	free(want_mid);
	free(want_end);
}

/* Hash buf in random chunks, saving and loading the state between every chunk. */
static int split_round(digest_alg alg, const unsigned char *buf, size_t len, int round)
{
	digest_state st;
	size_t off = 0;
	char *got, *want, *err = NULL;
	int good = 1;

	digest_init(&st, alg);
	while (off < len) {
		unsigned char saved[DIGEST_SAVED_MAX], again[DIGEST_SAVED_MAX];
		size_t n = (size_t)rand() % (rand() % 4 ? 300 : 5000), slen = sizeof saved,
		       alen = sizeof again;
		if (n > len - off)
			n = len - off;
		digest_update(&st, buf + off, n);
		off += n;
		if (digest_save(&st, saved, &slen) != 0 || digest_load(&st, saved, slen, &err) != 0 ||
		    digest_count(&st) != off) {
			diag("round %d: save/load failed at %zu: %s", round, off, err ? err : "");
			good = 0;
			break;
		}
		/* Saving a loaded state gives the same bytes. */
		if (digest_save(&st, again, &alen) != 0 || alen != slen || memcmp(again, saved, slen)) {
			diag("round %d: save after load differs at %zu", round, off);
			good = 0;
			break;
		}
	}
	got = digest_final(&st);
	want = evp_digest(alg, buf, len);
	if (!got || strcmp(got, want) != 0) {
		diag("round %d: got %s want %s", round, got ? got : "(null)", want);
		good = 0;
	}
	free(got);
	free(want);
	free(err);
	return good;
}

static void random_splits(void)
{
	unsigned seed = (unsigned)time(NULL);
	size_t len = 70000, i;
	unsigned char *buf = malloc(len);
	int round, good256 = 1, good512 = 1;

	diag("random seed %u", seed);
	srand(seed);
	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)rand();
	for (round = 0; round < 25; round++) {
		size_t n = (size_t)rand() % len;
		good256 &= split_round(DIGEST_SHA256, buf, n, round);
		good512 &= split_round(DIGEST_SHA512, buf, n, round);
	}
	ok(good256, "sha256: random splits with save/load between each equal one-shot EVP");
	ok(good512, "sha512: random splits with save/load between each equal one-shot EVP");
	/* Exact block boundaries too. */
	ok(split_round(DIGEST_SHA256, buf, 64 * 7, -1), "sha256 on a block boundary");
	ok(split_round(DIGEST_SHA512, buf, 128 * 7, -1), "sha512 on a block boundary");
	free(buf);
}

static void put_check(unsigned char *s, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen;
	EVP_Digest(s, len - 8, md, &mdlen, EVP_sha256(), NULL);
	memcpy(s + len - 8, md, 8);
}

/* The saved bytes are a documented format: pin the layout after "abc". */
static void saved_format(void)
{
	static const unsigned char head[] = {
		1, 1, 0, 0, 0, 0, 0, 0, 0, 3,                   /* version, alg, count */
		0x6a, 0x09, 0xe6, 0x67, 0xbb, 0x67, 0xae, 0x85, /* the SHA-256 initial H */
		0x3c, 0x6e, 0xf3, 0x72, 0xa5, 0x4f, 0xf5, 0x3a, 0x51, 0x0e, 0x52, 0x7f,
		0x9b, 0x05, 0x68, 0x8c, 0x1f, 0x83, 0xd9, 0xab, 0x5b, 0xe0, 0xcd, 0x19,
		'a', 'b', 'c'};
	unsigned char saved[DIGEST_SAVED_MAX], want[sizeof head + 8];
	size_t len = sizeof saved;
	digest_state st;

	digest_init(&st, DIGEST_SHA256);
	digest_update(&st, "abc", 3);
	ok(digest_save(&st, saved, &len) == 0, "save after abc");
	is_int(len, sizeof head + 8, "saved length after abc");
	memcpy(want, head, sizeof head);
	put_check(want, sizeof want);
	ok(len == sizeof want && memcmp(saved, want, len) == 0,
	   "saved bytes: version, alg, big-endian count and H, pending bytes, checksum");

	len = 10;
	ok(digest_save(&st, saved, &len) == -1, "save refuses a small buffer");

	/* A state written by hand (what another process saved) resumes to the right digest. */
	{
		char *err = NULL, *got;
		ok(digest_load(&st, want, sizeof want, &err) == 0, "load a hand-built state");
		digest_update(&st, "def", 3);
		got = digest_final(&st);
		char *expect = evp_digest(DIGEST_SHA256, "abcdef", 6);
		is_str(got, expect, "hand-built state resumes");
		free(got);
		free(expect);
		free(err);
	}
}

static void refuse(const unsigned char *s, size_t len, const char *label)
{
	digest_state st;
	char *err = NULL;
	int rc = digest_load(&st, s, len, &err);
	ok(rc == -1 && err != NULL && st.alg == 0, "refused: %s (%s)", label, err ? err : "no error");
	free(err);
}

static void corrupted(void)
{
	unsigned char saved[DIGEST_SAVED_MAX], bad[DIGEST_SAVED_MAX + 1];
	size_t len = sizeof saved, i;
	digest_state st, zero;
	int all_flips = 1;
	char *err = NULL;

	digest_init(&st, DIGEST_SHA512);
	digest_update(&st, msg448, strlen(msg448));
	digest_save(&st, saved, &len);

	for (i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(bad, saved, len);
			bad[i] ^= (unsigned char)(1 << bit);
			if (digest_load(&st, bad, len, &err) == 0)
				all_flips = 0;
		}
	}
	ok(all_flips, "every single-bit flip of a saved state is refused");
	free(err);

	refuse(saved, len - 1, "truncated");
	memcpy(bad, saved, len);
	bad[len] = 0;
	refuse(bad, len + 1, "one byte too many");
	refuse(saved, 0, "empty");
	refuse(NULL, 0, "NULL");
	refuse((const unsigned char *)"garbage garbage garbage", 23, "garbage");

	/* Semantic checks behind a valid checksum. */
	memcpy(bad, saved, len);
	bad[0] = 2;
	put_check(bad, len);
	refuse(bad, len, "version 2");
	memcpy(bad, saved, len);
	bad[1] = 3;
	put_check(bad, len);
	refuse(bad, len, "algorithm 3");
	memcpy(bad, saved, len);
	bad[1] = DIGEST_SHA256; /* sha512 state labelled sha256: the length no longer fits */
	put_check(bad, len);
	refuse(bad, len, "sha512 state labelled sha256");
	memcpy(bad, saved, len);
	bad[9] += 1; /* count says 57 bytes but 56 are pending */
	put_check(bad, len);
	refuse(bad, len, "count disagrees with pending bytes");
	memcpy(bad, saved, len);
	bad[2] = 0x20; /* count >= 2^61 */
	put_check(bad, len);
	refuse(bad, len, "count out of range");

	memset(&zero, 0, sizeof zero);
	len = sizeof saved;
	ok(digest_save(&zero, saved, &len) == -1, "save refuses an uninitialised state");
	ok(digest_final(&zero) == NULL, "final refuses an uninitialised state");
	ok(digest_init(&zero, 9) == -1, "init refuses an unknown alg");
}

int main(void)
{
	known_answers();
	names();
	final_is_a_peek();
	random_splits();
	saved_format();
	corrupted();
	return tap_done();
}
