/* html.h - escaping for HTML output into a buf_t (cgit's html_txt/html_attr, Fossil's %h): text and
 * attribute values, href/src values that cannot run script, percent-encoded URL components. */
#ifndef ATCR_HTML_H
#define ATCR_HTML_H
#include <stddef.h>

#include "buf.h"

/* Append s escaped for HTML text or a quoted attribute value: & < > " ' become entities; NUL, control
 * characters (other than tab, LF, CR), DEL, C1 controls and invalid UTF-8 become U+FFFD.
 * Returns 0, or -1 when out of memory. */
int html_escape(buf_t *out, const char *s);
/* The same for len bytes that may contain NUL. */
int html_escape_n(buf_t *out, const char *s, size_t len);

/* 1 when url is safe in href/src: http, https, mailto or relative (no scheme). Anything else is refused
 * (0), judged as a browser would see it after decoding character references and dropping whitespace and
 * control characters, so `jav&#x09;ascript:`, ` JaVaScRiPt:` and `data:` are all refused. */
int html_url_is_safe(const char *url);
/* Append url escaped for a quoted attribute when html_url_is_safe(url), else "#". Returns 0 or -1 (OOM). */
int html_url(buf_t *out, const char *url);

/* Append s percent-encoded as one URL component (query name or value, one path segment): everything but
 * A-Z a-z 0-9 - . _ ~ becomes %XX. The result is also safe in HTML text and attributes. */
int html_pct_encode(buf_t *out, const char *s);
/* The same for a path that keeps its '/', ':' and '@' ("alice.bsky.social/app", "did:plc:x/app"). Put it
 * after a '/' (href="/{{..}}"): a relative "did:plc:..." alone would read as a URL scheme. */
int html_pct_encode_path(buf_t *out, const char *s);

#endif
