/*
 * resolve.c - asynchronous lookups with evdns_getaddrinfo().
 *
 * evdns answers numeric hosts (and cached ones) from inside the call
 * itself; the contract promises the callback only from the loop, so such
 * an answer is parked and delivered by a zero-delay event.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/dns.h>
#include <event2/util.h>

#include "net/resolve.h"
#include "util/log.h"

struct resolve_req {
	struct evdns_getaddrinfo_request *req;
	struct event			*ev;	/* deferred delivery */
	resolve_fn			 fn;
	void				*arg;
	int				 starting;	/* inside resolve_start */
	int				 answered;
	struct resolve_result		 res;
};

static void
resolve_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct resolve_req	*r = arg;
	resolve_fn		 fn = r->fn;
	void			*farg = r->arg;
	struct resolve_result	 res = r->res;

	event_free(r->ev);
	free(r);
	fn(&res, farg);
}

static void
resolve_done(int err, struct evutil_addrinfo *ai, void *arg)
{
	struct resolve_req	*r = arg;
	struct evutil_addrinfo	*p;

	if (err == EVUTIL_EAI_CANCEL) {
		/* resolve_cancel() already disowned the request */
		if (ai != NULL)
			evutil_freeaddrinfo(ai);
		free(r);
		return;
	}
	r->req = NULL;
	r->res.error = err;
	r->res.errstr = err ? evutil_gai_strerror(err) : NULL;
	for (p = ai; p != NULL && r->res.naddrs < RESOLVE_MAX_ADDRS; p = p->ai_next) {
		if (p->ai_addrlen > sizeof(r->res.addrs[0]))
			continue;
		memcpy(&r->res.addrs[r->res.naddrs], p->ai_addr, p->ai_addrlen);
		r->res.addrlens[r->res.naddrs] = p->ai_addrlen;
		r->res.naddrs++;
	}
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	if (err == 0 && r->res.naddrs == 0) {
		r->res.error = EVUTIL_EAI_NONAME;
		r->res.errstr = "no usable address";
	}
	r->answered = 1;
	if (r->starting) {
		event_active(r->ev, EV_TIMEOUT, 0);
		return;
	}
	resolve_deliver(-1, 0, r);
}

/* resolve_start - begin a lookup of host:port */
struct resolve_req *
resolve_start(struct event_base *base, struct evdns_base *dns,
    const char *host, unsigned port, resolve_fn fn, void *arg)
{
	struct resolve_req	*r;
	struct evutil_addrinfo	 hints;
	char			 service[8];

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if ((r->ev = event_new(base, -1, 0, resolve_deliver, r)) == NULL) {
		free(r);
		return NULL;
	}
	r->fn = fn;
	r->arg = arg;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	/*
	 * No AI_ADDRCONFIG: libevent's version ignores loopback interfaces,
	 * so on a loopback-only host (a container) it would hide every
	 * address.  The client tries each address in turn anyway.
	 */
	(void)snprintf(service, sizeof(service), "%u", port);
	r->starting = 1;
	r->req = evdns_getaddrinfo(dns, host, service, &hints, resolve_done, r);
	r->starting = 0;
	return r;
}

/* resolve_cancel - drop a request; its callback will not run */
void
resolve_cancel(struct resolve_req *r)
{
	if (r == NULL)
		return;
	if (r->answered) {
		/* the answer is parked on r->ev: just drop it */
		event_free(r->ev);
		free(r);
		return;
	}
	event_free(r->ev);
	r->ev = NULL;
	/* evdns calls resolve_done with EVUTIL_EAI_CANCEL, which frees r */
	evdns_getaddrinfo_cancel(r->req);
}
