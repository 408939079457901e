/*
 * smtp_server - the client-facing SMTP session (the legacy program's side).
 *
 * Commands that need the owner (MAIL, RCPT, RSET, the end of DATA, EHLO
 * inside a transaction) move the session into a WAIT_* state, reading
 * stops, and buffered input is left alone until smtp_server_reply()
 * arrives; except that, with smtp_server_lookahead(), a checked RCPT or
 * DATA line behind a MAIL or RCPT in flight is handed on at once, its
 * WAIT state queued (ahead[]), and the replies settle them in order.  The owner may answer from inside the
 * callback (the loop notices the state change when the callback returns)
 * or later (the answer is queued and the loop is restarted from a deferred
 * event, never from the owner's stack).
 *
 * Lifetime: every entry from the event loop runs inside a frame.  A call to
 * smtp_server_free() within a frame only marks the session; the free
 * happens when the outermost frame unwinds.  closed() is the last callback.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "net/io.h"
#include "obs/metrics.h"
#include "smtp/smtp_server_int.h"
#include "util/addr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static const char *const smtp_strstates[] = {
	"NEW",
	"CONNECTED",
	"HELO",
	"TX",
	"WAIT_MAIL",
	"WAIT_RCPT",
	"WAIT_RSET",
	"BODY",
	"WAIT_DATA",
	"WAIT_354",
	"AUTH_PLAIN",
	"AUTH_LOGIN_USER",
	"AUTH_LOGIN_PASS",
	"WAIT_AUTH",
	"TLS",
	"QUIT",
	"CLOSED"
};

static void	smtp_frame_enter(struct smtp_server *);
static void	smtp_frame_leave(struct smtp_server *);
static void	smtp_destroy(struct smtp_server *);
static void	smtp_resume_cb(evutil_socket_t, short, void *);
static void	smtp_timeout(struct smtp_server *, const char *);
static void	smtp_cmd_deadline_cb(evutil_socket_t, short, void *);
static void	smtp_session_time_cb(evutil_socket_t, short, void *);
static void	smtp_limit(struct smtp_server *, const char *, const char *);
static long long smtp_data_time_left(const struct smtp_server *);
static void	smtp_linger_cb(evutil_socket_t, short, void *);
static void	smtp_io_cb(struct gw_io *, enum io_event, void *);
static void	smtp_io_event(struct smtp_server *, enum io_event);
static int	smtp_reading(const struct smtp_server *);
static int	smtp_next_command(struct smtp_server *);
static int	smtp_bare_lf_line(const struct smtp_server *, size_t, size_t);
static size_t	smtp_line_limit(struct smtp_server *);
static int	smtp_mailrcpt_line(const char *, size_t);
static const struct smtp_cmd *smtp_cmd_lookup(enum smtp_verb);
static void	smtp_dispatch(struct smtp_server *, char *, size_t);
static void	smtp_finish(struct smtp_server *, const char *);

static const struct smtp_cmd smtp_cmds[] = {
	{ SMTP_CMD_HELO, "HELO", smtp_check_helo, smtp_proceed_helo,
	    CMD_LAST | CMD_JUNK },
	{ SMTP_CMD_EHLO, "EHLO", smtp_check_helo, smtp_proceed_ehlo,
	    CMD_LAST | CMD_JUNK },
	{ SMTP_CMD_MAIL, "MAIL", smtp_check_mail, smtp_proceed_mail, 0 },
	{ SMTP_CMD_RCPT, "RCPT", smtp_check_rcpt, smtp_proceed_rcpt, 0 },
	{ SMTP_CMD_DATA, "DATA", smtp_check_data, smtp_proceed_data, CMD_LAST },
	{ SMTP_CMD_RSET, "RSET", smtp_check_rset, smtp_proceed_rset, CMD_JUNK },
	{ SMTP_CMD_NOOP, "NOOP", NULL, smtp_proceed_noop, CMD_LAST | CMD_JUNK },
	{ SMTP_CMD_QUIT, "QUIT", NULL, smtp_proceed_quit, CMD_LAST },
	{ SMTP_CMD_HELP, "HELP", NULL, smtp_proceed_help, CMD_JUNK },
	{ SMTP_CMD_VRFY, "VRFY", NULL, smtp_proceed_vrfy, CMD_LAST | CMD_JUNK },
	{ SMTP_CMD_EXPN, "EXPN", NULL, smtp_proceed_notimpl,
	    CMD_LAST | CMD_JUNK },
	{ SMTP_CMD_STARTTLS, "STARTTLS", smtp_check_starttls,
	    smtp_proceed_starttls, CMD_LAST },
	{ SMTP_CMD_AUTH, "AUTH", smtp_check_auth, smtp_proceed_auth, CMD_LAST },
	{ SMTP_CMD_BDAT, "BDAT", NULL, smtp_proceed_notimpl, 0 },
	{ SMTP_CMD_UNKNOWN, "UNKNOWN", NULL, smtp_proceed_unknown, 0 }
};

const char *
smtp_strstate(enum smtp_state st)
{
	if ((size_t)st >= sizeof(smtp_strstates) / sizeof(smtp_strstates[0]))
		fatalx("smtp_server: impossible state %d", (int)st);
	return smtp_strstates[st];
}

void
smtp_enter_state(struct smtp_server *s, enum smtp_state st)
{
	log_trace(LOGF_PROTOCOL, "%016llx state %s -> %s",
	    (unsigned long long)s->info.id, smtp_strstate(s->state),
	    smtp_strstate(st));
	s->state = st;
}

/*
 * Entering a WAIT state stops reading: the next command must not even be
 * looked at before the owner answered this one.  The client is not at
 * fault while the owner works, so no inactivity timeout runs either; the
 * owner bounds its own work (upstream timeouts).
 */
