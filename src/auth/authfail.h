/*
 * authfail - failed listener logins counted per client address, across
 * connections, in a table of fixed size (issue 10, section 9).
 *
 * Contract: no I/O, no clock (the caller passes "now"), no allocation
 * after authfail_new().  The key of an address is util/addr.h's
 * addr_key: the address itself for IPv4, its /64 for IPv6.
 * A key's failures are forgotten once "window" seconds have passed since
 * its last failure.  The table holds AUTHFAIL_SLOTS keys in sets of
 * AUTHFAIL_WAYS; a new key takes the free, expired or least recently
 * failed slot of its set, so memory stays bounded under any number of
 * addresses.  Set choice uses a hash keyed at random per process: which
 * addresses share a set cannot be planned from outside.
 */
#ifndef GW_AUTHFAIL_H
#define GW_AUTHFAIL_H

#include <sys/socket.h>

#include <stddef.h>
#include <time.h>

#include "util/addr.h"

#define AUTHFAIL_SLOTS	8192
#define AUTHFAIL_WAYS	8
struct authfail;

/* authfail_new - an empty table; NULL if out of memory */
struct authfail	*authfail_new(void);
void		 authfail_free(struct authfail *);
/* authfail_count - failures of k within the window (0 if none) */
unsigned	 authfail_count(const struct authfail *,
		    const struct addr_key *k, time_t now,
		    unsigned window);
/* authfail_add - count one failure of k; returns its new count */
unsigned	 authfail_add(struct authfail *, const struct addr_key *k,
		    time_t now, unsigned window);
/*
 * Attempts in flight (a hash queued, a passthrough AUTH at the provider)
 * are counted apart from failures, so that parallel connections cannot
 * all pass the lockout check before the first verdict: begin when an
 * attempt is let through, end at its verdict or when it is abandoned.
 * A key's slot is kept while an attempt is in flight.
 */
void		 authfail_begin(struct authfail *, const struct addr_key *k,
		    time_t now, unsigned window);
void		 authfail_end(struct authfail *, const struct addr_key *k);
/* authfail_inflight - attempts of k begun and not ended */
unsigned	 authfail_inflight(const struct authfail *,
		    const struct addr_key *k);
/*
 * authfail_delay - seconds to hold the reply to failure number n:
 * 1, 2, 4, ... up to max (0 turns the delay off).
 */
unsigned	 authfail_delay(unsigned n, unsigned max);

#endif
