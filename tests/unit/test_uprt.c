/*
 * test_uprt - the per-upstream runtime: built and found per snapshot,
 * and the last POP-before-SMTP login kept across snapshots (a SIGHUP)
 * only for the same upstream, POP server and account.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "upstream/uprt.h"

/* a section that needs no file: no TLS, no users_file */
static void
section(struct conf_upstream *up, const char *name)
{
	memset(up, 0, sizeof(*up));
	(void)snprintf(up->name, sizeof(up->name), "%s", name);
	(void)snprintf(up->host, sizeof(up->host), "smtp.isp.test");
	up->port = 587;
	up->tls = TLS_NONE;
	up->auth = AUTH_NONE;
	(void)snprintf(up->pop_server.host, sizeof(up->pop_server.host),
	    "pop.isp.test");
	up->pop_server.port = 995;
	up->pop_tls = POP_TLS_NONE;
	(void)snprintf(up->username, sizeof(up->username), "joe");
}

static struct uprt *
build(const struct conf_upstream *up)
{
	char		 why[256];
	struct uprt	*u = uprt_new(up, NULL, NULL, why, sizeof(why));

	assert_non_null(u);
	return u;
}

static void
test_find(void **state)
{
	struct conf_upstream	 ups[2];
	struct uprt		*v[2];

	(void)state;
	section(&ups[0], "find-a");
	section(&ups[1], "find-b");
	v[0] = build(&ups[0]);
	v[1] = build(&ups[1]);
	assert_ptr_equal(uprt_find(v, 2, &ups[1]), v[1]);
	assert_ptr_equal(uprt_find(v, 2, &ups[0]), v[0]);
	assert_ptr_equal(uprt_find_name(v, 2, "find-b"), v[1]);
	assert_null(uprt_find_name(v, 2, "find-c"));
	assert_null(v[0]->tls);
	assert_null(v[0]->pop_tls);
	assert_null(v[0]->users);
	assert_null(v[0]->pool);
	uprt_free(v[0]);
	uprt_free(v[1]);
}

/* the next snapshot's uprt for the same section sees the login */
static void
test_pop_ok_survives_snapshot(void **state)
{
	struct conf_upstream	 a, b;
	struct uprt		*u;
	struct timespec		 t = { 1234, 5 }, got;

	(void)state;
	section(&a, "keep");
	u = build(&a);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 0);
	uprt_pop_ok_set(u, &t);
	uprt_free(u);
	/* a new snapshot: another copy of the same section */
	b = a;
	u = build(&b);
	got = uprt_pop_ok(u);
	assert_int_equal(got.tv_sec, 1234);
	assert_int_equal(got.tv_nsec, 5);
	uprt_free(u);
}

/* a changed account, POP server or upstream host: a new login */
static void
test_pop_ok_not_for_changed_section(void **state)
{
	struct conf_upstream	 a, b;
	struct uprt		*u;
	struct timespec		 t = { 99, 0 };

	(void)state;
	section(&a, "change");
	u = build(&a);
	uprt_pop_ok_set(u, &t);
	uprt_free(u);

	b = a;
	(void)snprintf(b.username, sizeof(b.username), "ann");
	u = build(&b);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 0);
	uprt_free(u);

	b = a;
	b.pop_server.port = 110;
	u = build(&b);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 0);
	uprt_free(u);

	b = a;
	(void)snprintf(b.host, sizeof(b.host), "smtp2.isp.test");
	u = build(&b);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 0);
	uprt_free(u);

	b = a;
	(void)snprintf(b.name, sizeof(b.name), "renamed");
	u = build(&b);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 0);
	uprt_free(u);

	/* and the original is still known */
	u = build(&a);
	assert_int_equal(uprt_pop_ok(u).tv_sec, 99);
	uprt_free(u);
}

/* the table is bounded: many upstreams over many reloads replace the oldest */
static void
test_pop_ok_bounded(void **state)
{
	struct conf_upstream	 a;
	struct uprt		*u, *first;
	struct timespec		 t = { 7, 0 };
	char			 name[32];
	int			 i;

	(void)state;
	section(&a, "first");
	first = build(&a);
	uprt_pop_ok_set(first, &t);
	for (i = 0; i < CONF_MAX_UPSTREAMS * 4; i++) {
		(void)snprintf(name, sizeof(name), "many-%d", i);
		section(&a, name);
		u = build(&a);
		uprt_pop_ok_set(u, &t);
		assert_int_equal(uprt_pop_ok(u).tv_sec, 7);
		uprt_free(u);
	}
	/* the oldest went to make room */
	assert_int_equal(uprt_pop_ok(first).tv_sec, 0);
	uprt_free(first);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_pop_ok_survives_snapshot),
		cmocka_unit_test(test_pop_ok_not_for_changed_section),
		cmocka_unit_test(test_pop_ok_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
