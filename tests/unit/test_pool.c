/*
 * test_pool.c: the upstream connection pool with a fake connection type
 * and a real event base for the idle and back-off timers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "upstream/pool.h"

struct fake {
	int	 id;
};

static int nquit, ndrop, nopen, open_fails;
static struct event_base *base;

static void
fake_quit(void *c, enum pool_close why, void *arg)
{
	nquit++;
	free(c);
}

static void
fake_drop(void *c, enum pool_close why, void *arg)
{
	ndrop++;
	free(c);
}

static int
fake_open(struct pool *p, void *arg)
{
	nopen++;
	return open_fails ? -1 : 0;
}

static const struct pool_ops ops = { fake_quit, fake_drop, NULL };
static const struct pool_ops ops_warm = { fake_quit, fake_drop, fake_open };

static struct fake *
mk(int id)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->id = id;
	return f;
}

static struct pool *
mkpool(unsigned max_idle, unsigned timeout, unsigned maxmsg, unsigned min,
    const struct pool_ops *o)
{
	struct pool_limits lim = { 1, max_idle, timeout, maxmsg, min, 1, 4,
	    100 };

	nquit = ndrop = nopen = open_fails = 0;
	return pool_new(base, &lim, o, NULL);
}

static int
setup(void **state)
{
	base = event_base_new();
	return base == NULL;
}

static int
teardown(void **state)
{
	event_base_free(base);
	return 0;
}

/* bounded: run the loop until cond or 5 s */
static void
run_until(int *counter, int want)
{
	struct timeval tv = { 0, 50000 };
	int i;

	for (i = 0; i < 100 && *counter < want; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* the loop for about ms milliseconds */
static void
run_for(int ms)
{
	struct timeval tv = { 0, 50000 };
	int i;

	for (i = 0; i < ms / 50; i++) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

static void
test_identity(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 0, &ops);
	struct fake *a = mk(1);
	unsigned m;

	assert_int_equal(pool_put(p, a, "map:alice", 1), 1);
	assert_null(pool_get(p, "map:bob", &m));
	assert_null(pool_get(p, "map:alic", &m));
	assert_null(pool_get(p, "map:alice2", &m));
	assert_ptr_equal(pool_get(p, "map:alice", &m), a);
	assert_int_equal(m, 1);
	assert_null(pool_get(p, "map:alice", &m));
	assert_int_equal(pool_stats(p)->hits, 1);
	assert_int_equal(pool_stats(p)->misses, 4);
	free(a);
	pool_free(p);
}

static void
test_max_idle(void **state)
{
	struct pool *p = mkpool(2, 60, 100, 0, &ops);
	struct fake *a = mk(1), *b = mk(2), *c = mk(3);

	pool_put(p, a, "none", 1);
	pool_put(p, b, "none", 1);
	pool_put(p, c, "none", 1);
	/* a, the oldest, goes after the grace (100 ms here), not at once */
	assert_int_equal(pool_nidle(p), 3);
	assert_int_equal(nquit, 0);
	run_until(&nquit, 1);
	assert_int_equal(pool_nidle(p), 2);
	assert_int_equal(nquit, 1);
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_FULL], 1);
	assert_ptr_equal(pool_get(p, "none", NULL), c);	/* newest first */
	assert_ptr_equal(pool_get(p, "none", NULL), b);
	free(b);
	free(c);
	pool_free(p);
}

/*
 * A burst: the surplus connection is taken again within the grace, so
 * nothing is closed; one taken from under max_idle lets the marked one
 * live its whole idle time.
 */
static void
test_surplus_grace(void **state)
{
	struct pool *p = mkpool(2, 60, 100, 0, &ops);
	struct fake *a = mk(1), *b = mk(2), *c = mk(3);
	int never = 0;

	pool_put(p, a, "none", 1);
	pool_put(p, b, "none", 1);
	pool_put(p, c, "none", 1);	/* a marked */
	assert_ptr_equal(pool_get(p, "none", NULL), c);
	run_for(500);			/* well past the grace */
	assert_int_equal(nquit, 0);
	assert_int_equal(pool_nidle(p), 2);
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_FULL], 0);
	/* the hard bound: max_idle + 64 idle, then the oldest at once */
	pool_free(p);
	free(c);
	p = mkpool(1, 60, 100, 0, &ops);
	for (never = 0; never < 70; never++)
		pool_put(p, mk(10 + never), "none", 1);
	assert_int_equal(pool_nidle(p), 65);
	assert_int_equal(nquit, 5);
	pool_free(p);
}

static void
test_max_messages(void **state)
{
	struct pool *p = mkpool(2, 60, 3, 0, &ops);

	assert_int_equal(pool_put(p, mk(1), "none", 2), 1);
	assert_int_equal(pool_put(p, mk(2), "none", 3), 0);
	assert_int_equal(nquit, 1);
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_MAXMSG], 1);
	pool_free(p);
	assert_int_equal(ndrop, 1);
}

