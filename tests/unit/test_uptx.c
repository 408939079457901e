/*
 * test_uptx - the arguments of the upstream's MAIL and RCPT: which of
 * the client's parameters go, for what the upstream announced; DSN
 * parameters dropped (and named) for an upstream without DSN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "upstream/uptx.h"

#define ALL	(SMTP_EXT_SIZE | SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | \
		    SMTP_EXT_DSN)
#define RTLS	(ALL | SMTP_EXT_REQUIRETLS)

struct args_case {
	const char	*name;
	unsigned	 flags;
	int		 rcpt;
	const char	*addr;
	const char	*params[4][2];	/* keyword, value (NULL: none) */
	const char	*want;		/* NULL: refused */
	const char	*dropped;
	const char	*why;		/* when refused */
};

static const struct args_case cases[] = {
	{ "bare", 0, 0, "a@b.test", { { NULL, NULL } }, "<a@b.test>", "",
	    NULL },
	{ "null sender", 0, 0, "", { { NULL, NULL } }, "<>", "", NULL },
	{ "all announced: as sent, case kept", ALL, 0, "a@b.test",
	    { { "size", "1000" }, { "BODY", "8BITMIME" }, { "SMTPUTF8", NULL },
	    { "RET", "HDRS" } },
	    "<a@b.test> size=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS", "", NULL },
	{ "SIZE and BODY left out when not offered", 0, 0, "a@b.test",
	    { { "SIZE", "1000" }, { "BODY", "8BITMIME" } }, "<a@b.test>", "",
	    NULL },
	{ "SMTPUTF8 to an upstream without it: refused", SMTP_EXT_SIZE, 0,
	    "a@b.test", { { "SMTPUTF8", NULL } }, NULL, "",
	    "upstream does not support SMTPUTF8" },
	{ "MAIL: RET and ENVID dropped without DSN", SMTP_EXT_SIZE, 0,
	    "a@b.test", { { "RET", "FULL" }, { "SIZE", "5" },
	    { "ENVID", "x+2B1" } }, "<a@b.test> SIZE=5", "RET,ENVID", NULL },
	{ "RCPT: NOTIFY and ORCPT dropped without DSN", 0, 1, "r@b.test",
	    { { "NOTIFY", "NEVER" }, { "ORCPT", "rfc822;r@b.test" } },
	    "<r@b.test>", "NOTIFY,ORCPT", NULL },
	{ "RCPT: DSN ones passed with DSN", SMTP_EXT_DSN, 1, "r@b.test",
	    { { "NOTIFY", "SUCCESS,FAILURE" } },
	    "<r@b.test> NOTIFY=SUCCESS,FAILURE", "", NULL },
	{ "REQUIRETLS over verified TLS to an upstream offering it",
	    RTLS | UPTX_TLS_VERIFIED, 0, "a@b.test",
	    { { "requiretls", NULL }, { "BODY", "8BITMIME" } },
	    "<a@b.test> requiretls BODY=8BITMIME", "", NULL },
	{ "REQUIRETLS to an upstream not offering it: 5.7.30",
	    ALL | UPTX_TLS_VERIFIED, 0, "a@b.test",
	    { { "REQUIRETLS", NULL } }, NULL, "", UPTX_WHY_REQUIRETLS },
	{ "REQUIRETLS offered, TLS not verified: 5.7.10, the offer not trusted",
	    RTLS, 0, "a@b.test", { { "REQUIRETLS", NULL } }, NULL, "",
	    UPTX_WHY_TLS },
	{ "REQUIRETLS, neither: the TLS reason first", ALL, 0, "a@b.test",
	    { { "SIZE", "1" }, { "REQUIRETLS", NULL } }, NULL, "",
	    UPTX_WHY_TLS },
	{ "no REQUIRETLS asked: unverified TLS is no matter", ALL, 0,
	    "a@b.test", { { "SIZE", "1" } }, "<a@b.test> SIZE=1", "", NULL },
};

static void
fill(struct smtp_path *p, const struct args_case *tc)
{
	size_t	i;

	memset(p, 0, sizeof(*p));
	(void)snprintf(p->addr, sizeof(p->addr), "%s", tc->addr);
	for (i = 0; i < 4 && tc->params[i][0] != NULL; i++) {
		(void)snprintf(p->params[i].keyword,
		    sizeof(p->params[i].keyword), "%s", tc->params[i][0]);
		if (tc->params[i][1] != NULL) {
			(void)snprintf(p->params[i].value,
			    sizeof(p->params[i].value), "%s", tc->params[i][1]);
			p->params[i].has_value = 1;
		}
	}
	p->nparams = i;
}

