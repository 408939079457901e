/*
 * test_smtp_client_auth.c - the upstream SMTP client's AUTH against the
 * fake upstream (smtp_client_fixture.h), in cleartext (the TLS side is
 * covered by the integration tests): secrets redacted from the trace,
 * the fallback between mechanisms, and the failures before MAIL.
 */
#include "smtp_client_fixture.h"

static const struct smtp_client_auth auth_joe = { .user = "joe",
    .secret = "pw" };

#define EHLO_AUTH(m)	EXP("EHLO gw.test"), \
			SEND("250-mx.test\r\n250 AUTH " m "\r\n")

/* LOGIN on the wire, redacted in the trace, then the transaction */
static const struct step script_auth_login[] = {
	BANNER, EHLO_AUTH("LOGIN"),
	EXP("AUTH LOGIN"), SEND("334 VXNlcm5hbWU6\r\n"),
	EXP("am9l"), SEND("334 UGFzc3dvcmQ6\r\n"),
	EXP("cHc="), SEND("235 2.7.0 ok\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_auth_login_redacted(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_auth_login, TLS_NONE);
	sc.up.auth_allow_cleartext = 1;
	sc.auth = &auth_joe;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.auth_code, 235);
	assert_string_equal(sc.owner.auth_mech, "LOGIN");
	assert_string_equal(sc.trace, "EHLO gw.test\nAUTH LOGIN\n<redacted>\n"
	    "<redacted>\nMAIL FROM:<a@example.org>\nQUIT\n");
	sc_done(&sc);
}

/*
 * 534 (mechanism too weak) on CRAM-MD5: PLAIN next (fallback), redacted
 * as one line.  The mechanism failed, not the password.
 */
static const struct step script_auth_fallback[] = {
	BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	EXP("AUTH CRAM-MD5"), SEND("334 PDEyMzRAbXgudGVzdD4=\r\n"),
	{ ST_EXPECT, "am9lI" },
	SEND("534 5.7.9 Authentication mechanism is too weak\r\n"),
	EXP("AUTH PLAIN AGpvZQBwdw=="), SEND("235 2.7.0 ok\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_auth_fallback(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_auth_fallback, TLS_NONE);
	sc.up.auth_allow_cleartext = 1;
	sc.up.auth_fallback = 1;
	sc.auth = &auth_joe;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_string_equal(sc.owner.auth_mech, "PLAIN");
	assert_non_null(strstr(sc.trace, "AUTH PLAIN <redacted>\n"));
	assert_null(strstr(sc.trace, "AGpvZQBwdw=="));
	assert_null(strstr(sc.trace, "am9l"));
	sc_done(&sc);
}

/*
 * AUTH scenarios that must end in failed(FAIL_AUTH) before MAIL.  Each
 * ends with QUIT on a connection still in step (issue 10: say QUIT after
 * an AUTH failure), after "*" when a challenge awaited an answer.
 */
#define QUIT_BYE	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL }
#define CANCEL_QUIT	EXP("*"), SEND("501 5.7.0 cancelled\r\n"), \
			EXP("QUIT"), { ST_CLOSE, NULL }

static const struct {
	const char	*name;
	struct step	 script[16];
	int		 fallback, cleartext;
	const char	*text;
} auth_fail_cases[] = {
	{ "CRAM-MD5 challenge not base64", { BANNER, EHLO_AUTH("CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334 !!not*base64\r\n"),
	    CANCEL_QUIT }, 1, 0, "CRAM-MD5: bad 334 challenge" },
	{ "multi-line 334", { BANNER, EHLO_AUTH("CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334-PDE+\r\n334 PDE+\r\n"),
	    CANCEL_QUIT }, 1, 0, "more than one line" },
	{ "334 after PLAIN's initial response", { BANNER, EHLO_AUTH("PLAIN"),
	    EXP("AUTH PLAIN "), SEND("334 \r\n"), CANCEL_QUIT },
	    1, 1, "PLAIN: bad 334" },
	{ "4xx: no fallback", { BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("454 4.7.0 try later\r\n"),
	    QUIT_BYE }, 1, 1, "CRAM-MD5: 454 4.7.0 try later" },
	{ "fallback off", { BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("534 5.7.9 too weak\r\n"),
	    QUIT_BYE }, 0, 1, "CRAM-MD5: 534 5.7.9 too weak" },
	/* issue 10: a wrong password is wrong for every mechanism */
	{ "535: no fallback", { BANNER, EHLO_AUTH("PLAIN LOGIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334 PDE+\r\n"), EXP("am9l"),
	    SEND("535 5.7.8 Authentication credentials invalid\r\n"),
	    QUIT_BYE }, 1, 1, "CRAM-MD5: 535 5.7.8 Authentication" },
	{ "535 without an enhanced code: no fallback", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("535 authentication failed\r\n"), QUIT_BYE }, 1, 1,
	    "PLAIN: 535 authentication failed" },
	{ "554 (account disabled): no fallback", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("554 5.7.1 account disabled\r\n"), QUIT_BYE }, 1, 1,
	    "PLAIN: 554 5.7.1 account disabled" },
	{ "504 then 535: one login failed, then QUIT", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("504 5.5.4 Unrecognized authentication type\r\n"),
	    EXP("AUTH LOGIN"), SEND("334 VXNlcm5hbWU6\r\n"), EXP("am9l"),
	    SEND("334 UGFzc3dvcmQ6\r\n"), EXP("cHc="),
	    SEND("535 5.7.8 no\r\n"), QUIT_BYE }, 1, 1,
	    "LOGIN: 535 5.7.8 no" },
	{ "no PLAIN in cleartext", { BANNER, EHLO_AUTH("PLAIN LOGIN"),
	    QUIT_BYE }, 1, 0, "no usable AUTH mechanism" },
	{ "no AUTH offered", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    QUIT_BYE }, 1, 1, "upstream offers \"\"" },
	{ "HELO only", { BANNER, EXP("EHLO"), SEND("500 what\r\n"),
	    EXP("HELO"), SEND("250 mx.test\r\n"), QUIT_BYE },
	    1, 1, "only HELO" },
	{ "a second CRAM-MD5 challenge", { BANNER,
	    EHLO_AUTH("CRAM-MD5"), EXP("AUTH CRAM-MD5"),
	    SEND("334 PDE+\r\n"), EXP(""), SEND("334 PDE+\r\n"),
	    CANCEL_QUIT }, 1, 0, "unexpected second 334" },
};

