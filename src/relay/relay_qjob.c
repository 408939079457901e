/*
 * relay_qjob.c - one delivery of a queued message: the upstream
 * transaction object (uptx.h) driven as a client session drives it, so
 * that TLS policy, credentials and the pool are the lockstep ones.
 *
 *	J_OPEN	  the list chosen (upsel.h), a connection leased or opened
 *	J_SECRET  auth = inject: the secret being fetched
 *	J_MAIL	  MAIL sent (uptx sends it when the connection is ready)
 *	J_RCPT	  an RCPT for each pending recipient
 *	J_DATA	  the body from ID.msg, the final reply awaited
 *	J_END	  the outcome written (envelope saved, or the message
 *		  removed), the runner told
 *
 * Towards an upstream that offers PIPELINING (RFC 2920) the RCPTs and
 * DATA go behind MAIL without waiting for its reply, as Postfix's smtp
 * client sends them: one write, two round trips per message (the
 * commands, then the body); the replies still come one per command, in
 * order, and each recipient gets its own.  Otherwise one at a time.
 *
 * A failure to reach an upstream moves on to the next of the list; any
 * other failure leaves the recipients pending for the next attempt.  A
 * 5xx fails a recipient for good: a bounce (relay_qbounce.c) is queued.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sys/random.h>

#include <event2/event.h>

#include "auth/secret.h"
#include "auth/users.h"
#include "obs/metrics.h"
#include "queue/qsched.h"
#include "queue/qstore.h"
#include "queue/qwork.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "relay/spool.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "upstream/upcred.h"
#include "upstream/uppool.h"
#include "upstream/uprt.h"
#include "upstream/upsel.h"
#include "upstream/uptx.h"
#include "util/log.h"
#include "util/str.h"

enum jstate { J_OPEN, J_SECRET, J_MAIL, J_RCPT, J_DATA, J_END };

struct qjob {
	uint64_t		 id;
	struct relay_env	*env;
	struct qenv		 e;
	int			 fd;		/* ID.msg */
	unsigned long long	 left;		/* of its message, to send */
	struct spool		*conv;		/* ... converted (relay_8bit) */
	enum jstate		 state;
	const struct conf_listener *l;
	const struct conf_uplist *list;
	unsigned		 tried;		/* bits of list */
	int			 cur;		/* index in list */
	const struct conf_upstream *up;
	struct uprt		*u;
	struct uptx		*tx;
	struct secret_fetch	*sf;
	struct smtp_path	 path;		/* MAIL's */
	struct smtp_path	 rpath;		/* the RCPT being sent */
	size_t			 rcpt;		/* the next to send RCPT for */
	size_t			*sent;		/* recipients of RCPTs sent */
	size_t			 nsent, nrep;	/* RCPTs sent, answered */
	int			 mailready;	/* MAIL waits for tx_ready */
	unsigned char		*acc;		/* accepted at RCPT, per rcpt */
	enum qrcpt_state	*before;	/* at the start, for the log */
	/* NOTIFY=SUCCESS handed to an upstream without DSN: to report */
	unsigned char		*relayed;
	size_t			 nrelayed;
	int			 loadfail;	/* the envelope could not be read */
	struct qjob_result	 res;		/* what job_end decided */
	uint64_t		 delay;		/* ... the wait to the next */
	char			 why[QSTORE_WHY_MAX];	/* ... its failure */
	size_t			 nacc;
	int			 retried;
	char			 error[256];	/* the temporary failure */
	struct event		*ev_next;	/* out of a callback: open, end */
	qjob_done_fn		 done;
	void			*done_arg;
};

static void	job_open(struct qjob *);
static void	job_end(struct qjob *);
static void	tx_ready(void *);
static void	tx_reply(void *, enum uptx_state, const struct smtp_reply *);
static void	tx_refused(void *, const char *);
static void	tx_failed(void *, enum uptx_state, enum gw_fail, const char *,
		    const struct smtp_reply *);

