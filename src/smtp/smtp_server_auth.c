/*
 * smtp_server_auth.c - AUTH on the listener: the command, the PLAIN and
 * LOGIN exchanges, and the input that must not be read as commands after
 * a refusal.  The owner judges the credentials (auth callback).
 */
#include <string.h>

#include "net/io.h"
#include "smtp/smtp_server_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static int	smtp_ends_line(const struct smtp_server *, const char *,
		    size_t);
static int	smtp_check_auth1(struct smtp_server *, const char *);
static void	smtp_sasl_plain(struct smtp_server *, const char *, size_t);
static void	smtp_sasl_login(struct smtp_server *, const char *, size_t);
static void	smtp_sasl_done(struct smtp_server *);

/* smtp_server_require_auth - offer AUTH and require it before MAIL */
void
smtp_server_require_auth(struct smtp_server *s)
{
	if (s->cb->auth == NULL)
		fatalx("smtp_server_require_auth: no auth callback");
	s->flags |= SF_AUTHON;
}

/*
 * RFC 4954 4: "AUTH mechanism [initial-response]".  A refused AUTH with
 * input behind it drops that input: a client that pipelines its SASL
 * responses would otherwise have them run, and traced, as commands.
 */
int
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
void
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
	if (smtp_tls_needed(s, NULL))
		return -1;
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

void
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
int
smtp_in_sasl(const struct smtp_server *s)
{
	return s->state == STATE_AUTH_PLAIN ||
	    s->state == STATE_AUTH_LOGIN_USER ||
	    s->state == STATE_AUTH_LOGIN_PASS;
}

/* one line of the client's side of the exchange */
void
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
void
smtp_sasl_abort(struct smtp_server *s)
{
	smtp_sasl_wipe(&s->creds);
	smtp_enter_state(s, STATE_HELO);
}
