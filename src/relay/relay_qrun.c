/*
 * relay_qrun.c - the queue runner (docs/queue.md, "Delivery"): an index
 * in memory of every queued message (built from the store at start,
 * grown by relay_queue.c at each commit) and the deliveries it starts
 * (relay_qjob.c), at most queue_parallel at a time per upstream.  The
 * store on disk is the truth; the index only says what to try when.
 *
 * Each message is on one list: waiting (not due, or held), the ready
 * list of the upstream its delivery would start with (a slot, in arrival
 * order), or busy (a delivery runs).  A one-second tick moves what has
 * come due from waiting to its slot; the pump starts deliveries from
 * every slot that has room, so that one upstream's backlog never holds
 * up another's mail.  The control socket's commands are relay_qctl.c.
 */
#include <errno.h>
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
#include "queue/qwork.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "util/log.h"
#include "util/str.h"

/* how often waiting messages are looked at */
#define QRUN_TICK_SECONDS	1
/*
 * commits at once on worker threads: fsyncs of different messages
 * overlap on the disk, and the loop serves everyone meanwhile
 */
#define QRUN_COMMIT_THREADS	4
#define QRUN_COMMIT_MAX		1024
/*
 * how long a removal may wait for the directory fsync that makes it
 * durable: the removals of that time share one fsync, and a power loss
 * within it may deliver those messages again (docs/queue.md)
 */
#define QRUN_SYNC_MSEC		100
/*
 * files no spare took, unlinked at most this many per job on the trash
 * thread (qstore_trim): a stop waits for the job running
 */
#define QRUN_TRIM_BATCH		64
/*
 * the trash's octets at most: delivered mail still on the disk, on top
 * of the queue's own queue_max_size
 */
#define QRUN_TRASH_SHARE(max)	((max) / 4)
/* slots: every upstream, and "" for messages with no upstream to try */
#define QRUN_SLOTS		(CONF_MAX_UPSTREAMS + 1)

TAILQ_HEAD(qlist, qent);

/* one upstream's ready messages and deliveries running */
struct qslot {
	char		 name[CONF_NAME_MAX];
	unsigned	 n;		/* deliveries running */
	struct qlist	 ready;
	int		 used;
};

static struct {
	struct qstore		*qs;
	struct relay_env	*env;
	struct qlist		 waiting, busy;
	struct qslot		 slots[QRUN_SLOTS];
	struct event		*ev_tick, *ev_pump;
	struct event		*ev_sync;	/* removals to make durable */
	struct qctl		*ctl;
	struct qwork		*work;		/* commits */
	struct qwork		*trim;		/* the trash's unlinks */
	unsigned		 count;
	unsigned long long	 bytes;
	unsigned		 njobs;
	int			 draining;
	int			 stopping;	/* relay_queue_stop */
	int			 syncing;	/* sync_run on a worker */
	int			 trimming;	/* trim_run on its thread */
	unsigned		 nremoved;	/* since the last sync began */
} qr;

static void	qrun_kick(void);
static void	sync_done(void *, int);
static void	trim_kick(void);

struct qstore *
qrun_store(void)
{
	return qr.qs;
}

int
qrun_submit(const struct qwork_job *job)
{
	if (qr.work == NULL || qr.stopping)
		return -1;
	return qwork_submit(qr.work, job);
}

unsigned
qrun_njobs(void)
{
	return qr.njobs;
}

/* a removals' fsync on a worker: how many it covers, why it failed */
struct qsync {
	unsigned	n;
	char		why[QSTORE_WHY_MAX];
};

/* sync_run - on a worker: the removals so far made durable */
static int
sync_run(void *arg)
{
	struct qsync	*y = arg;

	return qstore_sync(qr.qs, y->why, sizeof(y->why));
}

/* sync_log - what a removals' fsync did (rc of qstore_sync) */
static void
sync_log(unsigned n, int rc, const char *why)
{
	if (rc == -1)
		log_warnx("queue: %u removal(s) not made durable: %s", n, why);
	else if (n > 0)
		log_debug("queue: %u removal(s) %s", n, rc == 1 ?
		    "made durable (one directory fsync)" :
		    "already durable (a commit's directory fsync)");
}