static const struct uptx_cb job_cb = {
	tx_ready, tx_reply, tx_refused, tx_failed
};

/*
 * job_listener - the listener that took it, or NULL: renamed or gone in
 * a reload, its mail waits (another listener's upstreams and users_file
 * could hand it to another account) until it is back or expires
 */
static const struct conf_listener *
job_listener(const struct gw_conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nlisteners; i++)
		if (strcmp(c->listeners[i].name, name) == 0)
			return &c->listeners[i];
	return NULL;
}

const char *
qjob_first_upstream(struct relay_env *env, const char *listener,
    const char *sender)
{
	const struct conf_listener	*l;
	const struct conf_uplist	*list;
	int				 i;

	if ((l = job_listener(env->conf, listener)) == NULL ||
	    (list = upsel_list(env->conf, l, sender)) == NULL ||
	    (i = upsel_next(list, 0, upsel_now())) < 0)
		return NULL;
	return list->names[i];
}

/* pending_set - every pending recipient gets reply (their last answer) */
static void
pending_set(struct qjob *j, enum qrcpt_state st, const char *reply,
    int accepted_only)
{
	size_t	 i;

	for (i = 0; i < j->e.nrcpt; i++) {
		if (j->e.rcpt[i].state != QR_PENDING ||
		    (accepted_only && !j->acc[i]))
			continue;
		j->e.rcpt[i].state = st;
		(void)qenv_set(&j->e.rcpt[i].reply, reply);
	}
}

/* reply_text - "550 5.1.1 text" of rep, one line */
static void
reply_text(const struct smtp_reply *rep, enum smtp_reply_cmd cmd, char *out,
    size_t len)
{
	const char	*enh = smtp_reply_enh(cmd, rep->code, rep->enh);
	char		 vis[512];

	(void)str_vis(vis, sizeof(vis), rep->text, rep->textlen);
	(void)snprintf(out, len, "%d%s%s %s", rep->code, enh[0] ? " " : "",
	    enh, vis);
}

static void	job_defer(struct qjob *);

/* job_temp - the attempt ends with a temporary failure: why */
static void
job_temp(struct qjob *j, const char *why)
{
	(void)str_copy(j->error, why, sizeof(j->error));
	j->state = J_END;
	job_defer(j);
}

/* job_defer - open or end from the loop, never inside uptx's callback */
static void
job_defer(struct qjob *j)
{
	const struct timeval	 now = { 0, 0 };

	if (event_add(j->ev_next, &now) == -1)
		fatalx("queue: cannot schedule an event");
}

/* job_mail_path - MAIL's path and parameters back from the envelope */
static int
job_mail_path(struct qjob *j)
{
	char		 args[QENV_TEXT_MAX + SMTP_PATH_MAX + 64];
	const char	*why;

	(void)snprintf(args, sizeof(args), "FROM:<%s>%s%s SIZE=%llu",
	    j->e.sender, j->e.mail_params != NULL ? " " : "",
	    j->e.mail_params != NULL ? j->e.mail_params : "", j->e.size);
	if ((why = smtp_parse_mail(args, 1, &j->path)) != NULL) {
		(void)snprintf(j->error, sizeof(j->error), "stored MAIL "
		    "arguments: %s", why);
		return -1;
	}
	return 0;
}

