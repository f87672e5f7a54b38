#include "tap.h"
int main(void) { ok(0, "test_db not written yet"); return tap_done(); }
