/*
 * uptx - the upstream side of one transaction.
 *
 * The arguments of MAIL and RCPT as the upstream will read them
 * (uptx_path_args), pure and tested alone; and the transaction object
 * (start it with a sender, add recipients, hand it a body, get each reply
 * back), which the client session (relay.c) drives today and a queue
 * runner will drive later.
 */
#ifndef GW_UPTX_H
#define GW_UPTX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "smtp/smtp_parse.h"
#include "util/fail.h"

/* room for any parsed path with all its parameters */
#define UPTX_ARGS_MAX	(SMTP_PATH_MAX + SMTP_PARAM_MAX * \
			    (SMTP_PARAM_KW_MAX + SMTP_PARAM_VAL_MAX + 2))
/* the longest identity a connection is kept under (pool.h's bound) */
#define UPTX_IDENT_MAX	320
/* commands sent behind the one awaited (pipelining) */
#define UPTX_PIPE_MAX	64
/* the DSN keywords left out, comma-separated */
#define UPTX_DROPPED_MAX	(SMTP_PARAM_MAX * SMTP_PARAM_KW_MAX)

/*
 * uptx_path_args - "<addr> PARAMS" for the upstream's MAIL (rcpt 0) or
 * RCPT (rcpt 1), given the upstream's EHLO flags (SMTP_EXT_*): only
 * parameters the upstream announced are passed on, exactly as the client
 * sent them.  SIZE and BODY go only to an upstream that offers them
 * (8BITMIME bodies are passed through unchanged: no downgrade).  The DSN
 * ones (RFC 3461) go to an upstream without DSN as RFC 3461 4 says a
 * relay to a non-DSN server does: the command goes without them, and
 * their keywords are put in dropped ("" if none) for the caller to log.
 * REQUIRETLS (RFC 8689) goes on only when ext_flags has UPTX_TLS_VERIFIED
 * (uptx_tls_verified) and SMTP_EXT_REQUIRETLS; else the MAIL is refused
 * with UPTX_WHY_TLS or UPTX_WHY_REQUIRETLS.
 * Returns NULL, or the reason to refuse (SMTPUTF8 to an upstream without
 * it, REQUIRETLS unmet, a buffer too small): uptx_refusal() gives its
 * reply code.
 */
#define UPTX_TLS_VERIFIED	0x80000000u	/* not an EHLO keyword */
extern const char UPTX_WHY_TLS[], UPTX_WHY_REQUIRETLS[];
const char *uptx_path_args(unsigned ext_flags, const struct smtp_path *,
		    int rcpt, char *buf, size_t len, char *dropped,
		    size_t droppedlen);

/*
 * uptx_tls_verified - does this TLS policy verify the upstream fully, as
 * RFC 8689 asks of a REQUIRETLS hop (RFC 6125: chain and name)?  Not with
 * verify_chain = no (pins alone), verify_hostname = no, or any accept
 * exception.  Whether TLS is up is the connection's to say.
 */
struct conf_tls;
int	uptx_tls_verified(const struct conf_tls *);

/*
 * uptx_refusal - the reply for a refusal of uptx_path_args: 550 with
 * 5.7.10 or 5.7.30 for REQUIRETLS (RFC 8689's codes), else 555 5.6.7
 */
int	uptx_refusal(const char *why, const char **enh);

/*
 * The transaction object.  One struct uptx per driver (a client session
 * today, a queue runner later): it holds at most one upstream connection
 * (smtp_client) at a time and runs MAIL, RCPT, DATA and RSET on it in
 * lockstep, one command in flight.  It knows nothing of the client
 * session: every upstream answer goes back to the driver through
 * struct uptx_cb, and the driver decides what its own client is told.
 *
 * Use: uptx_new(); uptx_open() with the connection's parameters (the
 * connection itself comes from a struct uptx_conn: lease and give back,
 * the seam where a pool fits); uptx_begin() and uptx_mail() (which waits
 * for the connection to become ready, and resets a transaction left open
 * upstream first); uptx_rcpt() per recipient; uptx_data() with the body;
 * each yields exactly one reply() or failed().  uptx_close() gives the
 * connection back; uptx_free() at the end.
 */
struct smtp_client;
struct smtp_client_cb;
struct smtp_client_params;
struct smtp_reply;
struct conf_upstream;
struct uptx;

/* the lockstep: which upstream command is in flight */
enum uptx_state {
	UPTX_IDLE,	/* nothing asked of the upstream */
	UPTX_CONNECT,	/* the connection is not ready yet */
	UPTX_PRE_RSET,	/* RSET of a transaction left open, then MAIL */
	UPTX_MAIL,
	UPTX_RCPT,
	UPTX_DATA,	/* body sent, the final reply awaited */
	UPTX_RSET
};

struct uptx_cb {
	/* the connection is ready (the MAIL waiting, if any, goes next) */
	void	(*ready)(void *arg);
	/*
	 * the upstream's reply to the command of state s (MAIL, RCPT,
	 * DATA, RSET; PRE_RSET only when it was refused: the connection
	 * is then already closed, and so after a refused RSET)
	 */
	void	(*reply)(void *arg, enum uptx_state s, const struct smtp_reply *);
	/* MAIL was not sent: its arguments do not fit this upstream */
	void	(*refused)(void *arg, const char *why);
	/*
	 * the connection failed in state s; it is gone.  authrep: the
	 * upstream's reply to AUTH if one came, else NULL (valid during
	 * the call).
	 */
	void	(*failed)(void *arg, enum uptx_state s, enum gw_fail,
		    const char *why, const struct smtp_reply *authrep);
};

