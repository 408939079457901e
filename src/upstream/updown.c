/*
 * updown.c - marking unreachable upstreams down (see updown.h).
 */
#include "upstream/updown.h"

void
updown_fail(struct updown *u, int64_t now, unsigned base, unsigned max)
{
	uint64_t	 d = base > 0 ? base : 1;
	unsigned	 i;

	if (u->fails < 1000)
		u->fails++;
	for (i = 1; i < u->fails && d < max; i++)
		d *= 2;
	if (d > max)
		d = max;
	u->until = now + (int64_t)d;
}

void
updown_ok(struct updown *u)
{
	u->until = 0;
	u->fails = 0;
}

int
updown_is_down(const struct updown *u, int64_t now)
{
	return u->until > now;
}

int
updown_pick(const struct updown *const *st, size_t n, int64_t now)
{
	size_t	 i, best = 0;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++)
		if (!updown_is_down(st[i], now))
			return (int)i;
	for (i = 1; i < n; i++)
		if (st[i]->until < st[best]->until)
			best = i;
	return (int)best;
}
