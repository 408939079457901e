/*
 * listener - the sockets the gateway accepts clients on.
 *
 * Contract: listeners_open() binds every address of every [listener]
 * (before privileges are dropped).  On accept the client address is
 * checked against the listener's allow networks (outside: "554 5.7.1" and
 * close), against the global and per-client session limits and the
 * rate_connections limit (net/ratecheck.c) ("421" and close); only then is the fd handed to the accept callback.  The callback
 * owner reports each session's end with listeners_session_done() so the
 * limits stay accurate.  On reload listeners_update() swaps in the new
 * configuration by listener name; the bound addresses themselves can only
 * change with a restart.
 *
 * A listener with proxy_protocol first checks the peer against
 * proxy_from (outside: closed, no reply) and reads the PROXY header
 * (proxywait); the same checks then apply to the client address the
 * header carries, and the accept callback and listeners_session_done()
 * see that address.
 */
#ifndef GW_LISTENER_H
#define GW_LISTENER_H

#include <sys/socket.h>

struct event_base;
struct gw_conf;
struct conf_listener;
struct listener_set;

/*
 * peer is the client: the address a PROXY header carried, else the
 * connection's peer; proxy is the balancer that sent the header, or NULL.
 */
typedef void (*listener_accept_fn)(void *arg, const struct conf_listener *,
	    int fd, const struct sockaddr *peer, socklen_t peerlen,
	    const struct sockaddr *proxy);

/* listeners_open - bind and listen; NULL with a reason in err */
struct listener_set *listeners_open(const struct gw_conf *, char *err, size_t errlen);
/* listeners_start - accept from the loop */
int	listeners_start(struct listener_set *, struct event_base *,
	    listener_accept_fn, void *arg);
/* listeners_update - take a new configuration (after SIGHUP); 0 or -1 with err */
int	listeners_update(struct listener_set *, const struct gw_conf *,
	    char *err, size_t errlen);
/* listeners_stop - stop accepting and close the sockets (SIGTERM) */
void	listeners_stop(struct listener_set *);
/* listeners_session_done - a session handed out by accept has ended */
void	listeners_session_done(struct listener_set *, const struct sockaddr *peer);
void	listeners_free(struct listener_set *);

#endif
