/*
 * upconn - the outgoing connection under a client session: resolve the
 * host, connect to each address in turn (the lookup and each attempt
 * bounded by connect_timeout), hand the connected io to the owner, and on
 * the owner's word run TLS over it (implicit TLS right after connecting,
 * or STARTTLS-style later) together with the OCSP fetch the certificate
 * check may need.
 *
 * Contract: params in, callbacks out.  The owner keeps its own protocol
 * state machine and timers; upconn only knows sockets, TLS and OCSP.
 * - resolved(): the addresses are known; connecting to the first.
 * - connected(io, peer): TCP is up.  The owner reads and writes io (it
 *   stays the same until upconn_free(), which frees it; the owner never
 *   calls io_free() on it).
 * - tls_up(desc, ocsp_wait): the handshake started by upconn_tls_start()
 *   is done and the certificate passed every check but OCSP; desc is
 *   "TLSv1.3 <cipher>".  With ocsp_wait the answer is being fetched and no
 *   input is delivered until it is in: tls_verified() or failed() follows.
 * - tls_verified(): TLS is up and fully checked.  Input that arrived while
 *   OCSP was fetched is delivered as IO_DATAIN right after.
 * - io(ev): IO_DATAIN, IO_LOWAT, IO_TIMEOUT, IO_CLOSED or IO_ERROR of the
 *   connected io, as io.h describes them (never IO_CONNECTED/IO_TLSREADY).
 * - failed(class, why): the lookup, every address, or the OCSP check
 *   failed (dns, connect, timeout, cert-revoked, revocation-unknown, ...).
 *   Nothing follows.
 * Callbacks come only from the event loop, never from inside upconn_new()
 * or upconn_tls_start(); the owner may call upconn_free() inside any of
 * them, and no callback is made after it.
 * Logs: "<tag>=host:port connect failed: <peer>: <why>" for each address
 * that fails (tag is the owner's, e.g. "smtp-client upstream").
 */
#ifndef GW_UPCONN_H
#define GW_UPCONN_H

#include <stddef.h>
#include <stdint.h>
#include "net/io.h"
#include "util/fail.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct upconn;

struct upconn_params {
	struct event_base	*base;
	struct evdns_base	*dns;
	const char		*host;		/* copied */
	unsigned		 port;
	struct tls_client_ctx	*tlsctx;	/* NULL if TLS is never started */
	size_t			 inmax;		/* the io's buffer bounds */
	size_t			 outmax;
	unsigned		 connect_timeout; /* seconds; 0: no bound here */
	const char		*tag;		/* log prefix, static */
	uint64_t		 id;		/* session id for logs */
};

struct upconn_cb {
	void	(*resolved)(void *arg);
	void	(*connected)(void *arg, struct gw_io *, const char *peer);
	void	(*tls_up)(void *arg, const char *desc, int ocsp_wait);
	void	(*tls_verified)(void *arg);
	void	(*io)(void *arg, enum io_event);
	void	(*failed)(void *arg, enum gw_fail, const char *why);
};

/* upconn_new - start the lookup; NULL on ENOMEM */
struct upconn *upconn_new(const struct upconn_params *,
	    const struct upconn_cb *, void *arg);
/*
 * upconn_tls_start - begin the TLS handshake on the connected io.  NULL
 * when started, else why not ("cannot start TLS: ...", valid until the
 * next call) with *cls set: protocol if plaintext input is still buffered
 * (a STARTTLS injection), else internal.
 */
const char *upconn_tls_start(struct upconn *, enum gw_fail *cls);
/* upconn_free - close the connection and stop every wait; no callback after */
void	upconn_free(struct upconn *);

#endif