void
smtp_wait_owner(struct smtp_server *s, enum smtp_state st)
{
	smtp_enter_state(s, st);
	io_set_read(s->io, 0);
	io_set_timeout(s->io, 0);
	(void)evtimer_del(s->ev_cmd);
}

static void
smtp_frame_enter(struct smtp_server *s)
{
	s->frame++;
}

static void
smtp_frame_leave(struct smtp_server *s)
{
	if (--s->frame == 0 && (s->flags & SF_FREE))
		smtp_destroy(s);
}

/* server_settings - the listener's limits and TLS settings, copied */
static void
server_settings(struct smtp_server *s, const struct conf_listener *conf,
    struct tls_server_ctx *tls)
{
	s->max_size = conf->max_message_size;
	s->max_rcpt = conf->max_recipients;
	s->cmd_timeout = conf->command_timeout;
	s->data_timeout = conf->data_timeout;
	s->normalize = conf->bare_newline == BARE_NEWLINE_NORMALIZE;
	s->long_lines = conf->long_lines;
	s->max_session = conf->max_session_time;
	s->max_junk = conf->max_junk_commands;
	s->min_rate = conf->min_data_rate;
	if (conf->tls != LISTEN_TLS_NONE && tls == NULL)
		fatalx("smtp_server_new: listener %s has tls but no context",
		    conf->name);
	s->tls = conf->tls != LISTEN_TLS_NONE ? tls : NULL;
	s->tls_mode = conf->tls;
	s->tls_required = conf->tls_required;
	s->requiretls = conf->requiretls;
	s->auth_after_tls = conf->auth_after_tls;
	s->hs_timeout = conf->tls_handshake_timeout;
}

/* server_names - the hostname and the banner; -1 if either is too long */
static int
server_names(struct smtp_server *s, const char *hostname,
    const struct conf_listener *conf)
{
	int	n;

	if (str_copy(s->hostname, hostname, sizeof(s->hostname)) == -1)
		return -1;
	if (conf->banner[0] != '\0') {
		if (str_copy(s->banner, conf->banner, sizeof(s->banner)) == -1)
			return -1;
	} else {
		n = snprintf(s->banner, sizeof(s->banner), "%s ESMTP smtpgate",
		    s->hostname);
		if (n < 0 || (size_t)n >= sizeof(s->banner))
			return -1;
	}
	return 0;
}

/* smtp_server_new - greet a newly accepted client on fd */
struct smtp_server *
smtp_server_new(struct event_base *base, int fd, const struct sockaddr *peer,
    socklen_t peerlen, const struct sockaddr *proxy,
    const struct conf_listener *conf, const char *hostname, uint64_t id,
    struct tls_server_ctx *tls, const struct smtp_server_cb *cb, void *arg)
{
	struct smtp_server	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->cb = cb;
	s->arg = arg;
	s->info.id = id;
	s->state = STATE_NEW;
	server_settings(s, conf, tls);
	/*
	 * The hostname and banner go into every greeting; a name that does
	 * not fit is a configuration bug, not something to cut silently.
	 */
	if (server_names(s, hostname, conf) == -1)
		goto toolong;

