/*
 * smtp_client.c - the upstream-facing SMTP session (see smtp_client.h).
 *
 * One explicit state machine: client_enter() moves to a state, logs the
 * move and sends the state's command; client_response()
 * (smtp_client_reply.c) reacts to the complete reply.  Towards a
 * pipelining upstream MAIL, RCPT and DATA go behind the commands awaited,
 * and a reused connection's RSET leads the next MAIL in the same write
 * (smtp_client_tx.c); during the session's set-up exactly one reply is
 * outstanding, and any byte left in the input after a complete reply is
 * an attack or a broken server (after the 220 to STARTTLS it is the
 * classic plaintext injection).
 *
 * Lifetime: every entry from the event loop and every public call holds
 * the client (held > 0).  smtp_client_free() or the end of QUIT inside
 * such a frame only marks CF_FREE; the outermost frame frees on the way
 * out.  After failed() or smtp_client_quit()/smtp_client_free() no
 * callback is made (CF_QUIET).  Failures found inside a public call are
 * reported from a zero-delay event, never from inside the call, so the
 * owner is not re-entered.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "net/io.h"
#include "net/proxyhs.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "auth/sasl.h"
#include "auth/secret.h"
#include "tls/tls.h"
#include "tls/upconn.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static const char *const strstate[] = {
	[CS_NEW] = "NEW",
	[CS_RESOLVING] = "RESOLVING",
	[CS_CONNECTING] = "CONNECTING",
	[CS_TLS_IMPLICIT] = "TLS_IMPLICIT",
	[CS_BANNER] = "BANNER",
	[CS_EHLO] = "EHLO",
	[CS_HELO] = "HELO",
	[CS_STARTTLS] = "STARTTLS",
	[CS_TLS_STARTTLS] = "TLS_STARTTLS",
	[CS_EHLO_TLS] = "EHLO_TLS",
	[CS_AUTH] = "AUTH",
	[CS_AUTH_KDC] = "AUTH_KDC",
	[CS_READY] = "READY",
	[CS_MAIL] = "MAIL",
	[CS_RCPT] = "RCPT",
	[CS_DATA] = "DATA",
	[CS_BODY] = "BODY",
	[CS_DOT] = "DOT",
	[CS_RSET] = "RSET",
	[CS_QUIT] = "QUIT",
	[CS_CLOSED] = "CLOSED",
};

_Static_assert(sizeof(strstate) / sizeof(strstate[0]) == CS_MAX,
    "strstate[] must name every client state");

static void	client_destroy(struct smtp_client *);
static void	client_close(struct smtp_client *);
static void	client_notify_failed(struct smtp_client *);
static void	client_fail_v(struct smtp_client *, enum gw_fail,
		    enum client_end, const char *, va_list) GW_PRINTF(4, 0);
static void	on_conn(void *, enum upconn_event, enum gw_fail, const char *);
static void	on_datain(struct smtp_client *);
static void	on_ioerror(struct smtp_client *, enum upconn_event);
static void	on_connected(struct smtp_client *, const char *);
static void	on_tlsverified(struct smtp_client *);
static void	on_timer(evutil_socket_t, short, void *);
static void	on_defer(evutil_socket_t, short, void *);

const char *
client_strstate(enum client_state s)
{
	if ((unsigned)s >= CS_MAX)
		return "?";
	return strstate[s];
}

/* smtp_client_new - resolve, connect and greet an upstream */
struct smtp_client *
smtp_client_new(const struct smtp_client_params *p,
    const struct smtp_client_cb *cb, void *arg)
{
	struct smtp_client	*c;
	const char		*helo;

	if (p->base == NULL || p->up == NULL || cb == NULL ||
	    cb->ready == NULL || cb->reply == NULL || cb->failed == NULL)
		fatalx("smtp_client_new: missing parameters");
	/* the header's contract: only tls = none may come without a context */
	if (p->up->tls != TLS_NONE && p->tls == NULL)
		fatalx("smtp_client_new: tls=%s without a TLS context",
		    tls_mode_name(p->up->tls));

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->base = p->base;
	c->dns = p->dns;
	c->up = p->up;
	c->release = p->release;
	c->trace = p->trace;
	c->trace_arg = p->trace_arg;
	c->release_arg = p->release_arg;
	c->tls = p->tls;
	c->id = p->id;
	c->cb = *cb;
	c->arg = arg;
	c->owners = 1;
	(void)str_copy(c->tlsdesc, "none", sizeof(c->tlsdesc));
	(void)str_copy(c->peer, "-", sizeof(c->peer));
	c->ev_timer = evtimer_new(c->base, on_timer, c);
	c->ev_defer = event_new(c->base, -1, 0, on_defer, c);
	if (c->ev_timer == NULL || c->ev_defer == NULL ||
	    client_auth_copy(c, p->auth) == -1) {
		c->release = NULL;	/* only a returned client releases */
		client_destroy(c);
		return NULL;
	}

	c->held++;
	c->api++;
	helo = p->helo_name != NULL && p->helo_name[0] != '\0' ?
	    p->helo_name : p->up->helo_name;
	/*
	 * The name goes onto the wire verbatim: a CR or LF in it would
	 * inject commands.  It comes from our own configuration, so this is
	 * a bug guard, and the session fails safe rather than the daemon.
	 */
	if (helo[0] == '\0' || !client_text_ok(helo) || strchr(helo, ' ') ||
	    str_copy(c->helo, helo, sizeof(c->helo)) == -1) {
		client_fail(c, FAIL_INTERNAL, "unusable HELO name");
	} else {
		client_enter(c, CS_RESOLVING);
		if (c->state == CS_RESOLVING && c->conn == NULL &&
		    !(c->flags & CF_FAILED)) {
			/* upconn_new() failed: ENOMEM, reported as NULL */
			c->api--;
			c->held--;
			c->release = NULL;
			client_destroy(c);
			return NULL;
		}
	}
	c->api--;
	client_release(c);
	return c;
}

