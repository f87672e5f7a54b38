/* appview.c - atcr-appview: main (CLI commands, FastCGI serving) and the route table. */
#include "appview.h"

#include <errno.h>
#include <fcgiapp.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "appview_config.h"
#include "cli.h"
#include "log.h"

#ifndef ATCR_VERSION
#define ATCR_VERSION "unknown"
#endif

/* Every URL the AppView answers, at a glance. FCGI_GET also answers HEAD. */
static const fcgi_route routes[] = {
	{FCGI_GET, "/v2/", registry_base},
	{FCGI_GET, "/v2", registry_base},
	{FCGI_ANY, "/v2/*", registry_v2},
	{FCGI_GET, "/health", health_get},
	{0, NULL, NULL},
};

/* The layer's own errors: OCI-shaped under /v2 (docker shows those), XRPC-shaped elsewhere. */
static void appview_error(fcgi_req *r, int status, const char *message)
{
	if (r->path && (strcmp(r->path, "/v2") == 0 || strncmp(r->path, "/v2/", 4) == 0))
		registry_layer_error(r, status, message);
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
		"\n"
		"options:\n"
		"  --config FILE       YAML configuration (default: $ATCR_CONFIG); ATCR_* variables override it,\n"
		"                      e.g. ATCR_SERVER_BASE_URL for server.base_url\n"
		"  --help, --version\n");
}

static int config_init(const char *path)
{
	if (!path)
		return config_write_template(appview_options, "ATCR_", stdout) == 0 ? 0 : 1;
	/* O_EXCL: an operator's edited configuration is never overwritten by accident. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "atcr-appview config init: %s: %s\n", path,
			errno == EEXIST ? "already exists, not overwriting" : strerror(errno));
		return 1;
	}
	fchmod(fd, 0644); /* whatever the umask: the file holds no secrets, keys live elsewhere */
	FILE *out = fdopen(fd, "w");
	if (!out) {
		close(fd);
		fprintf(stderr, "atcr-appview config init: %s: %s\n", path, strerror(errno));
		return 1;
	}
	int bad = config_write_template(appview_options, "ATCR_", out) != 0;
	bad |= fclose(out) != 0;
	if (bad)
		fprintf(stderr, "atcr-appview config init: %s: write failed\n", path);
	return bad;
}

static int serve(const config *cfg)
{
	char *err = NULL;
	int rc = 1;
	if (log_setup(config_str(cfg, "log.level"), config_str(cfg, "log.format"), config_str(cfg, "log.file"),
		      &err) != 0) {
		fprintf(stderr, "atcr-appview: log: %s\n", err ? err : "cannot set up logging");
		goto out;
	}
	appview app = {
		.cfg = cfg,
		.base_url = config_str(cfg, "server.base_url"),
		.service_name = config_str(cfg, "server.service_name"),
	};
	fcgi_program prog = {.routes = routes, .error = appview_error, .app = &app};
	if (fcgi_serve(&prog, config_str(cfg, "server.listen"), (int)config_int(cfg, "server.threads"), &err) != 0) {
		log_error("serve: %s", err ? err : "failed");
		fprintf(stderr, "atcr-appview: %s\n", err ? err : "cannot serve");
		goto out;
	}
	rc = 0;
out:
	free(err);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config_path = getenv("ATCR_CONFIG");
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("atcr-appview %s\n", ATCR_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strncmp(argv[i], "--config=", 9) == 0) {
			config_path = argv[i] + 9;
		} else {
			fprintf(stderr, "atcr-appview: unknown option %s\n", argv[i]);
			usage(stderr);
			return 2;
		}
	}
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
	    !(strcmp(cmd, "resolve") == 0 && nargs == 1)) {
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
	else
		rc = serve(cfg);
	config_free(cfg);
	return rc;
}
