/*
 * smtp_server_out.c - what a session sends: the owner's replies and our
 * own, checked and split into lines; the per-recipient and per-message
 * log lines and the protocol traces.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "net/io.h"
#include "smtp/smtp_server_int.h"
#include "util/log.h"
#include "util/str.h"

static int	smtp_valid_enh(int, const char *);
static void	smtp_emit(struct smtp_server *, int, const char *,
		    const char *);
static void	smtp_emit_line(struct smtp_server *, int, int, const char *,
		    const char *, size_t);
static void	smtp_vsend(struct smtp_server *, int, const char *,
		    const char *, va_list) GW_PRINTF(4, 0);
static void	smtp_trace_line(struct smtp_server *, char, const char *,
		    size_t);

/*
 * Only a streamed DATA takes an intermediate reply, and only 354; it
 * takes no 2xx (that would be a success for a message not yet sent).
 */
static int
smtp_owner_code_bad(const struct smtp_server *s, int code)
{
	if (code < 200 || code > 599)
		return 1;
	if (s->state == STATE_WAIT_354)
		return code < 400 && code != 354;
	return code / 100 == 3;
}

/*
 * reply_expected - a command is in flight for the owner to answer: 0; -1
 * if the session ended meanwhile (the reply is dropped).  Anything else is
 * the owner's bug.
 */
static int
reply_expected(struct smtp_server *s, int code)
{
	if (s->state == STATE_QUIT || s->state == STATE_CLOSED) {
		/* the session ended while the owner worked: nobody to tell */
		log_debug("%016llx late reply code=%d ignored",
		    (unsigned long long)s->info.id, code);
		return -1;
	}
	/* a reply for a command handed on ahead would jump the queue */
	if (s->flags & SF_AHEADCALL)
		fatalx("%016llx smtp_server_reply: the owner answered a command "
		    "handed on ahead at once", (unsigned long long)s->info.id);
	if (s->state != STATE_WAIT_MAIL && s->state != STATE_WAIT_RCPT &&
	    s->state != STATE_WAIT_RSET && s->state != STATE_WAIT_DATA &&
	    s->state != STATE_WAIT_AUTH && s->state != STATE_WAIT_354)
		fatalx("%016llx smtp_server_reply: no command in flight "
		    "(state %s)", (unsigned long long)s->info.id,
		    smtp_strstate(s->state));
	return 0;
}

/*
 * reply_data - the owner's answer to DATA: 354 starts the body; a refusal
 * leaves MAIL and the recipients standing (RFC 5321).  -1 if the session
 * was closed here.
 */