/*
 * client_text_ok - no control characters: the text becomes part of a
 * command line, and CR/LF would let it carry a second command.
 */
int
client_text_ok(const char *s)
{
	const unsigned char	*u;

	for (u = (const unsigned char *)s; *u != '\0'; u++)
		if (*u < 0x20 || *u == 0x7f)
			return 0;
	return 1;
}

void
client_hold(struct smtp_client *c)
{
	c->held++;
}

/*
 * client_release - leave a frame; the outermost one frees a client marked
 * CF_FREE.  This is the only place a frame frees: code inside a frame
 * only marks, so nothing can touch the client after it is gone.
 */
void
client_release(struct smtp_client *c)
{
	if (c->held <= 0)
		fatalx("smtp_client: release without a hold");
	if (--c->held == 0 && (c->flags & CF_FREE))
		client_destroy(c);
	/* c may be freed here */
}

/* client_close - drop the connection and every pending wait */
static void
client_close(struct smtp_client *c)
{
	if (c->ev_timer != NULL)
		evtimer_del(c->ev_timer);
	/* frees the io too (deferred if we are inside its callback) */
	upconn_free(c->conn);
	c->conn = NULL;
	c->io = NULL;
	client_body_release(c);
	client_auth_wipe(c);
}

static void
client_destroy(struct smtp_client *c)
{
	client_close(c);
	if (c->ev_timer != NULL)
		event_free(c->ev_timer);
	if (c->ev_defer != NULL)
		event_free(c->ev_defer);
	if (c->release != NULL)
		c->release(c->release_arg);
	free(c->auth_reply);
	free(c);
}

/*
 * client_finish - the end of QUIT: mark the client to be freed when the
 * frames unwind.  Every caller runs inside a frame (an event handler or
 * smtp_client_quit(), holding the client), so the free is always the
 * frame's client_release(), never this function: freeing here would leave
 * the frame to decrement a freed counter.
 */
void
client_finish(struct smtp_client *c)
{
	if (c->held <= 0)
		fatalx("smtp_client: QUIT finished outside a frame");
	log_trace(LOGF_PROTOCOL, "%016llx smtp-client upstream=%s:%u closed",
	    (unsigned long long)c->id, c->up->host, c->up->port);
	client_close(c);
	c->state = CS_CLOSED;
	c->flags |= CF_QUIET | CF_FREE;
}

/*
 * client_fail - end the session with a failure class, closing at once.
 * From the event loop failed() is called at once; from inside a public
 * call it is deferred to a zero-delay event so that the owner is never
 * re-entered.
 */