/*
 * The connection seam.  lease: with p, a new connection for this
 * identity (the account it is authenticated as); with p NULL, an idle
 * one already authenticated as identity, or NULL (uptx_conn_direct has
 * none).  The connection is owned by cb/cbarg; *reused is set to 1 for an
 * idle one and *carried to the messages it carried before.  give_back:
 * the transaction is done with c; how says whether it may be kept idle
 * for the same identity, must be closed politely, or dropped.
 * uptx_conn_direct opens a new connection each time and closes it (QUIT
 * when in step).
 */
enum uptx_give {
	UPTX_GIVE_KEEP,		/* in step, nothing in flight: may be kept */
	UPTX_GIVE_QUIT,		/* QUIT and close (not to be trusted again) */
	UPTX_GIVE_DROP		/* failed: close at once */
};

struct uptx_conn {
	struct smtp_client *(*lease)(void *ctx,
		    const struct smtp_client_params *p, const char *identity,
		    const struct smtp_client_cb *, void *cbarg, int *reused,
		    unsigned *carried);
	void	(*give_back)(void *ctx, struct smtp_client *,
		    const char *identity, enum uptx_give how);
	void	*ctx;
};
extern const struct uptx_conn uptx_conn_direct;

/* uptx_new - an idle transaction object; id and up name its log lines */
struct uptx *uptx_new(uint64_t id, const struct conf_upstream *,
		    const struct uptx_cb *, void *arg);
/*
 * uptx_set_upstream - the upstream the next uptx_open() goes to (failover
 * and routing move a driver's transactions between upstreams); only
 * while no connection is held
 */
void	uptx_set_upstream(struct uptx *, const struct conf_upstream *);
/* uptx_free - close the connection (uptx_close) and free */
void	uptx_free(struct uptx *);
/*
 * uptx_open - lease a connection for identity: a new one with p, an idle
 * one with p NULL; -1 if none could be had (or none was idle).
 */
int	uptx_open(struct uptx *, const struct uptx_conn *,
	    const struct smtp_client_params *, const char *identity);
/* uptx_close - give the connection back, to be kept if in step */
void	uptx_close(struct uptx *);
/* uptx_discard - give it back never to be used again (QUIT if in step) */
void	uptx_discard(struct uptx *);
/*
 * uptx_abort - close the connection now, mid-body: no final dot, no QUIT,
 * no callback; the upstream delivers nothing (a streamed body the client
 * side refused or lost)
 */
void	uptx_abort(struct uptx *);
/* uptx_body_more - the body source of uptx_data has more after a WAIT */
void	uptx_body_more(struct uptx *);
/* uptx_begin - a new transaction: forget the last one's failure */
void	uptx_begin(struct uptx *);
/*
 * uptx_mail - MAIL with from (kept by the caller until its reply), now
 * or when the connection is ready; -1 if there is no connection.
 */
int	uptx_mail(struct uptx *, const struct smtp_path *from);
/*
 * uptx_can_pipeline - 1 if uptx_rcpt() or uptx_data() may be called now
 * although a reply is still owed (RFC 2920: the upstream offers
 * PIPELINING, the connection is ready, MAIL or RCPT is awaited, no DATA
 * was given).  Each such command still yields exactly one reply() (in
 * the order given) unless the connection fails: then one failed() with
 * the state of the oldest command unanswered ends them all; the driver
 * answers every command still waiting.
 */
int	uptx_can_pipeline(const struct uptx *);
/* uptx_rcpt - RCPT; NULL, or why the arguments could not be built */
const char *uptx_rcpt(struct uptx *, const struct smtp_path *to);
/*
 * uptx_data - DATA, the body from fn, the final dot.  fn is first called
 * after the upstream's 354 and may return SMTP_BODY_WAIT (smtp_client.h)
 * until uptx_body_more(); a refused DATA is reply(UPTX_DATA) without any
 * call of fn.
 */
void	uptx_data(struct uptx *, ssize_t (*fn)(void *, char *, size_t),
	    void *arg);
/* uptx_rset - RSET if a transaction is open upstream: 0, else -1 */
int	uptx_rset(struct uptx *);
/* uptx_connected - a connection is held (ready or not) */
int	uptx_connected(const struct uptx *);
/* uptx_ready - a connection is held and ready for commands */
int	uptx_ready(const struct uptx *);
/* uptx_client - the connection held, or NULL */
struct smtp_client *uptx_client(const struct uptx *);
/* uptx_lost - why the current transaction was lost upstream, or FAIL_NONE */
enum gw_fail uptx_lost(const struct uptx *);
/*
 * The connection of the current (or last) transaction, for the log:
 * uptx_reused - 1 if it was an idle one; uptx_carried - the messages it
 * had carried when this transaction's MAIL went out.
 */
int	uptx_reused(const struct uptx *);
unsigned uptx_carried(const struct uptx *);
/*
 * uptx_retryable - valid in failed(): 1 if the connection lost was an
 * idle one and the upstream had accepted nothing of this transaction
 * (smtp_client.h, "the retry rule"): the driver may run it again on a
 * new connection without the client seeing anything.
 */
int	uptx_retryable(const struct uptx *);
/* uptx_state_name - "MAIL", ... for the logs */
const char *uptx_state_name(enum uptx_state);

#endif
