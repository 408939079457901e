/*
 * test_smtp_server.c - the client-facing SMTP session against a fake
 * owner (smtp_server_fixture.h): the greeting and EHLO, a transaction,
 * pipelined groups, the owner's replies passed on, MAIL and RCPT
 * parameters (SIZE, DSN, REQUIRETLS), addresses, recipient and error
 * limits, RSET, the timeouts, a client gone mid-body, QUIT, drain,
 * output backpressure and a session freed while the owner works.  The
 * other themes: test_smtp_server_input.c (what the client sends that
 * must be bounded or refused) and test_smtp_server_auth.c (AUTH).
 */
#include "smtp_server_fixture.h"

static void
test_greeting(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	assert_string_equal(smtp_server_info(o->srv)->peer, "127.0.0.1");
	assert_int_equal(smtp_server_info(o->srv)->id, 0x1234);
}

static void
test_greeting_banner(void **state)
{
	struct owner	*o = *state;

	snprintf(o->conf.banner, sizeof(o->conf.banner), "mx ready\x07");
	start(o);
	expect(o, "220 mx ready?");
}

static void
test_ehlo_capabilities(void **state)
{
	struct owner			*o = *state;
	const struct smtp_server_info	*info;

	start(o);
	expect_prefix(o, "220 ");
	cl_send(o, "EHLO client.test\r\n");
	expect(o, "250-" HOST " Hello client.test [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n"
	    "250-DSN\r\n"
	    "250 SMTPUTF8");
	info = smtp_server_info(o->srv);
	assert_string_equal(info->helo, "client.test");
	assert_int_equal(info->esmtp, 1);

	cl_send(o, "HELO other.test\r\n");
	expect(o, "250 " HOST);
	assert_string_equal(info->helo, "other.test");
	assert_int_equal(info->esmtp, 0);

	cl_send(o, "EHLO\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "HELO bad..name\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_string_equal(info->helo, "other.test");
}

static void
test_mail_before_ehlo(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	cl_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "503 5.5.1 ");
	assert_int_equal(o->nmail, 0);
	assert_int_equal(o->nrcpt, 0);
	assert_int_equal(o->nbegin, 0);
}

