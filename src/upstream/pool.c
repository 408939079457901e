/*
 * pool.c: idle upstream connections of one upstream runtime.
 *
 * Idle timeout: one libevent timer per idle connection on the pool's
 * event base (not a sweep), so a connection closes at its own deadline
 * and an idle pool does not wake the loop.  The idle list is ordered
 * oldest first; when full, the oldest is QUIT to make room (what
 * Postfix's cache does: the newest connection has the longest life left)
 * -- but not at once.  With more senders at once than max_idle, a
 * connection given back is wanted again within milliseconds, and closing
 * it meant opening another (TCP, a TLS handshake on both ends, EHLO) for
 * one message in twelve at 10 sessions and max_idle 4.  So the oldest is
 * marked surplus and its timer cut to the grace (surplus_ms); when that
 * ends it goes only if the pool is still over max_idle, else it lives
 * out its idle time.  At most POOL_SURPLUS_MAX idle past max_idle: the
 * number open never exceeds what was in use at once plus max_idle.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "upstream/pool.h"

struct pool_ent {
	struct pool_ent	*prev, *next;
	struct pool	*pool;
	void		*conn;
	unsigned	 messages;
	struct event	*timer;
	struct timeval	 deadline;	/* end of its idle life (monotonic) */
	int		 surplus;	/* its timer is the grace */
	char		 identity[POOL_IDENT_MAX];
};

#define POOL_SURPLUS_MAX	64	/* idle past max_idle, at most */
#define POOL_SURPLUS_MS		2000	/* default grace */

enum pool_state { POOL_ACTIVE, POOL_RETIRED, POOL_SHUT };

struct pool {
	struct event_base	*base;
	struct pool_limits	 lim;
	const struct pool_ops	*ops;
	void			*arg;
	enum pool_state		 state;
	struct pool_ent		*head, *tail;	/* oldest first */
	size_t			 nidle;
	unsigned		 opening;	/* pre-warm in flight */
	unsigned		 backoff;	/* seconds, 0 none */
	struct event		*warm_timer;
	struct pool_stats	 st;
};

static void	pool_ent_close(struct pool *, struct pool_ent *,
		    enum pool_close, int);
static void	pool_prewarm(struct pool *);
static void	pool_backoff(struct pool *);
static void	pool_make_room(struct pool *);
static void	pool_now(struct timeval *);

static void
pool_unlink(struct pool *p, struct pool_ent *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		p->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		p->tail = e->prev;
	e->prev = e->next = NULL;
	p->nidle--;
}

static void
pool_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pool_ent *e = arg;
	struct pool *p = e->pool;
	struct timeval now, left;

	if (e->surplus) {
		/* the grace is over: still too many? */
		e->surplus = 0;
		if (p->nidle > p->lim.max_idle) {
			pool_unlink(p, e);
			pool_ent_close(p, e, POOL_CLOSE_FULL, 1);
			return;
		}
		pool_now(&now);
		if (timercmp(&now, &e->deadline, <)) {
			timersub(&e->deadline, &now, &left);
			evtimer_add(e->timer, &left);
			return;
		}
	}
	pool_unlink(p, e);
	pool_ent_close(p, e, POOL_CLOSE_TIMEOUT, 1);
	/* it lived its whole idle life: the upstream keeps what we open */
	p->backoff = 0;
	pool_prewarm(p);
}

/* pool_now - monotonic, as libevent's timers are: a clock step moves neither */
static void
pool_now(struct timeval *tv)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	tv->tv_sec = ts.tv_sec;
	tv->tv_usec = ts.tv_nsec / 1000;
}

static void
pool_warm_cb(evutil_socket_t fd, short what, void *arg)
{
	pool_prewarm(arg);
}

