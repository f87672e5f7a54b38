/* appview.c - atcr-appview: main (CLI commands, FastCGI serving) and the route table. */
#include "appview.h"

#include <fcgiapp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appview_config.h"
#include "cli.h"
#include "db.h"
#include "log.h"
#include "oauth.h"
#include "pdsuser.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "unknown"
#endif

/* Every URL the AppView answers, at a glance. FCGI_GET also answers HEAD. */
static const fcgi_route routes[] = {
	{FCGI_GET, "/v2/", registry_base},
	{FCGI_GET, "/v2", registry_base},
	{FCGI_ANY, "/v2/*", registry_v2},
	{FCGI_GET | FCGI_POST, "/auth/token", auth_token},
	/* the credential helper's device login (cgi/device.c, cgi/ui-device.c) */
	{FCGI_POST, "/auth/device/code", device_code_post},
	{FCGI_POST, "/auth/device/token", device_token_post},
	{FCGI_GET, "/device", ui_device},
	{FCGI_POST, "/device", ui_device_post},
	{FCGI_GET, "/health", health_get},
	/* OAuth login (cgi/oauth.c) */
	{FCGI_GET, OAUTH_METADATA_PATH, login_client_metadata},
	{FCGI_GET, OAUTH_JWKS_PATH, login_jwks},
	{FCGI_GET, "/login", login_page},
	{FCGI_POST, "/auth/login", login_post},
	{FCGI_GET, OAUTH_CALLBACK_PATH, login_callback},
	{FCGI_POST, "/auth/logout", logout_post},
	/* UI pages (cgi/ui-*.c); "/" last: it takes every other path */
	{FCGI_GET, "/search", ui_search},
	{FCGI_GET, "/settings", ui_settings},
	{FCGI_POST, "/settings", ui_settings_post},
	{FCGI_POST, "/settings/hold-data", ui_hold_data_post},
	{FCGI_POST, "/settings/devices/revoke", ui_device_revoke},
	{FCGI_POST, "/r/*", ui_star}, /* only .../star */
	{FCGI_GET, "/r/*", ui_repo},
	{FCGI_GET, "/u/*", ui_user},
	{FCGI_GET, "/", ui_home},
	{0, NULL, NULL},
};

/* The layer's own errors: OCI-shaped under /v2 (docker shows those), XRPC-shaped elsewhere. */
static void appview_error(fcgi_req *r, int status, const char *message)
{
	if (r->path && (strcmp(r->path, "/v2") == 0 || strncmp(r->path, "/v2/", 4) == 0))
		registry_layer_error(r, status, message);
	else if (ui_wants_html(r->path))
		ui_error_page(r, status, message);
	else
		fcgi_default_error(r, status, message);
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: atcr-appview [--config FILE] [COMMAND]\n"
		"\n"
		"commands:\n"
		"  serve               answer FastCGI requests (the default when stdin is a FastCGI socket,\n"
		"                      as under lighttpd's bin-path or spawn-fcgi)\n"
		"  config init [FILE]  write a commented configuration with every default (stdout without FILE)\n"
		"  migrate             create or upgrade the SQLite index\n"
		"  resolve HANDLE|DID  resolve an identity, bypassing the cache\n"
		"  expire-uploads [SECONDS]\n"
		"                      abort blob uploads untouched for SECONDS (86400) on their holds\n"
		"  expire-sessions     remove expired UI sessions and stale pending logins\n"
		"\n"
		"options:\n"
		"  --config FILE       YAML configuration (default: $ATCR_CONFIG); ATCR_* variables override it,\n"
		"                      e.g. ATCR_SERVER_BASE_URL for server.base_url\n"
		"  --help, --version\n");
}

static int config_init(const char *path)
{
	char *err = NULL;
	if (!path)
		return config_write_template(appview_options, "ATCR_", stdout) == 0 ? 0 : 1;
	if (config_write_template_file(appview_options, "ATCR_", path, &err) != 0) {
		fprintf(stderr, "atcr-appview config init: %s\n", err);
		free(err);
		return 1;
	}
	return 0;
}

sqlite3 *appview_db(const appview *av)
{
	char *err = NULL;
	sqlite3 *db = db_thread(av->db_path, &err);
	if (!db) {
		log_error("database %s: %s", av->db_path, err ? err : "cannot open");
		free(err);
	}
	return db;
}

identity_ctx appview_identity(const appview *av)
{
	identity_ctx c = av->ident;
	c.db = appview_db(av);
	return c;
}

/* The service name: server.service_name, else the host[:port] of base_url. Caller frees. */
static char *service_name(const appview *av)
{
	if (*av->service_name)
		return strdup(av->service_name);
	const char *h = strstr(av->base_url, "://");
	h = h ? h + 3 : av->base_url;
	return strndup(h, strcspn(h, "/"));
}

