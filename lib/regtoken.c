/* regtoken.c - Docker registry token auth (https://distribution.github.io/distribution/spec/auth/). */
#include "regtoken.h"

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "encoding.h"
#include "fcgi.h"
#include "jwt.h"

#define NAME_MAX_LEN 512
#define TYPE_MAX_LEN 64

static const struct {
	const char *name;
	unsigned bit;
} action_names[] = {
	{"pull", REGTOKEN_PULL},
	{"push", REGTOKEN_PUSH},
	{"delete", REGTOKEN_DELETE},
	{"*", REGTOKEN_ANY},
};
#define N_ACTIONS (sizeof action_names / sizeof action_names[0])

/* ---------------------------------------------------------------- grammar checks */

static int is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

/* resourcetypevalue := [a-z0-9]+ ([._-][a-z0-9]+)* ; len bytes of s */
static int type_value_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[len - 1]))
		return 0;
	for (i = 1; i < len; i++) {
		if (is_lower_alnum(s[i]))
			continue;
		if (!strchr("._-", s[i]) || !is_lower_alnum(s[i + 1]))
			return 0;
	}
	return 1;
}

/* resourcetype := value [ '(' value ')' ], as in "repository(plugin)" */
static int type_ok(const char *s, size_t len)
{
	const char *open = memchr(s, '(', len);

	if (len > TYPE_MAX_LEN)
		return 0;
	if (!open)
		return type_value_ok(s, len);
	if (s[len - 1] != ')')
		return 0;
	return type_value_ok(s, (size_t)(open - s)) &&
	       type_value_ok(open + 1, (size_t)(s + len - 1 - (open + 1)));
}

/* Repository names ("alice.test/app", "did:plc:xyz/app", "localhost:5000/x") and "catalog".
 * Quotes, commas, spaces and backslashes never pass, so a name is safe in a header. */
static int name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > NAME_MAX_LEN || s[0] == '/' || s[len - 1] == '/')
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
			continue;
		if (!strchr("._:%-/", c) || c == '\0')
			return 0;
		if (c == '/' && s[i + 1] == '/')
			return 0;
	}
	return 1;
}

/* One action: 0 for a well-formed action we do not know, -1 for a malformed one. */
static int action_bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < N_ACTIONS; i++)
		if (strlen(action_names[i].name) == len && memcmp(action_names[i].name, s, len) == 0)
			return (int)action_names[i].bit;
	if (len == 0)
		return -1;
	for (i = 0; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') && s[i] != '-' && s[i] != '_')
			return -1;
	return 0;
}

/* ---------------------------------------------------------------- access lists */

static regtoken_access *find(const regtoken_access_list *l, const char *type, const char *name)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i].type, type) == 0 && strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

/* Merge without checking the grammar (the callers have). 0 ok, -1 out of memory. */
static int merge(regtoken_access_list *l, const char *type, size_t type_len, const char *name,
		 size_t name_len, unsigned actions)
{
	char *t = strndup(type, type_len), *n = strndup(name, name_len);
	regtoken_access *hit, *grown;
	int rc = -1;

	if (!t || !n)
		goto out;
	hit = find(l, t, n);
	if (hit) {
		hit->actions |= actions;
		rc = 0;
		goto out;
	}
	grown = realloc(l->v, (l->n + 1) * sizeof *l->v);
	if (!grown)
		goto out;
	l->v = grown;
	l->v[l->n].type = t;
	l->v[l->n].name = n;
	l->v[l->n].actions = actions;
	l->n++;
	t = n = NULL;
	rc = 0;
out:
	free(t);
	free(n);
	return rc;
}

int regtoken_access_add(regtoken_access_list *l, const char *type, const char *name,
			unsigned actions, char **err)
{
	if (!type || !type_ok(type, strlen(type)))
		return buf_error(err, "regtoken: bad resource type");
	if (!name || !name_ok(name, strlen(name)))
		return buf_error(err, "regtoken: bad resource name");
	if (merge(l, type, strlen(type), name, strlen(name), actions) != 0)
		return buf_error(err, "regtoken: out of memory");
	return 0;
}

