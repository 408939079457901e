/*
 * uptx.c - the upstream side of one transaction: the MAIL and RCPT
 * arguments (pure), and the lockstep object that runs MAIL, RCPT, DATA
 * and RSET on one smtp_client for its driver (uptx.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_reply.h"
#include "util/log.h"
#include "upstream/uptx.h"
#include "util/str.h"

/* uptx_dropped - one more DSN keyword left out */
static void
uptx_dropped(char *dropped, size_t len, const char *keyword)
{
	/* keywords are checked letters, digits and '-' */
	if (dropped[0] != '\0')
		(void)gw_strlcat(dropped, ",", len);
	(void)gw_strlcat(dropped, keyword, len);
}

const char UPTX_WHY_TLS[] =
    "REQUIRETLS: the upstream connection is not fully verified TLS";
const char UPTX_WHY_REQUIRETLS[] =
    "REQUIRETLS support required: the upstream does not offer it";

int
uptx_tls_verified(const struct conf_tls *t)
{
	return !t->no_verify_chain && t->verify_hostname && t->accept == 0;
}

int
uptx_refusal(const char *why, const char **enh)
{
	if (strcmp(why, UPTX_WHY_TLS) == 0) {
		*enh = "5.7.10";
		return 550;
	}
	if (strcmp(why, UPTX_WHY_REQUIRETLS) == 0) {
		*enh = "5.7.30";
		return 550;
	}
	*enh = "5.6.7";
	return 555;
}

const char *
uptx_path_args(unsigned flags, const struct smtp_path *path, int rcpt,
    char *buf, size_t len, char *dropped, size_t droppedlen)
{
	const struct smtp_param	*p;
	size_t			 i;
	int			 n;

	dropped[0] = '\0';
	n = snprintf(buf, len, "<%s>", path->addr);
	if (n < 0 || (size_t)n >= len)
		return "path too long";
	for (i = 0; i < path->nparams; i++) {
		p = &path->params[i];
		if (str_ieq(p->keyword, "SIZE") && !(flags & SMTP_EXT_SIZE))
			continue;
		/* never to an upstream without 8BITMIME (relay_8bit converts) */
		if (str_ieq(p->keyword, "BODY") && !(flags & SMTP_EXT_8BITMIME))
			continue;
		if (str_ieq(p->keyword, "SMTPUTF8") &&
		    !(flags & SMTP_EXT_SMTPUTF8))
			return "upstream does not support SMTPUTF8";
		/* an unverified hop's EHLO may be forged: TLS first */
		if (!rcpt && str_ieq(p->keyword, "REQUIRETLS") &&
		    (!(flags & UPTX_TLS_VERIFIED) ||
		    !(flags & SMTP_EXT_REQUIRETLS)))
			return (flags & UPTX_TLS_VERIFIED) ?
			    UPTX_WHY_REQUIRETLS : UPTX_WHY_TLS;
		if (smtp_dsn_keyword(p->keyword, rcpt) != SMTP_DSN_NONE &&
		    !(flags & SMTP_EXT_DSN)) {
			uptx_dropped(dropped, droppedlen, p->keyword);
			continue;
		}
		if (gw_strlcat(buf, " ", len) >= len ||
		    gw_strlcat(buf, p->keyword, len) >= len)
			return "parameters too long";
		if (p->has_value && (gw_strlcat(buf, "=", len) >= len ||
		    gw_strlcat(buf, p->value, len) >= len))
			return "parameters too long";
	}
	return NULL;
}

struct uptx {
	uint64_t		 id;
	const struct conf_upstream *up;
	const struct uptx_cb	*cb;
	void			*arg;
	const struct uptx_conn	*conn;	/* where cli came from */
	struct smtp_client	*cli;
	int			 ready;	/* cli said ready() */
	int			 open;	/* the upstream has MAIL accepted */
	int			 mailwait;	/* MAIL waits for ready() */
	int			 dsn_logged;	/* 1 MAIL, 2 RCPT: DSN drop logged */
	enum uptx_state		 state;	/* the command whose reply is awaited */
	/* RFC 2920: commands sent behind it, oldest first (uptx_can_pipeline) */
	enum uptx_state		 pipe[UPTX_PIPE_MAX];
	unsigned		 npipe;
	enum gw_fail		 lost;	/* failed mid-transaction */
	const struct smtp_path	*from;
	int			 reused;	/* cli came idle from a pool */
	unsigned		 carried;	/* its messages at MAIL */
	int			 retryable;	/* in failed(): see uptx.h */
	char			 identity[UPTX_IDENT_MAX];
};

