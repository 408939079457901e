/*
 * test_updown - down periods double per failure in a row up to the
 * maximum, a success clears them, and the pick skips down upstreams but
 * never refuses a whole list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/updown.h"

static void
test_backoff(void **state)
{
	struct updown	 u = { 0, 0 };

	(void)state;
	assert_false(updown_is_down(&u, 100));
	updown_fail(&u, 100, 30, 300);
	assert_int_equal(u.until, 130);
	assert_true(updown_is_down(&u, 129));
	assert_false(updown_is_down(&u, 130));
	updown_fail(&u, 200, 30, 300);
	assert_int_equal(u.until, 260);
	updown_fail(&u, 300, 30, 300);
	assert_int_equal(u.until, 420);
	updown_fail(&u, 400, 30, 300);
	assert_int_equal(u.until, 640);
	updown_fail(&u, 500, 30, 300);
	assert_int_equal(u.until, 800);		/* capped at 300 */
	updown_ok(&u);
	assert_false(updown_is_down(&u, 500));
	updown_fail(&u, 1000, 30, 300);
	assert_int_equal(u.until, 1030);	/* the count started again */
}

static void
test_pick(void **state)
{
	struct updown		 a = { 0, 0 }, b = { 0, 0 }, c = { 0, 0 };
	const struct updown	*list[] = { &a, &b, &c };

	(void)state;
	assert_int_equal(updown_pick(list, 3, 10), 0);
	a.until = 50;
	assert_int_equal(updown_pick(list, 3, 10), 1);
	b.until = 40;
	assert_int_equal(updown_pick(list, 3, 10), 2);
	c.until = 45;
	/* all down: the one up soonest */
	assert_int_equal(updown_pick(list, 3, 10), 1);
	/* a's period ended */
	assert_int_equal(updown_pick(list, 3, 50), 0);
	assert_int_equal(updown_pick(list, 0, 10), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_pick),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
