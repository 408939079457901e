/*
 * test_authfail - the per-address AUTH failure table: keys (IPv4, IPv6
 * by /64, IPv4-mapped), counting within the window and forgetting after
 * it, the delay series, and the bound under a flood of addresses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include "auth/authfail.h"

static void
key4(const char *a, struct addr_key *k)
{
	struct sockaddr_in	 sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &sin.sin_addr), 1);
	assert_int_equal(addr_key((struct sockaddr *)&sin, k), 0);
}

static void
key6(const char *a, struct addr_key *k)
{
	struct sockaddr_in6	 sin6;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &sin6.sin6_addr), 1);
	assert_int_equal(addr_key((struct sockaddr *)&sin6, k), 0);
}

static int
same(const struct addr_key *a, const struct addr_key *b)
{
	return a->v6 == b->v6 && memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

static void
test_keys(void **state)
{
	struct addr_key	 a, b;
	struct sockaddr_un	 sun;
	char			 name[ADDR_KEY_NAME_MAX];

	(void)state;
	key4("192.0.2.1", &a);
	assert_string_equal(addr_key_name(&a, name, sizeof(name)),
	    "192.0.2.1");
	key4("192.0.2.2", &b);
	assert_false(same(&a, &b));
	/* an IPv4-mapped IPv6 peer is the IPv4 address */
	key6("::ffff:192.0.2.1", &b);
	assert_true(same(&a, &b));
	/* IPv6: one /64 is one client */
	key6("2001:db8:1:2::1", &a);
	key6("2001:db8:1:2:ffff:1:2:3", &b);
	assert_true(same(&a, &b));
	assert_string_equal(addr_key_name(&a, name, sizeof(name)),
	    "2001:db8:1:2::/64");
	key6("2001:db8:1:3::1", &b);
	assert_false(same(&a, &b));
	/* IPv4 0.0.0.0/8 and IPv6 ::/64 do not share a key */
	key4("0.0.0.1", &a);
	key6("::1", &b);
	assert_false(same(&a, &b));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(addr_key((struct sockaddr *)&sun, &a), -1);
}

static void
test_count_window(void **state)
{
	struct authfail		*t;
	struct addr_key	 a, b;

	(void)state;
	assert_non_null(t = authfail_new());
	key4("192.0.2.1", &a);
	key4("192.0.2.2", &b);
	assert_int_equal(authfail_count(t, &a, 100, 60), 0);
	assert_int_equal(authfail_add(t, &a, 100, 60), 1);
	assert_int_equal(authfail_add(t, &a, 110, 60), 2);
	assert_int_equal(authfail_add(t, &b, 110, 60), 1);
	assert_int_equal(authfail_count(t, &a, 169, 60), 2);
	/* window seconds after the last failure: forgotten */
	assert_int_equal(authfail_count(t, &a, 170, 60), 0);
	assert_int_equal(authfail_add(t, &a, 170, 60), 1);
	assert_int_equal(authfail_count(t, &b, 170, 60), 0);
	authfail_free(t);
}

/*
 * Attempts in flight: counted apart from failures, kept while in flight
 * even past the window, ended once each; a stray end changes nothing.
 */
static void
test_inflight(void **state)
{
	struct authfail		*t;
	struct addr_key	 a, b;

	(void)state;
	assert_non_null(t = authfail_new());
	key4("192.0.2.1", &a);
	key4("192.0.2.2", &b);
	authfail_end(t, &a);
	assert_int_equal(authfail_inflight(t, &a), 0);
	authfail_begin(t, &a, 100, 60);
	authfail_begin(t, &a, 100, 60);
	assert_int_equal(authfail_inflight(t, &a), 2);
	assert_int_equal(authfail_count(t, &a, 100, 60), 0);
	assert_int_equal(authfail_inflight(t, &b), 0);
	/* a verdict: one fewer in flight, one more failure */
	authfail_end(t, &a);
	assert_int_equal(authfail_add(t, &a, 101, 60), 1);
	assert_int_equal(authfail_inflight(t, &a), 1);
	/* the failures age out; the attempt still in flight stays */
	assert_int_equal(authfail_count(t, &a, 500, 60), 0);
	assert_int_equal(authfail_inflight(t, &a), 1);
	assert_int_equal(authfail_add(t, &a, 500, 60), 1);
	authfail_end(t, &a);
	authfail_end(t, &a);
	assert_int_equal(authfail_inflight(t, &a), 0);
	assert_int_equal(authfail_count(t, &a, 501, 60), 1);
	/* nothing counted or in flight: the slot is free again */
	authfail_begin(t, &b, 600, 60);
	authfail_end(t, &b);
	assert_int_equal(authfail_inflight(t, &b), 0);
	assert_int_equal(authfail_count(t, &b, 600, 60), 0);
	authfail_free(t);
}

