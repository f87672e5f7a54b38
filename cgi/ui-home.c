/* ui-home.c - the home page: the newest pushes and the most pulled repositories. */
#include <stdlib.h>

#include "ui.h"
#include "uiindex.h"

int ui_home(fcgi_req *r)
{
	ui_req u;
	if (ui_begin(r, &u) != 0)
		return 0;
	char *err = NULL;
	json_object *ctx = json_object_new_object();
	json_object *recent = uiindex_recent_tags(u.db, 12, &err);
	json_object *popular = recent ? uiindex_popular(u.db, 12, &err) : NULL;
	if (!ctx || !recent || !popular || ui_decorate(recent) != 0 || ui_decorate(popular) != 0) {
		json_object_put(ctx);
		json_object_put(recent);
		json_object_put(popular);
		return ui_fail(&u, "home", err);
	}
	json_object_object_add(ctx, "recent", recent);
	json_object_object_add(ctx, "popular", popular);
	int rc = ui_page(&u, 200, "home", "ATCR: container images on the AT Protocol", ctx);
	json_object_put(ctx);
	return rc;
}
