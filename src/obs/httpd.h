/*
 * httpd - the metrics and health endpoints ([gateway] http_listen) on the
 * gateway's own event loop, with libevent's evhttp.
 *
 * Contract: GET and HEAD only (anything else 405), three paths:
 * /metrics (metrics_format of the registry, after cb->refresh has set
 * the gauges), /healthz (200 while the loop serves), /readyz (200 when
 * cb->ready says so, else 503 with its reason as text); any other path
 * 404.  Bounded: HTTPD_MAX_CONN connections at once (more are closed as
 * they come), request headers and body, and the time to send a whole
 * request (HTTPD_TIMEOUT from accept and from each reply).  The
 * socket is bound by httpd_new(), before privileges are dropped.
 */
#ifndef GW_HTTPD_H
#define GW_HTTPD_H

#include <stddef.h>

struct event_base;
struct hostport;
struct httpd;

/* connections served at once; more are closed at accept */
#define HTTPD_MAX_CONN		8
/* a scraper's request: its headers, and no body worth reading */
#define HTTPD_MAX_HEADERS	8192
#define HTTPD_MAX_BODY		1024
/* seconds a connection may sit idle or take to send a whole request */
#define HTTPD_TIMEOUT		10
/* the exposition text's bound */
#define HTTPD_METRICS_MAX	(1024 * 1024)

struct httpd_cb {
	/* before /metrics: set the gauges in the registry */
	void	(*refresh)(void *arg);
	/* /readyz: 1 ready; 0 with a one-line reason in why */
	int	(*ready)(void *arg, char *why, size_t len);
	void	*arg;
};

/* httpd_new - bind hp and serve; NULL with the reason in err */
struct httpd	*httpd_new(struct event_base *, const struct hostport *,
		    const struct httpd_cb *, char *err, size_t errlen);
/* httpd_free - close the socket and every connection */
void		 httpd_free(struct httpd *);
/* httpd_bound - 1 if h serves exactly hp */
int		 httpd_bound(const struct httpd *, const struct hostport *);

#endif
