/* encoding.h - base64/base64url/base58btc/base32/hex codecs used by atproto formats
 * (JWT segments, multibase keys, CIDs). Decoders reject any character outside the alphabet. */
#ifndef ATCR_ENCODING_H
#define ATCR_ENCODING_H
#include <stddef.h>

/* base64url (RFC 4648 section 5) without padding; caller frees; NULL only when out of memory. */
char *enc_b64url_encode(const void *data, size_t len);
/* Decode base64url; padding optional. 0 ok (caller frees *out, which is NUL-terminated for
 * convenience), -1 bad input or out of memory. */
int enc_b64url_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);
/* Standard base64 (RFC 4648 section 4), padded; caller frees. */
char *enc_b64_encode(const void *data, size_t len);
/* Decode standard base64; padding optional. Same contract as enc_b64url_decode. */
int enc_b64_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);

/* base58btc (Bitcoin alphabet), leading zero bytes become '1'; caller frees. */
char *enc_base58btc_encode(const void *data, size_t len);
/* Decode a NUL-terminated base58btc string. 0 ok (caller frees *out), -1 bad input. */
int enc_base58btc_decode(const char *s, unsigned char **out, size_t *outlen);

/* base32 RFC 4648 alphabet, lower case, no padding (multibase 'b'); caller frees. */
char *enc_base32_lower_encode(const void *data, size_t len);
/* Decode lower-case unpadded base32 (NUL-terminated). 0 ok (caller frees *out), -1 bad input. */
int enc_base32_lower_decode(const char *s, unsigned char **out, size_t *outlen);

/* Lower-case hex; caller frees. */
char *enc_hex_encode(const void *data, size_t len);
/* Decode hex of either case (slen must be even). 0 ok (caller frees *out), -1 bad input. */
int enc_hex_decode(const char *s, size_t slen, unsigned char **out, size_t *outlen);
/* The value of one hex digit (either case), or -1. */
int enc_hex_digit(int c);

#endif
