/*
 * hashpool - password hashing off the event loop (see hashpool.h).
 *
 * Why threads and not a helper process: the job is one library call on
 * two short strings, the table is already in memory, and a process would
 * need the secrets sent over a socket.  Why a pipe and not event_active()
 * from the worker: libevent here is not built for cross-thread use
 * (no evthread_use_pthreads()), and a pipe byte is all the loop needs to
 * know that results are waiting.  Workers block every signal, so
 * SIGTERM/SIGHUP keep reaching the loop thread.
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

#include "auth/hashpool.h"
#include "auth/users.h"

struct job {
	TAILQ_ENTRY(job)	 entry;
	uint64_t		 id;
	int			 known;
	int			 ok;
	char			 hash[USERS_HASH_MAX + 1];
	char			 pass[HASHPOOL_PASS_MAX + 1];
};

TAILQ_HEAD(jobq, job);

struct hashpool {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cond;
	struct jobq		 todo;
	struct jobq		 done;
	unsigned		 inflight;	/* todo + running + done */
	unsigned		 qmax;
	int			 stop;
	pthread_t		 thr[HASHPOOL_THREADS];
	unsigned		 nthr;
	int			 pipe[2];	/* workers -> loop */
	struct event		*ev;
	hashpool_done_fn	 done_fn;
	void			*arg;
	int			 in_done;	/* inside done_fn */
	int			 dead;		/* freed inside done_fn */
};

static void	*worker(void *);
static void	 pool_cb(evutil_socket_t, short, void *);
static void	 pool_stop(struct hashpool *);
static void	 pool_release(struct hashpool *);
static void	 job_free(struct job *);

static void
job_free(struct job *j)
{
	explicit_bzero(j, sizeof(*j));
	free(j);
}

/* hashpool_new - start the workers */
struct hashpool *
hashpool_new(struct event_base *base, unsigned nthreads, unsigned qmax,
    hashpool_done_fn done_fn, void *arg)
{
	struct hashpool	*p;
	sigset_t	 all, old;
	int		 e;

	if (nthreads == 0 || nthreads > HASHPOOL_THREADS || qmax == 0) {
		errno = EINVAL;
		return NULL;
	}
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	TAILQ_INIT(&p->todo);
	TAILQ_INIT(&p->done);
	p->qmax = qmax;
	p->done_fn = done_fn;
	p->arg = arg;
	p->pipe[0] = p->pipe[1] = -1;
	if (pthread_mutex_init(&p->mtx, NULL) != 0) {
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	if (pthread_cond_init(&p->cond, NULL) != 0) {
		(void)pthread_mutex_destroy(&p->mtx);
		free(p);
		errno = ENOMEM;
		return NULL;
	}
	if (pipe2(p->pipe, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (p->ev = event_new(base, p->pipe[0], EV_READ | EV_PERSIST,
	    pool_cb, p)) == NULL || event_add(p->ev, NULL) == -1) {
		e = errno != 0 ? errno : ENOMEM;
		pool_release(p);
		errno = e;
		return NULL;
	}
	/* the workers inherit a mask that blocks every signal */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	for (p->nthr = 0; p->nthr < nthreads; p->nthr++)
		if ((e = pthread_create(&p->thr[p->nthr], NULL, worker, p)) !=
		    0)
			break;
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (p->nthr < nthreads) {
		pool_stop(p);
		pool_release(p);
		errno = e;
		return NULL;
	}
	return p;
}

static void *
worker(void *arg)
{
	struct hashpool	*p = arg;
	struct job	*j;
	ssize_t		 n;

	for (;;) {
		(void)pthread_mutex_lock(&p->mtx);
		while (!p->stop && TAILQ_EMPTY(&p->todo))
			(void)pthread_cond_wait(&p->cond, &p->mtx);
		if (p->stop) {
			(void)pthread_mutex_unlock(&p->mtx);
			return NULL;
		}
		j = TAILQ_FIRST(&p->todo);
		TAILQ_REMOVE(&p->todo, j, entry);
		(void)pthread_mutex_unlock(&p->mtx);

		j->ok = users_hash_match(j->hash, j->pass) == 1 && j->known;
		explicit_bzero(j->pass, sizeof(j->pass));

		(void)pthread_mutex_lock(&p->mtx);
		TAILQ_INSERT_TAIL(&p->done, j, entry);
		(void)pthread_mutex_unlock(&p->mtx);
		/* full pipe: bytes already wait there, the loop will look */
		do
			n = write(p->pipe[1], "", 1);
		while (n == -1 && errno == EINTR);
	}
}

/* results are waiting: deliver them on the loop thread */
static void
pool_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hashpool	*p = arg;
	struct jobq	 q;
	struct job	*j;
	char		 drain[64];

	while (read(fd, drain, sizeof(drain)) > 0)
		;
	TAILQ_INIT(&q);
	(void)pthread_mutex_lock(&p->mtx);
	TAILQ_CONCAT(&q, &p->done, entry);
	(void)pthread_mutex_unlock(&p->mtx);
	p->in_done = 1;
	while ((j = TAILQ_FIRST(&q)) != NULL) {
		TAILQ_REMOVE(&q, j, entry);
		(void)pthread_mutex_lock(&p->mtx);
		p->inflight--;
		(void)pthread_mutex_unlock(&p->mtx);
		if (!p->dead)
			p->done_fn(j->id, j->ok, p->arg);
		/* p may be marked dead here */
		job_free(j);
	}
	p->in_done = 0;
	if (p->dead)
		pool_release(p);
}

/* hashpool_check - queue one hash */
int
hashpool_check(struct hashpool *p, uint64_t id, const char *hash,
    const char *pass, int known)
{
	struct job	*j;
	size_t		 hl = strlen(hash), pl = strlen(pass);

	if (hl >= sizeof(j->hash) || pl >= sizeof(j->pass)) {
		errno = EINVAL;
		return -1;
	}
	(void)pthread_mutex_lock(&p->mtx);
	if (p->inflight >= p->qmax) {
		(void)pthread_mutex_unlock(&p->mtx);
		errno = EAGAIN;
		return -1;
	}
	p->inflight++;
	(void)pthread_mutex_unlock(&p->mtx);
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		(void)pthread_mutex_lock(&p->mtx);
		p->inflight--;
		(void)pthread_mutex_unlock(&p->mtx);
		return -1;
	}
	j->id = id;
	j->known = known;
	memcpy(j->hash, hash, hl);
	memcpy(j->pass, pass, pl);
	(void)pthread_mutex_lock(&p->mtx);
	TAILQ_INSERT_TAIL(&p->todo, j, entry);
	(void)pthread_cond_signal(&p->cond);
	(void)pthread_mutex_unlock(&p->mtx);
	return 0;
}

