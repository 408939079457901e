/*
 * gssjob - GSSAPI's first step on a thread (see gssjob.h).
 *
 * One detached thread per login, not a pool: the step is rare (the
 * memory cache keeps the tickets for hours) and, against a dead KDC,
 * long; a fixed pool would queue the logins of a healthy principal
 * behind it.  A pipe per job tells the loop that the result is there
 * (libevent here is not built for cross-thread use, as hashpool.c
 * explains).  Who frees the job is decided under job_mtx: the loop once
 * it took the result, or the thread when the loop cancelled first; the
 * thread never touches libevent, and the loop closes its end of the pipe
 * only after saying so, so the thread never writes into a closed pipe.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/gssjob.h"

struct gssjob {
	/* the thread's input: copies, the session may be gone */
	char			*keytab, *principal, *service, *host;
	unsigned		 port;
	struct sasl_state	*st;
	/* the thread's output */
	char			 line[SASL_LINE_MAX];
	char			 err[1024];
	int			 failed;
	long			 ms;
	/* under job_mtx */
	int			 finished;	/* the thread wrote the above */
	int			 cancelled;	/* the loop is gone */
	/* the loop's */
	int			 rfd, wfd;	/* wfd: the thread's */
	struct event		*ev;
	gssjob_done_fn		 done;
	void			*arg;
};

static pthread_mutex_t	 job_mtx = PTHREAD_MUTEX_INITIALIZER;
static unsigned		 job_alive;

static void
job_free(struct gssjob *j)
{
	if (j->ev != NULL)
		event_free(j->ev);
	if (j->rfd != -1)
		(void)close(j->rfd);
	if (j->st != NULL) {
		sasl_state_clear(j->st);
		free(j->st);
	}
	free(j->keytab);
	free(j->principal);
	free(j->service);
	free(j->host);
	explicit_bzero(j, sizeof(*j));
	free(j);
	(void)pthread_mutex_lock(&job_mtx);
	job_alive--;
	(void)pthread_mutex_unlock(&job_mtx);
}

static void *
job_run(void *arg)
{
	struct gssjob		*j = arg;
	struct sasl_cred	 cr;
	struct timespec		 t0, t1;
	const char		*e;
	int			 orphan, wfd;

	memset(&cr, 0, sizeof(cr));
	cr.user = "";		/* the authorization identity: a later step */
	cr.keytab = j->keytab;
	cr.principal = j->principal;
	cr.service = j->service;
	cr.host = j->host;
	cr.port = j->port;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	e = sasl_start(AUTH_MECH_GSSAPI, &cr, j->st, j->line, sizeof(j->line));
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	j->ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (e != NULL) {
		/* e may be the thread's own buffer: copied before it ends */
		explicit_bzero(j->line, sizeof(j->line));
		(void)snprintf(j->err, sizeof(j->err), "%s", e);
		j->failed = 1;
	}
	(void)pthread_mutex_lock(&job_mtx);
	j->finished = 1;
	orphan = j->cancelled;
	wfd = j->wfd;
	/* an empty pipe takes a byte; if not, the session's timer ends it */
	if (!orphan && write(wfd, "x", 1) == -1)
		errno = 0;
	(void)pthread_mutex_unlock(&job_mtx);
	/* from here on j is the loop's, unless it was cancelled */
	(void)close(wfd);
	if (orphan)
		job_free(j);
	return NULL;
}

/* on the loop: the thread is finished, the result is ours */
static void
job_ready(evutil_socket_t fd, short what, void *arg)
{
	struct gssjob		*j = arg;
	struct sasl_state	*st;
	char			 b;
	int			 fin;

	(void)what;
	(void)pthread_mutex_lock(&job_mtx);
	fin = j->finished;
	(void)pthread_mutex_unlock(&job_mtx);
	if (!fin) {
		/* cannot be (the byte is written after), but never free early */
		(void)read(fd, &b, 1);
		(void)event_add(j->ev, NULL);
		return;
	}
	st = j->st;
	j->st = NULL;
	j->done(j->arg, st, j->failed ? NULL : j->line,
	    j->failed ? j->err : NULL, j->ms);
	job_free(j);
}

static char *
job_dup(const char *s, int *bad)
{
	char	*d;

	if (s == NULL)
		return NULL;
	if ((d = strdup(s)) == NULL)
		*bad = 1;
	return d;
}

/* job_thread - the detached thread, every signal blocked (the loop's) */
static int
job_thread(struct gssjob *j)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	sigset_t	 all, old;
	int		 e;

	if ((e = pthread_attr_init(&attr)) != 0)
		return e;
	(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t, &attr, job_run, j);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&attr);
	return e;
}

/* gssjob_start - see gssjob.h */
struct gssjob *
gssjob_start(struct event_base *base, const struct sasl_cred *cr,
    struct sasl_state *st, gssjob_done_fn done, void *arg, const char **why)
{
	static char	 full[96];
	struct gssjob	*j;
	int		 bad = 0, p[2];

	(void)pthread_mutex_lock(&job_mtx);
	if (job_alive >= GSSJOB_MAX) {
		(void)pthread_mutex_unlock(&job_mtx);
		(void)snprintf(full, sizeof(full), "%d logins already wait for "
		    "the KDC: try later", GSSJOB_MAX);
		*why = full;
		return NULL;
	}
	job_alive++;
	(void)pthread_mutex_unlock(&job_mtx);
	*why = "out of memory";
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		(void)pthread_mutex_lock(&job_mtx);
		job_alive--;
		(void)pthread_mutex_unlock(&job_mtx);
		return NULL;
	}
	j->rfd = j->wfd = -1;
	j->done = done;
	j->arg = arg;
	j->port = cr->port;
	j->keytab = job_dup(cr->keytab, &bad);
	j->principal = job_dup(cr->principal, &bad);
	j->service = job_dup(cr->service, &bad);
	j->host = job_dup(cr->host, &bad);
	if (bad)
		goto fail;
	*why = "cannot make a pipe for the GSSAPI thread";
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;
	j->rfd = p[0];
	j->wfd = p[1];
	if ((j->ev = event_new(base, j->rfd, EV_READ, job_ready, j)) ==
	    NULL || event_add(j->ev, NULL) == -1)
		goto fail;
	j->st = st;
	*why = "cannot start the GSSAPI thread";
	if (job_thread(j) == 0)
		return j;
	j->st = NULL;		/* still the caller's */
fail:
	if (j->wfd != -1)
		(void)close(j->wfd);
	job_free(j);
	return NULL;
}

/* gssjob_cancel - see gssjob.h */
void
gssjob_cancel(struct gssjob *j)
{
	int	 fin;

	if (j == NULL)
		return;
	/*
	 * Under the lock: the thread writes no more once it saw cancelled,
	 * and it may free the job the moment the lock is released.
	 */
	(void)pthread_mutex_lock(&job_mtx);
	j->cancelled = 1;
	fin = j->finished;
	event_free(j->ev);
	j->ev = NULL;
	(void)close(j->rfd);
	j->rfd = -1;
	(void)pthread_mutex_unlock(&job_mtx);
	if (fin)
		job_free(j);
	/* else the thread frees it (and the state) when it is finished */
}

/* gssjob_alive - see gssjob.h */
unsigned
gssjob_alive(void)
{
	unsigned	 n;

	(void)pthread_mutex_lock(&job_mtx);
	n = job_alive;
	(void)pthread_mutex_unlock(&job_mtx);
	return n;
}
