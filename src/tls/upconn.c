/*
 * upconn.c - resolve, connect, TLS and OCSP for a client session (see
 * upconn.h).
 *
 * The states mirror the ones the owners log (RESOLVING, CONNECTING,
 * TLS_*), so they are not logged again here.  Failures of an attempt are
 * kept (conn_class, conn_err) and the next address is tried; only when
 * none is left does the owner hear failed(), with the last reason.
 *
 * Lifetime: every entry from the event loop holds the upconn; upconn_free()
 * inside such a frame only marks UF_FREE, and the outermost frame frees.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "net/io.h"
#include "net/proxyhs.h"
#include "net/resolve.h"
#include "tls/tls.h"
#include "tls/upconn.h"
#include "util/addr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/proxyurl.h"
#include "util/str.h"

#define UPCONN_HOST_MAX		256
#define UPCONN_TEXT_MAX		512

enum uc_state {
	UC_RESOLVING = 0,
	UC_CONNECTING,
	UC_PROXY,		/* connected to the proxy, handshake running */
	UC_OPEN,		/* connected; plaintext or verified TLS */
	UC_TLS,			/* handshake running */
	UC_OCSP,		/* handshake done, OCSP answer awaited */
	UC_FAILED,		/* failed() sent */
	UC_MAX
};

static const char *const strstate[] = {
	[UC_RESOLVING] = "RESOLVING",
	[UC_CONNECTING] = "CONNECTING",
	[UC_PROXY] = "PROXY",
	[UC_OPEN] = "OPEN",
	[UC_TLS] = "TLS",
	[UC_OCSP] = "OCSP",
	[UC_FAILED] = "FAILED",
};

_Static_assert(sizeof(strstate) / sizeof(strstate[0]) == UC_MAX,
    "strstate[] must name every upconn state");

#define UF_FREE		0x01	/* free when the outermost frame unwinds */

struct upconn {
	enum uc_state		 state;
	unsigned		 flags;
	int			 held;

	struct event_base	*base;
	struct evdns_base	*dns;
	char			 host[UPCONN_HOST_MAX];
	unsigned		 port;
	const char		*chost;		/* connected to: host or proxy */
	unsigned		 cport;
	struct proxyhs		*phs;		/* NULL: direct */
	char			 via[PROXY_USER_MAX + PROXY_HOST_MAX + 32];
	struct tls_client_ctx	*tlsctx;
	size_t			 inmax;
	size_t			 outmax;
	unsigned		 connect_timeout;
	const char		*tag;
	uint64_t		 id;
	upconn_fn		 fn;
	void			*arg;

	struct event		*ev_timer;	/* lookup and each attempt */
	struct resolve_req	*rreq;
	struct resolve_result	 addrs;
	size_t			 addri;
	enum gw_fail		 conn_class;	/* why the last address failed */
	char			 conn_err[UPCONN_TEXT_MAX];
	char			 peer[64];	/* "192.0.2.1:587" */

	struct gw_io		*io;
	struct tls_ocsp_fetch	*ocspf;		/* OCSP answer awaited */
	char			 err[UPCONN_TEXT_MAX];
};

static const char *uc_strstate(enum uc_state);
static void	uc_hold(struct upconn *);
static void	uc_release(struct upconn *);
static void	uc_stop(struct upconn *);
static void	uc_close(struct upconn *);
static void	uc_destroy(struct upconn *);
static void	uc_fail(struct upconn *, enum gw_fail, const char *, ...)
		    GW_PRINTF(3, 4);
static void	uc_timer(struct upconn *);
static void	uc_connect_next(struct upconn *);
static void	uc_connect_failed(struct upconn *);
static void	uc_report(struct upconn *, enum upconn_event, enum gw_fail,
		    const char *);
