/* blob.c - blob reads: com.atproto.sync.getBlob (GET and HEAD). The web server sends the bytes
 * (X-Sendfile, with Range and HEAD handled there): they never pass through this process. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cid.h"
#include "encoding.h"
#include "hold.h"

/* The OCI digest a getBlob "cid" names: an OCI digest itself, or a raw sha-256 CID ("bafkrei..."). */
static char *digest_param(const char *cid)
{
	if (blobstore_digest_ok(cid))
		return strdup(cid);
	cid_t c;
	if (cid_parse(cid, &c) == 0 && cid_codec(&c) == CID_CODEC_RAW) {
		char *hex = enc_hex_encode(cid_digest(&c), 32), *d = malloc(7 + 64 + 1);
		if (hex && d) {
			memcpy(d, "sha256:", 7);
			memcpy(d + 7, hex, 65);
		}
		free(hex);
		return d;
	}
	return NULL;
}

int blob_get(fcgi_req *r)
{
	const hold_ctx *h = r->app;
	char *did = fcgi_query_get(r, "did"), *cid = fcgi_query_get(r, "cid"), *digest = NULL, *caller = NULL,
	     *path = NULL;
	if (!did || !cid) {
		hold_xrpc_error(r, 400, "InvalidRequest", "did and cid are required");
		goto out;
	}
	if (strcmp(did, h->did) != 0) {
		hold_xrpc_error(r, 404, "RepoNotFound", "this hold serves only its own blobs");
		goto out;
	}
	digest = digest_param(cid);
	if (!digest) {
		hold_xrpc_error(r, 400, "InvalidRequest", "cid must be an OCI digest (sha256:/sha512:) or a raw CID");
		goto out;
	}
	if (hold_authorize(r, "com.atproto.sync.getBlob", HOLD_READ_BLOBS, 0, &caller) != 0)
		goto out;
	long long size, grace = h->cfg ? config_int(h->cfg, "gc.grace_seconds") : 0;
	/* Asked for: in use, whatever names it (a push about to reuse it, say), so garbage collection waits
	 * a grace period again; NOT_FOUND when a collection removed it since the stat. */
	if (bs_stat(h->blobs, digest, &size) != BS_OK ||
	    gc_blob_asked(h->blobs, digest, grace, (long long)time(NULL)) == BS_NOT_FOUND) {
		hold_xrpc_error(r, 404, "BlobNotFound", "no blob with that digest on this hold");
		goto out;
	}
	path = bs_local_path(h->blobs, digest);
	if (!path) {
		hold_xrpc_error(r, 500, "InternalServerError", "the storage driver cannot serve this blob");
		goto out;
	}
	fcgi_set_status(r, 200);
	fcgi_add_header(r, "Content-Type", "application/octet-stream");
	fcgi_add_header(r, "Docker-Content-Digest", "%s", digest);
	fcgi_add_header(r, "ETag", "\"%s\"", digest);
	fcgi_add_header(r, "Accept-Ranges", "bytes");
	/* Content-addressed bytes never change; private holds must not land in shared caches. */
	fcgi_add_header(r, "Cache-Control", "%s, max-age=31536000, immutable", h->is_public ? "public" : "private");
	fcgi_sendfile(r, path);
out:
	free(did);
	free(cid);
	free(digest);
	free(caller);
	free(path);
	return 0;
}
