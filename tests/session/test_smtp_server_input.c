/*
 * test_smtp_server_input.c - what a client sends that the client-facing
 * SMTP session must bound or refuse, against a fake owner
 * (smtp_server_fixture.h): the message size, bare LF, bare CR and NUL in
 * commands and body under reject and normalize (smuggling), the owner
 * refusing the body, line lengths, a body that drips in, junk commands,
 * the session time, and the commands the gateway does not relay.
 */
#include "smtp_server_fixture.h"

static void
test_body_too_big(void **state)
{
	struct owner	*o = *state;
	char		 line[101];
	int		 i;

	o->conf.max_message_size = 1024;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	memset(line, 'x', 98);
	memcpy(line + 98, "\r\n", 3);
	for (i = 0; i < 30; i++)
		cl_send(o, line);
	cl_send(o, ".\r\nNOOP\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_true(o->bodylen <= 1024);
}

static void
test_body_bare_lf(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	/* the smuggling shape: a bare-LF "end of data" and a second message */
	cl_send(o, "a\r\n\n.\nMAIL FROM:<evil@x.test>\r\nmore\r\n.\r\n");
	expect(o, "550 5.6.0 Message contains bare CR or LF");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_int_equal(o->nmail, 1);
	/* in sync again: the transaction is over */
	cl_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	run_for(o, 50);
	assert_int_equal(o->nabort, 1);
}

static void
test_body_bare_lf_normalized(void **state)
{
	struct owner	*o = *state;

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "a\nb\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 6);
	assert_memory_equal(o->body, "a\r\nb\r\n", 6);
}

static void
test_data_write_fails(void **state)
{
	struct owner	*o = *state;

	o->write_ret = -1;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "one\r\n");
	run_for(o, 30);
	cl_send(o, "two\r\n.\r\n");
	expect(o, "452 4.3.1 Insufficient system storage");
	assert_int_equal(o->nwrite, 1);
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
}

static void
test_data_begin_refused(void **state)
{
	struct owner	*o = *state;

	o->begin_ret = -1;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "451 4.3.0 ");
	cl_send(o, "DATA x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nbegin, 1);
}

static void
test_command_bare_lf(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "NOOP\nRSET\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
	assert_int_equal(o->nrset, 0);
	assert_int_equal(o->inlen, 0);
}

/* bare_newline = normalize: a command may end in a bare LF (Postfix's normalize) */
static void
test_command_bare_lf_normalized(void **state)
{
	struct owner	*o = *state;
	char		 line[700];

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	cl_send(o, "EHLO client.test\n");
	expect_prefix(o, "250-" HOST " Hello client.test");
	cl_send(o, "NOOP\nRSET\r\nMAIL FROM:<a@b.test>\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<c@d.test>\nDATA\n");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	/* the body's lines are normalised; only CRLF.CRLF ends it */
	cl_send(o, "a\nb\n.\nc\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->bodylen, 12);
	assert_memory_equal(o->body, "a\r\nb\r\n.\r\nc\r\n", 12);

	/* a line too long, ended by a bare LF, is skipped up to that LF */
	memset(line, 'X', 600);
	memcpy(line + 600, "\nNOOP\n", 7);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");
	/* 511 octets and LF: over the 512 bound as with CRLF */
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', 506);
	memcpy(line + 511, "\nNOOP\n", 7);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");
	/* 510 and LF fits, as 510 and CRLF does */
	memcpy(line + 510, "\nNOOP\n", 7);
	cl_send(o, line);
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");

	/* a bare CR is still no line end: answered and closed */
	cl_send(o, "NOOP\rRSET\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
	assert_int_equal(o->nrset, 1);
}

/* a NUL in the body is refused under reject, dropped under normalize */
static void
test_body_nul(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	/* the published probe: CRLF NUL "." CRLF is no end of data */
	cl_write(o, "a\r\n\0.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n",
	    35);
	expect(o, "550 5.6.0 Message contains NUL octet");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_int_equal(o->nmail, 1);
	assert_null(memchr(o->body, '\0', o->bodylen));
}

static void
test_body_nul_normalized(void **state)
{
	struct owner	*o = *state;

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_write(o, "a\r\n\0.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n",
	    35);
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->nmail, 1);
	assert_int_equal(o->bodylen, 31);
	assert_memory_equal(o->body, "a\r\n.\r\nMAIL FROM:<evil@x.test>\r\n",
	    31);
}

/* max_junk_commands: NOOP, RSET, VRFY... without a message, then 421 */
static void
test_junk_commands(void **state)
{
	struct owner	*o = *state;

	o->conf.max_junk_commands = 4;
	greet(o);			/* EHLO is the first */
	cl_send(o, "NOOP\r\nVRFY x\r\nRSET\r\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "252 2.5.2 Cannot VRFY user");
	expect(o, "250 2.0.0 Ok");
	/* an accepted message is progress: the count starts again */
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "x\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	cl_send(o, "NOOP\r\nNOOP\r\nHELP\r\nRSET\r\nNOOP\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect_prefix(o, "214 ");
	expect(o, "250 2.0.0 Ok");
	expect(o, "421 4.7.0 " HOST " Too many commands without a message, "
	    "closing connection");
	expect_closed(o, "junk-commands");
	assert_int_equal(o->nrset, 2);
}

/* max_session_time: the session ends at the bound, whatever it does */
static void
test_session_time(void **state)
{
	struct owner	*o = *state;
	struct timespec	 t0, t1;

	o->conf.max_session_time = 1;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "421 4.7.0 " HOST " Session time limit exceeded, "
	    "closing connection");
	expect_closed(o, "session-time");
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
}

/* the session time ends while the owner works: its answer comes first */
static void
test_session_time_owner_busy(void **state)
{
	struct owner	*o = *state;

	o->conf.max_session_time = 1;
	greet(o);
	cl_send(o, "MAIL FROM:<slow@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "421 4.7.0 " HOST " Session time limit exceeded, "
	    "closing connection");
	expect_closed(o, "session-time");
	assert_int_equal(o->nmail, 1);
}

/* long_lines = pass: a 5,000-octet line reaches the owner as it is */
static void
test_long_line_pass(void **state)
{
	struct owner	*o = *state;
	char		 msg[5100];

	o->conf.long_lines = LONG_LINES_PASS;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	memset(msg, 'h', 5000);
	memcpy(msg + 5000, "\r\n.\r\n", 6);
	cl_send(o, msg);
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 5002);
	assert_memory_equal(o->body, msg, 5002);
	assert_int_equal(o->nend, 1);
}