void
client_fail(struct smtp_client *c, enum gw_fail cls, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_fail_v(c, cls, END_CLOSE, fmt, ap);
	va_end(ap);
}

/*
 * client_auth_fail - AUTH failed (FAIL_AUTH) on a connection that is
 * still in step with the upstream: say QUIT before closing, as a client
 * that means well does (END_CANCEL_QUIT first cancels a SASL exchange
 * that awaits our answer, RFC 4954 section 4).  A provider that sees a
 * login fail and the connection dropped without QUIT may count it as one
 * more sign of an attack.
 */
void
client_auth_fail(struct smtp_client *c, enum client_end how,
    const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	client_fail_v(c, FAIL_AUTH, how, fmt, ap);
	va_end(ap);
}

static void
client_fail_v(struct smtp_client *c, enum gw_fail cls, enum client_end how,
    const char *fmt, va_list ap)
{
	if (c->flags & CF_FAILED)
		return;
	c->flags |= CF_FAILED;
	c->fail_class = cls;
	(void)vsnprintf(c->fail_text, sizeof(c->fail_text), fmt, ap);
	/* an idle connection the upstream dropped is routine, not a warning */
	if (!(c->flags & CF_QUIET) && (c->flags & CF_DETACHED))
		log_info("%016llx smtp-client upstream=%s:%u idle connection "
		    "dropped class=%s state=%s: %s", (unsigned long long)c->id,
		    c->up->host, c->up->port, fail_name(cls),
		    client_strstate(c->state), c->fail_text);
	else if (!(c->flags & CF_QUIET))
		log_warnx("%016llx smtp-client upstream=%s:%u failed class=%s "
		    "state=%s: %s", (unsigned long long)c->id, c->up->host,
		    c->up->port, fail_name(cls), client_strstate(c->state),
		    c->fail_text);
	/*
	 * failed() waits for the event loop inside a public call, and a
	 * QUIT finished meanwhile would silence it: close instead.  (AUTH
	 * runs only from the event loop, so this is a guard.)
	 */
	if (c->api > 0)
		how = END_CLOSE;
	if (how != END_CLOSE && c->io != NULL) {
		/*
		 * The QUIT runs on after failed(): smtp_client_free() leaves
		 * a client in CS_QUIT to finish by itself (bounded by
		 * QUIT_TIMEOUT), and the owner's release() runs after it.
		 * A failure to queue either line fails nothing more (we are
		 * CF_FAILED); the QUIT timer then closes.
		 */
		client_auth_wipe(c);
		client_body_release(c);
		if (how == END_CANCEL_QUIT)
			client_send(c, "*");
		client_enter(c, CS_QUIT);
	} else {
		client_close(c);
		client_enter(c, CS_CLOSED);
	}
	if (c->flags & CF_QUIET)
		return;
	if (c->api > 0) {
		c->flags |= CF_FAIL_PENDING;
		event_active(c->ev_defer, EV_TIMEOUT, 0);
		return;
	}
	client_notify_failed(c);
	/* c may be freed here (deferred: we are held) */
}

/*
 * client_notify_failed - the last callback: failed() to the owner, or
 * dead() to the holder of a detached client.
 */
static void
client_notify_failed(struct smtp_client *c)
{
	c->flags |= CF_QUIET;
	if (c->flags & CF_DETACHED)
		c->icb.dead(c->iarg, c, c->fail_class, c->fail_text);
	else
		c->cb.failed(c->arg, c->fail_class, c->fail_text);
	/* c may be freed here */
}

void
client_timer(struct smtp_client *c, unsigned seconds)
{
	struct timeval	 tv;

	tv.tv_sec = seconds > 0 ? seconds : 1;
	tv.tv_usec = 0;
	evtimer_add(c->ev_timer, &tv);
}