/* job_rcpt_path - RCPT's path for recipient i, NOTIFY and ORCPT kept */
static int
job_rcpt_path(struct qjob *j, size_t i)
{
	const struct qrcpt	*r = &j->e.rcpt[i];
	char			 args[QENV_TEXT_MAX * 2 + 64], notify[40];
	const char		*why;

	notify[0] = '\0';
	if (r->notify & QN_NEVER)
		(void)str_copy(notify, " NOTIFY=NEVER", sizeof(notify));
	else if (r->notify != 0)
		(void)snprintf(notify, sizeof(notify), " NOTIFY=%s%s%s%s%s",
		    (r->notify & QN_SUCCESS) ? "SUCCESS" : "",
		    (r->notify & QN_SUCCESS) && (r->notify & ~QN_SUCCESS) ?
		    "," : "", (r->notify & QN_FAILURE) ? "FAILURE" : "",
		    (r->notify & QN_FAILURE) && (r->notify & QN_DELAY) ? "," :
		    "", (r->notify & QN_DELAY) ? "DELAY" : "");
	(void)snprintf(args, sizeof(args), "TO:<%s>%s%s%s", r->addr, notify,
	    r->orcpt != NULL ? " ORCPT=" : "", r->orcpt != NULL ? r->orcpt :
	    "");
	why = smtp_parse_rcpt(args, 1, &j->rpath);
	return why == NULL ? 0 : -1;
}

/* job_stop - the attempt ends here (j->error says why, if temporary) */
static void
job_stop(struct qjob *j)
{
	j->state = J_END;
	job_defer(j);
}

/* job_rcpt_next - from j->rcpt, the next pending recipient's path: 1 */
static int
job_rcpt_next(struct qjob *j)
{
	for (; j->rcpt < j->e.nrcpt; j->rcpt++) {
		if (j->e.rcpt[j->rcpt].state != QR_PENDING)
			continue;
		if (job_rcpt_path(j, j->rcpt) == 0)
			return 1;
		j->e.rcpt[j->rcpt].state = QR_FAILED;
		(void)qenv_set(&j->e.rcpt[j->rcpt].reply,
		    "553 5.1.3 stored recipient does not parse");
	}
	return 0;
}

static ssize_t	job_body(void *, char *, size_t);

/* job_data - DATA, the body from ID.msg (converted if it must be) */
static void
job_data(struct qjob *j)
{
	spool_free(j->conv);
	j->conv = NULL;
	j->left = j->e.size;	/* the envelope follows the message */
	if (lseek(j->fd, 0, SEEK_SET) == -1 || relay_8bit_file(j->id, j->fd,
	    j->e.size, j->l, uptx_client(j->tx), &j->conv) == -1) {
		(void)snprintf(j->error, sizeof(j->error), "ID.msg: seek, or "
		    "8-bit conversion");
		job_stop(j);
		return;
	}
	j->state = J_DATA;
	uptx_data(j->tx, job_body, j);
}

/*
 * job_send - the RCPTs, then DATA, as far as they may go now: the next
 * when no reply is owed (mail_owed: MAIL's is), and behind the replies
 * owed while the upstream pipelines.  DATA goes behind unanswered RCPTs
 * only; with every reply in, only if one RCPT was accepted.
 */
static void
job_send(struct qjob *j, int mail_owed)
{
	const char	*why;
	int		 owed;

	if (j->state == J_END || j->state == J_DATA)
		return;
	for (;;) {
		owed = mail_owed || j->nrep < j->nsent;
		if (owed && !uptx_can_pipeline(j->tx))
			return;		/* the next goes after a reply */
		if (!job_rcpt_next(j))
			break;
		j->state = J_RCPT;
		if ((why = uptx_rcpt(j->tx, &j->rpath)) != NULL) {
			(void)snprintf(j->error, sizeof(j->error), "RCPT: %s",
			    why);
			job_stop(j);
			return;
		}
		j->sent[j->nsent++] = j->rcpt++;
	}
	if (owed ? j->nrep == j->nsent : j->nacc == 0) {
		if (!owed)
			job_stop(j);	/* nobody accepted: no DATA */
		return;			/* MAIL's reply first */
	}
	job_data(j);
}

/*
 * job_mail - MAIL, and behind it what the upstream lets pipeline; on a
 * connection not ready yet, from tx_ready (the whole batch in one write)
 */
