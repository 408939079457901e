/*
 * smtp_server - the client-facing SMTP session (the legacy program's side).
 *
 * One command is in flight at a time: commands that need the owner (MAIL,
 * RCPT, RSET, the end of DATA, EHLO inside a transaction) move the session
 * into a WAIT_* state, reading stops, and buffered input is left alone
 * until smtp_server_reply() arrives.  The owner may answer from inside the
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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "net/io.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_sasl.h"
#include "smtp/smtp_server.h"
#include "util/addr.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define SMTP_SRV_INMAX		(64 * 1024)	/* pipelined input held */
#define SMTP_SRV_OUTMAX		(64 * 1024)	/* replies not yet sent */
#define SMTP_SRV_BATCH		64	/* commands per loop turn */
#define SMTP_SRV_MAXERR		10	/* error replies before 421 */
#define SMTP_SRV_REPLY_LINES	32	/* lines in one reply we send */
#define SMTP_SRV_REPLY_LEN	510	/* one reply line without CRLF */
#define SMTP_SRV_CHUNK		4096	/* body bytes fed per step */
#define SMTP_SRV_LINGER		10	/* seconds to flush the last reply */
#define SMTP_SRV_TEXT_MAX	1024	/* our own reply texts */
#define SMTP_SRV_LOG_MAX	1024	/* escaped protocol line in a trace */

/* room a command needs in the output before it is processed */
#define SMTP_SRV_REPLY_ROOM \
	(SMTP_SRV_REPLY_LINES * (SMTP_SRV_REPLY_LEN + 2))

enum smtp_state {
	STATE_NEW = 0,
	STATE_CONNECTED,	/* greeting sent, no HELO/EHLO yet */
	STATE_HELO,		/* greeted, no transaction */
	STATE_TX,		/* MAIL accepted: RCPT, DATA */
	STATE_WAIT_MAIL,	/* owner->mail() called, reply awaited */
	STATE_WAIT_RCPT,	/* owner->rcpt() called, reply awaited */
	STATE_WAIT_RSET,	/* owner->rset(): RSET, or EHLO in a tx */
	STATE_BODY,		/* reading the message after 354 */
	STATE_WAIT_DATA,	/* owner->data_end() called, reply awaited */
	STATE_AUTH_PLAIN,	/* 334 sent, the PLAIN response awaited */
	STATE_AUTH_LOGIN_USER,	/* 334 Username: sent */
	STATE_AUTH_LOGIN_PASS,	/* 334 Password: sent */
	STATE_WAIT_AUTH,	/* owner->auth() called, reply awaited */
	STATE_QUIT,		/* last reply queued, closing once it is sent */
	STATE_CLOSED		/* closed() delivered; only free remains */
};

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
	"AUTH_PLAIN",
	"AUTH_LOGIN_USER",
	"AUTH_LOGIN_PASS",
	"WAIT_AUTH",
	"QUIT",
	"CLOSED"
};

#define SF_FREE		0x0001	/* smtp_server_free() called inside a frame */
#define SF_DRAIN	0x0002	/* close after the current transaction */
#define SF_SKIPLINE	0x0004	/* discarding the rest of an over-long line */
#define SF_OUTFULL	0x0008	/* paused until the output drains */
#define SF_OVERFLOW	0x0010	/* a reply did not fit the output bound */
#define SF_WFAIL	0x0020	/* data_write() failed for this message */
#define SF_INPROC	0x0040	/* inside smtp_process() */
#define SF_EOF		0x0080	/* the client closed its side */
#define SF_INBODY	0x0100	/* data_begin() said yes; no end/abort yet */
#define SF_PIPEWARN	0x0200	/* improper pipelining already logged */
#define SF_AUTHON	0x0400	/* AUTH offered and required before MAIL */
#define SF_AUTHED	0x0800	/* an AUTH got 235 */
#define SF_SKIPDROP	0x1000	/* after SF_SKIPLINE, drop the input behind */
#define SF_EXPIRED	0x4000	/* max_session_time passed while not reading */

/* command flags */
#define CMD_LAST	0x01	/* must end a pipelined group (RFC 2920) */
#define CMD_JUNK	0x02	/* counts against max_junk_commands */

struct smtp_server {
	struct event_base		*base;
	struct gw_io			*io;
	struct event			*ev_resume;	/* continue, deferred */
	struct event			*ev_linger;	/* bounds last flush */
	struct event			*ev_cmd;	/* command deadline */
	struct event			*ev_session;	/* max_session_time */
	const struct smtp_server_cb	*cb;
	void				*arg;
	struct smtp_server_info		 info;
	char				 hostname[CONF_HOST_MAX];
	char				 banner[CONF_TEXT_MAX];

	/* copied from the listener: the conf snapshot may be swapped */
	unsigned long long		 max_size;
	unsigned			 max_rcpt;
	unsigned			 cmd_timeout;	/* seconds */
	unsigned			 data_timeout;	/* seconds */
	int				 normalize;
	enum long_lines			 long_lines;
	unsigned			 max_session;	/* seconds, 0: none */
	unsigned			 max_junk;	/* 0: no limit */
	unsigned			 min_rate;	/* octets/s, 0: none */

	enum smtp_state			 state;
	unsigned			 flags;
	int				 frame;
	unsigned			 nerrors;
	unsigned long long		 ncommands;
	unsigned			 njunk;		/* since the last message */

	/* transaction */
	unsigned			 nrcpt;		/* accepted rcpts */
	unsigned			 nrcpt_seen;	/* RCPT commands */
	int				 tx_utf8;	/* MAIL had SMTPUTF8 */
	struct smtp_path		*path;		/* checked MAIL/RCPT; from the first */
	char				 from[SMTP_PATH_MAX];	/* for logs */
	struct smtp_data		 data;
	struct timespec			 data_t0;	/* when 354 was sent */
	unsigned long long		 data_in;	/* octets read since */

	/* HELO/EHLO waiting for the owner's rset */
	enum smtp_verb			 pending;
	char				 pending_helo[SMTP_DOMAIN_MAX + 1];

	/* the AUTH exchange in progress; wiped when it ends */
	const char			*auth_mech;	/* "PLAIN" or "LOGIN" */
	struct smtp_sasl_creds		 creds;

	const char			*reason;	/* for closed() */
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*name;
	/* check: syntax and state; sends the error reply and returns -1 */
	int		(*check)(struct smtp_server *, const char *);
	void		(*proceed)(struct smtp_server *, const char *);
	unsigned	 flags;
};

static const char *smtp_strstate(enum smtp_state);
static void	smtp_enter_state(struct smtp_server *, enum smtp_state);
static void	smtp_wait_owner(struct smtp_server *, enum smtp_state);
static void	smtp_frame_enter(struct smtp_server *);
static void	smtp_timeout(struct smtp_server *, const char *);
static void	smtp_log_rcpt(struct smtp_server *, const char *, int,
		    const char *, const char *);
static void	smtp_log_msg(struct smtp_server *, const char *, unsigned,
		    unsigned long long, int, const char *, const char *);
