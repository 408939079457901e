/*
 * test_route - the route by sender: a table of senders against a set of
 * routes, and the pattern check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "relay/route.h"

static const char *const up_a[] = { "a" };
static const char *const up_ba[] = { "b", "a" };

static const char *const s_billing[] = { "billing@example.com" };
static const char *const s_domain[] = { "@example.com", "@example.org" };
static const char *const s_sub[] = { "@.example.com" };
static const char *const s_subsub[] = { "@.eu.example.com" };
static const char *const s_null[] = { "<>" };
static const char *const s_dup[] = { "@example.com" };

static const struct route routes[] = {
	{ "domain", s_domain, 2, up_a, 1 },
	{ "billing", s_billing, 1, up_ba, 2 },
	{ "sub", s_sub, 1, up_a, 1 },
	{ "subsub", s_subsub, 1, up_a, 1 },
	{ "bounces", s_null, 1, up_a, 1 },
	{ "later", s_dup, 1, up_a, 1 },	/* a tie: "domain" came first */
};

static void
test_choose(void **state)
{
	static const struct {
		const char	*sender;
		const char	*want;		/* NULL: no route */
	} cases[] = {
		{ "billing@example.com", "billing" },
		{ "BILLING@Example.COM", "billing" },
		{ "other@example.com", "domain" },
		{ "x@example.org", "domain" },
		{ "x@mail.example.com", "sub" },
		{ "x@a.eu.example.com", "subsub" },
		{ "x@eu.example.com", "sub" },
		{ "x@badexample.com", NULL },
		{ "x@example.com.evil", NULL },
		{ "", "bounces" },
		{ "postmaster", NULL },
		{ "\"a@b\"@example.org", "domain" },
		{ "x@example.net", NULL },
	};
	const struct route	*r;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = route_choose(routes, sizeof(routes) / sizeof(routes[0]),
		    cases[i].sender);
		if (cases[i].want == NULL ? r != NULL : r == NULL ||
		    strcmp(r->name, cases[i].want) != 0)
			fail_msg("\"%s\": got %s, want %s", cases[i].sender,
			    r != NULL ? r->name : "none",
			    cases[i].want != NULL ? cases[i].want : "none");
	}
	assert_null(route_choose(routes, 0, "billing@example.com"));
}

static void
test_patterns(void **state)
{
	(void)state;
	assert_null(route_pattern_ok("user@example.com"));
	assert_null(route_pattern_ok("@example.com"));
	assert_null(route_pattern_ok("@.example.com"));
	assert_null(route_pattern_ok("<>"));
	assert_non_null(route_pattern_ok("example.com"));
	assert_non_null(route_pattern_ok("user@"));
	assert_non_null(route_pattern_ok("@."));
	assert_non_null(route_pattern_ok("@a@b"));
	assert_non_null(route_pattern_ok("user@.example.com"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_patterns),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
