/*
 * hashpool - the password hashes of auth = map (crypt_rn: yescrypt,
 * sha512-crypt) computed by a small fixed pool of threads, so that one
 * hash (tens of milliseconds, by design) does not stall the event loop,
 * and with it every other session, while it runs.
 *
 * Contract: hashpool_new(), hashpool_check() and hashpool_free() run on
 * the loop thread only.  hashpool_check() queues a job and returns at
 * once; its result comes back later on the loop thread through the
 * pool's done(id, ok, arg), by id, because whoever asked may be gone by
 * then (the caller looks the id up).  Jobs in flight are bounded by qmax:
 * past it hashpool_check() fails and the caller answers "try later".  The
 * password is copied into the job and wiped as soon as it is hashed.
 * Workers only hash: no libevent, wolfSSL or logging on them.
 * hashpool_free() waits for the hashes running and drops the rest (done
 * is not called for them); it may be called from inside done.
 */
#ifndef GW_HASHPOOL_H
#define GW_HASHPOOL_H

#include <stdint.h>

#define HASHPOOL_THREADS	2	/* a small box must keep a core */
#define HASHPOOL_QUEUE		256	/* jobs in flight */
#define HASHPOOL_PASS_MAX	1023

struct event_base;
struct hashpool;

/* ok: the password matched the hash and the job said the user is known */
typedef void	(*hashpool_done_fn)(uint64_t id, int ok, void *arg);

/* hashpool_new - start nthreads workers; NULL with errno on failure */
struct hashpool	*hashpool_new(struct event_base *, unsigned nthreads,
		    unsigned qmax, hashpool_done_fn, void *arg);
/*
 * hashpool_check - queue: does pass match hash?  known = 0 runs the hash
 * all the same (an unknown user costs as much as a known one) and
 * answers no.  -1 if the queue is full or pass too long.
 */
int		 hashpool_check(struct hashpool *, uint64_t id,
		    const char *hash, const char *pass, int known);
/* hashpool_inflight - jobs queued, running or not yet delivered */
unsigned	 hashpool_inflight(struct hashpool *);
void		 hashpool_free(struct hashpool *);

#endif
