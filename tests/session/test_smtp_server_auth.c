/*
 * test_smtp_server_auth.c - AUTH on the client-facing SMTP session
 * against a fake owner (smtp_server_fixture.h): AUTH required before
 * MAIL, PLAIN and LOGIN, initial responses and challenges, cancel,
 * temporary failures, errors, line bounds and bare line ends, pipelining
 * around AUTH, the password guessing limit, and secrets kept out of the
 * transcript.
 */
#include "smtp_server_fixture.h"

/* the protocol trace never shows AUTH arguments, whatever the line's shape */
static void
test_auth_redacted(void **state)
{
	struct owner	*o = *state;
	char		 line[700], logbuf[65536];
	FILE		*f;
	size_t		 n;
	int		 saved;

	f = tmpfile();
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	log_setlevel(GW_LOG_DEBUG, LOGF_ALL);

	greet(o);
	cl_send(o, "AUTH PLAIN c2VjcmV0\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	cl_send(o, "AUTH c2VjcmV0\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	memcpy(line, "auth login ", 11);
	memset(line + 11, 'Z', 600);
	memcpy(line + 611, "\r\n", 3);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	cl_send(o, "AuTh x\ry\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");

	fflush(stderr);
	log_setlevel(log_level_default(), LOGF_ALL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(logbuf, "AUTH PLAIN <redacted>"));
	assert_non_null(strstr(logbuf, "AUTH <redacted>"));
	assert_null(strstr(logbuf, "c2VjcmV0"));
	assert_null(strstr(logbuf, "ZZZZ"));
	assert_null(strstr(logbuf, "x\\x0dy"));
}

/* a session whose owner asked for AUTH */
static void
greet_auth(struct owner *o)
{
	start(o);
	smtp_server_require_auth(o->srv);
	expect(o, "220 " HOST " ESMTP smtpgate");
	cl_send(o, "EHLO client.test\r\n");
	expect(o, "250-" HOST " Hello client.test [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n"
	    "250-DSN\r\n"
	    "250-AUTH PLAIN LOGIN\r\n"
	    "250 SMTPUTF8");
}

/* MAIL needs a successful AUTH first; the owner never sees it before */
static void
test_auth_required(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "530 5.7.0 Authentication required");
	cl_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "530 5.7.0 Authentication required");
	assert_int_equal(o->nmail, 0);
	assert_string_equal(smtp_server_info(o->srv)->auth_user, "");
	cl_send(o, "HELP\r\n");
	expect_prefix(o, "214 2.0.0 Commands: HELO EHLO AUTH ");
}

/* both: PLAIN with an initial response, then mail; a second AUTH is refused */
static void
test_auth_plain_initial(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_mech, "PLAIN");
	assert_string_equal(o->auth_user, "good");
	assert_string_equal(smtp_server_info(o->srv)->auth_user, "good");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: already authenticated");
	cl_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	/* RSET and EHLO keep the authentication (RFC 4954 4) */
	cl_send(o, "EHLO again.test\r\n");
	expect_prefix(o, "250-");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_int_equal(o->nauth, 1);
	assert_string_equal(o->calls, "UMSM");
}

/* PLAIN without an initial response; authzid equal to the user is fine */
static void
test_auth_plain_challenge(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "auth plain\r\n");
	expect(o, "334 ");
	cl_send(o, "Z29vZABnb29kAHNlY3JldA==\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_user, "good");
}

/* both: LOGIN, a wrong password, then the right one on a second try */
static void
test_auth_login(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "d3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	/* LOGIN with the user name as initial response */
	cl_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "c2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_mech, "LOGIN");
	assert_int_equal(o->nauth, 2);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
}

/* the owner's temporary failure passes through; the client may retry */
static void
test_auth_temporary(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH PLAIN AGRvd24AeA==\r\n");
	expect(o, "454 4.7.0 Temporary authentication failure");
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
}

