/* test_blobstore.c - the filesystem blob driver: upload flows, digest checks, path-safety of inputs,
 * concurrent uploads of one digest, expiry; every failure keeps nothing visible. */
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore.h"
#include "tap.h"

typedef struct {
	const unsigned char *p;
	size_t len, off;
} mem_reader;

static ssize_t mem_read(void *ctx, void *dst, size_t n)
{
	mem_reader *m = ctx;
	size_t left = m->len - m->off, k = n < left ? n : left;
	if (k > 7777)
		k = 7777; /* short reads, like a socket */
	memcpy(dst, m->p + m->off, k);
	m->off += k;
	return (ssize_t)k;
}

static void digest_of(const char *alg, const void *data, size_t len, char *out)
{
	unsigned char md[64];
	unsigned n = 0;
	EVP_Digest(data, len, md, &n, strcmp(alg, "sha512") == 0 ? EVP_sha512() : EVP_sha256(), NULL);
	int k = sprintf(out, "%s:", alg);
	for (unsigned i = 0; i < n; i++)
		k += sprintf(out + k, "%02x", md[i]);
}

static bs_status put(blobstore *s, const char *id, int num, const void *data, size_t len, char *etag)
{
	mem_reader m = {data, len, 0};
	return bs_put_part(s, id, num, mem_read, &m, etag);
}

static int file_equals(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return 0;
	unsigned char *b = malloc(len + 1);
	size_t n = fread(b, 1, len + 1, f);
	fclose(f);
	int eq = n == len && memcmp(b, data, len) == 0;
	free(b);
	return eq;
}

static int count_entries(const char *dir)
{
	char cmd[512];
	snprintf(cmd, sizeof cmd, "find '%s' -mindepth 1 | wc -l", dir);
	FILE *p = popen(cmd, "r");
	int n = -1;
	if (p) {
		if (fscanf(p, "%d", &n) != 1)
			n = -1;
		pclose(p);
	}
	return n;
}

static blobstore *store;
static unsigned char *big;
static size_t big_len = 3 * 1024 * 1024 + 17;

static void *concurrent_upload(void *arg)
{
	char digest[80], id[BS_UPLOAD_ID_LEN + 1], etag[BS_ETAG_LEN + 1];
	digest_of("sha256", big, big_len, digest);
	bs_status st = bs_initiate(store, digest, id);
	if (st == BS_OK)
		st = put(store, id, 1, big, big_len, etag);
	bs_part p = {1, etag};
	if (st == BS_OK)
		st = bs_complete(store, id, digest, &p, 1, NULL);
	*(bs_status *)arg = st;
	return NULL;
}