static void	smtp_cmd_deadline_cb(evutil_socket_t, short, void *);
static void	smtp_session_time_cb(evutil_socket_t, short, void *);
static void	smtp_limit(struct smtp_server *, const char *, const char *);
static long long smtp_data_time_left(const struct smtp_server *);
static void	smtp_frame_leave(struct smtp_server *);
static void	smtp_destroy(struct smtp_server *);
static void	smtp_io_cb(struct gw_io *, enum io_event, void *);
static void	smtp_io_event(struct smtp_server *, enum io_event);
static void	smtp_resume_cb(evutil_socket_t, short, void *);
static void	smtp_linger_cb(evutil_socket_t, short, void *);
static void	smtp_resume(struct smtp_server *);
static void	smtp_process(struct smtp_server *);
static int	smtp_reading(const struct smtp_server *);
static void	smtp_want_input(struct smtp_server *);
static int	smtp_next_command(struct smtp_server *);
static int	smtp_skip_line(struct smtp_server *);
static void	smtp_drop_input(struct smtp_server *, const char *);
static int	smtp_ends_line(const struct smtp_server *, const char *,
		    size_t);
static void	smtp_dispatch(struct smtp_server *, char *, size_t);
static const struct smtp_cmd *smtp_cmd_lookup(enum smtp_verb);
static int	smtp_body(struct smtp_server *);
static void	smtp_body_end(struct smtp_server *);
static const char *smtp_strdataerr(enum smtp_data_err, int);
static void	smtp_tx_close(struct smtp_server *, enum smtp_state);
static void	smtp_quit(struct smtp_server *, const char *);
static void	smtp_finish(struct smtp_server *, const char *);
static void	smtp_emit(struct smtp_server *, int, const char *,
		    const char *);
static void	smtp_emit_line(struct smtp_server *, int, int, const char *,
		    const char *, size_t);
static void	smtp_send(struct smtp_server *, int, const char *,
		    const char *, ...) GW_PRINTF(4, 5);
static void	smtp_error(struct smtp_server *, int, const char *,
		    const char *, ...) GW_PRINTF(4, 5);
static void	smtp_vsend(struct smtp_server *, int, const char *,
		    const char *, va_list) GW_PRINTF(4, 0);
static void	smtp_trace_line(struct smtp_server *, char, const char *,
		    size_t);
static void	smtp_trace_in(struct smtp_server *, const char *, size_t);
static void	smtp_helo_done(struct smtp_server *, enum smtp_verb,
		    const char *);
static int	smtp_nonascii(const char *);
static int	smtp_bad_address(const char *, int, int);
static int	smtp_size_value(const char *, unsigned long long *);
static int	smtp_check_mail_params(struct smtp_server *);
static int	smtp_check_rcpt_params(struct smtp_server *, const char *);
static int	smtp_path_reset(struct smtp_server *);
static int	smtp_valid_enh(int, const char *);
static int	smtp_in_sasl(const struct smtp_server *);
static size_t	smtp_line_limit(struct smtp_server *);
static int	smtp_mailrcpt_line(const char *, size_t);
static int	smtp_bare_lf_line(const struct smtp_server *, size_t, size_t);
static void	smtp_sasl_line(struct smtp_server *, const char *, size_t);
static void	smtp_sasl_plain(struct smtp_server *, const char *, size_t);
static void	smtp_sasl_login(struct smtp_server *, const char *, size_t);
static void	smtp_sasl_done(struct smtp_server *);
static void	smtp_sasl_abort(struct smtp_server *);

static int	smtp_check_helo(struct smtp_server *, const char *);
static void	smtp_proceed_helo(struct smtp_server *, const char *);
static void	smtp_proceed_ehlo(struct smtp_server *, const char *);
static void	smtp_hello(struct smtp_server *, enum smtp_verb);
static int	smtp_check_mail(struct smtp_server *, const char *);
static void	smtp_proceed_mail(struct smtp_server *, const char *);
static int	smtp_check_rcpt(struct smtp_server *, const char *);
static void	smtp_proceed_rcpt(struct smtp_server *, const char *);
static int	smtp_check_data(struct smtp_server *, const char *);
static void	smtp_proceed_data(struct smtp_server *, const char *);
static int	smtp_check_rset(struct smtp_server *, const char *);
static void	smtp_proceed_rset(struct smtp_server *, const char *);
static void	smtp_proceed_noop(struct smtp_server *, const char *);
static void	smtp_proceed_quit(struct smtp_server *, const char *);
static void	smtp_proceed_help(struct smtp_server *, const char *);
static void	smtp_proceed_vrfy(struct smtp_server *, const char *);
static void	smtp_proceed_notimpl(struct smtp_server *, const char *);
static int	smtp_check_auth(struct smtp_server *, const char *);
static int	smtp_check_auth1(struct smtp_server *, const char *);
static void	smtp_proceed_auth(struct smtp_server *, const char *);
static void	smtp_proceed_unknown(struct smtp_server *, const char *);

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
	{ SMTP_CMD_STARTTLS, "STARTTLS", NULL, smtp_proceed_notimpl, CMD_LAST },
	{ SMTP_CMD_AUTH, "AUTH", smtp_check_auth, smtp_proceed_auth, CMD_LAST },
	{ SMTP_CMD_BDAT, "BDAT", NULL, smtp_proceed_notimpl, 0 },
	{ SMTP_CMD_UNKNOWN, "UNKNOWN", NULL, smtp_proceed_unknown, 0 }
};

static const char *
smtp_strstate(enum smtp_state st)
{
	if ((size_t)st >= sizeof(smtp_strstates) / sizeof(smtp_strstates[0]))
		fatalx("smtp_server: impossible state %d", (int)st);
	return smtp_strstates[st];
}

static void
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
static void
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

/* smtp_server_new - greet a newly accepted client on fd */
struct smtp_server *
smtp_server_new(struct event_base *base, int fd, const struct sockaddr *peer,
    socklen_t peerlen, const struct sockaddr *proxy,
    const struct conf_listener *conf, const char *hostname,
    uint64_t id, const struct smtp_server_cb *cb, void *arg)
{
	struct smtp_server	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->base = base;
	s->cb = cb;
	s->arg = arg;
	s->info.id = id;
	s->state = STATE_NEW;
	s->max_size = conf->max_message_size;
	s->max_rcpt = conf->max_recipients;
	s->cmd_timeout = conf->command_timeout;
	s->data_timeout = conf->data_timeout;
	s->normalize = conf->bare_newline == BARE_NEWLINE_NORMALIZE;
	s->long_lines = conf->long_lines;
	s->max_session = conf->max_session_time;
	s->max_junk = conf->max_junk_commands;
	s->min_rate = conf->min_data_rate;

	/*
	 * The hostname and banner go into every greeting; a name that does
	 * not fit is a configuration bug, not something to cut silently.
	 */
	if (str_copy(s->hostname, hostname, sizeof(s->hostname)) == -1)
		goto toolong;
	if (conf->banner[0] != '\0') {
		if (str_copy(s->banner, conf->banner, sizeof(s->banner)) == -1)
			goto toolong;
	} else {
		int	 n;

		n = snprintf(s->banner, sizeof(s->banner), "%s ESMTP smtpgate",
		    s->hostname);
		if (n < 0 || (size_t)n >= sizeof(s->banner))
			goto toolong;
	}

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

	log_info("%016llx connect from=%s%s%s", (unsigned long long)id,
	    s->info.peer, s->info.proxy[0] ? " proxy=" : "", s->info.proxy);
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
	free(s);
}

