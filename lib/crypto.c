/* crypto.c - hashing, ECDSA with atproto's low-S rule, RSA, key files, over OpenSSL 3 EVP. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "buf.h"

struct crypto_key {
	crypto_alg alg;
	int is_private;
	EVP_PKEY *pkey;
};

/* Group orders n (big-endian). Signatures with s > n/2 are "high-S" and refused by atproto. */
static const unsigned char k256_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36, 0x41, 0x41};
static const unsigned char p256_order[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

static void set_err(char **err, char *msg)
{
	if (err)
		*err = msg;
	else
		free(msg);
}

static const char *curve_name(crypto_alg alg)
{
	switch (alg) {
	case CRYPTO_K256:
		return "secp256k1";
	case CRYPTO_P256:
		return "prime256v1";
	default:
		return NULL;
	}
}

static int curve_nid(crypto_alg alg)
{
	return alg == CRYPTO_K256 ? NID_secp256k1 : alg == CRYPTO_P256 ? NID_X9_62_prime256v1 : 0;
}

static const unsigned char *curve_order(crypto_alg alg)
{
	return alg == CRYPTO_K256 ? k256_order : alg == CRYPTO_P256 ? p256_order : NULL;
}

static crypto_key *wrap(crypto_alg alg, EVP_PKEY *pkey, int is_private)
{
	crypto_key *k;
	if (!pkey)
		return NULL;
	k = calloc(1, sizeof *k);
	if (!k) {
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k->alg = alg;
	k->pkey = pkey;
	k->is_private = is_private;
	return k;
}

void crypto_sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned int outlen = 32;
	EVP_Digest(data, len, out, &outlen, EVP_sha256(), NULL);
}

int crypto_memeq(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int crypto_random(void *out, size_t len)
{
	if (len > (size_t)0x7fffffff)
		return -1;
	return RAND_bytes(out, (int)len) == 1 ? 0 : -1;
}

crypto_key *crypto_key_generate(crypto_alg alg)
{
	EVP_PKEY *pkey = NULL;
	if (alg == CRYPTO_RSA)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (curve_name(alg))
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve_name(alg));
	return wrap(alg, pkey, 1);
}

/* Build an EC EVP_PKEY from an encoded public point and an optional private scalar. */
static EVP_PKEY *ec_from_params(crypto_alg alg, const unsigned char *point, size_t pointlen,
				const BIGNUM *priv)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (!bld)
		goto out;
	if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curve_name(alg), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, pointlen))
		goto out;
	if (priv && !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, priv))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) <= 0)
		pkey = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return pkey;
}

crypto_key *crypto_key_from_public(crypto_alg alg, const unsigned char *point, size_t len)
{
	if (!curve_name(alg) || !point)
		return NULL;
	if (!(len == 33 && (point[0] == 2 || point[0] == 3)) && !(len == 65 && point[0] == 4))
		return NULL;
	/* OpenSSL decodes the point with EC_POINT_oct2point, which rejects points off the curve. */
	return wrap(alg, ec_from_params(alg, point, len, NULL), 0);
}

crypto_key *crypto_key_from_private(crypto_alg alg, const unsigned char *scalar, size_t len)
{
	EC_GROUP *group = NULL;
	EC_POINT *pub = NULL;
	BIGNUM *d = NULL;
	unsigned char point[65];
	EVP_PKEY *pkey = NULL;

	if (!curve_name(alg) || !scalar || len != 32)
		return NULL;
	group = EC_GROUP_new_by_curve_name(curve_nid(alg));
	d = BN_bin2bn(scalar, (int)len, NULL);
	if (!group || !d || BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(group)) >= 0)
		goto out;
	pub = EC_POINT_new(group);
	if (!pub || !EC_POINT_mul(group, pub, d, NULL, NULL, NULL) ||
	    EC_POINT_point2oct(group, pub, POINT_CONVERSION_UNCOMPRESSED, point, sizeof point, NULL) !=
		    sizeof point)
		goto out;
	pkey = ec_from_params(alg, point, sizeof point, d);
out:
	EC_POINT_free(pub);
	EC_GROUP_free(group);
	BN_clear_free(d);
	return wrap(alg, pkey, 1);
}

/* Which of our algorithms an EVP_PKEY is, or 0 when unsupported. */
static crypto_alg pkey_alg(EVP_PKEY *pkey)
{
	char group[64];
	size_t glen = 0;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		return CRYPTO_RSA;
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return 0;
	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
					    &glen))
		return 0;
	if (strcmp(group, "secp256k1") == 0)
		return CRYPTO_K256;
	if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
		return CRYPTO_P256;
	return 0;
}

