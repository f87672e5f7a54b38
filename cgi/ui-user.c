/* ui-user.c - a user's page /u/<handle or DID>: their repositories. */
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "ui.h"
#include "uiindex.h"

int ui_user(fcgi_req *r)
{
	ui_req u;
	if (ui_begin(r, &u) != 0)
		return 0;
	char *name = fcgi_url_decode(r->rest, strlen(r->rest), 0), *did = NULL, *handle = NULL, *err = NULL;
	json_object *ctx = NULL, *repos = NULL;
	int rc = 0, found = 0;
	if (name && strncmp(name, "did:", 4) == 0) {
		found = syntax_did_ok(name) ? 1 : 0;
		did = found ? strdup(name) : NULL;
		if (found && uiindex_handle_for_did(u.db, name, &handle, &err) < 0)
			found = -1;
	} else if (name && !strchr(name, '/')) {
		found = uiindex_did_for_handle(u.db, name, &did, &err);
		handle = found == 1 ? strdup(name) : NULL;
	}
	if (found < 0) {
		rc = ui_fail(&u, "user", err);
		err = NULL;
		goto out;
	}
	if (found == 0) {
		rc = ui_not_found(&u, "No such user here.");
		goto out;
	}
	if (!(repos = uiindex_user_repos(u.db, did, &err)) || ui_decorate(repos) != 0) {
		rc = ui_fail(&u, "user repositories", err);
		err = NULL;
		goto out;
	}
	ctx = json_object_new_object();
	json_object_object_add(ctx, "owner", ui_str(handle ? handle : did));
	json_object_object_add(ctx, "did", ui_str(did));
	json_object_object_add(ctx, "repos", json_object_get(repos));
	rc = ui_page(&u, 200, "user", handle ? handle : did, ctx);
out:
	json_object_put(ctx);
	json_object_put(repos);
	free(name);
	free(did);
	free(handle);
	free(err);
	return rc;
}