static void
test_cases(void **state)
{
	const struct args_case	*tc;
	struct smtp_path	 p;
	char			 buf[UPTX_ARGS_MAX], dropped[UPTX_DROPPED_MAX];
	const char		*why;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tc = &cases[i];
		print_message("%s\n", tc->name);
		fill(&p, tc);
		why = uptx_path_args(tc->flags, &p, tc->rcpt, buf, sizeof(buf),
		    dropped, sizeof(dropped));
		if (tc->want == NULL) {
			assert_non_null(why);
			assert_string_equal(why, tc->why);
			continue;
		}
		assert_null(why);
		assert_string_equal(buf, tc->want);
		assert_string_equal(dropped, tc->dropped);
	}
}

/* a buffer too small refuses, never sends a cut command */
static void
test_too_long(void **state)
{
	struct smtp_path	 p;
	char			 buf[24], dropped[UPTX_DROPPED_MAX];

	(void)state;
	memset(&p, 0, sizeof(p));
	(void)snprintf(p.addr, sizeof(p.addr), "someone@example.test");
	assert_string_equal(uptx_path_args(ALL, &p, 0, buf, 10, dropped,
	    sizeof(dropped)), "path too long");
	(void)snprintf(p.params[0].keyword, sizeof(p.params[0].keyword),
	    "SIZE");
	(void)snprintf(p.params[0].value, sizeof(p.params[0].value), "12345");
	p.params[0].has_value = 1;
	p.nparams = 1;
	assert_string_equal(uptx_path_args(ALL, &p, 0, buf, sizeof(buf),
	    dropped, sizeof(dropped)), "parameters too long");
}

/* the largest path the parser can give fits UPTX_ARGS_MAX */
static void
test_largest_fits(void **state)
{
	struct smtp_path	 p;
	char			 buf[UPTX_ARGS_MAX], dropped[UPTX_DROPPED_MAX];
	size_t			 i;

	(void)state;
	memset(&p, 0, sizeof(p));
	memset(p.addr, 'a', sizeof(p.addr) - 1);
	for (i = 0; i < SMTP_PARAM_MAX; i++) {
		memset(p.params[i].keyword, 'K', sizeof(p.params[i].keyword) - 1);
		memset(p.params[i].value, 'v', sizeof(p.params[i].value) - 1);
		p.params[i].has_value = 1;
	}
	p.nparams = SMTP_PARAM_MAX;
	assert_null(uptx_path_args(ALL, &p, 1, buf, sizeof(buf), dropped,
	    sizeof(dropped)));
}

/* RFC 8689's "verified": chain and name, no exception (conf_tls zeroed
 * fails closed: chain checked; verify_hostname must be set) */
static void
test_tls_verified(void **state)
{
	struct conf_tls	 t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.verify_hostname = 1;
	assert_int_equal(uptx_tls_verified(&t), 1);
	t.npins = 1;			/* a pin on top of the chain: still */
	assert_int_equal(uptx_tls_verified(&t), 1);
	t.no_verify_chain = 1;		/* pins alone are not RFC 6125 */
	assert_int_equal(uptx_tls_verified(&t), 0);
	t.no_verify_chain = 0;
	t.verify_hostname = 0;
	assert_int_equal(uptx_tls_verified(&t), 0);
	t.verify_hostname = 1;
	t.accept = CONF_ACCEPT_UNTRUSTED_ROOT;
	assert_int_equal(uptx_tls_verified(&t), 0);
}

static void
test_refusal(void **state)
{
	const char	*enh;

	(void)state;
	assert_int_equal(uptx_refusal(UPTX_WHY_REQUIRETLS, &enh), 550);
	assert_string_equal(enh, "5.7.30");
	assert_int_equal(uptx_refusal(UPTX_WHY_TLS, &enh), 550);
	assert_string_equal(enh, "5.7.10");
	assert_int_equal(uptx_refusal("upstream does not support SMTPUTF8",
	    &enh), 555);
	assert_string_equal(enh, "5.6.7");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_too_long),
		cmocka_unit_test(test_largest_fits),
		cmocka_unit_test(test_tls_verified),
		cmocka_unit_test(test_refusal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
