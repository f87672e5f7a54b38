/* syntax.c - atproto identifier syntax checks, written as small scanners rather than regexes so that
 * they need no library, allocate nothing and run in linear time. The rules follow the atproto
 * specifications (and their interop vectors in tests/vectors/syntax). */
#include "syntax.h"

#include <stdlib.h>
#include <string.h>

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c) { return is_alpha(c) || is_digit(c); }

/* A DNS-style label: 1..63 of [A-Za-z0-9-], neither starting nor ending with '-'. */
static int label_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int syntax_handle_ok(const char *s)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	if (len < 1 || len > 253)
		return 0;
	int labels = 0;
	const char *p = s, *last = s;
	for (;;) {
		const char *dot = strchr(p, '.');
		size_t n = dot ? (size_t)(dot - p) : strlen(p);
		if (!label_ok(p, n))
			return 0;
		labels++;
		last = p;
		if (!dot)
			break;
		p = dot + 1;
	}
	/* Two labels at least, and a top-level domain that cannot be mistaken for an IP address. */
	return labels >= 2 && is_alpha(last[0]);
}

char *syntax_handle_normalize(const char *s)
{
	if (!syntax_handle_ok(s))
		return NULL;
	char *out = strdup(s);
	if (!out)
		return NULL;
	for (char *p = out; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return out;
}

/* did:<method>:<identifier>, method lower-case letters, identifier [A-Za-z0-9._:%-] not ending in ':'
 * or '%'; 2048 characters at most. */
int syntax_did_ok(const char *s)
{
	if (!s || strncmp(s, "did:", 4) != 0)
		return 0;
	size_t len = strlen(s);
	if (len > 2048)
		return 0;
	const char *p = s + 4;
	const char *m = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	if (p == m || *p != ':')
		return 0;
	p++;
	if (!*p)
		return 0;
	for (const char *q = p; *q; q++)
		if (!is_alnum(*q) && !strchr("._:%-", *q))
			return 0;
	char end = s[len - 1];
	return end != ':' && end != '%';
}

/* Reverse-DNS authority (two labels at least, the first starting with a letter) then a name of
 * letters and digits starting with a letter; 317 characters at most. */
int syntax_nsid_ok(const char *s)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	if (len < 1 || len > 317)
		return 0;
	const char *name = strrchr(s, '.');
	if (!name)
		return 0;
	name++;
	size_t nlen = strlen(name);
	if (nlen < 1 || nlen > 63 || !is_alpha(name[0]))
		return 0;
	for (size_t i = 0; i < nlen; i++)
		if (!is_alnum(name[i]))
			return 0;
	if (!is_alpha(s[0]))
		return 0;
	int labels = 0;
	const char *p = s;
	while (p < name) {
		const char *dot = strchr(p, '.'); /* never NULL before name */
		if (!label_ok(p, (size_t)(dot - p)))
			return 0;
		labels++;
		p = dot + 1;
	}
	return labels >= 2;
}

int syntax_rkey_ok(const char *s)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	if (len < 1 || len > 512 || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && !strchr("._:~-", s[i]))
			return 0;
	return 1;
}

int syntax_tid_ok(const char *s)
{
	static const char alphabet[] = "234567abcdefghijklmnopqrstuvwxyz";
	if (!s || strlen(s) != 13)
		return 0;
	/* The first character carries the top bit, which must be 0: only the first half of the alphabet. */
	if (!memchr(alphabet, s[0], 16))
		return 0;
	for (int i = 1; i < 13; i++)
		if (!memchr(alphabet, s[i], 32))
			return 0;
	return 1;
}

int syntax_atidentifier_ok(const char *s)
{
	if (!s)
		return 0;
	return strncmp(s, "did:", 4) == 0 ? syntax_did_ok(s) : syntax_handle_ok(s);
}

/* The strict AT-URI profile used by Lexicon: at://AUTHORITY[/COLLECTION[/RKEY]], no query, no
 * fragment, no trailing slash; 8 KiB at most. */
int syntax_aturi_ok(const char *s)
{
	int ok = 0;
	char *copy = NULL;
	if (!s || strncmp(s, "at://", 5) != 0 || strlen(s) > 8192)
		goto out;
	copy = strdup(s + 5);
	if (!copy)
		goto out;
	char *authority = copy;
	char *collection = strchr(authority, '/');
	char *rkey = NULL;
	if (collection) {
		*collection++ = '\0';
		rkey = strchr(collection, '/');
		if (rkey)
			*rkey++ = '\0';
	}
	if (!syntax_atidentifier_ok(authority))
		goto out;
	if (collection && !syntax_nsid_ok(collection))
		goto out;
	if (rkey && !syntax_rkey_ok(rkey)) /* also refuses a further '/' */
		goto out;
	ok = 1;
out:
	free(copy);
	return ok;
}

/* n decimal digits at p; returns the value, or -1. */
static int digits(const char *p, int n)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

static int days_in_month(int year, int month)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
	return month == 2 && leap ? 29 : days[month - 1];
}

/* YYYY-MM-DDThh:mm:ss[.f{1,20}](Z|+hh:mm|-hh:mm), a real calendar date and time (no leap second), not
 * the "unknown offset" -00:00, and not before year 0 once normalised to UTC. This is stricter than the
 * pure syntax vectors: the "parse invalid" vectors (month 0, hour 25, ...) are refused too. */
int syntax_datetime_ok(const char *s)
{
	if (!s || strlen(s) > 64)
		return 0;
	int year = digits(s, 4);
	if (year < 0 || s[4] != '-')
		return 0;
	int month = digits(s + 5, 2);
	if (month < 1 || month > 12 || s[7] != '-')
		return 0;
	int day = digits(s + 8, 2);
	if (day < 1 || day > days_in_month(year, month) || s[10] != 'T')
		return 0;
	int hour = digits(s + 11, 2), minute, second;
	if (hour < 0 || hour > 23 || s[13] != ':')
		return 0;
	minute = digits(s + 14, 2);
	if (minute < 0 || minute > 59 || s[16] != ':')
		return 0;
	second = digits(s + 17, 2);
	if (second < 0 || second > 59)
		return 0;
	const char *p = s + 19;
	if (*p == '.') {
		int n = 0;
		for (p++; is_digit(*p); p++)
			n++;
		if (n < 1 || n > 20)
			return 0;
	}
	if (p[0] == 'Z')
		return p[1] == '\0';
	if (p[0] != '+' && p[0] != '-')
		return 0;
	int oh = digits(p + 1, 2);
	if (oh < 0 || oh > 23 || p[3] != ':')
		return 0;
	int om = digits(p + 4, 2);
	if (om < 0 || om > 59 || p[6] != '\0')
		return 0;
	if (p[0] == '-' && oh == 0 && om == 0)
		return 0;
	/* A positive offset moves the instant earlier: refuse what lands before 0000-01-01T00:00:00Z. */
	if (p[0] == '+' && year == 0 && month == 1 && day == 1 && hour * 60 + minute < oh * 60 + om)
		return 0;
	return 1;
}

/* A multibase-encoded CID as atproto accepts it: 8..256 of [A-Za-z0-9+=]; the legacy CIDv0 ("Qm...",
 * base58 without a multibase prefix) is refused. Only the shape is checked, not the contents. */
int syntax_cid_ok(const char *s)
{
	if (!s)
		return 0;
	size_t len = strlen(s);
	if (len < 8 || len > 256)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '+' && s[i] != '=')
			return 0;
	return strncmp(s, "Qm", 2) != 0;
}
