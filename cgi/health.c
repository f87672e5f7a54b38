/* health.c - GET /health: answers as soon as the program can take requests. */
#include "appview.h"

#include <string.h>

int health_get(fcgi_req *r)
{
	/* Deliberately touches nothing else (no index, no network): a liveness probe must not
	 * fail because a dependency is slow. */
	static const char body[] = "{\"status\":\"ok\"}";
	fcgi_add_header(r, "Cache-Control", "no-store");
	return fcgi_send(r, 200, "application/json", body, strlen(body));
}