/* min_data_rate: a body dripping a byte at a time is cut off */
static void
test_data_drip(void **state)
{
	struct owner	*o = *state;
	struct timespec	 t0, t1;
	long		 ms;
	int		 i;

	o->conf.data_timeout = 1;
	o->conf.min_data_rate = 1000;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * 100 ms apart: never silent for data_timeout, but far too slow.  The
	 * session may close between two bytes, before the 421 is read here:
	 * a write that fails then is expected.
	 */
	for (i = 0; i < 40 && !have_reply(o); i++) {
		ssize_t	 n = write(o->cfd, "x", 1);

		(void)n;
		run_for(o, 100);
	}
	expect(o, "421 4.7.0 " HOST " Message data too slow, closing "
	    "connection");
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_closed(o, "min-data-rate");
	/* data_timeout (1 s) plus 1 ms per octet sent, and not much more */
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 950 && ms <= 3000);
	assert_true(i < 40);
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
}

static void
test_command_bare_cr(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "NOOP\rRSET\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
}

static void
test_long_line(void **state)
{
	struct owner	*o = *state;
	char		 line[700];

	greet(o);
	memset(line, 'X', 600);
	memcpy(line + 600, "\r\nNOOP\r\n", 9);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");

	/* the rest of the long line arrives later, its CR and LF split */
	memcpy(line, "NOOP ", 5);
	line[599] = '\r';
	line[600] = '\0';
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	run_for(o, 30);
	cl_send(o, "\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	run_for(o, 30);
	assert_int_equal(o->inlen, 0);
	assert_non_null(o->srv);
}

static void
test_misc_commands(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	cl_send(o, "help\r\n");
	expect_prefix(o, "214 2.0.0 ");
	cl_send(o, "VRFY postmaster\r\n");
	expect(o, "252 2.5.2 Cannot VRFY user");
	cl_send(o, "EXPN list\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	cl_send(o, "STARTTLS\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	cl_send(o, "AUTH PLAIN AGZvbwBiYXI=\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	cl_send(o, "BDAT 10 LAST\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	cl_send(o, "XYZZY\r\n");
	expect(o, "500 5.5.2 Command unrecognized");
	cl_send(o, "RSET x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nrset, 0);
	assert_non_null(o->srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_body_too_big),
		BOTH(test_body_bare_lf),
		ONE(test_body_bare_lf_normalized),
		ONE(test_data_write_fails),
		ONE(test_data_begin_refused),
		ONE(test_command_bare_lf),
		ONE(test_command_bare_lf_normalized),
		BOTH(test_body_nul),
		ONE(test_body_nul_normalized),
		BOTH(test_junk_commands),
		ONE(test_session_time),
		ONE(test_data_drip),
		ONE(test_session_time_owner_busy),
		ONE(test_long_line_pass),
		ONE(test_command_bare_cr),
		ONE(test_long_line),
		ONE(test_misc_commands),
	};

	/* as in the daemon: a write to a closed peer is an error */
	signal(SIGPIPE, SIG_IGN);
	log_init(0, log_level_default(), LOGF_ALL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