static void	on_io(struct gw_io *, enum io_event, void *);
static void	on_tlsready(struct upconn *);
static void	on_ocsp(void *, enum gw_fail, const char *);
static void	on_resolved(const struct resolve_result *, void *);
static void	on_timer(evutil_socket_t, short, void *);
static int	uc_proxy_init(struct upconn *, const struct upconn_params *);
static void	uc_proxy_send(struct upconn *, const struct proxyhs_out *);
static void	uc_proxy_start(struct upconn *);
static void	uc_proxy_input(struct upconn *);
static void	uc_proxy_lost(struct upconn *, enum io_event);
static void	uc_open(struct upconn *);

static const char *
uc_strstate(enum uc_state s)
{
	if ((unsigned)s >= UC_MAX)
		return "?";
	return strstate[s];
}

/* upconn_new - start resolving; the rest follows from the event loop */
struct upconn *
upconn_new(const struct upconn_params *p, upconn_fn fn, void *arg)
{
	struct upconn	*u;

	if (p->base == NULL || p->host == NULL || p->tag == NULL || fn == NULL)
		fatalx("upconn_new: missing parameters");
	if ((u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	if (str_copy(u->host, p->host, sizeof(u->host)) == -1) {
		free(u);
		return NULL;
	}
	u->base = p->base;
	u->dns = p->dns;
	u->port = p->port;
	u->tlsctx = p->tlsctx;
	u->inmax = p->inmax;
	u->outmax = p->outmax;
	u->connect_timeout = p->connect_timeout;
	u->tag = p->tag;
	u->id = p->id;
	u->fn = fn;
	u->arg = arg;
	u->state = UC_RESOLVING;
	u->chost = u->host;
	u->cport = u->port;
	(void)str_copy(u->peer, "-", sizeof(u->peer));
	if (uc_proxy_init(u, p) == -1) {
		uc_destroy(u);
		return NULL;
	}
	if ((u->ev_timer = evtimer_new(u->base, on_timer, u)) == NULL) {
		uc_destroy(u);
		return NULL;
	}
	/* a resolver that never answers must not hold the session */
	uc_timer(u);
	u->rreq = resolve_start(u->base, u->dns, u->chost, u->cport,
	    on_resolved, u);
	if (u->rreq == NULL) {
		uc_destroy(u);
		return NULL;
	}
	return u;
}

/* upconn_io - the connected io */
struct gw_io *
upconn_io(const struct upconn *u)
{
	return u->state == UC_RESOLVING || u->state == UC_CONNECTING ||
	    u->state == UC_PROXY ? NULL : u->io;
}

/* upconn_free - stop at once; no callback */
void
upconn_free(struct upconn *u)
{
	if (u == NULL)
		return;
	u->flags |= UF_FREE;
	uc_close(u);
	if (u->held == 0)
		uc_destroy(u);
}

static void
uc_hold(struct upconn *u)
{
	u->held++;
}

static void
uc_release(struct upconn *u)
{
	if (--u->held == 0 && (u->flags & UF_FREE))
		uc_destroy(u);
	/* u may be freed here */
}

/* uc_stop - stop every pending wait */
static void
uc_stop(struct upconn *u)
{
	/* it points into the io's TLS session: stop it before the io */
	if (u->ocspf != NULL) {
		tls_ocsp_fetch_cancel(u->ocspf);
		u->ocspf = NULL;
	}
	if (u->rreq != NULL) {
		resolve_cancel(u->rreq);
		u->rreq = NULL;
	}
	if (u->ev_timer != NULL)
		evtimer_del(u->ev_timer);
}

/* uc_close - stop every wait and drop the connection */
static void
uc_close(struct upconn *u)
{
	uc_stop(u);
	if (u->io != NULL) {
		io_free(u->io);	/* deferred if we are inside its callback */
		u->io = NULL;
	}
}

static void
uc_destroy(struct upconn *u)
{
	uc_close(u);
	if (u->phs != NULL) {
		proxyhs_wipe(u->phs);
		free(u->phs);
	}
	if (u->ev_timer != NULL)
		event_free(u->ev_timer);
	free(u);
}

/*
 * uc_fail - UPCONN_FAILED to the owner, once.  Called only from event-loop
 * frames (we are held), so the owner may free us in its callback.  The io
 * stays until upconn_free(): the owner may still hold a pointer to it.
 */
static void
uc_fail(struct upconn *u, enum gw_fail cls, const char *fmt, ...)
{
	char	 why[UPCONN_TEXT_MAX];
	va_list	 ap;

	if (u->state == UC_FAILED || (u->flags & UF_FREE))
		return;
	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	u->state = UC_FAILED;
	uc_stop(u);
	uc_report(u, UPCONN_FAILED, cls, why);
	/* u may be freed here (deferred: we are held) */
}

/* uc_report - one event to the owner, unless it let go of us */
static void
uc_report(struct upconn *u, enum upconn_event ev, enum gw_fail cls,
    const char *text)
{
	if (u->flags & UF_FREE)
		return;
	u->fn(u->arg, ev, cls, text);
	/* u may be freed here (deferred: we are held) */
}

/* uc_timer - (re)arm the bound of the lookup or of one attempt */
static void
uc_timer(struct upconn *u)
{
	struct timeval	 tv;

	if (u->connect_timeout == 0)
		return;
	tv.tv_sec = u->connect_timeout;
	tv.tv_usec = 0;
	evtimer_add(u->ev_timer, &tv);
}

/* upconn_tls_start - TLS over the connected io */
const char *
upconn_tls_start(struct upconn *u, enum gw_fail *cls)
{
	if (u->state != UC_OPEN || u->io == NULL || u->tlsctx == NULL)
		fatalx("upconn_tls_start: in state %s%s",
		    uc_strstate(u->state),
		    u->tlsctx == NULL ? " without a TLS context" : "");
	/*
	 * tls_client_start() refuses if plaintext is still buffered (after
	 * the go-ahead to STARTTLS that is an injection attempt).
	 */
	if (tls_client_start(u->io, u->tlsctx, u->id) == -1) {
		*cls = io_error_class(u->io) != FAIL_NONE ?
		    io_error_class(u->io) : FAIL_INTERNAL;
		(void)snprintf(u->err, sizeof(u->err), "cannot start TLS: %s",
		    io_error(u->io));
		return u->err;
	}
	u->state = UC_TLS;
	return NULL;
}

static void
on_tlsready(struct upconn *u)
{
	struct tls_info	 ti;
	char		 desc[96];
	int		 wait;

	if (u->state != UC_TLS)
		fatalx("upconn: TLS ready in state %s", uc_strstate(u->state));
	if (tls_get_info(u->io, &ti) == 0)
		(void)snprintf(desc, sizeof(desc), "%s %s", ti.version,
		    ti.cipher);
	else
		(void)str_copy(desc, "TLS", sizeof(desc));
	/*
	 * The certificate's OCSP answer was not cached: nothing goes over
	 * the session until it is fetched (without blocking the loop) and
	 * says the certificate may be used.
	 */
	wait = tls_ocsp_pending(u->io);
	u->state = wait ? UC_OCSP : UC_OPEN;
	uc_report(u, UPCONN_TLS_UP, FAIL_NONE, desc);
	if (!wait) {
		uc_report(u, UPCONN_TLS_VERIFIED, FAIL_NONE, NULL);
		return;
	}
	uc_report(u, UPCONN_OCSP_WAIT, FAIL_NONE, NULL);
	if (u->flags & UF_FREE)
		return;
	u->ocspf = tls_ocsp_fetch_start(u->io, u->base, u->dns, u->id,
	    on_ocsp, u);
	if (u->ocspf == NULL)
		uc_fail(u, FAIL_INTERNAL, "out of memory for an OCSP request");
}

/* on_ocsp - the OCSP answer is in (or is not coming) */
static void
on_ocsp(void *arg, enum gw_fail cls, const char *why)
{
	struct upconn	*u = arg;

	u->ocspf = NULL;	/* freed by its owner before this call */
	uc_hold(u);
	if (cls != FAIL_NONE)
		uc_fail(u, cls, "%s", why);
	else {
		u->state = UC_OPEN;
		uc_report(u, UPCONN_TLS_VERIFIED, FAIL_NONE, NULL);
		/* an implicit-TLS greeting may have arrived meanwhile */
		if (u->io != NULL && buf_len(io_in(u->io)) != 0)
			uc_report(u, UPCONN_DATAIN, FAIL_NONE, NULL);
	}
	uc_release(u);
	/* u may be freed here */
}

static void
on_io(struct gw_io *io, enum io_event ev, void *arg)
{
	struct upconn	*u = arg;
	const char	*why;

	/* an io we already let go of may still be unwinding */
	if (io != u->io || u->state == UC_FAILED)
		return;
	uc_hold(u);
	if (u->state == UC_PROXY) {
		if (ev == IO_DATAIN)
			uc_proxy_input(u);
		else if (ev == IO_CLOSED || ev == IO_ERROR)
			uc_proxy_lost(u, ev);
		/* LOWAT: the request is out; TIMEOUT: ours runs instead */
	} else if (u->state == UC_CONNECTING) {
		switch (ev) {
		case IO_CONNECTED:
			if (u->phs != NULL) {
				/* the timer runs on over the handshake */
				uc_proxy_start(u);
				break;
			}
			evtimer_del(u->ev_timer);
			u->state = UC_OPEN;
			uc_report(u, UPCONN_CONNECTED, FAIL_NONE, u->peer);
			break;
		case IO_CLOSED:
		case IO_ERROR:
			why = ev == IO_CLOSED ? "connection closed" :
			    io_error(u->io);
			u->conn_class = io_error_class(u->io) != FAIL_NONE ?
			    io_error_class(u->io) : FAIL_CONNECT;
			(void)snprintf(u->conn_err, sizeof(u->conn_err),
			    "%s: %s", u->peer, why);
			uc_connect_failed(u);
			break;
		default:
			fatalx("upconn: %s while connecting",
			    io_event_name(ev));
		}
	} else {
		switch (ev) {
		case IO_CONNECTED:
			fatalx("upconn: connected in state %s",
			    uc_strstate(u->state));
		case IO_TLSREADY:
			on_tlsready(u);
			break;
		case IO_DATAIN:
			/* input waits in the buffer until OCSP says yes */
			if (u->state != UC_OCSP)
				uc_report(u, UPCONN_DATAIN, FAIL_NONE, NULL);
			break;
		case IO_LOWAT:
			uc_report(u, UPCONN_LOWAT, FAIL_NONE, NULL);
			break;
		case IO_TIMEOUT:
			uc_report(u, UPCONN_TIMEOUT, FAIL_NONE, NULL);
			break;
		case IO_CLOSED:
			uc_report(u, UPCONN_CLOSED, FAIL_NONE, NULL);
			break;
		case IO_ERROR:
			uc_report(u, UPCONN_ERROR, FAIL_NONE, NULL);
			break;
		}
	}
	uc_release(u);
	/* u may be freed here */
}

static void
on_resolved(const struct resolve_result *res, void *arg)
{
	struct upconn	*u = arg;

	uc_hold(u);
	u->rreq = NULL;
	evtimer_del(u->ev_timer);
	if (res->error != 0 || res->naddrs == 0) {
		uc_fail(u, u->phs != NULL ? FAIL_PROXY_CONNECT : FAIL_DNS,
		    "cannot resolve %s%s: %s", u->phs != NULL ? "proxy " : "",
		    u->chost, res->errstr != NULL ? res->errstr : "no address");
	} else {
		u->addrs = *res;
		u->addri = 0;
		u->conn_class = FAIL_CONNECT;
		(void)str_copy(u->conn_err, "no address tried",
		    sizeof(u->conn_err));
		u->state = UC_CONNECTING;
		uc_report(u, UPCONN_RESOLVED, FAIL_NONE, NULL);
		if (!(u->flags & UF_FREE))
			uc_connect_next(u);
	}
	uc_release(u);
	/* u may be freed here */
}

/* uc_connect_failed - this address failed (u->conn_err): try the next */
static void
uc_connect_failed(struct upconn *u)
{
	log_info("%016llx %s=%s:%u connect failed: %s%s%s",
	    (unsigned long long)u->id, u->tag, u->host, u->port, u->conn_err,
	    u->phs != NULL ? " via=" : "", u->phs != NULL ? u->via : "");
	io_free(u->io);
	u->io = NULL;
	uc_connect_next(u);
}

/* uc_connect_next - try the next address, or fail with the last error */
static void
uc_connect_next(struct upconn *u)
{
	const struct sockaddr	*sa;
	struct gw_io		*io;
	size_t			 i;

	while (u->addri < u->addrs.naddrs) {
		i = u->addri++;
		sa = (const struct sockaddr *)&u->addrs.addrs[i];
		(void)addr_ntop_port(sa, u->peer, sizeof(u->peer));
		io = io_new(u->base, -1, u->inmax, u->outmax, on_io, u);
		if (io == NULL) {
			uc_fail(u, FAIL_INTERNAL,
			    "out of memory for a connection");
			return;
		}
		if (io_connect(io, sa, u->addrs.addrlens[i]) == -1) {
			u->conn_class = io_error_class(io);
			(void)snprintf(u->conn_err, sizeof(u->conn_err),
			    "%s: %s", u->peer, io_error(io));
			io_free(io);
			continue;
		}
		u->io = io;
		uc_timer(u);
		log_trace(LOGF_PROTOCOL, "%016llx %s=%s:%u connecting to %s%s",
		    (unsigned long long)u->id, u->tag, u->host, u->port,
		    u->peer, u->phs != NULL ? " (proxy)" : "");
		return;
	}
	if (u->phs != NULL && u->conn_class != FAIL_INTERNAL) {
		/* a proxy that cannot be reached says nothing of the upstream */
		uc_fail(u, FAIL_PROXY_CONNECT, "cannot connect to proxy %s "
		    "(%zu address%s tried): %s", u->via, u->addrs.naddrs,
		    u->addrs.naddrs == 1 ? "" : "es", u->conn_err);
		return;
	}
	uc_fail(u, u->conn_class == FAIL_TIMEOUT ? FAIL_TIMEOUT :
	    u->conn_class == FAIL_INTERNAL ? FAIL_INTERNAL : FAIL_CONNECT,
	    "cannot connect to %s:%u (%zu address%s tried): %s", u->host,
	    u->port, u->addrs.naddrs, u->addrs.naddrs == 1 ? "" : "es",
	    u->conn_err);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct upconn	*u = arg;

	(void)fd;
	(void)what;
	uc_hold(u);
	switch (u->state) {
	case UC_RESOLVING:
		uc_fail(u, u->phs != NULL ? FAIL_PROXY_CONNECT : FAIL_DNS,
		    "resolving %s%s timed out", u->phs != NULL ? "proxy " : "",
		    u->chost);
		break;
	case UC_PROXY:
		uc_fail(u, FAIL_TIMEOUT, "no tunnel to %s:%u from proxy %s "
		    "within %us", u->host, u->port, u->via,
		    u->connect_timeout);
		break;
	case UC_CONNECTING:
		u->conn_class = FAIL_TIMEOUT;
		(void)snprintf(u->conn_err, sizeof(u->conn_err),
		    "%s: connect timed out after %us", u->peer,
		    u->connect_timeout);
		uc_connect_failed(u);
		break;
	default:
		/* the timer is stopped on leaving CONNECTING */
		fatalx("upconn: timer in state %s", uc_strstate(u->state));
	}
	uc_release(u);
	/* u may be freed here */
}

/* upconn_via - the proxy as a URL without secrets, or NULL */
const char *
upconn_via(const struct upconn *u)
{
	return u->phs != NULL ? u->via : NULL;
}

/* uc_proxy_init - with a proxy: its handshake set up, its host resolved */
static int
uc_proxy_init(struct upconn *u, const struct upconn_params *p)
{
	const char	*e;

	if (p->proxy == NULL || p->proxy->kind == PROXY_NONE)
		return 0;
	if ((u->phs = calloc(1, sizeof(*u->phs))) == NULL)
		return -1;
	if ((e = proxyhs_init(u->phs, p->proxy->kind, p->proxy->user,
	    p->proxy_password, u->host, u->port)) != NULL) {
		/* conf checked these: a bug or a password file gone odd */
		log_warnx("%016llx %s=%s:%u proxy: %s", (unsigned long long)u->id,
		    u->tag, u->host, u->port, e);
		return -1;
	}
	if (proxyurl_format(p->proxy, u->via, sizeof(u->via)) == -1)
		return -1;
	u->chost = p->proxy->host;
	u->cport = p->proxy->port;
	return 0;
}

/* uc_proxy_send - one request to the proxy; a login's bytes are wiped */
static void
uc_proxy_send(struct upconn *u, const struct proxyhs_out *out)
{
	int	 rc;

	if (out->len == 0)
		return;
	rc = out->secret ? io_write_secret(u->io, out->buf, out->len) :
	    io_write(u->io, out->buf, out->len);
	if (rc == -1)
		uc_fail(u, FAIL_INTERNAL, "cannot queue a request to proxy %s",
		    u->via);
}

/* uc_proxy_start - TCP to the proxy is up: ask for the tunnel */
static void
uc_proxy_start(struct upconn *u)
{
	struct proxyhs_out	 out;

	u->state = UC_PROXY;
	log_trace(LOGF_PROTOCOL, "%016llx %s=%s:%u proxy %s at %s: asking "
	    "for a tunnel", (unsigned long long)u->id, u->tag, u->host,
	    u->port, u->via, u->peer);
	if (proxyhs_start(u->phs, &out) == -1) {
		explicit_bzero(&out, sizeof(out));
		uc_fail(u, FAIL_INTERNAL, "proxy request to %s does not fit",
		    u->via);
		return;
	}
	uc_proxy_send(u, &out);
	explicit_bzero(&out, sizeof(out));
}

/* uc_proxy_input - the proxy's reply, a part of it, or the tunnel open */
static void
uc_proxy_input(struct upconn *u)
{
	struct proxyhs_out	 out;
	struct buf		*in = io_in(u->io);
	enum proxyhs_result	 r;
	enum gw_fail		 cls;
	char			 why[UPCONN_TEXT_MAX];
	size_t			 used;

	r = proxyhs_input(u->phs, (const unsigned char *)buf_data(in),
	    buf_len(in), &used, &out, &cls, why, sizeof(why));
	if (r == PROXYHS_FAIL) {
		uc_fail(u, cls, "%s (via=%s)", why, u->via);
		return;
	}
	buf_consume(in, used);
	uc_proxy_send(u, &out);
	explicit_bzero(&out, sizeof(out));
	if (r == PROXYHS_DONE && u->state == UC_PROXY)
		uc_open(u);
}

/* uc_open - the tunnel is open: the owner's connection from here */
static void
uc_open(struct upconn *u)
{
	evtimer_del(u->ev_timer);
	proxyhs_wipe(u->phs);
	u->state = UC_OPEN;
	log_trace(LOGF_PROTOCOL, "%016llx %s=%s:%u tunnel open via=%s",
	    (unsigned long long)u->id, u->tag, u->host, u->port, u->via);
	uc_report(u, UPCONN_CONNECTED, FAIL_NONE, u->peer);
	/* the destination may have spoken already (an SMTP banner) */
	if (!(u->flags & UF_FREE) && u->state == UC_OPEN && u->io != NULL &&
	    buf_len(io_in(u->io)) != 0)
		uc_report(u, UPCONN_DATAIN, FAIL_NONE, NULL);
}

/* uc_proxy_lost - closed or failed before the tunnel was open */
static void
uc_proxy_lost(struct upconn *u, enum io_event ev)
{
	/* most proxies just hang up on a destination they will not reach */
	uc_fail(u, FAIL_PROXY_REFUSED, "proxy %s %s during the handshake",
	    u->via, ev == IO_CLOSED ? "closed the connection" :
	    io_error(u->io));
}
