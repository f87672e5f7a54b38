/* cid.c - CIDv1 (sha2-256) encode/parse. */
#include "cid.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "encoding.h"

enum { CID_VERSION = 1, MH_SHA2_256 = 0x12, MH_SHA2_256_LEN = 32 };

void cid_of(int codec, const void *data, size_t len, cid_t *out)
{
	out->bytes[0] = CID_VERSION;
	out->bytes[1] = (unsigned char)codec;
	out->bytes[2] = MH_SHA2_256;
	out->bytes[3] = MH_SHA2_256_LEN;
	crypto_sha256(data, len, out->bytes + 4);
}

int cid_from_bytes(const unsigned char *b, size_t len, cid_t *out)
{
	if (len != CID_BYTES || b[0] != CID_VERSION ||
	    (b[1] != CID_CODEC_RAW && b[1] != CID_CODEC_DAG_CBOR) || b[2] != MH_SHA2_256 ||
	    b[3] != MH_SHA2_256_LEN)
		return -1;
	memcpy(out->bytes, b, CID_BYTES);
	return 0;
}

int cid_parse(const char *s, cid_t *out)
{
	unsigned char *raw = NULL;
	size_t len = 0;
	if (!s || s[0] != 'b' || enc_base32_lower_decode(s + 1, &raw, &len) < 0)
		return -1;
	int rc = cid_from_bytes(raw, len, out);
	free(raw);
	return rc;
}

char *cid_format(const cid_t *c)
{
	char *b32 = enc_base32_lower_encode(c->bytes, CID_BYTES);
	if (!b32)
		return NULL;
	size_t n = strlen(b32);
	char *s = malloc(n + 2);
	if (s) {
		s[0] = 'b';
		memcpy(s + 1, b32, n + 1);
	}
	free(b32);
	return s;
}

int cid_codec(const cid_t *c)
{
	return c->bytes[1];
}

const unsigned char *cid_digest(const cid_t *c)
{
	return c->bytes + 4;
}

int cid_equal(const cid_t *a, const cid_t *b)
{
	return memcmp(a->bytes, b->bytes, CID_BYTES) == 0;
}
