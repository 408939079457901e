/*
 * test_qsched - retry delays: doubling from the first wait, capped at
 * the maximum, jitter within a quarter either way, never past the cap or
 * under a second; the lifetime boundary.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "queue/qsched.h"

static void
test_doubling(void **state)
{
	static const struct {
		unsigned	 attempts;
		uint64_t	 want;	/* without jitter (its middle) */
	} cases[] = {
		{ 1, 300 }, { 2, 600 }, { 3, 1200 }, { 4, 2400 },
		{ 5, 4800 }, { 6, 4800 }, { 1000, 4800 },
	};
	size_t		 i;
	uint64_t	 d, lo, hi;
	uint32_t	 r;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lo = cases[i].want - cases[i].want / 4;
		hi = cases[i].want + cases[i].want / 4;
		if (hi > 4800)
			hi = 4800;
		for (r = 0; r < 5000; r += 7) {
			d = qsched_delay(cases[i].attempts, 300, 4800, r);
			if (d < lo || d > hi)
				fail_msg("attempt %u rnd %u: %llu not in %llu..%llu",
				    cases[i].attempts, r, (unsigned long long)d,
				    (unsigned long long)lo,
				    (unsigned long long)hi);
		}
		/* the jitter spreads: both ends of the range are reached */
		assert_int_equal(qsched_delay(cases[i].attempts, 300, 4800, 0),
		    lo);
	}
	/* the middle of the range without a cap */
	assert_int_equal(qsched_delay(2, 300, 4800, 150), 600);
}

static void
test_edges(void **state)
{
	(void)state;
	assert_int_equal(qsched_delay(1, 1, 1, 0), 1);
	assert_int_equal(qsched_delay(1, 1, 1, 12345), 1);
	/* 69 doublings reach the cap of 2^40: its lowest jitter */
	assert_int_equal(qsched_delay(70, 1, (uint64_t)1 << 40, 0),
	    ((uint64_t)1 << 40) - ((uint64_t)1 << 40) / 4);
	/* huge attempts and max do not overflow */
	assert_true(qsched_delay(4000000000u, 300, UINT64_MAX / 2, 99) <=
	    UINT64_MAX / 2);
	assert_int_equal(qsched_delay(3, 0, 0, 5), 1);
	assert_false(qsched_expired(1000, 1000 + 431999, 432000));
	assert_true(qsched_expired(1000, 1000 + 432000, 432000));
	assert_false(qsched_expired(1000, 900, 10));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doubling),
		cmocka_unit_test(test_edges),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