static void
job_mail(struct qjob *j)
{
	j->state = J_MAIL;
	j->rcpt = j->nsent = j->nrep = 0;
	j->mailready = 0;
	if (!uptx_ready(j->tx)) {
		j->mailready = 1;
		return;
	}
	(void)uptx_mail(j->tx, &j->path);
	job_send(j, 1);
}

static ssize_t
job_body(void *arg, char *buf, size_t len)
{
	struct qjob	*j = arg;
	ssize_t		 n;

	/* ended already (MAIL refused): whatever comes now gets no body */
	if (j->state == J_END)
		return -1;
	if (j->nacc == 0) {
		/* a 354 to a pipelined DATA, every RCPT refused: no body */
		(void)str_copy(j->error, "the upstream answered DATA with 354 "
		    "but accepted no recipient", sizeof(j->error));
		job_stop(j);
		return -1;	/* the connection is dropped, no dot */
	}
	/* 8-bit octets for an upstream without 8BITMIME: converted */
	if (j->conv != NULL)
		return spool_read(j->conv, buf, len);
	if (len > j->left)
		len = (size_t)j->left;
	if (len == 0)
		return 0;
	if ((n = read(j->fd, buf, len)) == 0) {
		errno = EIO;	/* shorter than its envelope says */
		return -1;
	}
	if (n > 0)
		j->left -= (unsigned long long)n;
	return n;
}

static void
tx_ready(void *arg)
{
	struct qjob	*j = arg;

	upsel_up(j->up->name);
	metrics_up_ready(j->u->mx, uptx_reused(j->tx) ? -1 : 0,
	    smtp_client_tls_resumed(uptx_client(j->tx)));
	if (j->mailready && j->state == J_MAIL) {
		j->mailready = 0;
		job_mail(j);
	}
}

/*
 * job_mark_relayed - after the upstream's 250 to the dot: the accepted
 * recipients that asked NOTIFY=SUCCESS get a "relayed" report when the
 * upstream does not offer DSN (it will send none; RFC 3461 4.1)
 */
static void
job_mark_relayed(struct qjob *j)
{
	size_t	 i;

	if (smtp_client_ext(uptx_client(j->tx))->flags & SMTP_EXT_DSN)
		return;
	for (i = 0; i < j->e.nrcpt; i++)
		if (j->acc[i] && j->e.rcpt[i].state == QR_PENDING &&
		    (j->e.rcpt[i].notify & QN_SUCCESS)) {
			j->relayed[i] = 1;
			j->nrelayed++;
		}
}

static void
tx_reply(void *arg, enum uptx_state s, const struct smtp_reply *rep)
{
	struct qjob	*j = arg;
	char		 text[600];
	size_t		 i;
	int		 ok = rep->code >= 200 && rep->code < 300;

	/* decided already: what the upstream says now changes nothing */
	if (j->state == J_END)
		return;
	switch (s) {
	case UPTX_MAIL:
		if (ok) {
			job_send(j, 0);
			return;
		}
		reply_text(rep, SMTP_RC_MAIL, text, sizeof(text));
		pending_set(j, rep->code >= 500 ? QR_FAILED : QR_PENDING,
		    text, 0);
		if (rep->code < 500)
			(void)str_copy(j->error, text, sizeof(j->error));
		break;
	case UPTX_RCPT:
		if (j->nrep >= j->nsent)
			fatalx("queue: an RCPT reply with no RCPT sent");
		i = j->sent[j->nrep++];
		if (ok) {
			j->acc[i] = 1;
			j->nacc++;
		} else {
			reply_text(rep, SMTP_RC_RCPT, text, sizeof(text));
			if (rep->code >= 500)
				j->e.rcpt[i].state = QR_FAILED;
			(void)qenv_set(&j->e.rcpt[i].reply, text);
			if (rep->code < 500)
				(void)str_copy(j->error, text,
				    sizeof(j->error));
		}
		job_send(j, 0);
		return;
	case UPTX_DATA:
		reply_text(rep, SMTP_RC_DOT, text, sizeof(text));
		if (ok) {
			metrics_relayed(j->u->mx, j->e.size);
			job_mark_relayed(j);
			pending_set(j, QR_DELIVERED, text, 1);
		} else {
			pending_set(j, rep->code >= 500 ? QR_FAILED :
			    QR_PENDING, text, 1);
			if (rep->code < 500)
				(void)str_copy(j->error, text,
				    sizeof(j->error));
		}
		break;
	default:
		/* PRE_RSET or RSET refused: the connection is gone */
		(void)str_copy(j->error, "the upstream refused RSET",
		    sizeof(j->error));
		break;
	}
	j->state = J_END;
	job_defer(j);
}

