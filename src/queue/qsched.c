/*
 * qsched.c - retry times for the queue (see qsched.h).
 */
#include "queue/qsched.h"

uint64_t
qsched_delay(unsigned attempts, uint64_t first, uint64_t max, uint32_t rnd)
{
	uint64_t	 d = first, span, lo;
	unsigned	 i;

	if (first == 0)
		first = d = 1;
	if (max < first)
		max = first;
	/* doubling stops at max, so it cannot overflow */
	for (i = 1; i < attempts && d < max; i++)
		d = d > max / 2 ? max : d * 2;
	if (d > max)
		d = max;
	/* d - d/4 .. d + d/4, within 1 .. max */
	span = d / 2;
	lo = d - d / 4;
	d = lo + (span > 0 ? (uint64_t)rnd % (span + 1) : 0);
	if (d > max)
		d = max;
	return d > 0 ? d : 1;
}

int
qsched_expired(int64_t arrival, int64_t now, uint64_t lifetime)
{
	if (now <= arrival)
		return 0;
	return (uint64_t)(now - arrival) >= lifetime;
}
