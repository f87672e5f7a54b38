/* ui-manifest.c - one manifest: /r/<owner>/<repo>/manifests/<digest>: its tags, config, layers with sizes,
 * annotations, the platform children of an index, and its referrers (signatures, SBOMs). */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "regindex.h"
#include "ui.h"
#include "uiindex.h"

/* The manifest's annotations (JSON object text) as [{key, value}], sorted as stored. */
static json_object *annotations_list(const char *json)
{
	json_object *list = json_object_new_array(), *obj = json ? json_tokener_parse(json) : NULL;
	if (list && obj && json_object_is_type(obj, json_type_object)) {
		json_object_object_foreach(obj, key, val)
		{
			json_object *kv = json_object_new_object();
			json_object_object_add(kv, "key", json_object_new_string(key));
			json_object_object_add(kv, "value", json_object_new_string(json_object_get_string(val)));
			json_object_array_add(list, kv);
		}
	}
	json_object_put(obj);
	return list;
}

/* Link each row that has a digest to its own manifest page under repo_path. */
static void link_rows(json_object *rows, const char *repo_path)
{
	size_t n = rows ? json_object_array_length(rows) : 0;
	for (size_t i = 0; i < n; i++) {
		json_object *row = json_object_array_get_idx(rows, i), *d;
		if (json_object_object_get_ex(row, "digest", &d)) {
			char *href = buf_strf("/r/%s/manifests/%s", repo_path, json_object_get_string(d));
			json_object_object_add(row, "href", ui_str(href));
			free(href);
		}
	}
}

int ui_manifest_page(ui_req *u, const char *did, const char *owner, const char *repository, const char *digest)
{
	regindex_manifest m = {0};
	regindex_referrer *refs = NULL;
	size_t nrefs = 0;
	char *err = NULL, **tags = NULL;
	json_object *ctx = NULL, *blobs = NULL, *v;
	int rc = 0;
	int found = regindex_manifest_get(u->db, did, repository, digest, &m, &err);
	if (found < 0)
		return ui_fail(u, "manifest", err);
	if (found == 0)
		return ui_not_found(u, "No such manifest in this repository.");
	if (!(blobs = uiindex_manifest_blobs(u->db, did, repository, digest, &err)) ||
	    regindex_referrers(u->db, did, repository, digest, NULL, &refs, &nrefs, &err) != 0 ||
	    !(tags = regindex_tags_for_digest(u->db, did, repository, digest, &err))) {
		rc = ui_fail(u, "manifest", err);
		err = NULL;
		goto out;
	}
	ctx = json_object_new_object();
	json_object_object_add(ctx, "owner", ui_str(owner));
	json_object_object_add(ctx, "repository", ui_str(repository));
	json_object_object_add(ctx, "digest", ui_str(m.digest));
	json_object_object_add(ctx, "media_type", ui_str(m.media_type));
	json_object_object_add(ctx, "size", json_object_new_int64(m.size));
	json_object_object_add(ctx, "artifact_type", ui_str(m.artifact_type));
	json_object_object_add(ctx, "subject_digest", ui_str(m.subject_digest));
	json_object_object_add(ctx, "hold_did", ui_str(m.hold_did));
	json_object_object_add(ctx, "pushed_at", json_object_new_int64(m.created_at));
	json_object *ann = annotations_list(m.annotations);
	json_object_object_add(ctx, "annotations", json_object_array_length(ann) ? ann : NULL);
	if (!json_object_array_length(ann))
		json_object_put(ann);
	json_object *tag_list = json_object_new_array();
	for (size_t i = 0; tags[i]; i++)
		json_object_array_add(tag_list, json_object_new_string(tags[i]));
	json_object_object_add(ctx, "tags", tag_list);
	json_object *ref_list = json_object_new_array();
	for (size_t i = 0; i < nrefs; i++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "digest", ui_str(refs[i].digest));
		json_object_object_add(o, "media_type", ui_str(refs[i].media_type));
		json_object_object_add(o, "artifact_type", ui_str(refs[i].artifact_type));
		json_object_object_add(o, "size", json_object_new_int64(refs[i].size));
		json_object_array_add(ref_list, o);
	}
	if (ui_decorate(ctx) != 0) {
		json_object_put(ref_list);
		rc = ui_fail(u, "manifest", NULL);
		goto out;
	}
	/* repo_path comes from owner and repository; children and referrers link below it */
	json_object_object_get_ex(ctx, "repo_path", &v);
	const char *repo_path = json_object_get_string(v);
	json_object *layers = NULL, *children = NULL, *config_blob = NULL;
	json_object_object_get_ex(blobs, "layers", &layers);
	json_object_object_get_ex(blobs, "manifests", &children);
	if (json_object_object_get_ex(blobs, "config", &config_blob))
		ui_decorate(config_blob);
	ui_decorate(layers);
	ui_decorate(children);
	ui_decorate(ref_list);
	link_rows(children, repo_path);
	link_rows(ref_list, repo_path);
	json_object_object_add(ctx, "referrers", ref_list);
	json_object_object_add(ctx, "blobs", json_object_get(blobs));
	if (m.subject_digest) {
		char *href = buf_strf("/r/%s/manifests/%s", repo_path, m.subject_digest);
		json_object_object_add(ctx, "subject_href", ui_str(href));
		free(href);
	}
	char *title = buf_strf("%s/%s@%s", owner, repository, digest);
	rc = ui_page(u, 200, "manifest", title, ctx);
	free(title);
out:
	json_object_put(ctx);
	json_object_put(blobs);
	regindex_referrers_free(refs, nrefs);
	regindex_strv_free(tags);
	regindex_manifest_free(&m);
	free(err);
	return rc;
}