static const char *uptx_strstate[] = {
	"IDLE", "CONNECT", "PRE_RSET", "MAIL", "RCPT", "DATA", "RSET"
};

static void	uptx_cli_ready(void *);
static void	uptx_cli_reply(void *, const struct smtp_reply *);
static void	uptx_cli_failed(void *, enum gw_fail, const char *);

static const struct smtp_client_cb uptx_client_cb = {
	uptx_cli_ready, uptx_cli_reply, uptx_cli_failed
};

/* the direct seam: a new connection per lease, closed at give-back */
static struct smtp_client *
direct_lease(void *ctx, const struct smtp_client_params *p,
    const char *identity, const struct smtp_client_cb *cb, void *cbarg,
    int *reused, unsigned *carried)
{
	*reused = 0;
	*carried = 0;
	return p != NULL ? smtp_client_new(p, cb, cbarg) : NULL;
}

static void
direct_give_back(void *ctx, struct smtp_client *c, const char *identity,
    enum uptx_give how)
{
	if (how != UPTX_GIVE_DROP)
		smtp_client_quit(c);
	else
		smtp_client_free(c);
}

const struct uptx_conn uptx_conn_direct = {
	direct_lease, direct_give_back, NULL
};

const char *
uptx_state_name(enum uptx_state s)
{
	return uptx_strstate[s];
}

struct uptx *
uptx_new(uint64_t id, const struct conf_upstream *up, const struct uptx_cb *cb,
    void *arg)
{
	struct uptx	*tx;

	if ((tx = calloc(1, sizeof(*tx))) == NULL)
		return NULL;
	tx->id = id;
	tx->up = up;
	tx->cb = cb;
	tx->arg = arg;
	return tx;
}

void
uptx_set_upstream(struct uptx *tx, const struct conf_upstream *up)
{
	if (tx->cli != NULL)
		fatalx("uptx: upstream changed with a connection held");
	tx->up = up;
}

void
uptx_free(struct uptx *tx)
{
	if (tx == NULL)
		return;
	uptx_close(tx);
	free(tx);
}

int
uptx_open(struct uptx *tx, const struct uptx_conn *conn,
    const struct smtp_client_params *p, const char *identity)
{
	int		 reused;
	unsigned	 carried;

	if (tx->cli != NULL)
		fatalx("uptx: open with a connection held");
	/* one that does not fit could never be matched: not kept either */
	if (str_copy(tx->identity, identity, sizeof(tx->identity)) == -1)
		tx->identity[0] = '\0';
	tx->cli = conn->lease(conn->ctx, p, identity, &uptx_client_cb, tx,
	    &reused, &carried);
	if (tx->cli == NULL)
		return -1;
	tx->reused = reused;
	tx->carried = carried;
	tx->retryable = 0;
	if (reused)
		log_debug("%016" PRIx64 " relay upstream=%s:%u reusing the "
		    "connection opened by %016" PRIx64 " carried=%u", tx->id,
		    tx->up->host, tx->up->port,
		    smtp_client_set_id(tx->cli, tx->id), carried);
	tx->conn = conn;
	tx->ready = 0;
	tx->open = 0;
	tx->mailwait = 0;
	tx->state = UPTX_CONNECT;
	return 0;
}

/* uptx_give_back - let go of the connection, how as uptx_conn says */
static void
uptx_give_back(struct uptx *tx, enum uptx_give how)
{
	struct smtp_client	*c = tx->cli;

	tx->cli = NULL;
	tx->conn->give_back(tx->conn->ctx, c, tx->identity, how);
}

/* uptx_reset - no connection held: nothing ready, open or in flight */
static void
uptx_reset(struct uptx *tx)
{
	tx->ready = 0;
	tx->open = 0;
	tx->mailwait = 0;
	tx->state = UPTX_IDLE;
	tx->npipe = 0;
}

void
uptx_close(struct uptx *tx)
{
	if (tx->cli == NULL)
		return;
	/* kept only in step with nothing in flight and a known identity */
	uptx_give_back(tx, !tx->ready ? UPTX_GIVE_QUIT :
	    tx->state != UPTX_IDLE || tx->identity[0] == '\0' ?
	    UPTX_GIVE_QUIT : UPTX_GIVE_KEEP);
	uptx_reset(tx);
}

void
uptx_discard(struct uptx *tx)
{
	if (tx->cli == NULL)
		return;
	uptx_give_back(tx, UPTX_GIVE_QUIT);
	uptx_reset(tx);
}