/* MAIL's arguments do not fit this upstream (SMTPUTF8): a 5xx for all */
static void
tx_refused(void *arg, const char *why)
{
	struct qjob	*j = arg;
	char		 text[300];
	const char	*enh;
	int		 code = uptx_refusal(why, &enh);

	/* decided already: what the upstream says now changes nothing */
	if (j->state == J_END)
		return;
	(void)snprintf(text, sizeof(text), "%d %s %s", code, enh, why);
	pending_set(j, QR_FAILED, text, 0);
	j->state = J_END;
	job_defer(j);
}

static void
tx_failed(void *arg, enum uptx_state s, enum gw_fail cls, const char *why,
    const struct smtp_reply *authrep)
{
	struct qjob	*j = arg;
	int		 next;

	/* decided already: what the upstream says now changes nothing */
	if (j->state == J_END)
		return;
	(void)authrep;
	if (s == UPTX_CONNECT && !uptx_reused(j->tx))
		metrics_up_failed(j->u->mx, cls);
	(void)snprintf(j->error, sizeof(j->error), "upstream %s: %s: %s",
	    j->up->name, fail_name(cls), why);
	if (uptx_retryable(j->tx) && !j->retried) {
		j->retried = 1;
		log_info("queue %016" PRIx64 " retry upstream=%s: reused "
		    "connection lost", j->id, j->up->name);
		j->state = J_OPEN;
		job_defer(j);
		return;
	}
	/* a pooled connection that died says nothing of reachability */
	if (s == UPTX_CONNECT && !uptx_reused(j->tx) && upsel_failover(cls)) {
		upsel_down(j->env->conf, j->up->name, upsel_now());
		j->tried |= 1u << j->cur;
		next = upsel_next(j->list, j->tried, upsel_now());
		log_info("queue %016" PRIx64 " failover upstream=%s class=%s "
		    "next=%s", j->id, j->up->name, fail_name(cls), next >= 0 ?
		    j->list->names[next] : "none");
		if (next >= 0) {
			j->cur = next;
			j->state = J_OPEN;
			job_defer(j);
			return;
		}
	}
	j->state = J_END;
	job_defer(j);
}

/* job_connect - the connection to list[cur] with facts f */
static void
job_connect(struct qjob *j, struct upcred_facts *f)
{
	struct smtp_client_params	 p;
	struct upcred			 c;
	const char			*why;

	if (upcred_select(f, &c, &why) == -1) {
		job_temp(j, why);
		return;
	}
	relay_client_params(j->env, j->u, j->id, &p);
	p.auth = upcred_auth(&c);
	relay_env_hold(j->env);
	if (uptx_open(j->tx, uppool_conn(j->u->pool), &p, c.identity) == -1) {
		relay_env_release(j->env);
		job_temp(j, "cannot open an upstream connection");
		return;
	}
	metrics_up_opened(j->u->mx);
	job_mail(j);
}

