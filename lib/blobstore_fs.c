/* blobstore_fs.c - the filesystem blob driver.
 *
 * Layout under the root directory:
 *   blobs/<alg>/<first two hex>/<hex>      finished blobs, content-addressed
 *   uploads/<upload id>/digest             the digest named at initiate
 *   uploads/<upload id>/part-NNNNN-<etag>  finished parts; the etag is the hex SHA-256 of the upload's
 *                                          bytes up to the part's end when parts arrive in order (so
 *                                          each byte is hashed once), else of the part alone
 *   uploads/<upload id>/data               parts 1..n that arrived in order, back to back
 *   uploads/<upload id>/span-NNNNN-<etag>  where such a part lies in data ("offset length")
 *   uploads/<upload id>/running            the SHA-256 of data and the etags of its parts: completion
 *                                          then renames data into place, with no second read or copy
 *   tmp/                                   blobs being assembled, and blobs being removed
 * Every blob is written under a temporary name, fsync'd and renamed, and the directory fsync'd, so a
 * crash leaves either the whole blob or nothing visible. Parts are intermediate: they are not fsync'd
 * (a crash loses the upload, which was never acknowledged as a blob); the assembled blob is.
 * A blob's mtime is its mark for garbage collection: set when it is stored (also when the same bytes
 * are stored again) and by touch. Removal renames the blob into tmp/ first and reads the mark there:
 * a completion or touch that came first wins, one that comes after finds the blob gone. */
#include "blobstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "digest.h"

#define COPY_CHUNK (1 << 20)
#define TMP_STALE 3600 /* seconds after which a file in tmp/ is a crash's leftover */

typedef struct {
	char *root;
	long long max_part;
} fs_store;

static int is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

int blobstore_digest_ok(const char *d)
{
	if (strncmp(d, "sha256:", 7) == 0)
		return is_lower_hex(d + 7, 64);
	if (strncmp(d, "sha512:", 7) == 0)
		return is_lower_hex(d + 7, 128);
	return 0;
}

int blobstore_upload_hint_ok(const char *hint)
{
	size_t n = strlen(hint);
	if (n == 0 || n > 256) /* the lexicon says 128, but a sha512 digest is 135 */
		return 0;
	for (size_t i = 0; i < n; i++)
		if (hint[i] < 0x21 || hint[i] > 0x7e)
			return 0;
	return 1;
}

int blobstore_upload_id_ok(const char *id)
{
	return strlen(id) == BS_UPLOAD_ID_LEN && is_lower_hex(id, BS_UPLOAD_ID_LEN);
}

const char *blobstore_error_name(bs_status st)
{
	switch (st) {
	case BS_OK: return "";
	case BS_INVALID_DIGEST: return "InvalidDigest";
	case BS_INVALID_UPLOAD_ID: return "InvalidUploadId";
	case BS_INVALID_PART: return "InvalidPartNumber";
	case BS_MISSING_PARTS: return "MissingParts";
	case BS_NOT_FOUND: return "BlobNotFound";
	case BS_TOO_LARGE: return "PayloadTooLarge";
	case BS_IO: return "UploadFailed";
	}
	return "InternalServerError";
}

static void random_hex(char *out, size_t nhex)
{
	unsigned char r[64];
	size_t n = nhex / 2;
	if (getrandom(r, n, 0) != (ssize_t)n) /* never short for n <= 256 once the pool is ready */
		abort();
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
	out[nhex] = '\0';
}

static char *path_of(const fs_store *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static char *path_of(const fs_store *fs, const char *fmt, ...)
{
	buf_t b = BUF_INIT;
	va_list ap;
	buf_puts(&b, fs->root);
	buf_puts(&b, "/");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* fsync the directory holding path. */
static int fsync_parent(const char *path)
{
	char *d = strdup(path), *slash = strrchr(d, '/');
	int rc = -1;
	if (slash) {
		*slash = '\0';
		rc = fsync_dir(d);
	}
	free(d);
	return rc;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char *p = strdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, mode) != 0 && errno != EEXIST) {
			free(p);
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, mode) != 0 && errno != EEXIST ? -1 : 0;
	free(p);
	return rc;
}

