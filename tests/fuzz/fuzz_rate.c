/*
 * fuzz_rate - the "COUNT/PERIOD" value parser (ratelimit_parse) on any
 * bytes, and the table on the limits it accepts.
 *
 * Input: the value (up to the first NUL or the end).
 *
 * Invariants: an accepted value is off (count and period 0) or has COUNT
 * in 1..RATELIMIT_COUNT_MAX and PERIOD in 1..RATELIMIT_PERIOD_MAX;
 * formatting it and parsing that again gives the same limit; a refused
 * value says why.  On a fresh table an accepted limit lets COUNT events
 * in at one instant and refuses the next, and a key idle a whole period
 * is let in again (the key is the value; the clock moves past every
 * period between inputs).
 */
#include <string.h>

#include "util/ratelimit.h"
#include "fuzz.h"

#define IN_MAX	64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ratelimit	*t;
	static uint64_t		 now;
	char			 in[IN_MAX + 1], text[RATELIMIT_TEXT_MAX];
	struct rate		 r, again;
	const char		*e;
	unsigned		 i, n;

	if (size > IN_MAX)
		size = IN_MAX;
	memcpy(in, data, size);
	in[size] = '\0';
	memset(&r, 0xa5, sizeof(r));
	if ((e = ratelimit_parse(in, &r)) != NULL) {
		FUZZ_CHECK(*e != '\0', "empty reason for \"%s\"", in);
		return 0;
	}
	FUZZ_CHECK((r.count == 0 && r.period == 0) ||
	    (r.count >= 1 && r.count <= RATELIMIT_COUNT_MAX &&
	    r.period >= 1 && r.period <= RATELIMIT_PERIOD_MAX),
	    "\"%s\" -> %u/%u", in, r.count, r.period);
	(void)ratelimit_format(&r, text, sizeof(text));
	FUZZ_CHECK(ratelimit_parse(text, &again) == NULL &&
	    again.count == r.count && again.period == r.period,
	    "\"%s\" -> \"%s\" does not parse back", in, text);
	if (r.count == 0 || (t == NULL && (t = ratelimit_new()) == NULL))
		return 0;
	/* past every period: an input run again finds its key idle */
	now += (uint64_t)(RATELIMIT_PERIOD_MAX + 1) * 1000;
	n = r.count < 1000 ? r.count : 1000;
	if (n < r.count)
		return 0;
	for (i = 0; i < n; i++)
		FUZZ_CHECK(ratelimit_take(t, 1, in, size, now, &r) == 1,
		    "\"%s\": event %u refused", in, i + 1);
	FUZZ_CHECK(ratelimit_take(t, 1, in, size, now, &r) == 0,
	    "\"%s\": event %u let in", in, n + 1);
	now += (uint64_t)r.period * 1000;
	FUZZ_CHECK(ratelimit_take(t, 1, in, size, now, &r) == 1,
	    "\"%s\": refused after an idle period", in);
	return 0;
}
