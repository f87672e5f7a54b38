/* mini_httpd.h - a one-thread HTTP/1.1 server on 127.0.0.1 for unit tests (header-only): each request's
 * first line goes to a callback that fills status and body; every connection is closed after one reply. */
#ifndef ATCR_MINI_HTTPD_H
#define ATCR_MINI_HTTPD_H
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Fill *status and body (NUL-terminated, up to size) for the request line "GET /path?q HTTP/1.1". */
typedef void (*mini_httpd_fn)(const char *request_line, int *status, char *body, size_t size);

typedef struct {
	int fd, port, requests;
	mini_httpd_fn fn;
	pthread_t thread;
} mini_httpd;

static void *mini_httpd_loop(void *arg)
{
	mini_httpd *s = arg;
	for (;;) {
		int c = accept(s->fd, NULL, NULL);
		if (c < 0)
			return NULL;
		char req[8192], body[16384], head[256];
		ssize_t n = read(c, req, sizeof req - 1);
		req[n > 0 ? n : 0] = '\0';
		req[strcspn(req, "\r\n")] = '\0';
		s->requests++;
		int status = 404;
		body[0] = '\0';
		s->fn(req, &status, body, sizeof body);
		int hl = snprintf(head, sizeof head,
				  "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
				  "Connection: close\r\n\r\n",
				  status, strlen(body));
		if (write(c, head, (size_t)hl) < 0 || write(c, body, strlen(body)) < 0)
			perror("mini_httpd write");
		close(c);
	}
}

/* Start serving on an ephemeral loopback port (s->port). 0 ok. */
static int mini_httpd_start(mini_httpd *s, mini_httpd_fn fn) __attribute__((unused));
static int mini_httpd_start(mini_httpd *s, mini_httpd_fn fn)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	memset(s, 0, sizeof *s);
	s->fn = fn;
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen) != 0)
		return -1;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, mini_httpd_loop, s);
}

static void mini_httpd_stop(mini_httpd *s) __attribute__((unused));
static void mini_httpd_stop(mini_httpd *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
}
#endif