/*
 * uptx_abort - a streamed body went wrong on the client's side: close the
 * connection at once, with no final dot and no QUIT (a QUIT now would be
 * read as body text).  Without its dot the upstream delivers nothing.
 */
void
uptx_abort(struct uptx *tx)
{
	if (tx->cli == NULL)
		return;
	uptx_give_back(tx, UPTX_GIVE_DROP);
	uptx_reset(tx);
}

void
uptx_body_more(struct uptx *tx)
{
	if (tx->cli != NULL && tx->state == UPTX_DATA)
		smtp_client_body_more(tx->cli);
}

int
uptx_reused(const struct uptx *tx)
{
	return tx->reused;
}

unsigned
uptx_carried(const struct uptx *tx)
{
	return tx->carried;
}

int
uptx_retryable(const struct uptx *tx)
{
	return tx->retryable;
}

void
uptx_begin(struct uptx *tx)
{
	tx->dsn_logged = 0;
	tx->lost = FAIL_NONE;
}

int
uptx_connected(const struct uptx *tx)
{
	return tx->cli != NULL;
}

int
uptx_ready(const struct uptx *tx)
{
	return tx->cli != NULL && tx->ready;
}

struct smtp_client *
uptx_client(const struct uptx *tx)
{
	return tx->cli;
}

enum gw_fail
uptx_lost(const struct uptx *tx)
{
	return tx->lost;
}

/*
 * uptx_args - the arguments for MAIL or RCPT (uptx_path_args).  DSN
 * parameters left out for an upstream without DSN are logged once per
 * transaction and command (docs/replies.md says what it means here).
 */
static const char *
uptx_args(struct uptx *tx, const struct smtp_path *path, int rcpt,
    char *buf, size_t len)
{
	char		 dropped[UPTX_DROPPED_MAX];
	const char	*why;
	unsigned	 flags = smtp_client_ext(tx->cli)->flags;

	/* RFC 8689: REQUIRETLS only over TLS verified by chain and name */
	if (smtp_client_tls_up(tx->cli) && uptx_tls_verified(&tx->up->tlsset))
		flags |= UPTX_TLS_VERIFIED;
	why = uptx_path_args(flags, path, rcpt, buf, len, dropped,
	    sizeof(dropped));
	if (why == NULL && dropped[0] != '\0' &&
	    !(tx->dsn_logged & (rcpt ? 2 : 1))) {
		tx->dsn_logged |= rcpt ? 2 : 1;
		log_info("%016" PRIx64 " relay dsn dropped upstream=%s:%u "
		    "command=%s params=%s reason=\"upstream does not offer "
		    "DSN\"", tx->id, tx->up->host, tx->up->port,
		    rcpt ? "RCPT" : "MAIL", dropped);
	}
	return why;
}

/*
 * uptx_can_pipeline - may RCPT or DATA be given now, with a reply still
 * owed?  The connection is ready, no MAIL waits for it, the command
 * awaited is MAIL or RCPT, and the client allows it (PIPELINING offered,
 * no DATA given yet, room in its batch).
 */
int
uptx_can_pipeline(const struct uptx *tx)
{
	if (tx->cli == NULL || !tx->ready || tx->mailwait ||
	    (tx->state != UPTX_MAIL && tx->state != UPTX_RCPT) ||
	    tx->npipe >= UPTX_PIPE_MAX)
		return 0;
	return smtp_client_can_pipeline(tx->cli);
}

/* uptx_push - the command s goes now: awaited, or behind those awaited */
static void
uptx_push(struct uptx *tx, enum uptx_state s)
{
	if (tx->state == UPTX_IDLE) {
		tx->state = s;
		return;
	}
	if (!uptx_can_pipeline(tx))
		fatalx("uptx: %s while %s is awaited", uptx_strstate[s],
		    uptx_strstate[tx->state]);
	tx->pipe[tx->npipe++] = s;
}

/* uptx_pop - a reply came: the next command sent is awaited now, or none */
static void
uptx_pop(struct uptx *tx)
{
	if (tx->npipe == 0) {
		tx->state = UPTX_IDLE;
		return;
	}
	tx->state = tx->pipe[0];
	memmove(tx->pipe, tx->pipe + 1, --tx->npipe * sizeof(tx->pipe[0]));
}

