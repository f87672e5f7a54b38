/* test_html.c - HTML escaping, the href/src check against XSS vectors, percent-encoding. */
#include "html.h"
#include "tap.h"

/* s with control characters and bytes above 127 as \xNN, for test names (TAP lines must stay lines). */
static const char *printable(const char *s)
{
	static char out[512];
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && o + 5 < sizeof out; p++)
		o += (size_t)snprintf(out + o, sizeof out - o, *p < 0x20 || *p >= 0x7f ? "\\x%02X" : "%c", *p);
	out[o] = '\0';
	return out;
}

static char *escaped_n(const char *s, size_t len)
{
	buf_t b = BUF_INIT;
	if (html_escape_n(&b, s, len) < 0)
		return NULL;
	return buf_detach(&b);
}

static void check_escape(const char *in, size_t len, const char *want, const char *name)
{
	char *got = escaped_n(in, len);
	is_str(got, want, "escape: %s", name);
	free(got);
}

static void check_url(const char *url, const char *want, const char *name)
{
	buf_t b = BUF_INIT;
	ok(html_url(&b, url) == 0, "html_url appends (%s)", name);
	is_str(buf_str(&b), want, "html_url: %s", name);
	buf_free(&b);
}

static void check_pct(int path, const char *in, const char *want)
{
	buf_t b = BUF_INIT;
	ok((path ? html_pct_encode_path(&b, in) : html_pct_encode(&b, in)) == 0, "pct appends");
	is_str(buf_str(&b), want, "%s: '%s'", path ? "html_pct_encode_path" : "html_pct_encode", in);
	buf_free(&b);
}

int main(void)
{
	/* text and attribute escaping */
	check_escape("plain text 123", 14, "plain text 123", "plain text unchanged");
	check_escape("<script>alert(1)</script>", 25, "&lt;script&gt;alert(1)&lt;/script&gt;", "<script>");
	check_escape("\"><img src=x onerror=alert(1)>", 30, "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;",
		     "attribute break-out");
	check_escape("' onmouseover='x", 16, "&#39; onmouseover=&#39;x", "single quotes");
	check_escape("a & b &amp;", 11, "a &amp; b &amp;amp;", "ampersands, even in entities");
	check_escape("a\0b", 3, "a\xEF\xBF\xBD" "b", "NUL becomes U+FFFD");
	check_escape("a\x01\x1b\x7f" "b", 5, "a\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD" "b", "C0 controls and DEL");
	check_escape("l1\n\tl2\r\n", 8, "l1\n\tl2\r\n", "tab, LF, CR kept");
	check_escape("h\xC3\xA9 \xE2\x98\x85 \xF0\x9F\x90\xB3", 12, "h\xC3\xA9 \xE2\x98\x85 \xF0\x9F\x90\xB3",
		     "UTF-8 of 2, 3 and 4 bytes kept");
	check_escape("\xC2\x85", 2, "\xEF\xBF\xBD", "C1 control (NEL)");
	check_escape("a\xFF" "b", 3, "a\xEF\xBF\xBD" "b", "invalid byte");
	check_escape("\xC0\xBC", 2, "\xEF\xBF\xBD\xEF\xBF\xBD", "overlong '<' is not '<' and not kept");
	check_escape("\xED\xA0\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", "UTF-16 surrogate");
	check_escape("x\xE2\x98", 3, "x\xEF\xBF\xBD\xEF\xBF\xBD", "truncated sequence at the end");
	{
		buf_t b = BUF_INIT;
		buf_puts(&b, "<p>");
		html_escape(&b, "1 < 2");
		buf_puts(&b, "</p>");
		is_str(buf_str(&b), "<p>1 &lt; 2</p>", "html_escape appends to what is there");
		buf_free(&b);
	}

	/* URLs that are allowed */
	const char *safe[] = {"http://example.com/", "https://example.com/a?b=c#d", "HTTPS://EXAMPLE.COM",
			      "mailto:alice@example.com", "/alice.bsky.social/app", "app/tags", "?tab=tags", "#readme",
			      "//cdn.example.com/x.png", "", "relative-without-colon", "/path/with:colon",
			      "?q=javascript:alert(1)", "#javascript:x", "http://x/?u=javascript:alert(1)"};
	for (size_t i = 0; i < sizeof safe / sizeof *safe; i++)
		ok(html_url_is_safe(safe[i]), "allowed: '%s'", printable(safe[i]));

	/* XSS vectors: javascript: and friends in every disguise */
	const char *unsafe[] = {"javascript:alert(1)", "JaVaScRiPt:alert(1)", "JAVASCRIPT:alert(1)",
				" javascript:alert(1)", "\t\n javascript:alert(1)", "\x01\x02javascript:alert(1)",
				"\x7fjavascript:alert(1)", "java\tscript:alert(1)", "java\nscript:alert(1)",
				"java\rscript:alert(1)", "java script:alert(1)", "jav&#x09;ascript:alert(1)",
				"jav&#X9;ascript:alert(1)", "jav&#9;ascript:alert(1)", "jav&#0000009;ascript:alert(1)",
				"&#106;avascript:alert(1)", "&#x6A;avascript:alert(1)", "&#106avascript:alert(1)",
				"&#x6aavascript:alert(1)", "javascript&colon;alert(1)", "javascript&#58;alert(1)",
				"javascript&#x3a;alert(1)", "jav&Tab;ascript:alert(1)", "java&NewLine;script:alert(1)",
				"&#32;javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
				"DATA:text/html;base64,PHNjcmlwdD4=", "data:image/svg+xml,<svg onload=alert(1)>",
				"vbscript:msgbox(1)", "VbScRiPt:msgbox(1)", "file:///etc/passwd", "ftp://example.com/",
				"\xC2\xA0javascript:alert(1)", "javascript\xE2\x80\x8B:alert(1)",
				"a-very-long-scheme-name-indeed:x"};
	for (size_t i = 0; i < sizeof unsafe / sizeof *unsafe; i++)
		ok(!html_url_is_safe(unsafe[i]), "refused: '%s'", printable(unsafe[i]));

	check_url("https://example.com/?a=1&b=\"2\"", "https://example.com/?a=1&amp;b=&quot;2&quot;",
		  "allowed URL is attribute-escaped");
	check_url("/x\"><script>", "/x&quot;&gt;&lt;script&gt;", "relative URL breaking out of the attribute");
	check_url("javascript:alert(1)", "#", "javascript: becomes #");
	check_url("jav&#x09;ascript:alert(1)", "#", "entity-obfuscated javascript: becomes #");
	check_url(" data:text/html,x", "#", "data: becomes #");

	/* percent-encoding */
	check_pct(0, "a b/c?d=e&f#g", "a%20b%2Fc%3Fd%3De%26f%23g");
	check_pct(0, "Az09-._~", "Az09-._~");
	check_pct(0, "\xC3\xA9", "%C3%A9");
	check_pct(0, "<script>\"'", "%3Cscript%3E%22%27");
	check_pct(0, "100%", "100%25");
	check_pct(0, "", "");
	check_pct(1, "alice.bsky.social/app", "alice.bsky.social/app");
	check_pct(1, "did:plc:abc/my app?x", "did:plc:abc/my%20app%3Fx");
	check_pct(1, "a@b/../c#d", "a@b/../c%23d");
	return tap_done();
}
