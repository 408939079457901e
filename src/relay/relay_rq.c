/*
 * relay_rq.c - the RCPTs a session sent upstream and not yet answered,
 * oldest first (pipelining): each reply's log line names its own
 * recipient.  A ring of RELAY_RQ_MAX; relay_ahead_ok never lets more out.
 */
#include "relay/relay_local.h"
#include "util/log.h"
#include "util/str.h"

/* relay_rq_push - a RCPT went upstream: its address for its reply's log */
void
relay_rq_push(struct relay *r, const char *addr)
{
	if (r->rq_n == RELAY_RQ_MAX)
		fatalx("relay: more RCPTs in flight than relay_ahead_ok allows");
	(void)str_copy(r->rq[(r->rq_off + r->rq_n++) % RELAY_RQ_MAX], addr,
	    SMTP_PATH_MAX);
}

/* relay_rq_pop - the oldest RCPT in flight is answered now: r->rcpt */
void
relay_rq_pop(struct relay *r)
{
	if (r->rq_n == 0)
		return;
	(void)str_copy(r->rcpt, r->rq[r->rq_off], sizeof(r->rcpt));
	r->rq_off = (r->rq_off + 1) % RELAY_RQ_MAX;
	r->rq_n--;
}