	if (peer != NULL && peerlen > 0)
		(void)addr_ntop(peer, s->info.peer, sizeof(s->info.peer));
	else
		(void)gw_strlcpy(s->info.peer, "unknown", sizeof(s->info.peer));
	if (proxy != NULL)
		(void)addr_ntop(proxy, s->info.proxy, sizeof(s->info.proxy));

	s->ev_resume = event_new(base, -1, 0, smtp_resume_cb, s);
	s->ev_linger = evtimer_new(base, smtp_linger_cb, s);
	s->ev_cmd = evtimer_new(base, smtp_cmd_deadline_cb, s);
	s->ev_session = evtimer_new(base, smtp_session_time_cb, s);
	if (s->ev_resume == NULL || s->ev_linger == NULL || s->ev_cmd == NULL ||
	    s->ev_session == NULL)
		goto fail;
	if (s->max_session > 0) {
		struct timeval	 tv = { s->max_session, 0 };

		if (evtimer_add(s->ev_session, &tv) == -1)
			goto fail;
	}
	s->io = io_new(base, fd, SMTP_SRV_INMAX, SMTP_SRV_OUTMAX, smtp_io_cb,
	    s);
	if (s->io == NULL)
		goto fail;

	log_kv(GW_LOG_INFO, id, "connect", (struct log_field[]){
	    LOGK_WORD("from", s->info.peer),
	    LOGK_WORD("proxy", s->info.proxy[0] ? s->info.proxy : NULL) }, 2);
	/* implicit TLS: the handshake first, the greeting over it */
	if (s->tls_mode == LISTEN_TLS_IMPLICIT) {
		smtp_tls_begin(s);
		return s;
	}
	smtp_enter_state(s, STATE_CONNECTED);
	smtp_send(s, 220, NULL, "%s", s->banner);
	smtp_want_input(s);
	return s;

toolong:
	log_warnx("%016llx hostname or banner too long",
	    (unsigned long long)id);
fail:
	if (s->ev_resume != NULL)
		event_free(s->ev_resume);
	if (s->ev_linger != NULL)
		event_free(s->ev_linger);
	if (s->ev_cmd != NULL)
		event_free(s->ev_cmd);
	if (s->ev_session != NULL)
		event_free(s->ev_session);
	free(s);
	return NULL;
}

/* smtp_server_free - free now, or when the current callback unwinds */
void
smtp_server_free(struct smtp_server *s)
{
	if (s == NULL)
		return;
	if (s->frame > 0) {
		s->flags |= SF_FREE;
		return;
	}
	smtp_destroy(s);
}

static void
smtp_destroy(struct smtp_server *s)
{
	if (s->state != STATE_CLOSED)
		log_info("%016llx disconnect reason=freed commands=%llu",
		    (unsigned long long)s->info.id, s->ncommands);
	if (s->io != NULL)
		io_free(s->io);
	event_free(s->ev_resume);
	event_free(s->ev_linger);
	event_free(s->ev_cmd);
	event_free(s->ev_session);
	smtp_sasl_wipe(&s->creds);
	free(s->path);
	free(s->tlsinfo);
	free(s);
}

/* smtp_server_info - identity and greeting facts of the session */
const struct smtp_server_info *
smtp_server_info(const struct smtp_server *s)
{
	return &s->info;
}

/* smtp_server_longline - the last message had lines over 998 octets */
int
smtp_server_longline(const struct smtp_server *s)
{
	return s->data.longline;
}

/* smtp_server_drain - close after the current transaction (421 when idle) */
void
smtp_server_drain(struct smtp_server *s)
{
	if (s->state == STATE_QUIT || s->state == STATE_CLOSED)
		return;
	s->flags |= SF_DRAIN;
	/* the loop sends the 421 once no transaction is open */
	smtp_resume(s);
}

/*
 * Continue from the event loop, never from the caller's stack: the owner
 * that just answered must not see its own callbacks re-entered.  Inside
 * smtp_process() the loop notices the state change by itself.
 */
void
smtp_resume(struct smtp_server *s)
{
	if (s->flags & SF_INPROC)
		return;
	event_active(s->ev_resume, EV_TIMEOUT, 1);
}