int main(void)
{
	ok(blobstore_digest_ok("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"), "sha256 digest");
	ok(!blobstore_digest_ok("sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"), "upper case refused");
	ok(!blobstore_digest_ok("sha256:../../../../etc/passwd"), "traversal digest refused");
	ok(!blobstore_digest_ok("sha256:e3b0"), "short digest refused");
	ok(!blobstore_digest_ok("md5:d41d8cd98f00b204e9800998ecf8427e"), "unknown algorithm refused");
	ok(!blobstore_upload_id_ok("../uploads/x"), "traversal upload id refused");
	ok(!blobstore_upload_id_ok("0123456789abcdef0123456789abcdeF"), "upload id must be lower hex");

	char root[] = "/tmp/atcr-bs-test.XXXXXX", *err = NULL;
	ok(mkdtemp(root) != NULL, "temp dir");
	store = blobstore_fs_open(root, 8 << 20, &err);
	ok(store != NULL, "filesystem driver opens");
	is_str(store->drv->name, "filesystem", "driver name");

	/* one part */
	const char *hello = "hello, hold";
	char digest[160], id[BS_UPLOAD_ID_LEN + 1], etag[BS_ETAG_LEN + 1], etag2[BS_ETAG_LEN + 1];
	digest_of("sha256", hello, strlen(hello), digest);
	is_int(bs_initiate(store, digest, id), BS_OK, "initiateUpload");
	ok(blobstore_upload_id_ok(id), "upload id well formed");
	is_int(put(store, id, 1, hello, strlen(hello), etag), BS_OK, "uploadPart 1");
	char want_etag[160];
	digest_of("sha256", hello, strlen(hello), want_etag);
	is_str(etag, want_etag + 7, "a first part's etag is its sha-256");
	is_int(bs_stat(store, digest, NULL), BS_NOT_FOUND, "not visible before completeUpload");
	bs_part one = {1, etag};
	long long size = 0;
	is_int(bs_complete(store, id, digest, &one, 1, &size), BS_OK, "completeUpload");
	is_int(size, strlen(hello), "size reported");
	is_int(bs_stat(store, digest, &size), BS_OK, "blob visible");
	char *path = bs_local_path(store, digest);
	ok(path && file_equals(path, hello, strlen(hello)), "bytes on disk identical at %s", path ? path : "(none)");
	ok(path && strstr(path, "/blobs/sha256/") != NULL, "content-addressed layout");
	free(path);
	is_int(bs_complete(store, id, digest, &one, 1, &size), BS_INVALID_UPLOAD_ID, "upload id is gone after completion");

	/* many parts, sha512 */
	big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (unsigned char)(i * 2654435761u >> 13);
	digest_of("sha512", big, big_len, digest);
	is_int(bs_initiate(store, digest, id), BS_OK, "initiate sha512");
	size_t cut1 = 1000000, cut2 = 2500000;
	char e1[BS_ETAG_LEN + 1], e3[BS_ETAG_LEN + 1];
	/* parts arrive out of order; completion orders them by number */
	is_int(put(store, id, 3, big + cut2, big_len - cut2, e3), BS_OK, "part 3 first");
	is_int(put(store, id, 1, big, cut1, e1), BS_OK, "part 1");
	is_int(put(store, id, 2, big + cut1, cut2 - cut1, etag2), BS_OK, "part 2");
	bs_part three[] = {{1, e1}, {2, etag2}, {3, e3}};
	bs_part swapped[] = {{2, etag2}, {1, e1}, {3, e3}};
	is_int(bs_complete(store, id, digest, swapped, 3, &size), BS_INVALID_PART, "parts listed out of order refused");
	is_int(bs_complete(store, id, digest, three, 3, &size), BS_OK, "3-part completeUpload");
	is_int(size, big_len, "3-part size");
	path = bs_local_path(store, digest);
	ok(path && file_equals(path, big, big_len), "3-part blob byte-identical");
	free(path);

	/* wrong digest: nothing kept */
	const char *other = "other bytes";
	char wrong[160];
	digest_of("sha256", "something else", 14, wrong);
	is_int(bs_initiate(store, wrong, id), BS_OK, "initiate with a digest the bytes will not match");
	is_int(put(store, id, 1, other, strlen(other), etag), BS_OK, "part");
	one.etag = etag;
	is_int(bs_complete(store, id, wrong, &one, 1, NULL), BS_INVALID_DIGEST, "InvalidDigest on mismatch");
	is_int(bs_stat(store, wrong, NULL), BS_NOT_FOUND, "no blob under the wrong digest");
	is_int(put(store, id, 2, other, 1, etag), BS_INVALID_UPLOAD_ID, "the upload is discarded");

	/* initiate with a placeholder (the uploader does not know the digest yet): completion decides */
	digest_of("sha256", other, strlen(other), digest);
	is_int(bs_initiate(store, "temp-7f3a", id), BS_OK, "initiate with a placeholder digest");
	is_int(put(store, id, 1, other, strlen(other), etag), BS_OK, "part");
	is_int(bs_complete(store, id, wrong, &one, 1, NULL), BS_INVALID_DIGEST, "completion still checks the bytes");
	is_int(bs_initiate(store, "temp-7f3b", id), BS_OK, "initiate with another placeholder");
	is_int(put(store, id, 1, other, strlen(other), etag), BS_OK, "part");

	/* missing part, bad etag, bad numbers */
	bs_part missing[] = {{1, etag}, {2, etag}};
	is_int(bs_complete(store, id, digest, missing, 2, NULL), BS_MISSING_PARTS, "MissingParts");
	is_int(bs_complete(store, id, digest, NULL, 0, NULL), BS_MISSING_PARTS, "no parts");
	bs_part badtag = {1, "../../../../../../etc/passwd"};
	is_int(bs_complete(store, id, digest, &badtag, 1, NULL), BS_INVALID_PART, "crafted etag refused");
	is_int(put(store, id, 0, other, 1, etag2), BS_INVALID_PART, "part 0 refused");
	is_int(put(store, id, BS_MAX_PARTS + 1, other, 1, etag2), BS_INVALID_PART, "part above the maximum refused");
	is_int(bs_complete(store, id, digest, &one, 1, NULL), BS_OK, "the upload still completes after the refusals");

	/* crafted ids and digests */
	is_int(put(store, "../../../../../../tmp/evil00000000", 1, other, 1, etag), BS_INVALID_UPLOAD_ID, "traversal upload id");
	is_int(put(store, "00000000000000000000000000000000", 1, other, 1, etag), BS_INVALID_UPLOAD_ID, "unknown upload id");
	is_int(bs_initiate(store, "", id), BS_INVALID_DIGEST, "initiate refuses an empty digest");
	is_int(bs_initiate(store, "sha256:a b", id), BS_INVALID_DIGEST, "initiate refuses spaces and control characters");
	is_int(bs_stat(store, "sha256:../../../etc/passwd", NULL), BS_INVALID_DIGEST, "stat refuses a crafted digest");
	ok(bs_local_path(store, "sha256:..%2f..%2fetc") == NULL, "no path for a crafted digest");

	/* part size limit */
	blobstore *small = blobstore_fs_open(root, 1000, &err);
	is_int(bs_initiate(small, digest, id), BS_OK, "initiate (small part limit)");
	is_int(put(small, id, 1, big, 1001, etag), BS_TOO_LARGE, "a part over the limit refused");
	is_int(bs_abort(small, id), BS_OK, "abort it");
	bs_close(small);

	/* abort */
	is_int(bs_initiate(store, digest, id), BS_OK, "initiate");
	is_int(put(store, id, 1, other, strlen(other), etag), BS_OK, "part");
	is_int(bs_abort(store, id), BS_OK, "abortUpload");
	is_int(bs_abort(store, id), BS_INVALID_UPLOAD_ID, "abort twice: InvalidUploadId");

	/* concurrent uploads of one digest */
	pthread_t t[4];
	bs_status res[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, concurrent_upload, &res[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(res[0] == BS_OK && res[1] == BS_OK && res[2] == BS_OK && res[3] == BS_OK, "4 concurrent uploads of one digest all succeed");
	digest_of("sha256", big, big_len, digest);
	path = bs_local_path(store, digest);
	ok(path && file_equals(path, big, big_len), "and the blob is whole");
	free(path);

	/* sha256 parts in order: hashed as they arrive, so completion does not read them again */
	digest_of("sha256", big, big_len, digest);
	is_int(bs_initiate(store, digest, id), BS_OK, "initiate sha256, parts in order");
	is_int(put(store, id, 1, big, cut1, e1), BS_OK, "in order: part 1");
	is_int(put(store, id, 2, big + cut1, cut2 - cut1, etag2), BS_OK, "in order: part 2");
	is_int(put(store, id, 3, big + cut2, big_len - cut2, e3), BS_OK, "in order: part 3");
	char running[700];
	snprintf(running, sizeof running, "%s/uploads/%s/running", root, id);
	struct stat rst;
	ok(stat(running, &rst) == 0 && rst.st_size > 3 * BS_ETAG_LEN, "the running hash is kept beside the parts");
	bs_part inorder[3] = {{1, e1}, {2, etag2}, {3, e3}};
	is_int(bs_complete(store, id, digest, inorder, 3, &size), BS_OK, "complete from the running hash");
	is_int(size, (long long)big_len, "size of the concatenation");
	path = bs_local_path(store, digest);
	ok(path && file_equals(path, big, big_len), "the concatenated blob is whole");
	free(path);

	/* in order, but the promised digest is another one: nothing is kept */
	char promised[160];
	digest_of("sha256", "something else", 14, promised);
	is_int(bs_initiate(store, promised, id), BS_OK, "initiate with a wrong digest");
	is_int(put(store, id, 1, big, cut1, e1), BS_OK, "wrong digest: part 1");
	is_int(put(store, id, 2, big + cut1, cut2 - cut1, etag2), BS_OK, "wrong digest: part 2");
	is_int(bs_complete(store, id, promised, inorder, 2, &size), BS_INVALID_DIGEST, "the running hash refuses the digest");
	is_int(bs_stat(store, promised, NULL), BS_NOT_FOUND, "no blob under the promised digest");
	is_int(bs_complete(store, id, promised, inorder, 2, &size), BS_INVALID_UPLOAD_ID, "and the upload is gone");

	/* a part sent again with other bytes: the running hash no longer applies, the re-read decides */
	unsigned char *bad = malloc(cut2 - cut1);
	memset(bad, 'x', cut2 - cut1);
	char e2b[BS_ETAG_LEN + 1];
	digest_of("sha256", big, cut2, digest);
	is_int(bs_initiate(store, digest, id), BS_OK, "initiate, part 2 to be retried");
	is_int(put(store, id, 1, big, cut1, e1), BS_OK, "retry: part 1");
	is_int(put(store, id, 2, bad, cut2 - cut1, etag2), BS_OK, "retry: part 2 with wrong bytes");
	is_int(put(store, id, 2, big + cut1, cut2 - cut1, e2b), BS_OK, "retry: part 2 again, right bytes");
	bs_part retried[2] = {{1, e1}, {2, e2b}};
	is_int(bs_complete(store, id, digest, retried, 2, &size), BS_OK, "complete with the retried part");
	path = bs_local_path(store, digest);
	ok(path && file_equals(path, big, cut2), "the retried part's bytes are the ones kept");
	free(path);
	free(bad);

	/* expiry and crash leftovers */
	is_int(bs_initiate(store, digest, id), BS_OK, "an upload left behind");
	is_int(bs_expire_uploads(store, 3600), 0, "fresh uploads are kept");
	is_int(bs_expire_uploads(store, -10), 1, "old uploads expire");
	char tmpdir[600];
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp/deadbeef", root);
	FILE *f = fopen(tmpdir, "w");
	fputs("partial", f);
	fclose(f);
	/* an hour old: younger files may be another process's assembly (test_gc checks that they stay) */
	struct timespec crashed[2] = {{time(NULL) - 3601, 0}, {time(NULL) - 3601, 0}};
	utimensat(AT_FDCWD, tmpdir, crashed, 0);
	bs_close(store);
	store = blobstore_fs_open(root, 0, &err);
	snprintf(tmpdir, sizeof tmpdir, "%s/tmp", root);
	is_int(count_entries(tmpdir), 0, "re-open removes assembly leftovers of a crash");
	snprintf(tmpdir, sizeof tmpdir, "%s/uploads", root);
	is_int(count_entries(tmpdir), 0, "no upload state left");
	bs_close(store);

	is_str(blobstore_error_name(BS_INVALID_DIGEST), "InvalidDigest", "XRPC error names");
	is_str(blobstore_error_name(BS_MISSING_PARTS), "MissingParts", "MissingParts name");
	free(big);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
	if (system(cmd) != 0)
		diag("cleanup failed");
	return tap_done();
}
