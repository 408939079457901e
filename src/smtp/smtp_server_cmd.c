/*
 * smtp_server_cmd.c - the commands of a session: HELO/EHLO, MAIL, RCPT,
 * DATA and the message body, RSET, and those that move no mail.  Each
 * command has a check (syntax and state; it sends the error reply) and a
 * proceed step, listed in smtp_server.c's command table.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/io.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_server_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static void	smtp_hello(struct smtp_server *, enum smtp_verb);
static int	smtp_path_reset(struct smtp_server *);
static int	smtp_bad_address(const char *, int, int);
static int	smtp_nonascii(const char *);
static int	smtp_size_value(const char *, unsigned long long *);
static int	smtp_check_mail_params(struct smtp_server *, const char *);
static int	smtp_requiretls_offered(const struct smtp_server *);
static int	smtp_check_requiretls(struct smtp_server *, const char *,
		    const struct smtp_param *);
static void	smtp_mail_refuse(struct smtp_server *, const char *, int,
		    const char *, const char *);
static int	smtp_check_rcpt_params(struct smtp_server *, const char *);
static void	smtp_body_end(struct smtp_server *);
static void	smtp_body_pause(struct smtp_server *);
static const char *smtp_strdataerr(enum smtp_data_err, int);

int
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

void
smtp_proceed_helo(struct smtp_server *s, const char *args)
{
	smtp_hello(s, SMTP_CMD_HELO);
}

void
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
void
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
	    "%s%s%s"
	    "SMTPUTF8",
	    s->hostname, s->info.helo, s->info.peer, s->max_size,
	    s->tls_mode == LISTEN_TLS_STARTTLS && !s->info.tls ?
	    "STARTTLS\n" : "",
	    (s->flags & SF_AUTHON) && (s->info.tls || !s->auth_after_tls) ?
	    "AUTH PLAIN LOGIN\n" : "",
	    smtp_requiretls_offered(s) ? "REQUIRETLS\n" : "");
}

/*
 * smtp_requiretls_offered - is REQUIRETLS (RFC 8689) offered on this
 * session?  The RFC lets a client give it only on a TLS-protected hop,
 * so by default only after STARTTLS or on implicit TLS; "always" is the
 * operator's word that a plaintext hop (loopback) is protected enough.
 */
static int
smtp_requiretls_offered(const struct smtp_server *s)
{
	if (s->requiretls == REQUIRETLS_NO)
		return 0;
	return s->info.tls || s->requiretls == REQUIRETLS_ALWAYS;
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

/* a MAIL refused by the session: the info line, then the error reply */
static void
smtp_mail_refuse(struct smtp_server *s, const char *args, int code,
    const char *enh, const char *text)
{
	smtp_log_mail(s, args, code, enh, text);
	smtp_error(s, code, enh, "%s", text);
}

int
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
	if (smtp_tls_needed(s, args))
		return -1;
	/* the modes that offer AUTH must not relay for anonymous clients */
	if ((s->flags & SF_AUTHON) && !(s->flags & SF_AUTHED)) {
		smtp_mail_refuse(s, args, 530, "5.7.0",
		    "Authentication required");
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
			smtp_mail_refuse(s, args, 553, "5.6.7",
			    "SMTPUTF8 required for a non-ASCII address");
			return -1;
		}
	}
	if (err != NULL) {
		if (str_iprefix(args, "FROM:") == NULL)
			smtp_mail_refuse(s, args, 501, "5.5.4",
			    "Syntax: MAIL FROM:<address>");
		else if (smtp_bad_address(args, 0, 1))
			smtp_mail_refuse(s, args, 501, "5.1.7", err);
		else
			smtp_mail_refuse(s, args, 501, "5.5.4", err);
		return -1;
	}
	return smtp_check_mail_params(s, args);
}

/*
 * REQUIRETLS takes no value (RFC 8689).  Given on a session where it is
 * not offered (plaintext, mode "tls") the hop it came over is already
 * unprotected: 530 5.7.10 "Encryption needed", the RFC's code for it.
 */
