/*
 * smtp_client - the upstream-facing SMTP session.
 *
 * Contract: parameters in, callbacks out (OpenSMTPD smtp_client style).
 * smtp_client_new() resolves, connects, reads the banner, says EHLO (HELO
 * if EHLO is refused), runs STARTTLS or implicit TLS as the upstream's tls
 * mode says, forgets everything learned before TLS and says EHLO again,
 * then (with params.auth) authenticates, and calls ready().  A mode that
 * requires TLS never sends MAIL in cleartext: a missing STARTTLS is
 * failed(FAIL_STARTTLS_UNAVAILABLE).  AUTH never sends PLAIN, LOGIN or a
 * bearer token before TLS unless auth_allow_cleartext; its failure is
 * failed(FAIL_AUTH, "<mech>: <reply>"), and its lines reach the log and
 * the trace only as "AUTH <MECH> <redacted>" and "<redacted>".  With
 * auth_fallback the next mechanism is tried only when the reply says the
 * mechanism failed (sasl_fallback_ok: 432, 504, 534, 538, 500 5.5.6),
 * never after 535: a wrong secret costs one failed login, not one per
 * mechanism.  After an AUTH failure on a connection still in step, the
 * client says QUIT (after "*" if a SASL exchange awaited an answer)
 * before it closes; see smtp_client_free().
 * After ready(), the owner runs transactions one command at a time: each
 * of smtp_client_mail/rcpt/data/rset yields exactly one reply() (for data:
 * the DATA reply if it is a 4xx or 5xx, else the reply to the final dot)
 * or failed().  Only 354 answers DATA: any other 2xx or 3xx there, and a
 * 3xx to MAIL, RCPT, RSET or the final dot, is failed(FAIL_PROTOCOL),
 * never reply(): the owner never sees a 2xx for a message not sent.  A
 * transaction may run on a connection that is already open, so ready() is
 * called once and the connection is reused until the owner quits.
 * failed() is the last callback: the owner then frees the client.
 * Every reply line from the upstream is validated (code digits, length,
 * line count, no data left over after a reply that must come alone).
 *
 * Details the owner relies on:
 * - A 421 at any point (the upstream is closing) is failed(FAIL_REJECTED,
 *   text with the 421), never reply(), even for a transaction command in
 *   flight: the connection is gone and no further command may be issued.
 * - A command given while the client is not idle (before ready(), or with
 *   a reply outstanding) is a bug in the owner: fatalx.  Arguments with
 *   CR, LF or other control characters fail the session (FAIL_INTERNAL)
 *   instead of reaching the wire.
 * - A failure found inside one of the owner's calls is reported by
 *   failed() from the event loop, never from inside that call; commands
 *   given meanwhile are ignored.
 * - If the connection is lost or times out after the final dot and before
 *   its reply, failed() says "message may be delivered twice" (the
 *   upstream may have taken the message).
 * - The reply passed to reply() stays valid until the callback returns,
 *   even if the callback issues the next command.
 * - Only tls = starttls-optional continues in cleartext (STARTTLS not
 *   offered, refused, or only HELO accepted); a failed handshake or a
 *   rejected certificate ends the session in every mode.
 * - smtp_client_quit() and smtp_client_free() may be called from inside
 *   any callback of this client.
 *
 * Pooling (smtp_client_idle.c): owners change, the connection stays.
 * - smtp_client_detach() lets the owner go when the client is idle (after
 *   ready() or a reply(), no command outstanding; or after attach and
 *   before its ready(), giving back a client it never used).  If a MAIL
 *   went out since ready() or the last 250 to RSET, the connection is
 *   reset: towards an upstream without PIPELINING the client sends RSET
 *   itself at once, and the 250 proves the connection alive and in step,
 *   off the next message's path (Postfix checks with RSET when it takes
 *   a connection back); towards one with PIPELINING nothing is sent now
 *   (CF_RSET_DUE): the RSET leads the next owner's MAIL in the same
 *   write, its reply is the client's own, and a refusal is failed() to
 *   that owner with SMTP_TX_NONE (the retry rule below).  From then on
 *   only the holder's dead() can come, once: the upstream closed or
 *   reset the connection, sent a TLS alert or close_notify, a 421 or
 *   any other text (nothing was asked: any byte means the connection is
 *   out of step), or the RSET sent at once was refused or timed out.
 *   The socket keeps being read while idle, and records wolfSSL already
 *   holds are read on (io pokes itself), so nothing waits unseen.
 *   dead() is the last callback; the holder then frees the client
 *   (smtp_client_free(), also from inside dead()).  No QUIT is sent to a
 *   dead connection.  No idle timeout is kept here: the holder closes an
 *   idle client with smtp_client_quit() (which says QUIT, also right
 *   behind detach's RSET) when it has been idle long enough.
 * - smtp_client_attach() hands a detached client to a new owner.  It
 *   first checks the socket (EOF, reset, unread input): -1 if the
 *   connection is dead, and then no callback at all, the holder frees it.
 *   On 0 the new owner gets exactly one ready() (after detach's RSET, if
 *   it is still in flight) or failed(), always from the event loop, and
 *   then runs transactions as above.  Commands before that ready() are a
 *   bug (fatalx), like commands on a detached client.
 * - The retry rule.  smtp_client_tx_state(), valid in failed() and
 *   reply(), says how far the upstream got with the current transaction
 *   (the one started by the last MAIL, or none yet):
 *   SMTP_TX_NONE: no 2xx to MAIL yet (or a 250 to RSET before the
 *   final dot ended the transaction; after the final dot it stays DOT):
 *   the upstream holds nothing of it, and the owner may run it again on
 *   a new connection without the client seeing anything (a pooled
 *   connection that died under us: 421 or close before MAIL's 250);
 *   SMTP_TX_MAIL: MAIL was accepted, the final dot not sent: a failure
 *   now is reported to the client (4xx), not retried;
 *   SMTP_TX_DOT: the final dot went out: never retried (the message may
 *   have been delivered).
 * - Counting: smtp_client_messages() (final-dot replies received, 2xx
 *   or not, over the connection's life).  The idle time is the pool's to
 *   keep (pool.c's timers).
 */
