/*
 * qwork - a fixed pool of threads for the queue's blocking file work
 * (see qwork.h).  Jobs go from todo to a worker to finished; a pipe tells
 * the loop, which calls each finished job's done.
 */
#include <sys/queue.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "queue/qwork.h"

struct wjob {
	TAILQ_ENTRY(wjob)	 entry;
	struct qwork_job	 job;
	int			 rc;
};
TAILQ_HEAD(wjobq, wjob);

struct qwork {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct wjobq		 todo, finished;
	unsigned		 inflight, qmax;
	int			 stop;
	pthread_t		 thr[QWORK_THREADS_MAX];
	unsigned		 nthr;
	int			 pipe[2];	/* workers -> loop */
	struct event		*ev;
};

static void *
worker(void *arg)
{
	struct qwork	*w = arg;
	struct wjob	*j;
	char		 c = 0;

	(void)pthread_mutex_lock(&w->mtx);
	for (;;) {
		while (!w->stop && TAILQ_EMPTY(&w->todo))
			(void)pthread_cond_wait(&w->cond, &w->mtx);
		if ((j = TAILQ_FIRST(&w->todo)) == NULL)
			break;		/* stopping, nothing left to do */
		TAILQ_REMOVE(&w->todo, j, entry);
		(void)pthread_mutex_unlock(&w->mtx);
		j->rc = j->job.run(j->job.arg);
		(void)pthread_mutex_lock(&w->mtx);
		TAILQ_INSERT_TAIL(&w->finished, j, entry);
		/* a full pipe already holds a wake-up: the loop takes all */
		if (write(w->pipe[1], &c, 1) == -1 && errno != EAGAIN)
			c = 0;
	}
	(void)pthread_mutex_unlock(&w->mtx);
	return NULL;
}

/* on the loop: the finished jobs' done, outside the lock */
static void
finished_cb(evutil_socket_t fd, short what, void *arg)
{
	struct qwork	*w = arg;
	struct wjobq	 q;
	struct wjob	*j;
	char		 buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	TAILQ_INIT(&q);
	(void)pthread_mutex_lock(&w->mtx);
	TAILQ_CONCAT(&q, &w->finished, entry);
	(void)pthread_mutex_unlock(&w->mtx);
	while ((j = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, j, entry);
		w->inflight--;
		j->job.done(j->job.arg, j->rc);
		free(j);
	}
}

static void
release(struct qwork *w)
{
	if (w->ev != NULL)
		event_free(w->ev);
	if (w->pipe[0] != -1)
		(void)close(w->pipe[0]);
	if (w->pipe[1] != -1)
		(void)close(w->pipe[1]);
	(void)pthread_cond_destroy(&w->cond);
	(void)pthread_mutex_destroy(&w->mtx);
	free(w);
}

/* join - stop the workers once todo is empty, and wait for them */
static void
join(struct qwork *w)
{
	unsigned	 i;

	(void)pthread_mutex_lock(&w->mtx);
	w->stop = 1;
	(void)pthread_cond_broadcast(&w->cond);
	(void)pthread_mutex_unlock(&w->mtx);
	for (i = 0; i < w->nthr; i++)
		(void)pthread_join(w->thr[i], NULL);
	w->nthr = 0;
}

struct qwork *
qwork_new(struct event_base *base, unsigned nthreads, unsigned qmax)
{
	struct qwork	*w;
	sigset_t	 all, old;
	int		 e = 0;

	if (nthreads == 0 || nthreads > QWORK_THREADS_MAX || qmax == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	TAILQ_INIT(&w->todo);
	TAILQ_INIT(&w->finished);
	w->qmax = qmax;
	w->pipe[0] = w->pipe[1] = -1;
	if (pthread_mutex_init(&w->mtx, NULL) != 0 ||
	    pthread_cond_init(&w->cond, NULL) != 0) {
		free(w);
		errno = ENOMEM;
		return NULL;
	}
	if (pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (w->ev = event_new(base, w->pipe[0], EV_READ | EV_PERSIST,
	    finished_cb, w)) == NULL || event_add(w->ev, NULL) == -1) {
		e = errno != 0 ? errno : ENOMEM;
		release(w);
		errno = e;
		return NULL;
	}
	/* the workers block every signal: the loop takes them */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	for (w->nthr = 0; w->nthr < nthreads; w->nthr++)
		if ((e = pthread_create(&w->thr[w->nthr], NULL, worker, w)) !=
		    0)
			break;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (w->nthr == 0) {
		release(w);
		errno = e;
		return NULL;
	}
	return w;
}

int
qwork_submit(struct qwork *w, const struct qwork_job *job)
{
	struct wjob	*j;

	if (w->inflight >= w->qmax || (j = calloc(1, sizeof(*j))) == NULL)
		return -1;
	j->job = *job;
	w->inflight++;
	(void)pthread_mutex_lock(&w->mtx);
	TAILQ_INSERT_TAIL(&w->todo, j, entry);
	(void)pthread_cond_signal(&w->cond);
	(void)pthread_mutex_unlock(&w->mtx);
	return 0;
}

unsigned
qwork_inflight(const struct qwork *w)
{
	return w->inflight;
}

void
qwork_free(struct qwork *w)
{
	struct wjob	*j;

	if (w == NULL)
		return;
	join(w);	/* every queued job runs first: its files are done */
	while ((j = TAILQ_FIRST(&w->finished)) != NULL) {
		TAILQ_REMOVE(&w->finished, j, entry);
		w->inflight--;
		j->job.done(j->job.arg, j->rc);
		free(j);
	}
	release(w);
}
