/* jsonget.c - typed reads of JSON object members (see jsonget.h). */
#include "jsonget.h"

json_object *jsonget(json_object *o, const char *key, json_type type)
{
	json_object *v;
	return o && json_object_object_get_ex(o, key, &v) && json_object_is_type(v, type) ? v : NULL;
}

const char *jsonget_str(json_object *o, const char *key)
{
	json_object *v = jsonget(o, key, json_type_string);
	return v ? json_object_get_string(v) : NULL;
}

int jsonget_optional_ok(json_object *o, const char *key, json_type type)
{
	json_object *v;
	return !o || !json_object_object_get_ex(o, key, &v) || !v || json_object_is_type(v, type);
}