/* client_send - one command line, logged at the single choke point */
void
client_send(struct smtp_client *c, const char *fmt, ...)
{
	char	 line[SMTP_MAILRCPT_LINE_MAX + 16];
	char	 vis[sizeof(line) * 2];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	/* callers check lengths first; this only guards against truncation */
	if (n < 0 || (size_t)n >= sizeof(line) - 2) {
		client_fail(c, FAIL_INTERNAL, "command line too long");
		return;
	}
	log_trace(LOGF_PROTOCOL, "%016llx > %s", (unsigned long long)c->id,
	    str_vis(vis, sizeof(vis), line, (size_t)n));
	if (c->trace != NULL)
		c->trace(c->trace_arg, 1, line, (size_t)n);
	line[n++] = '\r';
	line[n++] = '\n';
	if (io_write(c->io, line, (size_t)n) == -1)
		client_fail(c, FAIL_INTERNAL, "cannot queue a command");
}

/*
 * client_connect - RESOLVING: upconn resolves, connects (through the
 * proxy if one is set) and bounds the lookup and each attempt by
 * connect_timeout
 */
static void
client_connect(struct smtp_client *c)
{
	struct upconn_params	 up;
	char			 ppass[PROXYHS_SECRET_MAX], why[256];

	memset(&up, 0, sizeof(up));
	up.base = c->base;
	up.dns = c->dns;
	up.host = c->up->host;
	up.port = c->up->port;
	up.tlsctx = c->tls;
	up.inmax = CLIENT_IN_MAX;
	up.outmax = CLIENT_OUT_MAX;
	up.connect_timeout = c->up->connect_timeout > 0 ?
	    c->up->connect_timeout : 1;
	up.tag = "smtp-client upstream";
	up.id = c->id;
	up.proxy = &c->up->proxy;
	/* read at each connection, so that a new password is taken */
	ppass[0] = '\0';
	if (c->up->proxy_password_file[0] != '\0' &&
	    secret_read_file(c->up->proxy_password_file, ppass,
	    sizeof(ppass), why, sizeof(why)) == -1) {
		explicit_bzero(ppass, sizeof(ppass));
		client_fail(c, FAIL_INTERNAL, "proxy_password_file: %s", why);
		return;
	}
	up.proxy_password = ppass;
	c->conn = upconn_new(&up, on_conn, c);
	explicit_bzero(ppass, sizeof(ppass));
}

/*
 * client_ready - READY: the one place a session becomes usable, so the
 * place to refuse one that lacks the TLS or the AUTH its mode needs
 */
static void
client_ready(struct smtp_client *c)
{
	evtimer_del(c->ev_timer);
	if (TLS_REQUIRED(c->up->tls) && !(c->flags & CF_TLS))
		fatalx("smtp_client: READY in cleartext with tls=%s",
		    tls_mode_name(c->up->tls));
	if ((c->flags & CF_AUTH_WANTED) && !(c->flags & CF_AUTH_DONE))
		fatalx("smtp_client: READY without the AUTH asked for");
	if (c->flags & CF_READY_SENT)
		return;
	c->flags |= CF_READY_SENT;
	log_info("%016llx smtp-client upstream=%s:%u peer=%s ready tls=\"%s\" "
	    "helo=%s auth=%s", (unsigned long long)c->id, c->up->host,
	    c->up->port, c->peer, c->tlsdesc, (c->flags & CF_HELO) ? "yes" :
	    "no", (c->flags & CF_AUTH_DONE) ? auth_mech_name(c->auth_mech) :
	    "none");
	if (!(c->flags & CF_QUIET))
		c->cb.ready(c->arg);
	/* c may be freed here */
}

/*
 * client_send_verb - the command of state s on its way (MAIL starts a new
 * transaction); shared by the lockstep states and the pipelined batch
 */
void
client_send_verb(struct smtp_client *c, enum client_state s)
{
	switch (s) {
	case CS_EHLO:
	case CS_EHLO_TLS:
		client_send(c, "EHLO %s", c->helo);
		break;
	case CS_HELO:
		client_send(c, "HELO %s", c->helo);
		break;
	case CS_STARTTLS:
		client_send(c, "STARTTLS");
		break;
	case CS_MAIL:
		c->tx = SMTP_TX_NONE;	/* a new transaction */
		c->flags |= CF_TX_DIRTY;
		client_send(c, "MAIL FROM:%s", c->cmdarg);
		break;
	case CS_RCPT:
		client_send(c, "RCPT TO:%s", c->cmdarg);
		break;
	case CS_DATA:
		client_send(c, "DATA");
		break;
	case CS_RSET:
		client_send(c, "RSET");
		break;
	case CS_QUIT:
		client_send(c, "QUIT");
		break;
	default:
		fatalx("smtp_client: %s sends no command", client_strstate(s));
	}
}

