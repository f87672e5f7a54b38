/* credstore.h - docker-credential-atcr's credentials file: $XDG_CONFIG_HOME/atcr/credentials.json (or
 * ~/.config/atcr/...), mode 0600 in a 0700 directory, replaced atomically under a lock, one entry per
 * registry host: {"credentials": {"<host[:port]>": {"username", "secret", "did"?}}}. */
#ifndef ATCR_CREDSTORE_H
#define ATCR_CREDSTORE_H
#include <json-c/json.h>

typedef struct {
	char *username; /* the handle (device logins) or what `docker login` gave */
	char *secret;   /* a device secret (atcr_dev_...) or an app password */
	char *did;      /* device logins only; NULL otherwise */
} credstore_entry;

/* The key a server URL is stored under: blanks trimmed, the scheme and any path dropped, the host
 * lower-cased ("https://Registry.Example/v2/" -> "registry.example"). Caller frees; NULL when nothing
 * is left. */
char *credstore_key(const char *server_url);
/* The credentials file: $XDG_CONFIG_HOME/atcr/credentials.json when XDG_CONFIG_HOME is an absolute path,
 * else $HOME/.config/atcr/credentials.json. Caller frees; NULL without HOME. */
char *credstore_path(void);

/* Parse the file's text (NULL or empty: no entries). The object {"credentials": {...}} (caller puts), or
 * NULL with *err (caller frees) when it is not that shape. */
json_object *credstore_parse(const char *text, char **err);

/* The entry stored for key in path: 1 (out filled; free with credstore_entry_free), 0 none (also when the
 * file does not exist), -1 with *err. */
int credstore_get(const char *path, const char *key, credstore_entry *out, char **err);
/* Store (e not NULL) or remove (e NULL) the entry of key in path, creating the directory (0700) and the
 * file (0600) as needed; the file is replaced by rename, under an flock on path.lock. 0; 1 when removing
 * an entry that is not there; -1 with *err. */
int credstore_put(const char *path, const char *key, const credstore_entry *e, char **err);
/* {"<key>": "<username>", ...} of every entry (docker's `list`). Caller puts; NULL with *err. */
json_object *credstore_list(const char *path, char **err);
/* Frees and wipes the secret. */
void credstore_entry_free(credstore_entry *e);

#endif
