/*
 * smtp_server - the client-facing SMTP session (the legacy program's side).
 *
 * Contract: owns the greeting, EHLO/HELO, the command table, pipelining
 * (replies in order, one command in flight), line and size limits,
 * timeouts and the DATA stream.  It never touches the upstream: MAIL, RCPT,
 * RSET, the message and QUIT are handed to the owner through callbacks,
 * and the owner answers each of mail/rcpt/rset/data_end/auth exactly once with
 * smtp_server_reply(), possibly later, in order.  While an answer is
 * awaited no further command is read, except the RCPT and DATA lines the
 * owner lets through with smtp_server_lookahead().  closed() is the last callback; the owner
 * frees the server there or later with smtp_server_free().
 */
#ifndef GW_SMTP_SERVER_H
#define GW_SMTP_SERVER_H

#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include "smtp/smtp_parse.h"
#include "smtp/smtp_sasl.h"

struct event_base;
struct conf_listener;
struct smtp_server;
struct tls_info;
struct tls_server_ctx;

struct smtp_server_info {
	uint64_t	 id;
	char		 peer[64];	/* "127.0.0.1" */
	char		 proxy[64];	/* PROXY balancer, "" when none */
	char		 helo[SMTP_DOMAIN_MAX + 1];
	int		 esmtp;		/* EHLO (1) or HELO (0) */
	int		 tls;		/* the client side is TLS */
	/* the local identity after a 235 to AUTH, else "" */
	char		 auth_user[SMTP_SASL_ID_MAX + 1];
};

struct smtp_server_cb {
	/* a syntactically valid MAIL; params checked (SIZE, BODY, SMTPUTF8) */
	void	(*mail)(void *arg, const struct smtp_path *from);
	void	(*rcpt)(void *arg, const struct smtp_path *to);
	void	(*rset)(void *arg);
	/*
	 * data_begin: DATA accepted by the session (a recipient was accepted);
	 * return 0 to have 354 sent, -1 to refuse (451 4.3.0), or 1 when
	 * the owner answers with smtp_server_reply(): 354 starts the body
	 * (a body streamed upstream: the upstream's 354 first), a 4xx or
	 * 5xx refuses DATA and leaves the transaction open.
	 */
	int	(*data_begin)(void *arg);
	/*
	 * data_write: unstuffed message bytes; -1 makes the message fail
	 * (452), 1 takes them and pauses reading until
	 * smtp_server_body_resume() (the owner's buffer is full).
	 */
	int	(*data_write)(void *arg, const char *, size_t);
	/* data_end: complete message, owner must smtp_server_reply() */
	void	(*data_end)(void *arg);
	/*
	 * data_abort: the message was refused by the session itself (called
	 * as soon as it is known, possibly before the client's end of
	 * data; no data_write follows), or the session ended mid-body
	 */
	void	(*data_abort)(void *arg);
	/* closed: the session is over (QUIT, error, timeout, drain) */
	void	(*closed)(void *arg, const char *reason);
	/*
	 * auth: a complete AUTH exchange ("PLAIN" or "LOGIN"; user and pass
	 * checked: no control characters, at most SMTP_SASL_ID_MAX octets).
	 * The strings are wiped when the callback returns: the owner copies
	 * what it needs.  The owner answers with smtp_server_reply(): 235
	 * marks the session authenticated, anything else leaves it not.
	 * Only called after smtp_server_require_auth().
	 */
	void	(*auth)(void *arg, const char *mech, const char *user,
		    const char *pass);
};

/*
 * smtp_server_new - greet the client on fd, or (tls = implicit) first
 * run the TLS handshake.  peer is the client (carried by a PROXY header,
 * if any), proxy the balancer that sent one or NULL; tls the listener's
 * context, NULL when the listener has tls = none.
 */
struct smtp_server *smtp_server_new(struct event_base *, int fd,
	    const struct sockaddr *peer, socklen_t peerlen,
	    const struct sockaddr *proxy, const struct conf_listener *,
	    const char *hostname, uint64_t id, struct tls_server_ctx *tls,
	    const struct smtp_server_cb *, void *arg);
/*
 * smtp_server_reply - answer the command in flight.  text may hold several
 * lines separated by '\n' (a multi-line reply); control characters in it are
 * replaced.  enh may be NULL or "" when there is no enhanced code.
 */
void	smtp_server_reply(struct smtp_server *, int code, const char *enh,
	    const char *text);
/*
 * smtp_server_require_auth - offer AUTH PLAIN LOGIN in EHLO and refuse MAIL
 * (530 5.7.0) until an AUTH got 235.  Call right after smtp_server_new().
 */
void	smtp_server_require_auth(struct smtp_server *);
/*
 * smtp_server_lookahead - pipelining towards the owner (RFC 2920).  While
 * the owner works on a MAIL or RCPT, a complete RCPT or DATA line already
 * read behind it is checked and, if ok(arg, verb, path) says 1, handed on
 * at once (rcpt(), or data_begin(), which must then return 1); its reply
 * waits its turn: replies go out in the order of the commands.  ok() says
 * 1 only when the owner can answer that command after the ones before it
 * (its upstream pipelines, nothing of its own could refuse it first);
 * path is the RCPT's, NULL for DATA.  A line that fails a check, or any
 * other command, waits until every reply is in, as without lookahead.
 */
void	smtp_server_lookahead(struct smtp_server *,
	    int (*ok)(void *, enum smtp_verb, const struct smtp_path *));
/*
 * smtp_server_kick - the owner can take commands ahead now (its upstream
 * became ready): look at the buffered input again, from the event loop
 */
void	smtp_server_kick(struct smtp_server *);
/* smtp_server_waiting - commands handed to the owner and not answered */
unsigned smtp_server_waiting(const struct smtp_server *);
/*
 * smtp_server_awaits - the command the next smtp_server_reply() answers:
 * SMTP_CMD_MAIL, _RCPT, _DATA (its 354 or the final dot), _RSET (also an
 * EHLO in a transaction), _AUTH; SMTP_CMD_UNKNOWN when none
 */
enum smtp_verb smtp_server_awaits(const struct smtp_server *);
/* smtp_server_body_resume - read the body on after data_write() said 1 */
void	smtp_server_body_resume(struct smtp_server *);
/* smtp_server_drain - close after the current transaction (421 when idle) */
void	smtp_server_drain(struct smtp_server *);
void	smtp_server_free(struct smtp_server *);
const struct smtp_server_info *smtp_server_info(const struct smtp_server *);
/*
 * smtp_server_longline - the message just read had a line over 998
 * octets (taken under long_lines = pass or encode); valid in data_end
 */
int	smtp_server_longline(const struct smtp_server *);
/* smtp_server_tls - the client side's TLS facts, NULL in plaintext */
const struct tls_info *smtp_server_tls(const struct smtp_server *);

#endif
