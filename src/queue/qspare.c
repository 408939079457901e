/*
 * qspare - the list of spare files (qspare.h): per kind a ring in the
 * order the spares were put, each with the fsync ticket it waits for.
 * Tickets grow with the puts, so only the oldest need be looked at.
 *
 * Tickets: begun counts the fsyncs started, durable is the highest
 * ticket that ended well.  A spare put while begun was b needs a fsync
 * numbered b + 1 or later: that one started after its rename.  fsyncs
 * may end out of order; durable = the highest one ended is still right,
 * since a fsync covers every rename done before it started.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "queue/qspare.h"

struct ring {
	uint64_t	seq[QSPARE_MAX];
	uint64_t	need[QSPARE_MAX];	/* the ticket it waits for */
	unsigned	head, n;
};

struct qspare {
	pthread_mutex_t	 mtx;
	struct ring	 ring[QSPARE_KINDS];
	uint64_t	 next;		/* the last seq handed out */
	uint64_t	 begun, durable;
	uint64_t	 dirty;		/* the fsync that covers the removals */
	unsigned	 max;
};

struct qspare *
qspare_new(unsigned max)
{
	struct qspare	*sp;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	if (pthread_mutex_init(&sp->mtx, NULL) != 0) {
		free(sp);
		errno = ENOMEM;
		return NULL;
	}
	sp->max = max > QSPARE_MAX ? QSPARE_MAX : max;
	return sp;
}

void
qspare_free(struct qspare *sp)
{
	if (sp == NULL)
		return;
	(void)pthread_mutex_destroy(&sp->mtx);
	free(sp);
}

void
qspare_set_max(struct qspare *sp, unsigned max)
{
	(void)pthread_mutex_lock(&sp->mtx);
	sp->max = max > QSPARE_MAX ? QSPARE_MAX : max;
	(void)pthread_mutex_unlock(&sp->mtx);
}

uint64_t
qspare_seq(struct qspare *sp, enum qspare_kind k)
{
	uint64_t	seq = 0;

	(void)pthread_mutex_lock(&sp->mtx);
	if (sp->ring[k].n < sp->max)
		seq = ++sp->next;
	(void)pthread_mutex_unlock(&sp->mtx);
	return seq;
}

int
qspare_put(struct qspare *sp, enum qspare_kind k, uint64_t seq)
{
	struct ring	*r = &sp->ring[k];
	unsigned	 i;
	int		 rc = -1;

	(void)pthread_mutex_lock(&sp->mtx);
	if (r->n < sp->max) {
		i = (r->head + r->n) % QSPARE_MAX;
		r->seq[i] = seq;
		r->need[i] = sp->begun + 1;
		r->n++;
		rc = 0;
	}
	(void)pthread_mutex_unlock(&sp->mtx);
	return rc;
}

int
qspare_take(struct qspare *sp, enum qspare_kind k, uint64_t *seq)
{
	struct ring	*r = &sp->ring[k];
	int		 rc = -1;

	(void)pthread_mutex_lock(&sp->mtx);
	if (r->n > 0 && r->need[r->head] <= sp->durable) {
		*seq = r->seq[r->head];
		r->head = (r->head + 1) % QSPARE_MAX;
		r->n--;
		rc = 0;
	}
	(void)pthread_mutex_unlock(&sp->mtx);
	return rc;
}

uint64_t
qspare_sync_begin(struct qspare *sp)
{
	uint64_t	t;

	(void)pthread_mutex_lock(&sp->mtx);
	t = ++sp->begun;
	(void)pthread_mutex_unlock(&sp->mtx);
	return t;
}

void
qspare_sync_end(struct qspare *sp, uint64_t ticket)
{
	(void)pthread_mutex_lock(&sp->mtx);
	if (ticket > sp->durable)
		sp->durable = ticket;
	(void)pthread_mutex_unlock(&sp->mtx);
}

void
qspare_dirty(struct qspare *sp)
{
	(void)pthread_mutex_lock(&sp->mtx);
	sp->dirty = sp->begun + 1;
	(void)pthread_mutex_unlock(&sp->mtx);
}

int
qspare_unsynced(struct qspare *sp)
{
	int	rc;

	(void)pthread_mutex_lock(&sp->mtx);
	rc = sp->dirty > sp->durable;
	(void)pthread_mutex_unlock(&sp->mtx);
	return rc;
}

unsigned
qspare_count(struct qspare *sp, enum qspare_kind k, unsigned *ready)
{
	struct ring	*r = &sp->ring[k];
	unsigned	 i, n, ok = 0;

	(void)pthread_mutex_lock(&sp->mtx);
	n = r->n;
	for (i = 0; i < n; i++)
		ok += r->need[(r->head + i) % QSPARE_MAX] <= sp->durable;
	(void)pthread_mutex_unlock(&sp->mtx);
	if (ready != NULL)
		*ready = ok;
	return n;
}