static void
test_auth_failures(void **state)
{
	struct scenario	 sc;
	size_t		 i;

	for (i = 0; i < sizeof(auth_fail_cases) / sizeof(auth_fail_cases[0]);
	    i++) {
		sc_init(&sc, auth_fail_cases[i].script, TLS_NONE);
		sc.up.auth_fallback = auth_fail_cases[i].fallback;
		sc.up.auth_allow_cleartext = auth_fail_cases[i].cleartext;
		sc.auth = &auth_joe;
		sc_run(&sc, ops_mail_wait, NULL);
		if (sc.owner.failed != 1 || sc.owner.fail_class != FAIL_AUTH ||
		    strstr(sc.owner.fail_text, auth_fail_cases[i].text) ==
		    NULL)
			fail_msg("%s: failed=%d class=%s text='%s'; want '%s'",
			    auth_fail_cases[i].name, sc.owner.failed,
			    fail_name(sc.owner.fail_class), sc.owner.fail_text,
			    auth_fail_cases[i].text);
		assert_int_equal(sc.owner.ready, 0);
		if (sc.fake.mismatch[0] != '\0')
			fail_msg("%s: %s", auth_fail_cases[i].name,
			    sc.fake.mismatch);
		/* QUIT was said, and the whole script ran */
		assert_non_null(strstr(sc.fake.transcript, "QUIT\n"));
		assert_int_equal(sc.fake.script[sc.fake.pc].kind, ST_END);
		assert_null(strstr(sc.fake.transcript, "MAIL"));
		/* no secret reached the trace in any case */
		assert_null(strstr(sc.trace, "cHc="));
		assert_null(strstr(sc.trace, "AGpvZQBwdw=="));
		sc_done(&sc);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auth_login_redacted),
		cmocka_unit_test(test_auth_fallback),
		cmocka_unit_test(test_auth_failures),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