/*
 * client_send_command - a state that sends one command and waits for its
 * reply, under command_timeout (QUIT's at most QUIT_TIMEOUT)
 */
static void
client_send_command(struct smtp_client *c, enum client_state s)
{
	unsigned	timeout = c->up->command_timeout;

	switch (s) {
	case CS_EHLO_TLS:
		/* forget everything the cleartext EHLO told us (pitfall 2) */
		memset(&c->ext, 0, sizeof(c->ext));
		c->flags &= ~CF_HELO;
		break;
	case CS_HELO:
		memset(&c->ext, 0, sizeof(c->ext));
		c->flags |= CF_HELO;
		break;
	case CS_QUIT:
		if (timeout > QUIT_TIMEOUT)
			timeout = QUIT_TIMEOUT;
		break;
	default:
		break;
	}
	client_timer(c, timeout);
	client_send_verb(c, s);
}

/* client_body_begin - the message body starts going out (CS_BODY) */
static void
client_body_begin(struct smtp_client *c)
{
	/* re-armed on every IO_LOWAT: a stalled upstream times out */
	client_timer(c, c->up->command_timeout);
	c->flags &= ~(CF_BODY_WAIT | CF_BODY_KICK);
	smtp_stuff_init(&c->stuff);
	c->bodyoff = c->bodylen = 0;
	c->body_eof = 0;
	c->body_octets = 0;
	io_set_lowat(c->io, BODY_LOWAT);
	client_body_pump(c);
}

/*
 * client_enter - move to a state and do what the state starts with.  The
 * caller returns right after: the state's action may fail the session and
 * free the connection.
 */
void
client_enter(struct smtp_client *c, enum client_state s)
{
	enum client_state	 old = c->state;
	const char		*err;
	enum gw_fail		 cls;

	if ((unsigned)s >= CS_MAX)
		fatalx("smtp_client: impossible state %d", (int)s);
	c->state = s;
	if (old != s)
		log_trace(LOGF_PROTOCOL, "%016llx smtp-client %s -> %s",
		    (unsigned long long)c->id, client_strstate(old),
		    client_strstate(s));

	switch (s) {
	case CS_NEW:
		fatalx("smtp_client: cannot re-enter NEW");
	case CS_RESOLVING:
		client_connect(c);
		break;
	case CS_CONNECTING:
		break;	/* upconn tries each address */
	case CS_TLS_IMPLICIT:
	case CS_TLS_STARTTLS:
		client_timer(c, c->up->command_timeout);
		/*
		 * Refused if plaintext is still buffered (after the 220 to
		 * STARTTLS that is an injection attempt).
		 */
		if ((err = upconn_tls_start(c->conn, &cls)) != NULL) {
			client_fail(c, cls, "%s", err);
			return;
		}
		break;
	case CS_BANNER:
		client_timer(c, c->up->connect_timeout);
		break;
	case CS_AUTH:
		/* from AUTH_KDC: the thread's AUTH line goes out next */
		if (old != CS_AUTH_KDC)
			client_auth_start(c);
		break;
	case CS_AUTH_KDC:
		break;	/* command_timeout runs on (client_auth_start) */
	case CS_READY:
		client_ready(c);
		/* c may be freed here */
		break;
	case CS_BODY:
		client_body_begin(c);
		break;
	case CS_DOT:
		c->tx = SMTP_TX_DOT;	/* never retried from here on */
		io_set_lowat(c->io, 0);
		client_timer(c, c->up->command_timeout);
		break;
	case CS_EHLO:
	case CS_EHLO_TLS:
	case CS_HELO:
	case CS_STARTTLS:
	case CS_MAIL:
	case CS_RCPT:
	case CS_DATA:
	case CS_RSET:
	case CS_QUIT:
		client_send_command(c, s);
		break;
	case CS_CLOSED:
		break;
	case CS_MAX:
		fatalx("smtp_client: impossible state %d", (int)s);
	}
}

