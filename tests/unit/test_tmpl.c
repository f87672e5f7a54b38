/* test_tmpl.c - the template engine: escaping by default, sections, partials, trusted HTML only through
 * tmpl_trusted_html, parse errors with file and line, concurrent renders of one set. */
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "tmpl.h"

static char tmpdir[] = "/tmp/test_tmpl.XXXXXX";

static void write_file(const char *dir, const char *name, const char *text)
{
	char *path = buf_strf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
	free(path);
}

/* A fresh directory holding the given (name, text) pairs, NULL-terminated; caller frees the path. */
static char *make_set_dir(const char *const *files)
{
	static int serial;
	char *dir = buf_strf("%s/set%d", tmpdir, ++serial);
	mkdir(dir, 0700);
	for (size_t i = 0; files[i]; i += 2)
		write_file(dir, files[i], files[i + 1]);
	return dir;
}

/* Render template `name` of a one-off set built from files, ctx parsed from JSON text. Returns the
 * output, or "ERR: message" (caller frees). */
static char *render_src(const char *const *files, const char *name, const char *ctx_json)
{
	char *err = NULL, *result;
	char *dir = make_set_dir(files);
	tmpl_set *set = tmpl_load(dir, &err);
	json_object *ctx = ctx_json ? json_tokener_parse(ctx_json) : NULL;
	buf_t out = BUF_INIT;
	if (!set || tmpl_render(set, name, ctx, &out, &err) < 0)
		result = buf_strf("ERR: %s", err ? err : "(no message)");
	else
		result = buf_detach(&out);
	buf_free(&out);
	json_object_put(ctx);
	tmpl_free(set);
	free(err);
	free(dir);
	return result;
}

static void check_render(const char *src, const char *ctx, const char *want, const char *name)
{
	const char *files[] = {"t.html", src, NULL};
	char *got = render_src(files, "t", ctx);
	is_str(got, want, "%s", name);
	free(got);
}

/* A load error must name the file and the line. */
static void check_parse_error(const char *src, int line, const char *what, const char *name)
{
	const char *files[] = {"bad.html", src, NULL};
	char *err = NULL;
	char *dir = make_set_dir(files);
	tmpl_set *set = tmpl_load(dir, &err);
	char *where = buf_strf("%s/bad.html:%d: ", dir, line);
	ok(!set, "refused: %s", name);
	ok(err && strncmp(err, where, strlen(where)) == 0 && strstr(err, what), "%s: message '%s'", name,
	   err ? err : "(none)");
	tmpl_free(set);
	free(where);
	free(err);
	free(dir);
}

struct thread_arg {
	const tmpl_set *set;
	json_object *ctx;
	const char *want;
	int mismatches;
};

static void *render_many(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < 200; i++) {
		buf_t out = BUF_INIT;
		char *err = NULL;
		if (tmpl_render(a->set, "page", a->ctx, &out, &err) < 0 || strcmp(buf_str(&out), a->want) != 0)
			a->mismatches++;
		buf_free(&out);
		free(err);
	}
	return NULL;
}

static json_object *page_context(json_object *readme)
{
	json_object *ctx = json_tokener_parse(
		"{\"title\": \"Alice's <page>\","
		" \"user\": {\"handle\": \"<script>alert(1)</script>\","
		"            \"description\": \"\\\"><img src=x onerror=alert(1)>\","
		"            \"website\": \"jav&#x09;ascript:alert(1)\"},"
		" \"repos\": [{\"name\": \"app\", \"tags\": [\"1.0\", \"<b>latest</b>\"], \"stars\": 3},"
		"             {\"name\": \"tools\", \"tags\": [], \"stars\": 0}]}");
	json_object_object_add(ctx, "readme", readme);
	return ctx;
}

static const char page_want[] =
	"\n<html><head><title>Alice&#39;s &lt;page&gt; · ATCR</title>\n</head><body>\n"
	"<h1>&lt;script&gt;alert(1)&lt;/script&gt;</h1>\n"
	"<p class=\"bio\" title=\"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\">"
	"&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>\n"
	"<a href=\"#\">site</a>\n"
	"<li><a href=\"/&lt;script&gt;alert(1)&lt;/script&gt;/app\">app</a> <span class=\"tag\">1.0</span>"
	"<span class=\"tag\">&lt;b&gt;latest&lt;/b&gt;</span> ★3</li>\n"
	"<li><a href=\"/&lt;script&gt;alert(1)&lt;/script&gt;/tools\">tools</a> <em>untagged</em> </li>\n"
	"\n<div class=\"readme\"><p>Hello <em>world</em></p></div>\n</body></html>\n";