/* "*" cancels at any step, and the session goes on */
static void
test_auth_cancel(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	cl_send(o, "*\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	cl_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "*\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	cl_send(o, "AUTH PLAIN *\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/*
 * A line sent behind one that ends the exchange (bad base64, "*", a
 * failed verdict) is the client's next secret: dropped, never a command.
 */
static void
test_auth_fail_drops_pipelined(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	cl_send(o, "!!!\r\nAGdvb2QAc2VjcmV0\r\n");
	expect(o, "501 5.5.2 Invalid base64 data");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	cl_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "*\r\nc2VjcmV0\r\nsecr");
	expect(o, "501 5.7.0 Authentication cancelled");
	/* the unfinished line is skipped up to its end too */
	cl_send(o, "et\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	cl_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "d3Jvbmc=\r\nc2VjcmV0\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 1);
}

/* syntax, mechanism and state errors; none reaches the owner */
static void
test_auth_errors(void **state)
{
	struct owner	*o = *state;
	static const struct {
		const char	*line;
		const char	*want;
	} cases[] = {
		{ "AUTH\r\n", "501 5.5.4 " },
		{ "AUTH \r\n", "501 5.5.4 " },
		{ "AUTH PLAIN \r\n", "501 5.5.4 " },
		{ "AUTH CRAM-MD5\r\n", "504 5.5.4 " },
		{ "AUTH PLAIN AGdvb2QAc2VjcmV0=\r\n", "501 5.5.2 Invalid base64" },
		{ "AUTH PLAIN !!!!\r\n", "501 5.5.2 Invalid base64" },
		{ "AUTH PLAIN Z29vZABzZWNyZXQ=\r\n", "501 5.5.2 Invalid PLAIN" },
	}, cases2[] = {
		{ "AUTH PLAINX AGdvb2QAc2VjcmV0\r\n", "504 5.5.4 " },
		{ "AUTH PLAIN =\r\n", "501 5.5.2 Invalid PLAIN" },
		{ "AUTH PLAIN AGdvCm9kAHNlY3JldA==\r\n", "501 5.5.2 Invalid char" },
		{ "AUTH PLAIN AGdvb2QAc2VjAHJldA==\r\n", "501 5.5.2 Invalid char" },
		{ "AUTH PLAIN b3RoZXIAZ29vZABzZWNyZXQ=\r\n",
		    "501 5.5.2 Authorization identity" },
		{ "AUTH LOGIN =\r\n", "501 5.5.2 Empty" },
	};
	size_t		 i;

	start(o);
	smtp_server_require_auth(o->srv);
	expect_prefix(o, "220 ");
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: send EHLO first");
	cl_send(o, "HELO client.test\r\n");
	expect(o, "250 " HOST);
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: send EHLO first");
	cl_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-");
	/* 2 + 7 errors: under the limit of 10 */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cl_send(o, cases[i].line);
		expect_prefix(o, cases[i].want);
	}
	assert_int_equal(o->nauth, 0);
	assert_non_null(o->srv);
	cl_send(o, "QUIT\r\n");
	expect_prefix(o, "221 ");
	expect_closed(o, "quit");
	/* decoded credentials with NUL, CR, LF; an authzid; an empty one */
	teardown(state);
	*state = (void *)&mode_sync;
	setup(state);
	o = *state;
	greet_auth(o);
	for (i = 0; i < sizeof(cases2) / sizeof(cases2[0]); i++) {
		cl_send(o, cases2[i].line);
		expect_prefix(o, cases2[i].want);
	}
	assert_int_equal(o->nauth, 0);
}

/* RFC 4954 4: AUTH ends a pipelined group; what follows is refused */
static void
test_auth_pipelined(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	cl_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\nMAIL FROM:<a@b.test>\r\n");
	expect_prefix(o, "503 5.5.1 Error: AUTH must be the last");
	/*
	 * The input behind a refused AUTH is dropped, not run: here it is
	 * a MAIL, but it may be the SASL responses (credentials) that a
	 * command would trace.  The next reply is the NOOP's.
	 */
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	cl_send(o, "AUTH PLAIN\r\nAGdvb2QAc2VjcmV0\r\n");
	expect_prefix(o, "503 5.5.1 Error: AUTH must be the last");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* the LOGIN steps may arrive together once the 334 was sent */
	cl_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "Z29vZA==\r\nc2VjcmV0\r\nNOOP\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	expect(o, "235 2.7.0 Authentication successful");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nmail, 0);
}

/* lines of the exchange may reach 12288 octets, not more (RFC 4954 4) */
static void
test_auth_line_bounds(void **state)
{
	struct owner	*o = *state;
	static char	 line[13000];
	size_t		 n;

	greet_auth(o);
	/* an 1100-octet initial response is a line, not "Line too long" */
	n = (size_t)snprintf(line, sizeof(line), "AUTH PLAIN ");
	memset(line + n, 'A', 1100);
	memcpy(line + n + 1100, "\r\n", 3);
	cl_send(o, line);
	expect(o, "501 5.5.2 Credentials too long");
	/* a 600-octet command other than AUTH is still too long */
	memset(line, 'N', 600);
	memcpy(line, "NOOP ", 5);
	memcpy(line + 600, "\r\n", 3);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	cl_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	memset(line, 'A', 12300);
	memcpy(line + 12300, "\r\n", 3);
	cl_send(o, line);
	expect(o, "500 5.5.6 Authentication Exchange line is too long");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/*
 * bare_newline = normalize: the line sent behind an over-long exchange
 * line (its password) is dropped as under reject, and a drop that ends
 * on a bare LF leaves no half line to swallow the next command.
 */
static void
test_auth_drop_normalized(void **state)
{
	struct owner	*o = *state;
	static char	 line[12400];

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet_auth(o);
	cl_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	memset(line, 'A', 12300);
	memcpy(line + 12300, "\r\nAGdvb2QAc2VjcmV0\r\n", 21);
	cl_send(o, line);
	expect(o, "500 5.5.6 Authentication Exchange line is too long");
	/* the next reply is the NOOP's, not a 500 for the password line */
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* the flag is spent: a later line is a command again */
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* a dropped line ending in a bare LF is a whole line */
	cl_send(o, "AUTH LOGIN\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "*\nc2VjcmV0\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	cl_send(o, "NOOP\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/* password guessing counts against the error limit */
static void
test_auth_guessing(void **state)
{
	struct owner	*o = *state;
	int		 i;

	greet_auth(o);
	for (i = 0; i < 9; i++) {
		cl_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
		expect(o, "535 5.7.8 Authentication credentials invalid");
	}
	cl_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	expect_prefix(o, "421 4.7.0 ");
	expect_closed(o, "too many errors");
}

/* the transcript shows neither the blobs nor the decoded secrets */
static void
test_auth_transcript(void **state)
{
	struct owner	*o = *state;
	char		 logbuf[65536];
	FILE		*f;
	size_t		 n;
	int		 saved;

	f = tmpfile();
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	log_setlevel(GW_LOG_DEBUG, LOGF_ALL);

	greet_auth(o);
	cl_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	cl_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	cl_send(o, "AGdvb2QAd3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	cl_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "d3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	cl_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	cl_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	cl_send(o, "c2VjcmV0\r\n");
	expect_prefix(o, "235 ");
	cl_send(o, "QUIT\r\n");
	expect_prefix(o, "221 ");
	expect_closed(o, "quit");

	fflush(stderr);
	log_setlevel(log_level_default(), LOGF_ALL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(logbuf, "< AUTH PLAIN <redacted>"));
	assert_non_null(strstr(logbuf, "< AUTH LOGIN <redacted>"));
	assert_non_null(strstr(logbuf, "< <redacted>"));
	assert_non_null(strstr(logbuf, "user=\"good\" result=ok"));
	assert_null(strstr(logbuf, "AGdvb2QAd3Jvbmc"));
	assert_null(strstr(logbuf, "d3Jvbmc"));
	assert_null(strstr(logbuf, "c2VjcmV0"));
	assert_null(strstr(logbuf, "Z29vZA"));
	assert_null(strstr(logbuf, "wrong"));
	assert_null(strstr(logbuf, "secret"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ONE(test_auth_redacted),
		ONE(test_auth_required),
		BOTH(test_auth_plain_initial),
		ONE(test_auth_plain_challenge),
		BOTH(test_auth_login),
		ONE(test_auth_temporary),
		ONE(test_auth_cancel),
		ONE(test_auth_fail_drops_pipelined),
		ONE(test_auth_errors),
		ONE(test_auth_pipelined),
		ONE(test_auth_line_bounds),
		ONE(test_auth_drop_normalized),
		ONE(test_auth_guessing),
		ONE(test_auth_transcript),
	};

	/* as in the daemon: a write to a closed peer is an error */
	signal(SIGPIPE, SIG_IGN);
	log_init(0, log_level_default(), LOGF_ALL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