/* Remove a directory and the plain files in it (upload directories are one level deep). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			buf_t p = BUF_INIT;
			buf_printf(&p, "%s/%s", dir, e->d_name);
			unlink(buf_str(&p));
			buf_free(&p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static char *blob_path(const fs_store *fs, const char *digest)
{
	const char *hex = digest + 7;
	return path_of(fs, "blobs/%.6s/%.2s/%s", digest, hex, hex);
}

static char *upload_dir(const fs_store *fs, const char *id)
{
	return path_of(fs, "uploads/%s", id);
}

static int upload_exists(const fs_store *fs, const char *id)
{
	struct stat st;
	char *d = upload_dir(fs, id);
	int ok = stat(d, &st) == 0 && S_ISDIR(st.st_mode);
	free(d);
	return ok;
}

/* Write all len bytes (write(2) may take fewer); 0 ok, -1 on error. */
static int write_all(int fd, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w <= 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

/* Write len bytes to path atomically (temp file, fsync, rename, fsync dir). */
static int write_file_atomic(const char *path, const void *data, size_t len)
{
	buf_t tmp = BUF_INIT;
	char rnd[17];
	random_hex(rnd, 16);
	buf_printf(&tmp, "%s.tmp.%s", path, rnd);
	int fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640), rc = -1;
	if (fd < 0)
		goto out;
	if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		close(fd);
		unlink(buf_str(&tmp));
		goto out;
	}
	close(fd);
	if (rename(buf_str(&tmp), path) != 0) {
		unlink(buf_str(&tmp));
		goto out;
	}
	rc = fsync_parent(path);
out:
	buf_free(&tmp);
	return rc;
}

static bs_status fs_initiate(blobstore *s, const char *digest, char upload_id[BS_UPLOAD_ID_LEN + 1])
{
	fs_store *fs = s->impl;
	if (!blobstore_upload_hint_ok(digest))
		return BS_INVALID_DIGEST;
	random_hex(upload_id, BS_UPLOAD_ID_LEN);
	char *dir = upload_dir(fs, upload_id), *meta = NULL;
	bs_status st = BS_IO;
	if (mkdir(dir, 0750) != 0)
		goto out;
	meta = path_of(fs, "uploads/%s/digest", upload_id);
	if (write_file_atomic(meta, digest, strlen(digest)) != 0) {
		remove_dir(dir);
		goto out;
	}
	st = BS_OK;
out:
	free(dir);
	free(meta);
	return st;
}

static void hex_of(const unsigned char *md, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The running SHA-256 of an upload's in-order parts: "<next part>\n<etag>\n...\n" then the saved
 * digest state after a NUL. Updated under flock, so concurrent parts of one upload simply fall back
 * to the slow path (a full re-read at completion). */
typedef struct {
	int next;          /* the part number that may extend the hash */
	buf_t etags;       /* "etag\n" per hashed part */
	digest_state hash;
} running_state;

static int running_load(int fd, running_state *rs)
{
	char data[DIGEST_SAVED_MAX + 1024 * 66];
	buf_t b = BUF_INIT;
	ssize_t n;
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, data, sizeof data)) > 0)
		buf_append(&b, data, (size_t)n);
	int rc = -1;
	const char *nul = b.len ? memchr(b.data, '\0', b.len) : NULL;
	char *err = NULL;
	if (nul && sscanf(b.data, "%d\n", &rs->next) == 1) {
		const char *first = strchr(b.data, '\n');
		if (first && first < nul && buf_append(&rs->etags, first + 1, (size_t)(nul - first - 1)) == 0 &&
		    digest_load(&rs->hash, (const unsigned char *)nul + 1, b.len - (size_t)(nul - b.data) - 1, &err) == 0)
			rc = 0;
	}
	free(err);
	buf_free(&b);
	return rc;
}

static int running_store(int fd, const running_state *rs)
{
	unsigned char saved[DIGEST_SAVED_MAX];
	size_t len = sizeof saved;
	buf_t b = BUF_INIT;
	int rc = -1;
	if (digest_save(&rs->hash, saved, &len) == 0 && buf_printf(&b, "%d\n", rs->next) == 0 &&
	    buf_append(&b, rs->etags.data ? rs->etags.data : "", rs->etags.len) == 0 && buf_append(&b, "", 1) == 0 &&
	    buf_append(&b, saved, len) == 0 && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
	    write_all(fd, b.data, b.len) == 0)
		rc = 0;
	buf_free(&b);
	return rc;
}