crypto_key *crypto_key_load_pem(const char *path, char **err)
{
	FILE *f;
	EVP_PKEY *pkey;
	crypto_alg alg;

	f = fopen(path, "r");
	if (!f) {
		set_err(err, buf_strf("%s: %s", path, strerror(errno)));
		return NULL;
	}
	pkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!pkey) {
		set_err(err, buf_strf("%s: not a PEM private key", path));
		return NULL;
	}
	alg = pkey_alg(pkey);
	if (!alg) {
		EVP_PKEY_free(pkey);
		set_err(err, buf_strf("%s: unsupported key type (want K-256, P-256 or RSA)", path));
		return NULL;
	}
	return wrap(alg, pkey, 1);
}

char *crypto_key_to_pem(const crypto_key *k)
{
	char *pem = NULL, *data = NULL;
	BIO *b = k && k->is_private ? BIO_new(BIO_s_secmem()) : NULL;
	if (b && PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL)) {
		long n = BIO_get_mem_data(b, &data);
		if (n > 0 && (pem = malloc((size_t)n + 1))) {
			memcpy(pem, data, (size_t)n);
			pem[n] = '\0';
		}
	}
	BIO_free(b);
	return pem;
}

crypto_key *crypto_key_from_pem(const char *pem, size_t len, char **err)
{
	if (!pem || len > 0x7fffffff) {
		set_err(err, strdup("no PEM key"));
		return NULL;
	}
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	EVP_PKEY *pkey = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (!pkey) {
		set_err(err, strdup("not a PEM private key"));
		return NULL;
	}
	crypto_alg alg = pkey_alg(pkey);
	if (!alg) {
		EVP_PKEY_free(pkey);
		set_err(err, strdup("unsupported key type (want K-256, P-256 or RSA)"));
		return NULL;
	}
	return wrap(alg, pkey, 1);
}

/* Write k to a fresh 0600 temp file next to path, fsync it, then move it into place:
 * rename() replaces path; with no_clobber, link() refuses an existing path (EEXIST), so two
 * processes creating the same key on first run cannot both win. */
static int save_pem(const crypto_key *k, const char *path, int no_clobber, char **err)
{
	char *tmp = NULL, *dir = NULL, *slash;
	FILE *f = NULL;
	int fd = -1, rc = -1, dfd;

	if (!k || !k->is_private) {
		set_err(err, buf_strf("%s: no private key to save", path));
		return -1;
	}
	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
		tmp = NULL;
		set_err(err, buf_strf("out of memory"));
		goto out;
	}
	fd = mkstemp(tmp); /* created 0600 */
	if (fd < 0) {
		set_err(err, buf_strf("%s: %s", tmp, strerror(errno)));
		goto out;
	}
	if (fchmod(fd, 0600) < 0) {
		set_err(err, buf_strf("%s: chmod: %s", tmp, strerror(errno)));
		goto out;
	}
	f = fdopen(fd, "w");
	if (!f) {
		set_err(err, buf_strf("%s: %s", tmp, strerror(errno)));
		goto out;
	}
	fd = -1;
	if (!PEM_write_PrivateKey(f, k->pkey, NULL, NULL, 0, NULL, NULL) || fflush(f) != 0 ||
	    fsync(fileno(f)) != 0) {
		set_err(err, buf_strf("%s: write failed: %s", tmp, strerror(errno)));
		goto out;
	}
	if (fclose(f) != 0) {
		f = NULL;
		set_err(err, buf_strf("%s: close: %s", tmp, strerror(errno)));
		goto out;
	}
	f = NULL;
	if (no_clobber ? link(tmp, path) < 0 : rename(tmp, path) < 0) {
		rc = errno == EEXIST ? -2 : -1;
		set_err(err, buf_strf("%s %s -> %s: %s", no_clobber ? "link" : "rename", tmp, path,
				  strerror(errno)));
		goto out;
	}
	if (!no_clobber) {
		free(tmp);
		tmp = NULL;
	}
	/* make the new directory entry itself durable */
	dir = strdup(path);
	if (dir) {
		slash = strrchr(dir, '/');
		if (slash)
			*(slash == dir ? slash + 1 : slash) = '\0';
		dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
	}
	rc = 0;
out:
	if (f)
		fclose(f);
	if (fd >= 0)
		close(fd);
	if (tmp) {
		unlink(tmp);
		free(tmp);
	}
	free(dir);
	return rc;
}

int crypto_key_save_pem(const crypto_key *k, const char *path, char **err)
{
	return save_pem(k, path, 0, err) == 0 ? 0 : -1;
}

