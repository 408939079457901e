/*
 * gssjob - the first step of a GSSAPI login (sasl_start with
 * AUTH_MECH_GSSAPI) on a thread of its own, so that the KDC exchanges
 * it may make (AS and TGS when the memory cache has no valid ticket;
 * MIT krb5 waits 18 to 27 s for a KDC that does not answer) never stall
 * the event loop and every other session with it.
 *
 * Contract: gssjob_start() and gssjob_cancel() run on the loop thread.
 * The job copies the credentials it needs and takes the sasl_state: the
 * thread fills it (the GSS-API context), and done() hands it back on the
 * loop with the AUTH line or the error and how long the step took.  The
 * line is wiped when done() returns.  gssjob_cancel() (the session was
 * freed or timed out) drops the job: done() is never called, and the
 * job frees itself and the state when the thread is finished.  Jobs
 * alive (running or waiting for the loop) are bounded by GSSJOB_MAX:
 * past it gssjob_start() fails at once and says why.  The threads call
 * only sasl_start: no libevent, no logging there.
 */
#ifndef GW_GSSJOB_H
#define GW_GSSJOB_H

#include "auth/sasl.h"

#define GSSJOB_MAX	16	/* logins waiting for the KDC at once */

struct event_base;
struct gssjob;

/* err NULL: line is the AUTH command; ms: the step's time on the thread */
typedef void	(*gssjob_done_fn)(void *arg, struct sasl_state *,
		    const char *line, const char *err, long ms);

/*
 * gssjob_start - run the first step on a thread; st is the job's from
 * now on.  NULL with the reason in *why (st stays the caller's).
 */
struct gssjob	*gssjob_start(struct event_base *, const struct sasl_cred *,
		    struct sasl_state *st, gssjob_done_fn, void *arg,
		    const char **why);
/* gssjob_cancel - done() is never called; the job frees itself */
void		 gssjob_cancel(struct gssjob *);
/* gssjob_alive - jobs whose thread runs or whose result is not taken */
unsigned	 gssjob_alive(void);

#endif
