/*
 * test_upsel - the list a transaction goes to (routes by sender, the
 * map/passthrough rule), the order its upstreams are tried in (tried
 * mask, down marks, all down), which failure classes move on, and the
 * marks expiring.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "upstream/upsel.h"

static struct gw_conf *C;

static void
uplist(struct conf_uplist *l, const char *names)
{
	char	 buf[256], *p, *tok;

	memset(l, 0, sizeof(*l));
	(void)strcpy(buf, names);
	for (p = buf; (tok = strsep(&p, ",")) != NULL; l->n++) {
		(void)strcpy(l->names[l->n], tok);
		l->up[l->n] = conf_find_upstream(C, tok);
		assert_non_null(l->up[l->n]);
	}
}

static void
route(const char *name, const char *senders, const char *ups)
{
	struct conf_route	*r = &C->routes[C->nroutes++];
	char			 buf[512], *p, *tok;

	(void)strcpy(r->name, name);
	(void)strcpy(buf, senders);
	for (p = buf; (tok = strsep(&p, " ")) != NULL; )
		(void)strcpy(r->senders[r->nsenders++], tok);
	uplist(&r->upstreams, ups);
}

static int
setup(void **state)
{
	const char	*names[] = { "a", "b", "c", "m" };
	size_t		 i;

	(void)state;
	if ((C = calloc(1, sizeof(*C))) == NULL)
		return -1;
	for (i = 0; i < 4; i++) {
		(void)strcpy(C->upstreams[i].name, names[i]);
		(void)strcpy(C->upstreams[i].host, "127.0.0.1");
	}
	C->nupstreams = 4;
	C->upstreams[3].auth = AUTH_MAP;
	C->upstream_down_time = 30;
	C->upstream_down_time_max = 100;
	C->nlisteners = 2;
	uplist(&C->listeners[0].upstreams, "a,b");
	uplist(&C->listeners[1].upstreams, "m,a");
	route("billing", "billing@example.com", "b");
	route("org", "@example.org", "c,b");
	route("sub", "@.example.net", "c");
	route("null", "<>", "b,a");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(C);
	return 0;
}

/* the first name of the list upsel_list gives, "" for none */
static const char *
first(const struct conf_listener *l, const char *sender)
{
	const struct conf_uplist	*u = upsel_list(C, l, sender);

	return u->n > 0 ? u->names[0] : "";
}

