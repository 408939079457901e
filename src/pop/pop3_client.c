/*
 * pop3_client.c - one POP3 login on the event loop (see pop3_client.h).
 *
 * One explicit state machine, as in smtp_client.c: pop_enter() moves to a
 * state, logs the move and sends the state's command; pop_response()
 * reacts to the complete reply.  We never pipeline, so one reply is
 * outstanding at a time and any byte left after it is refused (after the
 * +OK to STLS it would be the classic plaintext injection).
 *
 * Lifetime: event-loop entries hold the client; pop3_client_free() inside
 * such a frame only marks PF_FREE and the outermost frame frees.  done()
 * is reported once (PF_DONE), after which nothing reaches the owner.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "net/io.h"
#include "pop/pop3_client.h"
#include "pop/pop3_parse.h"
#include "tls/tls.h"
#include "tls/upconn.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define POP_IN_MAX	4096		/* lines are consumed as they come */
#define POP_OUT_MAX	2048
#define POP_TEXT_MAX	512
#define POP_HOST_MAX	256

enum pop_state {
	PS_NEW = 0,
	PS_RESOLVING,
	PS_CONNECTING,
	PS_TLS_IMPLICIT,
	PS_GREETING,
	PS_CAPA,
	PS_STLS,
	PS_TLS_STLS,
	PS_APOP,
	PS_USER,
	PS_PASS,
	PS_QUIT,
	PS_DONE,
	PS_MAX
};

static const char *const strstate[] = {
	[PS_NEW] = "NEW",
	[PS_RESOLVING] = "RESOLVING",
	[PS_CONNECTING] = "CONNECTING",
	[PS_TLS_IMPLICIT] = "TLS_IMPLICIT",
	[PS_GREETING] = "GREETING",
	[PS_CAPA] = "CAPA",
	[PS_STLS] = "STLS",
	[PS_TLS_STLS] = "TLS_STLS",
	[PS_APOP] = "APOP",
	[PS_USER] = "USER",
	[PS_PASS] = "PASS",
	[PS_QUIT] = "QUIT",
	[PS_DONE] = "DONE",
};

_Static_assert(POP3_SECRET_MAX == POP3_ARG_MAX + 1,
    "POP3_SECRET_MAX must hold what pop3_arg_ok accepts");
_Static_assert(sizeof(strstate) / sizeof(strstate[0]) == PS_MAX,
    "strstate[] must name every POP3 client state");

#define PF_TLS		0x01	/* TLS is up */
#define PF_DONE		0x02	/* done() called or not to be called */
#define PF_FREE		0x04	/* free when the outermost frame unwinds */

struct pop3_client {
	enum pop_state		 state;
	unsigned		 flags;
	int			 held;

	struct event_base	*base;
	struct evdns_base	*dns;
	char			 host[POP_HOST_MAX];
	unsigned		 port;
	enum pop_tls_mode		 tls;
	struct tls_client_ctx	*tlsctx;
	int			 allow_cleartext;
	unsigned		 timeout;
	uint64_t		 id;
	pop3_done_fn		 done;
	void			*arg;

	char			 user[POP3_ARG_MAX + 1];
	char			 secret[POP3_ARG_MAX + 1];	/* wiped once sent */
	char			 ts[POP3_TIMESTAMP_MAX];	/* APOP timestamp */
	struct pop3_capa	 capa;

	struct event		*ev_timer;
	struct upconn		*conn;	/* lookup, connect, TLS, OCSP */
	char			 peer[64];
	struct gw_io		*io;	/* conn's, once connected */
	const struct proxy_url	*proxy;	/* the caller's, until upconn_new */
	const char		*proxy_password;
	char			 tlsdesc[96];
};

static const char *pop_strstate(enum pop_state);
static void	pop_enter(struct pop3_client *, enum pop_state);
static void	pop_response(struct pop3_client *, const char *, size_t);
static void	pop_login(struct pop3_client *);
static void	pop_hold(struct pop3_client *);
static void	pop_release(struct pop3_client *);
static void	pop_close(struct pop3_client *);
static void	pop_destroy(struct pop3_client *);
static void	pop_finish(struct pop3_client *, enum gw_fail, const char *, ...)
		    GW_PRINTF(3, 4);