/* both: the whole dialogue, one command at a time */
static void
test_transaction(void **state)
{
	struct owner	*o = *state;
	const char	*want =
	    "Subject: t\r\n\r\n.leading dot\r\n..two\r\nend\r\n";

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_string_equal(o->from, "a@b.test");
	cl_send(o, "RCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect(o, "354 End data with <CR><LF>.<CR><LF>");
	cl_send(o, "Subject: t\r\n\r\n..leading dot\r\n...two\r\nend\r\n");
	cl_send(o, ".\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, strlen(want));
	assert_memory_equal(o->body, want, strlen(want));
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->nabort, 0);

	/* a second transaction on the same session */
	o->bodylen = 0;
	cl_send(o, "MAIL FROM:<>\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_string_equal(o->from, "");
	cl_send(o, "RCPT TO:<Postmaster>\r\n");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, ".\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 0);

	cl_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_string_equal(o->calls, "MRBEMRBEC");
}

/* both: a pipelined group gets its replies in order, one per command */
static void
test_pipelined(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<bad@d.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	expect(o, "550 5.1.1 User unknown");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	cl_send(o, "hello\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_string_equal(o->calls, "MRRRBE");
	assert_memory_equal(o->body, "hello\r\n", 7);
}

/*
 * both: everything in one write, body and QUIT included, then a
 * half-close: bytes after DATA are the body, the rest is answered.
 */
static void
test_pipelined_with_body_and_eof(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nline 1\r\n.\r\nQUIT\r\n");
	assert_int_equal(shutdown(o->cfd, SHUT_WR), 0);
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	expect(o, "250 2.0.0 Ok: queued");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_memory_equal(o->body, "line 1\r\n", 8);
	assert_string_equal(o->calls, "MRBEC");
}

/* both: a rejected RCPT passes through; DATA then has no recipient */
static void
test_rcpt_rejected(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "DATA\r\n");
	expect(o, "503 5.5.1 Error: need RCPT command");
	cl_send(o, "RCPT TO:<bad@d.test>\r\n");
	expect(o, "550 5.1.1 User unknown");
	cl_send(o, "DATA\r\n");
	expect(o, "554 5.5.1 No valid recipients");
	assert_int_equal(o->nbegin, 0);
	/* the owner's multi-line text is made safe for the client */
	cl_send(o, "RCPT TO:<multi@d.test>\r\n");
	expect(o, "550-5.1.1 first line\r\n550 5.1.1 second?line??");
}

/* both: the owner's reply is bounded in lines and length, and checked */
static void
test_owner_reply_bounds(void **state)
{
	struct owner	*o = *state;
	char		 want[8192], y[511];
	size_t		 n;
	int		 i;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<huge@d.test>\r\n");
	/* a mismatched enhanced code is dropped; 510 octets per line */
	memset(y, 'y', 506);
	y[506] = '\0';
	n = (size_t)snprintf(want, sizeof(want), "550-%s", y);
	for (i = 1; i < 31; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
		    "\r\n550-line%d", i);
	(void)snprintf(want + n, sizeof(want) - n, "\r\n550 line31");
	expect(o, want);
	cl_send(o, "RCPT TO:<weird@d.test>\r\n");
	expect(o, "451 4.3.0 Local error in processing");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
}

/* both: a rejected MAIL opens no transaction */
static void
test_mail_rejected(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<reject@b.test>\r\n");
	expect(o, "550 5.7.1 Sender rejected");
	cl_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "503 5.5.1 Error: nested MAIL command");
	assert_int_equal(o->nmail, 2);
}

/* both: 421 from the owner closes the session after it is sent */
static void
test_owner_421(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<shutdown@b.test>\r\nNOOP\r\n");
	expect(o, "421 4.3.2 Upstream going away");
	expect_closed(o, "owner closed");
	assert_int_equal(o->inlen, 0);
}

static void
test_mail_params(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test> SIZE=20000\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	cl_send(o, "MAIL FROM:<a@b.test> SIZE=99999999999999999999999\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	cl_send(o, "MAIL FROM:<a@b.test> SIZE=12x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> FOO=BAR\r\n");
	expect_prefix(o, "555 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> SMTPUTF8=1\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nmail, 0);

	cl_send(o, "MAIL FROM:<a@b.test> SIZE=10240 BODY=7bit\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<c@d.test> FOO=BAR\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nrcpt, 0);
}

/*
 * RFC 8689: REQUIRETLS offered on TLS sessions only by default, so a
 * plaintext session neither sees it nor may use it (530 5.7.10);
 * "always" offers it in plaintext too, "no" never
 */
static void
test_requiretls(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	cl_send(o, "EHLO client.test\r\n");
	assert_null(strstr(take_reply(o), "REQUIRETLS"));
	cl_send(o, "MAIL FROM:<a@b.test> REQUIRETLS\r\n");
	expect(o, "530 5.7.10 REQUIRETLS needs a TLS session");
	assert_int_equal(o->nmail, 0);
}

static void
test_requiretls_no(void **state)
{
	struct owner	*o = *state;

	o->conf.requiretls = REQUIRETLS_NO;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test> REQUIRETLS\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nmail, 0);
}

static void
test_requiretls_always(void **state)
{
	struct owner	*o = *state;

	o->conf.requiretls = REQUIRETLS_ALWAYS;
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	cl_send(o, "EHLO client.test\r\n");
	assert_non_null(strstr(take_reply(o), "\r\n250-REQUIRETLS\r\n"));
	cl_send(o, "MAIL FROM:<a@b.test> REQUIRETLS=yes\r\n");
	expect(o, "501 5.5.4 REQUIRETLS takes no value");
	cl_send(o, "MAIL FROM:<a@b.test> requiretls BODY=8BITMIME\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_int_equal(o->nmail, 1);
	assert_int_equal(o->requiretls, 1);
	/* RCPT knows no REQUIRETLS */
	cl_send(o, "RCPT TO:<c@d.test> REQUIRETLS\r\n");
	expect_prefix(o, "555 5.5.4 ");
}

/* RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT */
static void
test_dsn_params(void **state)
{
	struct owner	*o = *state;
	char		 line[SMTP_MAILRCPT_LINE_MAX + 16];
	size_t		 n;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test> RET=HEADERS\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> ENVID=x+0D+0Ay\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> NOTIFY=NEVER\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nmail, 0);
	cl_send(o, "MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ+2B1\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<c@d.test> NOTIFY=NEVER,DELAY\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "RCPT TO:<c@d.test> ORCPT=c@d.test\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "RCPT TO:<c@d.test> RET=FULL\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nrcpt, 0);
	cl_send(o, "RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;c@d.test\r\n");
	expect(o, "250 2.1.5 Ok");
	assert_int_equal(o->nrcpt, 1);

	/* RFC 3461 4: a RCPT line may be 500 octets longer than 512 */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> "
	    "NOTIFY=DELAY ORCPT=rfc822;");
	memset(line + n, 'o', SMTP_MAILRCPT_LINE_MAX - 2 - n - 4);
	memcpy(line + SMTP_MAILRCPT_LINE_MAX - 2 - 4, "@d.t\r\n", 7);
	assert_int_equal(strlen(line), SMTP_MAILRCPT_LINE_MAX);
	cl_send(o, line);
	expect_prefix(o, "501 5.5.4 ");	/* ORCPT value over 500 octets */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> "
	    "ORCPT=rfc822;");
	memset(line + n, 'o', 480);
	memcpy(line + n + 480, "@d.test\r\n", 10);
	assert_true(strlen(line) > SMTP_CMD_LINE_MAX);
	cl_send(o, line);
	expect(o, "250 2.1.5 Ok");
	assert_int_equal(o->nrcpt, 2);
	/* one octet more than the bound: too long, whatever it holds */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> X=");
	memset(line + n, 'o', SMTP_MAILRCPT_LINE_MAX - 2 - n + 1);
	memcpy(line + SMTP_MAILRCPT_LINE_MAX - 1, "\r\n", 3);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	/* other commands keep the 512 of RFC 5321 */
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'n', 600);
	memcpy(line + 605, "\r\n", 3);
	cl_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	cl_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
}

static void
test_params_after_helo(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	cl_send(o, "HELO client.test\r\n");
	expect(o, "250 " HOST);
	cl_send(o, "MAIL FROM:<a@b.test> SIZE=10\r\n");
	expect_prefix(o, "555 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
}

static void
test_bad_addresses(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a b@c>\r\n");
	expect_prefix(o, "501 5.1.7 ");
	cl_send(o, "MAIL TO:<a@b.test>\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<a@b.test> =x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	cl_send(o, "MAIL FROM:<\xc3\xbc@b.test>\r\n");
	expect_prefix(o, "553 5.6.7 ");
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<\xc3\xa9@d.test>\r\n");
	expect_prefix(o, "553 5.6.7 ");
	cl_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	cl_send(o, "MAIL FROM:<\xc3\xbc@b.test> SMTPUTF8\r\n");
	expect(o, "250 2.1.0 Ok");
	cl_send(o, "RCPT TO:<\xc3\xa9@d.test>\r\n");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "RCPT TO:<>\r\n");
	expect_prefix(o, "501 5.1.3 ");
	cl_send(o, "RCPT TO:<c@d.test\r\n");
	expect_prefix(o, "501 5.1.3 ");
	assert_int_equal(o->nmail, 2);
	assert_int_equal(o->nrcpt, 1);
}

static void
test_too_many_recipients(void **state)
{
	struct owner	*o = *state;

	o->conf.max_recipients = 2;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bad@d.test>\r\n"
	    "RCPT TO:<c1@d.test>\r\nRCPT TO:<c2@d.test>\r\n"
	    "RCPT TO:<c3@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	/* only accepted recipients count */
	expect(o, "550 5.1.1 User unknown");
	expect(o, "250 2.1.5 Ok");
	expect(o, "250 2.1.5 Ok");
	expect(o, "452 4.5.3 Too many recipients");
	assert_int_equal(o->nrcpt, 3);
}

/* both: RSET always reaches the owner; EHLO inside a transaction too */
static void
test_rset_and_ehlo_reset(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	cl_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nrset, 1);
	cl_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-");
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "EHLO again.test\r\n");
	expect_prefix(o, "250-" HOST " Hello again.test");
	assert_int_equal(o->nrset, 2);
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "503 5.5.1 ");
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRSET\r\nDATA\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect_prefix(o, "503 5.5.1 ");
	assert_string_equal(o->calls, "SMRSMS");
}