static int
reply_data(struct smtp_server *s, int code, const char *enh, const char *text)
{
	/* DATA is the last of a batch: nothing is ahead of it */
	if (code == 354 && s->nahead == 0) {
		smtp_body_start(s);
		smtp_emit(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
		return 0;
	}
	smtp_ahead_settle(s, s->after);
	smtp_emit(s, code, enh, text);
	/*
	 * Input behind DATA came before any answer to it (RFC 2920 forbids
	 * that): it is the client's message text, and read as commands now
	 * it would run them (a RCPT, a DATA and a body of its own).  Hang
	 * up instead.
	 */
	if (code != 421 && buf_len(io_in(s->io)) > 0) {
		log_info("%016llx input behind a refused DATA: closing",
		    (unsigned long long)s->info.id);
		smtp_send(s, 421, "4.5.0", "%s Message text sent before the "
		    "reply to DATA, closing connection", s->hostname);
		smtp_quit(s, "input behind a refused DATA");
		return -1;
	}
	return 0;
}

/*
 * reply_auth - the owner's verdict on AUTH: logged (never the secret),
 * the credentials wiped either way.  -1 if the session was closed here.
 */
static int
reply_auth(struct smtp_server *s, int code, const char *enh, const char *text)
{
	char	 uvis[SMTP_SASL_ID_MAX * 4 + 1];
	int	 ok = code / 100 == 2;

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
	 * A failed AUTH counts as a client error: the error limit also
	 * bounds password guessing on one connection.
	 */
	if (!ok && code != 421 && ++s->nerrors >= SMTP_SRV_MAXERR) {
		smtp_send(s, 421, "4.7.0", "%s Too many errors", s->hostname);
		smtp_quit(s, "too many errors");
		return -1;
	}
	return 0;
}

/* smtp_server_reply - the owner's answer to the command in flight */
void
smtp_server_reply(struct smtp_server *s, int code, const char *enh,
    const char *text)
{
	enum smtp_state	 next;
	int		 ok;
	unsigned	 i;

	if (reply_expected(s, code) == -1)
		return;
	/*
	 * The owner relays upstream replies, already validated, but a code
	 * outside 2xx-5xx would make the client's reading of our reply
	 * ambiguous: say "local error" instead of passing it on.
	 */
	if (smtp_owner_code_bad(s, code)) {
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
			/* the RCPTs handed on ahead were seen */
			s->nrcpt_seen = 0;
			for (i = 0; i < s->nahead; i++)
				s->nrcpt_seen += s->ahead[i] == STATE_WAIT_RCPT;
			next = STATE_TX;
		} else {
			s->tx_utf8 = 0;
			next = STATE_HELO;
		}
		smtp_ahead_settle(s, next);
		smtp_emit(s, code, enh, text);
		break;
	case STATE_WAIT_RCPT:
		/* after a refused MAIL, RCPTs handed on get the upstream's 503 */
		if (ok && s->after == STATE_TX)
			s->nrcpt++;
		smtp_ahead_settle(s, s->after);
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
	case STATE_WAIT_354:
		if (reply_data(s, code, enh, text) == -1)
			return;		/* closed */
		break;
	case STATE_WAIT_DATA:
		/* a message went through: the session makes progress */
		if (ok)
			s->njunk = 0;
		smtp_tx_close(s, STATE_HELO);
		smtp_emit(s, code, enh, text);
		break;
	case STATE_WAIT_AUTH:
		if (reply_auth(s, code, enh, text) == -1)
			return;		/* closed */
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

void
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
void
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
 * who sent, to whom, and the reply exactly as the client gets it.  An
 * address is logged as written (log_kv escapes it): it may not have
 * parsed.
 */
static void
smtp_log_refused(struct smtp_server *s, const char *ev, const char *to,
    const char *reason, const unsigned *nrcpt, const unsigned long long *size,
    int code, const char *enh, const char *text)
{
	struct log_field	 f[10];
	char			 reply[SMTP_SRV_TEXT_MAX + 32];
	size_t			 n = 0;

	(void)snprintf(reply, sizeof(reply), "%d %s %s", code, enh, text);
	f[n++] = LOGK_WORD("by", "gateway");
	f[n++] = LOGK_WORD("client", s->info.peer);
	f[n++] = LOGK_WORD("proxy", s->info.proxy[0] ? s->info.proxy : NULL);
	f[n++] = LOGK_ADDR("from", s->from);
	f[n++] = LOGK_ADDR("to", to);
	if (nrcpt != NULL)
		f[n++] = LOGK_UINT("rcpts", *nrcpt);
	if (size != NULL)
		f[n++] = LOGK_UINT("size", *size);
	f[n++] = LOGK_WORD("reason", reason);
	f[n++] = LOGK_STR("reply", reply);
	f[n++] = LOGK_WORD("status", code >= 500 ? "refused" : "deferred");
	log_kv(GW_LOG_INFO, s->info.id, ev, f, n);
}

/* the address in "TO:<x@y> PARAMS" (or FROM:), else the whole argument */
static void
smtp_log_path(char *buf, size_t len, const char *args, const char *prefix)
{
	const char	*a, *e;
	size_t		 n;

	if ((a = str_iprefix(args, prefix)) == NULL)
		a = args;
	if (*a == '<' && (e = strchr(a, '>')) != NULL) {
		n = (size_t)(e - a - 1);
		a++;
	} else
		n = strlen(a);
	if (n >= len)
		n = len - 1;
	memcpy(buf, a, n);
	buf[n] = '\0';
}

void
smtp_log_rcpt(struct smtp_server *s, const char *args, int code,
    const char *enh, const char *text)
{
	char	 to[SMTP_PATH_MAX + 1];

	smtp_log_path(to, sizeof(to), args, "TO:");
	smtp_log_refused(s, "smtp rcpt refused", to, NULL, NULL, NULL, code,
	    enh, text);
}

/*
 * smtp_log_mail - a MAIL the session refused (a policy, a parameter, an
 * address): the sender as written, the reply.  Not for a MAIL out of
 * sequence, which names no message.
 */
void
smtp_log_mail(struct smtp_server *s, const char *args, int code,
    const char *enh, const char *text)
{
	char	 from[SMTP_PATH_MAX + 1];

	smtp_log_path(from, sizeof(from), args, "FROM:");
	/* the sender of the refused MAIL, not of an earlier transaction */
	(void)str_copy(s->from, from, sizeof(s->from));
	smtp_log_refused(s, "smtp mail refused", NULL, NULL, NULL, NULL, code,
	    enh, text);
}

void
smtp_log_msg(struct smtp_server *s, const char *reason, unsigned nrcpt,
    unsigned long long size, int code, const char *enh, const char *text)
{
	smtp_log_refused(s, "smtp message refused", NULL, reason, &nrcpt,
	    &size, code, enh, text);
}

/*
 * The one place client lines are logged.  Credentials are redacted by
 * state, not by command text (AUTH LOGIN sends them as lines of their
 * own): every line of a SASL exchange is "<redacted>".  An AUTH command
 * is redacted by its verb, before parsing and whatever its shape; only a
 * known mechanism name is kept, as the secret may sit anywhere in it.
 */
void
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
