/* html.c - HTML escaping, URL safety check, percent-encoding. */
#include "html.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char replacement_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length (1-4) of the well-formed UTF-8 sequence at s (at most len bytes), storing its code point;
 * 0 when the bytes are not well-formed (overlong, surrogate, above U+10FFFF, truncated). */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF) {
		n = 2, c &= 0x1F, min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		n = 3, c &= 0x0F, min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

static const char *entity_for(unsigned char c)
{
	switch (c) {
	case '&': return "&amp;";
	case '<': return "&lt;";
	case '>': return "&gt;";
	case '"': return "&quot;";
	case '\'': return "&#39;";
	default: return NULL;
	}
}

int html_escape_n(buf_t *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t run = 0, i = 0; /* bytes [i - run, i) are copied as they are */
	while (i < len) {
		uint32_t cp = 0;
		const char *subst = NULL;
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (n == 0) {
			subst = replacement_char, n = 1;
		} else if (n == 1) {
			subst = entity_for(p[i]);
			if (!subst && (cp < 0x20 || cp == 0x7F) && cp != '\t' && cp != '\n' && cp != '\r')
				subst = replacement_char;
		} else if (cp >= 0x80 && cp <= 0x9F) {
			subst = replacement_char;
		}
		if (!subst) {
			run += n, i += n;
			continue;
		}
		if (buf_append(out, p + i - run, run) < 0 || buf_puts(out, subst) < 0)
			return -1;
		run = 0, i += n;
	}
	return buf_append(out, p + i - run, run);
}

int html_escape(buf_t *out, const char *s)
{
	return html_escape_n(out, s, strlen(s));
}

/* The character a reference at s (just after '&') stands for, as a browser decodes attribute values:
 * numeric with or without ';', and the named ones that can hide a scheme. Sets *used to the bytes
 * consumed; returns -1 (and *used 0) when s is no reference we know. */
static long decode_reference(const char *s, size_t *used)
{
	static const struct {
		const char *name;
		char c;
	} named[] = {{"Tab;", '\t'}, {"NewLine;", '\n'}, {"colon;", ':'}, {"amp;", '&'}, {"sol;", '/'},
		     {"quest;", '?'}, {"num;", '#'}, {"lpar;", '('}, {"rpar;", ')'}};
	*used = 0;
	if (s[0] == '#') {
		int hex = s[1] == 'x' || s[1] == 'X';
		size_t i = hex ? 2 : 1, start = i;
		long v = 0;
		while (hex ? isxdigit((unsigned char)s[i]) : isdigit((unsigned char)s[i])) {
			int d = isdigit((unsigned char)s[i]) ? s[i] - '0' : (tolower((unsigned char)s[i]) - 'a' + 10);
			if (v <= 0x10FFFF)
				v = v * (hex ? 16 : 10) + d;
			i++;
		}
		if (i == start)
			return -1;
		if (s[i] == ';')
			i++;
		*used = i;
		return v > 0x10FFFF ? 0xFFFD : v;
	}
	for (size_t k = 0; k < sizeof named / sizeof named[0]; k++) {
		size_t n = strlen(named[k].name);
		if (strncmp(s, named[k].name, n) == 0) {
			*used = n;
			return (unsigned char)named[k].c;
		}
	}
	return -1;
}

int html_url_is_safe(const char *url)
{
	/* Only the scheme matters: collect the ASCII letters, digits and punctuation up to the first of
	 * ":/?#" as the browser would see them, dropping what it drops (whitespace, controls). */
	char scheme[16];
	size_t n = 0;
	const char *p = url;
	while (*p) {
		long c = (unsigned char)*p;
		size_t used = 1;
		if (c == '&') {
			long r = decode_reference(p + 1, &used);
			if (r >= 0)
				c = r, used += 1;
			else
				used = 1;
		}
		p += used;
		if (c <= 0x20 || c == 0x7F)
			continue;
		if (c == '/' || c == '?' || c == '#')
			return 1; /* no scheme: a relative URL */
		if (c == ':') {
			scheme[n < sizeof scheme ? n : sizeof scheme - 1] = '\0';
			if (n >= sizeof scheme)
				return 0;
			return strcmp(scheme, "http") == 0 || strcmp(scheme, "https") == 0 ||
			       strcmp(scheme, "mailto") == 0;
		}
		if (n < sizeof scheme)
			scheme[n] = c < 0x80 ? (char)tolower((int)c) : '\x80';
		n++;
	}
	return 1; /* no ':' at all: relative */
}

int html_url(buf_t *out, const char *url)
{
	if (!html_url_is_safe(url))
		return buf_puts(out, "#");
	return html_escape(out, url);
}

static int pct_encode(buf_t *out, const char *s, const char *keep)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int plain = isalnum(*p) && *p < 0x80;
		if (plain || *p == '-' || *p == '.' || *p == '_' || *p == '~' || (keep && strchr(keep, *p))) {
			if (buf_append(out, p, 1) < 0)
				return -1;
		} else {
			char enc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
			if (buf_append(out, enc, 3) < 0)
				return -1;
		}
	}
	return 0;
}

int html_pct_encode(buf_t *out, const char *s)
{
	return pct_encode(out, s, NULL);
}

int html_pct_encode_path(buf_t *out, const char *s)
{
	return pct_encode(out, s, "/:@");
}