static void
test_too_many_errors(void **state)
{
	struct owner	*o = *state;
	int		 i;

	greet(o);
	for (i = 0; i < 9; i++)
		cl_send(o, "BOGUS\r\n");
	for (i = 0; i < 9; i++)
		expect(o, "500 5.5.2 Command unrecognized");
	cl_send(o, "BOGUS\r\nNOOP\r\n");
	expect(o, "500 5.5.2 Command unrecognized");
	expect(o, "421 4.7.0 " HOST " Too many errors");
	expect_closed(o, "too many errors");
	assert_int_equal(o->inlen, 0);
}

static void
test_command_timeout(void **state)
{
	struct owner	*o = *state;

	o->conf.command_timeout = 1;
	greet(o);
	expect(o, "421 4.4.2 " HOST " Timeout, closing connection");
	expect_closed(o, "timeout");
}

static void
test_data_timeout(void **state)
{
	struct owner	*o = *state;

	o->conf.data_timeout = 1;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "partial\r\n");
	expect(o, "421 4.4.2 " HOST " Timeout, closing connection");
	expect_closed(o, "timeout");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_string_equal(o->calls, "MRBAC");
}

static void
test_client_gone_in_body(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "partial\r\n");
	assert_int_equal(shutdown(o->cfd, SHUT_WR), 0);
	run_until(o, have_closed, 5);
	assert_string_equal(o->reason, "client closed");
	assert_string_equal(o->calls, "MRBAC");
}