static void	pop_send(struct pop3_client *, const char *, const char *, ...)
		    GW_PRINTF(3, 4);
static void	on_conn(void *, enum upconn_event, enum gw_fail, const char *);
static void	on_datain(struct pop3_client *);
static void	on_tlsverified(struct pop3_client *);
static void	on_timer(evutil_socket_t, short, void *);

/* pop3_tls_name - the pop_tls word for a mode */
const char *
pop3_tls_name(enum pop_tls_mode t)
{
	switch (t) {
	case POP_TLS_IMPLICIT:
		return "implicit";
	case POP_TLS_STLS:
		return "stls";
	case POP_TLS_NONE:
		return "none";
	}
	return "?";
}

static const char *
pop_strstate(enum pop_state s)
{
	if ((unsigned)s >= PS_MAX)
		return "?";
	return strstate[s];
}

/* pop3_client_new - resolve, connect and log in */
struct pop3_client *
pop3_client_new(const struct pop3_client_params *p, pop3_done_fn done,
    void *arg)
{
	struct pop3_client	*c;
	struct timeval		 tv;

	if (p->base == NULL || p->host == NULL || done == NULL)
		fatalx("pop3_client_new: missing parameters");
	/* a TLS mode without its context would end up in cleartext */
	if (p->tls != POP_TLS_NONE && p->tlsctx == NULL)
		fatalx("pop3_client_new: pop_tls=%s without a TLS context",
		    pop3_tls_name(p->tls));
	/* both go onto the wire: a CR or LF in them would inject commands */
	if (p->user == NULL || p->secret == NULL ||
	    pop3_arg_ok(p->user) != NULL || strchr(p->user, ' ') != NULL ||
	    pop3_arg_ok(p->secret) != NULL)
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (str_copy(c->host, p->host, sizeof(c->host)) == -1 ||
	    str_copy(c->user, p->user, sizeof(c->user)) == -1 ||
	    str_copy(c->secret, p->secret, sizeof(c->secret)) == -1) {
		pop_destroy(c);
		return NULL;
	}
	c->base = p->base;
	c->dns = p->dns;
	c->port = p->port;
	c->tls = p->tls;
	c->tlsctx = p->tlsctx;
	c->allow_cleartext = p->allow_cleartext;
	c->timeout = p->timeout > 0 ? p->timeout : 1;
	c->id = p->id;
	c->done = done;
	c->arg = arg;
	(void)str_copy(c->tlsdesc, "none", sizeof(c->tlsdesc));
	(void)str_copy(c->peer, "-", sizeof(c->peer));
	if ((c->ev_timer = evtimer_new(c->base, on_timer, c)) == NULL) {
		pop_destroy(c);
		return NULL;
	}
	/* one bound for the whole login, from the lookup to the QUIT */
	tv.tv_sec = c->timeout;
	tv.tv_usec = 0;
	evtimer_add(c->ev_timer, &tv);
	c->proxy = p->proxy;
	c->proxy_password = p->proxy_password;
	pop_enter(c, PS_RESOLVING);
	/* upconn copied both */
	c->proxy = NULL;
	c->proxy_password = NULL;
	if (c->conn == NULL) {
		pop_destroy(c);
		return NULL;
	}
	return c;
}

/* pop3_client_free - stop at once; no callback */
void
pop3_client_free(struct pop3_client *c)
{
	if (c == NULL)
		return;
	c->flags |= PF_DONE | PF_FREE;
	pop_close(c);
	if (c->held == 0)
		pop_destroy(c);
}

static void
pop_hold(struct pop3_client *c)
{
	c->held++;
}

static void
pop_release(struct pop3_client *c)
{
	if (--c->held == 0 && (c->flags & PF_FREE))
		pop_destroy(c);
	/* c may be freed here */
}

/* pop_close - drop the connection and every pending wait */
static void
pop_close(struct pop3_client *c)
{
	if (c->ev_timer != NULL)
		evtimer_del(c->ev_timer);
	/* frees the io too (deferred if we are inside its callback) */
	upconn_free(c->conn);
	c->conn = NULL;
	c->io = NULL;
	explicit_bzero(c->secret, sizeof(c->secret));
}

