/* ws_client.c - lib/ws from the command line, for tests/integration/ws.sh: connect to a ws:// or
 * wss:// URL, print each message on its own line, stop after N messages or T seconds.
 *
 *   ws_client [-n COUNT] [-t SECONDS] [--ca FILE] [--max BYTES] [--send TEXT] URL
 *
 * Text messages are printed as they are, binary ones as "binary <length> <first bytes in hex>".
 * Exit 0 after COUNT messages (default: unlimited), 3 when the time ran out first (default 10 s),
 * 1 on an error (the message on stderr, prefixed "ws_client: "), 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "ws.h"

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int usage(void)
{
	fprintf(stderr, "usage: ws_client [-n COUNT] [-t SECONDS] [--ca FILE] [--max BYTES] [--send TEXT] URL\n");
	return 2;
}

int main(int argc, char **argv)
{
	long count = -1;
	double seconds = 10;
	const char *url = NULL, *send_text = NULL;
	ws_options opt = {.user_agent = "atcr-ws-client-test"};
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "-n") && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (!strcmp(a, "-t") && i + 1 < argc)
			seconds = strtod(argv[++i], NULL);
		else if (!strcmp(a, "--ca") && i + 1 < argc)
			opt.ca_file = argv[++i];
		else if (!strcmp(a, "--max") && i + 1 < argc)
			opt.max_message = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(a, "--send") && i + 1 < argc)
			send_text = argv[++i];
		else if (a[0] == '-' || url)
			return usage();
		else
			url = a;
	}
	if (!url)
		return usage();

	char *err = NULL;
	int rc = 1;
	buf_t msg = BUF_INIT;
	long long deadline = now_ms() + (long long)(seconds * 1000);
	opt.timeout_ms = (int)(seconds * 1000) > 0 ? (int)(seconds * 1000) : 1;
	ws_conn *c = ws_connect(url, &opt, &err);
	if (!c)
		goto out;
	if (send_text && ws_send_text(c, send_text, strlen(send_text), &err) < 0)
		goto out;
	for (long got = 0; count < 0 || got < count; got++) {
		long long left = deadline - now_ms();
		int binary = 0;
		int r = left > 0 ? ws_recv(c, &msg, &binary, (int)left, &err) : 0;
		if (r < 0)
			goto out;
		if (r == 0) {
			rc = 3;
			goto out;
		}
		if (binary) {
			printf("binary %zu ", msg.len);
			for (size_t j = 0; j < msg.len && j < 16; j++)
				printf("%02x", (unsigned char)msg.data[j]);
			putchar('\n');
		} else {
			fwrite(msg.data, 1, msg.len, stdout);
			putchar('\n');
		}
		fflush(stdout);
	}
	rc = 0;
out:
	if (err)
		fprintf(stderr, "ws_client: %s\n", err);
	free(err);
	buf_free(&msg);
	ws_close(c);
	return rc;
}
