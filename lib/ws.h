/* ws.h - a blocking WebSocket client (RFC 6455) for Jetstream and the firehose: wslay frames the
 * messages, over a plain TCP socket for ws:// or OpenSSL TLS (verified) for wss://. */
#ifndef ATCR_WS_H
#define ATCR_WS_H
#include <stddef.h>

#include "buf.h"

/* One connection. Not shared between threads; separate connections in separate threads are fine. */
typedef struct ws_conn ws_conn;

typedef struct {
	int timeout_ms;         /* connect + TLS + upgrade handshake in total, and each ws_send_text; 0 = 10000 */
	const char *ca_file;    /* PEM file of CAs to trust instead of the system's (tests); NULL = system */
	const char *user_agent; /* NULL = "atcr/VERSION" */
	size_t max_message;     /* largest message accepted; 0 = 8 MiB; a larger one is an error */
} ws_options;

/* Connect to a ws:// or wss:// URL (path and query kept as given) and complete the upgrade, checking
 * Sec-WebSocket-Accept. opt may be NULL. Returns the connection (free with ws_close), or NULL with
 * *err (caller frees): bad URL, unreachable host, TLS or certificate failure, a server that answers
 * without switching protocols (the message names its HTTP status), timeout. */
ws_conn *ws_connect(const char *url, const ws_options *opt, char **err);

/* Wait up to timeout_ms (< 0: no limit) for the next whole message and put it in msg (replacing its
 * contents; NUL-terminated after len bytes). *binary (may be NULL) tells a binary message from a text
 * one. Pings are answered meanwhile. 1 a message, 0 the time ran out (the connection stays usable),
 * -1 with *err: the server closed the connection (its status code and reason in the message), the
 * connection broke, a protocol error, or a message over max_message. After -1 only ws_close is left. */
int ws_recv(ws_conn *c, buf_t *msg, int *binary, int timeout_ms, char **err);

/* Send one text message (Jetstream's options_update). 0 ok, -1 with *err. */
int ws_send_text(ws_conn *c, const char *text, size_t len, char **err);

/* Close politely (status 1000, waiting briefly for the server's close) and free everything; NULL ok. */
void ws_close(ws_conn *c);

#endif