/*
 * client_quit_rset_line - a line of the reply to detach's own RSET, which
 * went out before a QUIT (smtp_client_quit() while parking): it is not
 * QUIT's answer.  Once it is complete, or unreadable, the next reply is
 * QUIT's; closing at the RSET's reply would leave the QUIT unread.
 */
static void
client_quit_rset_line(struct smtp_client *c, struct buf *in, size_t len)
{
	char	 vis[SMTP_REPLY_LINE_MAX * 2];

	log_trace(LOGF_PROTOCOL, "%016llx < %s", (unsigned long long)c->id,
	    str_vis(vis, sizeof(vis), buf_data(in), len));
	if (c->reply.done)
		smtp_reply_reset(&c->reply);
	if (smtp_reply_feed(&c->reply, buf_data(in), len) != NULL ||
	    c->reply.done)
		c->flags &= ~CF_PARKING;
	buf_consume(in, len + 2);
}

/* on_datain - split input into reply lines and feed the reply parser */
static void
on_datain(struct smtp_client *c)
{
	struct buf	*in;
	enum buf_line	 lr;
	const char	*line, *err;
	char		 vis[SMTP_REPLY_LINE_MAX * 2];
	size_t		 len;
	int		 more;

	/* (upconn holds input back while an OCSP answer is awaited) */
	/* a failed session reads on only for the reply to its QUIT */
	while (c->io != NULL &&
	    (!(c->flags & CF_FAILED) || c->state == CS_QUIT)) {
		in = io_in(c->io);
		if ((c->flags & CF_DETACHED) && c->state == CS_READY) {
			client_idle_datain(c);	/* nothing was asked */
			return;
		}
		lr = buf_findline(in, SMTP_REPLY_LINE_MAX, &len);
		if (lr == BUF_LINE_NONE)
			return;
		if (c->state == CS_QUIT && (c->flags & CF_PARKING) &&
		    lr == BUF_LINE_OK) {
			client_quit_rset_line(c, in, len);
			continue;
		}
		if (c->state == CS_QUIT) {
			/* any answer (or garbage) to QUIT ends the session */
			if (lr == BUF_LINE_OK)
				log_trace(LOGF_PROTOCOL, "%016llx < %s",
				    (unsigned long long)c->id, str_vis(vis,
				    sizeof(vis), buf_data(in), len));
			client_finish(c);
			return;
		}
		if (lr == BUF_LINE_TOOLONG) {
			client_fail(c, FAIL_PROTOCOL, "reply line too long");
			return;
		}
		if (lr == BUF_LINE_BARE) {
			client_fail(c, FAIL_PROTOCOL, "bare CR or LF in a reply");
			return;
		}
		line = buf_data(in);
		log_trace(LOGF_PROTOCOL, "%016llx < %s", (unsigned long long)c->id,
		    str_vis(vis, sizeof(vis), line, len));
		if (c->trace != NULL)
			c->trace(c->trace_arg, 0, line, len);
		/* the previous reply stays readable until the next one starts */
		if (c->reply.done)
			smtp_reply_reset(&c->reply);
		err = smtp_reply_feed(&c->reply, line, len);
		buf_consume(in, len + 2);
		if (err != NULL) {
			client_fail(c, FAIL_PROTOCOL, "bad reply: %s", err);
			return;
		}
		if (!c->reply.done)
			continue;
		/*
		 * Nothing may follow a complete reply unless more replies
		 * are owed (pipelined commands).  Extra bytes are an attack
		 * or a broken server; after the 220 to STARTTLS they would
		 * be a plaintext injection.
		 */
		if (buf_len(in) != 0 && c->npipe == 0) {
			client_fail(c, FAIL_PROTOCOL,
			    "upstream sent data after its reply (%zu bytes)",
			    buf_len(in));
			return;
		}
		more = c->npipe > 0;
		client_response(c);
		/* the owner may have freed or failed us, or gone idle */
		if (!more || (c->flags & (CF_FREE | CF_FAILED)) ||
		    c->io == NULL || buf_len(io_in(c->io)) == 0)
			return;
	}
}

