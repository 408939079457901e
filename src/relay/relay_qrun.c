/*
 * relay_qrun.c - the queue runner (docs/queue.md, "Delivery"): an index
 * in memory of every queued message (built from the store at start,
 * grown by relay_queue.c at each commit), a ready list in arrival order
 * and a waiting list, a tick that moves what is due from one to the
 * other, and a pump that starts deliveries (relay_qjob.c), at most
 * queue_parallel at a time per upstream.  The store on disk is the
 * truth; the index only says what to try when.
 *
 * The control socket's commands (qctl.h) are answered here.
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "obs/metrics.h"
#include "queue/qctl.h"
#include "queue/qenv.h"
#include "queue/qstore.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* how often waiting messages are looked at (and the runner's clock) */
#define QRUN_TICK_SECONDS	1

struct qent {
	TAILQ_ENTRY(qent)	 entry;
	uint64_t		 id;
	int64_t			 arrival;
	int64_t			 next;
	unsigned long long	 size;
	unsigned		 flags;		/* QF_* */
	unsigned		 attempts;
	size_t			 pending;	/* recipients not done */
	int			 busy;		/* a delivery runs (on no list) */
	int			 ready;		/* on the ready list */
	char			*listener;
	char			*sender;
	char			 upname[CONF_NAME_MAX];	/* counted against */
};
TAILQ_HEAD(qlist, qent);

/* deliveries running per upstream name */
struct qslot {
	char		 name[CONF_NAME_MAX];
	unsigned	 n;
};

static struct {
	struct qstore		*qs;
	struct relay_env	*env;
	struct event_base	*base;
	struct qlist		 ready, waiting;
	struct event		*ev_tick, *ev_pump;
	struct qctl		*ctl;
	unsigned		 count;
	unsigned long long	 bytes;
	unsigned		 njobs;
	struct qslot		 slots[CONF_MAX_UPSTREAMS + 1];
	int			 draining;
} qr;

static void	qrun_kick(void);
static void	qent_wait(struct qent *);

struct qstore *
qrun_store(void)
{
	return qr.qs;
}

struct relay_env *
qrun_env(void)
{
	return qr.env;
}

const char *
qrun_room(unsigned long long size)
{
	const struct gw_conf	*c;

	if (qr.qs == NULL || qr.env == NULL)
		return "no queue";
	c = qr.env->conf;
	if (qr.count >= c->queue_max_messages)
		return "queue_max_messages reached";
	if (qr.bytes + size > c->queue_max_size)
		return "queue_max_size reached";
	return NULL;
}

static void
qent_free(struct qent *q)
{
	free(q->listener);
	free(q->sender);
	free(q);
}

/* qent_new - the index entry of e, on the waiting or the ready list */
static struct qent *
qent_new(const struct qenv *e, unsigned long long size)
{
	struct qent	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->listener = strdup(e->listener != NULL ? e->listener : "")) ==
	    NULL || (q->sender = strdup(e->sender != NULL ? e->sender : "")) ==
	    NULL) {
		if (q != NULL)
			qent_free(q);
		return NULL;
	}
	q->id = e->id;
	q->arrival = e->arrival;
	q->next = e->next;
	q->size = size;
	q->flags = e->flags;
	q->attempts = e->attempts;
	q->pending = qenv_pending(e);
	qent_wait(q);
	qr.count++;
	qr.bytes += size;
	return q;
}

/* qent_wait - onto the ready list if it is due now, else the waiting one */
static void
qent_wait(struct qent *q)
{
	q->ready = !(q->flags & QF_HOLD) && q->next <= (int64_t)time(NULL);
	TAILQ_INSERT_TAIL(q->ready ? &qr.ready : &qr.waiting, q, entry);
}

/* qent_unlist - off whichever list it is on */
static void
qent_unlist(struct qent *q)
{
	if (q->busy)
		return;
	TAILQ_REMOVE(q->ready ? &qr.ready : &qr.waiting, q, entry);
	q->ready = 0;
}

static void
qent_remove(struct qent *q)
{
	qent_unlist(q);
	qr.count--;
	qr.bytes -= q->size;
	qent_free(q);
}

static struct qent *
qent_find(uint64_t id)
{
	struct qent	*q;

	TAILQ_FOREACH(q, &qr.ready, entry)
		if (q->id == id)
			return q;
	TAILQ_FOREACH(q, &qr.waiting, entry)
		if (q->id == id)
			return q;
	return NULL;
}

