/*
 * resolve - asynchronous name resolution (evdns) for upstream hosts.
 *
 * Contract: never blocks the loop.  The callback runs exactly once, from
 * the event loop (never from inside resolve_start), unless the request is
 * cancelled first with resolve_cancel(), after which it never runs.
 */
#ifndef GW_RESOLVE_H
#define GW_RESOLVE_H

#include <sys/socket.h>

struct evdns_base;
struct event_base;
struct resolve_req;

#define RESOLVE_MAX_ADDRS	8

struct resolve_result {
	int			 error;		/* 0, or an EVUTIL_EAI_* code */
	const char		*errstr;	/* text for error */
	size_t			 naddrs;
	struct sockaddr_storage	 addrs[RESOLVE_MAX_ADDRS];
	socklen_t		 addrlens[RESOLVE_MAX_ADDRS];
};

typedef void (*resolve_fn)(const struct resolve_result *, void *arg);

/* resolve_start - look up host (name or literal) for port; NULL on ENOMEM */
struct resolve_req *resolve_start(struct event_base *, struct evdns_base *,
	    const char *host, unsigned port, resolve_fn, void *arg);
/* resolve_cancel - the callback will not run */
void	resolve_cancel(struct resolve_req *);

#endif
