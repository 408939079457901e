/*
 * proxywait - connections waiting for their PROXY protocol header.
 *
 * Contract: proxywait_add() takes an accepted fd whose peer is a trusted
 * balancer and reads the header from it with proxyproto_parse(), never an
 * octet past its end: it peeks, consumes only what the parser says is
 * header, and leaves the client's first octets (a TLS ClientHello, SMTP)
 * in the socket.  The whole header must arrive within the timeout (a
 * deadline, not reset by partial input).  On success done() gets the fd
 * and the header; on any failure (malformed, truncated, too slow, closed,
 * or the set freed) the fd is closed and the failure logged, and done()
 * is not called.  Each waiting connection holds one fd and a
 * PROXY_MAX_LEN buffer: the caller bounds their number (proxywait_count).
 */
#ifndef GW_PROXYWAIT_H
#define GW_PROXYWAIT_H

#include <stddef.h>
#include <sys/socket.h>

struct event_base;
struct proxy_hdr;
struct proxywait_set;

/* the header is in; the fd is the caller's again, peer is the balancer */
typedef void (*proxywait_fn)(void *arg, int fd, const struct sockaddr *peer,
	    socklen_t peerlen, const struct proxy_hdr *);

/* proxywait_new - an empty set; NULL on ENOMEM */
struct proxywait_set *proxywait_new(struct event_base *, proxywait_fn);
/*
 * proxywait_add - wait for fd's header: versions in accept
 * (PROXY_ACCEPT_*), timeout in seconds; arg goes to done().  -1 on
 * ENOMEM (the fd is then still the caller's).
 */
int	proxywait_add(struct proxywait_set *, int fd, const struct sockaddr *peer,
	    socklen_t peerlen, int accept, unsigned timeout, void *arg);
/* proxywait_count - connections waiting now */
size_t	proxywait_count(const struct proxywait_set *);
/* proxywait_free - close every waiting connection and free the set */
void	proxywait_free(struct proxywait_set *);

#endif