static void
test_list(void **state)
{
	static const struct {
		int		 listener;
		const char	*sender;
		const char	*want;	/* first of the list */
		size_t		 n;
	} t[] = {
		{ 0, "billing@example.com", "b", 1 },
		{ 0, "BILLING@Example.COM", "b", 1 },	/* any case */
		{ 0, "other@example.com", "a", 2 },	/* no match */
		{ 0, "x@example.org", "c", 2 },		/* domain */
		{ 0, "x@mail.example.org", "a", 2 },	/* not a subdomain route */
		{ 0, "x@mail.example.net", "c", 1 },	/* subdomain */
		{ 0, "x@example.net", "a", 2 },		/* not the domain itself */
		{ 0, "", "b", 2 },			/* null sender */
		{ 0, "nodomain", "a", 2 },
		/* the first upstream uses auth = map: never routed */
		{ 1, "billing@example.com", "m", 2 },
		{ 1, "", "m", 2 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct conf_listener *l = &C->listeners[t[i].listener];

		assert_string_equal(first(l, t[i].sender), t[i].want);
		assert_int_equal(upsel_list(C, l, t[i].sender)->n, t[i].n);
	}
	/* passthrough as well */
	C->upstreams[3].auth = AUTH_PASSTHROUGH;
	assert_string_equal(first(&C->listeners[1], "billing@example.com"),
	    "m");
	C->upstreams[3].auth = AUTH_MAP;
	/* no routes at all: the listener's own */
	C->nroutes = 0;
	assert_ptr_equal(upsel_list(C, &C->listeners[0], "billing@example.com"),
	    &C->listeners[0].upstreams);
	C->nroutes = 4;
}

static void
test_next(void **state)
{
	struct conf_uplist	 l;

	(void)state;
	uplist(&l, "a,b,c");
	/* order, and the tried mask */
	assert_int_equal(upsel_next(&l, 0, 1000), 0);
	assert_int_equal(upsel_next(&l, 1, 1000), 1);
	assert_int_equal(upsel_next(&l, 3, 1000), 2);
	assert_int_equal(upsel_next(&l, 5, 1000), 1);
	assert_int_equal(upsel_next(&l, 7, 1000), -1);	/* all tried */
	/* a down one is skipped */
	upsel_down(C, "a", 1000);			/* until 1030 */
	assert_true(upsel_is_down("a", 1000));
	assert_int_equal(upsel_next(&l, 0, 1000), 1);
	upsel_down(C, "b", 1005);			/* until 1035 */
	assert_int_equal(upsel_next(&l, 0, 1000), 2);
	/* all untried ones down: the one up soonest, never none */
	upsel_down(C, "c", 1002);			/* until 1032 */
	assert_int_equal(upsel_next(&l, 0, 1000), 0);
	assert_int_equal(upsel_next(&l, 1, 1000), 2);
	assert_int_equal(upsel_next(&l, 5, 1000), 1);
	assert_int_equal(upsel_next(&l, 7, 1000), -1);
	/* reached again: not down */
	upsel_up("a");
	upsel_up("b");
	upsel_up("c");
	assert_false(upsel_is_down("a", 1000));
	assert_int_equal(upsel_next(&l, 0, 1000), 0);
	l.n = 0;
	assert_int_equal(upsel_next(&l, 0, 1000), -1);
}

static void
test_failover(void **state)
{
	static const struct {
		enum gw_fail	 cls;
		int		 want;
	} t[] = {
		{ FAIL_NONE, 0 },
		{ FAIL_DNS, 1 },
		{ FAIL_CONNECT, 1 },
		{ FAIL_TIMEOUT, 1 },
		{ FAIL_CLOSED, 1 },
		{ FAIL_TLS_PROTOCOL, 1 },
		{ FAIL_CERT_UNTRUSTED, 1 },
		{ FAIL_CERT_EXPIRED, 1 },
		{ FAIL_CERT_NOT_YET_VALID, 1 },
		{ FAIL_CERT_NAME_MISMATCH, 1 },
		{ FAIL_CERT_REVOKED, 1 },
		{ FAIL_REVOCATION_UNKNOWN, 1 },
		{ FAIL_PIN_MISMATCH, 1 },
		{ FAIL_STARTTLS_UNAVAILABLE, 1 },
		{ FAIL_CLIENT_CERT_REJECTED, 1 },
		{ FAIL_AUTH, 0 },
		{ FAIL_PROTOCOL, 0 },
		{ FAIL_REJECTED, 1 },
		{ FAIL_INTERNAL, 0 },
		{ FAIL_PROXY_CONNECT, 1 },
		{ FAIL_PROXY_REFUSED, 1 },
		{ FAIL_PROXY_AUTH, 1 },
	};
	size_t	 i;

	(void)state;
	/* every class has its row */
	assert_int_equal(sizeof(t) / sizeof(t[0]), FAIL_MAX);
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(t[i].cls, i);
		assert_int_equal(upsel_failover(t[i].cls), t[i].want);
	}
}

static void
test_expire(void **state)
{
	char	 name[16];
	int	 i;

	(void)state;
	/* 30 s, doubled per failure in a row, at most 100 */
	upsel_down(C, "a", 2000);
	assert_true(upsel_is_down("a", 2029));
	assert_false(upsel_is_down("a", 2030));
	upsel_down(C, "a", 2030);
	assert_true(upsel_is_down("a", 2089));
	assert_false(upsel_is_down("a", 2090));
	upsel_down(C, "a", 2090);
	upsel_down(C, "a", 2200);
	assert_true(upsel_is_down("a", 2299));	/* capped at 100 */
	assert_false(upsel_is_down("a", 2300));
	upsel_up("a");
	upsel_down(C, "a", 3000);
	assert_false(upsel_is_down("a", 3030));	/* the count started again */
	assert_false(upsel_is_down("never-marked", 3000));
	/* the table is bounded: the oldest mark is forgotten */
	upsel_down(C, "b", 4000);
	for (i = 0; i < 2 * CONF_MAX_UPSTREAMS; i++) {
		(void)snprintf(name, sizeof(name), "x%d", i);
		upsel_down(C, name, 4000);
	}
	assert_false(upsel_is_down("b", 4001));
	assert_true(upsel_is_down("x0", 4001) || upsel_is_down("x1", 4001));
	(void)snprintf(name, sizeof(name), "x%d", 2 * CONF_MAX_UPSTREAMS - 1);
	assert_true(upsel_is_down(name, 4001));
	/* the monotonic clock moves forward */
	assert_true(upsel_now() >= 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list),
		cmocka_unit_test(test_next),
		cmocka_unit_test(test_failover),
		cmocka_unit_test(test_expire),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