/* Start-up: migrate the index, load or create the token key, fill the shared context. */
static int appview_start(appview *av, char **service, char **err)
{
	const config *cfg = av->cfg;
	sqlite3 *db = db_open(av->db_path, 1, err);
	if (!db)
		return -1;
	db_close(db);
	const char *key_path = config_str(cfg, "auth.key_path");
	char *dir = strdup(key_path), *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0700); /* the key's own directory; an existing one is left as it is */
	}
	free(dir);
	av->token_key = crypto_key_load_or_create(key_path, CRYPTO_P256, err);
	if (!av->token_key)
		return -1;
	*service = service_name(av);
	av->service_name = *service;
	av->tokens = (regtoken_config){
		.key = av->token_key,
		.service = *service,
		.expiry = (int)config_int(cfg, "auth.token_expiry"),
	};
	av->ident = identity_ctx_from_config(cfg);
	return ui_start(av, err);
}

/* lib/pdsuser refreshes users' OAuth sessions with this process's OAuth client. */
static const oauth_client *oauth_source(const void *av)
{
	return login_oauth_client(av);
}

static int serve(const config *cfg)
{
	char *err = NULL, *service = NULL;
	int rc = 1;
	appview app = {
		.cfg = cfg,
		.base_url = config_str(cfg, "server.base_url"),
		.service_name = config_str(cfg, "server.service_name"),
		.db_path = config_str(cfg, "database.path"),
	};
	if (log_setup(config_str(cfg, "log.level"), config_str(cfg, "log.format"), config_str(cfg, "log.file"),
		      &err) != 0) {
		fprintf(stderr, "atcr-appview: log: %s\n", err ? err : "cannot set up logging");
		goto out;
	}
	if (appview_start(&app, &service, &err) != 0) {
		log_error("start-up: %s", err);
		fprintf(stderr, "atcr-appview: %s\n", err);
		goto out;
	}
	pdsuser_set_oauth_source(oauth_source, &app);
	fcgi_program prog = {.routes = routes, .error = appview_error, .app = &app};
	if (fcgi_serve(&prog, config_str(cfg, "server.listen"), (int)config_int(cfg, "server.threads"), &err) != 0) {
		log_error("serve: %s", err ? err : "failed");
		fprintf(stderr, "atcr-appview: %s\n", err ? err : "cannot serve");
		goto out;
	}
	rc = 0;
out:
	pdsuser_set_oauth_source(NULL, NULL);
	ui_stop(&app);
	crypto_key_free(app.token_key);
	free(service);
	free(err);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config_path = getenv("ATCR_CONFIG");
	int exit_code = 0;
	int i = config_parse_options(argc, argv, "atcr-appview", ATCR_VERSION, usage, &config_path, &exit_code);
	if (i < 0)
		return exit_code;
	const char *cmd = i < argc ? argv[i++] : NULL;
	int nargs = argc - i;
	char **args = argv + i;

	if (cmd && strcmp(cmd, "config") == 0) {
		if (nargs < 1 || strcmp(args[0], "init") != 0 || nargs > 2) {
			usage(stderr);
			return 2;
		}
		return config_init(nargs == 2 ? args[1] : NULL);
	}
	if (!cmd) {
		/* FCGX_IsCGI() is false when fd 0 is a listening socket: lighttpd bin-path started us. */
		if (FCGX_IsCGI()) {
			usage(stderr);
			return 2;
		}
		cmd = "serve";
	}
	if (!(strcmp(cmd, "serve") == 0 && nargs == 0) && !(strcmp(cmd, "migrate") == 0 && nargs == 0) &&
	    !(strcmp(cmd, "resolve") == 0 && nargs == 1) && !(strcmp(cmd, "expire-uploads") == 0 && nargs <= 1) &&
	    !(strcmp(cmd, "expire-sessions") == 0 && nargs == 0)) {
		fprintf(stderr, "atcr-appview: bad command: %s\n", cmd);
		usage(stderr);
		return 2;
	}

	char *err = NULL;
	if (config_path && !*config_path)
		config_path = NULL;
	config *cfg = config_load(appview_options, config_path, "ATCR_", &err);
	if (!cfg) {
		fprintf(stderr, "atcr-appview: %s\n", err ? err : "cannot load the configuration");
		free(err);
		return 1;
	}
	int rc;
	if (strcmp(cmd, "migrate") == 0)
		rc = cli_migrate(cfg);
	else if (strcmp(cmd, "resolve") == 0)
		rc = cli_resolve(cfg, args[0]);
	else if (strcmp(cmd, "expire-sessions") == 0)
		rc = cli_expire_sessions(cfg);
	else if (strcmp(cmd, "expire-uploads") == 0) {
		char *end = NULL;
		long long age = nargs ? strtoll(args[0], &end, 10) : 86400;
		if (nargs && (end == args[0] || *end || age < 0)) {
			fprintf(stderr, "atcr-appview expire-uploads: SECONDS must be a whole number of seconds\n");
			rc = 2;
		} else {
			rc = cli_expire_uploads(cfg, age);
		}
	}
	else
		rc = serve(cfg);
	config_free(cfg);
	return rc;
}