static void
pop_destroy(struct pop3_client *c)
{
	pop_close(c);
	if (c->ev_timer != NULL)
		event_free(c->ev_timer);
	explicit_bzero(c, sizeof(*c));
	free(c);
}

/*
 * pop_finish - the end: report once, FAIL_NONE for a completed login.
 * Called only from event-loop frames (we are held), so the owner may free
 * us inside done().
 */
static void
pop_finish(struct pop3_client *c, enum gw_fail cls, const char *fmt, ...)
{
	char	 why[POP_TEXT_MAX];
	va_list	 ap;

	if (c->flags & PF_DONE)
		return;
	c->flags |= PF_DONE;
	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (cls == FAIL_NONE)
		log_info("%016llx pop3 server=%s:%u peer=%s login ok tls=\"%s\"",
		    (unsigned long long)c->id, c->host, c->port, c->peer,
		    c->tlsdesc);
	else
		log_warnx("%016llx pop3 server=%s:%u failed class=%s state=%s: "
		    "%s", (unsigned long long)c->id, c->host, c->port,
		    fail_name(cls), pop_strstate(c->state), why);
	pop_close(c);
	c->state = PS_DONE;
	c->done(c->arg, cls, why);
	/* c may be freed here (deferred: we are held) */
}

/*
 * pop_send - one command line.  shown is what the trace prints instead of
 * the line when the line carries a secret (the single choke point).
 */
static void
pop_send(struct pop3_client *c, const char *shown, const char *fmt, ...)
{
	char	 line[POP3_LINE_MAX], vis[POP3_LINE_MAX * 2];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* the arguments were bounded by pop3_arg_ok; this guards truncation */
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		explicit_bzero(line, sizeof(line));
		pop_finish(c, FAIL_INTERNAL, "command line too long");
		return;
	}
	if (shown != NULL)
		log_trace(LOGF_PROTOCOL, "%016llx pop3 > %s",
		    (unsigned long long)c->id, shown);
	else
		log_trace(LOGF_PROTOCOL, "%016llx pop3 > %s",
		    (unsigned long long)c->id,
		    str_vis(vis, sizeof(vis), line, (size_t)n));
	line[n++] = '\r';
	line[n++] = '\n';
	/* a line with a shown text carries a secret (PASS, APOP) */
	if ((shown != NULL ? io_write_secret(c->io, line, (size_t)n) :
	    io_write(c->io, line, (size_t)n)) == -1) {
		explicit_bzero(line, sizeof(line));
		pop_finish(c, FAIL_INTERNAL, "cannot queue a command");
		return;
	}
	explicit_bzero(line, sizeof(line));
}