#ifndef GW_SMTP_CLIENT_H
#define GW_SMTP_CLIENT_H

#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include "util/fail.h"
#include "smtp/smtp_parse.h"

struct event_base;
struct evdns_base;
struct conf_upstream;
struct tls_client_ctx;
struct smtp_client;

/*
 * Per-session credentials for AUTH towards the upstream.  The mechanism
 * allow-list, the fallback and the cleartext rule come from the
 * upstream's conf (auth_mechanisms, auth_fallback, auth_allow_cleartext).
 * smtp_client_new() copies the strings; the copies are wiped once the
 * AUTH exchange is over.
 */
struct smtp_client_auth {
	const char	*user;		/* authentication identity */
	const char	*secret;	/* password, or NULL */
	const char	*token;		/* OAuth bearer token, or NULL */
	/*
	 * one_try: one mechanism only, whatever auth_fallback says.  For a
	 * client's own password (passthrough): a refused password is
	 * refused by every mechanism, and each extra try counts as one
	 * more failed login at the provider (account lockout).
	 */
	int		 one_try;
	const char	*keytab;	/* GSSAPI's client keytab, or NULL */
	const char	*principal;	/* its client principal, with keytab */
};

struct smtp_client_params {
	struct event_base		*base;
	struct evdns_base		*dns;
	const struct conf_upstream	*up;
	struct tls_client_ctx		*tls;	/* NULL only for tls = none */
	const char			*helo_name;
	uint64_t			 id;	/* session id for logs */
	/*
	 * release(release_arg) runs once when the client is finally freed,
	 * which after smtp_client_quit() can be later than its owner: the
	 * owner keeps up and tls alive until then (a reload must not free
	 * them under a QUIT in flight).
	 */
	void				(*release)(void *);
	void				*release_arg;
	/*
	 * trace (optional, for smtpgate probe): every protocol line, sent
	 * (out = 1) or received (out = 0), without its CRLF, as it passes.
	 */
	void				(*trace)(void *, int out,
					    const char *line, size_t len);
	void				*trace_arg;
	/*
	 * auth: NULL for no AUTH.  Otherwise AUTH runs after the last
	 * EHLO (after STARTTLS when TLS is used) and before ready(); its
	 * failure is failed(FAIL_AUTH, "<mech>: <upstream reply>").
	 */
	const struct smtp_client_auth	*auth;
};

struct smtp_client_cb {
	void	(*ready)(void *arg);
	void	(*reply)(void *arg, const struct smtp_reply *);
	void	(*failed)(void *arg, enum gw_fail, const char *why);
};

/*
 * The body source for DATA: copy up to len bytes of the (unstuffed, CRLF)
 * message into buf; return the count, 0 at the end, -1 on an error (the
 * client then aborts the connection without sending the final dot), or
 * SMTP_BODY_WAIT when nothing is there yet (a body streamed while the
 * client sends it): the pump stops until smtp_client_body_more().  The
 * first call comes after the upstream's 354.
 */
#define SMTP_BODY_WAIT	(-2)
typedef ssize_t (*smtp_body_fn)(void *arg, char *buf, size_t len);

struct smtp_client *smtp_client_new(const struct smtp_client_params *,
	    const struct smtp_client_cb *, void *arg);
/*
 * Pipelining (RFC 2920).  smtp_client_can_pipeline() says whether a MAIL,
 * RCPT or DATA may be given now although a reply is still owed: the
 * upstream offers PIPELINING, the command awaited is a MAIL, RCPT or
 * RSET, no DATA was given behind it, and fewer than CLIENT_PIPE_MAX are
 * queued.  Such a command is written at once; its reply comes by reply()
 * after the replies of the commands before it, in order.  The DATA
 * reply and the body work as in lockstep (DATA is always the last of a
 * batch).  A failure fails the whole batch with one failed().
 */