static void
smtp_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server	*s = arg;

	smtp_frame_enter(s);
	if (s->state == STATE_QUIT) {
		if (io_queued(s->io) == 0)
			smtp_finish(s, s->reason);
	} else if (s->state != STATE_CLOSED)
		smtp_process(s);
	smtp_frame_leave(s);
	/* s may be freed here */
}

/*
 * smtp_timeout - the client took too long: no input at all for the
 * inactivity timeout, or a command not complete by its deadline.
 */
static void
smtp_timeout(struct smtp_server *s, const char *kind)
{
	if (s->state == STATE_QUIT) {
		smtp_finish(s, s->reason);
		return;
	}
	/* no reply can be sent in the middle of a handshake */
	if (s->state == STATE_TLS) {
		log_info("%016llx timeout kind=tls-handshake client=%s",
		    (unsigned long long)s->info.id, s->info.peer);
		metrics_tls_listener_timeout();
		smtp_finish(s, "tls handshake timeout");
		return;
	}
	/* while the owner works the timeouts are off; be safe anyway */
	if (!smtp_reading(s))
		return;
	/*
	 * In the body the io timeout is the sooner of data_timeout and the
	 * data-rate deadline (smtp_want_input); a little slack for a timer
	 * that fires a millisecond before the computed end.
	 */
	if (s->state == STATE_BODY && smtp_data_time_left(s) <= 50) {
		smtp_limit(s, "min-data-rate", "Message data too slow");
		return;
	}
	log_info("%016llx timeout kind=%s state=%s",
	    (unsigned long long)s->info.id, kind, smtp_strstate(s->state));
	smtp_send(s, 421, "4.4.2", "%s Timeout, closing connection",
	    s->hostname);
	smtp_quit(s, "timeout");
}

static void
smtp_cmd_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server	*s = arg;

	smtp_frame_enter(s);
	smtp_timeout(s, "command");
	smtp_frame_leave(s);
	/* s may be freed here */
}

/*
 * max_session_time: the overall bound of a session, whatever it does.  The
 * cut waits while the owner works (an upstream exchange in flight must get
 * its answer to the client, or a message could be delivered that the client
 * was told nothing about); smtp_process() makes it once reading resumes.
 */
static void
smtp_session_time_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server	*s = arg;

	smtp_frame_enter(s);
	if (s->state != STATE_QUIT && s->state != STATE_CLOSED) {
		s->flags |= SF_EXPIRED;
		if (smtp_reading(s))
			smtp_limit(s, "session-time", "Session time limit "
			    "exceeded");
	}
	smtp_frame_leave(s);
	/* s may be freed here */
}

/*
 * A session bound was reached: 421 4.7.0 and close.  A message being read
 * is dropped (smtp_finish() aborts it); the client keeps it and retries,
 * as after any 421.
 */
static void
smtp_limit(struct smtp_server *s, const char *reason, const char *text)
{
	log_info("%016llx session limit=%s state=%s commands=%llu",
	    (unsigned long long)s->info.id, reason, smtp_strstate(s->state),
	    s->ncommands);
	smtp_send(s, 421, "4.7.0", "%s %s, closing connection", s->hostname,
	    text);
	smtp_quit(s, reason);
}

/*
 * min_data_rate, as Postfix's smtpd_min_data_rate: the time a client has
 * for a message is data_timeout plus one second per min_data_rate octets
 * it has sent.  Milliseconds left, 0 once spent, LLONG_MAX without a rate.
 */
static long long
smtp_data_time_left(const struct smtp_server *s)
{
	struct timespec	 now;
	long long	 allowed, spent;

	if (s->min_rate == 0)
		return LLONG_MAX;
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	allowed = (long long)s->data_timeout * 1000 +
	    (long long)(s->data_in * 1000 / s->min_rate);
	spent = (long long)(now.tv_sec - s->data_t0.tv_sec) * 1000 +
	    (now.tv_nsec - s->data_t0.tv_nsec) / 1000000;
	return spent >= allowed ? 0 : allowed - spent;
}

static void
smtp_linger_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_server	*s = arg;

	smtp_frame_enter(s);
	if (s->state == STATE_QUIT) {
		log_debug("%016llx last reply not flushed, closing",
		    (unsigned long long)s->info.id);
		smtp_finish(s, s->reason);
	}
	smtp_frame_leave(s);
	/* s may be freed here */
}

static void
smtp_io_cb(struct gw_io *io, enum io_event ev, void *arg)
{
	struct smtp_server	*s = arg;

	smtp_frame_enter(s);
	smtp_io_event(s, ev);
	smtp_frame_leave(s);
	/* s may be freed here */
}

