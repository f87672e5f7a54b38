/* ui-search.c - /search?q=&page=: repositories by name, owner handle and description (FTS5), paged. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "html.h"
#include "ui.h"
#include "uiindex.h"

#define PER_PAGE 20
#define MAX_PAGE 500
#define MAX_QUERY 256

int ui_search(fcgi_req *r)
{
	ui_req u;
	if (ui_begin(r, &u) != 0)
		return 0;
	char *q = fcgi_query_get(r, "q"), *page_s = fcgi_query_get(r, "page"), *err = NULL;
	json_object *ctx = json_object_new_object(), *results = NULL;
	buf_t q_enc = {0};
	int rc = 0, more = 0;
	long page = 1;
	if (page_s) {
		char *end = NULL;
		page = strtol(page_s, &end, 10);
		if (end == page_s || *end || page < 1 || page > MAX_PAGE) {
			ui_error_page(r, 400, "page must be a number from 1 to 500.");
			goto out;
		}
	}
	if (q && strlen(q) > MAX_QUERY)
		q[MAX_QUERY] = '\0'; /* searching needs no more; a cut UTF-8 sequence is only a shorter term */
	if (uiindex_search(u.db, q ? q : "", (int)page, PER_PAGE, &results, &more, &err) != 0 || ui_decorate(results) != 0 ||
	    html_pct_encode(&q_enc, q ? q : "") != 0) {
		rc = ui_fail(&u, "search", err);
		err = NULL;
		goto out;
	}
	json_object_object_add(ctx, "q", ui_str(q ? q : ""));
	json_object_object_add(ctx, "q_enc", ui_str(buf_str(&q_enc)));
	json_object_object_add(ctx, "searched", json_object_new_boolean(q && *q));
	json_object_object_add(ctx, "page", json_object_new_int((int)page));
	if (page > 1)
		json_object_object_add(ctx, "prev_page", json_object_new_int((int)page - 1));
	if (more)
		json_object_object_add(ctx, "next_page", json_object_new_int((int)page + 1));
	json_object_object_add(ctx, "results", json_object_get(results));
	rc = ui_page(&u, 200, "search", q && *q ? q : "Search", ctx);
out:
	json_object_put(ctx);
	json_object_put(results);
	buf_free(&q_enc);
	free(q);
	free(page_s);
	free(err);
	return rc;
}
