/*
 * test_hashpool - password hashes on worker threads with results on a
 * real event_base: verdicts, the queue bound, results for whoever is
 * still there, freeing with jobs queued and from inside done, and the
 * loop staying free to run timers while hashes are computed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <crypt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "auth/hashpool.h"

#define MAXRES	64

struct run {
	struct event_base	*base;
	struct hashpool		*pool;
	uint64_t		 ids[MAXRES];
	int			 oks[MAXRES];
	unsigned		 n, want;
	int			 free_in_done;
	unsigned		 ticks;		/* loop timer runs meanwhile */
};

static char	yhash[256], shash[256];

static void
make_hash(const char *prefix, const char *pass, char *out, size_t len)
{
	struct crypt_data	 cd;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*h;

	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt,
	    sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	assert_non_null(h = crypt_rn(pass, salt, &cd, sizeof(cd)));
	(void)snprintf(out, len, "%s", h);
}

static void
done(uint64_t id, int ok, void *arg)
{
	struct run	*r = arg;

	assert_true(r->n < MAXRES);
	r->ids[r->n] = id;
	r->oks[r->n] = ok;
	r->n++;
	if (r->free_in_done) {
		hashpool_free(r->pool);
		r->pool = NULL;
		(void)event_base_loopbreak(r->base);
	} else if (r->n == r->want)
		(void)event_base_loopbreak(r->base);
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	((struct run *)arg)->ticks++;
}

static void
guard(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("no result within 30 s");
}

/* run the loop until r->want results (or loopbreak), bounded */
static void
wait_results(struct run *r)
{
	struct timeval	 tv = { 30, 0 }, t10 = { 0, 10000 };
	struct event	*g, *tk;

	assert_non_null(g = evtimer_new(r->base, guard, r));
	assert_non_null(tk = event_new(r->base, -1, EV_PERSIST, tick, r));
	assert_int_equal(evtimer_add(g, &tv), 0);
	assert_int_equal(evtimer_add(tk, &t10), 0);
	assert_int_equal(event_base_dispatch(r->base), 0);
	event_free(g);
	event_free(tk);
}

static int
setup(void **state)
{
	static struct run	 r;

	memset(&r, 0, sizeof(r));
	if (yhash[0] == '\0') {
		make_hash("$y$", "right", yhash, sizeof(yhash));
		make_hash("$6$", "right", shash, sizeof(shash));
	}
	if ((r.base = event_base_new()) == NULL)
		return -1;
	*state = &r;
	return 0;
}

static int
teardown(void **state)
{
	struct run	*r = *state;

	hashpool_free(r->pool);
	event_base_free(r->base);
	return 0;
}

static int
ok_of(const struct run *r, uint64_t id)
{
	unsigned	 i;

	for (i = 0; i < r->n; i++)
		if (r->ids[i] == id)
			return r->oks[i];
	fail_msg("no result for id %llu", (unsigned long long)id);
	return -1;
}

/* right, wrong, and right-but-unknown; both methods */
static void
test_verdicts(void **state)
{
	struct run	*r = *state;

	assert_non_null(r->pool = hashpool_new(r->base, 2, 8, done, r));
	assert_int_equal(hashpool_check(r->pool, 1, yhash, "right", 1), 0);
	assert_int_equal(hashpool_check(r->pool, 2, yhash, "wrong", 1), 0);
	assert_int_equal(hashpool_check(r->pool, 3, yhash, "right", 0), 0);
	assert_int_equal(hashpool_check(r->pool, 4, shash, "right", 1), 0);
	assert_int_equal(hashpool_check(r->pool, 5, shash, "", 1), 0);
	/* a setting that is not a hash never matches */
	assert_int_equal(hashpool_check(r->pool, 6, "*", "*", 1), 0);
	r->want = 6;
	wait_results(r);
	assert_int_equal(r->n, 6);
	assert_int_equal(ok_of(r, 1), 1);
	assert_int_equal(ok_of(r, 2), 0);
	assert_int_equal(ok_of(r, 3), 0);
	assert_int_equal(ok_of(r, 4), 1);
	assert_int_equal(ok_of(r, 5), 0);
	assert_int_equal(ok_of(r, 6), 0);
	assert_int_equal(hashpool_inflight(r->pool), 0);
}

/* at most qmax in flight; room again once results are delivered */
static void
test_queue_bound(void **state)
{
	struct run	*r = *state;
	char		 longpass[HASHPOOL_PASS_MAX + 2];
	uint64_t	 i;

	assert_non_null(r->pool = hashpool_new(r->base, 1, 4, done, r));
	for (i = 1; i <= 4; i++)
		assert_int_equal(hashpool_check(r->pool, i, yhash, "x", 1), 0);
	assert_int_equal(hashpool_check(r->pool, 5, yhash, "x", 1), -1);
	assert_int_equal(hashpool_inflight(r->pool), 4);
	memset(longpass, 'a', sizeof(longpass) - 1);
	longpass[sizeof(longpass) - 1] = '\0';
	r->want = 4;
	wait_results(r);
	assert_int_equal(hashpool_inflight(r->pool), 0);
	assert_int_equal(hashpool_check(r->pool, 6, yhash, longpass, 1), -1);
	assert_int_equal(hashpool_check(r->pool, 7, yhash, "right", 1), 0);
	r->want = 5;
	wait_results(r);
	assert_int_equal(ok_of(r, 7), 1);
	/* results come in the order asked with one worker */
	for (i = 0; i < 4; i++)
		assert_int_equal(r->ids[i], i + 1);
}

/*
 * The loop runs while hashes are computed: a 10 ms timer keeps firing.
 * 16 yescrypt hashes on the loop would starve it for their whole time.
 */
static void
test_loop_free(void **state)
{
	struct run	*r = *state;
	struct timespec	 t0, t1;
	double		 el;
	uint64_t	 i;

	assert_non_null(r->pool = hashpool_new(r->base, 2, 32, done, r));
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 1; i <= 16; i++)
		assert_int_equal(hashpool_check(r->pool, i, yhash, "x", 1), 0);
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	/* queueing does not hash: far below one yescrypt (~20 ms) each */
	el = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	assert_true(el < 0.05);
	r->want = 16;
	wait_results(r);
	assert_int_equal(r->n, 16);
	/* some ticks at least: the loop was not blocked throughout */
	assert_true(r->ticks >= 2);
}

/* freed with jobs queued and running: no result, nothing leaked */
static void
test_free_pending(void **state)
{
	struct run	*r = *state;
	uint64_t	 i;

	assert_non_null(r->pool = hashpool_new(r->base, 2, 16, done, r));
	for (i = 1; i <= 16; i++)
		assert_int_equal(hashpool_check(r->pool, i, yhash, "x", 1), 0);
	hashpool_free(r->pool);
	r->pool = NULL;
	(void)event_base_loop(r->base, EVLOOP_NONBLOCK);
	assert_int_equal(r->n, 0);
}

/* the owner frees the pool from inside done: the rest is dropped */
static void
test_free_in_done(void **state)
{
	struct run	*r = *state;
	uint64_t	 i;

	assert_non_null(r->pool = hashpool_new(r->base, 2, 8, done, r));
	for (i = 1; i <= 8; i++)
		assert_int_equal(hashpool_check(r->pool, i, shash, "x", 1), 0);
	r->free_in_done = 1;
	wait_results(r);
	assert_int_equal(r->n, 1);
	assert_null(r->pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verdicts, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_loop_free, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_pending, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_in_done, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
