/*
 * test_ratelimit - the COUNT/PERIOD parser and the GCRA table: a burst
 * of COUNT, one more each PERIOD/COUNT, all of COUNT after an idle
 * PERIOD, refusals not counted, kinds and keys apart, long names, a
 * limit changed by a reload, and the bound under a flood of keys.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "util/ratelimit.h"

#define T0	1000000ULL	/* a monotonic clock, in milliseconds */

static void
test_parse(void **state)
{
	static const struct {
		const char	*in;
		unsigned	 count, period;
	} good[] = {
		{ "100/1h", 100, 3600 }, { "2/3s", 2, 3 }, { "2/3", 2, 3 },
		{ "5/10m", 5, 600 }, { "1/1d", 1, 86400 }, { "1/7d", 1, 604800 },
		{ "1000000/1s", 1000000, 1 }, { "off", 0, 0 }, { "OFF", 0, 0 },
		{ "", 0, 0 }, { "3/2H", 3, 7200 },
	};
	static const char *bad[] = {
		"100", "/1h", "100/", "0/1h", "-1/1h", "1000001/1h", "1/0",
		"1/0s", "1/8d", "1/604801", "1/1w", "1/1hh", "1/ 1h", " 1/1h",
		"1/1h ", "a/1h", "1/h", "1//1h", "99999999999999999999/1h",
		"1/99999999999999999999", "1/1h/2", "1e3/1h", "+1/1h",
	};
	struct rate	 r;
	size_t		 i;
	char		 buf[RATELIMIT_TEXT_MAX];

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		memset(&r, 0xff, sizeof(r));
		assert_null(ratelimit_parse(good[i].in, &r));
		assert_int_equal(r.count, good[i].count);
		assert_int_equal(r.period, good[i].period);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_non_null(ratelimit_parse(bad[i], &r));
	r.count = 100;
	r.period = 3600;
	assert_string_equal(ratelimit_format(&r, buf, sizeof(buf)), "100/1h");
	r.period = 90;
	assert_string_equal(ratelimit_format(&r, buf, sizeof(buf)), "100/90s");
	r.period = 172800;
	assert_string_equal(ratelimit_format(&r, buf, sizeof(buf)), "100/2d");
	r.count = 0;
	assert_string_equal(ratelimit_format(&r, buf, sizeof(buf)), "off");
}

static void
test_burst_refill(void **state)
{
	struct ratelimit	*t = ratelimit_new();
	struct rate		 r = { 2, 3 };	/* 2/3s: one back each 1.5 s */

	(void)state;
	assert_non_null(t);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_ok(t, 1, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 10, &r), 1);
	assert_int_equal(ratelimit_ok(t, 1, "a", 1, T0 + 20, &r), 0);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 20, &r), 0);
	assert_int_equal(ratelimit_wait(t, 1, "a", 1, T0 + 20, &r), 1480);
	/* refusals were not counted: one back after 1.5 s */
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 1499, &r), 0);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 1500, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 1500, &r), 0);
	/* idle a whole period: the whole COUNT again */
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 6000, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 6000, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 6000, &r), 0);
	/* off: always in, nothing counted */
	r.count = 0;
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0 + 6000, &r), 1);
	assert_int_equal(ratelimit_wait(t, 1, "a", 1, T0 + 6000, &r), 0);
	ratelimit_free(t);
}

/* at most COUNT + PERIOD's refill in any stretch, however it is tried */
static void
test_steady(void **state)
{
	struct ratelimit	*t = ratelimit_new();
	struct rate		 r = { 10, 60 };
	uint64_t		 ms;
	unsigned		 n = 0;

	(void)state;
	assert_non_null(t);
	for (ms = 0; ms < 600000; ms += 100)
		n += (unsigned)ratelimit_take(t, 1, "k", 1, T0 + ms, &r);
	/* 10 at once, then one each 6 s for 600 s */
	assert_int_equal(n, 10 + 99);
	ratelimit_free(t);
}

