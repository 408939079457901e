/*
 * upsel - which upstream a transaction goes to: the ordered list (a
 * [route] matching the sender, else the listener's "upstream = a, b"),
 * the order to try it in given which upstreams are marked down
 * (updown.h), and which failures move on to the next one.
 *
 * Shared by the two drivers of a transaction: the client session in
 * lockstep (relay.c) and the queue runner (relay_qrun.c).  The down
 * marks live in a table of upsel.c's own, keyed by the upstream's name,
 * so that a reload does not forget them; everything else is pure.
 */
#ifndef GW_UPSEL_H
#define GW_UPSEL_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "util/fail.h"

/*
 * upsel_list - the list for a transaction from sender (without <>, ""
 * for the null sender) on listener l: the first [route] of c that
 * route_choose() picks, else l's own.
 */
const struct conf_uplist *upsel_list(const struct gw_conf *c,
		    const struct conf_listener *l, const char *sender);

/*
 * upsel_next - the index in list of the next upstream to try at now,
 * given the bit mask of those tried already in this transaction: the
 * first untried one that is not down; if every untried one is down, the
 * one of them up soonest (a list is never given up without an attempt).
 * -1 when all were tried.
 */
int	upsel_next(const struct conf_uplist *list, unsigned tried,
	    int64_t now);

/*
 * upsel_failover - 1 if a failure of class cls while the connection was
 * being set up (before it was ready for MAIL) moves on to the next
 * upstream: it could not be reached (dns, connect, timeout, closed), it
 * failed the TLS checks (tls-protocol, cert-*, revocation-unknown,
 * pin-mismatch, starttls-unavailable, client-cert-rejected), or it
 * refused the session at its greeting or EHLO (rejected: a 421 banner).
 * A reply to MAIL, RCPT or DATA, and auth-failed, are never failed over.
 */
int	upsel_failover(enum gw_fail cls);

/*
 * upsel_down / upsel_up - the upstream named name could not be reached
 * at now (marked down for base seconds, doubled per failure in a row up
 * to max: c's upstream_down_time and upstream_down_time_max) / was
 * reached (the mark cleared).  upsel_is_down - still marked at now?
 */
void	upsel_down(const struct gw_conf *c, const char *name, int64_t now);
void	upsel_up(const char *name);
int	upsel_is_down(const char *name, int64_t now);

/* upsel_now - the clock the marks are kept in (CLOCK_MONOTONIC seconds) */
int64_t	upsel_now(void);

#endif
