/*
 * test_upcred - upstream credential selection: for each auth mode and
 * the facts a session has, the AUTH sent upstream and the identity the
 * connection is authenticated as.  Two accounts never share an identity.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth/secret.h"
#include "auth/users.h"
#include "upstream/upcred.h"

static const struct secret_cred inject_pw = { .user = "relay@isp.test",
    .password = "pw-1" };
static const struct secret_cred inject_tok = { .user = "relay@isp.test",
    .token = "tok-1" };
static const struct secret_cred inject_nouser = { .password = "pw-1" };
static struct users_entry map_alice = { "app1", "$y$x", "alice@isp.test",
    "alice-secret" };

struct cred_case {
	const char		*name;
	struct upcred_facts	 f;
	int			 rc;
	const char		*identity;	/* when rc == 0 */
	const char		*user;		/* NULL: no AUTH upstream */
	const char		*secret;
	const char		*token;
	int			 one_try;
};

static const struct cred_case cases[] = {
	{ "none", { AUTH_NONE, NULL, NULL, NULL, NULL, NULL, NULL, NULL }, 0,
	    "none", NULL, NULL, NULL, 0 },
	{ "none ignores stray facts", { AUTH_NONE, NULL, &inject_pw,
	    &map_alice, "bob", "x", NULL, NULL }, 0, "none", NULL, NULL, NULL,
	    0 },
	{ "none after a POP login", { AUTH_NONE, "joe", NULL, NULL, NULL,
	    NULL, NULL, NULL }, 0, "pop:joe", NULL, NULL, NULL, 0 },
	{ "inject, password", { AUTH_INJECT, NULL, &inject_pw, NULL, NULL,
	    NULL, "relay@isp.test", NULL }, 0, "inject:relay@isp.test",
	    "relay@isp.test", "pw-1", NULL, 0 },
	{ "inject, token", { AUTH_INJECT, NULL, &inject_tok, NULL, NULL,
	    NULL, "relay@isp.test", NULL }, 0, "inject:relay@isp.test",
	    "relay@isp.test", NULL, "tok-1", 0 },
	{ "inject after POP: the AUTH names it", { AUTH_INJECT, "joe",
	    &inject_pw, NULL, NULL, NULL, "relay@isp.test", NULL }, 0,
	    "inject:relay@isp.test", "relay@isp.test", "pw-1", NULL, 0 },
	{ "inject, not fetched", { AUTH_INJECT, NULL, NULL, NULL, NULL,
	    NULL, "relay@isp.test", NULL }, -1, NULL, NULL, NULL, NULL, 0 },
	{ "inject, no user", { AUTH_INJECT, NULL, &inject_nouser, NULL, NULL,
	    NULL, "relay@isp.test", NULL }, -1, NULL, NULL, NULL, NULL, 0 },
	{ "map: the upstream account, not the local user", { AUTH_MAP, NULL,
	    NULL, &map_alice, "app1", "local", NULL, NULL }, 0,
	    "map:alice@isp.test", "alice@isp.test", "alice-secret", NULL, 0 },
	{ "map without an entry", { AUTH_MAP, NULL, NULL, NULL, NULL, NULL,
	    NULL, NULL }, -1, NULL, NULL, NULL, NULL, 0 },
	{ "passthrough: one try", { AUTH_PASSTHROUGH, NULL, NULL, NULL,
	    "carol@isp.test", "carol-pw", NULL, NULL }, 0,
	    "pass:carol@isp.test:", "carol@isp.test", "carol-pw", NULL, 1 },
	{ "passthrough, empty user", { AUTH_PASSTHROUGH, NULL, NULL, NULL,
	    "", "pw", NULL, NULL }, 0, "pass::", "", "pw", NULL, 1 },
	{ "passthrough without the client's AUTH", { AUTH_PASSTHROUGH, NULL,
	    NULL, NULL, NULL, NULL, NULL, NULL }, -1, NULL, NULL, NULL, NULL,
	    0 },
	{ "passthrough without a password", { AUTH_PASSTHROUGH, NULL, NULL,
	    NULL, "carol", NULL, NULL, NULL }, -1, NULL, NULL, NULL, NULL, 0 },
};

/*
 * check_identity - got is want, or for passthrough want followed by the
 * 64 hex digits of the proof; upcred_identity() gives the same.
 */