/* pop_enter - move to a state and send its command; the caller returns next */
static void
pop_enter(struct pop3_client *c, enum pop_state s)
{
	enum pop_state	 old = c->state;
	char		 hex[POP3_DIGEST_LEN + 1], shown[POP3_ARG_MAX + 32];
	const char	*err;
	struct upconn_params	 up;
	enum gw_fail	 cls;

	if ((unsigned)s >= PS_MAX)
		fatalx("pop3_client: impossible state %d", (int)s);
	c->state = s;
	if (old != s)
		log_trace(LOGF_PROTOCOL, "%016llx pop3 %s -> %s",
		    (unsigned long long)c->id, pop_strstate(old),
		    pop_strstate(s));

	switch (s) {
	case PS_NEW:
		fatalx("pop3_client: cannot re-enter NEW");
	case PS_RESOLVING:
		/* no bound per attempt: the login timer bounds it all */
		memset(&up, 0, sizeof(up));
		up.base = c->base;
		up.dns = c->dns;
		up.host = c->host;
		up.port = c->port;
		up.tlsctx = c->tlsctx;
		up.inmax = POP_IN_MAX;
		up.outmax = POP_OUT_MAX;
		up.connect_timeout = 0;
		up.tag = "pop3 server";
		up.id = c->id;
		up.proxy = c->proxy;
		up.proxy_password = c->proxy_password;
		c->conn = upconn_new(&up, on_conn, c);
		break;
	case PS_CONNECTING:
		break;	/* upconn tries each address */
	case PS_TLS_IMPLICIT:
	case PS_TLS_STLS:
		/* refused if plaintext is still buffered (STLS injection) */
		if ((err = upconn_tls_start(c->conn, &cls)) != NULL)
			pop_finish(c, cls, "%s", err);
		break;
	case PS_GREETING:
		break;
	case PS_CAPA:
		pop3_capa_reset(&c->capa);
		pop_send(c, NULL, "CAPA");
		break;
	case PS_STLS:
		pop_send(c, NULL, "STLS");
		break;
	case PS_APOP:
		if ((err = pop3_apop_digest(c->ts, c->secret, hex,
		    sizeof(hex))) != NULL) {
			pop_finish(c, FAIL_INTERNAL, "APOP: %s", err);
			return;
		}
		(void)snprintf(shown, sizeof(shown), "APOP %s <redacted>",
		    c->user);
		pop_send(c, shown, "APOP %s %s", c->user, hex);
		explicit_bzero(hex, sizeof(hex));
		explicit_bzero(c->secret, sizeof(c->secret));
		break;
	case PS_USER:
		pop_send(c, NULL, "USER %s", c->user);
		break;
	case PS_PASS:
		pop_send(c, "PASS <redacted>", "PASS %s", c->secret);
		explicit_bzero(c->secret, sizeof(c->secret));
		break;
	case PS_QUIT:
		pop_send(c, NULL, "QUIT");
		break;
	case PS_DONE:
		break;
	case PS_MAX:
		fatalx("pop3_client: impossible state %d", (int)s);
	}
}

/*
 * pop_login - the greeting is read and TLS is up as the mode asks: APOP if
 * the greeting offered a timestamp, else USER/PASS, but never the
 * password in cleartext unless the operator said so.
 */
static void
pop_login(struct pop3_client *c)
{
	if (c->ts[0] != '\0') {
		pop_enter(c, PS_APOP);
		return;
	}
	if (!(c->flags & PF_TLS)) {
		if (!c->allow_cleartext) {
			pop_finish(c, FAIL_STARTTLS_UNAVAILABLE, "no APOP "
			    "timestamp in the greeting and pop_tls=none: "
			    "USER/PASS in cleartext is refused "
			    "(auth_allow_cleartext = no)");
			return;
		}
		log_warnx("%016llx pop3 server=%s:%u sending USER/PASS in "
		    "CLEARTEXT (auth_allow_cleartext = yes): the password can "
		    "be read on the network", (unsigned long long)c->id,
		    c->host, c->port);
	}
	pop_enter(c, PS_USER);
}

/* pop_capa_line - one line of the CAPA reply (PS_CAPA) */
static void
pop_capa_line(struct pop3_client *c, const char *line, size_t len)
{
	const char	*err;

	if ((err = pop3_capa_feed(&c->capa, line, len)) != NULL) {
		pop_finish(c, FAIL_PROTOCOL, "CAPA: %s", err);
		return;
	}
	if (!c->capa.done)
		return;
	/*
	 * A server without CAPA (-ERR) may still know STLS: try it, its -ERR
	 * then fails the login.  One whose CAPA lacks STLS does not offer it.
	 */
	if (!c->capa.refused && !(c->capa.flags & POP3_CAPA_STLS)) {
		pop_finish(c, FAIL_STARTTLS_UNAVAILABLE,
		    "STLS not offered (pop_tls=stls requires it)");
		return;
	}
	pop_enter(c, PS_STLS);
}

/* pop_greeting - the server's greeting (PS_GREETING) */
static void
pop_greeting(struct pop3_client *c, const char *line, size_t len)
{
	struct pop3_status	 st;
	char			 txt[POP_TEXT_MAX];
	const char		*err;

	/* a -ERR greeting is a refusal; anything else unparsable is not POP3 */
	if ((err = pop3_parse_greeting(line, len, c->ts,
	    sizeof(c->ts))) != NULL) {
		(void)str_vis(txt, sizeof(txt), line, len);
		pop_finish(c, pop3_parse_status(line, len, &st) == NULL ?
		    FAIL_REJECTED : FAIL_PROTOCOL, "greeting: %s: %s", err, txt);
		return;
	}
	if (c->tls == POP_TLS_STLS && !(c->flags & PF_TLS))
		pop_enter(c, PS_CAPA);
	else
		pop_login(c);
}

