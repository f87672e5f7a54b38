/* test_credhelper.c - docker-credential-atcr's pure parts: the key a server URL is stored under, where
 * the credentials file lives, the file read back after writes (mode 0600 in a 0700 directory, replaced
 * whole, other entries kept, removal, a malformed file refused), the base URL (http only for loopback or
 * when asked), and the parsing of the registry's device-login answers (code, each RFC 8628 error,
 * approval, malformed answers). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "credstore.h"
#include "devflow.h"
#include "tap.h"

static void test_keys(void)
{
	char *k;
	is_str(k = credstore_key("registry.example"), "registry.example", "a bare host");
	free(k);
	is_str(k = credstore_key("  https://Registry.Example/v2/\n"), "registry.example", "scheme, path and blanks dropped, lower case");
	free(k);
	is_str(k = credstore_key("http://127.0.0.1:5000"), "127.0.0.1:5000", "the port is kept");
	free(k);
	is_str(k = credstore_key("127.0.0.1:5000\n"), "127.0.0.1:5000", "a trailing newline (docker sends one) is dropped");
	free(k);
	ok(credstore_key("") == NULL && credstore_key("https://") == NULL && credstore_key(" \n") == NULL,
	   "nothing left: no key");

	setenv("XDG_CONFIG_HOME", "/tmp/xdg", 1);
	is_str(k = credstore_path(), "/tmp/xdg/atcr/credentials.json", "XDG_CONFIG_HOME");
	free(k);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	setenv("HOME", "/home/alice", 1);
	is_str(k = credstore_path(), "/home/alice/.config/atcr/credentials.json", "a relative XDG_CONFIG_HOME is ignored: HOME");
	free(k);
	unsetenv("XDG_CONFIG_HOME");
	is_str(k = credstore_path(), "/home/alice/.config/atcr/credentials.json", "no XDG_CONFIG_HOME: HOME");
	free(k);

	is_str(k = devflow_base_url("127.0.0.1:5000", 0), "http://127.0.0.1:5000", "loopback address: http");
	free(k);
	is_str(k = devflow_base_url("localhost", 0), "http://localhost", "localhost: http");
	free(k);
	is_str(k = devflow_base_url("[::1]:80", 0), "http://[::1]:80", "IPv6 loopback: http");
	free(k);
	is_str(k = devflow_base_url("registry.example", 0), "https://registry.example", "anything else: https");
	free(k);
	is_str(k = devflow_base_url("localhost.example.com:443", 0), "https://localhost.example.com:443",
	       "a host that only starts with localhost: https");
	free(k);
	is_str(k = devflow_base_url("registry.example:8080", 1), "http://registry.example:8080", "insecure: http");
	free(k);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void test_store(void)
{
	char dir[] = "/tmp/atcr-credstore-XXXXXX", path[128], *err = NULL;
	if (!mkdtemp(dir)) {
		ok(0, "a temporary directory");
		return;
	}
	snprintf(path, sizeof path, "%s/cfg/atcr/credentials.json", dir);
	credstore_entry e = {0};
	is_int(credstore_get(path, "registry.example", &e, &err), 0, "no file: nothing stored");
	credstore_entry a = {.username = "alice.test", .secret = "atcr_dev_secret", .did = "did:plc:alice"};
	is_int(credstore_put(path, "registry.example", &a, &err), 0, "store an entry (%s)", err ? err : "ok");
	is_int(mode_of(path), 0600, "the file is 0600");
	char sub[160];
	snprintf(sub, sizeof sub, "%s/cfg/atcr", dir);
	is_int(mode_of(sub), 0700, "its directory 0700");
	is_int(credstore_get(path, "registry.example", &e, &err), 1, "it reads back");
	ok(e.username && strcmp(e.username, "alice.test") == 0 && e.secret && strcmp(e.secret, "atcr_dev_secret") == 0 &&
		   e.did && strcmp(e.did, "did:plc:alice") == 0,
	   "username, secret and DID as stored");
	credstore_entry_free(&e);

	credstore_entry b = {.username = "bob", .secret = "app-pass-word"};
	credstore_put(path, "127.0.0.1:5000", &b, &err);
	is_int(credstore_get(path, "registry.example", &e, &err), 1, "another entry keeps the first");
	credstore_entry_free(&e);
	is_int(credstore_get(path, "127.0.0.1:5000", &e, &err), 1, "the second reads back");
	ok(e.did == NULL, "an entry from `store` has no DID");
	credstore_entry_free(&e);
	credstore_entry a2 = {.username = "alice.test", .secret = "atcr_dev_new"};
	credstore_put(path, "registry.example", &a2, &err);
	credstore_get(path, "registry.example", &e, &err);
	is_str(e.secret, "atcr_dev_new", "storing again replaces the entry");
	credstore_entry_free(&e);

	json_object *list = credstore_list(path, &err);
	is_str(list ? json_object_to_json_string_ext(list, JSON_C_TO_STRING_PLAIN) : NULL,
	       "{\"registry.example\":\"alice.test\",\"127.0.0.1:5000\":\"bob\"}", "list: key to username");
	json_object_put(list);

	is_int(credstore_put(path, "127.0.0.1:5000", NULL, &err), 0, "erase an entry");
	is_int(credstore_get(path, "127.0.0.1:5000", &e, &err), 0, "it is gone");
	is_int(credstore_put(path, "127.0.0.1:5000", NULL, &err), 1, "erasing it again: not there");
	is_int(credstore_get(path, "registry.example", &e, &err), 1, "the other stays");
	credstore_entry_free(&e);
	is_int(mode_of(path), 0600, "still 0600 after being replaced");
	snprintf(sub, sizeof sub, "ls -A %s/cfg/atcr | grep -qv '^credentials.json\\(.lock\\)\\?$'", dir);
	ok(system(sub) != 0, "no temporary file is left beside it");

	FILE *f = fopen(path, "w");
	fputs("[1, 2]", f);
	fclose(f);
	free(err);
	err = NULL;
	is_int(credstore_get(path, "registry.example", &e, &err), -1, "a file that is not an object is refused");
	ok(err && strstr(err, path), "naming the file (%s)", err ? err : "");
	free(err);
	err = NULL;
	ok(credstore_put(path, "x", &b, &err) == -1, "and not overwritten");
	json_object *bad = credstore_parse("{\"credentials\": 3}", &err);
	ok(bad == NULL, "credentials that are not an object are refused");
	json_object *empty = credstore_parse(NULL, &err);
	ok(empty && json_object_object_length(empty) == 1, "no text: an empty store");
	json_object_put(empty);

	free(err);
	snprintf(sub, sizeof sub, "rm -rf %s", dir);
	if (system(sub) != 0)
		diag("could not remove %s", dir);
}

static void test_answers(void)
{
	devflow_code c = {0};
	devflow_grant g = {0};
	char *err = NULL;
	const char *good = "{\"device_code\":\"dc\",\"user_code\":\"BCDF-GHJK\",\"verification_uri\":\"http://r/device\","
			   "\"verification_uri_complete\":\"http://r/device?code=BCDF-GHJK\",\"expires_in\":600,\"interval\":5}";
	is_int(devflow_parse_code(200, good, &c, &err), 0, "a device authorization answer parses");
	ok(c.device_code && strcmp(c.device_code, "dc") == 0 && strcmp(c.user_code, "BCDF-GHJK") == 0 &&
		   strcmp(c.verification_uri_complete, "http://r/device?code=BCDF-GHJK") == 0 && c.expires_in == 600 &&
		   c.interval == 5,
	   "every field");
	devflow_code_free(&c);
	is_int(devflow_parse_code(200, "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"https://r/device\","
				      "\"expires_in\":60}",
				  &c, &err),
	       0, "without interval and verification_uri_complete");
	ok(c.interval == 5 && c.verification_uri_complete && strcmp(c.verification_uri_complete, "https://r/device") == 0,
	   "interval 5 (RFC 8628's default), the plain URI to open");
	devflow_code_free(&c);
	ok(devflow_parse_code(200, "{\"device_code\":\"dc\"}", &c, &err) == -1 && err && strstr(err, "lacks"),
	   "an answer missing fields is refused");
	ok(devflow_parse_code(200, "{\"device_code\":\"dc\",\"user_code\":\"U\",\"verification_uri\":\"javascript:x\","
				   "\"expires_in\":60}",
			      &c, &err) == -1,
	   "a verification URI that is not http(s) is refused");
	int refused = devflow_parse_code(503, "{\"error\":\"temporarily_unavailable\",\"error_description\":\"too many\"}",
					 &c, &err);
	ok(refused == -1 && err && strstr(err, "temporarily_unavailable: too many"), "a refusal names the registry's error (%s)",
	   err ? err : "");
	ok(devflow_parse_code(404, "<html>", &c, &err) == -1 && err && strstr(err, "HTTP 404"),
	   "a non-protocol answer names the status");

	is_int(devflow_parse_token(400, "{\"error\":\"authorization_pending\"}", &g, &err), DEVFLOW_PENDING, "pending");
	is_int(devflow_parse_token(400, "{\"error\":\"slow_down\"}", &g, &err), DEVFLOW_SLOW_DOWN, "slow_down");
	is_int(devflow_parse_token(400, "{\"error\":\"access_denied\"}", &g, &err), DEVFLOW_DENIED, "denied");
	is_int(devflow_parse_token(400, "{\"error\":\"expired_token\"}", &g, &err), DEVFLOW_EXPIRED, "expired");
	is_int(devflow_parse_token(400, "{\"error\":\"invalid_grant\"}", &g, &err), DEVFLOW_FAILED, "invalid_grant fails");
	ok(err && strstr(err, "invalid_grant"), "naming it (%s)", err ? err : "");
	is_int(devflow_parse_token(500, "{\"error\":\"authorization_pending\"}", &g, &err), DEVFLOW_FAILED,
	       "an error name on a 500 is not taken for pending");
	is_int(devflow_parse_token(200, "{\"did\":\"did:plc:a\",\"handle\":\"alice.test\",\"device_secret\":\"atcr_dev_s\"}", &g, &err),
	       DEVFLOW_APPROVED, "approved");
	ok(g.did && strcmp(g.did, "did:plc:a") == 0 && strcmp(g.handle, "alice.test") == 0 && strcmp(g.secret, "atcr_dev_s") == 0,
	   "with DID, handle and secret");
	devflow_grant_free(&g);
	is_int(devflow_parse_token(200, "{\"did\":\"did:plc:a\",\"device_secret\":\"atcr_dev_s\"}", &g, &err), DEVFLOW_APPROVED,
	       "approved without a handle");
	is_str(g.handle, "did:plc:a", "the DID stands in for the handle");
	devflow_grant_free(&g);
	is_int(devflow_parse_token(200, "{\"did\":\"did:plc:a\"}", &g, &err), DEVFLOW_FAILED, "approved without a secret fails");
	ok(g.did == NULL && g.secret == NULL, "leaving nothing behind");
	is_int(devflow_parse_token(200, "not json", &g, &err), DEVFLOW_FAILED, "not JSON fails");
	free(err);
}

int main(void)
{
	test_keys();
	test_store();
	test_answers();
	return tap_done();
}
