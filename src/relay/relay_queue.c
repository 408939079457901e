/*
 * relay_queue.c - the client side of delivery = queue (docs/queue.md):
 * MAIL and RCPT are answered here, not by an upstream; the message is
 * spooled, checked and signed as in lockstep (relay.c), then written to
 * the store with its envelope, and the final dot gets 250 only once both
 * are on disk (qstore_msg_commit).  Any failure to store it is a 452
 * 4.3.1: the client keeps the message.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "obs/metrics.h"
#include "queue/qenv.h"
#include "queue/qstore.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "relay/spool.h"
#include "smtp/smtp_server.h"
#include "queue/qwork.h"
#include "util/log.h"
#include "util/str.h"

#define Q_TEXT_FULL	"Insufficient system storage"

/* the 452 of a full or failing queue, logged like any refusal */
static void
q_refuse(struct relay *r, const char *what, const char *why)
{
	txlog_refused(r->id, what, "gateway", smtp_server_info(r->srv)->peer,
	    smtp_server_info(r->srv)->proxy, r->from != NULL ? r->from->addr :
	    "", NULL, 452, "4.3.1", why);
	if (strcmp(what, "mail") == 0)
		metrics_tx_nomail(MX_TX_TEMPFAIL, FAIL_INTERNAL);
	else
		metrics_rcpt_refused(0);
	smtp_server_reply(r->srv, 452, "4.3.1", Q_TEXT_FULL);
}

void
relay_q_free(struct relay *r)
{
	if (r->qe != NULL) {
		qenv_free(r->qe);
		free(r->qe);
		r->qe = NULL;
	}
}

/* param - the value of the parameter kw of p, or NULL */
static const char *
param(const struct smtp_path *p, const char *kw)
{
	const struct smtp_param	*pp = smtp_find_param(p, kw);

	return pp != NULL && pp->has_value ? pp->value : NULL;
}

/*
 * mail_params - MAIL's parameters as they go on at delivery, without SIZE
 * (the runner sends the size of what is stored, Received and signature
 * included)
 */
static int
mail_params(const struct smtp_path *p, char *out, size_t len)
{
	size_t	 i, off = 0;
	int	 n;

	out[0] = '\0';
	for (i = 0; i < p->nparams; i++) {
		if (strcasecmp(p->params[i].keyword, "SIZE") == 0)
			continue;
		n = snprintf(out + off, len - off, "%s%s%s%s", off ? " " : "",
		    p->params[i].keyword, p->params[i].has_value ? "=" : "",
		    p->params[i].value);
		if (n < 0 || (size_t)n >= len - off)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* relay_q_mail - MAIL on a queue listener: room, then the envelope begun */
void
relay_q_mail(struct relay *r)
{
	const struct smtp_server_info	*si = smtp_server_info(r->srv);
	const char			*why, *ret;
	char				 params[QENV_TEXT_MAX];

	relay_q_free(r);
	if ((why = qrun_room(0)) != NULL) {
		q_refuse(r, "mail", why);
		return;
	}
	if (mail_params(r->from, params, sizeof(params)) == -1) {
		smtp_server_reply(r->srv, 552, "5.5.4",
		    "Too many or too long MAIL parameters to queue");
		return;
	}
	if ((r->qe = calloc(1, sizeof(*r->qe))) == NULL ||
	    qenv_set(&r->qe->sender, r->from->addr) == -1 ||
	    qenv_set(&r->qe->listener, r->l->name) == -1 ||
	    qenv_set(&r->qe->client, si->peer) == -1 ||
	    qenv_set(&r->qe->mail_params, params[0] ? params : NULL) == -1 ||
	    qenv_set(&r->qe->envid, param(r->from, "ENVID")) == -1 ||
	    (r->map != NULL && qenv_set(&r->qe->user, r->auth_user) == -1)) {
		relay_q_free(r);
		smtp_server_reply(r->srv, 451, "4.3.0", "Out of memory");
		return;
	}
	ret = param(r->from, "RET");
	r->qe->ret = ret == NULL ? QRET_NONE : strcasecmp(ret, "HDRS") == 0 ?
	    QRET_HDRS : QRET_FULL;
	smtp_server_reply(r->srv, 250, "2.1.0", "Ok");
}

/* notify_bits - RFC 3461 NOTIFY=SUCCESS,FAILURE,DELAY or NEVER as QN_* */
static unsigned
notify_bits(const char *v)
{
	static const struct {
		const char	*w;
		unsigned	 bit;
	} words[] = {
		{ "NEVER", QN_NEVER }, { "SUCCESS", QN_SUCCESS },
		{ "FAILURE", QN_FAILURE }, { "DELAY", QN_DELAY }
	};
	unsigned	 bits = 0;
	size_t		 i, n;

	while (v != NULL && *v != '\0') {
		n = strcspn(v, ",");
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i].w) == n &&
			    strncasecmp(v, words[i].w, n) == 0)
				bits |= words[i].bit;
		v += n;
		if (*v == ',')
			v++;
	}
	return bits;
}

/* relay_q_rcpt - RCPT on a queue listener: kept in the envelope, 250 */
void
relay_q_rcpt(struct relay *r, const struct smtp_path *to)
{
	if (r->qe == NULL) {
		smtp_server_reply(r->srv, 503, "5.5.1", "MAIL first");
		return;
	}
	if (qenv_add_rcpt(r->qe, to->addr, notify_bits(param(to, "NOTIFY")),
	    param(to, "ORCPT")) == -1) {
		q_refuse(r, "rcpt", "the envelope cannot grow");
		return;
	}
	if (r->nrcpt++ == 0)
		(void)str_copy(r->first_rcpt, to->addr, sizeof(r->first_rcpt));
	if (txlog_rcpts_add(&r->accepted, to->addr) == -1)
		log_warnx("%016" PRIx64 " relay out of memory: no result line "
		    "for <%s>", r->id, to->addr);
	smtp_server_reply(r->srv, 250, "2.1.5", "Ok");
}

