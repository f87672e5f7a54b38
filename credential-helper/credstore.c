/* credstore.c - docker-credential-atcr's credentials file (see credstore.h). */
#include "credstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILE_MAX (1 << 20)

static int fail(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(char **err, const char *fmt, ...)
{
	va_list ap;
	char *msg = NULL;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	if (err) {
		free(*err);
		*err = msg;
	} else {
		free(msg);
	}
	return -1;
}

char *credstore_key(const char *server_url)
{
	const char *s = server_url ? server_url : "";
	s += strspn(s, " \t\r\n");
	const char *scheme = strstr(s, "://");
	if (scheme && (size_t)(scheme - s) < strcspn(s, "/"))
		s = scheme + 3;
	size_t len = strcspn(s, "/ \t\r\n");
	if (!len)
		return NULL;
	char *key = strndup(s, len);
	for (char *p = key; p && *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return key;
}

char *credstore_path(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *path = NULL;
	if (xdg && xdg[0] == '/') {
		if (asprintf(&path, "%s/atcr/credentials.json", xdg) < 0)
			path = NULL;
	} else if (home && *home) {
		if (asprintf(&path, "%s/.config/atcr/credentials.json", home) < 0)
			path = NULL;
	}
	return path;
}

json_object *credstore_parse(const char *text, char **err)
{
	json_object *root = text && *text ? json_tokener_parse(text) : json_object_new_object(), *creds;
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		fail(err, "the credentials file is not a JSON object");
		return NULL;
	}
	if (!json_object_object_get_ex(root, "credentials", &creds)) {
		json_object_object_add(root, "credentials", json_object_new_object());
	} else if (!json_object_is_type(creds, json_type_object)) {
		json_object_put(root);
		fail(err, "the credentials file's \"credentials\" is not an object");
		return NULL;
	}
	return root;
}

/* The whole file (NULL with *missing = 1 when it does not exist), or NULL with *err. */
static char *read_file(const char *path, int *missing, char **err)
{
	*missing = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT)
			*missing = 1;
		else
			fail(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	char *text = malloc(FILE_MAX + 1);
	size_t n = text ? fread(text, 1, FILE_MAX + 1, f) : 0;
	int bad = !text || ferror(f) || n > FILE_MAX;
	fclose(f);
	if (bad) {
		free(text);
		fail(err, "%s: cannot be read (or larger than 1 MiB)", path);
		return NULL;
	}
	text[n] = '\0';
	return text;
}

/* The parsed file (an empty one when it does not exist). Caller puts; NULL with *err. */
static json_object *load(const char *path, char **err)
{
	int missing;
	char *text = read_file(path, &missing, err);
	json_object *root = text || missing ? credstore_parse(text, err) : NULL;
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	if (!root && err && *err && !strstr(*err, path)) {
		char *why = *err;
		*err = NULL;
		fail(err, "%s: %s", path, why);
		free(why);
	}
	return root;
}

static const char *str_member(json_object *o, const char *name)
{
	json_object *v;
	return json_object_object_get_ex(o, name, &v) && json_object_is_type(v, json_type_string)
		       ? json_object_get_string(v)
		       : NULL;
}

int credstore_get(const char *path, const char *key, credstore_entry *out, char **err)
{
	memset(out, 0, sizeof *out);
	json_object *root = load(path, err), *creds, *entry;
	if (!root)
		return -1;
	int rc = 0;
	json_object_object_get_ex(root, "credentials", &creds);
	if (json_object_object_get_ex(creds, key, &entry) && json_object_is_type(entry, json_type_object)) {
		const char *user = str_member(entry, "username"), *secret = str_member(entry, "secret"),
			   *did = str_member(entry, "did");
		if (user && secret) {
			out->username = strdup(user);
			out->secret = strdup(secret);
			out->did = did ? strdup(did) : NULL;
			rc = out->username && out->secret ? 1 : fail(err, "out of memory");
		}
	}
	json_object_put(root);
	return rc;
}

/* mkdir -p for the file's directory, the last level 0700. */
static int make_dir(const char *path, char **err)
{
	char *dir = strdup(path);
	int rc = 0;
	if (!dir)
		return fail(err, "out of memory");
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	for (char *p = dir + 1; *p && rc == 0; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			rc = fail(err, "%s: %s", dir, strerror(errno));
		*p = '/';
	}
	if (rc == 0 && *dir && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = fail(err, "%s: %s", dir, strerror(errno));
	free(dir);
	return rc;
}

/* Write text to a new file beside path and rename it over path: readers see the old or the new file,
 * never half of one. */
static int replace_file(const char *path, const char *text, char **err)
{
	char *tmp = NULL, *dir = strdup(path);
	int fd = -1, rc = -1;
	if (!dir || asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		tmp = NULL;
		fail(err, "out of memory");
		goto out;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) < 0) { /* mode 0600 */
		fail(err, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t len = strlen(text), done = 0;
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	if (done != len || fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
		fail(err, "%s: %s", tmp, strerror(errno ? errno : EIO));
		goto out;
	}
	close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		fail(err, "%s: %s", path, strerror(errno));
		goto out;
	}
	free(tmp);
	tmp = NULL;
	char *slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	int dfd = open(*dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) { /* the rename itself survives a crash */
		fsync(dfd);
		close(dfd);
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp)
		unlink(tmp);
	free(tmp);
	free(dir);
	return rc;
}

int credstore_put(const char *path, const char *key, const credstore_entry *e, char **err)
{
	char *lock_path = NULL;
	json_object *root = NULL, *creds;
	int lock = -1, rc = -1;
	if (make_dir(path, err) != 0)
		return -1;
	if (asprintf(&lock_path, "%s.lock", path) < 0) {
		lock_path = NULL;
		return fail(err, "out of memory");
	}
	/* One writer at a time: skopeo and docker may run several helpers at once. */
	lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || flock(lock, LOCK_EX) != 0) {
		fail(err, "%s: %s", lock_path, strerror(errno));
		goto out;
	}
	if (!(root = load(path, err)))
		goto out;
	json_object_object_get_ex(root, "credentials", &creds);
	if (e) {
		json_object *entry = json_object_new_object();
		json_object_object_add(entry, "username", json_object_new_string(e->username ? e->username : ""));
		json_object_object_add(entry, "secret", json_object_new_string(e->secret ? e->secret : ""));
		if (e->did)
			json_object_object_add(entry, "did", json_object_new_string(e->did));
		json_object_object_add(creds, key, entry);
	} else if (!json_object_object_get_ex(creds, key, NULL)) {
		rc = 1;
		goto out;
	} else {
		json_object_object_del(creds, key);
	}
	const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
	rc = text ? replace_file(path, text, err) : fail(err, "out of memory");
	if (text)
		explicit_bzero((char *)text, strlen(text));
out:
	if (lock >= 0)
		close(lock); /* releases the lock */
	json_object_put(root);
	free(lock_path);
	return rc;
}

json_object *credstore_list(const char *path, char **err)
{
	json_object *root = load(path, err), *creds, *out = NULL;
	if (!root)
		return NULL;
	out = json_object_new_object();
	json_object_object_get_ex(root, "credentials", &creds);
	json_object_object_foreach(creds, key, entry)
	{
		const char *user = json_object_is_type(entry, json_type_object) ? str_member(entry, "username") : NULL;
		if (user)
			json_object_object_add(out, key, json_object_new_string(user));
	}
	json_object_put(root);
	return out;
}

void credstore_entry_free(credstore_entry *e)
{
	free(e->username);
	if (e->secret)
		explicit_bzero(e->secret, strlen(e->secret));
	free(e->secret);
	free(e->did);
	memset(e, 0, sizeof *e);
}
