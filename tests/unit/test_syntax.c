/* test_syntax.c - every line of the atproto interop syntax vectors, plus a few hand-picked cases. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syntax.h"
#include "tap.h"

/* Run check on each vector line (blank lines and '#' lines are comments; trailing blanks are part
 * of a vector). One TAP result per file; each wrong answer is listed as a diagnostic. */
static void run_file(const char *name, int (*check)(const char *), int want)
{
	char rel[256];
	snprintf(rel, sizeof rel, "syntax/%s", name);
	FILE *f = fopen(vector_path(rel), "r");
	if (!f) {
		ok(0, "%s: cannot open %s", name, vector_path(rel));
		return;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int total = 0, wrong = 0;
	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		total++;
		if (!!check(line) != want) {
			wrong++;
			diag("%s: wrong answer for '%.80s%s' (len %zd)", name, line, n > 80 ? "..." : "", n);
		}
	}
	free(line);
	fclose(f);
	ok(total > 0 && wrong == 0, "%s: %d vectors, %d wrong", name, total, wrong);
}

int main(void)
{
	static const struct {
		const char *kind;
		int (*check)(const char *);
	} kinds[] = {
		{"handle", syntax_handle_ok},       {"did", syntax_did_ok},
		{"nsid", syntax_nsid_ok},           {"recordkey", syntax_rkey_ok},
		{"tid", syntax_tid_ok},             {"aturi", syntax_aturi_ok},
		{"datetime", syntax_datetime_ok},   {"atidentifier", syntax_atidentifier_ok},
		{"cid", syntax_cid_ok},
	};
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		char name[128];
		snprintf(name, sizeof name, "%s_syntax_valid.txt", kinds[i].kind);
		run_file(name, kinds[i].check, 1);
		snprintf(name, sizeof name, "%s_syntax_invalid.txt", kinds[i].kind);
		run_file(name, kinds[i].check, 0);
	}
	/* Our datetime check also refuses what is well-formed but not a real instant. */
	run_file("datetime_parse_invalid.txt", syntax_datetime_ok, 0);

	/* NULL and empty are never valid. */
	ok(!syntax_handle_ok(NULL) && !syntax_did_ok(NULL) && !syntax_nsid_ok(NULL) && !syntax_rkey_ok(NULL) &&
		   !syntax_tid_ok(NULL) && !syntax_aturi_ok(NULL) && !syntax_datetime_ok(NULL) &&
		   !syntax_atidentifier_ok(NULL) && !syntax_cid_ok(NULL),
	   "NULL is refused everywhere");
	ok(!syntax_handle_ok("") && !syntax_did_ok("") && !syntax_nsid_ok("") && !syntax_rkey_ok("") &&
		   !syntax_tid_ok("") && !syntax_aturi_ok("") && !syntax_datetime_ok("") &&
		   !syntax_atidentifier_ok("") && !syntax_cid_ok(""),
	   "the empty string is refused everywhere");

	/* Cases this project relies on. */
	ok(syntax_did_ok("did:web:localhost%3A1234"), "did:web with an encoded port");
	ok(syntax_nsid_ok("io.atcr.manifest") && syntax_nsid_ok("io.atcr.hold.initiateUpload"), "ATCR NSIDs");
	ok(syntax_aturi_ok("at://did:plc:abc/io.atcr.repo.page/my-app"), "repo page AT-URI");
	ok(!syntax_aturi_ok("at://did:plc:abc/io.atcr.repo.page/my/app"), "a slash in an rkey is refused");
	ok(syntax_datetime_ok("2024-02-29T12:00:00Z") && !syntax_datetime_ok("2023-02-29T12:00:00Z"),
	   "leap days follow the calendar");
	ok(!syntax_datetime_ok("1985-04-12T23:20:50.123+0"), "a truncated offset is refused");
	ok(!syntax_datetime_ok("1985-04-12T23:20:50.123456789012345678901Z"), "21 fraction digits are refused");
	ok(!syntax_handle_ok("a.b.c.d.example.") && syntax_handle_ok("A.b-C.example"), "handle labels");

	char *n = syntax_handle_normalize("Alice.BSKY.Social");
	is_str(n, "alice.bsky.social", "handle normalised to lower case");
	free(n);
	ok(syntax_handle_normalize("not a handle") == NULL, "normalising an invalid handle gives NULL");
	ok(syntax_handle_normalize(NULL) == NULL, "normalising NULL gives NULL");
	return tap_done();
}
