/* test_markdown.c - README Markdown to HTML (raw HTML stripped, unsafe links dropped), plain summaries. */
#include "markdown.h"
#include "tap.h"

#include <string.h>

static void check_html(const char *md, const char *want, const char *name)
{
	char *err = NULL;
	char *got = md_to_html(md, strlen(md), &err);
	if (!got)
		diag("md_to_html: %s", err ? err : "(no message)");
	is_str(got, want, "html: %s", name);
	free(got);
	free(err);
}

/* The rendered HTML must not contain `bad` (case-insensitive). */
static void check_absent(const char *md, const char *bad, const char *name)
{
	char *got = md_to_html(md, strlen(md), NULL);
	if (!ok(got && !strcasestr(got, bad), "html: %s (no '%s')", name, bad))
		diag("got: %s", got ? got : "(null)");
	free(got);
}

static void check_summary(const char *md, size_t n, const char *want, const char *name)
{
	char *got = md_plain_summary(md, n);
	is_str(got, want, "summary: %s", name);
	free(got);
}

int main(void)
{
	/* CommonMark basics */
	check_html("# Title\n\n## Sub *title*\n", "<h1>Title</h1>\n<h2>Sub <em>title</em></h2>\n", "headings");
	check_html("- one\n- **two**\n\n1. first\n2. second\n",
		   "<ul>\n<li>one</li>\n<li><strong>two</strong></li>\n</ul>\n<ol>\n<li>first</li>\n<li>second</li>\n</ol>\n",
		   "lists");
	check_html("```sh\ndocker pull <host>/app && echo \"ok\"\n```\n",
		   "<pre><code class=\"language-sh\">docker pull &lt;host&gt;/app &amp;&amp; echo &quot;ok&quot;\n</code></pre>\n",
		   "fenced code, escaped");
	check_html("Run `a < b`.\n\n    indented <code>\n",
		   "<p>Run <code>a &lt; b</code>.</p>\n<pre><code>indented &lt;code&gt;\n</code></pre>\n",
		   "inline and indented code");
	check_html("[docs](https://example.com/?a=1&b=2 \"T\") <https://example.com>\n",
		   "<p><a href=\"https://example.com/?a=1&amp;b=2\" title=\"T\">docs</a> "
		   "<a href=\"https://example.com\">https://example.com</a></p>\n",
		   "safe links kept");
	check_html("[rel](/alice/app) [mail](mailto:a@example.com)\n",
		   "<p><a href=\"/alice/app\">rel</a> <a href=\"mailto:a@example.com\">mail</a></p>\n",
		   "relative and mailto links kept");
	check_html("\"quotes\" -- and... 'single'\n", "<p>&quot;quotes&quot; -- and... 'single'</p>\n",
		   "no smart punctuation");
	check_html("line one\nline two\n", "<p>line one\nline two</p>\n", "soft breaks stay soft (no hardbreaks)");
	check_html("bad \xFF byte\n", "<p>bad \xEF\xBF\xBD byte</p>\n", "invalid UTF-8 replaced");
	check_html("", "", "empty input");

	/* raw HTML: stripped, not escaped and not commented */
	check_html("<script>alert(1)</script>\n\ntext\n", "<p>text</p>\n", "script block stripped");
	check_html("a <b onmouseover=\"alert(1)\">bold</b> c\n", "<p>a bold c</p>\n", "inline HTML stripped");
	check_html("<div>\n*md*\n</div>\n\nafter\n", "<p>after</p>\n", "HTML block stripped whole");
	check_absent("<img src=x onerror=alert(1)>\n", "<img", "img tag");
	check_absent("x <iframe src=\"https://evil\"></iframe>\n", "<iframe", "iframe");
	check_absent("<!-- comment -->\n<style>body{}</style>\n", "<style", "style block");
	check_absent("a <!-- c --> b\n", "<!--", "no raw-HTML-omitted comments either");
	check_absent("\"><script>alert(1)</script>\n", "<script", "attribute-ish break-out text");

	/* links and images with unsafe schemes: the URL is dropped, the text stays */
	check_html("[x](javascript:alert(1))\n", "<p><a href=\"\">x</a></p>\n", "javascript: link");
	check_html("[x](JaVaScRiPt:alert(1))\n", "<p><a href=\"\">x</a></p>\n", "mixed-case javascript:");
	check_html("[x](jav&#x09;ascript:alert(1))\n", "<p><a href=\"\">x</a></p>\n", "entity-obfuscated javascript:");
	check_html("[x](<java script:alert(1)>)\n", "<p><a href=\"\">x</a></p>\n", "javascript: with a space");
	check_html("[x](vbscript:msgbox)\n", "<p><a href=\"\">x</a></p>\n", "vbscript:");
	check_html("[x](data:text/html;base64,PHNjcmlwdD4=)\n", "<p><a href=\"\">x</a></p>\n", "data: link");
	check_html("![i](data:image/png;base64,iVBORw0KGgo=)\n", "<p><img src=\"\" alt=\"i\" /></p>\n",
		   "data: image (cmark would allow it; we do not)");
	check_html("<javascript:alert(1)>\n", "<p><a href=\"\">javascript:alert(1)</a></p>\n", "javascript: autolink");
	check_html("[x][r]\n\n[r]: javascript:alert(1)\n", "<p><a href=\"\">x</a></p>\n", "javascript: reference link");
	check_absent("[x](javascript:alert(1) \"t\")\n[y](  javascript:x)\n", "javascript", "no javascript: anywhere");

	/* the lexicon's length limit */
	{
		char *big = malloc(MD_MAX_BYTES + 2), *err = NULL;
		memset(big, 'a', MD_MAX_BYTES + 1);
		big[MD_MAX_BYTES + 1] = '\0';
		char *html = md_to_html(big, MD_MAX_BYTES + 1, &err);
		ok(!html && err && strstr(err, "100001 bytes") && strstr(err, "100000"), "one byte over the limit: %s",
		   err ? err : "(no message)");
		free(html);
		html = md_to_html(big, MD_MAX_BYTES, &err);
		ok(html && strlen(html) == MD_MAX_BYTES + 8, "exactly the limit renders");
		free(html);
		char *s = md_plain_summary(big, 10);
		is_str(s, "aaaaaaaaaa", "summary of an over-long text still works");
		free(s);
		free(big);
		free(err);
	}

	/* plain summaries */
	const char *readme = "# My App\n\n[![build](https://ci/x.svg)](https://ci) ![cov](c.svg)\n\n"
			     "This is *my* `app` <b>bold</b>, see [the docs](http://x).\nSecond  line.\n\nMore text.\n";
	check_summary(readme, 200, "This is my app bold, see the docs. Second line.",
		      "first paragraph with words, badges skipped, markup removed");
	check_summary(readme, 14, "This is my app", "cut at n bytes");
	check_summary(readme, 15, "This is my app", "cut does not leave a trailing space");
	check_summary("h\xC3\xA9llo w\xC3\xB6rld\n", 2, "h", "cut inside a 2-byte character backs off");
	check_summary("h\xC3\xA9llo\n", 3, "h\xC3\xA9", "cut right after a 2-byte character");
	check_summary("\xF0\x9F\x90\xB3 whale\n", 3, "", "cut inside the first 4-byte character");
	check_summary("\xF0\x9F\x90\xB3 whale\n", 4, "\xF0\x9F\x90\xB3", "cut after the 4-byte character");
	check_summary("# Only *a* heading\n", 100, "Only a heading", "no paragraph: the first heading");
	check_summary("<div>raw</div>\n\n```\ncode\n```\n\n> quoted <i>text</i>\n", 100, "quoted text",
		      "raw HTML and code blocks are no paragraph");
	check_summary("", 100, "", "empty");
	check_summary("```\nonly code\n```\n", 100, "", "nothing to summarise");
	check_summary("<script>alert(1)</script>\n\n&lt;b&gt; &amp; x\n", 100, "<b> & x",
		      "entities decoded: the summary is text, escaped when printed");
	return tap_done();
}
