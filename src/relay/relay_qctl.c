/*
 * relay_qctl.c - the commands of "smtpgate queue" (qctl.h), answered
 * from the runner's index (relay_qrun.c) and the store: list, show,
 * flush, hold, release, delete.  A message being delivered at that
 * moment is not in reach of hold, release and delete (its delivery will
 * rewrite its envelope): the command says so, to be repeated.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/qctl.h"
#include "queue/qenv.h"
#include "queue/qstore.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "smtp/smtp_parse.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define BUSY_TEXT	"no such message, or it is being delivered (try again)"

/* qe_status - what q is doing now, for list */
static const char *
qe_status(const struct qent *q, int64_t now)
{
	if (q->where == QE_BUSY)
		return "active";
	if (q->flags & QF_HOLD)
		return "hold";
	return q->next <= now ? "ready" : "deferred";
}

struct listing {
	struct buf	*out;
	int64_t		 now;
	int		 full;
};

static void
list_one(void *arg, const struct qent *q)
{
	struct listing	*l = arg;
	char		 line[SMTP_PATH_MAX * 4 + 256];
	char		 vis[SMTP_PATH_MAX * 4 + 1];
	int		 n;

	if (l->full)
		return;
	(void)str_vis(vis, sizeof(vis), q->sender, strlen(q->sender));
	n = snprintf(line, sizeof(line), "%016" PRIx64 " %-8s size=%llu "
	    "age=%llds attempts=%u next=%llds rcpts=%zu from=<%s>%s\n", q->id,
	    qe_status(q, l->now), q->size, (long long)(l->now - q->arrival),
	    q->attempts, (long long)(q->next > l->now ? q->next - l->now : 0),
	    q->pending, vis, (q->flags & QF_BOUNCE) ? " bounce" : "");
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    buf_append(l->out, line, (size_t)n) == -1)
		l->full = 1;
}

static int
ctl_list(struct buf *out, char *why, size_t whylen)
{
	struct listing	 l = { out, (int64_t)time(NULL), 0 };

	qrun_each(list_one, &l);
	if (l.full) {
		(void)snprintf(why, whylen, "answer too long");
		return -1;
	}
	return 0;
}

static int
ctl_show(uint64_t id, struct buf *out, char *why, size_t whylen)
{
	struct qenv	 e;
	char		*text = NULL, w[QSTORE_WHY_MAX];
	size_t		 len;
	int		 rc;

	memset(&e, 0, sizeof(e));
	if (qstore_env_load(qrun_store(), id, &e, w, sizeof(w)) == -1) {
		qenv_free(&e);
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	rc = qenv_format(&e, &text, &len, w, sizeof(w));
	qenv_free(&e);
	if (rc == -1) {
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	rc = buf_append(out, text, len);
	free(text);
	if (rc == -1)
		(void)snprintf(why, whylen, "answer too long");
	return rc;
}

/* ctl_mark - hold or release: the flag on disk first, then the index */
static int
ctl_mark(struct qent *q, int hold, char *why, size_t whylen)
{
	struct qenv	 e;
	char		 w[QSTORE_WHY_MAX];
	int64_t		 now = (int64_t)time(NULL);
	int		 rc = 0;

	memset(&e, 0, sizeof(e));
	if (qstore_env_load(qrun_store(), q->id, &e, w, sizeof(w)) == -1)
		rc = -1;
	if (rc == 0) {
		e.flags = hold ? (e.flags | QF_HOLD) : (e.flags & ~QF_HOLD);
		if (!hold)
			e.next = now;
		rc = qstore_env_save(qrun_store(), &e, w, sizeof(w));
	}
	qenv_free(&e);
	if (rc == -1) {
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	q->flags = hold ? (q->flags | QF_HOLD) : (q->flags & ~QF_HOLD);
	if (!hold)
		q->next = now;
	qrun_requeue(q);
	log_info("queue %016" PRIx64 " %s by the operator", q->id,
	    hold ? "held" : "released");
	return 0;
}

static int
ctl_flush(uint64_t id, char *why, size_t whylen)
{
	struct qent	*q;

	if (id == 0) {
		qrun_flush();
		log_info("queue flush of every message by the operator");
		return 0;
	}
	if ((q = qrun_find(id)) == NULL) {
		(void)snprintf(why, whylen, BUSY_TEXT);
		return -1;
	}
	if (q->flags & QF_HOLD) {
		(void)snprintf(why, whylen, "message is held: release it");
		return -1;
	}
	q->next = (int64_t)time(NULL);
	qrun_requeue(q);
	log_info("queue %016" PRIx64 " flushed by the operator", q->id);
	return 0;
}

static int
ctl_run(void *arg, const struct qctl_req *req, struct buf *out, char *why,
    size_t whylen)
{
	struct qent	*q;
	char		 w[QSTORE_WHY_MAX];

	(void)arg;
	switch (req->cmd) {
	case QCTL_LIST:
		return ctl_list(out, why, whylen);
	case QCTL_SHOW:
		return ctl_show(req->id, out, why, whylen);
	case QCTL_FLUSH:
		return ctl_flush(req->id, why, whylen);
	default:
		break;
	}
	if ((q = qrun_find(req->id)) == NULL) {
		(void)snprintf(why, whylen, BUSY_TEXT);
		return -1;
	}
	if (req->cmd == QCTL_HOLD || req->cmd == QCTL_RELEASE)
		return ctl_mark(q, req->cmd == QCTL_HOLD, why, whylen);
	/* QCTL_DELETE: no bounce, the operator decided */
	if (qstore_remove(qrun_store(), q->id, w, sizeof(w)) == -1) {
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	log_info("queue %016" PRIx64 " deleted by the operator", q->id);
	qrun_removed();
	qrun_forget(q);
	return 0;
}

const struct qctl_ops qrun_ctl_ops = { ctl_run, NULL };