static void
smtp_io_event(struct smtp_server *s, enum io_event ev)
{
	unsigned long long	 id = s->info.id;

	if (s->state == STATE_CLOSED)
		return;

	switch (ev) {
	case IO_DATAIN:
		smtp_process(s);
		break;
	case IO_LOWAT:
		if (s->state == STATE_QUIT) {
			smtp_finish(s, s->reason);
			break;
		}
		if (s->flags & SF_OUTFULL) {
			s->flags &= ~SF_OUTFULL;
			smtp_process(s);
		}
		break;
	case IO_TIMEOUT:
		smtp_timeout(s, "idle");
		break;
	case IO_CLOSED:
		if (s->state == STATE_TLS) {
			smtp_finish(s, "client closed during the TLS handshake");
			break;
		}
		/*
		 * A client may half-close right after its last pipelined
		 * command (QUIT included): answer what is buffered, then
		 * close once more input would be needed.
		 */
		s->flags |= SF_EOF;
		if (s->state == STATE_QUIT) {
			if (io_queued(s->io) == 0)
				smtp_finish(s, s->reason);
		} else if (smtp_reading(s))
			smtp_process(s);
		break;
	case IO_ERROR:
		log_debug("%016llx io error=%s", id, io_error(s->io));
		if (s->state == STATE_TLS)
			metrics_tls_listener();
		smtp_finish(s, s->state == STATE_QUIT ? s->reason :
		    s->state == STATE_TLS ? "tls handshake failed" :
		    "io error");
		break;
	case IO_TLSREADY:
		if (s->state == STATE_TLS)
			smtp_tls_ready(s);
		break;
	case IO_CONNECTED:
		/* the server side never connects */
		log_debug("%016llx unexpected %s", id, io_event_name(ev));
		break;
	default:
		fatalx("%016llx smtp_server: io event %d", id, (int)ev);
	}
	/* s may be freed here (the frame keeps it until we return) */
}

/* states in which input is read: a command, or the message body */
static int
smtp_reading(const struct smtp_server *s)
{
	switch (s->state) {
	case STATE_BODY:
		/* the owner's buffer is full: it resumes us */
		return !(s->flags & SF_BODYWAIT);
	case STATE_CONNECTED:
	case STATE_HELO:
	case STATE_TX:
	case STATE_AUTH_PLAIN:
	case STATE_AUTH_LOGIN_USER:
	case STATE_AUTH_LOGIN_PASS:
		return 1;
	case STATE_WAIT_AUTH:
	case STATE_TLS:
	case STATE_NEW:
	case STATE_WAIT_MAIL:
	case STATE_WAIT_RCPT:
	case STATE_WAIT_RSET:
	case STATE_WAIT_DATA:
	case STATE_WAIT_354:
	case STATE_QUIT:
	case STATE_CLOSED:
		return 0;
	default:
		fatalx("smtp_server: impossible state %d", (int)s->state);
	}
}

/*
 * Waiting for input.  In the body, data_timeout bounds the silence between
 * bytes.  For a command, command_timeout is a deadline for the whole line:
 * restarting it on every byte would let a client that sends one byte a
 * second hold the session for ever (slowloris).  The deadline starts when
 * the session begins waiting for a command and ends when a line is taken.
 */
void
smtp_want_input(struct smtp_server *s)
{
	struct timeval	 tv = { s->cmd_timeout, 0 };

	io_set_read(s->io, 1);
	if (s->state == STATE_BODY) {
		long long	 left = smtp_data_time_left(s);

		(void)evtimer_del(s->ev_cmd);
		if (left == 0) {
			smtp_limit(s, "min-data-rate", "Message data too slow");
			return;
		}
		/* silence or a slow drip, whichever ends first (smtp_timeout) */
		if (left > (long long)s->data_timeout * 1000)
			left = (long long)s->data_timeout * 1000;
		io_set_timeout(s->io, (unsigned)left);
		return;
	}
	io_set_timeout(s->io, s->cmd_timeout * 1000u);
	if (!evtimer_pending(s->ev_cmd, NULL))
		(void)evtimer_add(s->ev_cmd, &tv);
}

/*
 * The loop: commands (or body chunks) are taken from the input buffer
 * until more input is needed, the owner must answer, the session ends, or
 * the per-turn budget is spent (then the deferred event brings us back
 * after other connections had their turn).
 */