static void test_example_set(void)
{
	char *err = NULL;
	const char *dir = vector_path("../unit/templates");
	tmpl_set *set = tmpl_load(dir, &err);
	ok(set != NULL, "the example templates load (%s)", err ? err : dir);
	if (!set)
		return;

	/* handle, description and website from "the network", README HTML from our own code */
	json_object *ctx = page_context(tmpl_trusted_html("<p>Hello <em>world</em></p>"));
	buf_t out = BUF_INIT;
	ok(tmpl_render(set, "page", ctx, &out, &err) == 0, "page renders");
	is_str(buf_str(&out), page_want, "page: every user value escaped, javascript: URL is #, partials, "
					 "nested sections with the outer context, trusted README raw");
	ok(!strstr(buf_str(&out), "<script") && !strstr(buf_str(&out), "<img"), "no tag from user data survives");

	/* many threads rendering one set and one context */
	pthread_t th[4];
	struct thread_arg args[4];
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){.set = set, .ctx = ctx, .want = page_want};
		pthread_create(&th[i], NULL, render_many, &args[i]);
	}
	int mismatches = 0;
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		mismatches += args[i].mismatches;
	}
	is_int(mismatches, 0, "4 threads x 200 renders of one set give the same page");
	json_object_put(ctx);

	/* the same page with the README as an ordinary string: escaped */
	ctx = page_context(json_object_new_string("<p>Hello <em>world</em></p>"));
	buf_reset(&out);
	tmpl_render(set, "page", ctx, &out, &err);
	ok(strstr(buf_str(&out), "<div class=\"readme\">&lt;p&gt;Hello &lt;em&gt;world&lt;/em&gt;&lt;/p&gt;</div>") !=
		   NULL,
	   "{{& readme}} on an ordinary string escapes it");
	json_object_put(ctx);

	/* no repositories: the inverted section */
	ctx = json_tokener_parse("{\"title\": \"t\", \"user\": {\"handle\": \"bob\"}, \"repos\": []}");
	buf_reset(&out);
	tmpl_render(set, "page", ctx, &out, &err);
	ok(strstr(buf_str(&out), "\n<p>No repositories yet.</p>\n") != NULL, "empty array: inverted section shows");
	ok(strstr(buf_str(&out), "<p class=\"bio\" title=\"\"></p>") != NULL, "missing description: empty");
	ok(strstr(buf_str(&out), "<a href=\"\">site</a>") != NULL, "missing URL: empty");
	json_object_put(ctx);

	/* a partial on its own, and a name the set lacks */
	buf_reset(&out);
	ctx = json_tokener_parse("{\"title\": \"x&y\"}");
	ok(tmpl_render(set, "header", ctx, &out, &err) == 0, "a partial renders alone");
	is_str(buf_str(&out), "<title>x&amp;y · ATCR</title>\n", "header alone");
	json_object_put(ctx);
	buf_reset(&out);
	buf_puts(&out, "kept");
	ok(tmpl_render(set, "nope", NULL, &out, &err) < 0, "unknown template refused");
	is_str(err, "no template 'nope'", "unknown template message");
	is_str(buf_str(&out), "kept", "output untouched on error");
	buf_free(&out);
	free(err);
	tmpl_free(set);
}