void
qrun_add(const struct qenv *e)
{
	struct qent	*q;

	if ((q = qent_new(e, e->size)) == NULL) {
		/* on disk all the same: the next start picks it up */
		log_warnx("queue %016" PRIx64 ": out of memory, delivered "
		    "after the next restart", e->id);
		return;
	}
	qrun_kick();
}

/* slot - the running count of upstream name (a spare slot for "") */
static struct qslot *
slot(const char *name)
{
	size_t	 i, n = sizeof(qr.slots) / sizeof(qr.slots[0]);

	for (i = 0; i < n; i++)
		if (qr.slots[i].n > 0 && strcmp(qr.slots[i].name, name) == 0)
			return &qr.slots[i];
	for (i = 0; i < n; i++)
		if (qr.slots[i].n == 0) {
			(void)str_copy(qr.slots[i].name, name,
			    sizeof(qr.slots[i].name));
			return &qr.slots[i];
		}
	return NULL;
}

static void
job_done(void *arg, uint64_t id, const struct qjob_result *res)
{
	struct qent	*q = arg;
	struct qslot	*s = slot(q->upname);

	(void)id;
	if (s != NULL && s->n > 0)
		s->n--;
	qr.njobs--;
	q->busy = 0;
	if (res->removed) {
		qr.count--;
		qr.bytes -= q->size;
		qent_free(q);
	} else {
		q->next = res->next;
		q->pending = res->pending;
		q->attempts++;
		qent_wait(q);
	}
	qrun_kick();
}

/* start - a delivery of q, counted against its first upstream */
static int
start(struct qent *q)
{
	const char	*up;
	struct qslot	*s;

	up = qjob_first_upstream(qr.env, q->listener, q->sender);
	if ((s = slot(up != NULL ? up : "")) == NULL ||
	    s->n >= qr.env->conf->queue_parallel)
		return 0;
	TAILQ_REMOVE(&qr.ready, q, entry);
	q->ready = 0;
	q->busy = 1;
	(void)str_copy(q->upname, s->name, sizeof(q->upname));
	s->n++;
	qr.njobs++;
	(void)qjob_start(qr.env, q->id, job_done, q);
	return 1;
}

/* pump - start what is ready, in arrival order, while there is room */
static void
pump(evutil_socket_t fd, short what, void *arg)
{
	struct qent	*q, *next;
	unsigned	 full = 0;

	(void)fd; (void)what; (void)arg;
	if (qr.draining || qr.env == NULL)
		return;
	for (q = TAILQ_FIRST(&qr.ready); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (!start(q) && ++full > 2 * CONF_MAX_UPSTREAMS)
			break;	/* every upstream is busy: stop looking */
	}
}

static void
qrun_kick(void)
{
	const struct timeval	 now = { 0, 0 };

	if (qr.ev_pump != NULL)
		event_add(qr.ev_pump, &now);
}

/* tick - what has come due moves to the ready list */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct qent	*q, *next;
	int64_t		 now = (int64_t)time(NULL);
	int		 moved = 0;

	(void)fd; (void)what; (void)arg;
	for (q = TAILQ_FIRST(&qr.waiting); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if ((q->flags & QF_HOLD) || q->next > now)
			continue;
		TAILQ_REMOVE(&qr.waiting, q, entry);
		TAILQ_INSERT_TAIL(&qr.ready, q, entry);
		q->ready = 1;
		moved = 1;
	}
	if (moved || !TAILQ_EMPTY(&qr.ready))
		pump(-1, 0, NULL);
}

/* the store's envelopes at start, into the index */
static int
scan_one(void *arg, const struct qenv *e, unsigned long long size)
{
	(void)arg;
	if (qent_new(e, size) == NULL)
		return -1;
	return 0;
}

static void
scan_bad(void *arg, uint64_t id, const char *why)
{
	(void)arg;
	log_warnx("queue %016" PRIx64 ": moved aside to corrupt/: %s", id, why);
}

/* qrun_status - what q is doing now, for list */
static const char *
qrun_status(const struct qent *q, int64_t now)
{
	if (q->busy)
		return "active";
	if (q->flags & QF_HOLD)
		return "hold";
	return q->next <= now ? "ready" : "deferred";
}