void
smtp_process(struct smtp_server *s)
{
	int	 n, got;

	if (s->flags & SF_INPROC)
		return;
	s->flags |= SF_INPROC;
	for (n = 0;; n++) {
		if (s->flags & SF_FREE)
			break;
		if (s->flags & SF_OVERFLOW) {
			smtp_quit(s, "output overflow");
			break;
		}
		if (!smtp_reading(s)) {
			/* the owner works: a RCPT or DATA behind may go on */
			if (smtp_lookahead(s) == 1)
				continue;
			break;
		}
		if (s->flags & SF_EXPIRED) {
			smtp_limit(s, "session-time", "Session time limit "
			    "exceeded");
			break;
		}
		if ((s->flags & SF_DRAIN) && (s->state == STATE_CONNECTED ||
		    s->state == STATE_HELO)) {
			smtp_send(s, 421, "4.3.2", "Service shutting down");
			smtp_quit(s, "drain");
			break;
		}
		if (n == SMTP_SRV_BATCH) {
			event_active(s->ev_resume, EV_TIMEOUT, 1);
			break;
		}
		/*
		 * A client that pipelines without reading our replies must
		 * not make the output grow: stop until it has drained, with
		 * room left for the largest reply one command can cause.
		 * The timeout runs meanwhile: one that never reads is gone.
		 */
		if (io_outroom(s->io) < SMTP_SRV_REPLY_ROOM) {
			log_debug("%016llx output full, reading paused",
			    (unsigned long long)s->info.id);
			s->flags |= SF_OUTFULL;
			io_set_read(s->io, 0);
			io_set_timeout(s->io, s->cmd_timeout * 1000u);
			break;
		}
		if (s->state == STATE_BODY)
			got = smtp_body(s);
		else if ((got = smtp_next_command(s)) != 0)
			(void)evtimer_del(s->ev_cmd);	/* the line is in */
		if (got == 0) {
			if (s->flags & SF_EOF)
				smtp_finish(s, "client closed");
			else
				smtp_want_input(s);
			break;
		}
	}
	s->flags &= ~SF_INPROC;
}

/* one command line from the input; 0 if a complete line is not there yet */
static int
smtp_next_command(struct smtp_server *s)
{
	struct buf	*in = io_in(s->io);
	char		 line[SMTP_SASL_LINE_MAX];
	size_t		 len, limit, eol = 2;
	int		 secret, r;

	if (s->flags & SF_SKIPLINE)
		return smtp_skip_line(s);

	limit = smtp_line_limit(s);
	switch (buf_findline(in, limit, &len)) {
	case BUF_LINE_NONE:
		return 0;
	case BUF_LINE_TOOLONG:
	toolong:
		s->ncommands++;
		smtp_trace_in(s, buf_data(in), 64);
		s->flags |= SF_SKIPLINE;
		if (smtp_in_sasl(s)) {
			/*
			 * RFC 4954 4: 500 5.5.6, and the exchange is over.
			 * What the client sent behind the long line (its
			 * password, if this was the user name) goes too.
			 */
			s->flags |= SF_SKIPDROP;
			smtp_sasl_abort(s);
			smtp_error(s, 500, "5.5.6",
			    "Authentication Exchange line is too long");
			return 1;
		}
		smtp_error(s, 500, "5.5.2", "Line too long");
		return 1;
	case BUF_LINE_BARE:
		/*
		 * Under bare_newline = normalize a command may end in a bare
		 * LF (old scripts, embedded devices), as in Postfix's
		 * "normalize".  The end of data stays CRLF.CRLF only.
		 */
		if ((r = smtp_bare_lf_line(s, len, limit)) == 1) {
			len--;
			eol = 1;
			break;
		}
		if (r == -1)
			goto toolong;
		/*
		 * Only CRLF ends a command.  Reading a bare LF or CR as a line
		 * end is how SMTP smuggling starts, and a client sending one
		 * is broken or hostile: answer and hang up.
		 */
		s->ncommands++;
		smtp_trace_in(s, buf_data(in), len);
		smtp_send(s, 500, "5.5.2", "Bare CR or LF not allowed");
		smtp_quit(s, "bare newline");
		return 1;
	case BUF_LINE_OK:
		break;
	default:
		fatalx("smtp_server: buf_findline result");
	}
	/* buf_findline honours the limit, CRLF included */
	if (len >= sizeof(line))
		fatalx("smtp_server: command line of %zu octets", len);
	memcpy(line, buf_data(in), len);
	line[len] = '\0';
	/* only AUTH and SASL lines carry credentials: no wipe for the rest */
	secret = smtp_in_sasl(s) || str_iprefix(line, "auth ") != NULL;
	if (secret)
		buf_consume_wipe(in, len + eol);
	else
		buf_consume(in, len + eol);
	s->ncommands++;
	if (smtp_in_sasl(s))
		smtp_sasl_line(s, line, len);
	else
		smtp_dispatch(s, line, len);
	/* s may be freed here */
	if (secret)
		explicit_bzero(line, len);
	return 1;
}