/* hashpool_inflight - jobs not yet delivered */
unsigned
hashpool_inflight(struct hashpool *p)
{
	unsigned	 n;

	(void)pthread_mutex_lock(&p->mtx);
	n = p->inflight;
	(void)pthread_mutex_unlock(&p->mtx);
	return n;
}

/* stop and join the workers; a running hash is finished first */
static void
pool_stop(struct hashpool *p)
{
	unsigned	 i;

	(void)pthread_mutex_lock(&p->mtx);
	p->stop = 1;
	(void)pthread_cond_broadcast(&p->cond);
	(void)pthread_mutex_unlock(&p->mtx);
	for (i = 0; i < p->nthr; i++)
		(void)pthread_join(p->thr[i], NULL);
	p->nthr = 0;
}

/* the workers are gone: wipe what is left and free */
static void
pool_release(struct hashpool *p)
{
	struct job	*j;

	while ((j = TAILQ_FIRST(&p->todo)) != NULL) {
		TAILQ_REMOVE(&p->todo, j, entry);
		job_free(j);
	}
	while ((j = TAILQ_FIRST(&p->done)) != NULL) {
		TAILQ_REMOVE(&p->done, j, entry);
		job_free(j);
	}
	if (p->ev != NULL)
		event_free(p->ev);
	if (p->pipe[0] != -1)
		(void)close(p->pipe[0]);
	if (p->pipe[1] != -1)
		(void)close(p->pipe[1]);
	(void)pthread_cond_destroy(&p->cond);
	(void)pthread_mutex_destroy(&p->mtx);
	free(p);
}

/* hashpool_free - stop the workers, drop what was not delivered */
void
hashpool_free(struct hashpool *p)
{
	if (p == NULL)
		return;
	pool_stop(p);
	if (p->in_done) {
		/* pool_cb() finishes its round, then releases */
		p->dead = 1;
		return;
	}
	pool_release(p);
}
