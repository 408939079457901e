/*
 * qwork - the queue's blocking file work (writes and fsyncs) on a small
 * pool of threads, so that the event loop, and every other session, does
 * not wait for the disk while a message is committed.
 *
 * Contract: qwork_new(), qwork_submit() and qwork_free() run on the loop
 * thread only.  A job is a run() called on a worker (it may block; no
 * libevent, no logging, nothing of the loop there) and a done() called
 * back on the loop thread with run()'s result, in no fixed order between
 * jobs.  The job's data belong to the job from submit to done: whoever
 * submitted it may be gone by then (done looks it up by id).  In flight
 * is bounded by qmax: past it qwork_submit() fails and the caller
 * answers "try later".  qwork_free() lets every job queued or running
 * finish, then calls each one's done() as the loop would have.
 */
#ifndef GW_QWORK_H
#define GW_QWORK_H

#include <stddef.h>

#define QWORK_THREADS_MAX	8

struct event_base;
struct qwork;

struct qwork_job {
	int	(*run)(void *arg);		/* on a worker */
	void	(*done)(void *arg, int rc);	/* on the loop */
	void	*arg;
};

/* qwork_new - nthreads workers; NULL with errno on failure */
struct qwork	*qwork_new(struct event_base *, unsigned nthreads,
		    unsigned qmax);
/* qwork_submit - queue a job (copied); -1 if qmax are in flight */
int		 qwork_submit(struct qwork *, const struct qwork_job *);
/* qwork_inflight - jobs queued, running, or finished and not yet done */
unsigned	 qwork_inflight(const struct qwork *);
/*
 * qwork_free - stop: every job queued or running is finished first
 * (their files are the disk's business), then its done is called
 */
void		 qwork_free(struct qwork *);

#endif
