/*
 * test_smtp_sasl - the listener's decoding of AUTH PLAIN and LOGIN
 * responses: got/want tables, bounds, and no partial credential left in
 * the output after an error.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "smtp/smtp_sasl.h"
#include "util/base64.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define S(x)		x, sizeof(x) - 1

static const struct {
	const char	*raw;		/* encoded by the test */
	size_t		 rawlen;
	const char	*err;
	const char	*user, *pass;
} plain_cases[] = {
	{ S("\0user\0pass"), NULL, "user", "pass" },
	{ S("user\0user\0pass"), NULL, "user", "pass" },
	{ S("\0user@example.test\0p@ss w:rd"), NULL, "user@example.test",
	    "p@ss w:rd" },
	{ S("other\0user\0pass"), "Authorization identity not supported", NULL, NULL },
	{ S("use\0user\0pass"), "Authorization identity not supported", NULL, NULL },
	{ S("user\0pass"), "Invalid PLAIN response", NULL, NULL },
	{ S("\0\0pass"), "Invalid PLAIN response", NULL, NULL },
	{ S("\0user\0"), "Invalid PLAIN response", NULL, NULL },
	{ S(""), "Invalid PLAIN response", NULL, NULL },
	{ S("\0user\0pa\0ss"), "Invalid character in credentials", NULL, NULL },
	{ S("\0us\rer\0pass"), "Invalid character in credentials", NULL, NULL },
	{ S("\0user\0pa\nss"), "Invalid character in credentials", NULL, NULL },
	{ S("\0user\0pa\x7fss"), "Invalid character in credentials", NULL, NULL },
};

static void
test_plain(void **state)
{
	struct smtp_sasl_creds	 c;
	char			 b64[256];
	const char		*err;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(plain_cases); i++) {
		assert_true(base64_encode(plain_cases[i].raw,
		    plain_cases[i].rawlen, b64, sizeof(b64)) >= 0);
		memset(&c, 'X', sizeof(c));
		err = smtp_sasl_plain_decode(b64, strlen(b64), &c);
		if ((err == NULL) != (plain_cases[i].err == NULL) ||
		    (err != NULL && strcmp(err, plain_cases[i].err) != 0))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i,
			    err ? err : "ok",
			    plain_cases[i].err ? plain_cases[i].err : "ok");
		if (err != NULL) {
			/* wiped: nothing of a bad response survives */
			assert_int_equal(c.user[0], 0);
			assert_int_equal(c.pass[0], 0);
			assert_int_equal(c.pass[SMTP_SASL_ID_MAX], 0);
			continue;
		}
		assert_string_equal(c.user, plain_cases[i].user);
		assert_string_equal(c.pass, plain_cases[i].pass);
	}
}

static void
test_plain_syntax(void **state)
{
	struct smtp_sasl_creds	 c;

	(void)state;
	assert_string_equal(smtp_sasl_plain_decode(S("AHVzZXIAcGFzcw="), &c),
	    "Invalid base64 data");
	assert_string_equal(smtp_sasl_plain_decode(S("AHVzZXIAcGFzcw=!"), &c),
	    "Invalid base64 data");
	assert_string_equal(smtp_sasl_plain_decode(S("AHVz ZXIAcGFzcw=="), &c),
	    "Invalid base64 data");
	assert_null(smtp_sasl_plain_decode(S("AHVzZXIAcGFzcw=="), &c));
	assert_string_equal(c.pass, "pass");
}

/* 255 octets a field pass; 256 do not; a huge response is refused early */
static void
test_plain_bounds(void **state)
{
	struct smtp_sasl_creds	 c;
	char			 raw[1024], b64[2048];
	size_t			 n;

	(void)state;
	raw[0] = '\0';
	memset(raw + 1, 'u', SMTP_SASL_ID_MAX);
	raw[1 + SMTP_SASL_ID_MAX] = '\0';
	memset(raw + 2 + SMTP_SASL_ID_MAX, 'p', SMTP_SASL_ID_MAX);
	n = 2 + 2 * SMTP_SASL_ID_MAX;
	assert_true(base64_encode(raw, n, b64, sizeof(b64)) > 0);
	assert_null(smtp_sasl_plain_decode(b64, strlen(b64), &c));
	assert_int_equal(strlen(c.user), SMTP_SASL_ID_MAX);
	assert_int_equal(strlen(c.pass), SMTP_SASL_ID_MAX);
	raw[n++] = 'p';
	assert_true(base64_encode(raw, n, b64, sizeof(b64)) > 0);
	assert_string_equal(smtp_sasl_plain_decode(b64, strlen(b64), &c),
	    "Credentials too long");
	memset(b64, 'A', 2000);
	assert_string_equal(smtp_sasl_plain_decode(b64, 2000, &c),
	    "Credentials too long");
}

static void
test_login(void **state)
{
	char	 out[SMTP_SASL_ID_MAX + 1], b64[1024], raw[512];

	(void)state;
	assert_null(smtp_sasl_login_decode(S("dXNlcg=="), out, sizeof(out)));
	assert_string_equal(out, "user");
	assert_string_equal(smtp_sasl_login_decode(S(""), out, sizeof(out)),
	    "Empty credential");
	assert_string_equal(smtp_sasl_login_decode(S("dXNlcg"), out,
	    sizeof(out)), "Invalid base64 data");
	/* "us\0er" */
	assert_string_equal(smtp_sasl_login_decode(S("dXMAZXI="), out,
	    sizeof(out)), "Invalid character in credentials");
	assert_int_equal(out[0], 0);
	memset(raw, 'p', SMTP_SASL_ID_MAX);
	assert_true(base64_encode(raw, SMTP_SASL_ID_MAX, b64,
	    sizeof(b64)) > 0);
	assert_null(smtp_sasl_login_decode(b64, strlen(b64), out,
	    sizeof(out)));
	memset(raw, 'p', SMTP_SASL_ID_MAX + 1);
	assert_true(base64_encode(raw, SMTP_SASL_ID_MAX + 1, b64,
	    sizeof(b64)) > 0);
	assert_non_null(smtp_sasl_login_decode(b64, strlen(b64), out,
	    sizeof(out)));
	assert_int_equal(out[0], 0);
}

static void
test_cancel(void **state)
{
	(void)state;
	assert_true(smtp_sasl_cancel(S("*")));
	assert_false(smtp_sasl_cancel(S("**")));
	assert_false(smtp_sasl_cancel(S("")));
	assert_false(smtp_sasl_cancel(S("* ")));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_plain_syntax),
		cmocka_unit_test(test_plain_bounds),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