crypto_key *crypto_key_load_or_create(const char *path, crypto_alg alg, char **err)
{
	crypto_key *k = NULL;
	char *why = NULL;
	int rc;

	if (access(path, F_OK) < 0) {
		if (errno != ENOENT) {
			set_err(err, buf_strf("%s: %s", path, strerror(errno)));
			return NULL;
		}
		k = crypto_key_generate(alg);
		if (!k) {
			set_err(err, buf_strf("%s: key generation failed", path));
			return NULL;
		}
		rc = save_pem(k, path, 1, &why);
		if (rc == 0)
			return k;
		crypto_key_free(k);
		k = NULL;
		if (rc != -2) { /* -2: someone else created it meanwhile; load theirs */
			set_err(err, why);
			return NULL;
		}
		free(why);
	}
	k = crypto_key_load_pem(path, err);
	if (k && k->alg != alg) {
		crypto_key_free(k);
		set_err(err, buf_strf("%s: key has the wrong algorithm", path));
		return NULL;
	}
	return k;
}

crypto_alg crypto_key_alg(const crypto_key *k)
{
	return k ? k->alg : 0;
}

int crypto_key_is_private(const crypto_key *k)
{
	return k && k->is_private;
}

int crypto_key_public_compressed(const crypto_key *k, unsigned char out[33])
{
	unsigned char pt[65];
	size_t len = 0;

	if (!k || !curve_name(k->alg))
		return -1;
	if (!EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof pt, &len))
		return -1;
	if (len == 33 && (pt[0] == 2 || pt[0] == 3)) {
		memcpy(out, pt, 33);
		return 0;
	}
	if (len != 65 || pt[0] != 4)
		return -1;
	out[0] = (unsigned char)(2 | (pt[64] & 1));
	memcpy(out + 1, pt + 1, 32);
	return 0;
}

crypto_key *crypto_key_public_copy(const crypto_key *k)
{
	unsigned char pt[33];
	EVP_PKEY *pub = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	int derlen;

	if (!k)
		return NULL;
	if (curve_name(k->alg)) {
		if (crypto_key_public_compressed(k, pt) < 0)
			return NULL;
		return crypto_key_from_public(k->alg, pt, sizeof pt);
	}
	/* RSA: round-trip through SubjectPublicKeyInfo to drop the private parts */
	derlen = i2d_PUBKEY(k->pkey, &der);
	if (derlen <= 0)
		return NULL;
	p = der;
	pub = d2i_PUBKEY(NULL, &p, derlen);
	OPENSSL_free(der);
	return wrap(k->alg, pub, 0);
}

static int digest_sign(EVP_PKEY *pkey, const void *msg, size_t len, unsigned char **sig,
		       size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	*sig = NULL;
	if (!ctx || EVP_DigestSignInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) <= 0 ||
	    EVP_DigestSign(ctx, NULL, siglen, msg, len) <= 0)
		goto out;
	*sig = OPENSSL_malloc(*siglen);
	if (!*sig || EVP_DigestSign(ctx, *sig, siglen, msg, len) <= 0)
		goto out;
	rc = 0;