/* smtp_server_require_auth - offer AUTH and require it before MAIL */
void
smtp_server_require_auth(struct smtp_server *s)
{
	if (s->cb->auth == NULL)
		fatalx("smtp_server_require_auth: no auth callback");
	s->flags |= SF_AUTHON;
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

/* smtp_server_reply - the owner's answer to the command in flight */
void
smtp_server_reply(struct smtp_server *s, int code, const char *enh,
    const char *text)
{
	enum smtp_state	 next;
	int		 ok;
	char		 uvis[SMTP_SASL_ID_MAX * 4 + 1];

	if (s->state == STATE_QUIT || s->state == STATE_CLOSED) {
		/* the session ended while the owner worked: nobody to tell */
		log_debug("%016llx late reply code=%d ignored",
		    (unsigned long long)s->info.id, code);
		return;
	}
	if (s->state != STATE_WAIT_MAIL && s->state != STATE_WAIT_RCPT &&
	    s->state != STATE_WAIT_RSET && s->state != STATE_WAIT_DATA &&
	    s->state != STATE_WAIT_AUTH)
		fatalx("%016llx smtp_server_reply: no command in flight "
		    "(state %s)", (unsigned long long)s->info.id,
		    smtp_strstate(s->state));

	/*
	 * The owner relays upstream replies, already validated, but a code
	 * outside 2xx-5xx would make the client's reading of our reply
	 * ambiguous: say "local error" instead of passing it on.
	 */
	if (code < 200 || code > 599) {
		log_warnx("%016llx owner reply code=%d replaced",
		    (unsigned long long)s->info.id, code);
		code = 451;
		enh = "4.3.0";
		text = "Local error in processing";
	}
	ok = code / 100 == 2;

	switch (s->state) {
	case STATE_WAIT_MAIL:
		if (ok) {
			s->nrcpt = 0;
			s->nrcpt_seen = 0;
			next = STATE_TX;
		} else {
			s->tx_utf8 = 0;
			next = STATE_HELO;
		}
		smtp_enter_state(s, next);
		smtp_emit(s, code, enh, text);
		break;
	case STATE_WAIT_RCPT:
		if (ok)
			s->nrcpt++;
		smtp_enter_state(s, STATE_TX);
		smtp_emit(s, code, enh, text);
		break;
	case STATE_WAIT_RSET:
		if (s->pending != SMTP_CMD_RSET && ok)
			smtp_helo_done(s, s->pending, s->pending_helo);
		else {
			smtp_tx_close(s, s->info.helo[0] != '\0' ?
			    STATE_HELO : STATE_CONNECTED);
			smtp_emit(s, code, enh, text);
		}
		s->pending = SMTP_CMD_UNKNOWN;
		break;
	case STATE_WAIT_DATA:
		/* a message went through: the session makes progress */
		if (ok)
			s->njunk = 0;
		smtp_tx_close(s, STATE_HELO);
		smtp_emit(s, code, enh, text);
		break;
	case STATE_WAIT_AUTH:
		if (ok) {
			s->flags |= SF_AUTHED;
			(void)gw_strlcpy(s->info.auth_user, s->creds.user,
			    sizeof(s->info.auth_user));
		}
		log_info("%016llx auth mech=%s user=\"%s\" result=%s code=%d",
		    (unsigned long long)s->info.id, s->auth_mech,
		    str_vis(uvis, sizeof(uvis), s->creds.user,
		    strlen(s->creds.user)), ok ? "ok" : "failed", code);
		smtp_sasl_wipe(&s->creds);
		smtp_enter_state(s, STATE_HELO);
		if (!ok)
			smtp_drop_input(s, "failed AUTH");
		smtp_emit(s, code, enh, text);
		/*
		 * A failed AUTH counts as a client error: the error limit
		 * also bounds password guessing on one connection.
		 */
		if (!ok && code != 421 && ++s->nerrors >= SMTP_SRV_MAXERR) {
			smtp_send(s, 421, "4.7.0", "%s Too many errors",
			    s->hostname);
			smtp_quit(s, "too many errors");
			return;
		}
		break;
	default:
		fatalx("smtp_server_reply: state %s", smtp_strstate(s->state));
	}

	/* 421 tells the client the channel is closing (RFC 5321 3.8) */
	if (code == 421) {
		smtp_quit(s, "owner closed");
		return;
	}
	smtp_resume(s);
}

/*
 * Continue from the event loop, never from the caller's stack: the owner
 * that just answered must not see its own callbacks re-entered.  Inside
 * smtp_process() the loop notices the state change by itself.
 */
static void
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
		smtp_finish(s, s->state == STATE_QUIT ? s->reason :
		    "io error");
		break;
	case IO_CONNECTED:
	case IO_TLSREADY:
		/* not used by the server side in this version */
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
	case STATE_CONNECTED:
	case STATE_HELO:
	case STATE_TX:
	case STATE_BODY:
	case STATE_AUTH_PLAIN:
	case STATE_AUTH_LOGIN_USER:
	case STATE_AUTH_LOGIN_PASS:
		return 1;
	case STATE_WAIT_AUTH:
	case STATE_NEW:
	case STATE_WAIT_MAIL:
	case STATE_WAIT_RCPT:
	case STATE_WAIT_RSET:
	case STATE_WAIT_DATA:
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
static void
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
static void
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
		if (!smtp_reading(s))
			break;
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
static int
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

static int
smtp_check_helo(struct smtp_server *s, const char *args)
{
	const char	*err;

	err = smtp_parse_helo(args, s->pending_helo, sizeof(s->pending_helo));
	if (err != NULL) {
		smtp_error(s, 501, "5.5.4", "%s", err);
		return -1;
	}
	return 0;
}

static void
smtp_proceed_helo(struct smtp_server *s, const char *args)
{
	smtp_hello(s, SMTP_CMD_HELO);
}

static void
smtp_proceed_ehlo(struct smtp_server *s, const char *args)
{
	smtp_hello(s, SMTP_CMD_EHLO);
}

static void
smtp_hello(struct smtp_server *s, enum smtp_verb verb)
{
	/*
	 * HELO/EHLO inside a transaction resets it (RFC 5321 4.1.4): the
	 * owner drops its side first, and the greeting answers only after.
	 */
	if (s->state == STATE_TX) {
		s->pending = verb;
		smtp_wait_owner(s, STATE_WAIT_RSET);
		s->cb->rset(s->arg);
		/* s may be freed here */
		return;
	}
	smtp_helo_done(s, verb, s->pending_helo);
}

/* HELO/EHLO accepted (after the owner's rset if a transaction was open) */
static void
smtp_helo_done(struct smtp_server *s, enum smtp_verb verb, const char *name)
{
	(void)gw_strlcpy(s->info.helo, name, sizeof(s->info.helo));
	s->info.esmtp = verb == SMTP_CMD_EHLO;
	smtp_tx_close(s, STATE_HELO);
	if (verb == SMTP_CMD_HELO) {
		smtp_send(s, 250, NULL, "%s", s->hostname);
		return;
	}
	smtp_send(s, 250, NULL,
	    "%s Hello %s [%s]\n"
	    "PIPELINING\n"
	    "SIZE %llu\n"
	    "ENHANCEDSTATUSCODES\n"
	    "8BITMIME\n"
	    "DSN\n"
	    "%s"
	    "SMTPUTF8",
	    s->hostname, s->info.helo, s->info.peer, s->max_size,
	    (s->flags & SF_AUTHON) ? "AUTH PLAIN LOGIN\n" : "");
}

/*
 * smtp_path_reset - the parsed MAIL/RCPT path, cleared.  With the DSN
 * parameters it is over 4 KiB, so it is allocated at the first MAIL or
 * RCPT, not held by every idle session.  Out of memory: 421 and close.
 */
static int
smtp_path_reset(struct smtp_server *s)
{
	if (s->path == NULL && (s->path = malloc(sizeof(*s->path))) == NULL) {
		log_warnx("%016llx smtp: out of memory for a path",
		    (unsigned long long)s->info.id);
		smtp_send(s, 421, "4.3.0", "%s Out of memory, closing connection",
		    s->hostname);
		smtp_quit(s, "out of memory");
		return -1;
	}
	memset(s->path, 0, sizeof(*s->path));
	return 0;
}

/*
 * After a failed MAIL/RCPT parse: was it the address (5.1.7/5.1.3) or the
 * parameters (5.5.4)?  No '>' can be inside a valid path, so the path is
 * everything up to the first one; parse that alone again.
 */
static int
smtp_bad_address(const char *args, int rcpt, int utf8)
{
	struct smtp_path	 p;
	char			 tmp[SMTP_CMD_LINE_MAX];
	const char		*end;
	size_t			 len;

	if ((end = strchr(args, '>')) == NULL)
		return 1;
	len = (size_t)(end - args) + 1;
	if (len >= sizeof(tmp))
		return 1;
	memcpy(tmp, args, len);
	tmp[len] = '\0';
	if (rcpt)
		return smtp_parse_rcpt(tmp, utf8, &p) != NULL;
	return smtp_parse_mail(tmp, utf8, &p) != NULL;
}

static int
smtp_nonascii(const char *p)
{
	for (; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			return 1;
	return 0;
}

static int
smtp_check_mail(struct smtp_server *s, const char *args)
{
	const char	*err;

	if (s->state == STATE_CONNECTED) {
		smtp_error(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return -1;
	}
	if (s->state != STATE_HELO) {
		smtp_error(s, 503, "5.5.1", "Error: nested MAIL command");
		return -1;
	}
	/* the modes that offer AUTH must not relay for anonymous clients */
	if ((s->flags & SF_AUTHON) && !(s->flags & SF_AUTHED)) {
		smtp_error(s, 530, "5.7.0", "Authentication required");
		return -1;
	}

	if (smtp_path_reset(s) == -1)
		return -1;
	err = smtp_parse_mail(args, 0, s->path);
	if (err != NULL && smtp_nonascii(args)) {
		/*
		 * A non-ASCII address is legal only in a transaction the
		 * client declared with SMTPUTF8 (RFC 6531 3.4); without it
		 * the right answer is 553 5.6.7, not a syntax error.
		 */
		memset(s->path, 0, sizeof(*s->path));
		err = smtp_parse_mail(args, 1, s->path);
		if (err == NULL &&
		    smtp_find_param(s->path, "SMTPUTF8") == NULL) {
			smtp_error(s, 553, "5.6.7",
			    "SMTPUTF8 required for a non-ASCII address");
			return -1;
		}
	}
	if (err != NULL) {
		if (str_iprefix(args, "FROM:") == NULL)
			smtp_error(s, 501, "5.5.4",
			    "Syntax: MAIL FROM:<address>");
		else if (smtp_bad_address(args, 0, 1))
			smtp_error(s, 501, "5.1.7", "%s", err);
		else
			smtp_error(s, 501, "5.5.4", "%s", err);
		return -1;
	}
	return smtp_check_mail_params(s);
}

/* SIZE=<digits>; values too large to represent are simply too large */
static int
smtp_size_value(const char *v, unsigned long long *out)
{
	unsigned long long	 n = 0;

	if (*v == '\0')
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		if (n > (~0ULL - 9) / 10)
			n = ~0ULL;
		else
			n = n * 10 + (unsigned)(*v - '0');
	}
	*out = n;
	return 0;
}

/*
 * Every parameter is checked before any is acted on: an early "ok" for
 * one must not skip the checks of the others (CVE-2020-7247's lesson).
 * Parameters end up in the upstream MAIL, so only known ones pass.
 */
static int
smtp_check_mail_params(struct smtp_server *s)
{
	const struct smtp_param	*p;
	const char		*err;
	enum smtp_dsn_kw	 dsn;
	unsigned long long	 size;
	size_t			 i;

	if (s->path->nparams > 0 && !s->info.esmtp) {
		smtp_error(s, 555, "5.5.4", "ESMTP parameters need EHLO");
		return -1;
	}
	for (i = 0; i < s->path->nparams; i++) {
		/* smtp_parse_mail() has refused a duplicate already */
		p = &s->path->params[i];
		if (str_ieq(p->keyword, "SIZE")) {
			if (!p->has_value ||
			    smtp_size_value(p->value, &size) == -1) {
				smtp_error(s, 501, "5.5.4",
				    "Bad SIZE parameter");
				return -1;
			}
			/* 0 is "no limit", as for smtp_data and EHLO SIZE */
			if (s->max_size != 0 && size > s->max_size) {
				(void)str_copy(s->from, s->path->addr,
				    sizeof(s->from));
				smtp_log_msg(s, "size-param", 0, size, 552,
				    "5.3.4", "Message size exceeds fixed limit");
				smtp_send(s, 552, "5.3.4",
				    "Message size exceeds fixed limit");
				return -1;
			}
		} else if (str_ieq(p->keyword, "BODY")) {
			if (!p->has_value || (!str_ieq(p->value, "7BIT") &&
			    !str_ieq(p->value, "8BITMIME"))) {
				smtp_error(s, 501, "5.5.4",
				    "Bad BODY parameter");
				return -1;
			}
		} else if (str_ieq(p->keyword, "SMTPUTF8")) {
			if (p->has_value) {
				smtp_error(s, 501, "5.5.4",
				    "SMTPUTF8 takes no value");
				return -1;
			}
		} else if ((dsn = smtp_dsn_keyword(p->keyword, 0)) !=
		    SMTP_DSN_NONE) {
			if ((err = smtp_check_dsn(dsn, p)) != NULL) {
				smtp_error(s, 501, "5.5.4", "%s", err);
				return -1;
			}
		} else {
			smtp_error(s, 555, "5.5.4",
			    "Unsupported MAIL parameter");
			return -1;
		}
	}
	return 0;
}

static void
smtp_proceed_mail(struct smtp_server *s, const char *args)
{
	s->tx_utf8 = smtp_find_param(s->path, "SMTPUTF8") != NULL;
	(void)str_copy(s->from, s->path->addr, sizeof(s->from));
	smtp_wait_owner(s, STATE_WAIT_MAIL);
	s->cb->mail(s->arg, s->path);
	/* s may be freed here */
}

static int
smtp_check_rcpt(struct smtp_server *s, const char *args)
{
	const char	*err;

	if (s->state != STATE_TX) {
		smtp_error(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	s->nrcpt_seen++;
	/* a limit on accepted recipients; not a client error to count */
	if (s->nrcpt >= s->max_rcpt) {
		smtp_log_rcpt(s, args, 452, "4.5.3", "Too many recipients");
		smtp_send(s, 452, "4.5.3", "Too many recipients");
		return -1;
	}
	if (smtp_path_reset(s) == -1)
		return -1;
	err = smtp_parse_rcpt(args, s->tx_utf8, s->path);
	/* as for MAIL: UTF-8 needs the transaction's SMTPUTF8 (RFC 6531) */
	if (err != NULL && !s->tx_utf8 && smtp_nonascii(args) &&
	    smtp_parse_rcpt(args, 1, s->path) == NULL) {
		smtp_log_rcpt(s, args, 553, "5.6.7",
		    "SMTPUTF8 required for a non-ASCII address");
		smtp_error(s, 553, "5.6.7",
		    "SMTPUTF8 required for a non-ASCII address");
		return -1;
	}
	if (err != NULL) {
		if (str_iprefix(args, "TO:") == NULL) {
			smtp_log_rcpt(s, args, 501, "5.5.4",
			    "Syntax: RCPT TO:<address>");
			smtp_error(s, 501, "5.5.4",
			    "Syntax: RCPT TO:<address>");
		} else if (smtp_bad_address(args, 1, s->tx_utf8)) {
			smtp_log_rcpt(s, args, 501, "5.1.3", err);
			smtp_error(s, 501, "5.1.3", "%s", err);
		} else {
			smtp_log_rcpt(s, args, 501, "5.5.4", err);
			smtp_error(s, 501, "5.5.4", "%s", err);
		}
		return -1;
	}
	return smtp_check_rcpt_params(s, args);
}

/* RCPT takes the DSN parameters NOTIFY and ORCPT (RFC 3461), nothing else */
static int
smtp_check_rcpt_params(struct smtp_server *s, const char *args)
{
	const struct smtp_param	*p;
	const char		*err;
	enum smtp_dsn_kw	 dsn;
	size_t			 i;

	if (s->path->nparams > 0 && !s->info.esmtp) {
		smtp_log_rcpt(s, args, 555, "5.5.4",
		    "ESMTP parameters need EHLO");
		smtp_error(s, 555, "5.5.4", "ESMTP parameters need EHLO");
		return -1;
	}
	for (i = 0; i < s->path->nparams; i++) {
		p = &s->path->params[i];
		if ((dsn = smtp_dsn_keyword(p->keyword, 1)) == SMTP_DSN_NONE) {
			smtp_log_rcpt(s, args, 555, "5.5.4",
			    "Unsupported RCPT parameter");
			smtp_error(s, 555, "5.5.4",
			    "Unsupported RCPT parameter");
			return -1;
		}
		if ((err = smtp_check_dsn(dsn, p)) != NULL) {
			smtp_log_rcpt(s, args, 501, "5.5.4", err);
			smtp_error(s, 501, "5.5.4", "%s", err);
			return -1;
		}
	}
	return 0;
}

static void
smtp_proceed_rcpt(struct smtp_server *s, const char *args)
{
	smtp_wait_owner(s, STATE_WAIT_RCPT);
	s->cb->rcpt(s->arg, s->path);
	/* s may be freed here */
}

static int
smtp_check_data(struct smtp_server *s, const char *args)
{
	if (*args != '\0') {
		smtp_error(s, 501, "5.5.4", "Syntax: DATA");
		return -1;
	}
	if (s->state != STATE_TX) {
		smtp_error(s, 503, "5.5.1", "Error: need MAIL command");
		return -1;
	}
	/*
	 * RFC 5321 3.3 allows 503 or 554 here; like Postfix, tell a client
	 * that never sent RCPT (out of sequence) from one whose recipients
	 * were all refused.
	 */
	if (s->nrcpt_seen == 0) {
		smtp_error(s, 503, "5.5.1", "Error: need RCPT command");
		return -1;
	}
	if (s->nrcpt == 0) {
		smtp_log_msg(s, "no-recipients", 0, 0, 554, "5.5.1",
		    "No valid recipients");
		smtp_error(s, 554, "5.5.1", "No valid recipients");
		return -1;
	}
	return 0;
}

static void
smtp_proceed_data(struct smtp_server *s, const char *args)
{
	int	 r;

	r = s->cb->data_begin(s->arg);
	/* s may be freed here */
	if (s->flags & SF_FREE)
		return;
	if (r != 0) {
		smtp_log_msg(s, "cannot-accept", s->nrcpt, 0, 451, "4.3.0",
		    "Cannot accept the message now");
		smtp_send(s, 451, "4.3.0", "Cannot accept the message now");
		return;
	}
	smtp_data_init(&s->data, s->max_size, s->normalize);
	if (s->long_lines != LONG_LINES_REFUSE)
		smtp_data_linemax(&s->data, SMTP_DATA_LONG_LINE_MAX);
	(void)clock_gettime(CLOCK_MONOTONIC, &s->data_t0);
	s->data_in = 0;
	s->flags &= ~SF_WFAIL;
	s->flags |= SF_INBODY;
	smtp_enter_state(s, STATE_BODY);
	smtp_send(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/*
 * One chunk of the message body.  Returns 0 when more input is needed.
 * After any error the machine keeps consuming to the real end of data, so
 * the refusal comes once and the next command is read in sync.
 */
static int
smtp_body(struct smtp_server *s)
{
	struct buf	*in = io_in(s->io);
	char		 out[2 * SMTP_SRV_CHUNK + 2];
	size_t		 inlen, used, outlen = 0;
	int		 done = 0;

	if ((inlen = buf_len(in)) == 0)
		return 0;
	if (inlen > SMTP_SRV_CHUNK)
		inlen = SMTP_SRV_CHUNK;
	used = smtp_data_feed(&s->data, buf_data(in), inlen, out, sizeof(out),
	    &outlen, &done);
	/* with room for 2 * inlen + 2 the machine always makes progress */
	if (used == 0 && !done)
		fatalx("smtp_server: smtp_data_feed consumed nothing");
	buf_consume(in, used);
	s->data_in += used;

	if (outlen > 0 && !(s->flags & SF_WFAIL)) {
		if (s->cb->data_write(s->arg, out, outlen) == -1)
			s->flags |= SF_WFAIL;
		/* s may be freed here */
		if (s->flags & SF_FREE)
			return 1;
	}
	if (done)
		smtp_body_end(s);
	return 1;
}

static void
smtp_body_end(struct smtp_server *s)
{
	enum smtp_data_err	 err = s->data.err;
	int			 wfail = s->flags & SF_WFAIL;
	unsigned		 nrcpt = s->nrcpt;	/* for the log */

	log_debug("%016llx message size=%llu result=%s",
	    (unsigned long long)s->info.id, s->data.size,
	    smtp_strdataerr(err, wfail));
	s->flags &= ~SF_INBODY;
	/* lines over 998 octets: passed, or re-encoded by the owner */
	if (err == SMTP_DATA_OK && !wfail && s->data.longline)
		log_info("%016llx message has lines over 998 octets, "
		    "long_lines=%s", (unsigned long long)s->info.id,
		    s->long_lines == LONG_LINES_ENCODE ? "encode" : "pass");
	if (err == SMTP_DATA_OK && !wfail) {
		smtp_wait_owner(s, STATE_WAIT_DATA);
		s->cb->data_end(s->arg);
		/* s may be freed here */
		return;
	}

	/* refused by the session itself: the owner drops what it has */
	smtp_tx_close(s, STATE_HELO);
	s->cb->data_abort(s->arg);
	/* s may be freed here */
	if (s->flags & SF_FREE)
		return;
	switch (err) {
	case SMTP_DATA_OK:
		smtp_log_msg(s, "spool-failure", nrcpt, s->data.size, 452,
		    "4.3.1", "Insufficient system storage");
		smtp_send(s, 452, "4.3.1", "Insufficient system storage");
		break;
	case SMTP_DATA_TOO_BIG:
		smtp_log_msg(s, "too-big", nrcpt, s->data.size, 552,
		    "5.3.4", "Message size exceeds fixed limit");
		smtp_send(s, 552, "5.3.4", "Message size exceeds fixed limit");
		break;
	case SMTP_DATA_BARE_NEWLINE:
		smtp_log_msg(s, "bare-newline", nrcpt, s->data.size, 550,
		    "5.6.0", "Message contains bare CR or LF");
		smtp_send(s, 550, "5.6.0", "Message contains bare CR or LF");
		break;
	case SMTP_DATA_LINE_TOO_LONG:
		smtp_log_msg(s, "line-too-long", nrcpt, s->data.size, 550,
		    "5.6.0", "Message line too long");
		smtp_send(s, 550, "5.6.0", "Message line too long");
		break;
	case SMTP_DATA_NUL:
		smtp_send(s, 550, "5.6.0", "Message contains NUL octet");
		break;
	default:
		fatalx("smtp_server: smtp_data error %d", (int)err);
	}
}

static const char *
smtp_strdataerr(enum smtp_data_err err, int wfail)
{
	switch (err) {
	case SMTP_DATA_OK:
		return wfail ? "write-failed" : "ok";
	case SMTP_DATA_TOO_BIG:
		return "too-big";
	case SMTP_DATA_BARE_NEWLINE:
		return "bare-newline";
	case SMTP_DATA_LINE_TOO_LONG:
		return "line-too-long";
	case SMTP_DATA_NUL:
		return "nul";
	}
	return "?";
}

static int
smtp_check_rset(struct smtp_server *s, const char *args)
{
	if (*args != '\0') {
		smtp_error(s, 501, "5.5.4", "Syntax: RSET");
		return -1;
	}
	return 0;
}

static void
smtp_proceed_rset(struct smtp_server *s, const char *args)
{
	s->pending = SMTP_CMD_RSET;
	smtp_wait_owner(s, STATE_WAIT_RSET);
	s->cb->rset(s->arg);
	/* s may be freed here */
}

static void
smtp_proceed_noop(struct smtp_server *s, const char *args)
{
	smtp_send(s, 250, "2.0.0", "Ok");
}

static void
smtp_proceed_quit(struct smtp_server *s, const char *args)
{
	smtp_send(s, 221, "2.0.0", "Bye");
	smtp_quit(s, "quit");
}

static void
smtp_proceed_help(struct smtp_server *s, const char *args)
{
	smtp_send(s, 214, "2.0.0", "Commands: HELO EHLO %sMAIL RCPT DATA RSET "
	    "NOOP QUIT HELP VRFY", (s->flags & SF_AUTHON) ? "AUTH " : "");
}

static void
smtp_proceed_vrfy(struct smtp_server *s, const char *args)
{
	smtp_send(s, 252, "2.5.2", "Cannot VRFY user");
}

static void
smtp_proceed_notimpl(struct smtp_server *s, const char *args)
{
	smtp_error(s, 502, "5.5.1", "Command not implemented");
}

/*
 * RFC 4954 4: "AUTH mechanism [initial-response]".  A refused AUTH with
 * input behind it drops that input: a client that pipelines its SASL
 * responses would otherwise have them run, and traced, as commands.
 */
static int
smtp_check_auth(struct smtp_server *s, const char *args)
{
	if (smtp_check_auth1(s, args) == 0)
		return 0;
	smtp_drop_input(s, "refused AUTH");
	return -1;
}

/*
 * Input that arrived behind an AUTH that was refused or an exchange that
 * failed was sent before the client could read the outcome: most likely
 * its next SASL response, a user name or a password.  Run as a command it
 * would be answered and traced; wipe and drop it instead.  Only what is
 * buffered now: a client that waits for replies loses nothing.
 */
static void
smtp_drop_input(struct smtp_server *s, const char *after)
{
	struct buf	*in = io_in(s->io);
	size_t		 len;

	if ((len = buf_len(in)) == 0)
		return;
	log_debug("%016llx %zu octets of input behind a %s dropped",
	    (unsigned long long)s->info.id, len, after);
	/*
	 * An unfinished line: skip its rest too (keep a CR for its LF).
	 * Under normalize a bare LF ends a line, as in smtp_skip_line().
	 */
	if (!smtp_ends_line(s, buf_data(in), len)) {
		s->flags |= SF_SKIPLINE;
		if (buf_data(in)[len - 1] == '\r')
			len--;
	}
	buf_consume_wipe(in, len);
}

/* does the input p[0..len) end with a whole line? */
static int
smtp_ends_line(const struct smtp_server *s, const char *p, size_t len)
{
	if (s->normalize)
		return len > 0 && p[len - 1] == '\n';
	return len >= 2 && memcmp(p + len - 2, "\r\n", 2) == 0;
}

static int
smtp_check_auth1(struct smtp_server *s, const char *args)
{
	size_t	 mlen;

	if (!(s->flags & SF_AUTHON)) {
		smtp_error(s, 502, "5.5.1", "Command not implemented");
		return -1;
	}
	if (s->state == STATE_CONNECTED || !s->info.esmtp) {
		smtp_error(s, 503, "5.5.1", "Error: send EHLO first");
		return -1;
	}
	if (s->flags & SF_AUTHED) {
		smtp_error(s, 503, "5.5.1", "Error: already authenticated");
		return -1;
	}
	if (s->state != STATE_HELO) {
		smtp_error(s, 503, "5.5.1",
		    "Error: AUTH not allowed in a mail transaction");
		return -1;
	}
	/*
	 * RFC 4954 4 (and RFC 2920): AUTH ends a pipelined group.  Input
	 * already behind it was sent before the client could know the
	 * outcome: a response it could not have read a challenge for, or a
	 * MAIL meant to ride on an AUTH it did not see succeed.
	 */
	if (buf_len(io_in(s->io)) > 0) {
		smtp_error(s, 503, "5.5.1",
		    "Error: AUTH must be the last command of a pipelined group");
		return -1;
	}
	for (mlen = 0; args[mlen] != '\0' && args[mlen] != ' '; mlen++)
		;
	if (mlen == 0) {
		smtp_error(s, 501, "5.5.4",
		    "Syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	if (mlen == 5 && str_iprefix(args, "PLAIN") != NULL)
		s->auth_mech = "PLAIN";
	else if (mlen == 5 && str_iprefix(args, "LOGIN") != NULL)
		s->auth_mech = "LOGIN";
	else {
		smtp_error(s, 504, "5.5.4", "Unrecognized authentication type");
		return -1;
	}
	if (args[mlen] == ' ' && args[mlen + 1] == '\0') {
		smtp_error(s, 501, "5.5.4",
		    "Syntax: AUTH mechanism [initial-response]");
		return -1;
	}
	return 0;
}

static void
smtp_proceed_auth(struct smtp_server *s, const char *args)
{
	const char	*ir = strchr(args, ' ');
	size_t		 irlen;

	smtp_sasl_wipe(&s->creds);
	if (ir == NULL) {
		/* no initial response: the first challenge */
		if (strcmp(s->auth_mech, "PLAIN") == 0) {
			smtp_enter_state(s, STATE_AUTH_PLAIN);
			smtp_send(s, 334, NULL, "%s", "");
		} else {
			smtp_enter_state(s, STATE_AUTH_LOGIN_USER);
			smtp_send(s, 334, NULL, "VXNlcm5hbWU6");
		}
		return;
	}
	ir++;
	irlen = strlen(ir);
	/* "=" is the empty initial response (RFC 4954 4) */
	if (irlen == 1 && ir[0] == '=')
		irlen = 0;
	if (smtp_sasl_cancel(ir, irlen)) {
		smtp_send(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (strcmp(s->auth_mech, "PLAIN") == 0)
		smtp_sasl_plain(s, ir, irlen);
	else {
		/* LOGIN's initial response, where sent, is the user name */
		smtp_enter_state(s, STATE_AUTH_LOGIN_USER);
		smtp_sasl_login(s, ir, irlen);
	}
	/* s may be freed here */
}

/* states in which a line is a SASL response, not a command */
static int
smtp_in_sasl(const struct smtp_server *s)
{
	return s->state == STATE_AUTH_PLAIN ||
	    s->state == STATE_AUTH_LOGIN_USER ||
	    s->state == STATE_AUTH_LOGIN_PASS;
}

/* one line of the client's side of the exchange */
static void
smtp_sasl_line(struct smtp_server *s, const char *line, size_t len)
{
	smtp_trace_in(s, line, len);
	if (smtp_sasl_cancel(line, len)) {
		smtp_sasl_abort(s);
		smtp_drop_input(s, "cancelled AUTH exchange");
		smtp_send(s, 501, "5.7.0", "Authentication cancelled");
		return;
	}
	if (s->state == STATE_AUTH_PLAIN)
		smtp_sasl_plain(s, line, len);
	else
		smtp_sasl_login(s, line, len);
	/* s may be freed here */
}

static void
smtp_sasl_plain(struct smtp_server *s, const char *b64, size_t len)
{
	const char	*err;

	if ((err = smtp_sasl_plain_decode(b64, len, &s->creds)) != NULL) {
		smtp_sasl_abort(s);
		smtp_drop_input(s, "failed AUTH exchange");
		smtp_error(s, 501, "5.5.2", "%s", err);
		return;
	}
	smtp_sasl_done(s);
}

static void
smtp_sasl_login(struct smtp_server *s, const char *b64, size_t len)
{
	const char	*err;

	if (s->state == STATE_AUTH_LOGIN_USER) {
		err = smtp_sasl_login_decode(b64, len, s->creds.user,
		    sizeof(s->creds.user));
		if (err == NULL) {
			smtp_enter_state(s, STATE_AUTH_LOGIN_PASS);
			smtp_send(s, 334, NULL, "UGFzc3dvcmQ6");
			return;
		}
	} else {
		err = smtp_sasl_login_decode(b64, len, s->creds.pass,
		    sizeof(s->creds.pass));
		if (err == NULL) {
			smtp_sasl_done(s);
			return;
		}
	}
	smtp_sasl_abort(s);
	smtp_drop_input(s, "failed AUTH exchange");
	smtp_error(s, 501, "5.5.2", "%s", err);
}

/* the exchange is complete: the owner decides */
static void
smtp_sasl_done(struct smtp_server *s)
{
	smtp_wait_owner(s, STATE_WAIT_AUTH);
	s->cb->auth(s->arg, s->auth_mech, s->creds.user, s->creds.pass);
	/* s may be freed here, but not before the frame unwinds */
	explicit_bzero(s->creds.pass, sizeof(s->creds.pass));
}

/* the exchange ended without a verdict: back to commands */
static void
smtp_sasl_abort(struct smtp_server *s)
{
	smtp_sasl_wipe(&s->creds);
	smtp_enter_state(s, STATE_HELO);
}

static void
smtp_proceed_unknown(struct smtp_server *s, const char *args)
{
	smtp_error(s, 500, "5.5.2", "Command unrecognized");
}

/* the transaction is over, whatever the outcome */
static void
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
static void
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
	log_info("%016llx disconnect reason=\"%s\" commands=%llu%s%s",
	    (unsigned long long)s->info.id, reason, s->ncommands,
	    s->info.proxy[0] ? " proxy=" : "", s->info.proxy);
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

static int
smtp_valid_enh(int code, const char *enh)
{
	const char	*p = enh;
	int		 part, digits;

	/* class.subject.detail, the class matching the reply (RFC 3463) */
	if (p[0] != '0' + code / 100 || p[1] != '.')
		return 0;
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *p >= '0' && *p <= '9'; p++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && *p++ != '.')
			return 0;
	}
	return *p == '\0';
}

/*
 * Send a reply: text lines are separated by '\n'.  The text may come from
 * the upstream, so it is made safe for the client here: control and
 * non-ASCII bytes become '?', lines are cut to the SMTP limit and the
 * number of lines is capped.
 */
static void
smtp_emit(struct smtp_server *s, int code, const char *enh, const char *text)
{
	const char	*p, *nl;
	size_t		 len, nlines;

	if (s->state == STATE_CLOSED)
		return;
	if (enh != NULL && *enh != '\0' && !smtp_valid_enh(code, enh))
		enh = NULL;
	if (text == NULL)
		text = "";
	for (p = text, nlines = 1; ; nlines++) {
		if ((nl = strchr(p, '\n')) == NULL)
			len = strlen(p);
		else
			len = (size_t)(nl - p);
		/* a trailing '\n' does not start another line */
		if (nl != NULL && nl[1] == '\0')
			nl = NULL;
		if (nl == NULL || nlines == SMTP_SRV_REPLY_LINES) {
			smtp_emit_line(s, code, ' ', enh, p, len);
			return;
		}
		smtp_emit_line(s, code, '-', enh, p, len);
		p = nl + 1;
	}
}

static void
smtp_emit_line(struct smtp_server *s, int code, int sep, const char *enh,
    const char *text, size_t len)
{
	char	 line[SMTP_SRV_REPLY_LEN + 3];
	size_t	 n, i;
	int	 r;

	if (enh != NULL && *enh != '\0')
		r = snprintf(line, sizeof(line), "%03d%c%s%s", code, sep, enh,
		    len > 0 ? " " : "");
	else
		r = snprintf(line, sizeof(line), "%03d%c", code, sep);
	if (r < 0 || (size_t)r >= SMTP_SRV_REPLY_LEN)
		fatalx("smtp_server: reply prefix");
	n = (size_t)r;
	for (i = 0; i < len && n < SMTP_SRV_REPLY_LEN; i++) {
		unsigned char	 c = (unsigned char)text[i];

		line[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	smtp_trace_line(s, '>', line, n);
	line[n++] = '\r';
	line[n++] = '\n';
	if (io_write(s->io, line, n) == -1) {
		/* the loop closes the session; nothing half-written goes out */
		s->flags |= SF_OVERFLOW;
		smtp_resume(s);
	}
}

static void
smtp_vsend(struct smtp_server *s, int code, const char *enh, const char *fmt,
    va_list ap)
{
	char	 text[SMTP_SRV_TEXT_MAX];
	int	 r;

	r = vsnprintf(text, sizeof(text), fmt, ap);
	/* our texts are bounded well below this; a cut one is still safe */
	if (r < 0)
		text[0] = '\0';
	smtp_emit(s, code, enh, text);
}

static void
smtp_send(struct smtp_server *s, int code, const char *enh, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vsend(s, code, enh, fmt, ap);
	va_end(ap);
}

/*
 * A reply to a client error.  Too many of them and the client is not
 * speaking SMTP (or is probing): end the session.
 */
static void
smtp_error(struct smtp_server *s, int code, const char *enh, const char *fmt,
    ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	smtp_vsend(s, code, enh, fmt, ap);
	va_end(ap);
	if (++s->nerrors >= SMTP_SRV_MAXERR) {
		smtp_send(s, 421, "4.7.0", "%s Too many errors", s->hostname);
		smtp_quit(s, "too many errors");
	}
}

/*
 * Refusals by the session itself, one info line each, in the style of
 * the relay's transaction line (the owner logs the upstream's refusals):
 * who sent, to whom, and the reply exactly as the client gets it.  A
 * recipient is logged as written (escaped): it may not have parsed.
 */
static void
smtp_log_rcpt(struct smtp_server *s, const char *args, int code,
    const char *enh, const char *text)
{
	char		 from[SMTP_PATH_MAX * 4], to[SMTP_PATH_MAX * 4];
	char		 t[SMTP_SRV_TEXT_MAX * 2];
	const char	*a, *e;

	/* "TO:<x@y> PARAMS" -> x@y; anything else as it came */
	if ((a = str_iprefix(args, "TO:")) == NULL)
		a = args;
	if (*a == '<' && (e = strchr(a, '>')) != NULL)
		(void)str_vis(to, sizeof(to), a + 1, (size_t)(e - a - 1));
	else
		(void)str_vis(to, sizeof(to), a, strlen(a));
	log_info("%016llx smtp rcpt refused by=gateway client=%s from=<%s> "
	    "to=<%s> reply=\"%d %s %s\"", (unsigned long long)s->info.id,
	    s->info.peer, str_vis(from, sizeof(from), s->from,
	    strlen(s->from)), to, code, enh,
	    str_vis(t, sizeof(t), text, strlen(text)));
}

static void
smtp_log_msg(struct smtp_server *s, const char *reason, unsigned nrcpt,
    unsigned long long size, int code, const char *enh, const char *text)
{
	char	 from[SMTP_PATH_MAX * 4];

	log_info("%016llx smtp message refused by=gateway client=%s "
	    "from=<%s> rcpts=%u size=%llu reason=%s reply=\"%d %s %s\"",
	    (unsigned long long)s->info.id, s->info.peer,
	    str_vis(from, sizeof(from), s->from, strlen(s->from)), nrcpt,
	    size, reason, code, enh, text);
}

/*
 * The one place client lines are logged.  Credentials are redacted by
 * state, not by command text (AUTH LOGIN sends them as lines of their
 * own): every line of a SASL exchange is "<redacted>".  An AUTH command
 * is redacted by its verb, before parsing and whatever its shape; only a
 * known mechanism name is kept, as the secret may sit anywhere in it.
 */
static void
smtp_trace_in(struct smtp_server *s, const char *p, size_t len)
{
	const char	*mech = NULL;
	size_t		 mlen;

	if (smtp_in_sasl(s)) {
		log_trace(LOGF_PROTOCOL, "%016llx < <redacted>",
		    (unsigned long long)s->info.id);
		return;
	}
	/* ASCII case folding, independent of the locale */
	if (len >= 4 && (p[0] | 0x20) == 'a' && (p[1] | 0x20) == 'u' &&
	    (p[2] | 0x20) == 't' && (p[3] | 0x20) == 'h') {
		for (mlen = 0; 5 + mlen < len && p[5 + mlen] != ' '; mlen++)
			;
		if (len > 5 && p[4] == ' ' && mlen == 5 &&
		    str_iprefix(p + 5, "PLAIN") != NULL)
			mech = "PLAIN";
		else if (len > 5 && p[4] == ' ' && mlen == 5 &&
		    str_iprefix(p + 5, "LOGIN") != NULL)
			mech = "LOGIN";
		if (mech == NULL)
			log_trace(LOGF_PROTOCOL, "%016llx < AUTH <redacted>",
			    (unsigned long long)s->info.id);
		else
			log_trace(LOGF_PROTOCOL, "%016llx < AUTH %s%s",
			    (unsigned long long)s->info.id, mech,
			    len > 5 + mlen ? " <redacted>" : "");
		return;
	}
	smtp_trace_line(s, '<', p, len);
}

static void
smtp_trace_line(struct smtp_server *s, char dir, const char *p, size_t len)
{
	char	 vis[SMTP_SRV_LOG_MAX];

	if (!log_trace_enabled(LOGF_PROTOCOL))
		return;
	(void)str_vis(vis, sizeof(vis), p, len);
	log_trace(LOGF_PROTOCOL, "%016llx %c %s",
	    (unsigned long long)s->info.id, dir, vis);
}