static void
test_keys_apart(void **state)
{
	struct ratelimit	*t = ratelimit_new();
	struct rate		 r = { 1, 60 };
	char			 long1[200], long2[200];

	(void)state;
	assert_non_null(t);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 0);
	/* another kind, another key, a key that is a prefix */
	assert_int_equal(ratelimit_take(t, 2, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "b", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "ab", 2, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "", 0, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "", 0, T0, &r), 0);
	/* names over RATELIMIT_KEY_MAX: digests, still apart */
	memset(long1, 'x', sizeof(long1));
	memcpy(long2, long1, sizeof(long2));
	long2[sizeof(long2) - 1] = 'y';
	assert_int_equal(ratelimit_take(t, 1, long1, sizeof(long1), T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, long1, sizeof(long1), T0, &r), 0);
	assert_int_equal(ratelimit_take(t, 1, long2, sizeof(long2), T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, long1, RATELIMIT_KEY_MAX, T0,
	    &r), 1);
	ratelimit_free(t);
}

/*
 * A reload that changes the limit: the events counted carry over, and
 * no key owes more than the new period.
 */
static void
test_changed_limit(void **state)
{
	struct ratelimit	*t = ratelimit_new();
	struct rate		 r = { 2, 3600 }, tight = { 1, 10 };
	struct rate		 loose = { 10, 3600 };
	int			 i;

	(void)state;
	assert_non_null(t);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &r), 0);
	/* an hour of debt, under 1/10s: refused now, not for an hour */
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &tight), 0);
	assert_int_equal(ratelimit_wait(t, 1, "a", 1, T0, &tight), 10000);
	/* raised to 10/1h: 2 counted, 8 more now */
	for (i = 0; i < 8; i++)
		assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &loose), 1);
	assert_int_equal(ratelimit_take(t, 1, "a", 1, T0, &loose), 0);
	/* back to 2/1h: 10 counted at 6 min, owing 5 h, capped at 1 h */
	assert_int_equal(ratelimit_wait(t, 1, "a", 1, T0, &r), 1800000);
	ratelimit_free(t);
}

/*
 * A flood of new keys never grows the table, and it never makes a key
 * refused that would be let in: the evicted key loses only its debt.
 * A key with a long debt is kept while keys with less debt can go.
 */
static void
test_flood(void **state)
{
	struct ratelimit	*t = ratelimit_new();
	struct rate		 r = { 1, 3600 }, quick = { 1000, 1 };
	uint32_t		 i;
	unsigned		 held = 0;

	(void)state;
	assert_non_null(t);
	assert_int_equal(ratelimit_take(t, 1, "victim", 6, T0, &r), 1);
	/* keys with a little debt (1 ms each) fill every set */
	for (i = 0; i < RATELIMIT_SLOTS * 4; i++)
		assert_int_equal(ratelimit_take(t, 1, &i, sizeof(i), T0, &quick),
		    1);
	/* the victim owes an hour: the least indebted went first */
	assert_int_equal(ratelimit_take(t, 1, "victim", 6, T0, &r), 0);
	/* keys with a long debt, many more than the table holds */
	for (i = 0; i < RATELIMIT_SLOTS * 4; i++)
		assert_int_equal(ratelimit_take(t, 2, &i, sizeof(i), T0 + 1, &r),
		    1);
	/* at most RATELIMIT_SLOTS of them are remembered */
	for (i = 0; i < RATELIMIT_SLOTS * 4; i++)
		held += (unsigned)!ratelimit_ok(t, 2, &i, sizeof(i), T0 + 2, &r);
	assert_true(held <= RATELIMIT_SLOTS);
	assert_true(held >= RATELIMIT_SLOTS / 2);
	ratelimit_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_burst_refill),
		cmocka_unit_test(test_steady),
		cmocka_unit_test(test_keys_apart),
		cmocka_unit_test(test_changed_limit),
		cmocka_unit_test(test_flood),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
