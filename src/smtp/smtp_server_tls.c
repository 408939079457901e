/*
 * smtp_server_tls.c - TLS on the listener: STARTTLS (RFC 3207) and
 * implicit TLS, over tls_srv.c's server handshake.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "net/io.h"
#include "smtp/smtp_server_int.h"
#include "tls/tls.h"
#include "util/buf.h"
#include "util/log.h"

/*
 * smtp_tls_needed - MAIL or AUTH before TLS where TLS is due: on a
 * listener with tls_required, or one whose clients log in from networks
 * that are not loopback (auth_after_tls).  530 5.7.0, as Postfix says it.
 * mail: MAIL's arguments, for the refusal's log line; NULL for AUTH.
 */
int
smtp_tls_needed(struct smtp_server *s, const char *mail)
{
	if (s->info.tls || !(s->tls_required ||
	    ((s->flags & SF_AUTHON) && s->auth_after_tls)))
		return 0;
	if (mail != NULL)
		smtp_log_mail(s, mail, 530, "5.7.0",
		    "Must issue a STARTTLS command first");
	smtp_error(s, 530, "5.7.0", "Must issue a STARTTLS command first");
	return 1;
}

int
smtp_check_starttls(struct smtp_server *s, const char *args)
{
	if (s->tls_mode != LISTEN_TLS_STARTTLS) {
		smtp_error(s, 502, "5.5.1", "Command not implemented");
		return -1;
	}
	if (s->info.tls) {
		smtp_error(s, 503, "5.5.1", "Error: TLS already active");
		return -1;
	}
	if (*args != '\0') {
		smtp_error(s, 501, "5.5.4", "Syntax: STARTTLS");
		return -1;
	}
	if (s->state == STATE_CONNECTED) {
		smtp_error(s, 503, "5.5.1", "Error: send EHLO first");
		return -1;
	}
	if (s->state != STATE_HELO) {
		smtp_error(s, 503, "5.5.1",
		    "Error: STARTTLS not allowed in a mail transaction");
		return -1;
	}
	return 0;
}

/*
 * STARTTLS (RFC 3207).  Input behind the command was sent before the
 * client could see our 220: read after the handshake it would pass as if
 * it had come over TLS (the STARTTLS command injection of CVE-2011-0411
 * and the NO STARTTLS study).  Such a client is broken or an attacker
 * sits on the path: 554 and close, never a handshake.
 */
void
smtp_proceed_starttls(struct smtp_server *s, const char *args)
{
	size_t	 n;

	(void)args;
	if ((n = buf_len(io_in(s->io))) > 0) {
		log_warnx("%016llx client=%s sent %zu octets behind STARTTLS "
		    "before the handshake (command injection?): closing",
		    (unsigned long long)s->info.id, s->info.peer, n);
		buf_consume_wipe(io_in(s->io), n);
		smtp_send(s, 554, "5.5.1", "Error: data pipelined after "
		    "STARTTLS, closing connection");
		smtp_quit(s, "starttls injection");
		return;
	}
	smtp_send(s, 220, "2.0.0", "Ready to start TLS");
	smtp_tls_begin(s);
}

/*
 * smtp_tls_begin - the handshake, bounded by tls_handshake_timeout as a
 * deadline (a client sending a byte now and then must not hold the
 * session).  Reading stops first: the 220 may still be queued, and
 * nothing may be read in plaintext meanwhile.
 */
void
smtp_tls_begin(struct smtp_server *s)
{
	struct timeval	 tv = { s->hs_timeout, 0 };

	smtp_enter_state(s, STATE_TLS);
	io_set_read(s->io, 0);
	io_set_timeout(s->io, s->hs_timeout * 1000u);
	(void)evtimer_del(s->ev_cmd);
	(void)evtimer_add(s->ev_cmd, &tv);
	if (tls_server_start(s->io, s->tls, s->info.id, s->info.peer) == -1) {
		log_info("%016llx tls client=%s cannot start: %s",
		    (unsigned long long)s->info.id, s->info.peer,
		    io_error(s->io));
		smtp_quit(s, "tls start failed");
	}
}

/*
 * The handshake is done.  After STARTTLS everything learnt before it is
 * forgotten (RFC 3207 4.2): the client says EHLO again, and an AUTH of
 * the cleartext part (none can have succeeded where TLS was due) is void.
 */
void
smtp_tls_ready(struct smtp_server *s)
{
	struct tls_info	 ti;

	(void)evtimer_del(s->ev_cmd);
	s->info.tls = 1;
	if (tls_get_info(s->io, &ti) == 0 &&
	    (s->tlsinfo = malloc(sizeof(*s->tlsinfo))) != NULL)
		*s->tlsinfo = ti;
	if (s->tls_mode == LISTEN_TLS_IMPLICIT) {
		smtp_enter_state(s, STATE_CONNECTED);
		smtp_send(s, 220, NULL, "%s", s->banner);
		smtp_want_input(s);
		return;
	}
	s->info.helo[0] = '\0';
	s->info.esmtp = 0;
	s->info.auth_user[0] = '\0';
	s->flags &= ~SF_AUTHED;
	s->njunk = 0;
	smtp_enter_state(s, STATE_CONNECTED);
	smtp_process(s);
}

/* smtp_server_tls - what the client's TLS negotiated, or NULL */
const struct tls_info *
smtp_server_tls(const struct smtp_server *s)
{
	return s->tlsinfo;
}
