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

	s = buf_strf("%s=%d", "n", 42);
	is_str(s, "n=42", "buf_strf formats into a new string");
	free(s);
	char *err = NULL;
	is_int(buf_error(&err, "first %d", 1), -1, "buf_error returns -1");
	is_str(err, "first 1", "buf_error sets the message");
	buf_error(&err, "second");
	is_str(err, "second", "buf_error replaces an earlier message (freed: ASan would tell)");
	free(err);
	is_int(buf_error(NULL, "ignored"), -1, "buf_error with no out-parameter");
	return tap_done();
}
