/* config.h - the programs' settings: built-in defaults, then a YAML file, then environment variables,
 * all driven by one schema table so that every key is documented and checked. */
#ifndef ATCR_CONFIG_H
#define ATCR_CONFIG_H
#include <stdio.h>

typedef enum { CFG_STRING, CFG_INT, CFG_BOOL } cfg_type;

typedef struct {
	const char *key;  /* dotted: "server.base_url" (YAML: server: {base_url: ...}; env: PREFIX + SERVER_BASE_URL) */
	cfg_type type;
	const char *def;  /* default, as text ("" for empty) */
	const char *help; /* one or more lines, written as comments by config init */
} cfg_option;

typedef struct config config; /* immutable after load: safe to read from many threads */

/* Load: defaults, then the YAML file (if path non-NULL), then environment variables with env_prefix
 * ("ATCR_" or "HOLD_"). Unknown keys and bad values (int not an int, bool not true/false) are refused with
 * *err naming file and line ("config.yaml:12: unknown key 'server.bse_url'") or the environment variable.
 * The schema is terminated by an entry whose key is NULL and must outlive the config.
 * Returns NULL and sets *err (caller frees) on error; free the result with config_free. */
config *config_load(const cfg_option *schema, const char *path, const char *env_prefix, char **err);

/* The value of a schema key; never NULL. Aborts on a key not in the schema (a programming error). */
const char *config_str(const config *c, const char *key);
/* The value of a CFG_INT key (aborts if the key is not a CFG_INT of the schema). */
long long config_int(const config *c, const char *key);
/* The value of a CFG_BOOL key as 0 or 1 (aborts if the key is not a CFG_BOOL of the schema). */
int config_bool(const config *c, const char *key);
/* Where the value came from: "default", "file" or "env" (for diagnostics and tests). */
const char *config_source(const config *c, const char *key);

/* Write a fully commented YAML with every option at its default (help text as # comments, grouped by
 * section); it loads back with config_load to the defaults. Returns 0, or -1 on a write error. */
int config_write_template(const cfg_option *schema, const char *env_prefix, FILE *out);

/* The same template into a new file at path, mode 0644 (it holds no secrets), never over an existing
 * file (an operator's edits are not lost by accident). 0 ok; -1 with *err (caller frees). */
int config_write_template_file(const cfg_option *schema, const char *env_prefix, const char *path, char **err);
/* The leading options every ATCR program takes: --config FILE (or --config=FILE), --help, --version.
 * Returns the index of the first other argument, with *config_path set when --config was given; or -1
 * when the program should exit now with *exit_code (help or version printed, or a usage error). */
int config_parse_options(int argc, char **argv, const char *prog, const char *version, void (*usage)(FILE *out),
			 const char **config_path, int *exit_code);
void config_free(config *c);

#endif