struct pool *
pool_new(struct event_base *base, const struct pool_limits *lim,
    const struct pool_ops *ops, void *arg)
{
	struct pool *p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	p->lim = *lim;
	if (p->lim.backoff_min == 0)
		p->lim.backoff_min = 1;
	if (p->lim.backoff_max == 0)
		p->lim.backoff_max = 60;
	if (p->lim.backoff_max < p->lim.backoff_min)
		p->lim.backoff_max = p->lim.backoff_min;
	p->ops = ops;
	p->arg = arg;
	if ((p->warm_timer = evtimer_new(base, pool_warm_cb, p)) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

/* the entry is unlinked already; e is freed here */
static void
pool_ent_close(struct pool *p, struct pool_ent *e, enum pool_close why,
    int quit)
{
	void *conn = e->conn;

	if (e->timer != NULL)
		event_free(e->timer);
	free(e);
	p->st.closed[why]++;
	if (quit)
		p->ops->quit(conn, why, p->arg);
	else
		p->ops->drop(conn, why, p->arg);
	/* conn may be freed here */
}

void *
pool_get(struct pool *p, const char *identity, unsigned *messages)
{
	struct pool_ent *e;
	void *conn;

	if (p->state != POOL_ACTIVE || !p->lim.enabled)
		goto miss;
	/* newest first: it has the longest life left before idle_timeout */
	for (e = p->tail; e != NULL; e = e->prev) {
		if (strcmp(e->identity, identity) != 0)
			continue;
		pool_unlink(p, e);
		conn = e->conn;
		if (messages != NULL)
			*messages = e->messages;
		event_free(e->timer);
		free(e);
		p->st.hits++;
		p->backoff = 0;		/* it served: the upstream is fine */
		pool_prewarm(p);
		return conn;
	}
miss:
	p->st.misses++;
	if (messages != NULL)
		*messages = 0;
	return NULL;
}

/* keep conn idle; 1 kept, 0 closed */
static int
pool_keep(struct pool *p, void *conn, const char *identity,
    unsigned messages)
{
	struct pool_ent *e;
	struct timeval tv, now;
	size_t n;

	if (p->state == POOL_RETIRED) {
		p->st.closed[POOL_CLOSE_RETIRED]++;
		p->ops->quit(conn, POOL_CLOSE_RETIRED, p->arg);
		return 0;
	}
	if (p->state == POOL_SHUT) {
		p->st.closed[POOL_CLOSE_SHUTDOWN]++;
		p->ops->quit(conn, POOL_CLOSE_SHUTDOWN, p->arg);
		return 0;
	}
	if (!p->lim.enabled || p->lim.max_idle == 0) {
		p->st.closed[POOL_CLOSE_DISABLED]++;
		p->ops->quit(conn, POOL_CLOSE_DISABLED, p->arg);
		return 0;
	}
	if (p->lim.max_messages != 0 && messages >= p->lim.max_messages) {
		p->st.closed[POOL_CLOSE_MAXMSG]++;
		p->ops->quit(conn, POOL_CLOSE_MAXMSG, p->arg);
		return 0;
	}
	n = strlen(identity);
	if (n >= POOL_IDENT_MAX || (e = calloc(1, sizeof(*e))) == NULL) {
		p->st.closed[POOL_CLOSE_FULL]++;
		p->ops->quit(conn, POOL_CLOSE_FULL, p->arg);
		return 0;
	}
	if ((e->timer = evtimer_new(p->base, pool_idle_cb, e)) == NULL) {
		free(e);
		p->st.closed[POOL_CLOSE_FULL]++;
		p->ops->quit(conn, POOL_CLOSE_FULL, p->arg);
		return 0;
	}
	memcpy(e->identity, identity, n + 1);
	e->pool = p;
	e->conn = conn;
	e->messages = messages;
	pool_make_room(p);
	e->prev = p->tail;
	if (p->tail != NULL)
		p->tail->next = e;
	else
		p->head = e;
	p->tail = e;
	p->nidle++;
	tv.tv_sec = p->lim.idle_timeout;
	tv.tv_usec = 0;
	pool_now(&now);
	timeradd(&now, &tv, &e->deadline);
	evtimer_add(e->timer, &tv);
	return 1;
}

/*
 * pool_make_room - one more is about to be kept: past the hard bound the
 * oldest goes at once; at max_idle the oldest one not yet marked has
 * its timer cut to the grace (the header comment says why)
 */
static void
pool_make_room(struct pool *p)
{
	struct pool_ent	*old;
	struct timeval	 grace, now, left;
	unsigned	 ms;

	while (p->nidle >= p->lim.max_idle + POOL_SURPLUS_MAX &&
	    (old = p->head) != NULL) {
		pool_unlink(p, old);
		pool_ent_close(p, old, POOL_CLOSE_FULL, 1);
	}
	if (p->nidle < p->lim.max_idle)
		return;
	for (old = p->head; old != NULL && old->surplus; old = old->next)
		;
	if (old == NULL)
		return;
	ms = p->lim.surplus_ms != 0 ? p->lim.surplus_ms : POOL_SURPLUS_MS;
	grace.tv_sec = ms / 1000;
	grace.tv_usec = (ms % 1000) * 1000;
	pool_now(&now);
	timersub(&old->deadline, &now, &left);
	/* a deadline sooner than the grace stays as it is */
	if (timercmp(&left, &grace, <))
		return;
	old->surplus = 1;
	evtimer_add(old->timer, &grace);
}

int
pool_put(struct pool *p, void *conn, const char *identity,
    unsigned messages)
{
	int kept;

	if ((kept = pool_keep(p, conn, identity, messages)) != 0)
		p->st.kept++;
	pool_prewarm(p);
	return kept;
}

int
pool_remove(struct pool *p, void *conn)
{
	struct pool_ent *e;

	for (e = p->head; e != NULL; e = e->next) {
		if (e->conn != conn)
			continue;
		pool_unlink(p, e);
		pool_ent_close(p, e, POOL_CLOSE_DEAD, 0);
		/*
		 * Not re-opened at once: an upstream that drops (or 421s)
		 * each connection as soon as it is idle would otherwise get
		 * a new login as fast as handshakes go.
		 */
		if (p->ops->open != NULL && p->lim.min_idle > 0)
			pool_backoff(p);
		pool_prewarm(p);
		return 1;
	}
	return 0;
}

void
pool_opened(struct pool *p, void *conn, const char *identity)
{
	if (p->opening > 0)
		p->opening--;
	p->st.opened++;
	/* the back-off is reset by use (pool_get) or a whole idle life */
	if (pool_keep(p, conn, identity, 0))
		p->st.kept++;
	pool_prewarm(p);
}

void
pool_open_failed(struct pool *p)
{
	if (p->opening > 0)
		p->opening--;
	p->st.open_failed++;
	pool_backoff(p);
}

/* pool_backoff - the next pre-warm waits, longer each time in a row */
static void
pool_backoff(struct pool *p)
{
	struct timeval tv;

	if (p->state != POOL_ACTIVE)
		return;
	/* bounded back-off: a down upstream is not hammered */
	if (p->backoff == 0)
		p->backoff = p->lim.backoff_min;
	else if (p->backoff < p->lim.backoff_max / 2)
		p->backoff *= 2;
	else
		p->backoff = p->lim.backoff_max;
	tv.tv_sec = p->backoff;
	tv.tv_usec = 0;
	evtimer_add(p->warm_timer, &tv);
}

/* ask for idle + opening < min_idle; not while backing off */
static void
pool_prewarm(struct pool *p)
{
	if (p->state != POOL_ACTIVE || !p->lim.enabled ||
	    p->ops->open == NULL || p->lim.min_idle == 0)
		return;
	/* an opener may fail from inside open(): that starts the back-off */
	while (!evtimer_pending(p->warm_timer, NULL) &&
	    p->nidle + p->opening < p->lim.min_idle &&
	    p->nidle + p->opening < p->lim.max_idle) {
		p->opening++;
		if (p->ops->open(p, p->arg) != 0) {
			pool_open_failed(p);
			return;
		}
	}
}

void
pool_warm(struct pool *p)
{
	pool_prewarm(p);
}

static void
pool_close_all(struct pool *p, enum pool_close why, int quit)
{
	struct pool_ent *e;

	while ((e = p->head) != NULL) {
		pool_unlink(p, e);
		pool_ent_close(p, e, why, quit);
	}
}

void
pool_retire(struct pool *p)
{
	if (p->state != POOL_ACTIVE)
		return;
	p->state = POOL_RETIRED;
	evtimer_del(p->warm_timer);
	pool_close_all(p, POOL_CLOSE_RETIRED, 1);
}

void
pool_shutdown(struct pool *p)
{
	p->state = POOL_SHUT;
	evtimer_del(p->warm_timer);
	pool_close_all(p, POOL_CLOSE_SHUTDOWN, 1);
}

int
pool_closing(const struct pool *p, enum pool_close *why)
{
	if (p->state == POOL_ACTIVE)
		return 0;
	*why = p->state == POOL_RETIRED ? POOL_CLOSE_RETIRED :
	    POOL_CLOSE_SHUTDOWN;
	return 1;
}

void
pool_free(struct pool *p)
{
	if (p == NULL)
		return;
	pool_close_all(p, POOL_CLOSE_SHUTDOWN, 0);
	event_free(p->warm_timer);
	free(p);
}

size_t
pool_nidle(const struct pool *p)
{
	return p->nidle;
}

unsigned
pool_nopening(const struct pool *p)
{
	return p->opening;
}

const struct pool_stats *
pool_stats(const struct pool *p)
{
	return &p->st;
}

const char *
pool_close_name(enum pool_close why)
{
	static const char *const names[POOL_CLOSE_NREASONS] = {
		"max-messages", "full", "idle-timeout", "dead", "retired",
		"shutdown", "disabled",
	};

	return (unsigned)why < POOL_CLOSE_NREASONS ? names[why] : "?";
}