/*
 * More addresses in flight than the table has slots: it stays bounded,
 * the newest is counted, and the end of an attempt whose slot was taken
 * by another address changes nothing.
 */
static void
test_inflight_kept(void **state)
{
	struct authfail		*t;
	struct addr_key	 k[AUTHFAIL_SLOTS + 1];
	struct sockaddr_in	 sin;
	unsigned		 i, n = 0, inflight = 0;

	(void)state;
	assert_non_null(t = authfail_new());
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	/* far more addresses than slots, each with one attempt in flight */
	for (i = 0; i <= AUTHFAIL_SLOTS; i++) {
		sin.sin_addr.s_addr = htonl(0x0a000000u + i);
		assert_int_equal(addr_key((struct sockaddr *)&sin, &k[i]),
		    0);
		authfail_begin(t, &k[i], 100, 60);
	}
	/* the table is bounded: some slots were reused */
	for (i = 0; i <= AUTHFAIL_SLOTS; i++)
		inflight += authfail_inflight(t, &k[i]);
	assert_true(inflight <= AUTHFAIL_SLOTS);
	/* the last one begun is always there */
	assert_int_equal(authfail_inflight(t, &k[AUTHFAIL_SLOTS]), 1);
	/* ending an attempt whose slot went is harmless */
	for (i = 0; i <= AUTHFAIL_SLOTS; i++) {
		authfail_end(t, &k[i]);
		n += authfail_inflight(t, &k[i]);
	}
	assert_int_equal(n, 0);
	authfail_free(t);
}

static void
test_delay(void **state)
{
	static const struct {
		unsigned	 n, max, want;
	} cases[] = {
		{ 0, 8, 0 }, { 1, 8, 1 }, { 2, 8, 2 }, { 3, 8, 4 },
		{ 4, 8, 8 }, { 5, 8, 8 }, { 1000, 8, 8 },
		{ 4000000000u, 60, 60 },
		{ 3, 3, 3 }, { 1, 0, 0 }, { 7, 0, 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (authfail_delay(cases[i].n, cases[i].max) != cases[i].want)
			fail_msg("delay(%u, %u) = %u, want %u", cases[i].n,
			    cases[i].max, authfail_delay(cases[i].n,
			    cases[i].max), cases[i].want);
}

/*
 * Many more addresses than slots: the table does not grow, the newest
 * address is always counted, and the one that keeps failing survives
 * while the flood passes (a slot's least recent failure goes first).
 */
static void
test_bounded(void **state)
{
	struct authfail		*t;
	struct addr_key	 k, guesser, last;
	struct sockaddr_in6	 sin6;
	unsigned		 i;

	(void)state;
	assert_non_null(t = authfail_new());
	key4("198.51.100.7", &guesser);
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	for (i = 0; i < AUTHFAIL_SLOTS * 8; i++) {
		sin6.sin6_addr.s6_addr[0] = 0x20;
		memcpy(&sin6.sin6_addr.s6_addr[4], &i, sizeof(i));
		assert_int_equal(addr_key((struct sockaddr *)&sin6, &k), 0);
		assert_int_equal(authfail_add(t, &k, 1000 + i / 64, 3600), 1);
		last = k;
		/* the guesser fails as often as 64 flooders together */
		if (i % 64 == 0)
			(void)authfail_add(t, &guesser, 1000 + i / 64, 3600);
	}
	assert_int_equal(authfail_count(t, &last, 1000 + i / 64, 3600), 1);
	assert_int_equal(authfail_count(t, &guesser, 1000 + i / 64, 3600),
	    AUTHFAIL_SLOTS * 8 / 64);
	authfail_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_count_window),
		cmocka_unit_test(test_inflight),
		cmocka_unit_test(test_inflight_kept),
		cmocka_unit_test(test_delay),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
