/*
 * ratelimit - COUNT/PERIOD limits counted per key in a table of fixed
 * size (issue 12, section 3), and the "COUNT/PERIOD" value parser.
 *
 * Contract: no I/O, no clock (the caller passes "now", milliseconds of a
 * monotonic clock), no allocation after ratelimit_new().
 *
 * The algorithm is GCRA, a token bucket of COUNT tokens refilled at one
 * every PERIOD/COUNT: a key may spend COUNT at once, then one more each
 * PERIOD/COUNT; a key idle for a whole PERIOD has all COUNT again.  A
 * refused attempt is not counted.  Per key the table keeps one number,
 * the time its bucket is full again; a key with a full bucket needs no
 * slot.  A key is a kind (one table holds several limits) and bytes: an
 * address key (util/addr.h) or a name; a name longer than the slot holds
 * is kept as a digest keyed at random per table.
 *
 * The table holds RATELIMIT_SLOTS keys in sets of RATELIMIT_WAYS, the
 * set chosen by a hash keyed at random per table.  A new key takes a
 * free slot of its set (a full bucket), else the slot with the least
 * debt: under a flood of keys the table forgets the keys nearest to a
 * full bucket, so a key is only ever let in more, never refused more,
 * and memory stays fixed.
 */
#ifndef GW_RATELIMIT_H
#define GW_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_SLOTS		8192
#define RATELIMIT_WAYS		8
#define RATELIMIT_KEY_MAX	40	/* octets of a key kept as is */
#define RATELIMIT_COUNT_MAX	1000000
#define RATELIMIT_PERIOD_MAX	(7 * 86400)	/* seconds */
/* "1000000/604800s" */
#define RATELIMIT_TEXT_MAX	32

/* a limit; count 0: off */
struct rate {
	unsigned	 count;
	unsigned	 period;	/* seconds, 1..RATELIMIT_PERIOD_MAX */
};

struct ratelimit;

/*
 * ratelimit_parse - "COUNT/PERIOD": COUNT 1..RATELIMIT_COUNT_MAX, PERIOD
 * seconds with an optional suffix s, m, h or d (1s..7d); "off" (any
 * case) or "" is no limit.  NULL, or a static error string.
 */
const char	*ratelimit_parse(const char *s, struct rate *out);
/* ratelimit_format - "100/1h", "30/90s", or "off" */
const char	*ratelimit_format(const struct rate *r, char *buf, size_t len);

/* ratelimit_new - an empty table; NULL if out of memory */
struct ratelimit *ratelimit_new(void);
void		 ratelimit_free(struct ratelimit *);
/*
 * ratelimit_ok - 1 if one more event of (kind, key) is within r at now,
 * counting nothing; 1 as well when r is off.
 */
int		 ratelimit_ok(const struct ratelimit *, int kind,
		    const void *key, size_t len, uint64_t now,
		    const struct rate *r);
/*
 * ratelimit_take - count one event of (kind, key) if it is within r:
 * 1 if counted (or r is off), 0 if over the limit (nothing counted).
 */
int		 ratelimit_take(struct ratelimit *, int kind, const void *key,
		    size_t len, uint64_t now, const struct rate *r);
/*
 * ratelimit_wait - milliseconds until (kind, key) may have one more
 * event under r (0: now); for log lines and tests.
 */
uint64_t	 ratelimit_wait(const struct ratelimit *, int kind,
		    const void *key, size_t len, uint64_t now,
		    const struct rate *r);

#endif