static void test_values_and_sections(void)
{
	check_render("[{{s}}|{{i}}|{{d}}|{{t}}|{{f}}|{{n}}|{{missing}}|{{o}}|{{a}}]",
		     "{\"s\": \"<&>\", \"i\": -42, \"d\": 2.5, \"t\": true, \"f\": false, \"n\": null,"
		     " \"o\": {\"k\": 1}, \"a\": [1]}",
		     "[&lt;&amp;&gt;|-42|2.5|true|false||||]", "scalars print, escaped; null/missing/object/array empty");
	check_render("{{a.b.c}}/{{a.x.c}}/{{a.b}}/{{ a.b.c }}", "{\"a\": {\"b\": {\"c\": \"deep<\"}}}",
		     "deep&lt;///deep&lt;", "dotted lookup, missing parts empty, spaces inside tags");
	check_render("{{#a}}{{b}}{{/a}}", "{\"a\": {\"x\": 1}, \"b\": \"outer\"}", "outer",
		     "a name missing in the pushed object is found further up the stack");
	check_render("{{#a}}{{a.b}}{{/a}}", "{\"a\": {\"c\": 1}, \"b\": \"outer\"}", "",
		     "a dotted name is strict after its first part");
	check_render("{{#list}}<{{.}}>{{/list}}", "{\"list\": [\"x\", \"<y>\", 3]}", "<x><&lt;y&gt;><3>",
		     "array of scalars with {{.}}");
	check_render("{{#rows}}[{{#cells}}{{v}}{{#last}}!{{/last}}{{^last}},{{/last}}{{/cells}}]{{/rows}}",
		     "{\"rows\": [{\"cells\": [{\"v\": 1}, {\"v\": 2, \"last\": true}]}, {\"cells\": [{\"v\": 3, "
		     "\"last\": true}]}]}",
		     "[1,2!][3!]", "nested sections");
	check_render("{{#t}}T{{/t}}{{#f}}F{{/f}}{{#n}}N{{/n}}{{#z}}Z{{/z}}{{#one}}1{{/one}}{{#e}}E{{/e}}"
		     "{{#s}}S{{.}}{{/s}}{{#ea}}A{{/ea}}{{#eo}}O{{/eo}}{{#missing}}M{{/missing}}",
		     "{\"t\": true, \"f\": false, \"n\": null, \"z\": 0, \"one\": 1, \"e\": \"\", \"s\": \"x\","
		     " \"ea\": [], \"eo\": {}}",
		     "T1SxO", "section truthiness: true, non-zero, non-empty string, any object");
	check_render("{{^t}}T{{/t}}{{^f}}F{{/f}}{{^n}}N{{/n}}{{^z}}Z{{/z}}{{^e}}E{{/e}}{{^ea}}A{{/ea}}"
		     "{{^missing}}M{{/missing}}{{^s}}S{{/s}}",
		     "{\"t\": true, \"f\": false, \"n\": null, \"z\": 0, \"e\": \"\", \"ea\": [], \"s\": \"x\"}",
		     "FNZEAM", "inverted sections");
	check_render("a{{! a comment with { and {{ and\na second line }}b", "{}", "ab", "comments print nothing");
	check_render("a{{! x {{y}}z}}", "{}", "az}}", "a comment ends at the first }}, as in Mustache");
	check_render("{{x}}", NULL, "", "no context at all");
	check_render("{{.}}", "\"<top>\"", "&lt;top&gt;", "a string as the whole context");
	check_render("<a href=\"{{url u}}\">", "{\"u\": \"https://e.com/?a=1&b=2\"}",
		     "<a href=\"https://e.com/?a=1&amp;b=2\">", "{{url}} keeps a good URL, escaped");
	check_render("{{url a}} {{url b}} {{url c}} {{url d}}",
		     "{\"a\": \"JaVaScRiPt:alert(1)\", \"b\": \"  javascript:x\", \"c\": \"\\u0001javascript:x\","
		     " \"d\": \"data:text/html,x\"}",
		     "# # # #", "{{url}} refuses javascript:, data: in disguise");
	check_render("{{url u}}", "{\"u\": \"/ok\\u0000javascript:x\"}", "#", "{{url}} with a NUL inside");
	check_render("{{url}}", "{\"url\": \"<u>\"}", "&lt;u&gt;", "a key named url is an ordinary name");
	check_render("{{s}}", "{\"s\": \"a\\u0000b\"}", "a\xEF\xBF\xBD" "b", "NUL inside a string");
}

