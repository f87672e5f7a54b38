#include "tap.h"
int main(void) { ok(0, "test_fcgi not written yet"); return tap_done(); }