/* One scope "type:name:actions" (len bytes) into l. */
static int parse_one(regtoken_access_list *l, const char *s, size_t len, char **err)
{
	const char *first = memchr(s, ':', len), *last = first, *a, *end = s + len;
	unsigned actions = 0;

	for (const char *p = s; p < end; p++)
		if (*p == ':')
			last = p;
	if (!first || last == first)
		return buf_error(err, "regtoken: malformed scope (want type:name:actions)");
	if (!type_ok(s, (size_t)(first - s)))
		return buf_error(err, "regtoken: malformed scope type");
	if (!name_ok(first + 1, (size_t)(last - first - 1)))
		return buf_error(err, "regtoken: malformed scope name");
	for (a = last + 1;; a++) {
		const char *comma = memchr(a, ',', (size_t)(end - a));
		size_t alen = (size_t)((comma ? comma : end) - a);
		int bit = action_bit(a, alen);
		if (bit < 0)
			return buf_error(err, "regtoken: malformed scope action");
		actions |= (unsigned)bit;
		if (!comma)
			break;
		a = comma;
	}
	if (merge(l, s, (size_t)(first - s), first + 1, (size_t)(last - first - 1), actions) != 0)
		return buf_error(err, "regtoken: out of memory");
	return 0;
}

int regtoken_scope_parse(regtoken_access_list *l, const char *scope, char **err)
{
	regtoken_access_list tmp = {0};
	const char *p = scope;
	size_t i;
	int rc = -1;

	if (!scope)
		return buf_error(err, "regtoken: no scope");
	while (*p) {
		size_t len = strcspn(p, " ");
		if (len > 0 && parse_one(&tmp, p, len, err) != 0)
			goto out;
		p += len;
		while (*p == ' ')
			p++;
	}
	for (i = 0; i < tmp.n; i++) {
		if (merge(l, tmp.v[i].type, strlen(tmp.v[i].type), tmp.v[i].name,
			  strlen(tmp.v[i].name), tmp.v[i].actions) != 0) {
			buf_error(err, "regtoken: out of memory");
			goto out;
		}
	}
	rc = 0;
out:
	regtoken_access_list_free(&tmp);
	return rc;
}

unsigned regtoken_access_get(const regtoken_access_list *l, const char *type, const char *name)
{
	const regtoken_access *hit = l ? find(l, type, name) : NULL;
	return hit ? hit->actions : 0;
}

int regtoken_allows(const regtoken_access_list *l, const char *type, const char *name,
		    unsigned want)
{
	unsigned have = regtoken_access_get(l, type, name);

	if (want == 0)
		return 0;
	return (have & REGTOKEN_ANY) || (have & want) == want;
}

/* "pull,push" for a set of bits into b. */
static int format_actions(buf_t *b, unsigned actions)
{
	const char *sep = "";
	size_t i;

	for (i = 0; i < N_ACTIONS; i++) {
		if (!(actions & action_names[i].bit))
			continue;
		if (buf_printf(b, "%s%s", sep, action_names[i].name) != 0)
			return -1;
		sep = ",";
	}
	return 0;
}

char *regtoken_scope_format(const regtoken_access_list *l)
{
	buf_t b = BUF_INIT;
	size_t i;

	if (buf_puts(&b, "") != 0)
		goto fail;
	for (i = 0; l && i < l->n; i++) {
		if (!l->v[i].actions)
			continue;
		if (buf_printf(&b, "%s%s:%s:", b.len ? " " : "", l->v[i].type, l->v[i].name) != 0 ||
		    format_actions(&b, l->v[i].actions) != 0)
			goto fail;
	}
	return buf_detach(&b);
fail:
	buf_free(&b);
	return NULL;
}