static void
test_idle_timeout(void **state)
{
	struct pool *p = mkpool(2, 1, 100, 0, &ops);

	pool_put(p, mk(1), "none", 1);
	run_until(&nquit, 1);
	assert_int_equal(nquit, 1);
	assert_int_equal(pool_nidle(p), 0);
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_TIMEOUT], 1);
	pool_free(p);
}

static void
test_remove(void **state)
{
	struct pool *p = mkpool(2, 60, 100, 0, &ops);
	struct fake *a = mk(1);

	pool_put(p, a, "none", 1);
	assert_int_equal(pool_remove(p, a), 1);
	assert_int_equal(ndrop, 1);
	assert_int_equal(nquit, 0);
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_DEAD], 1);
	assert_int_equal(pool_remove(p, (void *)&p), 0);
	pool_free(p);
}

static void
test_retire(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 0, &ops);
	struct fake *inuse = mk(2);
	enum pool_close why;

	pool_put(p, mk(1), "none", 1);
	assert_int_equal(pool_closing(p, &why), 0);
	pool_retire(p);
	assert_int_equal(pool_closing(p, &why), 1);
	assert_int_equal(why, POOL_CLOSE_RETIRED);
	assert_int_equal(nquit, 1);	/* idle one closed */
	assert_null(pool_get(p, "none", NULL));
	assert_int_equal(pool_put(p, inuse, "none", 1), 0);
	assert_int_equal(nquit, 2);	/* returned one closed */
	assert_int_equal(pool_stats(p)->closed[POOL_CLOSE_RETIRED], 2);
	pool_free(p);
}

static void
test_shutdown(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 0, &ops);
	enum pool_close why;

	pool_put(p, mk(1), "none", 1);
	pool_put(p, mk(2), "inject:u@example.com", 1);
	pool_shutdown(p);
	assert_int_equal(pool_closing(p, &why), 1);
	assert_int_equal(why, POOL_CLOSE_SHUTDOWN);
	assert_int_equal(nquit, 2);
	assert_int_equal(ndrop, 0);
	assert_int_equal(pool_put(p, mk(3), "none", 1), 0);
	assert_int_equal(nquit, 3);
	pool_free(p);
}

static void
test_prewarm(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 2, &ops_warm);

	pool_warm(p);
	assert_int_equal(nopen, 2);
	assert_int_equal(pool_nopening(p), 2);
	pool_warm(p);
	assert_int_equal(nopen, 2);	/* not asked twice */
	pool_opened(p, mk(1), "none");
	assert_int_equal(nopen, 2);
	assert_int_equal(pool_stats(p)->opened, 1);
	free(pool_get(p, "none", NULL));	/* below min again: asks one */
	assert_int_equal(nopen, 3);
	/* failure: no new attempt until the back-off timer */
	pool_open_failed(p);
	pool_open_failed(p);
	assert_int_equal(pool_nopening(p), 0);
	assert_int_equal(nopen, 3);
	free(pool_get(p, "none", NULL));
	pool_warm(p);
	assert_int_equal(nopen, 3);	/* still backing off */
	run_until(&nopen, 5);		/* back-off 2 s at most here */
	assert_int_equal(nopen, 5);
	assert_int_equal(pool_stats(p)->open_failed, 2);
	pool_shutdown(p);
	pool_free(p);
}

static void
test_prewarm_fail_sync(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 2, &ops_warm);

	open_fails = 1;
	pool_warm(p);
	assert_int_equal(nopen, 1);	/* stops at the first failure */
	pool_warm(p);
	assert_int_equal(nopen, 1);
	pool_shutdown(p);
	pool_free(p);
}

/*
 * A pre-warmed connection the upstream drops as soon as it is idle is
 * not re-opened at once (that was a new login per handshake time, ~180
 * a second against a server that closes idle clients at once): the
 * back-off applies, and grows while no connection is used.
 */
static void
test_prewarm_dead_backs_off(void **state)
{
	struct pool *p = mkpool(4, 60, 100, 1, &ops_warm);
	struct fake *a = mk(1), *b = mk(2);

	pool_warm(p);
	assert_int_equal(nopen, 1);
	pool_opened(p, a, "none");
	assert_int_equal(pool_remove(p, a), 1);
	assert_int_equal(nopen, 1);	/* not at once */
	run_until(&nopen, 2);		/* after the 1 s back-off */
	assert_int_equal(nopen, 2);
	pool_opened(p, b, "none");
	assert_int_equal(pool_remove(p, b), 1);
	assert_int_equal(nopen, 2);
	pool_shutdown(p);
	pool_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_max_idle),
		cmocka_unit_test(test_surplus_grace),
		cmocka_unit_test(test_max_messages),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_remove),
		cmocka_unit_test(test_retire),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_prewarm),
		cmocka_unit_test(test_prewarm_dead_backs_off),
		cmocka_unit_test(test_prewarm_fail_sync),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