static int
smtp_check_requiretls(struct smtp_server *s, const char *args,
    const struct smtp_param *p)
{
	if (p->has_value) {
		smtp_mail_refuse(s, args, 501, "5.5.4",
		    "REQUIRETLS takes no value");
		return -1;
	}
	if (!smtp_requiretls_offered(s)) {
		smtp_mail_refuse(s, args, 530, "5.7.10",
		    "REQUIRETLS needs a TLS session");
		return -1;
	}
	return 0;
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
smtp_check_mail_params(struct smtp_server *s, const char *args)
{
	const struct smtp_param	*p;
	const char		*err;
	enum smtp_dsn_kw	 dsn;
	unsigned long long	 size;
	size_t			 i;

	if (s->path->nparams > 0 && !s->info.esmtp) {
		smtp_mail_refuse(s, args, 555, "5.5.4",
		    "ESMTP parameters need EHLO");
		return -1;
	}
	for (i = 0; i < s->path->nparams; i++) {
		/* smtp_parse_mail() has refused a duplicate already */
		p = &s->path->params[i];
		if (str_ieq(p->keyword, "SIZE")) {
			if (!p->has_value ||
			    smtp_size_value(p->value, &size) == -1) {
				smtp_mail_refuse(s, args, 501, "5.5.4",
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
				smtp_mail_refuse(s, args, 501, "5.5.4",
				    "Bad BODY parameter");
				return -1;
			}
		} else if (str_ieq(p->keyword, "SMTPUTF8")) {
			if (p->has_value) {
				smtp_mail_refuse(s, args, 501, "5.5.4",
				    "SMTPUTF8 takes no value");
				return -1;
			}
		} else if (str_ieq(p->keyword, "REQUIRETLS") &&
		    s->requiretls != REQUIRETLS_NO) {
			if (smtp_check_requiretls(s, args, p) == -1)
				return -1;
		} else if ((dsn = smtp_dsn_keyword(p->keyword, 0)) !=
		    SMTP_DSN_NONE) {
			if ((err = smtp_check_dsn(dsn, p)) != NULL) {
				smtp_mail_refuse(s, args, 501, "5.5.4", err);
				return -1;
			}
		} else {
			smtp_mail_refuse(s, args, 555, "5.5.4",
			    "Unsupported MAIL parameter");
			return -1;
		}
	}
	return 0;
}

void
smtp_proceed_mail(struct smtp_server *s, const char *args)
{
	s->tx_utf8 = smtp_find_param(s->path, "SMTPUTF8") != NULL;
	(void)str_copy(s->from, s->path->addr, sizeof(s->from));
	smtp_wait_owner(s, STATE_WAIT_MAIL);
	s->cb->mail(s->arg, s->path);
	/* s may be freed here */
}

int
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

/*
 * smtp_rcpt_params_why - RCPT takes the DSN parameters NOTIFY and ORCPT
 * (RFC 3461), nothing else: NULL if those in s->path are fine, else the
 * reply text with *code and *enh.  Pure: the lookahead checks with it too.
 */
const char *
smtp_rcpt_params_why(const struct smtp_server *s, int *code, const char **enh)
{
	const struct smtp_param	*p;
	const char		*err;
	enum smtp_dsn_kw	 dsn;
	size_t			 i;

	*enh = "5.5.4";
	if (s->path->nparams > 0 && !s->info.esmtp) {
		*code = 555;
		return "ESMTP parameters need EHLO";
	}
	for (i = 0; i < s->path->nparams; i++) {
		p = &s->path->params[i];
		if ((dsn = smtp_dsn_keyword(p->keyword, 1)) == SMTP_DSN_NONE) {
			*code = 555;
			return "Unsupported RCPT parameter";
		}
		if ((err = smtp_check_dsn(dsn, p)) != NULL) {
			*code = 501;
			return err;
		}
	}
	return NULL;
}

static int
smtp_check_rcpt_params(struct smtp_server *s, const char *args)
{
	const char	*why, *enh;
	int		 code;

	if ((why = smtp_rcpt_params_why(s, &code, &enh)) == NULL)
		return 0;
	smtp_log_rcpt(s, args, code, enh, why);
	smtp_error(s, code, enh, "%s", why);
	return -1;
}

void
smtp_proceed_rcpt(struct smtp_server *s, const char *args)
{
	s->after = STATE_TX;
	smtp_wait_owner(s, STATE_WAIT_RCPT);
	s->cb->rcpt(s->arg, s->path);
	/* s may be freed here */
}

int
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

void
smtp_proceed_data(struct smtp_server *s, const char *args)
{
	int	 r;

	r = s->cb->data_begin(s->arg);
	/* s may be freed here */
	if (s->flags & SF_FREE)
		return;
	if (r == 1) {
		/* streamed: the upstream's 354 (or refusal) comes as a reply */
		s->after = STATE_TX;
		smtp_wait_owner(s, STATE_WAIT_354);
		return;
	}
	if (r != 0) {
		smtp_log_msg(s, "cannot-accept", s->nrcpt, 0, 451, "4.3.0",
		    "Cannot accept the message now");
		smtp_send(s, 451, "4.3.0", "Cannot accept the message now");
		return;
	}
	smtp_body_start(s);
	smtp_send(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* smtp_body_start - the body is read from here; the 354 is the caller's */
void
smtp_body_start(struct smtp_server *s)
{
	smtp_data_init(&s->data, s->max_size, s->normalize);
	if (s->long_lines != LONG_LINES_REFUSE)
		smtp_data_linemax(&s->data, SMTP_DATA_LONG_LINE_MAX);
	(void)clock_gettime(CLOCK_MONOTONIC, &s->data_t0);
	s->data_in = 0;
	s->flags &= ~(SF_WFAIL | SF_BODYWAIT);
	s->flags |= SF_INBODY;
	/* not 1 kB, 2, 4, 8: four reads for a 10 kB message */
	io_read_bulk(s->io);
	smtp_enter_state(s, STATE_BODY);
}

/*
 * smtp_server_body_resume - the owner took what data_write() gave it
 * after a 1: read on.  The pause is the owner's (its upstream), so it is
 * not counted against the client's min_data_rate.
 */
void
smtp_server_body_resume(struct smtp_server *s)
{
	struct timespec	 now;

	if (!(s->flags & SF_BODYWAIT) || s->state != STATE_BODY)
		return;
	s->flags &= ~SF_BODYWAIT;
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	s->data_t0.tv_sec += now.tv_sec - s->pause_t0.tv_sec;
	s->data_t0.tv_nsec += now.tv_nsec - s->pause_t0.tv_nsec;
	if (s->data_t0.tv_nsec < 0) {
		s->data_t0.tv_nsec += 1000000000L;
		s->data_t0.tv_sec--;
	} else if (s->data_t0.tv_nsec >= 1000000000L) {
		s->data_t0.tv_nsec -= 1000000000L;
		s->data_t0.tv_sec++;
	}
	smtp_resume(s);
}

/* smtp_body_pause - data_write() said 1: no reading, no client timeout */
static void
smtp_body_pause(struct smtp_server *s)
{
	s->flags |= SF_BODYWAIT;
	(void)clock_gettime(CLOCK_MONOTONIC, &s->pause_t0);
	io_set_read(s->io, 0);
	io_set_timeout(s->io, 0);
}

/*
 * One chunk of the message body.  Returns 0 when more input is needed.
 * After any error the machine keeps consuming to the real end of data, so
 * the refusal comes once and the next command is read in sync.
 */
int
smtp_body(struct smtp_server *s)
{
	struct buf	*in = io_in(s->io);
	char		 out[2 * SMTP_SRV_CHUNK + 2];
	size_t		 inlen, used, outlen = 0;
	int		 done = 0, r = 0;

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
		r = s->cb->data_write(s->arg, out, outlen);
		/* s may be freed here */
		if (s->flags & SF_FREE)
			return 1;
		if (r == -1)
			s->flags |= SF_WFAIL;
	}
	/*
	 * Refused mid-body: the owner drops its partial message now, not
	 * at the client's end of data (a streamed one would hold the
	 * upstream connection idle meanwhile), and no pause: nothing more
	 * goes to the owner.  The reply stays at the end.
	 */
	if ((s->data.err != SMTP_DATA_OK || (s->flags & SF_WFAIL)) &&
	    (s->flags & SF_INBODY) && !done) {
		s->flags &= ~SF_INBODY;
		s->cb->data_abort(s->arg);
		/* s may be freed here */
		if (s->flags & SF_FREE)
			return 1;
	} else if (r == 1 && !done && !(s->flags & SF_WFAIL))
		smtp_body_pause(s);
	if (done)
		smtp_body_end(s);
	return 1;
}

static void
smtp_body_end(struct smtp_server *s)
{
	enum smtp_data_err	 err = s->data.err;
	int			 wfail = s->flags & SF_WFAIL;
	int			 inbody = s->flags & SF_INBODY;
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
	if (inbody) {
		s->cb->data_abort(s->arg);
		/* s may be freed here */
		if (s->flags & SF_FREE)
			return;
	}
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
		smtp_log_msg(s, "nul", nrcpt, s->data.size, 550,
		    "5.6.0", "Message contains NUL octet");
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

int
smtp_check_rset(struct smtp_server *s, const char *args)
{
	if (*args != '\0') {
		smtp_error(s, 501, "5.5.4", "Syntax: RSET");
		return -1;
	}
	return 0;
}

void
smtp_proceed_rset(struct smtp_server *s, const char *args)
{
	s->pending = SMTP_CMD_RSET;
	smtp_wait_owner(s, STATE_WAIT_RSET);
	s->cb->rset(s->arg);
	/* s may be freed here */
}

void
smtp_proceed_noop(struct smtp_server *s, const char *args)
{
	smtp_send(s, 250, "2.0.0", "Ok");
}

void
smtp_proceed_quit(struct smtp_server *s, const char *args)
{
	smtp_send(s, 221, "2.0.0", "Bye");
	smtp_quit(s, "quit");
}

void
smtp_proceed_help(struct smtp_server *s, const char *args)
{
	smtp_send(s, 214, "2.0.0", "Commands: HELO EHLO %sMAIL RCPT DATA RSET "
	    "NOOP QUIT HELP VRFY", (s->flags & SF_AUTHON) ? "AUTH " : "");
}

void
smtp_proceed_vrfy(struct smtp_server *s, const char *args)
{
	smtp_send(s, 252, "2.5.2", "Cannot VRFY user");
}

void
smtp_proceed_notimpl(struct smtp_server *s, const char *args)
{
	smtp_error(s, 502, "5.5.1", "Command not implemented");
}

void
smtp_proceed_unknown(struct smtp_server *s, const char *args)
{
	smtp_error(s, 500, "5.5.2", "Command unrecognized");
}