/* pop_response - one complete reply (one status line, or a CAPA line) */
static void
pop_response(struct pop3_client *c, const char *line, size_t len)
{
	struct pop3_status	 st;
	char			 txt[POP_TEXT_MAX];
	const char		*err;

	if (c->state == PS_CAPA) {
		pop_capa_line(c, line, len);
		return;
	}
	if (c->state == PS_GREETING) {
		pop_greeting(c, line, len);
		return;
	}
	if ((err = pop3_parse_status(line, len, &st)) != NULL) {
		pop_finish(c, FAIL_PROTOCOL, "bad reply in state %s: %s",
		    pop_strstate(c->state), err);
		return;
	}
	(void)str_vis(txt, sizeof(txt), st.text, st.textlen);
	switch (c->state) {
	case PS_STLS:
		if (!st.ok) {
			pop_finish(c, FAIL_STARTTLS_UNAVAILABLE, "STLS refused: "
			    "-ERR %s", txt);
			return;
		}
		pop_enter(c, PS_TLS_STLS);
		break;
	case PS_USER:
		if (!st.ok) {
			pop_finish(c, FAIL_AUTH, "USER: -ERR %s", txt);
			return;
		}
		pop_enter(c, PS_PASS);
		break;
	case PS_PASS:
	case PS_APOP:
		if (!st.ok) {
			pop_finish(c, FAIL_AUTH, "%s: -ERR %s",
			    c->state == PS_APOP ? "APOP" : "PASS", txt);
			return;
		}
		log_trace(LOGF_AUTH, "%016llx pop3 login accepted method=%s",
		    (unsigned long long)c->id,
		    c->state == PS_APOP ? "apop" : "user");
		pop_enter(c, PS_QUIT);
		break;
	case PS_QUIT:
		/* the login is done whatever QUIT says */
		pop_finish(c, FAIL_NONE, "ok");
		break;
	default:
		/* nothing was asked: a reply now means the peer is confused */
		pop_finish(c, FAIL_PROTOCOL, "unexpected reply in state %s",
		    pop_strstate(c->state));
		break;
	}
}

/* on_datain - split input into lines; one reply at a time */
static void
on_datain(struct pop3_client *c)
{
	struct buf	*in;
	enum buf_line	 lr;
	char		 vis[POP3_LINE_MAX * 2];
	size_t		 len;
	enum pop_state	 s;

	/* (upconn holds input back while an OCSP answer is awaited) */
	while (c->io != NULL && !(c->flags & PF_DONE)) {
		in = io_in(c->io);
		lr = buf_findline(in, POP3_LINE_MAX, &len);
		if (lr == BUF_LINE_NONE)
			return;
		if (lr == BUF_LINE_TOOLONG) {
			pop_finish(c, FAIL_PROTOCOL, "reply line too long");
			return;
		}
		if (lr == BUF_LINE_BARE) {
			pop_finish(c, FAIL_PROTOCOL, "bare CR or LF in a reply");
			return;
		}
		log_trace(LOGF_PROTOCOL, "%016llx pop3 < %s",
		    (unsigned long long)c->id,
		    str_vis(vis, sizeof(vis), buf_data(in), len));
		s = c->state;
		if (s != PS_GREETING && s != PS_CAPA && s != PS_STLS &&
		    s != PS_APOP && s != PS_USER && s != PS_PASS &&
		    s != PS_QUIT) {
			pop_finish(c, FAIL_PROTOCOL, "data in state %s",
			    pop_strstate(s));
			return;
		}
		/* the line is copied out: pop_response may free the io */
		{
			char	line[POP3_LINE_MAX];

			memcpy(line, buf_data(in), len);
			buf_consume(in, len + 2);
			/*
			 * We never pipeline: nothing may follow a complete
			 * single-line reply (after STLS's +OK that would be
			 * plaintext injected into the TLS session).
			 */
			if (s != PS_CAPA && buf_len(in) != 0) {
				pop_finish(c, FAIL_PROTOCOL, "server sent data "
				    "after its reply (%zu bytes)", buf_len(in));
				return;
			}
			pop_response(c, line, len);
		}
		if (s == PS_CAPA && c->state == PS_STLS && c->io != NULL &&
		    buf_len(io_in(c->io)) != 0) {
			pop_finish(c, FAIL_PROTOCOL, "server sent data after "
			    "its CAPA reply");
			return;
		}
	}
}