static void
uptx_send_mail(struct uptx *tx)
{
	char		 args[UPTX_ARGS_MAX];
	const char	*why;

	tx->mailwait = 0;
	tx->carried = (unsigned)smtp_client_messages(tx->cli);
	if ((why = uptx_args(tx, tx->from, 0, args, sizeof(args))) != NULL) {
		tx->state = UPTX_IDLE;
		tx->cb->refused(tx->arg, why);
		return;
	}
	tx->state = UPTX_MAIL;
	smtp_client_mail(tx->cli, args);
}

int
uptx_mail(struct uptx *tx, const struct smtp_path *from)
{
	if (tx->cli == NULL)
		return -1;
	tx->from = from;
	if (!tx->ready) {
		tx->mailwait = 1;	/* uptx_cli_ready() sends it */
		return 0;
	}
	if (tx->open) {
		/* an aborted transaction is still open upstream */
		tx->state = UPTX_PRE_RSET;
		smtp_client_rset(tx->cli);
		return 0;
	}
	uptx_send_mail(tx);
	return 0;
}

const char *
uptx_rcpt(struct uptx *tx, const struct smtp_path *to)
{
	char		 args[UPTX_ARGS_MAX];
	const char	*why;

	if ((why = uptx_args(tx, to, 1, args, sizeof(args))) != NULL)
		return why;
	uptx_push(tx, UPTX_RCPT);
	smtp_client_rcpt(tx->cli, args);
	return NULL;
}

void
uptx_data(struct uptx *tx, ssize_t (*fn)(void *, char *, size_t), void *arg)
{
	uptx_push(tx, UPTX_DATA);
	smtp_client_data(tx->cli, fn, arg);
}

int
uptx_rset(struct uptx *tx)
{
	if (tx->cli == NULL || !tx->ready || !tx->open)
		return -1;
	tx->state = UPTX_RSET;
	smtp_client_rset(tx->cli);
	return 0;
}

static void
uptx_cli_ready(void *arg)
{
	struct uptx	*tx = arg;

	tx->ready = 1;
	if (!tx->mailwait)
		tx->state = UPTX_IDLE;
	tx->cb->ready(tx->arg);
	/* the driver may have closed the connection in ready() */
	if (tx->cli != NULL && tx->mailwait)
		uptx_send_mail(tx);
}

static void
uptx_cli_reply(void *arg, const struct smtp_reply *rep)
{
	struct uptx	*tx = arg;
	enum uptx_state	 s = tx->state;
	int		 ok = rep->code >= 200 && rep->code < 300;

	uptx_pop(tx);
	switch (s) {
	case UPTX_PRE_RSET:
		tx->open = 0;
		if (ok) {
			uptx_send_mail(tx);
			return;
		}
		/* an upstream that cannot reset is not one to trust */
		uptx_discard(tx);
		break;
	case UPTX_MAIL:
		tx->open = ok;
		break;
	case UPTX_RCPT:
		break;
	case UPTX_DATA:
		/*
		 * After the final dot the transaction is over upstream,
		 * whatever the answer; a refused DATA command leaves it
		 * open (MAIL and RCPT stand), so the next MAIL resets it.
		 */
		if (smtp_client_tx_state(tx->cli) == SMTP_TX_DOT)
			tx->open = 0;
		break;
	case UPTX_RSET:
		tx->open = 0;
		if (!ok)
			uptx_discard(tx);
		break;
	default:
		fatalx("uptx: upstream reply in state %s", uptx_strstate[s]);
	}
	tx->cb->reply(tx->arg, s, rep);
}

static void
uptx_cli_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct uptx		*tx = arg;
	enum uptx_state		 s = tx->state;
	struct smtp_client	*c = tx->cli;
	const struct smtp_reply	*rep;
	/* on the stack, not in every uptx: only a passthrough AUTH needs it */
	struct smtp_reply	 authrep;

	/* the AUTH reply lives in the client: keep it past the free */
	memset(&authrep, 0, sizeof(authrep));
	if ((rep = smtp_client_auth_reply(c)) != NULL)
		authrep = *rep;
	/* before the give-back: the client's word on how far it got */
	tx->retryable = tx->reused && smtp_client_tx_state(c) ==
	    SMTP_TX_NONE && (s == UPTX_CONNECT || s == UPTX_PRE_RSET ||
	    s == UPTX_MAIL);
	uptx_give_back(tx, UPTX_GIVE_DROP);
	if (tx->open || s == UPTX_RCPT || s == UPTX_DATA)
		tx->lost = cls;
	uptx_reset(tx);
	tx->cb->failed(tx->arg, s, cls, why, authrep.code != 0 ? &authrep :
	    NULL);
}