static void test_trusted(void)
{
	json_object *ctx = json_object_new_object();
	json_object_object_add(ctx, "h", tmpl_trusted_html("<b>ours</b>"));
	const char *files[] = {"t.html", "{{& h}}|{{h}}|{{url h}}", NULL};
	char *dir = make_set_dir(files);
	char *err = NULL;
	tmpl_set *set = tmpl_load(dir, &err);
	buf_t out = BUF_INIT;
	tmpl_render(set, "t", ctx, &out, &err);
	is_str(buf_str(&out), "<b>ours</b>|&lt;b&gt;ours&lt;/b&gt;|&lt;b&gt;ours&lt;/b&gt;",
	       "trusted HTML is raw only with {{&}}");

	/* whatever our marker looks like in JSON, JSON from the network cannot carry it */
	const char *serialised = json_object_to_json_string(ctx);
	json_object *again = json_tokener_parse(serialised);
	buf_reset(&out);
	tmpl_render(set, "t", again, &out, &err);
	is_str(buf_str(&out), "&lt;b&gt;ours&lt;/b&gt;|&lt;b&gt;ours&lt;/b&gt;|&lt;b&gt;ours&lt;/b&gt;",
	       "trusted value serialised and parsed back is escaped");
	json_object_put(again);
	/* json-c refuses to deep-copy userdata it does not know; were it to copy, the copy must not be trusted */
	json_object *copy = NULL;
	int copied = json_object_deep_copy(ctx, &copy, NULL) == 0;
	buf_reset(&out);
	if (copied)
		tmpl_render(set, "t", copy, &out, &err);
	ok(!copied || strncmp(buf_str(&out), "&lt;b&gt;", 9) == 0, "a deep copy is refused or not trusted (%s)",
	   copied ? "copied" : "refused");
	json_object_put(copy);
	const char *forged[] = {
		"{\"h\": \"<b>x</b>\"}",
		"{\"h\": {\"trusted\": true, \"html\": \"<b>x</b>\"}}",
		"{\"h\": {\"__tmpl_trusted\": \"<b>x</b>\", \"userdata\": \"T\", \"_userdata\": 1}}",
		"{\"h\": [\"<b>x</b>\"]}",
		"{\"h\": 1.50}",
	};
	for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
		json_object *net = json_tokener_parse(forged[i]);
		buf_reset(&out);
		ok(tmpl_render(set, "t", net, &out, &err) == 0 && !strstr(buf_str(&out), "<b>"),
		   "network JSON %s cannot print raw HTML: '%s'", forged[i], buf_str(&out));
		json_object_put(net);
	}
	buf_free(&out);
	tmpl_free(set);
	free(dir);
	free(err);
	json_object_put(ctx);
}

static void test_partials(void)
{
	const char *files[] = {"main.html", "<ul>{{#items}}{{> item}}{{/items}}</ul>",
			       "item.html", "<li>{{name}}<ul>{{#children}}{{> item}}{{/children}}</ul></li>",
			       NULL};
	char *got = render_src(files, "main",
			       "{\"items\": [{\"name\": \"a\", \"children\": [{\"name\": \"b<\", \"children\": []}]},"
			       " {\"name\": \"c\", \"children\": []}]}");
	is_str(got, "<ul><li>a<ul><li>b&lt;<ul></ul></li></ul></li><li>c<ul></ul></li></ul>", "recursive partial over a tree");
	free(got);
	/* leaves without "children" find their parent's through the context stack: endless, but stopped */
	got = render_src(files, "main", "{\"items\": [{\"name\": \"a\", \"children\": [{\"name\": \"b\"}]}]}");
	ok(strstr(got, "ERR: ") == got && strstr(got, "item.html:1: ") && strstr(got, "nested"),
	   "runaway recursion through the context stack stops with an error: %s", got);
	free(got);

	const char *loop[] = {"a.html", "x{{> a}}", NULL};
	got = render_src(loop, "a", "{}");
	ok(strncmp(got, "ERR: ", 5) == 0 && strstr(got, "a.html:1: partials nested more than"),
	   "endless partial recursion stops with an error: %s", got);
	free(got);

	const char *missing[] = {"a.html", "ok\n{{> nothere}}", NULL};
	got = render_src(missing, "a", "{}");
	ok(strstr(got, "a.html:2: no template 'nothere'") != NULL, "missing partial refused at load: %s", got);
	free(got);

	const char *ignored[] = {"a.html", "A", "notes.txt", "{{#broken", ".hidden.html", "{{#broken", "b c.html",
				 "{{/x}}", NULL};
	got = render_src(ignored, "a", NULL);
	is_str(got, "A", "files other than <name>.html are ignored");
	free(got);

	char *err = NULL;
	tmpl_set *set = tmpl_load("/nonexistent/templates", &err);
	ok(!set && err && strstr(err, "/nonexistent/templates"), "missing directory: %s", err ? err : "");
	free(err);
}