static int
ctl_list_one(struct buf *out, const struct qent *q, int64_t now)
{
	char	 line[1024], vis[SMTP_PATH_MAX * 4 + 1];
	int	 n;

	(void)str_vis(vis, sizeof(vis), q->sender, strlen(q->sender));
	n = snprintf(line, sizeof(line), "%016" PRIx64 " %-8s size=%llu "
	    "age=%llds attempts=%u next=%llds rcpts=%zu from=<%s>%s\n", q->id,
	    qrun_status(q, now), q->size, (long long)(now - q->arrival),
	    q->attempts, (long long)(q->next > now ? q->next - now : 0),
	    q->pending, vis, (q->flags & QF_BOUNCE) ? " bounce" : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		return 0;
	return buf_append(out, line, (size_t)n);
}

/* the busy ones are on no list: the jobs' entries are found through ids */
static int
ctl_list(struct buf *out, char *why, size_t whylen)
{
	struct qent	*q;
	int64_t		 now = (int64_t)time(NULL);

	TAILQ_FOREACH(q, &qr.ready, entry)
		if (ctl_list_one(out, q, now) == -1)
			goto full;
	TAILQ_FOREACH(q, &qr.waiting, entry)
		if (ctl_list_one(out, q, now) == -1)
			goto full;
	if (qr.njobs > 0) {
		char	 line[64];
		int	 n = snprintf(line, sizeof(line), "(%u being "
		    "delivered now)\n", qr.njobs);

		if (buf_append(out, line, (size_t)n) == -1)
			goto full;
	}
	return 0;
full:
	(void)snprintf(why, whylen, "answer too long");
	return -1;
}

static int
ctl_show(uint64_t id, struct buf *out, char *why, size_t whylen)
{
	struct qenv	 e;
	char		*text = NULL, w[QSTORE_WHY_MAX];
	size_t		 len;
	int		 rc;

	memset(&e, 0, sizeof(e));
	if (qstore_env_load(qr.qs, id, &e, w, sizeof(w)) == -1) {
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
	int		 rc = 0;

	memset(&e, 0, sizeof(e));
	if (qstore_env_load(qr.qs, q->id, &e, w, sizeof(w)) == -1)
		rc = -1;
	if (rc == 0) {
		e.flags = hold ? (e.flags | QF_HOLD) : (e.flags & ~QF_HOLD);
		if (!hold)
			e.next = (int64_t)time(NULL);
		rc = qstore_env_save(qr.qs, &e, w, sizeof(w));
	}
	qenv_free(&e);
	if (rc == -1) {
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	q->flags = hold ? (q->flags | QF_HOLD) : (q->flags & ~QF_HOLD);
	if (!hold)
		q->next = (int64_t)time(NULL);
	if (hold && q->ready) {
		TAILQ_REMOVE(&qr.ready, q, entry);
		TAILQ_INSERT_TAIL(&qr.waiting, q, entry);
		q->ready = 0;
	}
	log_info("queue %016" PRIx64 " %s by the operator", q->id,
	    hold ? "held" : "released");
	return 0;
}

static int
ctl_flush(uint64_t id, char *why, size_t whylen)
{
	struct qent	*q;
	int64_t		 now = (int64_t)time(NULL);

	if (id != 0) {
		if ((q = qent_find(id)) == NULL) {
			(void)snprintf(why, whylen, "no such message, or it "
			    "is being delivered");
			return -1;
		}
		if (q->flags & QF_HOLD) {
			(void)snprintf(why, whylen, "message is held: release "
			    "it");
			return -1;
		}
		q->next = now;
	} else
		TAILQ_FOREACH(q, &qr.waiting, entry)
			q->next = now;
	log_info("queue flush %s by the operator", id ? "one" : "all");
	tick(-1, 0, NULL);
	return 0;
}

/* the commands of "smtpgate queue" (qctl.h) */
static int
ctl_run(void *arg, const struct qctl_req *req, struct buf *out, char *why,
    size_t whylen)
{
	struct qent	*q = NULL;
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
	if ((q = qent_find(req->id)) == NULL) {
		(void)snprintf(why, whylen, "no such message, or it is being "
		    "delivered (try again)");
		return -1;
	}
	if (req->cmd == QCTL_HOLD || req->cmd == QCTL_RELEASE)
		return ctl_mark(q, req->cmd == QCTL_HOLD, why, whylen);
	/* QCTL_DELETE: no bounce, the operator decided */
	if (qstore_remove(qr.qs, q->id, w, sizeof(w)) == -1) {
		(void)snprintf(why, whylen, "%s", w);
		return -1;
	}
	log_info("queue %016" PRIx64 " deleted by the operator", q->id);
	qent_remove(q);
	return 0;
}

static const struct qctl_ops ctl_ops = { ctl_run, NULL };

/*
 * relay_queue_start - open the store of env's queue_dir (if set), index
 * it, serve the control socket, start the tick.  After the privilege
 * drop, so that what it creates belongs to the gateway's user.
 */
int
relay_queue_start(struct relay_env *env, char *err, size_t errlen)
{
	const struct gw_conf	*c = env->conf;
	struct timeval		 tv = { QRUN_TICK_SECONDS, 0 };
	char			 why[QSTORE_WHY_MAX], path[PATH_MAX];
	unsigned		 removed = 0;
	int			 n;

	if (c->queue_dir[0] == '\0')
		return 0;
	TAILQ_INIT(&qr.ready);
	TAILQ_INIT(&qr.waiting);
	qr.base = env->base;
	if ((qr.qs = qstore_open(c->queue_dir, &removed, why,
	    sizeof(why))) == NULL) {
		(void)snprintf(err, errlen, "queue_dir %s: %s", c->queue_dir,
		    why);
		return -1;
	}
	if (removed > 0)
		log_info("queue: %u unfinished file(s) removed (never "
		    "acknowledged)", removed);
	if ((n = qstore_scan(qr.qs, scan_one, scan_bad, NULL, why,
	    sizeof(why))) == -1) {
		(void)snprintf(err, errlen, "queue_dir %s: %s", c->queue_dir,
		    why);
		return -1;
	}
	qr.env = env;
	env->refcnt++;
	if ((size_t)snprintf(path, sizeof(path), "%s/control", c->queue_dir) >=
	    sizeof(path)) {
		(void)snprintf(err, errlen, "queue_dir: too long a path");
		return -1;
	}
	if ((qr.ctl = qctl_listen(env->base, path, &ctl_ops, why,
	    sizeof(why))) == NULL) {
		(void)snprintf(err, errlen, "queue control socket %s: %s",
		    path, why);
		return -1;
	}
	qr.ev_pump = evtimer_new(env->base, pump, NULL);
	qr.ev_tick = event_new(env->base, -1, EV_PERSIST, tick, NULL);
	if (qr.ev_pump == NULL || qr.ev_tick == NULL ||
	    event_add(qr.ev_tick, &tv) == -1) {
		(void)snprintf(err, errlen, "queue: cannot set up its events");
		return -1;
	}
	log_info("queue: %s holds %d message(s), %llu octets", c->queue_dir,
	    n, qr.bytes);
	tick(-1, 0, NULL);
	return 0;
}

/*
 * relay_queue_check - may the running queue go on under nc (a reload)?
 * queue_dir cannot change without a restart: the store is open.
 */
int
relay_queue_check(const struct gw_conf *nc, char *err, size_t errlen)
{
	if (qr.qs == NULL && nc->queue_dir[0] == '\0')
		return 0;
	if (qr.qs != NULL && strcmp(qstore_dir(qr.qs), nc->queue_dir) == 0)
		return 0;
	(void)snprintf(err, errlen, "queue_dir cannot change on reload "
	    "(\"%s\" running, \"%s\" read): restart to change it",
	    qr.qs != NULL ? qstore_dir(qr.qs) : "", nc->queue_dir);
	return -1;
}

/* relay_queue_use - new deliveries start under env (a reload) */
void
relay_queue_use(struct relay_env *env)
{
	if (qr.qs == NULL)
		return;
	env->refcnt++;
	relay_env_unref(qr.env);
	qr.env = env;
	qrun_kick();
}

/* relay_queue_drain - no new delivery starts; those running finish */
void
relay_queue_drain(void)
{
	qr.draining = 1;
}

unsigned
relay_queue_active(void)
{
	return qr.njobs;
}

/* relay_queue_gauges - depth, octets and the oldest's age for /metrics */
void
relay_queue_gauges(unsigned *count, unsigned long long *bytes,
    int64_t *oldest)
{
	struct qent	*q;
	int64_t		 o = 0;

	TAILQ_FOREACH(q, &qr.ready, entry)
		if (o == 0 || q->arrival < o)
			o = q->arrival;
	TAILQ_FOREACH(q, &qr.waiting, entry)
		if (o == 0 || q->arrival < o)
			o = q->arrival;
	*count = qr.count;
	*bytes = qr.bytes;
	*oldest = o;
}

/* relay_queue_stop - at exit: the index and the store closed */
void
relay_queue_stop(void)
{
	struct qent	*q;

	if (qr.qs == NULL)
		return;
	qctl_free(qr.ctl);
	if (qr.ev_tick != NULL)
		event_free(qr.ev_tick);
	if (qr.ev_pump != NULL)
		event_free(qr.ev_pump);
	while ((q = TAILQ_FIRST(&qr.ready)) != NULL)
		qent_remove(q);
	while ((q = TAILQ_FIRST(&qr.waiting)) != NULL)
		qent_remove(q);
	qstore_close(qr.qs);
	relay_env_unref(qr.env);
	memset(&qr, 0, sizeof(qr));
}
