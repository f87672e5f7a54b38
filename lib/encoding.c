/* encoding.c - base64/base64url/base58btc/base32/hex codecs. */
#include "encoding.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b58_alpha[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
static const char b32_alpha[] = "abcdefghijklmnopqrstuvwxyz234567";

static int alpha_index(const char *alpha, char c)
{
	const char *p;
	if (c == '\0')
		return -1;
	p = strchr(alpha, c);
	return p ? (int)(p - alpha) : -1;
}

static char *b64_encode_with(const char *alpha, int pad, const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t outcap = (len + 2) / 3 * 4 + 1, o = 0, i;
	char *out = malloc(outcap);
	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		out[o++] = alpha[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = alpha[v >> 18 & 63];
		out[o++] = alpha[v >> 12 & 63];
		out[o++] = alpha[v >> 6 & 63];
		if (pad)
			out[o++] = '=';
	}
	out[o] = '\0';
	return out;
}

/* Decode n characters of alpha, width bits each, into bytes (NUL-terminated, caller frees *out). The
 * unused trailing bits must be zero, so each byte string has exactly one accepted encoding. */
static int unpack_bits(const char *alpha, int width, const char *s, size_t n, unsigned char **out,
		       size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	unsigned char *buf = malloc(n * (size_t)width / 8 + 1);
	if (!buf)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int v = alpha_index(alpha, s[i]);
		if (v < 0)
			goto bad;
		acc = acc << width | (uint32_t)v;
		bits += width;
		if (bits >= 8) {
			bits -= 8;
			buf[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) /* non-canonical trailing bits */
		goto bad;
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return 0;
bad:
	free(buf);
	return -1;
}

/* Strict decoder: padding optional but, when present, must be complete (see unpack_bits). */
static int b64_decode_with(const char *alpha, const char *s, size_t slen, unsigned char **out,
			   size_t *outlen)
{
	size_t n = slen, npad = 0, rem;

	*out = NULL;
	*outlen = 0;
	if (!s)
		return -1;
	while (n > 0 && s[n - 1] == '=') {
		n--;
		npad++;
	}
	rem = n % 4;
	if (rem == 1 || npad > 2)
		return -1;
	if (npad && (rem == 0 || (n + npad) % 4 != 0))
		return -1;
	return unpack_bits(alpha, 6, s, n, out, outlen);
}

char *enc_b64url_encode(const void *data, size_t len)
{
	return b64_encode_with(b64_url, 0, data, len);
}

int enc_b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	return b64_decode_with(b64_url, s, slen, out, outlen);
}

char *enc_b64_encode(const void *data, size_t len)
{
	return b64_encode_with(b64_std, 1, data, len);
}

int enc_b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	return b64_decode_with(b64_std, s, slen, out, outlen);
}

char *enc_base58btc_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t zeros = 0, i, j, digits_len = 0, cap;
	unsigned char *digits;
	char *out = NULL;

	while (zeros < len && in[zeros] == 0)
		zeros++;
	/* log(256)/log(58) ~= 1.37 */
	cap = (len - zeros) * 138 / 100 + 1;
	digits = calloc(cap, 1);
	if (!digits)
		return NULL;
	for (i = zeros; i < len; i++) {
		unsigned carry = in[i];
		for (j = 0; j < digits_len; j++) {
			carry += (unsigned)digits[j] << 8;
			digits[j] = (unsigned char)(carry % 58);
			carry /= 58;
		}
		while (carry) {
			digits[digits_len++] = (unsigned char)(carry % 58);
			carry /= 58;
		}
	}
	out = malloc(zeros + digits_len + 1);
	if (!out)
		goto out;
	memset(out, '1', zeros);
	for (i = 0; i < digits_len; i++)
		out[zeros + i] = b58_alpha[digits[digits_len - 1 - i]];
	out[zeros + digits_len] = '\0';
out:
	free(digits);
	return out;
}

int enc_base58btc_decode(const char *s, unsigned char **out, size_t *outlen)
{
	size_t slen, ones = 0, i, j, bytes_len = 0;
	unsigned char *bytes = NULL, *res;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (!s)
		return -1;
	slen = strlen(s);
	while (ones < slen && s[ones] == '1')
		ones++;
	/* log(58)/log(256) ~= 0.733 */
	bytes = calloc((slen - ones) * 733 / 1000 + 1, 1);
	if (!bytes)
		return -1;
	for (i = ones; i < slen; i++) {
		int v = alpha_index(b58_alpha, s[i]);
		unsigned carry;
		if (v < 0)
			goto out;
		carry = (unsigned)v;
		for (j = 0; j < bytes_len; j++) {
			carry += (unsigned)bytes[j] * 58;
			bytes[j] = (unsigned char)(carry & 0xff);
			carry >>= 8;
		}
		while (carry) {
			bytes[bytes_len++] = (unsigned char)(carry & 0xff);
			carry >>= 8;
		}
	}
	res = malloc(ones + bytes_len + 1);
	if (!res)
		goto out;
	memset(res, 0, ones);
	for (i = 0; i < bytes_len; i++)
		res[ones + i] = bytes[bytes_len - 1 - i];
	res[ones + bytes_len] = '\0';
	*out = res;
	*outlen = ones + bytes_len;
	rc = 0;
out:
	free(bytes);
	return rc;
}

char *enc_base32_lower_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0;
	char *out = malloc((len * 8 + 4) / 5 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		acc = acc << 8 | in[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[o++] = b32_alpha[acc >> bits & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[o++] = b32_alpha[acc << (5 - bits) & 31];
	out[o] = '\0';
	return out;
}

int enc_base32_lower_decode(const char *s, unsigned char **out, size_t *outlen)
{
	size_t slen;

	*out = NULL;
	*outlen = 0;
	if (!s)
		return -1;
	slen = strlen(s);
	/* lengths 1, 3, 6 (mod 8) cannot come from whole bytes */
	if (slen % 8 == 1 || slen % 8 == 3 || slen % 8 == 6)
		return -1;
	return unpack_bits(b32_alpha, 5, s, slen, out, outlen);
}

char *enc_hex_encode(const void *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *in = data;
	size_t i;
	char *out = malloc(len * 2 + 1);
	if (!out)
		return NULL;
	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[len * 2] = '\0';
	return out;
}

int enc_hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int enc_hex_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen)
{
	size_t i;
	unsigned char *buf;

	*out = NULL;
	*outlen = 0;
	if (!s || slen % 2)
		return -1;
	buf = malloc(slen / 2 + 1);
	if (!buf)
		return -1;
	for (i = 0; i < slen / 2; i++) {
		int hi = enc_hex_digit((unsigned char)s[2 * i]), lo = enc_hex_digit((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(buf);
			return -1;
		}
		buf[i] = (unsigned char)(hi << 4 | lo);
	}
	buf[slen / 2] = '\0';
	*out = buf;
	*outlen = slen / 2;
	return 0;
}