/*
 * buf_findline() said BARE with the offending octet at off - 1.  Is it an
 * LF that may end a command under normalize?  An LF right after a CR would
 * have been a CRLF, and an earlier CR would have been reported first, so
 * the line before it holds no CR or LF.  The line and its LF must fit the
 * same bound as with CRLF, so that a 511-octet "command" is not taken for
 * a long AUTH line by smtp_dispatch().  Returns 1 for a command line, -1
 * for one that is too long, 0 when the bare octet is not a line end.
 */
static int
smtp_bare_lf_line(const struct smtp_server *s, size_t off, size_t limit)
{
	const char	*p = buf_data(io_in(s->io));

	if (!s->normalize || off == 0 || p[off - 1] != '\n')
		return 0;
	return off - 1 + 2 <= limit ? 1 : -1;
}

/*
 * Commands are bounded at 512 octets, but RFC 4954 4 lets the AUTH command
 * with its initial response, and each SASL response, reach 12288.  The
 * larger bound applies only where the session expects one of those.
 */
static size_t
smtp_line_limit(struct smtp_server *s)
{
	struct buf	*in = io_in(s->io);
	const char	*p = buf_data(in);

	if (smtp_in_sasl(s))
		return SMTP_SASL_LINE_MAX;
	if ((s->flags & SF_AUTHON) && buf_len(in) >= 5 &&
	    (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 'u' &&
	    (p[2] | 0x20) == 't' && (p[3] | 0x20) == 'h' && p[4] == ' ')
		return SMTP_SASL_LINE_MAX;
	if (smtp_mailrcpt_line(p, buf_len(in)))
		return SMTP_MAILRCPT_LINE_MAX;
	return SMTP_CMD_LINE_MAX;
}

/* "MAIL " or "RCPT " (any case): RFC 3461 4 lets these lines be longer */
static int
smtp_mailrcpt_line(const char *p, size_t len)
{
	return len >= 5 && (str_iprefix(p, "MAIL ") != NULL ||
	    str_iprefix(p, "RCPT ") != NULL);
}

/*
 * After "Line too long" the rest of that line is not a command: drop input
 * up to and including the next CRLF.  A CR at the very end is kept, as the
 * LF completing the CRLF may be in the next read.
 */
int
smtp_skip_line(struct smtp_server *s)
{
	struct buf	*in = io_in(s->io);
	const char	*p, *eol;
	size_t		 len;

	if ((len = buf_len(in)) == 0)
		return 0;
	p = buf_data(in);
	/* under normalize a bare LF ends the line too (smtp_bare_lf_line) */
	if (s->normalize)
		eol = memchr(p, '\n', len);
	else if ((eol = memmem(p, len, "\r\n", 2)) != NULL)
		eol++;
	if (eol != NULL) {
		buf_consume_wipe(in, (size_t)(eol - p) + 1);
		s->flags &= ~SF_SKIPLINE;
		if (s->flags & SF_SKIPDROP) {
			s->flags &= ~SF_SKIPDROP;
			smtp_drop_input(s, "failed AUTH exchange");
		}
		return 1;
	}
	if (len > 0 && p[len - 1] == '\r')
		len--;
	buf_consume_wipe(in, len);
	return 0;
}

static const struct smtp_cmd *
smtp_cmd_lookup(enum smtp_verb verb)
{
	size_t	 i;

	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (smtp_cmds[i].verb == verb)
			return &smtp_cmds[i];
	/* the last entry handles verbs the table does not know */
	return &smtp_cmds[sizeof(smtp_cmds) / sizeof(smtp_cmds[0]) - 1];
}

static void
smtp_dispatch(struct smtp_server *s, char *line, size_t len)
{
	const struct smtp_cmd	*cmd;
	enum smtp_verb		 verb;
	const char		*args, *err;

	smtp_trace_in(s, line, len);
	if (len > SMTP_CMD_LINE_MAX - 2 && !smtp_mailrcpt_line(line, len)) {
		/*
		 * Only an AUTH line gets past 512 octets (smtp_line_limit),
		 * but for MAIL and RCPT, which smtp_parse_command bounds;
		 * buf_findline left no CR or LF in it, a NUL is checked here.
		 */
		if (memchr(line, '\0', len) != NULL) {
			smtp_error(s, 500, "5.5.2", "Bad character in command");
			return;
		}
		verb = SMTP_CMD_AUTH;
		args = line + 5;
	} else if ((err = smtp_parse_command(line, len, &verb, &args)) !=
	    NULL) {
		smtp_error(s, 500, "5.5.2", "%s", err);
		return;
	}
	cmd = smtp_cmd_lookup(verb);

	/*
	 * RFC 2920: these commands end a pipelined group.  Input already
	 * waiting behind one is a client bug worth knowing about, but not
	 * worth a refusal; after DATA it is simply the body.  Once per
	 * session: a NOOP flood must not become a log flood.
	 */
	if ((cmd->flags & CMD_LAST) && buf_len(io_in(s->io)) > 0 &&
	    !(s->flags & SF_PIPEWARN)) {
		s->flags |= SF_PIPEWARN;
		log_info("%016llx improper pipelining after=%s",
		    (unsigned long long)s->info.id, cmd->name);
	}

	/*
	 * Commands that move no mail (Postfix's smtpd_junk_command_limit):
	 * a client looping on NOOP, RSET or VRFY would otherwise hold the
	 * session for ever, as each resets the command timeout.
	 */
	if ((cmd->flags & CMD_JUNK) && s->max_junk > 0 &&
	    ++s->njunk > s->max_junk) {
		smtp_limit(s, "junk-commands", "Too many commands without a "
		    "message");
		return;
	}
	if (cmd->check != NULL && cmd->check(s, args) == -1)
		return;
	cmd->proceed(s, args);
	/* s may be freed here */
}

/* the transaction is over, whatever the outcome */
void
smtp_tx_close(struct smtp_server *s, enum smtp_state next)
{
	s->nrcpt = 0;
	s->nrcpt_seen = 0;
	s->tx_utf8 = 0;
	smtp_enter_state(s, next);
}

/*
 * The last reply is queued: stop reading and close once the output is
 * flushed (IO_LOWAT), or after SMTP_SRV_LINGER if the client does not read.
 */
void
smtp_quit(struct smtp_server *s, const char *reason)
{
	struct timeval	 tv = { SMTP_SRV_LINGER, 0 };

	if (s->state == STATE_QUIT || s->state == STATE_CLOSED)
		return;
	s->reason = reason;
	smtp_enter_state(s, STATE_QUIT);
	io_set_read(s->io, 0);
	io_set_timeout(s->io, 0);
	(void)evtimer_del(s->ev_cmd);
	(void)evtimer_add(s->ev_linger, &tv);
	/* the output may be empty already; the deferred event checks */
	event_active(s->ev_resume, EV_TIMEOUT, 1);
}

/*
 * The end.  closed() is the last callback, and nothing of s is touched
 * after it: the owner frees s there (deferred by the frame).
 */
static void
smtp_finish(struct smtp_server *s, const char *reason)
{
	if (s->state == STATE_CLOSED)
		return;
	smtp_enter_state(s, STATE_CLOSED);
	log_kv(GW_LOG_INFO, s->info.id, "disconnect", (struct log_field[]){
	    LOGK_STR("reason", reason), LOGK_UINT("commands", s->ncommands),
	    LOGK_WORD("proxy", s->info.proxy[0] ? s->info.proxy : NULL) }, 3);
	(void)event_del(s->ev_resume);
	(void)evtimer_del(s->ev_linger);
	(void)evtimer_del(s->ev_cmd);
	(void)evtimer_del(s->ev_session);
	io_free(s->io);
	s->io = NULL;
	if (s->flags & SF_INBODY) {
		/* the owner has a partial message to drop */
		s->flags &= ~SF_INBODY;
		s->cb->data_abort(s->arg);
		/* s may be freed here */
		if (s->flags & SF_FREE)
			return;
	}
	s->cb->closed(s->arg, reason);
	/* s may be freed here */
}