/* sync_arm - the removals' fsync within QRUN_SYNC_MSEC, unless planned */
static void
sync_arm(void)
{
	const struct timeval	tv = { 0, QRUN_SYNC_MSEC * 1000 };

	if (qr.ev_sync == NULL || qr.stopping || qr.syncing ||
	    evtimer_pending(qr.ev_sync, NULL))
		return;
	if (evtimer_add(qr.ev_sync, &tv) == -1)
		log_warnx("queue: cannot schedule the removals' fsync");
}

/* sync_fire - QRUN_SYNC_MSEC after a removal: its fsync, off the loop */
static void
sync_fire(evutil_socket_t fd, short what, void *arg)
{
	struct qwork_job	 w;
	struct qsync		*y;

	(void)fd; (void)what; (void)arg;
	if (qr.syncing || qr.stopping)
		return;
	if ((y = calloc(1, sizeof(*y))) == NULL)
		fatalx("queue: out of memory");
	y->n = qr.nremoved;
	qr.nremoved = 0;
	w.run = sync_run;
	w.done = sync_done;
	w.arg = y;
	qr.syncing = 1;
	if (qrun_submit(&w) == -1)
		sync_done(y, sync_run(y));	/* no room: here */
}

static void
sync_done(void *arg, int rc)
{
	struct qsync	*y = arg;

	qr.syncing = 0;
	sync_log(y->n, rc, y->why);
	if (rc == -1)
		qr.nremoved += y->n;	/* the tick tries again */
	free(y);
	/* removals made, or counted, while it ran: their own fsync */
	if (rc != -1 && (qstore_unsynced(qr.qs) || qr.nremoved > 0))
		sync_arm();
	trim_kick();
}

/* a trim on the trash thread: why it failed */
struct qtrim {
	char	why[QSTORE_WHY_MAX];
};

/* trim_run - on the trash thread: a batch of the trash unlinked */
static int
trim_run(void *arg)
{
	struct qtrim	*t = arg;

	return qstore_trim(qr.qs, QRUN_TRIM_BATCH, t->why, sizeof(t->why));
}

static void
trim_done(void *arg, int rc)
{
	struct qtrim	*t = arg;

	qr.trimming = 0;
	if (rc == -1)
		log_warnx("queue: %s (removed at the next start)", t->why);
	else if (rc > 0)
		log_debug("queue: %d file(s) of the trash unlinked", rc);
	free(t);
	/*
	 * more came meanwhile, or the batch was full: again (after a
	 * failure, at the next removal or tick)
	 */
	if (rc != -1)
		trim_kick();
}

/*
 * trim_kick - the trash (files of removed messages no spare took) to be
 * unlinked on a thread of its own: an unlink can wait for the disk
 * (qstore_remove.c, qs_trash), and no delivery or commit should
 */
static void
trim_kick(void)
{
	struct qwork_job	 w;
	struct qtrim		*t;

	if (qr.trim == NULL || qr.stopping || qr.trimming ||
	    qstore_trash(qr.qs) == 0)
		return;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		fatalx("queue: out of memory");
	w.run = trim_run;
	w.done = trim_done;
	w.arg = t;
	if (qwork_submit(qr.trim, &w) == -1) {
		free(t);
		return;
	}
	qr.trimming = 1;
}