int	smtp_client_can_pipeline(const struct smtp_client *);
/* smtp_client_mail - "MAIL FROM:<args>": args is "<a@b> SIZE=1" (CR/LF/NUL refused) */
void	smtp_client_mail(struct smtp_client *, const char *args);
/* smtp_client_rcpt - "RCPT TO:<args>" */
void	smtp_client_rcpt(struct smtp_client *, const char *args);
/* smtp_client_data - DATA, then the body from fn, dot-stuffed, then "." */
void	smtp_client_data(struct smtp_client *, smtp_body_fn, void *arg);
/*
 * smtp_client_body_more - the body source has more (or its end) after it
 * said SMTP_BODY_WAIT; the pump runs again from the event loop.  No-op
 * in any other state.
 */
void	smtp_client_body_more(struct smtp_client *);
/* smtp_client_rset - RSET */
void	smtp_client_rset(struct smtp_client *);
/*
 * smtp_client_quit - send QUIT and close; no callbacks after this call, the
 * client frees itself.  Safe in any state.
 */
void	smtp_client_quit(struct smtp_client *);
/*
 * smtp_client_free - close at once, no QUIT, no callbacks.  Except after
 * failed(FAIL_AUTH): the QUIT the client already sent then finishes on
 * its own (at most QUIT_TIMEOUT, 10 s), and release() runs after it.
 */
void	smtp_client_free(struct smtp_client *);
/* smtp_client_ext - the capabilities of the current (post-TLS) EHLO */
const struct smtp_ext *smtp_client_ext(const struct smtp_client *);
/* smtp_client_tls_report - the probe's TLS report; -1 if none */
struct tls_report;
int	smtp_client_tls_report(const struct smtp_client *, struct tls_report *);
/*
 * smtp_client_auth_reply - the upstream's last reply to AUTH (235 or the
 * failure), valid in ready() and failed(); NULL if no AUTH ran.
 */
const struct smtp_reply *smtp_client_auth_reply(const struct smtp_client *);
/* smtp_client_auth_mech - the mechanism that ran last, or "none" */
const char *smtp_client_auth_mech(const struct smtp_client *);
/* smtp_client_tls - "TLSv1.3 TLS13-AES128-GCM-SHA256" or "none" */
const char *smtp_client_tls(const struct smtp_client *);
/*
 * smtp_client_tls_up - 1 once TLS is up (the session reaches ready() only
 * after the certificate checks of its upstream's policy), else 0
 */
int	smtp_client_tls_up(const struct smtp_client *);
/* smtp_client_tls_resumed - 1 if the TLS session was resumed, else 0 */
int	smtp_client_tls_resumed(const struct smtp_client *);

/* how far the upstream got with the current transaction (the retry rule) */
enum smtp_client_tx {
	SMTP_TX_NONE = 0,	/* nothing accepted: safe to retry elsewhere */
	SMTP_TX_MAIL,		/* MAIL accepted, final dot not sent */
	SMTP_TX_DOT		/* final dot sent: never retry */
};

/* the holder's callbacks while a client is detached */
struct smtp_client_idle_cb {
	/* the idle connection is gone; once, last; the holder frees c */
	void	(*dead)(void *arg, struct smtp_client *c, enum gw_fail,
		    const char *why);
};

/*
 * smtp_client_detach - the owner lets go of an idle client (reset if a
 * transaction ran: RSET now, or in front of the next MAIL towards a
 * pipelining upstream); only icb->dead(arg, ...) can follow.  -1 if the
 * client is failing (failed() may still come to the owner, who keeps it
 * and frees it): nothing changed.  Never calls back from inside.
 */
int	smtp_client_detach(struct smtp_client *,
	    const struct smtp_client_idle_cb *, void *arg);
/*
 * smtp_client_attach - a new owner for a detached client: 0, and ready()
 * or failed() follows from the event loop; -1 if the connection is dead
 * (no callback follows, the holder frees it).
 */
int	smtp_client_attach(struct smtp_client *, const struct smtp_client_cb *,
	    void *arg);
/*
 * smtp_client_set_id - the id its log lines carry from now on: a new
 * owner's session id after attach, so that grepping a session finds its
 * upstream's lines.  Returns the id it had.
 */
uint64_t smtp_client_set_id(struct smtp_client *, uint64_t id);
/*
 * smtp_client_idle - 1 if detached, in step and not resetting.  No caller
 * in src/ (the pool attaches during detach's RSET): the session tests wait
 * on it to attach only once the connection is idle.
 */
int	smtp_client_idle(const struct smtp_client *);
/* smtp_client_tx_state - see "the retry rule" above */
enum smtp_client_tx smtp_client_tx_state(const struct smtp_client *);
/* smtp_client_messages - final-dot replies received on this connection */
unsigned long smtp_client_messages(const struct smtp_client *);

#endif