/*
 * A commit runs on the queue's worker threads (qwork.h): the message's
 * pieces (envelope, spool, signatures) belong to the job until its end,
 * since the session may be gone by then (looked up by id).
 */
struct qcommit {
	uint64_t		 rid;		/* the session */
	struct qenv		*qe;
	struct spool		*spool;
	char			*sigs;
	size_t			 siglen;
	char			 why[QSTORE_WHY_MAX];
};

static void
qcommit_free(void *arg)
{
	struct qcommit	*c = arg;

	if (c->qe != NULL) {
		qenv_free(c->qe);
		free(c->qe);
	}
	spool_free(c->spool);
	free(c->sigs);
	free(c);
}

/* q_write - our signatures, then the spool (Received first), to m */
static int
q_write(struct qcommit *c, struct qstore_msg *m)
{
	char	 buf[16384];
	ssize_t	 n;

	if (c->siglen > 0 && qstore_msg_write(m, c->sigs, c->siglen, c->why,
	    sizeof(c->why)) == -1)
		return -1;
	if (spool_rewind(c->spool) == -1) {
		(void)snprintf(c->why, sizeof(c->why), "spool rewind failed");
		return -1;
	}
	while ((n = spool_read(c->spool, buf, sizeof(buf))) > 0)
		if (qstore_msg_write(m, buf, (size_t)n, c->why,
		    sizeof(c->why)) == -1)
			return -1;
	if (n < 0) {
		(void)snprintf(c->why, sizeof(c->why), "spool read failed");
		return -1;
	}
	return 0;
}

/* on a worker: the files written and fsync'd, or nothing left of them */
static int
qcommit_run(void *arg)
{
	struct qcommit		*c = arg;
	struct qstore_msg	*m;

	if ((m = qstore_msg_begin(qrun_store(), c->qe->id, c->why,
	    sizeof(c->why))) == NULL)
		return -1;
	if (q_write(c, m) == -1) {
		qstore_msg_abort(m);
		return -1;
	}
	return qstore_msg_commit(m, c->qe, c->why, sizeof(c->why));
}

/* on the loop: index it, and the client's 250 (or 452) */
static void
qcommit_done(void *arg, int rc)
{
	struct qcommit	*c = arg;
	struct relay	*r = relay_find(c->rid);
	char		 text[64];

	if (rc == 0) {
		qrun_add(c->qe);
		log_info("%016" PRIx64 " queue %016" PRIx64 " queued size=%llu "
		    "rcpts=%zu%s", c->rid, c->qe->id, c->qe->size,
		    c->qe->nrcpt, r == NULL ? " (the client left before its "
		    "250: it will send it again)" : "");
	} else
		log_warnx("%016" PRIx64 " queue: cannot store the message: %s",
		    c->rid, c->why);
	if (r != NULL) {
		if (rc == 0) {
			(void)snprintf(text, sizeof(text), "Ok: queued as "
			    "%016" PRIx64, c->qe->id);
			relay_tx_reply(r, 250, "2.0.0", text, 0);
		} else
			relay_tx_reply(r, 452, "4.3.1", Q_TEXT_FULL,
			    MX_CLASS_SPOOL);
	}
	qcommit_free(c);
}

/*
 * relay_q_commit - the final dot of a checked and signed message: into
 * the store on a worker thread, then 250 with the queue id, or 452 4.3.1.
 */
void
relay_q_commit(struct relay *r)
{
	struct qcommit		*c;
	struct qwork_job	 job;
	const char		*full;
	uint64_t		 id;

	r->qsize = spool_size(r->spool) + r->siglen;
	if (qrun_store() == NULL || r->qe == NULL) {
		relay_tx_reply(r, 452, "4.3.1", Q_TEXT_FULL, MX_CLASS_SPOOL);
		return;
	}
	if ((full = qrun_room(r->qsize)) != NULL) {
		log_warnx("%016" PRIx64 " queue: %s", r->id, full);
		relay_tx_reply(r, 452, "4.3.1", Q_TEXT_FULL, MX_CLASS_SPOOL);
		return;
	}
	if ((id = qstore_new_id()) == 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		relay_tx_reply(r, 452, "4.3.1", Q_TEXT_FULL, MX_CLASS_SPOOL);
		return;
	}
	r->qe->id = id;
	r->qe->arrival = (int64_t)time(NULL);
	r->qe->next = r->qe->arrival;
	/* the job's from here: the session may close before it ends */
	c->rid = r->id;
	c->qe = r->qe;
	c->spool = r->spool;
	c->sigs = r->sigs;
	c->siglen = r->siglen;
	r->qe = NULL;
	r->spool = NULL;
	r->sigs = NULL;
	r->siglen = 0;
	job.run = qcommit_run;
	job.done = qcommit_done;
	job.arg = c;
	if (qrun_submit(&job) == -1) {
		log_warnx("%016" PRIx64 " queue: too many messages being "
		    "stored at once", r->id);
		qcommit_free(c);
		relay_tx_reply(r, 452, "4.3.1", Q_TEXT_FULL, MX_CLASS_SPOOL);
		return;
	}
}
