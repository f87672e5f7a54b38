/* test_jsonget.c - typed member reads: right type, wrong type, missing, null, NULL objects. */
#include <string.h>

#include "jsonget.h"
#include "tap.h"

int main(void)
{
	json_object *o = json_tokener_parse("{\"s\":\"text\",\"n\":3,\"z\":null,\"a\":[1],\"o\":{\"s\":\"in\"}}");
	ok(o != NULL, "fixture parses");
	ok(jsonget_str(o, "s") && strcmp(jsonget_str(o, "s"), "text") == 0, "a string member");
	ok(jsonget_str(o, "n") == NULL, "a number is not a string");
	ok(jsonget_str(o, "z") == NULL, "null is not a string");
	ok(jsonget_str(o, "missing") == NULL, "a missing member");
	ok(jsonget_str(NULL, "s") == NULL, "a NULL object");
	ok(jsonget(o, "a", json_type_array) != NULL && jsonget(o, "a", json_type_object) == NULL, "typed: array");
	ok(strcmp(jsonget_str(jsonget(o, "o", json_type_object), "s"), "in") == 0, "a nested read");
	ok(jsonget_str(jsonget(o, "s", json_type_object), "s") == NULL, "a nested read through the wrong type");
	ok(jsonget_optional_ok(o, "missing", json_type_string), "optional: missing is fine");
	ok(jsonget_optional_ok(o, "z", json_type_string), "optional: null is fine");
	ok(jsonget_optional_ok(o, "s", json_type_string), "optional: the right type is fine");
	ok(!jsonget_optional_ok(o, "n", json_type_string), "optional: another type is not");
	json_object_put(o);
	return tap_done();
}
