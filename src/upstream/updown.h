/*
 * updown - an upstream that could not be reached is left alone for a
 * while (issue 15: failover).
 *
 * Each failure to reach it (refused, timed out, failed TLS checks: the
 * failure classes that fail over) marks it down for base seconds, doubled
 * with each failure in a row up to max; a success clears it.  While it
 * is down, new transactions go straight to the next upstream in the list
 * instead of waiting for the connect timeout again.  When every upstream
 * of a list is down, the one whose down time ends first is tried anyway
 * (a list is never refused without an attempt).  Pure: the caller keeps
 * one struct updown per upstream (outside the configuration snapshot, so
 * a reload does not forget it) and passes the time.
 */
#ifndef GW_UPDOWN_H
#define GW_UPDOWN_H

#include <stddef.h>
#include <stdint.h>

struct updown {
	int64_t		 until;		/* down until (unix seconds); 0: up */
	unsigned	 fails;		/* failures in a row */
};

/* updown_fail - one more failure at now: down for base * 2^(fails-1) */
void	updown_fail(struct updown *u, int64_t now, unsigned base,
	    unsigned max);
/* updown_ok - reached: up again */
void	updown_ok(struct updown *u);
/* updown_is_down - still down at now? */
int	updown_is_down(const struct updown *u, int64_t now);
/*
 * updown_pick - the first of st[0..n) that is up at now; if all are
 * down, the one up soonest.  -1 only when n is 0.
 */
int	updown_pick(const struct updown *const *st, size_t n, int64_t now);

#endif