static void
on_connected(struct smtp_client *c, const char *peer)
{
	if (c->state != CS_CONNECTING)
		fatalx("smtp_client: connected in state %s",
		    client_strstate(c->state));
	c->io = upconn_io(c->conn);
	(void)str_copy(c->peer, peer, sizeof(c->peer));
	log_info("%016llx smtp-client upstream=%s:%u connected peer=%s%s%s",
	    (unsigned long long)c->id, c->up->host, c->up->port, c->peer,
	    upconn_via(c->conn) != NULL ? " via=" : "",
	    upconn_via(c->conn) != NULL ? upconn_via(c->conn) : "");
	if (c->up->tls == TLS_IMPLICIT)
		client_enter(c, CS_TLS_IMPLICIT);
	else
		client_enter(c, CS_BANNER);
}

/* on_tlsverified - TLS is up and its certificate fully checked */
static void
on_tlsverified(struct smtp_client *c)
{
	if (c->state == CS_TLS_IMPLICIT)
		client_enter(c, CS_BANNER);
	else if (c->state == CS_TLS_STARTTLS)
		client_enter(c, CS_EHLO_TLS);
	else
		fatalx("smtp_client: TLS ready in state %s",
		    client_strstate(c->state));
}

/* on_ioerror - the connection closed or failed */
static void
on_ioerror(struct smtp_client *c, enum upconn_event ev)
{
	enum gw_fail	 cls;
	const char	*why;

	cls = io_error_class(c->io);
	why = ev == UPCONN_CLOSED ? "connection closed by upstream" :
	    io_error(c->io);
	switch (c->state) {
	case CS_QUIT:
		client_finish(c);
		return;
	case CS_DOT:
		/*
		 * The final dot is out and no reply came: the upstream may
		 * have accepted the message.  Say so loudly (pitfall 12); the
		 * owner answers 4xx and the message may arrive twice.
		 */
		log_error("%016llx smtp-client upstream=%s:%u connection lost "
		    "after the final dot (%s): the message may have been "
		    "delivered; a retry may deliver it twice",
		    (unsigned long long)c->id, c->up->host, c->up->port, why);
		client_fail(c, FAIL_CLOSED, "connection lost after end of data; "
		    "message may be delivered twice");
		return;
	default:
		if (ev == UPCONN_CLOSED || cls == FAIL_NONE)
			cls = FAIL_CLOSED;
		client_fail(c, cls, "%s in state %s", why,
		    client_strstate(c->state));
		return;
	}
}

/* on_conn - the connection's events (see upconn.h) */
static void
on_conn(void *arg, enum upconn_event ev, enum gw_fail fcls, const char *text)
{
	struct smtp_client	*c = arg;

	client_hold(c);
	switch (ev) {
	case UPCONN_RESOLVED:
		client_enter(c, CS_CONNECTING);
		break;
	case UPCONN_CONNECTED:
		on_connected(c, text);
		break;
	case UPCONN_TLS_UP:
		c->flags |= CF_TLS;
		(void)str_copy(c->tlsdesc, text, sizeof(c->tlsdesc));
		break;
	case UPCONN_OCSP_WAIT:
		/*
		 * ocsp_timeout bounds the fetch; this timer is only the
		 * backstop, so that the failure says revocation-unknown.
		 */
		client_timer(c, c->up->tlsset.ocsp_timeout +
		    c->up->command_timeout);
		break;
	case UPCONN_TLS_VERIFIED:
		on_tlsverified(c);
		break;
	case UPCONN_DATAIN:
		on_datain(c);
		break;
	case UPCONN_LOWAT:
		if (c->state == CS_BODY && !(c->flags & CF_BODY_WAIT)) {
			client_timer(c, c->up->command_timeout);
			client_body_pump(c);
		}
		break;
	case UPCONN_TIMEOUT:
		/* we run our own timers; the io's is not armed, but be safe */
		if (c->state == CS_QUIT)
			client_finish(c);
		else
			client_fail(c, FAIL_TIMEOUT, "no progress in state %s",
			    client_strstate(c->state));
		break;
	case UPCONN_CLOSED:
	case UPCONN_ERROR:
		on_ioerror(c, ev);
		break;
	case UPCONN_FAILED:
		if (c->state == CS_QUIT)
			client_finish(c);
		else
			client_fail(c, fcls, "%s", text);
		break;
	}
	client_release(c);
	/* c may be freed here */
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client	*c = arg;

	client_hold(c);
	switch (c->state) {
	case CS_QUIT:
		client_finish(c);
		break;
	case CS_DOT:
		log_error("%016llx smtp-client upstream=%s:%u no reply to the "
		    "final dot: the message may have been delivered; a retry "
		    "may deliver it twice", (unsigned long long)c->id,
		    c->up->host, c->up->port);
		client_fail(c, FAIL_TIMEOUT, "timeout after end of data; "
		    "message may be delivered twice");
		break;
	default:
		client_fail(c, FAIL_TIMEOUT, "timeout in state %s",
		    client_strstate(c->state));
		break;
	}
	client_release(c);
	/* c may be freed here */
}