out:
	if (rc < 0) {
		OPENSSL_free(*sig);
		*sig = NULL;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

static int digest_verify(EVP_PKEY *pkey, const void *msg, size_t len, const unsigned char *sig,
			 size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int ok = 0;

	if (ctx && EVP_DigestVerifyInit_ex(ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) > 0)
		ok = EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

int crypto_ecdsa_sign(const crypto_key *k, const void *msg, size_t len, unsigned char sig[64])
{
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t derlen = 0;
	ECDSA_SIG *es = NULL;
	BIGNUM *n = NULL, *half = NULL, *s = NULL;
	const BIGNUM *r0, *s0;
	int rc = -1;

	if (!k || !k->is_private || !curve_name(k->alg))
		return -1;
	if (digest_sign(k->pkey, msg, len, &der, &derlen) < 0)
		return -1;
	p = der;
	es = d2i_ECDSA_SIG(NULL, &p, (long)derlen);
	if (!es)
		goto out;
	ECDSA_SIG_get0(es, &r0, &s0);
	n = BN_bin2bn(curve_order(k->alg), 32, NULL);
	half = n ? BN_dup(n) : NULL;
	s = BN_dup(s0);
	if (!n || !half || !s || !BN_rshift1(half, half))
		goto out;
	/* (r, s) and (r, n - s) are both valid; atproto accepts only the low one. */
	if (BN_cmp(s, half) > 0 && !BN_sub(s, n, s))
		goto out;
	if (BN_bn2binpad(r0, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		goto out;
	rc = 0;
out:
	BN_free(n);
	BN_free(half);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	return rc;
}

/* Big-endian 32-byte compare: <0, 0, >0. */
static int be_cmp(const unsigned char *a, const unsigned char *b)
{
	return memcmp(a, b, 32);
}

static int is_zero32(const unsigned char *a)
{
	unsigned char acc = 0;
	for (int i = 0; i < 32; i++)
		acc |= a[i];
	return acc == 0;
}

int crypto_ecdsa_verify(const crypto_key *k, const void *msg, size_t len,
			const unsigned char *sig, size_t siglen)
{
	unsigned char half[32], *der = NULL;
	const unsigned char *n;
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int derlen, valid = 0, carry = 0;

	if (!k || !curve_name(k->alg) || !sig || siglen != 64)
		return 0;
	n = curve_order(k->alg);
	/* half = n >> 1 */
	for (int i = 0; i < 32; i++) {
		half[i] = (unsigned char)(carry << 7 | n[i] >> 1);
		carry = n[i] & 1;
	}
	if (is_zero32(sig) || is_zero32(sig + 32) || be_cmp(sig, n) >= 0 || be_cmp(sig + 32, half) > 0)
		return 0;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(sig, 32, NULL);
	s = BN_bin2bn(sig + 32, 32, NULL);
	if (!es || !r || !s || !ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL; /* owned by es now */
	derlen = i2d_ECDSA_SIG(es, &der);
	if (derlen <= 0)
		goto out;
	valid = digest_verify(k->pkey, msg, len, der, (size_t)derlen);
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	return valid;
}

int crypto_rsa_sign(const crypto_key *k, const void *msg, size_t len, unsigned char **sig,
		    size_t *siglen)
{
	unsigned char *osig = NULL;
	size_t olen = 0;

	*sig = NULL;
	*siglen = 0;
	if (!k || k->alg != CRYPTO_RSA || !k->is_private)
		return -1;
	if (digest_sign(k->pkey, msg, len, &osig, &olen) < 0)
		return -1;
	*sig = malloc(olen);
	if (*sig) {
		memcpy(*sig, osig, olen);
		*siglen = olen;
	}
	OPENSSL_free(osig);
	return *sig ? 0 : -1;
}

int crypto_rsa_verify(const crypto_key *k, const void *msg, size_t len, const unsigned char *sig,
		      size_t siglen)
{
	if (!k || k->alg != CRYPTO_RSA || !sig)
		return 0;
	return digest_verify(k->pkey, msg, len, sig, siglen);
}

void crypto_key_free(crypto_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

#define PASSWORD_ITERATIONS 100000

/* PBKDF2-HMAC-SHA256 of password under salt into out[32]; 0 ok. */
static int pbkdf2(const char *password, const unsigned char *salt, size_t saltlen, int iterations,
		  unsigned char out[32])
{
	return PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt, (int)saltlen, iterations, EVP_sha256(), 32,
				 out) == 1 ? 0 : -1;
}

char *crypto_password_hash(const char *password)
{
	unsigned char salt[16], hash[32];
	char out[200];
	if (crypto_random(salt, sizeof salt) != 0 || pbkdf2(password, salt, sizeof salt, PASSWORD_ITERATIONS, hash) != 0)
		return NULL;
	int n = snprintf(out, sizeof out, "pbkdf2-sha256$%d$", PASSWORD_ITERATIONS);
	for (size_t i = 0; i < sizeof salt; i++)
		n += snprintf(out + n, sizeof out - (size_t)n, "%02x", salt[i]);
	out[n++] = '$';
	for (size_t i = 0; i < sizeof hash; i++)
		n += snprintf(out + n, sizeof out - (size_t)n, "%02x", hash[i]);
	OPENSSL_cleanse(hash, sizeof hash);
	return strdup(out);
}

/* n bytes of lower-case hex at s into out; 0 ok. */
static int unhex(const char *s, size_t n, unsigned char *out)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

int crypto_password_verify(const char *password, const char *stored)
{
	int iterations = 0, used = 0;
	unsigned char salt[16], want[32], got[32];
	if (!password || !stored || sscanf(stored, "pbkdf2-sha256$%d$%n", &iterations, &used) != 1 || used == 0 ||
	    iterations < 1000 || iterations > 10000000)
		return 0;
	const char *p = stored + used;
	if (strlen(p) != 32 + 1 + 64 || p[32] != '$' || unhex(p, 16, salt) != 0 || unhex(p + 33, 32, want) != 0)
		return 0;
	int ok = pbkdf2(password, salt, sizeof salt, iterations, got) == 0 && crypto_memeq(got, want, sizeof want);
	OPENSSL_cleanse(got, sizeof got);
	return ok;
}
