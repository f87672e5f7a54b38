/* markdown.h - repository READMEs (io.atcr.repo.page description) from CommonMark to HTML with libcmark,
 * with raw HTML dropped and links limited to what html_url_is_safe allows; one-line plain summaries. */
#ifndef ATCR_MARKDOWN_H
#define ATCR_MARKDOWN_H
#include <stddef.h>

/* The lexicon's maxLength for io.atcr.repo.page description (UTF-8 bytes). */
#define MD_MAX_BYTES 100000

/* HTML for len bytes of Markdown (caller frees), safe to print unescaped: raw HTML blocks and inlines
 * are removed, link and image URLs other than http, https, mailto and relative become "", invalid
 * UTF-8 becomes U+FFFD; no smart punctuation, soft breaks stay soft. NULL and *err (caller frees) when
 * len exceeds MD_MAX_BYTES or memory runs out. */
char *md_to_html(const char *markdown, size_t len, char **err);

/* The text of the first paragraph with words in it (paragraphs of only images, e.g. badges, are
 * skipped; else the first heading), inline markup removed, whitespace collapsed, cut to at most n bytes
 * on a UTF-8 boundary. Plain text, still to be escaped. Caller frees; "" when there is none, NULL only
 * when out of memory. Reads at most MD_MAX_BYTES of the input. */
char *md_plain_summary(const char *markdown, size_t n);

#endif