/* on_tlsverified - TLS is up and its certificate fully checked */
static void
on_tlsverified(struct pop3_client *c)
{
	log_trace(LOGF_TLS, "%016llx pop3 server=%s:%u tls=\"%s\"",
	    (unsigned long long)c->id, c->host, c->port, c->tlsdesc);
	if (c->state == PS_TLS_IMPLICIT)
		pop_enter(c, PS_GREETING);
	else if (c->state == PS_TLS_STLS)
		pop_login(c);
	else
		fatalx("pop3_client: TLS ready in state %s",
		    pop_strstate(c->state));
}

/* on_conn - the connection's events (see upconn.h) */
static void
on_conn(void *arg, enum upconn_event ev, enum gw_fail fcls, const char *text)
{
	struct pop3_client	*c = arg;
	enum gw_fail		 cls;

	pop_hold(c);
	switch (ev) {
	case UPCONN_RESOLVED:
		pop_enter(c, PS_CONNECTING);
		break;
	case UPCONN_CONNECTED:
		c->io = upconn_io(c->conn);
		(void)str_copy(c->peer, text, sizeof(c->peer));
		log_debug("%016llx pop3 server=%s:%u connected peer=%s%s%s",
		    (unsigned long long)c->id, c->host, c->port, c->peer,
		    upconn_via(c->conn) != NULL ? " via=" : "",
		    upconn_via(c->conn) != NULL ? upconn_via(c->conn) : "");
		pop_enter(c, c->tls == POP_TLS_IMPLICIT ? PS_TLS_IMPLICIT :
		    PS_GREETING);
		break;
	case UPCONN_TLS_UP:
		c->flags |= PF_TLS;
		(void)str_copy(c->tlsdesc, text, sizeof(c->tlsdesc));
		break;
	case UPCONN_OCSP_WAIT:
		break;	/* the login timer bounds the OCSP wait too */
	case UPCONN_TLS_VERIFIED:
		on_tlsverified(c);
		break;
	case UPCONN_DATAIN:
		on_datain(c);
		break;
	case UPCONN_LOWAT:
		break;
	case UPCONN_TIMEOUT:
		pop_finish(c, FAIL_TIMEOUT, "no progress in state %s",
		    pop_strstate(c->state));
		break;
	case UPCONN_CLOSED:
	case UPCONN_ERROR:
		cls = io_error_class(c->io);
		if (c->state == PS_QUIT) {
			/* the login was accepted before QUIT */
			pop_finish(c, FAIL_NONE, "ok");
		} else {
			if (ev == UPCONN_CLOSED || cls == FAIL_NONE)
				cls = FAIL_CLOSED;
			pop_finish(c, cls, "%s in state %s",
			    ev == UPCONN_CLOSED ? "connection closed by server" :
			    io_error(c->io), pop_strstate(c->state));
		}
		break;
	case UPCONN_FAILED:
		pop_finish(c, fcls, "%s", text);
		break;
	}
	pop_release(c);
	/* c may be freed here */
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_client	*c = arg;

	(void)fd;
	(void)what;
	pop_hold(c);
	if (c->state == PS_QUIT)
		/* the login was accepted; only the goodbye is missing */
		pop_finish(c, FAIL_NONE, "ok");
	else
		pop_finish(c, FAIL_TIMEOUT, "login not done after %us "
		    "(state %s)", c->timeout, pop_strstate(c->state));
	pop_release(c);
	/* c may be freed here */
}