void regtoken_access_list_free(regtoken_access_list *l)
{
	size_t i;

	if (!l)
		return;
	for (i = 0; i < l->n; i++) {
		free(l->v[i].type);
		free(l->v[i].name);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* ---------------------------------------------------------------- the registry JWT */

static const char *cfg_issuer(const regtoken_config *cfg)
{
	return cfg->issuer ? cfg->issuer : cfg->service;
}

/* The Docker "access" claim for l; NULL when out of memory. */
static json_object *access_claim(const regtoken_access_list *l)
{
	json_object *arr = json_object_new_array();
	size_t i, j;

	for (i = 0; arr && l && i < l->n; i++) {
		json_object *e = json_object_new_object(), *acts = json_object_new_array();
		if (!e || !acts) {
			json_object_put(e);
			json_object_put(acts);
			json_object_put(arr);
			return NULL;
		}
		for (j = 0; j < N_ACTIONS; j++)
			if (l->v[i].actions & action_names[j].bit)
				json_object_array_add(acts, json_object_new_string(action_names[j].name));
		json_object_object_add(e, "type", json_object_new_string(l->v[i].type));
		json_object_object_add(e, "name", json_object_new_string(l->v[i].name));
		json_object_object_add(e, "actions", acts);
		json_object_array_add(arr, e);
	}
	return arr;
}

char *regtoken_issue(const regtoken_config *cfg, const char *subject,
		     const regtoken_access_list *access, long long now, char **err)
{
	unsigned char rnd[16];
	json_object *claims = NULL, *header = NULL, *acc = NULL;
	char *jti = NULL, *token = NULL;
	int expiry = cfg->expiry ? cfg->expiry : REGTOKEN_DEFAULT_EXPIRY;

	if (!cfg->key || !cfg->service || !*cfg->service) {
		buf_error(err, "regtoken: no signing key or service name");
		goto out;
	}
	if (expiry < 0) {
		buf_error(err, "regtoken: negative expiry");
		goto out;
	}
	if (crypto_random(rnd, sizeof rnd) != 0 || !(jti = enc_b64url_encode(rnd, sizeof rnd))) {
		buf_error(err, "regtoken: no random jti");
		goto out;
	}
	claims = json_object_new_object();
	acc = access_claim(access);
	if (!claims || !acc) {
		buf_error(err, "regtoken: out of memory");
		goto out;
	}
	json_object_object_add(claims, "iss", json_object_new_string(cfg_issuer(cfg)));
	json_object_object_add(claims, "sub", json_object_new_string(subject ? subject : ""));
	json_object_object_add(claims, "aud", json_object_new_string(cfg->service));
	json_object_object_add(claims, "exp", json_object_new_int64(now + expiry));
	json_object_object_add(claims, "nbf", json_object_new_int64(now));
	json_object_object_add(claims, "iat", json_object_new_int64(now));
	json_object_object_add(claims, "jti", json_object_new_string(jti));
	json_object_object_add(claims, "access", acc);
	acc = NULL;
	if (cfg->kid) {
		header = json_object_new_object();
		if (!header) {
			buf_error(err, "regtoken: out of memory");
			goto out;
		}
		json_object_object_add(header, "kid", json_object_new_string(cfg->kid));
	}
	token = jwt_sign(header, claims, cfg->key, err);
out:
	json_object_put(acc);
	json_object_put(claims);
	json_object_put(header);
	free(jti);
	return token;
}

/* The access claim of a verified token into out; absent means nothing granted. */
static int read_access(const jwt_t *t, regtoken_access_list *out, char **err)
{
	json_object *arr;
	size_t i, j, n;

	if (!json_object_object_get_ex(t->claims, "access", &arr) || json_object_is_type(arr, json_type_null))
		return 0;
	if (!json_object_is_type(arr, json_type_array))
		return buf_error(err, "regtoken: access claim is not an array");
	n = json_object_array_length(arr);
	for (i = 0; i < n; i++) {
		json_object *e = json_object_array_get_idx(arr, i), *type, *name, *acts;
		unsigned actions = 0;
		if (!json_object_is_type(e, json_type_object) ||
		    !json_object_object_get_ex(e, "type", &type) ||
		    !json_object_is_type(type, json_type_string) ||
		    !json_object_object_get_ex(e, "name", &name) ||
		    !json_object_is_type(name, json_type_string))
			return buf_error(err, "regtoken: malformed access entry");
		if (json_object_object_get_ex(e, "actions", &acts) &&
		    !json_object_is_type(acts, json_type_null)) {
			if (!json_object_is_type(acts, json_type_array))
				return buf_error(err, "regtoken: access actions is not an array");
			for (j = 0; j < json_object_array_length(acts); j++) {
				json_object *a = json_object_array_get_idx(acts, j);
				const char *s = json_object_get_string(a);
				int bit;
				if (!json_object_is_type(a, json_type_string) ||
				    (bit = action_bit(s, strlen(s))) < 0)
					return buf_error(err, "regtoken: malformed access action");
				actions |= (unsigned)bit;
			}
		}
		if (regtoken_access_add(out, json_object_get_string(type), json_object_get_string(name),
					actions, err) != 0)
			return -1;
	}
	return 0;
}

int regtoken_verify(const regtoken_config *cfg, const char *token, long long now, char **subject,
		    regtoken_access_list *access, char **err)
{
	jwt_t t = {0};
	regtoken_access_list granted = {0};
	const char *iss, *sub;
	int skew = cfg->skew ? cfg->skew : REGTOKEN_DEFAULT_SKEW, rc = -1;
	size_t i;

	if (subject)
		*subject = NULL;
	if (!cfg->key || !cfg->service) {
		buf_error(err, "regtoken: no key or service name to verify with");
		goto out;
	}
	if (!token) {
		buf_error(err, "regtoken: no token");
		goto out;
	}
	if (jwt_decode(token, &t, err) != 0 || jwt_verify(&t, cfg->key, err) != 0)
		goto out;
	iss = jwt_claim_str(&t, "iss");
	if (!iss || strcmp(iss, cfg_issuer(cfg)) != 0) {
		buf_error(err, "regtoken: wrong issuer (iss)");
		goto out;
	}
	if (jwt_check_claims(&t, now, skew, cfg->service, NULL, err) != 0)
		goto out;
	sub = jwt_claim_str(&t, "sub");
	if (!sub) {
		buf_error(err, "regtoken: sub missing");
		goto out;
	}
	if (read_access(&t, &granted, err) != 0)
		goto out;
	if (subject && !(*subject = strdup(sub))) {
		buf_error(err, "regtoken: out of memory");
		goto out;
	}
	for (i = 0; access && i < granted.n; i++) {
		if (regtoken_access_add(access, granted.v[i].type, granted.v[i].name,
					granted.v[i].actions, err) != 0)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0 && subject) {
		free(*subject);
		*subject = NULL;
	}
	regtoken_access_list_free(&granted);
	jwt_free(&t);
	return rc;
}

/* ---------------------------------------------------------------- HTTP pieces */

/* name="value" with '"' and '\' escaped; -1 for a control character or out of memory. */
static int put_quoted(buf_t *b, const char *sep, const char *name, const char *value)
{
	const unsigned char *p;

	if (buf_printf(b, "%s%s=\"", sep, name) != 0)
		return -1;
	for (p = (const unsigned char *)value; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return -1;
		if ((*p == '"' || *p == '\\') && buf_append(b, "\\", 1) != 0)
			return -1;
		if (buf_append(b, p, 1) != 0)
			return -1;
	}
	return buf_puts(b, "\"");
}

char *regtoken_challenge(const char *realm, const char *service, const char *scope,
			 const char *error)
{
	buf_t b = BUF_INIT;

	if (!realm || !service)
		return NULL;
	if (buf_puts(&b, "Bearer ") != 0 || put_quoted(&b, "", "realm", realm) != 0 ||
	    put_quoted(&b, ",", "service", service) != 0 ||
	    (scope && put_quoted(&b, ",", "scope", scope) != 0) ||
	    (error && put_quoted(&b, ",", "error", error) != 0)) {
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

char *regtoken_response_json(const char *token, int expires_in, long long issued_at,
			     const char *refresh_token)
{
	json_object *o = json_object_new_object();
	char when[32];
	time_t tt = (time_t)issued_at;
	struct tm tm;
	const char *s;
	char *out = NULL;

	if (!o || !token || !gmtime_r(&tt, &tm) ||
	    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		goto out;
	json_object_object_add(o, "token", json_object_new_string(token));
	json_object_object_add(o, "access_token", json_object_new_string(token));
	json_object_object_add(o, "expires_in", json_object_new_int(expires_in));
	json_object_object_add(o, "issued_at", json_object_new_string(when));
	if (refresh_token)
		json_object_object_add(o, "refresh_token", json_object_new_string(refresh_token));
	s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	if (s)
		out = strdup(s);
out:
	json_object_put(o);
	return out;
}

/* The single-valued fields of regtoken_form, by parameter name. */
static const struct {
	const char *name;
	size_t offset;
} form_fields[] = {
	{"grant_type", offsetof(regtoken_form, grant_type)},
	{"username", offsetof(regtoken_form, username)},
	{"password", offsetof(regtoken_form, password)},
	{"refresh_token", offsetof(regtoken_form, refresh_token)},
	{"service", offsetof(regtoken_form, service)},
	{"client_id", offsetof(regtoken_form, client_id)},
	{"access_type", offsetof(regtoken_form, access_type)},
	{"account", offsetof(regtoken_form, account)},
	{"offline_token", offsetof(regtoken_form, offline_token)},
};

/* Store one decoded pair (takes value). 0 ok, -1 with *err set. */
static int form_put(regtoken_form *f, const char *name, char *value, char **err)
{
	size_t i;

	if (strcmp(name, "scope") == 0) {
		int rc = regtoken_scope_parse(&f->scope, value, err);
		free(value);
		return rc;
	}
	for (i = 0; i < sizeof form_fields / sizeof form_fields[0]; i++) {
		char **slot = (char **)(void *)((char *)f + form_fields[i].offset);
		if (strcmp(name, form_fields[i].name) != 0)
			continue;
		if (*slot) {
			free(value);
			return buf_error(err, "regtoken: parameter %s given twice", form_fields[i].name);
		}
		*slot = value;
		return 0;
	}
	free(value); /* unknown parameters are ignored */
	return 0;
}

int regtoken_form_parse(regtoken_form *f, const char *body, size_t len, char **err)
{
	fcgi_query_iter it;
	char *copy = NULL, *name, *value;
	int rc = -1, more;

	memset(f, 0, sizeof *f);
	if (!body)
		body = "";
	if (memchr(body, '\0', len)) {
		buf_error(err, "regtoken: NUL byte in form");
		goto out;
	}
	copy = strndup(body, len);
	if (!copy) {
		buf_error(err, "regtoken: out of memory");
		goto out;
	}
	if (!fcgi_query_wellformed(copy)) {
		buf_error(err, "regtoken: bad percent-escape in form");
		goto out;
	}
	fcgi_query_iter_init(&it, copy);
	while ((more = fcgi_query_next(&it, &name, &value)) != 0) {
		int bad;
		if (more < 0) {
			buf_error(err, "regtoken: malformed form");
			goto out;
		}
		bad = form_put(f, name, value, err);
		free(name);
		if (bad)
			goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		regtoken_form_free(f);
	free(copy);
	return rc;
}

int regtoken_form_check_post(const regtoken_form *f, char **err)
{
	if (!f->grant_type)
		return buf_error(err, "regtoken: grant_type missing");
	if (strcmp(f->grant_type, "password") == 0) {
		if (!f->username || !*f->username || !f->password)
			return buf_error(err, "regtoken: grant_type password needs username and password");
		return 0;
	}
	if (strcmp(f->grant_type, "refresh_token") == 0) {
		if (!f->refresh_token || !*f->refresh_token)
			return buf_error(err, "regtoken: grant_type refresh_token needs refresh_token");
		return 0;
	}
	return buf_error(err, "regtoken: unsupported grant_type");
}

/* Free a secret after wiping it. */
static void free_secret(char *s)
{
	if (s) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void regtoken_form_free(regtoken_form *f)
{
	size_t i;

	if (!f)
		return;
	for (i = 0; i < sizeof form_fields / sizeof form_fields[0]; i++) {
		char **slot = (char **)(void *)((char *)f + form_fields[i].offset);
		free_secret(*slot);
		*slot = NULL;
	}
	regtoken_access_list_free(&f->scope);
}

int regtoken_basic_parse(const char *header, char **user, char **pass, char **err)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0, len;
	const char *p, *colon;
	int rc = -1;

	*user = *pass = NULL;
	if (!header || strncasecmp(header, "Basic", 5) != 0 || (header[5] != ' ' && header[5] != '\t')) {
		buf_error(err, "regtoken: not Basic authorization");
		goto out;
	}
	p = header + 5;
	while (*p == ' ' || *p == '\t')
		p++;
	len = strlen(p);
	while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
		len--;
	if (len == 0 || enc_b64_decode(p, len, &raw, &rawlen) != 0) {
		buf_error(err, "regtoken: Basic credentials are not valid base64");
		goto out;
	}
	if (memchr(raw, '\0', rawlen)) {
		buf_error(err, "regtoken: NUL byte in Basic credentials");
		goto out;
	}
	colon = memchr(raw, ':', rawlen);
	if (colon && rawlen > 4 && memcmp(raw, "did:", 4) == 0) {
		/* A DID user name: atproto DIDs are exactly did:method:id (did:web takes no path and
		 * writes a port as %3A), so the separator is the colon after the id. */
		const char *end = (const char *)raw + rawlen;
		const char *m = memchr(raw + 4, ':', rawlen - 4);
		colon = m ? memchr(m + 1, ':', (size_t)(end - (m + 1))) : NULL;
	}
	if (!colon) {
		buf_error(err, "regtoken: Basic credentials have no ':'");
		goto out;
	}
	if (colon == (const char *)raw) {
		buf_error(err, "regtoken: Basic credentials have an empty user");
		goto out;
	}
	*user = strndup((const char *)raw, (size_t)(colon - (const char *)raw));
	*pass = strndup(colon + 1, rawlen - (size_t)(colon + 1 - (const char *)raw));
	if (!*user || !*pass) {
		free(*user);
		free_secret(*pass);
		*user = *pass = NULL;
		buf_error(err, "regtoken: out of memory");
		goto out;
	}
	rc = 0;
out:
	if (raw) {
		OPENSSL_cleanse(raw, rawlen);
		free(raw);
	}
	return rc;
}