static void
job_secret(void *arg, const struct secret_cred *cred, const char *why)
{
	struct qjob		*j = arg;
	struct upcred_facts	 f;

	j->sf = NULL;
	if (cred == NULL) {
		job_temp(j, why);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.mode = j->up->auth;
	f.inject = cred;
	f.inject_user = j->up->username;
	job_connect(j, &f);
}

/* job_open - list[cur]: an idle connection of the account, else a new one */
static void
job_open(struct qjob *j)
{
	struct upcred_facts	 f;
	const struct users_entry *ent = NULL;
	const char		*why, *hash;
	char			 id[UPCRED_ID_MAX];

	j->up = j->list->up[j->cur];
	if ((j->u = uprt_find(j->env->uprt, j->env->nuprt, j->up)) == NULL) {
		job_temp(j, "upstream runtime missing");
		return;
	}
	uptx_free(j->tx);
	if ((j->tx = uptx_new(j->id, j->up, &job_cb, j)) == NULL) {
		job_temp(j, "out of memory");
		return;
	}
	uptx_begin(j->tx);
	if (job_mail_path(j) == -1) {
		j->state = J_END;
		job_defer(j);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.mode = j->up->auth;
	f.inject_user = j->up->username;
	if (j->up->auth == AUTH_MAP) {
		if (j->u->users != NULL && j->e.user != NULL)
			ent = users_lookup(j->u->users, j->e.user, &hash);
		if (ent == NULL) {
			job_temp(j, "auth = map: the sender's login is not in "
			    "users_file");
			return;
		}
		f.map = ent;
	}
	if (!j->retried && j->up->pool &&
	    upcred_identity(&f, id, sizeof(id), &why) == 0 &&
	    uptx_open(j->tx, uppool_conn(j->u->pool), NULL, id) == 0) {
		metrics_up_reused(j->u->mx);
		job_mail(j);
		return;
	}
	if (j->up->auth == AUTH_INJECT) {
		j->state = J_SECRET;
		if ((j->sf = secret_fetch(j->env->base, j->up, j->id,
		    job_secret, j)) == NULL)
			job_temp(j, "out of memory");
		return;
	}
	job_connect(j, &f);
}

/* job_log_rcpts - one line per recipient settled in this attempt */
static void
job_log_rcpts(const struct qjob *j, const enum qrcpt_state *before)
{
	size_t	 i;

	for (i = 0; i < j->e.nrcpt; i++) {
		if (before[i] == j->e.rcpt[i].state)
			continue;
		log_kv(GW_LOG_INFO, j->id, "queue", (struct log_field[]){
		    LOGK_WORD("rcpt", "done"), LOGK_ADDR("to", j->e.rcpt[i].addr),
		    LOGK_WORD("status", j->e.rcpt[i].state == QR_DELIVERED ?
		    "sent" : j->e.rcpt[i].state == QR_PENDING ? "deferred" :
		    "failed"),
		    LOGK_WORD("upstream", j->up != NULL ? j->up->name : "-"),
		    LOGK_STR("reply", j->e.rcpt[i].reply != NULL ?
		    j->e.rcpt[i].reply : "") }, 5);
	}
}

/* job_expire - past queue_lifetime: what is pending fails (4.4.7) */
static int
job_expire(struct qjob *j)
{
	const struct gw_conf	*c = j->env->conf;

	size_t			 n;

	if (!qsched_expired(j->e.arrival, (int64_t)time(NULL),
	    c->queue_lifetime))
		return 0;
	n = qenv_pending(&j->e);
	pending_set(j, QR_FAILED, "421 4.4.7 Message expired: not delivered "
	    "within queue_lifetime", 0);
	log_info("queue %016" PRIx64 " expired after %us in the queue: %zu "
	    "recipient(s) failed", j->id, c->queue_lifetime, n);
	return 1;
}

/* job_settle - failed recipients: a bounce, or none wanted; then done */
static void
job_settle(struct qjob *j)
{
	size_t	 i, nfailed = 0;

	for (i = 0; i < j->e.nrcpt; i++)
		nfailed += j->e.rcpt[i].state == QR_FAILED;
	if (j->e.sender[0] != '\0' && !(j->e.flags & QF_BOUNCE) &&
	    j->nrelayed > 0)
		qjob_relayed(j->env, &j->e, j->fd, j->relayed);
	if (nfailed == 0)
		return;
	if (j->e.sender[0] != '\0' && !(j->e.flags & QF_BOUNCE) &&
	    qjob_bounce(j->env, &j->e, j->fd) == -1)
		return;		/* FAILED kept: the bounce is tried again */
	if (j->e.sender[0] == '\0' || (j->e.flags & QF_BOUNCE))
		log_info("queue %016" PRIx64 " no bounce for %zu failed "
		    "recipient(s): %s", j->id, nfailed, j->e.sender[0] ==
		    '\0' ? "null sender" : "the message is a bounce");
	for (i = 0; i < j->e.nrcpt; i++)
		if (j->e.rcpt[i].state == QR_FAILED)
			j->e.rcpt[i].state = QR_DONE;
}

static void
job_free(struct qjob *j)
{
	secret_fetch_cancel(j->sf);
	if (j->tx != NULL) {
		uptx_close(j->tx);
		uptx_free(j->tx);
	}
	if (j->fd != -1)
		(void)close(j->fd);
	spool_free(j->conv);
	if (j->ev_next != NULL)
		event_free(j->ev_next);
	qenv_free(&j->e);
	free(j->acc);
	free(j->sent);
	free(j->before);
	free(j->relayed);
	relay_env_unref(j->env);
	free(j);
}

/*
 * The record of an attempt (the envelope rewritten, or the message
 * removed) runs on the queue's worker threads; the job keeps its
 * connection until it is done, so that nothing else is sent on it
 * before (the crash test relies on that order).  A rewrite is durable
 * then; a removal is a rename, which no process crash undoes, and its
 * directory fsync follows about QRUN_SYNC_MSEC later (qrun_removed).
 */
static int
job_record_run(void *arg)
{
	struct qjob	*j = arg;

	if (j->res.removed)
		return qstore_remove(qrun_store(), j->id, j->why,
		    sizeof(j->why));
	return qstore_env_save(qrun_store(), &j->e, j->why, sizeof(j->why));
}

static void
job_record_done(void *arg, int rc)
{
	struct qjob	*j = arg;

	if (rc == -1)
		log_warnx("queue %016" PRIx64 ": %s", j->id, j->why);
	else if (j->res.removed) {
		log_info("queue %016" PRIx64 " removed: every recipient done",
		    j->id);
		qrun_removed();
	}
	/* once recorded: the message is back in the runner's hands */
	if (!j->res.removed)
		log_kv(GW_LOG_INFO, j->id, "queue", (struct log_field[]){
		    LOGK_WORD("deferred", "yes"),
		    LOGK_UINT("attempt", j->e.attempts),
		    LOGK_UINT("next_in", j->delay),
		    LOGK_UINT("pending", j->res.pending),
		    LOGK_STR("reason", j->error) }, 5);
	j->done(j->done_arg, j->id, &j->res);
	job_free(j);
}

/*
 * job_end - the attempt is over: the bounce queued, the envelope saved
 * (or the message removed when nothing is left to do), the runner told.
 */
static void
job_end(struct qjob *j)
{
	const struct gw_conf	*c = j->env->conf;
	struct qwork_job	 w;
	uint32_t		 rnd = 0;
	uint64_t		 delay;
	size_t			 i, left = 0;

	j->state = J_END;
	if (j->loadfail) {
		/* never removed for want of reading it: tried again later */
		j->res.next = (int64_t)time(NULL) + (int64_t)c->queue_retry;
		j->res.pending = 1;	/* not known: not 0 */
		j->done(j->done_arg, j->id, &j->res);
		job_free(j);
		return;
	}
	job_settle(j);
	for (i = 0; i < j->e.nrcpt; i++)
		left += j->e.rcpt[i].state == QR_PENDING ||
		    j->e.rcpt[i].state == QR_FAILED;
	if (left == 0)
		j->res.removed = 1;
	else {
		j->e.attempts++;
		(void)getrandom(&rnd, sizeof(rnd), 0);
		delay = qsched_delay(j->e.attempts, c->queue_retry,
		    c->queue_retry_max, rnd);
		j->e.next = (int64_t)time(NULL) + (int64_t)delay;
		(void)qenv_set(&j->e.last_error, j->error[0] ? j->error :
		    NULL);
		j->delay = delay;
		j->res.next = j->e.next;
		j->res.pending = left;
	}
	/*
	 * ID.msg is read no more (job_settle built any report from it):
	 * closed here, so that the loop never holds the last reference to
	 * a removed file, whose freeing can wait for the disk (qs_trash)
	 */
	if (j->fd != -1) {
		(void)close(j->fd);
		j->fd = -1;
	}
	w.run = job_record_run;
	w.done = job_record_done;
	w.arg = j;
	if (qrun_submit(&w) == -1) {
		/* no room on the workers: done here, on the loop */
		job_record_done(j, job_record_run(j));
	}
}

static void
job_end_logged(evutil_socket_t fd, short what, void *arg)
{
	struct qjob	*j = arg;

	(void)fd; (void)what;
	if (j->state == J_END) {
		if (!j->loadfail && j->before != NULL)
			job_log_rcpts(j, j->before);
		job_end(j);
	} else
		job_open(j);
}

void
qjob_cancel(struct qjob *j)
{
	job_free(j);
}

struct qjob *
qjob_start(struct relay_env *env, uint64_t id, qjob_done_fn done, void *arg)
{
	struct qjob	*j;
	char		 why[QSTORE_WHY_MAX];
	int64_t		 now = upsel_now();
	size_t		 i;

	if ((j = calloc(1, sizeof(*j))) == NULL)
		fatalx("queue: out of memory");
	j->id = id;
	j->env = env;
	env->refcnt++;
	j->fd = -1;
	j->done = done;
	j->done_arg = arg;
	if ((j->ev_next = evtimer_new(env->base, job_end_logged, j)) == NULL)
		fatalx("queue: cannot make an event");
	if (qstore_env_load(qrun_store(), id, &j->e, why, sizeof(why)) == -1 ||
	    (j->fd = qstore_msg_fd(qrun_store(), id, why, sizeof(why))) ==
	    -1) {
		log_warnx("queue %016" PRIx64 ": %s", id, why);
		(void)str_copy(j->error, why, sizeof(j->error));
		j->loadfail = 1;
		j->state = J_END;
		job_defer(j);
		return j;
	}
	if ((j->acc = calloc(j->e.nrcpt + 1, 1)) == NULL ||
	    (j->relayed = calloc(j->e.nrcpt + 1, 1)) == NULL ||
	    (j->sent = calloc(j->e.nrcpt + 1, sizeof(*j->sent))) == NULL ||
	    (j->before = calloc(j->e.nrcpt + 1, sizeof(*j->before))) == NULL)
		fatalx("queue: out of memory");
	for (i = 0; i < j->e.nrcpt; i++)
		j->before[i] = j->e.rcpt[i].state;
	j->l = job_listener(env->conf, j->e.listener != NULL ? j->e.listener :
	    "");
	j->list = j->l != NULL ? upsel_list(env->conf, j->l, j->e.route !=
	    NULL ? j->e.route : j->e.sender) : NULL;
	if (job_expire(j) || j->list == NULL ||
	    (j->cur = upsel_next(j->list, 0, now)) < 0) {
		if (!j->error[0])
			(void)snprintf(j->error, sizeof(j->error), "%s",
			    j->l == NULL ? "its listener is not in the "
			    "configuration (renamed or removed?)" :
			    "no upstream to deliver to");
		j->state = J_END;
	} else
		j->state = J_OPEN;
	job_defer(j);
	return j;
}