static void
on_defer(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_client	*c = arg;
	struct gw_io		*io;

	client_hold(c);
	if ((c->flags & CF_FAIL_PENDING) && !(c->flags & CF_QUIET)) {
		c->flags &= ~CF_FAIL_PENDING;
		client_notify_failed(c);
	}
	if ((c->flags & CF_BODY_KICK) && !(c->flags & (CF_FAILED | CF_FREE))) {
		c->flags &= ~CF_BODY_KICK;
		if (c->state == CS_BODY && (io = c->io) != NULL) {
			/* the last chunk and the final dot in one record */
			io_batch_begin(io);
			client_body_pump(c);
			(void)io_batch_end(io);
		}
	}
	/* what the new owner's ready() writes (RSET, MAIL, ...): one send */
	if ((io = c->io) != NULL && (c->flags & CF_READY_PENDING)) {
		io_batch_begin(io);
		client_idle_defer(c);
		(void)io_batch_end(io);
	} else
		client_idle_defer(c);
	client_release(c);
	/* c may be freed here */
}

/*
 * smtp_client_free - close at once, no callbacks.  The one QUIT it lets
 * finish is the one a failed AUTH started (client_auth_fail): the client
 * then frees itself when the reply, a close or QUIT_TIMEOUT ends it.
 */
void
smtp_client_free(struct smtp_client *c)
{
	if (c == NULL)
		return;
	c->flags |= CF_QUIET;
	if (c->state == CS_QUIT && (c->flags & CF_FAILED) && c->io != NULL)
		return;
	c->flags |= CF_FREE;
	client_close(c);
	c->state = CS_CLOSED;
	if (c->held == 0)
		client_destroy(c);
}

uint64_t
smtp_client_set_id(struct smtp_client *c, uint64_t id)
{
	uint64_t	old = c->id;

	c->id = id;
	return old;
}

/* smtp_client_ext - capabilities from the current EHLO */
const struct smtp_ext *
smtp_client_ext(const struct smtp_client *c)
{
	return &c->ext;
}

/* smtp_client_tls_report - the probe's TLS report of this connection */
int
smtp_client_tls_report(const struct smtp_client *c, struct tls_report *rp)
{
	return c->io == NULL ? -1 : tls_get_report(c->io, rp);
}

/* smtp_client_tls - "TLSv1.3 TLS13-AES128-GCM-SHA256" or "none" */
const char *
smtp_client_tls(const struct smtp_client *c)
{
	return c->tlsdesc;
}

/* smtp_client_tls_up - TLS is up (ready() comes only after its checks) */
int
smtp_client_tls_up(const struct smtp_client *c)
{
	return (c->flags & CF_TLS) != 0;
}

/* smtp_client_tls_resumed - the TLS session resumed an earlier one */
int
smtp_client_tls_resumed(const struct smtp_client *c)
{
	struct tls_info	 ti;

	return c->io != NULL && tls_get_info(c->io, &ti) == 0 && ti.resumed;
}

/* smtp_client_auth_reply - the last reply to AUTH, or NULL */
const struct smtp_reply *
smtp_client_auth_reply(const struct smtp_client *c)
{
	if (!(c->flags & CF_AUTH_RAN) || c->auth_reply == NULL ||
	    c->auth_reply->code == 0)
		return NULL;
	return c->auth_reply;
}

/* smtp_client_auth_mech - the mechanism that ran last, or "none" */
const char *
smtp_client_auth_mech(const struct smtp_client *c)
{
	return (c->flags & CF_AUTH_RAN) ? auth_mech_name(c->auth_mech) :
	    "none";
}
