/* test_buf.c - growable buffer. */
#include "buf.h"
#include "tap.h"

int main(void)
{
	buf_t b = BUF_INIT;
	is_str(buf_str(&b), "", "empty buffer reads as empty string");
	buf_puts(&b, "hello");
	buf_printf(&b, " %s %d", "world", 42);
	is_str(buf_str(&b), "hello world 42", "puts + printf");
	is_int(b.len, 14, "length tracked");
	for (int i = 0; i < 10000; i++)
		buf_append(&b, "x", 1);
	is_int(b.len, 10014, "grows past many reallocations");
	ok(b.data[b.len] == '\0', "stays NUL-terminated");
	buf_reset(&b);
	is_str(buf_str(&b), "", "reset empties");
	buf_append(&b, "a\0b", 3);
	is_int(b.len, 3, "binary append keeps embedded NUL");
	char *s = buf_detach(&b);
	ok(s && s[0] == 'a' && s[2] == 'b', "detach hands over the bytes");
	ok(b.data == NULL && b.len == 0, "detach resets the buffer");
	free(s);
	s = buf_detach(&b);
	is_str(s, "", "detach of an empty buffer gives an empty string");
	free(s);
	buf_free(&b);
	return tap_done();
}
