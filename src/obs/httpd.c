/*
 * httpd.c - /metrics, /healthz and /readyz over libevent's evhttp
 * (httpd.h).
 *
 * Counting connections: libevent 2.1 (Debian 12) has no connection limit
 * of its own and no hook at accept.  Its bufferevent callback (bevcb) is
 * called for each new connection, before the connection object exists:
 * we hold the bufferevent there and look at it once more at the end of
 * the same loop turn (an event made active, so before any of its I/O),
 * when evhttp has set its connection as the bufferevent's callback
 * argument.  Then the connection is either counted (and a close callback
 * uncounts it) or, over the limit, closed.  Our reference keeps the
 * bufferevent valid if evhttp dropped it meanwhile (its callbacks are
 * then cleared, which is how we know).
 *
 * evhttp's own timeout is an idle one, started again by every octet: a
 * client sending a header byte every few seconds would hold its slot for
 * hours, and HTTPD_MAX_CONN of them would shut /healthz out (a liveness
 * probe then restarts a working gateway).  So each counted connection has
 * a deadline of its own: HTTPD_TIMEOUT seconds from accept, and again
 * from each request served, to send a whole request.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "obs/httpd.h"
#include "obs/metrics.h"
#include "util/addr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/sockbind.h"
#include "util/str.h"

#define HTTPD_BACKLOG	16

/* a connection evhttp is setting up, looked at at the end of the turn */
struct fresh {
	struct bufferevent	*bev;
	struct fresh		*next;
};

/* a counted connection and its deadline (evcon NULL: the slot is free) */
struct hconn {
	struct httpd			*h;
	struct evhttp_connection	*evcon;
	struct event			*deadline;
};

struct httpd {
	struct event_base	*base;
	struct evhttp		*http;
	struct hostport		 hp;
	struct httpd_cb		 cb;
	struct event		*track_ev;
	struct fresh		*fresh;		/* oldest first */
	struct fresh		**fresh_tail;
	struct hconn		 conns[HTTPD_MAX_CONN];
	unsigned		 nconn;
	int			 fd;
};

/* the slot of a counted connection, or NULL */
static struct hconn *
conn_find(struct httpd *h, const struct evhttp_connection *evcon)
{
	size_t	i;

	for (i = 0; i < HTTPD_MAX_CONN; i++)
		if (h->conns[i].evcon == evcon)
			return &h->conns[i];
	return NULL;
}

/* the deadline for a whole request, from now */
static void
conn_arm(struct hconn *hc)
{
	struct timeval	tv = { HTTPD_TIMEOUT, 0 };

	(void)evtimer_add(hc->deadline, &tv);
}

static void
conn_release(struct hconn *hc)
{
	(void)evtimer_del(hc->deadline);
	hc->evcon = NULL;
	if (hc->h->nconn > 0)
		hc->h->nconn--;
}

static void
httpd_closed(struct evhttp_connection *evcon, void *arg)
{
	conn_release(arg);
}

/* no whole request within HTTPD_TIMEOUT: closed, the slot free again */
static void
conn_expired(evutil_socket_t fd, short what, void *arg)
{
	struct hconn			*hc = arg;
	struct evhttp_connection	*evcon = hc->evcon;

	if (evcon == NULL)
		return;
	log_info("http: no whole request in %d s: connection closed",
	    HTTPD_TIMEOUT);
	/* uncounted here, once: the close callback must not do it again */
	evhttp_connection_set_closecb(evcon, NULL, NULL);
	conn_release(hc);
	evhttp_connection_free(evcon);
}

/* the end of the turn: count each new connection, or close it */
static void
httpd_track(evutil_socket_t fd, short what, void *arg)
{
	struct httpd			*h = arg;
	struct fresh			*f;
	struct evhttp_connection	*evcon;
	struct hconn			*hc;
	void				*cbarg = NULL;

	while ((f = h->fresh) != NULL) {
		if ((h->fresh = f->next) == NULL)
			h->fresh_tail = &h->fresh;
		bufferevent_getcb(f->bev, NULL, NULL, NULL, &cbarg);
		evcon = cbarg;
		(void)bufferevent_decref(f->bev);
		free(f);
		if (evcon == NULL)
			continue;	/* evhttp let it go already */
		if ((hc = conn_find(h, NULL)) == NULL) {
			log_info("http: %u connections open: one more closed",
			    h->nconn);
			evhttp_connection_free(evcon);
			continue;
		}
		h->nconn++;
		hc->evcon = evcon;
		conn_arm(hc);
		evhttp_connection_set_closecb(evcon, httpd_closed, hc);
	}
}

static struct bufferevent *
httpd_bev(struct event_base *base, void *arg)
{
	struct httpd		*h = arg;
	struct bufferevent	*bev;
	struct fresh		*f;

	if ((bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE))
	    == NULL)
		return NULL;
	/* untracked on ENOMEM: evhttp's own limits still bound it */
	if ((f = malloc(sizeof(*f))) == NULL)
		return bev;
	bufferevent_incref(bev);
	f->bev = bev;
	f->next = NULL;
	*h->fresh_tail = f;
	h->fresh_tail = &f->next;
	event_active(h->track_ev, EV_TIMEOUT, 1);
	return bev;
}

static void
reply_text(struct evhttp_request *req, int code, const char *reason,
    const char *text)
{
	struct evbuffer	*out = evhttp_request_get_output_buffer(req);

	(void)evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; charset=utf-8");
	(void)evbuffer_add(out, text, strlen(text));
	evhttp_send_reply(req, code, reason, NULL);
}