static void
check_identity(const struct upcred_facts *f, const char *got,
    const char *want)
{
	char		 id[UPCRED_ID_MAX];
	const char	*why;
	size_t		 n = strlen(want), i;

	if (f->mode == AUTH_PASSTHROUGH) {
		assert_int_equal(strncmp(got, want, n), 0);
		assert_int_equal(strlen(got), n + 64);
		for (i = n; got[i] != '\0'; i++)
			assert_non_null(strchr("0123456789abcdef", got[i]));
	} else
		assert_string_equal(got, want);
	assert_int_equal(upcred_identity(f, id, sizeof(id), &why), 0);
	assert_string_equal(id, got);
}

static void
test_cases(void **state)
{
	const struct cred_case		*tc;
	const struct smtp_client_auth	*a;
	struct upcred			 c;
	const char			*why;
	size_t				 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tc = &cases[i];
		why = NULL;
		print_message("%s\n", tc->name);
		assert_int_equal(upcred_select(&tc->f, &c, &why), tc->rc);
		if (tc->rc == -1) {
			assert_non_null(why);
			assert_null(upcred_auth(&c));
			assert_string_equal(c.identity, "");
			continue;
		}
		check_identity(&tc->f, c.identity, tc->identity);
		a = upcred_auth(&c);
		if (tc->user == NULL) {
			assert_null(a);
			continue;
		}
		assert_non_null(a);
		assert_string_equal(a->user, tc->user);
		if (tc->secret != NULL)
			assert_string_equal(a->secret, tc->secret);
		else
			assert_null(a->secret);
		if (tc->token != NULL)
			assert_string_equal(a->token, tc->token);
		else
			assert_null(a->token);
		assert_int_equal(a->one_try, tc->one_try);
	}
}

/* a name too long for an identity is refused, never cut to another's */
static void
test_identity_not_cut(void **state)
{
	struct upcred_facts	 f;
	struct upcred		 c;
	const char		*why = NULL;
	static char		 longa[UPCRED_ID_MAX + 8], longb[UPCRED_ID_MAX + 8];
	/* "pass:", the name, ':', 64 hex digits of the proof, the NUL */
	char			 fits[UPCRED_ID_MAX - 71 + 1];

	(void)state;
	memset(longa, 'a', sizeof(longa) - 1);
	memcpy(longb, longa, sizeof(longb));
	longb[sizeof(longb) - 2] = 'b';
	memset(&f, 0, sizeof(f));
	f.mode = AUTH_PASSTHROUGH;
	f.user = longa;
	f.secret = "x";
	assert_int_equal(upcred_select(&f, &c, &why), -1);
	assert_string_equal(why, "user name too long for an identity");
	assert_null(upcred_auth(&c));
	f.user = longb;
	assert_int_equal(upcred_select(&f, &c, &why), -1);
	/* the longest that fits */
	memset(fits, 'f', sizeof(fits) - 1);
	fits[sizeof(fits) - 1] = '\0';
	f.user = fits;
	assert_int_equal(upcred_select(&f, &c, &why), 0);
	assert_int_equal(strlen(c.identity), UPCRED_ID_MAX - 1);
	/* a POP user too long, without SMTP AUTH */
	memset(&f, 0, sizeof(f));
	f.mode = AUTH_NONE;
	f.pop_user = longa;
	assert_int_equal(upcred_select(&f, &c, &why), -1);
}

/* the modes never share an identity for the same name */
static void
test_modes_distinct(void **state)
{
	struct users_entry	 e = { "x", "h", "same", "s" };
	const struct secret_cred cred = { .user = "same", .password = "s" };
	struct upcred_facts	 f;
	struct upcred		 c[4];
	const char		*why;
	int			 i, j;

	(void)state;
	memset(&f, 0, sizeof(f));
	f.pop_user = "same";
	f.inject = &cred;
	f.map = &e;
	f.user = "same";
	f.secret = "s";
	for (i = 0; i < 4; i++) {
		f.mode = (enum auth_mode)i;
		assert_int_equal(upcred_select(&f, &c[i], &why), 0);
	}
	for (i = 0; i < 4; i++)
		for (j = i + 1; j < 4; j++)
			assert_string_not_equal(c[i].identity, c[j].identity);
}

/* carol_facts - passthrough with the client's user and right password */
static void
carol_facts(struct upcred_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->mode = AUTH_PASSTHROUGH;
	f->user = "carol";
	f->secret = "right-pw";
}

