/*
 * qsched - when to try a queued message again.
 *
 * Exponential backoff with jitter: the n-th retry waits first * 2^(n-1),
 * at most max, then moved by up to a quarter either way so that messages
 * queued in the same second (an upstream outage) do not all come back in
 * the same second.  The jitter never pushes past max, nor under one
 * second.  Pure: the caller passes the random number.
 */
#ifndef GW_QSCHED_H
#define GW_QSCHED_H

#include <stdint.h>

/*
 * qsched_delay - seconds to wait before attempt number attempts + 1,
 * after attempts failed ones (attempts >= 1); first and max in seconds,
 * 1 <= first <= max.
 */
uint64_t	qsched_delay(unsigned attempts, uint64_t first, uint64_t max,
		    uint32_t rnd);

/*
 * qsched_expired - the message has been queued for lifetime seconds or
 * more at now (arrival and now in unix seconds).
 */
int		qsched_expired(int64_t arrival, int64_t now, uint64_t lifetime);

#endif