static void
test_quit(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_string_equal(o->calls, "C");
}

static void
test_drain_idle(void **state)
{
	struct owner	*o = *state;

	greet(o);
	smtp_server_drain(o->srv);
	/* nothing is sent from inside the owner's call */
	assert_int_equal(o->inlen, 0);
	assert_int_equal(o->nclosed, 0);
	expect(o, "421 4.3.2 Service shutting down");
	expect_closed(o, "drain");
}

/* both: draining waits for the transaction's final reply */
static void
test_drain_in_transaction(void **state)
{
	struct owner	*o = *state;

	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	smtp_server_drain(o->srv);
	run_for(o, 50);
	assert_int_equal(o->inlen, 0);
	cl_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	cl_send(o, "body\r\n.\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	expect(o, "421 4.3.2 Service shutting down");
	expect_closed(o, "drain");
	assert_string_equal(o->calls, "MRBEC");
}

/* many pipelined commands: all answered, in order, across loop turns */
static void
test_many_pipelined(void **state)
{
	struct owner	*o = *state;
	char		 want[32];
	int		 i;

	greet(o);
	for (i = 0; i < 300; i++)
		cl_send(o, i % 2 ? "NOOP\r\n" : "VRFY x\r\n");
	for (i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "%s", i % 2 ? "250 2.0.0 Ok" :
		    "252 2.5.2 Cannot VRFY user");
		expect(o, want);
	}
	assert_non_null(o->srv);
}

/*
 * A client that pipelines thousands of commands without reading: the
 * session stops at its output bound and resumes as the client reads;
 * every reply arrives, in order.
 */
static void
test_output_backpressure(void **state)
{
	struct owner	*o = *state;
	static char	 flood[6 * 40000];
	size_t		 sent, ncmd, i;
	ssize_t		 n;
	int		 idle, small = 4096;

	for (i = 0; i < sizeof(flood); i += 6)
		memcpy(flood + i, "NOOP\r\n", 6);

	assert_int_equal(setsockopt(o->sfd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	assert_int_equal(setsockopt(o->cfd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	greet(o);
	event_del(o->rev);
	/* write until neither side can take more */
	for (sent = 0, idle = 0; sent < sizeof(flood) && idle < 20; ) {
		n = write(o->cfd, flood + sent, sizeof(flood) - sent);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			assert_true(errno == EAGAIN);
			run_for(o, 5);
			idle++;
		}
	}
	/* well past what the output bound alone can hold */
	ncmd = (sent + 5) / 6;
	assert_true(ncmd * 14 > 64 * 1024);
	assert_int_equal(event_add(o->rev, NULL), 0);
	if (sent % 6 != 0)
		cl_write(o, flood + sent, 6 - sent % 6);
	for (i = 0; i < ncmd; i++)
		expect(o, "250 2.0.0 Ok");
	cl_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
}

/* the owner frees the session outside closed(): no further callback */
static void
test_free_while_waiting(void **state)
{
	struct owner	*o = *state;

	o->async = 1;
	greet(o);
	cl_send(o, "MAIL FROM:<a@b.test>\r\n");
	run_until(o, have_pending, 5);
	smtp_server_free(o->srv);
	o->srv = NULL;
	run_until(o, have_eof, 5);
	assert_int_equal(o->nclosed, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ONE(test_greeting),
		ONE(test_greeting_banner),
		ONE(test_ehlo_capabilities),
		ONE(test_mail_before_ehlo),
		BOTH(test_transaction),
		BOTH(test_pipelined),
		BOTH(test_pipelined_with_body_and_eof),
		BOTH(test_rcpt_rejected),
		BOTH(test_mail_rejected),
		BOTH(test_owner_reply_bounds),
		BOTH(test_owner_421),
		ONE(test_mail_params),
		ONE(test_dsn_params),
		ONE(test_requiretls),
		ONE(test_requiretls_always),
		ONE(test_requiretls_no),
		ONE(test_params_after_helo),
		ONE(test_bad_addresses),
		BOTH(test_too_many_recipients),
		BOTH(test_rset_and_ehlo_reset),
		ONE(test_too_many_errors),
		ONE(test_command_timeout),
		BOTH(test_data_timeout),
		ONE(test_client_gone_in_body),
		ONE(test_quit),
		ONE(test_drain_idle),
		BOTH(test_drain_in_transaction),
		ONE(test_many_pipelined),
		ONE(test_output_backpressure),
		ONE(test_free_while_waiting),
	};

	/* as in the daemon: a write to a closed peer is an error */
	signal(SIGPIPE, SIG_IGN);
	log_init(0, log_level_default(), LOGF_ALL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