static void
serve_metrics(struct httpd *h, struct evhttp_request *req)
{
	struct buf	 b;

	if (h->cb.refresh != NULL)
		h->cb.refresh(h->cb.arg);
	buf_init(&b, HTTPD_METRICS_MAX);
	if (metrics_format(&gw_metrics, &b) == -1) {
		log_warnx("http: metrics exposition over %u octets",
		    HTTPD_METRICS_MAX);
		buf_release(&b);
		reply_text(req, HTTP_INTERNAL, "Internal Server Error",
		    "metrics too large\n");
		return;
	}
	(void)evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	(void)evbuffer_add(evhttp_request_get_output_buffer(req), buf_data(&b),
	    buf_len(&b));
	buf_release(&b);
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void
serve_ready(struct httpd *h, struct evhttp_request *req)
{
	char	 why[512], text[600];

	why[0] = '\0';
	if (h->cb.ready == NULL || h->cb.ready(h->cb.arg, why, sizeof(why))) {
		reply_text(req, HTTP_OK, "OK", "ready\n");
		return;
	}
	(void)snprintf(text, sizeof(text), "not ready: %s\n", why);
	reply_text(req, HTTP_SERVUNAVAIL, "Service Unavailable", text);
}

static void
httpd_request(struct evhttp_request *req, void *arg)
{
	struct httpd		*h = arg;
	const struct evhttp_uri	*uri = evhttp_request_get_evhttp_uri(req);
	const char		*path = uri != NULL ?
				    evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type	 cmd = evhttp_request_get_command(req);
	struct hconn		*hc;

	/* served: the next request on this connection has its own time */
	if ((hc = conn_find(h, evhttp_request_get_connection(req))) != NULL)
		conn_arm(hc);
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		(void)evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		reply_text(req, HTTP_BADMETHOD, "Method Not Allowed",
		    "only GET and HEAD\n");
		return;
	}
	if (path == NULL)
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
	else if (strcmp(path, "/metrics") == 0)
		serve_metrics(h, req);
	else if (strcmp(path, "/healthz") == 0)
		reply_text(req, HTTP_OK, "OK", "ok\n");
	else if (strcmp(path, "/readyz") == 0)
		serve_ready(h, req);
	else
		reply_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
}

/* httpd_new - bind and serve */
struct httpd *
httpd_new(struct event_base *base, const struct hostport *hp,
    const struct httpd_cb *cb, char *err, size_t errlen)
{
	struct httpd	*h;
	size_t		 i;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->base = base;
	h->hp = *hp;
	h->cb = *cb;
	h->fresh_tail = &h->fresh;
	h->fd = -1;
	for (i = 0; i < HTTPD_MAX_CONN; i++) {
		h->conns[i].h = h;
		if ((h->conns[i].deadline = evtimer_new(base, conn_expired,
		    &h->conns[i])) == NULL) {
			(void)snprintf(err, errlen, "http_listen: out of memory");
			httpd_free(h);
			return NULL;
		}
	}
	if ((h->fd = sock_bind_listen(hp->host, hp->port, HTTPD_BACKLOG,
	    "http_listen", err, errlen)) == -1) {
		httpd_free(h);
		return NULL;
	}
	if ((h->http = evhttp_new(base)) == NULL ||
	    (h->track_ev = event_new(base, -1, 0, httpd_track, h)) == NULL) {
		(void)snprintf(err, errlen, "http_listen: out of memory");
		httpd_free(h);
		return NULL;
	}
	evhttp_set_max_headers_size(h->http, HTTPD_MAX_HEADERS);
	evhttp_set_max_body_size(h->http, HTTPD_MAX_BODY);
	evhttp_set_timeout(h->http, HTTPD_TIMEOUT);
	/* every method reaches httpd_request, which answers 405 itself */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, httpd_request, h);
	evhttp_set_bevcb(h->http, httpd_bev, h);
	if (evhttp_accept_socket_with_handle(h->http, h->fd) == NULL) {
		(void)snprintf(err, errlen, "http_listen %s:%u: cannot accept",
		    hp->host, hp->port);
		httpd_free(h);
		return NULL;
	}
	h->fd = -1;	/* evhttp's now */
	log_info("http: serving /metrics /healthz /readyz on %s%s%s:%u",
	    strchr(hp->host, ':') ? "[" : "", hp->host,
	    strchr(hp->host, ':') ? "]" : "", hp->port);
	return h;
}

/* httpd_free - the socket, the connections, the object */
void
httpd_free(struct httpd *h)
{
	struct fresh	*f;
	size_t		 i;

	if (h == NULL)
		return;
	/* the connections' close callbacks still find their slots */
	if (h->http != NULL)
		evhttp_free(h->http);
	for (i = 0; i < HTTPD_MAX_CONN; i++)
		if (h->conns[i].deadline != NULL)
			event_free(h->conns[i].deadline);
	while ((f = h->fresh) != NULL) {
		h->fresh = f->next;
		(void)bufferevent_decref(f->bev);
		free(f);
	}
	if (h->track_ev != NULL)
		event_free(h->track_ev);
	if (h->fd != -1)
		close(h->fd);
	free(h);
}

/* httpd_bound - does h serve hp */
int
httpd_bound(const struct httpd *h, const struct hostport *hp)
{
	return h != NULL && h->hp.port == hp->port &&
	    strcmp(h->hp.host, hp->host) == 0;
}
