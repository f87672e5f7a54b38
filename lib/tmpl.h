/* tmpl.h - a small Mustache-like template engine over json-c values for the web UI, where output is
 * HTML-escaped by default: a template cannot print unescaped user data by accident.
 *
 *   {{name}} {{a.b}} {{.}}   the value, always HTML-escaped (missing or null: nothing)
 *   {{url name}}             escaped, and "#" unless http, https, mailto or relative (html_url)
 *   {{#name}}..{{/name}}     array: once per element, the element as context; object: once, pushed as
 *                            context; true, non-zero number, non-empty string: once. Else not at all.
 *   {{^name}}..{{/name}}     once when the section above would not show
 *   {{> other}}              the template "other" of the same set, with the current context
 *   {{& name}}               raw, but only for a value made by tmpl_trusted_html(); anything else is
 *                            escaped like {{name}}
 *   {{! comment}}
 *
 * Names are resolved as in Mustache: the first part up the context stack, the rest inside it. Objects
 * and arrays print as nothing. There are no {{{triple}}} tags and no delimiter changes, and text around
 * tags is kept exactly as written (no Mustache "standalone line" trimming).
 */
#ifndef ATCR_TMPL_H
#define ATCR_TMPL_H
#include <json-c/json.h>

#include "buf.h"

typedef struct tmpl_set tmpl_set;

/* Load and parse every "<name>.html" in dir (name: letters, digits, '_' and '-'; other files are
 * ignored) and check that every {{> partial}} exists. NULL and *err (caller frees; "dir/file.html:LINE:
 * what") on the first error. The set is read-only afterwards: any number of threads may render it. */
tmpl_set *tmpl_load(const char *dir, char **err);
void tmpl_free(tmpl_set *set);

/* Append the template `name` rendered with ctx (any json-c value, NULL for none) to out.
 * Returns 0, or -1 with *err (caller frees) and out as it was before the call. */
int tmpl_render(const tmpl_set *set, const char *name, json_object *ctx, buf_t *out, char **err);

/* A string value {{& name}} prints as it is (caller owns the reference, usually handing it to
 * json_object_object_add); NULL when out of memory. The trust mark is no part of the JSON text: it is
 * json-c's userdata pointer set to the address of a private object in tmpl.c, which parsing never
 * sets and no JSON text can express; serialising and parsing again drops it, json_object_deep_copy
 * refuses to copy it. Use it only for HTML our own code produced (md_to_html, html_escape). */
json_object *tmpl_trusted_html(const char *html);

#endif