static void test_parse_errors(void)
{
	check_parse_error("line 1\n{{#a}}\nno close\n", 2, "section is never closed: 'a'", "unclosed section");
	check_parse_error("{{#a}}\n{{/b}}", 2, "{{/b}} closes nothing: the open section is 'a' (line 1)",
			  "mismatched close");
	check_parse_error("x\n\n{{/a}}", 3, "{{/a}} closes nothing: no section is open", "stray close");
	check_parse_error("{{#a}}{{^b}}{{/a}}{{/b}}", 1, "closes nothing", "crossed sections");
	check_parse_error("a\nb {{name\n", 2, "tag is never closed", "unterminated tag");
	check_parse_error("\n{{{raw}}}", 2, "{{{...}}} is not supported", "triple mustache");
	check_parse_error("{{=<% %>=}}", 1, "delimiter changes are not supported", "delimiter change");
	check_parse_error("\n\n\n{{ }}", 4, "empty tag", "empty tag");
	check_parse_error("{{! one\ntwo }}\n{{#x}}", 3, "never closed", "lines counted through a comment");
	check_parse_error("{{a\n}}{{b\n}}\n{{c d}}", 4, "bad name 'c d'", "lines counted through tags");
	check_parse_error("{{a b}}", 1, "bad name 'a b'", "space in a name");
	check_parse_error("{{a..b}}", 1, "bad name", "empty name part");
	check_parse_error("{{#.x}}{{/.x}}", 1, "bad name", "leading dot");
	check_parse_error("{{<script>}}", 1, "bad name", "markup as a name");
	check_parse_error("{{> ../etc/passwd}}", 1, "bad partial name", "partial outside the set");
	check_parse_error("{{& }}", 1, "empty tag", "empty raw tag");
	check_parse_error("{{url a b}}", 1, "bad name 'a b'", "url with two names");
	buf_t deep = BUF_INIT;
	for (int i = 0; i < 70; i++)
		buf_printf(&deep, "{{#s%d}}", i);
	check_parse_error(buf_str(&deep), 1, "nested too deeply", "sections nested 70 deep");
	buf_free(&deep);
	/* and a good file beside a bad one still fails the whole load */
	const char *files[] = {"good.html", "fine", "worse.html", "\n{{#x}}", NULL};
	char *got = render_src(files, "good", NULL);
	ok(strstr(got, "worse.html:2: section is never closed: 'x'") != NULL, "one bad file fails the set: %s", got);
	free(got);
}

/* Random sources from tag-ish characters: each loads or is refused naming the file and a line, and what
 * loads renders or fails with a message (ASan watches for the rest). Seeded, so runs repeat. */
static void test_random_sources(void)
{
	static const char alphabet[] = "{{{}}}#^/>&!.= ab\n";
	const char *no_files[] = {NULL};
	char *dir = make_set_dir(no_files);
	int bad = 0, loaded = 0;
	unsigned seed = 1;
	for (int i = 0; i < 400; i++) {
		char src[48];
		size_t n = (size_t)(rand_r(&seed) % (sizeof src - 1));
		for (size_t k = 0; k < n; k++)
			src[k] = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
		src[n] = '\0';
		write_file(dir, "t.html", src);
		char *err = NULL;
		tmpl_set *set = tmpl_load(dir, &err);
		if (set) {
			json_object *ctx = json_tokener_parse("{\"a\": [{\"b\": \"<x>\"}, 1], \"b\": true}");
			buf_t out = BUF_INIT;
			int rc = tmpl_render(set, "t", ctx, &out, &err);
			if ((rc < 0 && !err) || (rc == 0 && strstr(buf_str(&out), "<x>")))
				bad++;
			loaded++;
			buf_free(&out);
			json_object_put(ctx);
		} else if (!err || !strstr(err, "/t.html:")) {
			bad++;
		}
		tmpl_free(set);
		free(err);
	}
	is_int(bad, 0, "400 random sources: no unnamed error, no unescaped value (%d loaded)", loaded);
	free(dir);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_example_set();
	test_values_and_sections();
	test_trusted();
	test_partials();
	test_parse_errors();
	test_random_sources();
	char *cmd = buf_strf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		diag("could not remove %s", tmpdir);
	free(cmd);
	return tap_done();
}