static int pwrite_all(int fd, const void *data, size_t len, long long off)
{
	const char *p = data;
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/* Turn the running hash off for good: completion re-reads the parts. */
static void running_disable(int rfd)
{
	if (ftruncate(rfd, 0) == 0)
		(void)pwrite_all(rfd, "0\n", 2, 0);
}

static bs_status fs_put_part(blobstore *s, const char *id, int number, bs_reader read_fn, void *ctx,
			     char etag[BS_ETAG_LEN + 1])
{
	fs_store *fs = s->impl;
	if (!blobstore_upload_id_ok(id) || !upload_exists(fs, id))
		return BS_INVALID_UPLOAD_ID;
	if (number < 1 || number > BS_MAX_PARTS)
		return BS_INVALID_PART;
	char rnd[17];
	random_hex(rnd, 16);
	char *tmp = NULL, *final = NULL, *running = path_of(fs, "uploads/%s/running", id);
	unsigned char *chunk = malloc(COPY_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bs_status st = BS_IO;
	running_state rs = {.etags = BUF_INIT};
	/* Extend the running hash when this is the next part in order and nobody else is at it. */
	int rfd = running ? open(running, O_RDWR | O_CREAT | O_CLOEXEC, 0640) : -1, hashing = 0, fd = -1;
	if (rfd >= 0 && flock(rfd, LOCK_EX | LOCK_NB) == 0) {
		struct stat rst;
		if (fstat(rfd, &rst) == 0 && rst.st_size == 0)
			hashing = number == 1 && digest_init(&rs.hash, DIGEST_SHA256) == 0;
		else
			hashing = running_load(rfd, &rs) == 0 && rs.next == number;
	}
	/* An in-order part goes straight into the blob's data file at the end of the parts before it
	 * (so completion only renames it); any other part into a file of its own. */
	long long base = hashing ? (long long)digest_count(&rs.hash) : 0;
	tmp = hashing ? path_of(fs, "uploads/%s/data", id) : path_of(fs, "uploads/%s/.part-%05d.tmp.%s", id, number, rnd);
	fd = tmp ? open(tmp, hashing ? O_WRONLY | O_CREAT | O_CLOEXEC : O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640) : -1;
	if (fd < 0 || !chunk || !md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		goto fail;
	long long total = 0;
	for (;;) {
		ssize_t n = read_fn(ctx, chunk, COPY_CHUNK);
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if (fs->max_part > 0 && total + n > fs->max_part) {
			st = BS_TOO_LARGE;
			goto fail;
		}
		/* One hash per byte: an in-order part extends the running hash, another gets its own. */
		if (hashing)
			digest_update(&rs.hash, chunk, (size_t)n);
		else
			EVP_DigestUpdate(md, chunk, (size_t)n);
		if (pwrite_all(fd, chunk, (size_t)n, base + total) != 0)
			goto fail;
		total += n;
	}
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned sumlen = 32;
	if (hashing)
		digest_final_raw(&rs.hash, sum);
	else
		EVP_DigestFinal_ex(md, sum, &sumlen);
	hex_of(sum, sumlen, etag);
	close(fd);
	fd = -1;
	if (hashing) {
		/* span-NNNNN-<etag> says where in data the part lies, for a completion that re-reads */
		final = path_of(fs, "uploads/%s/span-%05d-%s", id, number, etag);
		char span[64];
		int n = snprintf(span, sizeof span, "%lld %lld\n", base, total);
		int sfd = final ? open(final, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1;
		int wrote = sfd >= 0 && pwrite_all(sfd, span, (size_t)n, 0) == 0;
		if (sfd >= 0)
			close(sfd);
		rs.next = number + 1;
		if (!wrote || buf_printf(&rs.etags, "%s\n", etag) != 0 || running_store(rfd, &rs) != 0)
			goto fail;
	} else {
		final = path_of(fs, "uploads/%s/part-%05d-%s", id, number, etag);
		if (rename(tmp, final) != 0)
			goto fail;
	}
	st = BS_OK;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	if (!hashing && tmp)
		unlink(tmp);
	/* The hash (and data's tail) may hold this part's bytes: only a complete re-read is right now. */
	if (hashing && rfd >= 0)
		running_disable(rfd);
out:
	if (rfd >= 0)
		close(rfd); /* releases the lock */
	buf_free(&rs.etags);
	EVP_MD_CTX_free(md);
	free(chunk);
	free(tmp);
	free(final);
	free(running);
	return st;
}

/* Append len bytes of the file at path from off (len -1: to its end) to fd, hashing them; -1 on error. */
static int append_hashed(int fd, const char *path, long long off, long long len, EVP_MD_CTX *md, unsigned char *chunk,
			 long long *size)
{
	int in = open(path, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -1;
	int rc = -1;
	while (len != 0) {
		size_t want = len > 0 && len < COPY_CHUNK ? (size_t)len : COPY_CHUNK;
		ssize_t n = pread(in, chunk, want, (off_t)off);
		if (n < 0)
			goto out;
		if (n == 0) {
			if (len > 0)
				goto out; /* data is shorter than its span says */
			break;
		}
		EVP_DigestUpdate(md, chunk, (size_t)n);
		if (write_all(fd, chunk, (size_t)n) != 0)
			goto out;
		*size += n;
		off += n;
		if (len > 0)
			len -= n;
	}
	rc = 0;
out:
	close(in);
	return rc;
}

/* 1 when the running hash covers exactly these parts in order and equals digest; *mismatch = 1 when it
 * covers them but the digest differs. 0 otherwise (the slow path decides). */
static int running_matches(const fs_store *fs, const char *id, const char *digest, const bs_part *parts,
			   size_t nparts, int *mismatch)
{
	if (strncmp(digest, "sha256:", 7) != 0)
		return 0;
	char *path = path_of(fs, "uploads/%s/running", id);
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1, ok = 0;
	free(path);
	if (fd < 0)
		return 0;
	running_state rs = {.etags = BUF_INIT};
	buf_t want = BUF_INIT;
	if (flock(fd, LOCK_SH) != 0 || running_load(fd, &rs) != 0 || rs.next != (int)nparts + 1)
		goto out;
	for (size_t i = 0; i < nparts; i++)
		if (parts[i].number != (int)i + 1 || buf_printf(&want, "%s\n", parts[i].etag) != 0)
			goto out;
	if (want.len == rs.etags.len && memcmp(want.data, rs.etags.data, want.len) == 0) {
		char *d = digest_final(&rs.hash);
		if (d && strcmp(d, digest) == 0)
			ok = 1;
		else if (d)
			*mismatch = 1;
		free(d);
	}
out:
	buf_free(&want);
	buf_free(&rs.etags);
	close(fd);
	return ok;
}

/* The blob of an upload whose parts all arrived in order is its data file: move it to tmp, fsync'd. */
static bs_status assemble_known(const fs_store *fs, const char *id, const char *tmp, long long *total)
{
	char *data = path_of(fs, "uploads/%s/data", id);
	struct stat dst;
	bs_status st = BS_IO;
	if (data && stat(data, &dst) == 0 && rename(data, tmp) == 0) {
		int fd = open(tmp, O_RDONLY | O_CLOEXEC);
		if (fd >= 0 && fsync(fd) == 0) {
			*total = dst.st_size;
			st = BS_OK;
		}
		if (fd >= 0)
			close(fd);
	} else if (errno == ENOENT) {
		st = BS_MISSING_PARTS;
	}
	free(data);
	return st;
}

/* Copy parts into fd while hashing them with alg; the hex digest goes to hex. */
static bs_status assemble_hashed(const fs_store *fs, const char *id, const bs_part *parts, size_t nparts, int fd,
				 const EVP_MD *alg, long long *total, char *hex)
{
	unsigned char *chunk = malloc(COPY_CHUNK);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bs_status st = BS_IO;
	if (!chunk || !md || !EVP_DigestInit_ex(md, alg, NULL))
		goto out;
	for (size_t i = 0; i < nparts; i++) {
		/* a part of its own, or a span of the data file */
		char *part = path_of(fs, "uploads/%s/part-%05d-%s", id, parts[i].number, parts[i].etag);
		char *span = path_of(fs, "uploads/%s/span-%05d-%s", id, parts[i].number, parts[i].etag);
		char *data = path_of(fs, "uploads/%s/data", id);
		struct stat pst;
		long long off = 0, len = -1;
		int rc = -2;
		if (part && stat(part, &pst) == 0) {
			rc = append_hashed(fd, part, 0, -1, md, chunk, total);
		} else if (span && data) {
			FILE *f = fopen(span, "re");
			if (f && fscanf(f, "%lld %lld", &off, &len) == 2 && off >= 0 && len >= 0)
				rc = append_hashed(fd, data, off, len, md, chunk, total);
			if (f)
				fclose(f);
		}
		free(part);
		free(span);
		free(data);
		if (rc != 0) {
			st = rc == -2 ? BS_MISSING_PARTS : BS_IO;
			goto out;
		}
	}
	unsigned char sum[EVP_MAX_MD_SIZE];
	unsigned sumlen = 0;
	EVP_DigestFinal_ex(md, sum, &sumlen);
	hex_of(sum, sumlen, hex);
	st = fsync(fd) == 0 ? BS_OK : BS_IO;
out:
	EVP_MD_CTX_free(md);
	free(chunk);
	return st;
}

static bs_status fs_complete(blobstore *s, const char *id, const char *digest, const bs_part *parts,
			     size_t nparts, long long *size)
{
	fs_store *fs = s->impl;
	if (!blobstore_upload_id_ok(id) || !upload_exists(fs, id))
		return BS_INVALID_UPLOAD_ID;
	if (!blobstore_digest_ok(digest))
		return BS_INVALID_DIGEST;
	if (nparts == 0)
		return BS_MISSING_PARTS;
	for (size_t i = 0; i < nparts; i++) {
		if (parts[i].number < 1 || parts[i].number > BS_MAX_PARTS || (i > 0 && parts[i].number <= parts[i - 1].number))
			return BS_INVALID_PART;
		if (!parts[i].etag || strlen(parts[i].etag) != BS_ETAG_LEN || !is_lower_hex(parts[i].etag, BS_ETAG_LEN))
			return BS_INVALID_PART;
	}

	char rnd[17];
	random_hex(rnd, 16);
	char *tmp = path_of(fs, "tmp/%s", rnd), *final = NULL, *dir = NULL, *udir = upload_dir(fs, id);
	bs_status st = BS_IO;
	long long total = 0;
	int mismatch = 0;
	if (running_matches(fs, id, digest, parts, nparts, &mismatch)) {
		/* Every byte was hashed as it arrived and written in place: no second read, no copy. */
		st = assemble_known(fs, id, tmp, &total);
	} else if (mismatch) {
		st = BS_INVALID_DIGEST;
	} else {
		char hex[2 * EVP_MAX_MD_SIZE + 1];
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		st = fd < 0 ? BS_IO
			    : assemble_hashed(fs, id, parts, nparts, fd, strncmp(digest, "sha512:", 7) == 0 ? EVP_sha512()
											   : EVP_sha256(),
					      &total, hex);
		if (fd >= 0)
			close(fd);
		if (st == BS_OK && strcmp(hex, digest + 7) != 0)
			st = BS_INVALID_DIGEST;
	}
	if (st == BS_INVALID_DIGEST)
		remove_dir(udir); /* keep nothing: the bytes are not what was promised */
	if (st != BS_OK)
		goto fail;
	st = BS_IO;
	final = blob_path(fs, digest);
	dir = strdup(final);
	*strrchr(dir, '/') = '\0';
	/* Stored now, whatever the parts' age: a collection racing this completion must see it as new. */
	if (mkdir_p(dir, 0750) != 0 || utimensat(AT_FDCWD, tmp, NULL, 0) != 0 || rename(tmp, final) != 0 ||
	    fsync_dir(dir) != 0)
		goto fail;
	remove_dir(udir);
	if (size)
		*size = total;
	st = BS_OK;
	goto out;
fail:
	unlink(tmp);
out:
	free(tmp);
	free(final);
	free(dir);
	free(udir);
	return st;
}

static bs_status fs_abort(blobstore *s, const char *id)
{
	fs_store *fs = s->impl;
	if (!blobstore_upload_id_ok(id) || !upload_exists(fs, id))
		return BS_INVALID_UPLOAD_ID;
	char *dir = upload_dir(fs, id);
	remove_dir(dir);
	free(dir);
	return BS_OK;
}

static bs_status fs_stat(blobstore *s, const char *digest, long long *size)
{
	if (!blobstore_digest_ok(digest))
		return BS_INVALID_DIGEST;
	char *p = blob_path(s->impl, digest);
	struct stat st;
	int rc = stat(p, &st);
	free(p);
	if (rc != 0 || !S_ISREG(st.st_mode))
		return BS_NOT_FOUND;
	if (size)
		*size = st.st_size;
	return BS_OK;
}

static char *fs_local_path(blobstore *s, const char *digest)
{
	return blobstore_digest_ok(digest) ? blob_path(s->impl, digest) : NULL;
}

/* Remove entries of dir (files, or upload directories) older than cutoff; count them. */
static int expire_in(const char *dir, time_t cutoff, int dirs)
{
	DIR *d = opendir(dir);
	int n = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		buf_t p = BUF_INIT;
		buf_printf(&p, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(buf_str(&p), &st) == 0 && st.st_mtime < cutoff) {
			if (dirs && S_ISDIR(st.st_mode))
				remove_dir(buf_str(&p));
			else
				unlink(buf_str(&p));
			n++;
		}
		buf_free(&p);
	}
	closedir(d);
	return n;
}

static int fs_expire_uploads(blobstore *s, long max_age)
{
	fs_store *fs = s->impl;
	time_t cutoff = time(NULL) - max_age;
	char *u = path_of(fs, "uploads"), *t = path_of(fs, "tmp");
	int n = expire_in(u, cutoff, 1) + expire_in(t, cutoff, 0);
	free(u);
	free(t);
	return n;
}

/* The digest a blob file stands for, from its place blobs/<alg>/<2 hex>/<hex>; 0 when it is not one. */
static int digest_of_entry(const char *alg, const char *sub, const char *name, char out[7 + 128 + 1])
{
	size_t n = strlen(name);
	if (strlen(alg) != 6 || strlen(sub) != 2 || strncmp(name, sub, 2) != 0 || n > 128)
		return 0;
	memcpy(out, alg, 6);
	out[6] = ':';
	memcpy(out + 7, name, n + 1);
	return blobstore_digest_ok(out);
}

static int fs_list(blobstore *s, bs_blob_fn fn, void *ctx)
{
	fs_store *fs = s->impl;
	static const char *const algs[] = {"sha256", "sha512"};
	int rc = 0, stop = 0;
	for (size_t a = 0; a < 2 && !stop && rc == 0; a++) {
		char *adir = path_of(fs, "blobs/%s", algs[a]);
		DIR *d = opendir(adir);
		if (!d) {
			rc = errno == ENOENT ? 0 : -1; /* no blob of that algorithm yet */
			free(adir);
			continue;
		}
		struct dirent *sub;
		while (!stop && rc == 0 && (sub = readdir(d))) {
			if (sub->d_name[0] == '.')
				continue;
			char *sdir = path_of(fs, "blobs/%s/%s", algs[a], sub->d_name);
			DIR *sd = opendir(sdir);
			struct dirent *e;
			while (sd && !stop && (e = readdir(sd))) {
				char digest[7 + 128 + 1];
				if (!digest_of_entry(algs[a], sub->d_name, e->d_name, digest))
					continue;
				buf_t p = BUF_INIT;
				buf_printf(&p, "%s/%s", sdir, e->d_name);
				struct stat st;
				/* one removed since readdir saw it is simply not listed */
				if (stat(buf_str(&p), &st) == 0 && S_ISREG(st.st_mode))
					stop = fn(ctx, digest, (long long)st.st_size, (long long)st.st_mtime);
				buf_free(&p);
			}
			if (sd)
				closedir(sd);
			else if (errno != ENOENT && errno != ENOTDIR)
				rc = -1;
			free(sdir);
		}
		closedir(d);
		free(adir);
	}
	return rc;
}

static int fs_list_uploads(blobstore *s, bs_upload_fn fn, void *ctx)
{
	fs_store *fs = s->impl;
	char *udir = path_of(fs, "uploads");
	DIR *d = opendir(udir);
	free(udir);
	if (!d)
		return -1;
	struct dirent *e;
	int stop = 0;
	while (!stop && (e = readdir(d))) {
		if (!blobstore_upload_id_ok(e->d_name))
			continue;
		char *meta = path_of(fs, "uploads/%s/digest", e->d_name), hint[257];
		int fd = open(meta, O_RDONLY | O_CLOEXEC);
		free(meta);
		if (fd < 0)
			continue; /* completed or aborted since */
		ssize_t n = read(fd, hint, sizeof hint - 1);
		close(fd);
		if (n <= 0)
			continue;
		hint[n] = '\0';
		stop = fn(ctx, e->d_name, hint);
	}
	closedir(d);
	return 0;
}

static bs_status fs_touch(blobstore *s, const char *digest, long long cutoff)
{
	if (!blobstore_digest_ok(digest))
		return BS_INVALID_DIGEST;
	char *p = blob_path(s->impl, digest);
	struct stat st;
	bs_status rc = BS_NOT_FOUND;
	if (stat(p, &st) == 0 && S_ISREG(st.st_mode)) {
		rc = BS_OK;
		/* ENOENT: a collection took it between the stat and now; EROFS and the like: nothing to mark */
		if ((long long)st.st_mtime <= cutoff && utimensat(AT_FDCWD, p, NULL, 0) != 0 && errno == ENOENT)
			rc = BS_NOT_FOUND;
	}
	free(p);
	return rc;
}

static bs_status fs_remove(blobstore *s, const char *digest, long long cutoff, int *removed, long long *size)
{
	fs_store *fs = s->impl;
	*removed = 0;
	if (!blobstore_digest_ok(digest))
		return BS_INVALID_DIGEST;
	char rnd[17];
	random_hex(rnd, 16);
	char *path = blob_path(fs, digest), *trash = path_of(fs, "tmp/gc-%s", rnd);
	bs_status rc = BS_IO;
	struct stat st;
	if (rename(path, trash) != 0) {
		rc = errno == ENOENT ? BS_NOT_FOUND : BS_IO;
		goto out;
	}
	/* Out of sight now: nothing can mark this file any more, so its mark is final. */
	int young = stat(trash, &st) != 0 || (long long)st.st_mtime > cutoff;
	if (size && young == 0)
		*size = (long long)st.st_size;
	if (young) {
		/* Put it back, unless a new copy (the same bytes, newer) is already in place. */
		if (link(trash, path) == 0 || errno == EEXIST)
			rc = unlink(trash) == 0 ? BS_OK : BS_IO;
		else if (rename(trash, path) == 0)
			rc = BS_OK;
		goto out;
	}
	if (unlink(trash) != 0)
		goto out;
	*removed = 1;
	rc = BS_OK;
out:
	free(path);
	free(trash);
	return rc;
}

static void fs_close(blobstore *s)
{
	if (!s)
		return;
	fs_store *fs = s->impl;
	free(fs->root);
	free(fs);
	free(s);
}

static const bs_driver fs_driver = {
	.name = "filesystem",
	.initiate = fs_initiate,
	.put_part = fs_put_part,
	.complete = fs_complete,
	.abort = fs_abort,
	.stat = fs_stat,
	.local_path = fs_local_path,
	.expire_uploads = fs_expire_uploads,
	.list = fs_list,
	.list_uploads = fs_list_uploads,
	.touch = fs_touch,
	.remove = fs_remove,
	.close = fs_close,
};

blobstore *blobstore_fs_open(const char *dir, long long max_part_size, char **err)
{
	blobstore *s = calloc(1, sizeof *s);
	fs_store *fs = calloc(1, sizeof *fs);
	if (!s || !fs)
		goto fail;
	fs->root = strdup(dir);
	fs->max_part = max_part_size;
	size_t n = strlen(fs->root);
	while (n > 1 && fs->root[n - 1] == '/')
		fs->root[--n] = '\0';
	s->drv = &fs_driver;
	s->impl = fs;
	static const char *const subdirs[] = {"", "blobs", "uploads", "tmp"};
	for (size_t i = 0; i < sizeof subdirs / sizeof *subdirs; i++) {
		char *p = path_of(fs, "%s", subdirs[i]);
		int rc = mkdir_p(p, 0750);
		free(p);
		if (rc != 0) {
			if (err) {
				buf_t m = BUF_INIT;
				buf_printf(&m, "cannot create %s/%s: %s", dir, subdirs[i], strerror(errno));
				*err = buf_detach(&m);
			}
			fs_close(s);
			return NULL;
		}
	}
	/* Assembly files of a crashed process are never referenced again; younger ones may belong to a
	 * process still running (a CLI command opens the store next to `serve`). */
	char *t = path_of(fs, "tmp");
	expire_in(t, time(NULL) - TMP_STALE, 0);
	free(t);
	return s;
fail:
	free(s);
	free(fs);
	if (err)
		*err = strdup("out of memory");
	return NULL;
}
