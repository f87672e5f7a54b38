/* ecdsa_util.h - helpers for the signature tests (header-only): turn a compact r||s signature into its
 * high-S twin, which atproto verifiers must refuse. */
#ifndef ATCR_ECDSA_UTIL_H
#define ATCR_ECDSA_UTIL_H

/* s := n - s in a 64-byte compact signature (big-endian), n the curve order. */
static void negate_s(unsigned char *sig, const unsigned char *n) __attribute__((unused));
static void negate_s(unsigned char *sig, const unsigned char *n)
{
	int borrow = 0;
	for (int i = 31; i >= 0; i--) {
		int d = n[i] - sig[32 + i] - borrow;
		borrow = d < 0;
		sig[32 + i] = (unsigned char)(d + (borrow ? 256 : 0));
	}
}
#endif