void
qrun_removed(void)
{
	qr.nremoved++;
	sync_arm();
	trim_kick();
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

/* slot - the slot of upstream name, made if new; NULL if all are used */
static struct qslot *
slot(const char *name)
{
	struct qslot	*s, *fresh = NULL;
	size_t		 i;

	for (i = 0; i < QRUN_SLOTS; i++) {
		s = &qr.slots[i];
		if (s->used && strcmp(s->name, name) == 0)
			return s;
		if (!s->used && fresh == NULL)
			fresh = s;
	}
	if (fresh != NULL) {
		(void)str_copy(fresh->name, name, sizeof(fresh->name));
		TAILQ_INIT(&fresh->ready);
		fresh->n = 0;
		fresh->used = 1;
	}
	return fresh;
}

/* slot_tidy - a slot with nothing ready and nothing running is free */
static void
slot_tidy(struct qslot *s)
{
	if (s->n == 0 && TAILQ_EMPTY(&s->ready))
		s->used = 0;
}

static void
qent_free(struct qent *q)
{
	free(q->listener);
	free(q->sender);
	free(q->route);
	free(q);
}

/* qent_unlist - off whichever list it is on (not busy) */
static void
qent_unlist(struct qent *q)
{
	switch (q->where) {
	case QE_READY:
		TAILQ_REMOVE(&q->slot->ready, q, entry);
		slot_tidy(q->slot);
		q->slot = NULL;
		break;
	case QE_WAITING:
		TAILQ_REMOVE(&qr.waiting, q, entry);
		break;
	case QE_BUSY:
		fatalx("queue: a busy message taken off its list");
	}
}

/*
 * qent_place - onto the ready list of its upstream if it is due now (the
 * upstream chosen under the configuration in use now), else waiting
 */
static void
qent_place(struct qent *q)
{
	const char	*up;

	if (!(q->flags & QF_HOLD) && q->next <= (int64_t)time(NULL)) {
		up = qjob_first_upstream(qr.env, q->listener, q->route != NULL ?
		    q->route : q->sender);
		if ((q->slot = slot(up != NULL ? up : "")) != NULL) {
			q->where = QE_READY;
			TAILQ_INSERT_TAIL(&q->slot->ready, q, entry);
			return;
		}
	}
	q->where = QE_WAITING;
	TAILQ_INSERT_TAIL(&qr.waiting, q, entry);
}

/* qent_new - the index entry of e */
static struct qent *
qent_new(const struct qenv *e, unsigned long long size)
{
	struct qent	*q;

	if ((q = calloc(1, sizeof(*q))) == NULL ||
	    (q->listener = strdup(e->listener != NULL ? e->listener : "")) ==
	    NULL || (q->sender = strdup(e->sender != NULL ? e->sender : "")) ==
	    NULL || (e->route != NULL && (q->route = strdup(e->route)) ==
	    NULL)) {
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
	qent_place(q);
	qr.count++;
	qr.bytes += size;
	return q;
}

void
qrun_each(void (*fn)(void *, const struct qent *), void *arg)
{
	struct qent	*q;
	size_t		 i;

	TAILQ_FOREACH(q, &qr.busy, entry)
		fn(arg, q);
	for (i = 0; i < QRUN_SLOTS; i++)
		if (qr.slots[i].used)
			TAILQ_FOREACH(q, &qr.slots[i].ready, entry)
				fn(arg, q);
	TAILQ_FOREACH(q, &qr.waiting, entry)
		fn(arg, q);
}

struct qent *
qrun_find(uint64_t id)
{
	struct qent	*q;
	size_t		 i;

	for (i = 0; i < QRUN_SLOTS; i++)
		if (qr.slots[i].used)
			TAILQ_FOREACH(q, &qr.slots[i].ready, entry)
				if (q->id == id)
					return q;
	TAILQ_FOREACH(q, &qr.waiting, entry)
		if (q->id == id)
			return q;
	return NULL;
}

void
qrun_requeue(struct qent *q)
{
	qent_unlist(q);
	qent_place(q);
	qrun_kick();
}

void
qrun_forget(struct qent *q)
{
	qent_unlist(q);
	qr.count--;
	qr.bytes -= q->size;
	qent_free(q);
}

void
qrun_flush(void)
{
	struct qent	*q, *next;
	int64_t		 now = (int64_t)time(NULL);

	for (q = TAILQ_FIRST(&qr.waiting); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if (q->flags & QF_HOLD)
			continue;
		q->next = now;
		qrun_requeue(q);
	}
}

void
qrun_add(const struct qenv *e)
{
	if (qent_new(e, e->size) == NULL) {
		/* on disk all the same: the next start picks it up */
		log_warnx("queue %016" PRIx64 ": out of memory, delivered "
		    "after the next restart", e->id);
		return;
	}
	qrun_kick();
}

static void
job_done(void *arg, uint64_t id, const struct qjob_result *res)
{
	struct qent	*q = arg;
	struct qslot	*s = q->slot;

	(void)id;
	TAILQ_REMOVE(&qr.busy, q, entry);
	q->job = NULL;
	q->slot = NULL;
	s->n--;
	slot_tidy(s);
	qr.njobs--;
	if (res->removed) {
		qr.count--;
		qr.bytes -= q->size;
		qent_free(q);
	} else {
		q->next = res->next;
		q->pending = res->pending;
		q->attempts++;
		qent_place(q);
	}
	qrun_kick();
}

/* start - a delivery of q, the head of slot s's ready list */
static void
start(struct qslot *s, struct qent *q)
{
	TAILQ_REMOVE(&s->ready, q, entry);
	q->where = QE_BUSY;
	TAILQ_INSERT_TAIL(&qr.busy, q, entry);
	s->n++;
	qr.njobs++;
	q->job = qjob_start(qr.env, q->id, job_done, q);
}

/* pump - from every slot with room, its oldest ready messages */
static void
pump(evutil_socket_t fd, short what, void *arg)
{
	struct qslot	*s;
	struct qent	*q;
	size_t		 i;

	(void)fd; (void)what; (void)arg;
	if (qr.draining || qr.env == NULL)
		return;
	for (i = 0; i < QRUN_SLOTS; i++) {
		s = &qr.slots[i];
		while (s->used && s->n < qr.env->conf->queue_parallel &&
		    (q = TAILQ_FIRST(&s->ready)) != NULL)
			start(s, q);
	}
}

static void
qrun_kick(void)
{
	const struct timeval	 now = { 0, 0 };

	if (qr.ev_pump != NULL)
		event_add(qr.ev_pump, &now);
}

/* tick - what has come due moves to its upstream's ready list */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	struct qent	*q, *next;
	int64_t		 now = (int64_t)time(NULL);

	(void)fd; (void)what; (void)arg;
	for (q = TAILQ_FIRST(&qr.waiting); q != NULL; q = next) {
		next = TAILQ_NEXT(q, entry);
		if ((q->flags & QF_HOLD) || q->next > now)
			continue;
		TAILQ_REMOVE(&qr.waiting, q, entry);
		qent_place(q);
	}
	if (qstore_unsynced(qr.qs))
		sync_arm();
	/* trash a removal made without a kick (an envelope's rewrite) */
	trim_kick();
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
	TAILQ_INIT(&qr.waiting);
	TAILQ_INIT(&qr.busy);
	qr.env = env;
	env->refcnt++;
	if ((qr.qs = qstore_open(c->queue_dir, &removed, why,
	    sizeof(why))) == NULL) {
		(void)snprintf(err, errlen, "queue_dir %s: %s", c->queue_dir,
		    why);
		return -1;
	}
	if (removed > 0)
		log_info("queue: %u unfinished file(s) removed (never "
		    "acknowledged, or a removal cut short)", removed);
	qstore_trash_limit(qr.qs, QRUN_TRASH_SHARE(c->queue_max_size));
	if ((n = qstore_scan(qr.qs, scan_one, scan_bad, NULL, why,
	    sizeof(why))) == -1) {
		(void)snprintf(err, errlen, "queue_dir %s: %s", c->queue_dir,
		    why);
		return -1;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/control", c->queue_dir) >=
	    sizeof(path)) {
		(void)snprintf(err, errlen, "queue_dir: too long a path");
		return -1;
	}
	if ((qr.ctl = qctl_listen(env->base, path, &qrun_ctl_ops, why,
	    sizeof(why))) == NULL) {
		(void)snprintf(err, errlen, "queue control socket %s: %s",
		    path, why);
		return -1;
	}
	if ((qr.work = qwork_new(env->base, QRUN_COMMIT_THREADS,
	    QRUN_COMMIT_MAX)) == NULL) {
		(void)snprintf(err, errlen, "queue: cannot start its threads: "
		    "%s", strerror(errno));
		return -1;
	}
	if ((qr.trim = qwork_new(env->base, 1, 1)) == NULL) {
		(void)snprintf(err, errlen, "queue: cannot start its trash "
		    "thread: %s", strerror(errno));
		return -1;
	}
	qr.ev_pump = evtimer_new(env->base, pump, NULL);
	qr.ev_sync = evtimer_new(env->base, sync_fire, NULL);
	qr.ev_tick = event_new(env->base, -1, EV_PERSIST, tick, NULL);
	if (qr.ev_pump == NULL || qr.ev_sync == NULL || qr.ev_tick == NULL ||
	    event_add(qr.ev_tick, &tv) == -1) {
		(void)snprintf(err, errlen, "queue: cannot set up its events");
		return -1;
	}
	log_info("queue: %s holds %d message(s), %llu octets", c->queue_dir,
	    n, qr.bytes);
	qrun_kick();
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

/*
 * relay_queue_use - new deliveries start under env (a reload): the ready
 * lists are made again, since routes and upstreams may have changed
 */
void
relay_queue_use(struct relay_env *env)
{
	struct qent	*q;
	size_t		 i;

	if (qr.qs == NULL)
		return;
	env->refcnt++;
	relay_env_unref(qr.env);
	qr.env = env;
	qstore_trash_limit(qr.qs, QRUN_TRASH_SHARE(env->conf->queue_max_size));
	for (i = 0; i < QRUN_SLOTS; i++)
		while (qr.slots[i].used &&
		    (q = TAILQ_FIRST(&qr.slots[i].ready)) != NULL) {
			qent_unlist(q);
			q->where = QE_WAITING;
			TAILQ_INSERT_TAIL(&qr.waiting, q, entry);
		}
	tick(-1, 0, NULL);
}

/* relay_queue_drain - no new delivery starts; those running finish */
void
relay_queue_drain(void)
{
	qr.draining = 1;
}

/* deliveries running and messages being stored */
unsigned
relay_queue_active(void)
{
	return qr.njobs + (qr.work != NULL ? qwork_inflight(qr.work) : 0);
}

static void
oldest(void *arg, const struct qent *q)
{
	int64_t	*o = arg;

	if (*o == 0 || q->arrival < *o)
		*o = q->arrival;
}

/* relay_queue_gauges - depth, octets and the oldest's age for /metrics */
void
relay_queue_gauges(unsigned *count, unsigned long long *bytes,
    int64_t *o)
{
	*o = 0;
	qrun_each(oldest, o);
	*count = qr.count;
	*bytes = qr.bytes;
}

/*
 * relay_queue_stop - at exit: deliveries still running (the drain's time
 * ran out) are cut, as by a crash (tried again after the restart), the
 * index freed and the store closed
 */
void
relay_queue_stop(void)
{
	struct qent	*q;
	char		 why[QSTORE_WHY_MAX];
	size_t		 i;

	if (qr.qs == NULL)
		return;
	qctl_free(qr.ctl);
	/* the disk work still running finishes first, and is told */
	qr.stopping = 1;
	qwork_free(qr.work);
	qr.work = NULL;
	/* a trim running finishes; the rest of the trash, at the next start */
	qwork_free(qr.trim);
	qr.trim = NULL;
	/* and the last removals are made durable before the exit */
	sync_log(qr.nremoved, qstore_sync(qr.qs, why, sizeof(why)), why);
	if (qr.ev_tick != NULL)
		event_free(qr.ev_tick);
	if (qr.ev_pump != NULL)
		event_free(qr.ev_pump);
	if (qr.ev_sync != NULL)
		event_free(qr.ev_sync);
	while ((q = TAILQ_FIRST(&qr.busy)) != NULL) {
		TAILQ_REMOVE(&qr.busy, q, entry);
		if (q->job != NULL)
			qjob_cancel(q->job);
		qent_free(q);
	}
	for (i = 0; i < QRUN_SLOTS; i++)
		while (qr.slots[i].used &&
		    (q = TAILQ_FIRST(&qr.slots[i].ready)) != NULL)
			qrun_forget(q);
	while ((q = TAILQ_FIRST(&qr.waiting)) != NULL)
		qrun_forget(q);
	qstore_close(qr.qs);
	relay_env_unref(qr.env);
	memset(&qr, 0, sizeof(qr));
}