/*
 * passthrough's proof: the same user and password give the same
 * identity (a pooled connection is found again), another password or
 * user another one, and the password is not in it.
 */
static void
test_pass_proof(void **state)
{
	struct upcred_facts	 f;
	char			 a[UPCRED_ID_MAX], b[UPCRED_ID_MAX];
	const char		*why;

	(void)state;
	carol_facts(&f);
	assert_int_equal(upcred_identity(&f, a, sizeof(a), &why), 0);
	assert_int_equal(upcred_identity(&f, b, sizeof(b), &why), 0);
	assert_string_equal(a, b);
	assert_null(strstr(a, "right-pw"));
	f.secret = "wrong-pw";
	assert_int_equal(upcred_identity(&f, b, sizeof(b), &why), 0);
	assert_string_not_equal(a, b);
	/* user and password are not simply run together */
	f.user = "carolr";
	f.secret = "ight-pw";
	assert_int_equal(upcred_identity(&f, b, sizeof(b), &why), 0);
	assert_string_not_equal(a + strlen("pass:carol:"),
	    b + strlen("pass:carolr:"));
	/* too small a buffer is refused, never cut */
	assert_int_equal(upcred_identity(&f, b, 20, &why), -1);
	/* and what snprintf cut, part of the proof, is not left behind */
	assert_string_equal(b, "");
}

/*
 * passthrough with the identity already known (relay_open_idle looked
 * for it): upcred_select takes it as is instead of computing the HMAC
 * again, and gives the same as computing it would; other modes ignore it.
 */
static void
test_pass_identity_given(void **state)
{
	struct upcred_facts	 f;
	struct upcred		 c;
	char			 id[UPCRED_ID_MAX];
	const char		*why;

	(void)state;
	carol_facts(&f);
	assert_int_equal(upcred_identity(&f, id, sizeof(id), &why), 0);
	f.identity = id;
	assert_int_equal(upcred_select(&f, &c, &why), 0);
	assert_string_equal(c.identity, id);
	assert_string_equal(upcred_auth(&c)->secret, "right-pw");
	/* taken, not recomputed */
	f.identity = "pass:carol:given";
	assert_int_equal(upcred_select(&f, &c, &why), 0);
	assert_string_equal(c.identity, "pass:carol:given");
	f.mode = AUTH_NONE;
	assert_int_equal(upcred_select(&f, &c, &why), 0);
	assert_string_equal(c.identity, "none");
}

/*
 * upcred_id_log: no log shows passthrough's proof (derived from the
 * password), whatever the user name holds; other identities are whole.
 */
static void
test_id_log(void **state)
{
	static const struct {
		const char	*id;
		const char	*want;
	} log_cases[] = {
		{ "none", "none" },
		{ "pop:joe", "pop:joe" },
		{ "inject:relay@isp.test", "inject:relay@isp.test" },
		{ "map:alice@isp.test", "map:alice@isp.test" },
		{ "pass:carol:0123abcd", "pass:carol:***" },
		{ "pass:a:b:0123abcd", "pass:a:b:***" },	/* last colon */
		{ "pass::0123abcd", "pass::***" },
		{ "pass:0123abcd", "pass:***" },		/* no user part */
		{ "pass:\"x\n:0123", "pass:\\\"x\\x0a:***" },
	};
	struct upcred_facts	 f;
	char			 id[UPCRED_ID_MAX], out[UPCRED_ID_LOG_MAX];
	char			 small[12];
	const char		*why, *hex;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(log_cases) / sizeof(log_cases[0]); i++)
		if (strcmp(upcred_id_log(log_cases[i].id, out, sizeof(out)),
		    log_cases[i].want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"",
			    log_cases[i].id, out, log_cases[i].want);
	/* a real one: none of the proof's digits are left */
	carol_facts(&f);
	assert_int_equal(upcred_identity(&f, id, sizeof(id), &why), 0);
	hex = strrchr(id, ':') + 1;
	assert_int_equal(strlen(hex), 64);
	assert_string_equal(upcred_id_log(id, out, sizeof(out)),
	    "pass:carol:***");
	/* no room for the marker: still without the proof */
	assert_string_equal(upcred_id_log(id, small, sizeof(small)),
	    "pass:carol:");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_pass_proof),
		cmocka_unit_test(test_identity_not_cut),
		cmocka_unit_test(test_modes_distinct),
		cmocka_unit_test(test_pass_identity_given),
		cmocka_unit_test(test_id_log),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
