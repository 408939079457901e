/*
 * upconn - the outgoing connection under a client session: resolve the
 * host, connect to each address in turn (the lookup and each attempt
 * bounded by connect_timeout), hand the connected io to the owner, and on
 * the owner's word run TLS over it (implicit TLS right after connecting,
 * or STARTTLS-style later) together with the OCSP fetch the certificate
 * check may need.
 *
 * Contract: params in, one callback out with an event (as io.h), the
 * failure class and a text.  The owner keeps its own protocol state
 * machine and timers; upconn only knows sockets, TLS and OCSP.
 * - UPCONN_RESOLVED: the addresses are known; connecting to the first.
 * - UPCONN_CONNECTED (text: the peer, "192.0.2.1:25"): TCP is up.  The
 *   owner reads and writes upconn_io(), which stays the same until
 *   upconn_free() frees it (the owner never calls io_free() on it).
 * - UPCONN_TLS_UP (text: "TLSv1.3 <cipher>"): the handshake started by
 *   upconn_tls_start() is done and the certificate passed every check but
 *   OCSP.  UPCONN_OCSP_WAIT follows if the OCSP answer must be fetched:
 *   no input is delivered until it is in.  Then UPCONN_TLS_VERIFIED: TLS
 *   is fully checked, and input that arrived meanwhile is delivered as
 *   UPCONN_DATAIN right after.
 * - UPCONN_DATAIN, _LOWAT, _TIMEOUT, _CLOSED, _ERROR: the io's events of
 *   the same names, after connecting (io_error_class() and io_error()).
 * - UPCONN_FAILED (class, text: why): the lookup, every address, or the
 *   OCSP check failed (dns, connect, timeout, cert-revoked,
 *   revocation-unknown, internal).  Nothing follows.
 * The callback runs only from the event loop, never from inside
 * upconn_new() or upconn_tls_start(); the owner may call upconn_free()
 * inside it, and no callback is made after that.
 * Logs: "<tag>=host:port connect failed: <peer>: <why>" for each address
 * that fails (tag is the owner's, e.g. "smtp-client upstream").
 *
 * Through a proxy (params.proxy): the proxy's host is resolved and
 * connected to instead, and the handshake (net/proxyhs.h) asks it for a
 * tunnel to host:port, which the proxy resolves; UPCONN_CONNECTED (text:
 * the proxy's address) comes when the tunnel is open, and input the
 * destination sent behind the proxy's reply follows as UPCONN_DATAIN.
 * connect_timeout bounds each connection to the proxy together with its
 * handshake.  Failures: proxy-connect (lookup of the proxy or every
 * address of it failed), proxy-auth, proxy-refused (also: the proxy
 * closed during the handshake), timeout (the handshake), protocol (not
 * the proxy protocol).  The TLS name check is unchanged: the context
 * checks the configured name.  The password is copied and wiped once
 * sent and on free; upconn_via() never shows it.
 */
#ifndef GW_UPCONN_H
#define GW_UPCONN_H

#include <stddef.h>
#include <stdint.h>
#include "util/fail.h"

struct event_base;
struct gw_io;
struct evdns_base;
struct tls_client_ctx;
struct upconn;
struct proxy_url;

enum upconn_event {
	UPCONN_RESOLVED,
	UPCONN_CONNECTED,
	UPCONN_TLS_UP,
	UPCONN_OCSP_WAIT,
	UPCONN_TLS_VERIFIED,
	UPCONN_DATAIN,
	UPCONN_LOWAT,
	UPCONN_TIMEOUT,
	UPCONN_CLOSED,
	UPCONN_ERROR,
	UPCONN_FAILED
};

/* text: see the events above; NULL where none is named */
typedef void (*upconn_fn)(void *arg, enum upconn_event, enum gw_fail,
	    const char *text);

struct upconn_params {
	struct event_base	*base;
	struct evdns_base	*dns;
	const char		*host;		/* copied */
	unsigned		 port;
	struct tls_client_ctx	*tlsctx;	/* NULL if TLS is never started */
	size_t			 inmax;		/* the io's buffer bounds */
	size_t			 outmax;
	unsigned		 connect_timeout; /* seconds; 0: no bound here */
	const struct proxy_url	*proxy;		/* NULL or kind none: direct */
	const char		*proxy_password; /* with a proxy user; copied */
	const char		*tag;		/* log prefix, static */
	uint64_t		 id;		/* session id for logs */
};

/* upconn_new - start the lookup; NULL on ENOMEM */
struct upconn *upconn_new(const struct upconn_params *, upconn_fn, void *arg);
/* upconn_io - the connected io, or NULL before UPCONN_CONNECTED */
struct gw_io *upconn_io(const struct upconn *);
/*
 * upconn_tls_start - begin the TLS handshake on the connected io.  NULL
 * when started, else why not ("cannot start TLS: ...", valid until the
 * next call) with *cls set: protocol if plaintext input is still buffered
 * (a STARTTLS injection), else internal.
 */
const char *upconn_tls_start(struct upconn *, enum gw_fail *cls);
/* upconn_via - "socks5://user@host:port" of the proxy in use, or NULL */
const char *upconn_via(const struct upconn *);
/* upconn_free - close the connection and stop every wait; no callback after */
void	upconn_free(struct upconn *);

#endif
