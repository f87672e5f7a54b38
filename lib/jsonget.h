/* jsonget.h - typed reads of JSON object members: NULL when the object is NULL or the member is
 * missing or of another type, so a caller checks once instead of at every step. */
#ifndef ATCR_JSONGET_H
#define ATCR_JSONGET_H
#include <json-c/json.h>

/* o's member key if it has the given type (borrowed), else NULL. */
json_object *jsonget(json_object *o, const char *key, json_type type);
/* o's string member key (borrowed), else NULL. */
const char *jsonget_str(json_object *o, const char *key);
/* 1 when key is missing, null, or of the given type; 0 when it has another type. */
int jsonget_optional_ok(json_object *o, const char *key, json_type type);

#endif
