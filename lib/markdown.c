/* markdown.c - CommonMark via libcmark: the tree is cleaned (raw HTML out, unsafe URLs emptied) before
 * cmark renders it, so what is dropped does not depend on cmark's own idea of a dangerous URL alone. */
#include "markdown.h"

#include <cmark.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "html.h"

/* CMARK_OPT_SAFE is cmark's default since 0.29 (no CMARK_OPT_UNSAFE); named for older versions. */
#define MD_OPTIONS (CMARK_OPT_DEFAULT | CMARK_OPT_SAFE | CMARK_OPT_VALIDATE_UTF8)

struct node_vec {
	cmark_node **v;
	size_t n, cap;
};

static int vec_push(struct node_vec *vec, cmark_node *nd)
{
	if (vec->n == vec->cap) {
		size_t cap = vec->cap ? vec->cap * 2 : 16;
		cmark_node **v = realloc(vec->v, cap * sizeof *v);
		if (!v)
			return -1;
		vec->v = v;
		vec->cap = cap;
	}
	vec->v[vec->n++] = nd;
	return 0;
}

/* Remove raw HTML and empty the URLs html_url_is_safe refuses. The iterator must not see the tree
 * change under it, so HTML nodes are collected and removed afterwards. */
static int clean_tree(cmark_node *doc)
{
	struct node_vec html = {0};
	int rc = 0;
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	while ((ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *nd = cmark_iter_get_node(it);
		cmark_node_type type = cmark_node_get_type(nd);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (type == CMARK_NODE_HTML_BLOCK || type == CMARK_NODE_HTML_INLINE) {
			if (vec_push(&html, nd) < 0) {
				rc = -1;
				break;
			}
		} else if (type == CMARK_NODE_LINK || type == CMARK_NODE_IMAGE) {
			const char *url = cmark_node_get_url(nd);
			if (url && !html_url_is_safe(url))
				cmark_node_set_url(nd, "");
		}
	}
	cmark_iter_free(it);
	for (size_t i = 0; i < html.n; i++)
		cmark_node_free(html.v[i]); /* unlinks it too */
	free(html.v);
	return rc;
}

char *md_to_html(const char *markdown, size_t len, char **err)
{
	char *html = NULL;
	cmark_node *doc = NULL;
	if (len > MD_MAX_BYTES) {
		buf_error(err, "Markdown is %zu bytes, more than the %d allowed", len, MD_MAX_BYTES);
		goto out;
	}
	doc = cmark_parse_document(markdown, len, MD_OPTIONS);
	if (!doc || clean_tree(doc) < 0) {
		buf_error(err, "out of memory rendering Markdown");
		goto out;
	}
	html = cmark_render_html(doc, MD_OPTIONS);
	if (!html)
		buf_error(err, "out of memory rendering Markdown");
out:
	if (doc)
		cmark_node_free(doc);
	return html;
}

/* The words of node's inlines, alt texts of images left out, into out. */
static int inline_text(cmark_node *node, buf_t *out)
{
	int in_image = 0, rc = 0;
	cmark_iter *it = cmark_iter_new(node);
	cmark_event_type ev;
	while (rc == 0 && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *nd = cmark_iter_get_node(it);
		switch (cmark_node_get_type(nd)) {
		case CMARK_NODE_IMAGE:
			in_image += ev == CMARK_EVENT_ENTER ? 1 : -1;
			break;
		case CMARK_NODE_TEXT:
		case CMARK_NODE_CODE:
			if (!in_image)
				rc = buf_puts(out, cmark_node_get_literal(nd));
			break;
		case CMARK_NODE_SOFTBREAK:
		case CMARK_NODE_LINEBREAK:
			rc = buf_puts(out, " ");
			break;
		default:
			break;
		}
	}
	cmark_iter_free(it);
	return rc;
}

/* s with whitespace runs as one space, trimmed, cut to at most n bytes on a UTF-8 boundary (in place). */
static void squeeze(char *s, size_t n)
{
	size_t o = 0;
	int space = 0;
	for (const char *p = s; *p; p++) {
		if (strchr(" \t\n\r\f\v", *p)) {
			space = o > 0;
			continue;
		}
		if (space)
			s[o++] = ' ';
		space = 0;
		s[o++] = *p;
	}
	s[o] = '\0';
	if (o > n) {
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		while (n > 0 && s[n - 1] == ' ')
			n--;
		s[n] = '\0';
	}
}

static int has_words(const char *s)
{
	return s[strspn(s, " \t\n\r\f\v")] != '\0';
}

char *md_plain_summary(const char *markdown, size_t n)
{
	buf_t para = BUF_INIT, heading = BUF_INIT;
	char *summary = NULL;
	int found = 0, failed = 0;
	size_t len = strlen(markdown);
	cmark_node *doc = cmark_parse_document(markdown, len > MD_MAX_BYTES ? MD_MAX_BYTES : len, MD_OPTIONS);
	if (!doc)
		goto out;
	cmark_iter *it = cmark_iter_new(doc);
	cmark_event_type ev;
	while (!found && !failed && (ev = cmark_iter_next(it)) != CMARK_EVENT_DONE) {
		cmark_node *nd = cmark_iter_get_node(it);
		cmark_node_type type = cmark_node_get_type(nd);
		if (ev != CMARK_EVENT_ENTER)
			continue;
		if (type == CMARK_NODE_PARAGRAPH) {
			buf_reset(&para);
			failed = inline_text(nd, &para) < 0;
			found = has_words(buf_str(&para));
		} else if (type == CMARK_NODE_HEADING && heading.len == 0) {
			failed = inline_text(nd, &heading) < 0;
		}
	}
	cmark_iter_free(it);
	if (failed)
		goto out;
	summary = found ? buf_detach(&para) : buf_detach(&heading);
	if (summary)
		squeeze(summary, n);
out:
	if (doc)
		cmark_node_free(doc);
	buf_free(&para);
	buf_free(&heading);
	return summary;
}
