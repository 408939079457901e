/*
 * test_smtp_client.c - the upstream SMTP client against a scripted fake
 * upstream (smtp_client_fixture.h), in cleartext: a transaction and its
 * pipelined batches, HELO fallback, the failures before ready(), replies
 * too long or of the wrong kind, STARTTLS optional and absent, the
 * timeouts, the upstream closing or answering 421 at each point, RSET,
 * CRLF in arguments, the body source and backpressure, freeing or
 * quitting from inside a callback, and an upstream that cannot be
 * reached or resolved.  The other themes: test_smtp_client_tls.c (real
 * TLS), test_smtp_client_auth.c (AUTH), test_smtp_client_reuse.c
 * (detach, attach, the idle watch, the retry rule).
 */
#include "smtp_client_fixture.h"

static const struct op ops_quit[] = {
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_plain[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 10000\r\n"
	    "250 8BITMIME\r\n"),
	EXP("MAIL FROM:<a@example.org> SIZE=20"),
	SEND("250 2.1.0 ok\r\n"),
	EXP("RCPT TO:<b@example.net>"),
	SEND("250 2.1.5 ok\r\n"),
	EXP("DATA"),
	SEND("354 go ahead\r\n"),
	{ ST_BODY, NULL },
	SEND("250 2.0.0 queued as 42\r\n"),
	EXP("QUIT"),
	SEND("221 2.0.0 bye\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static void
test_plain_transaction(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: hi\r\n\r\n.leading dot\r\n"
	    "..two\r\nend\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_plain, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[2], 250);
	assert_string_equal(sc.owner.reply_text[2], "queued as 42");
	assert_string_equal(sc.owner.tls, "none");
	assert_true(sc.owner.ext.flags & SMTP_EXT_SIZE);
	assert_true(sc.owner.ext.flags & SMTP_EXT_PIPELINING);
	assert_int_equal(sc.owner.ext.size, 10000);
	/* dot-stuffed on the wire, terminator after the final CRLF */
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, strlen("Subject: hi\r\n\r\n"
	    "..leading dot\r\n...two\r\nend\r\n"));
	assert_memory_equal(sc.fake.body, "Subject: hi\r\n\r\n..leading dot\r\n"
	    "...two\r\nend\r\n", sc.fake.bodylen);
	assert_int_equal(sc.fake.pc, 14);	/* QUIT seen, closed */
	sc_done(&sc);
}

/* RFC 2920: MAIL, RCPT, RCPT, DATA in one batch; replies in order */
static const struct step script_pipelined[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250 PIPELINING\r\n"),
	/* no reply before all four lines are in: lockstep would stall */
	EXP("MAIL FROM:<a@example.org>"),
	EXP("RCPT TO:<b@example.net>"),
	EXP("RCPT TO:<x@example.net>"),
	EXP("DATA"),
	SEND("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no x\r\n"
	    "354 go ahead\r\n"),
	{ ST_BODY, NULL },
	SEND("250 2.0.0 queued as 43\r\n"),
	EXP("QUIT"),
	SEND("221 2.0.0 bye\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static const struct op ops_pipelined[] = {
	{ OP_BATCH, NULL },
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_RCPT, "<x@example.net>" },
	{ OP_DATA, NULL },
	{ OP_BATCH_END, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static void
test_pipelined_batch(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: batch\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_pipelined, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.canpipe, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 4);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[2], 550);
	assert_string_equal(sc.owner.reply_text[2], "no x");
	assert_int_equal(sc.owner.replies[3], 250);
	assert_string_equal(sc.owner.reply_text[3], "queued as 43");
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.tx[3], SMTP_TX_DOT);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, strlen(msg));
	sc_done(&sc);
}

/* no PIPELINING offered: the same ops run one command per reply */
static const struct step script_no_pipelining[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250 mx.test hello\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<x@example.net>"), SEND("550 no x\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 queued\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_pipelining_not_offered(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_pipelining, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.canpipe, 0);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 4);
	assert_int_equal(sc.owner.replies[2], 550);
	assert_int_equal(sc.owner.replies[3], 250);
	sc_done(&sc);
}

/* a 421 in the middle of the replies to a batch: one failed(), no more */
static const struct step script_pipelined_421[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250 PIPELINING\r\n"),
	EXP("MAIL FROM:<a@example.org>"),
	EXP("RCPT TO:<b@example.net>"),
	EXP("RCPT TO:<x@example.net>"),
	EXP("DATA"),
	SEND("250 2.1.0 ok\r\n421 4.3.2 going down\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_pipelined_421(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_pipelined_421, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_REJECTED);
	assert_int_equal(b.calls, 0);	/* no body */
	sc_done(&sc);
}

static const struct step script_no_final_crlf[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_body_without_final_crlf(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "line\r\n.";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_final_crlf, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	/* "." stuffed to "..", then CRLF . CRLF added */
	assert_int_equal(sc.fake.bodylen, strlen("line\r\n..\r\n"));
	assert_memory_equal(sc.fake.body, "line\r\n..\r\n", sc.fake.bodylen);
	sc_done(&sc);
}

static void
test_empty_body(void **state)
{
	struct scenario	 sc;
	struct body	 b = { "", 0, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_final_crlf, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, 0);
	sc_done(&sc);
}

static const struct step script_helo[] = {
	BANNER,
	EXP("EHLO gw.test"), SEND("502 5.5.1 no EHLO here\r\n"),
	EXP("HELO gw.test"), SEND("250 mx.test\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_helo_fallback(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_helo, TLS_NONE);
	sc_run(&sc, ops_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ext.flags, 0);
	assert_string_equal(sc.fake.transcript, "EHLO gw.test\nHELO gw.test\nQUIT\n");
	sc_done(&sc);
}

/* scenarios that must end in failed(class) before ready() */
struct fail_case {
	const char	*name;
	struct step	 script[8];
	enum tls_mode	 mode;
	enum gw_fail	 want;
	const char	*text;		/* substring of the failure text */
};

static const struct fail_case fail_cases[] = {
	{ "banner 554", { SEND("554 5.7.1 go away\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "554 5.7.1 go away" },
	{ "banner 421", { SEND("421 4.3.2 busy\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "421" },
	{ "short line 25", { SEND("25\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "short" },
	{ "code 600", { SEND("600 what\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "code" },
	{ "code 2x0", { SEND("2x0 what\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "code" },
	{ "bad separator", { SEND("220_hi\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "separator" },
	{ "bare LF", { SEND("220 hi\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "bare" },
	{ "control char", { SEND("220 hi\x01there\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "Control" },
	{ "code changes", { SEND("220-hi\r\n250 there\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "changed" },
	{ "data after banner", { SEND("220 hi\r\n250 extra\r\n"),
	    { ST_SILENT, NULL } }, TLS_NONE, FAIL_PROTOCOL, "after its reply" },
	{ "close before banner", { { ST_CLOSE, NULL } },
	    TLS_NONE, FAIL_CLOSED, "closed" },
	{ "EHLO 4xx", { BANNER, EXP("EHLO"), SEND("451 4.3.0 later\r\n"),
	    { ST_SILENT, NULL } }, TLS_NONE, FAIL_REJECTED, "451" },
	{ "HELO refused", { BANNER, EXP("EHLO"), SEND("500 no\r\n"),
	    EXP("HELO"), SEND("550 no either\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "550" },
	{ "STARTTLS not offered", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 PIPELINING\r\n"), { ST_SILENT, NULL } },
	    TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "not offered" },
	{ "HELO only, TLS required", { BANNER, EXP("EHLO"),
	    SEND("502 no\r\n"), EXP("HELO"), SEND("250 ok\r\n"),
	    { ST_SILENT, NULL } }, TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "HELO" },
	{ "STARTTLS refused", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 STARTTLS\r\n"), EXP("STARTTLS"),
	    SEND("454 4.7.0 TLS not available\r\n"), { ST_SILENT, NULL } },
	    TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "refused" },
	{ "STARTTLS injection", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 STARTTLS\r\n"), EXP("STARTTLS"),
	    SEND("220 2.0.0 go ahead\r\n250 INJECTED-PLAINTEXT\r\n"),
	    { ST_SILENT, NULL } }, TLS_STARTTLS, FAIL_PROTOCOL,
	    "after its reply" },
};

static void
run_fail_case(const struct fail_case *fc)
{
	struct scenario	 sc;

	sc_init(&sc, fc->script, fc->mode);
	sc_run(&sc, ops_mail_wait, NULL);
	if (sc.owner.failed != 1 || sc.owner.fail_class != fc->want ||
	    strstr(sc.owner.fail_text, fc->text) == NULL)
		fail_msg("%s: failed=%d class=%s text='%s'; want %s '%s'",
		    fc->name, sc.owner.failed, fail_name(sc.owner.fail_class),
		    sc.owner.fail_text, fail_name(fc->want), fc->text);
	assert_int_equal(sc.owner.ready, 0);
	assert_int_equal(sc.owner.nreplies, 0);
	/* nothing of a transaction ever went out */
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	sc_done(&sc);
}

static void
test_failures_before_ready(void **state)
{
	size_t	 i;

	for (i = 0; i < sizeof(fail_cases) / sizeof(fail_cases[0]); i++) {
		if (fail_cases[i].mode != TLS_NONE && !pki_ok)
			continue;
		run_fail_case(&fail_cases[i]);
	}
}

static void
test_overlong_replies(void **state)
{
	struct step	 script[3];
	char		*many, *longline;
	size_t		 i, off = 0;
	struct scenario	 sc;

	/* 70 continuation lines: over SMTP_REPLY_LINES_MAX */
	many = malloc(70 * 16 + 32);
	assert_non_null(many);
	for (i = 0; i < 70; i++)
		off += (size_t)sprintf(many + off, "220-line %zu\r\n", i);
	(void)sprintf(many + off, "220 end\r\n");
	script[0].kind = ST_SEND;
	script[0].text = many;
	script[1].kind = ST_SILENT;
	script[1].text = NULL;
	script[2].kind = ST_END;
	sc_init(&sc, script, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_PROTOCOL);
	sc_done(&sc);
	free(many);

	/* one line of 1500 octets: over SMTP_REPLY_LINE_MAX */
	longline = malloc(1600);
	assert_non_null(longline);
	memcpy(longline, "220 ", 4);
	memset(longline + 4, 'x', 1500);
	memcpy(longline + 1504, "\r\n", 3);
	script[0].text = longline;
	sc_init(&sc, script, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_PROTOCOL);
	assert_non_null(strstr(sc.owner.fail_text, "too long"));
	sc_done(&sc);
	free(longline);
}

static const struct step script_optional_no_tls[] = {
	BANNER,
	EXP("EHLO"), SEND("250-mx.test\r\n250 SIZE 100\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_starttls_optional_not_offered(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_optional_no_tls, TLS_STARTTLS_OPTIONAL);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_string_equal(sc.owner.tls, "none");
	sc_done(&sc);
}

static const struct step script_optional_refused[] = {
	BANNER,
	EXP("EHLO"), SEND("250-mx.test\r\n250 STARTTLS\r\n"),
	EXP("STARTTLS"), SEND("454 4.7.0 not now\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_starttls_optional_refused(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_optional_refused, TLS_STARTTLS_OPTIONAL);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_string_equal(sc.owner.tls, "none");
	sc_done(&sc);
}

static const struct step script_silent_banner[] = {
	{ ST_SILENT, NULL },
	END
};

static void
test_timeout_banner(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_silent_banner, TLS_NONE);
	sc.up.connect_timeout = 1;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "BANNER"));
	sc_done(&sc);
}

static const struct step script_silent_mail[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), { ST_SILENT, NULL },
	END
};

static void
test_timeout_reply(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_silent_mail, TLS_NONE);
	sc.up.command_timeout = 1;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "MAIL"));
	assert_int_equal(sc.owner.nreplies, 0);
	sc_done(&sc);
}

static const struct step script_silent_dot[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	{ ST_SILENT, NULL },
	END
};

static void
test_timeout_after_dot(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_silent_dot, TLS_NONE);
	sc.up.command_timeout = 1;
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "delivered twice"));
	assert_int_equal(sc.owner.nreplies, 2);
	sc_done(&sc);
}

static void
test_close_after_dot(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_close_after_dot, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CLOSED);
	assert_string_equal(sc.owner.fail_text, "connection lost after end of "
	    "data; message may be delivered twice");
	sc_done(&sc);
}

static const struct step script_body_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 ok\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_body_source_error(void **state)
{
	struct scenario	 sc;
	char		*msg;
	struct body	 b;
	size_t		 i;

	/* 40 KiB, failing on the third call: some data is out, no dot */
	msg = malloc(40960);
	assert_non_null(msg);
	for (i = 0; i < 40960; i++)
		msg[i] = (i % 64) == 62 ? '\r' : (i % 64) == 63 ? '\n' : 'a';
	memset(&b, 0, sizeof(b));
	b.data = msg;
	b.len = 40960;
	b.fail_at_call = 3;
	sc_init(&sc, script_body_silent, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_INTERNAL);
	assert_int_equal(b.calls, 3);
	assert_false(sc.fake.got_dot);
	assert_int_equal(sc.owner.nreplies, 2);
	sc_done(&sc);
	free(msg);
}

static void
test_large_body_backpressure(void **state)
{
	struct scenario	 sc;
	const size_t	 len = 4000000;	/* whole 100-octet lines */
	char		*msg, *want;
	struct body	 b;
	size_t		 i, w = 0;

	msg = malloc(len);
	want = malloc(len * 2);
	assert_non_null(msg);
	assert_non_null(want);
	/* 100-octet lines, every 7th starting with a dot */
	for (i = 0; i < len; i++) {
		size_t	 col = i % 100, line = i / 100;

		if (col == 98)
			msg[i] = '\r';
		else if (col == 99)
			msg[i] = '\n';
		else if (col == 0 && line % 7 == 0)
			msg[i] = '.';
		else
			msg[i] = (char)('a' + (line % 26));
		if (col == 0 && msg[i] == '.')
			want[w++] = '.';
		want[w++] = msg[i];
	}
	memset(&b, 0, sizeof(b));
	b.data = msg;
	b.len = len;
	sc_init(&sc, script_plain, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.fake.bodylen, w);
	assert_memory_equal(sc.fake.body, want, w);
	/* streamed in bounded chunks, never the whole message at once */
	assert_true(b.maxcall <= 65536);
	assert_true((size_t)b.calls >= len / b.maxcall);
	sc_done(&sc);
	free(msg);
	free(want);
}

static void
test_421_in_transaction(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_421_mail, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 0);	/* failed(), not reply() */
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_REJECTED);
	assert_non_null(strstr(sc.owner.fail_text, "421 4.3.2 shutting down"));
	sc_done(&sc);
}

static const struct step script_close_idle[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static void
test_close_while_idle(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_close_idle, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CLOSED);
	sc_done(&sc);
}

static const struct step script_two_tx[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("RSET"), SEND("250 flushed\r\n"),
	EXP("MAIL FROM:<>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<nobody@example.net>"),
	SEND("550-5.1.1 no such user\r\n550 5.1.1 really\r\n"),
	EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static const struct op ops_two_tx[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RSET, NULL },
	{ OP_MAIL, "<>" },
	{ OP_RCPT, "<nobody@example.net>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static void
test_rset_and_rejected_rcpt(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_two_tx, TLS_NONE);
	sc_run(&sc, ops_two_tx, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 5);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[3], 550);
	assert_string_equal(sc.owner.reply_text[3], "no such user\nreally");
	assert_int_equal(sc.owner.replies[4], 250);
	sc_done(&sc);
}

/*
 * issue 10: only 354 answers DATA, and no 3xx answers MAIL, RCPT, RSET or
 * the final dot.  Each is failed(FAIL_PROTOCOL), never a reply(): a 250
 * to DATA passed on would be a 250 for a message never sent.
 */
static const struct op ops_mail_rset_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RSET, NULL },
	{ OP_NONE, NULL }
};

#define TX_UP_TO_DATA	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"), \
			EXP("MAIL"), SEND("250 ok\r\n"), \
			EXP("RCPT"), SEND("250 ok\r\n"), EXP("DATA")

static const struct {
	const char	*name;
	struct step	 script[16];
	const struct op	*ops;
	int		 nreplies;	/* replies before the wrong one */
	const char	*text;
} wrong_reply_cases[] = {
	{ "250 to DATA", { TX_UP_TO_DATA, SEND("250 2.0.0 ok\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 250 2.0.0 ok instead of 354" },
	{ "220 to DATA", { TX_UP_TO_DATA, SEND("220 hi\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 220 hi instead of 354" },
	{ "334 to DATA", { TX_UP_TO_DATA, SEND("334 go on\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 334 go on instead of 354" },
	{ "354 to the final dot", { TX_UP_TO_DATA, SEND("354 go\r\n"),
	    { ST_BODY, NULL }, SEND("354 more\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rcpt_data_wait, 2, "final dot answered with 354 more" },
	{ "354 to MAIL", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("354 sender ok\r\n"), { ST_SILENT, NULL } },
	    ops_mail_wait, 0, "MAIL answered with 354 sender ok" },
	{ "354 to RCPT", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("250 ok\r\n"), EXP("RCPT"),
	    SEND("354 rcpt ok\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rcpt_wait, 1, "RCPT answered with 354 rcpt ok" },
	{ "354 to RSET", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("250 ok\r\n"), EXP("RSET"),
	    SEND("354 reset\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rset_wait, 1, "RSET answered with 354 reset" },
};

static void
test_wrong_reply_kind(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b;
	size_t		 i;
	int		 j;

	for (i = 0; i < sizeof(wrong_reply_cases) /
	    sizeof(wrong_reply_cases[0]); i++) {
		memset(&b, 0, sizeof(b));
		b.data = msg;
		b.len = sizeof(msg) - 1;
		sc_init(&sc, wrong_reply_cases[i].script, TLS_NONE);
		sc_run(&sc, wrong_reply_cases[i].ops, &b);
		if (sc.owner.failed != 1 || sc.owner.fail_class != FAIL_PROTOCOL ||
		    strstr(sc.owner.fail_text, wrong_reply_cases[i].text) == NULL)
			fail_msg("%s: failed=%d class=%s text='%s'; want '%s'",
			    wrong_reply_cases[i].name, sc.owner.failed,
			    fail_name(sc.owner.fail_class), sc.owner.fail_text,
			    wrong_reply_cases[i].text);
		assert_string_equal(sc.fake.mismatch, "");
		/* the replies before it were 250s; the wrong one never came */
		assert_int_equal(sc.owner.nreplies,
		    wrong_reply_cases[i].nreplies);
		for (j = 0; j < sc.owner.nreplies; j++)
			assert_int_equal(sc.owner.replies[j], 250);
		/* and the connection is gone */
		assert_true(sc.fake.peer_eof);
		sc_done(&sc);
	}
}

static const struct op ops_inject[] = {
	{ OP_MAIL, "<a@example.org>\r\nRCPT TO:<evil@example.net>" },
	{ OP_NONE, NULL }
};

static const struct step script_ready_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_crlf_in_arguments(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	sc_run(&sc, ops_inject, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_INTERNAL);
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	assert_null(strstr(sc.fake.transcript, "evil"));
	sc_done(&sc);
}

static const struct op ops_free_in_reply[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_FREE, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_mail_then_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_free_inside_reply(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_mail_then_silent, TLS_NONE);
	sc_run(&sc, ops_free_in_reply, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.failed, 0);
	/* the fake saw the connection go away without QUIT */
	assert_true(sc.fake.peer_eof);
	assert_null(strstr(sc.fake.transcript, "QUIT"));
	sc_done(&sc);
}

static const struct step script_quit_at_ready[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"),
	{ ST_SILENT, NULL },	/* the client must close by itself */
	END
};

static void
test_quit_inside_ready(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_quit_at_ready, TLS_NONE);
	sc_run(&sc, ops_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_true(sc.fake.peer_eof);
	sc_done(&sc);
}

static const struct op ops_free_at_once[] = {
	{ OP_FREE, NULL },
	{ OP_NONE, NULL }
};

static void
test_free_while_resolving(void **state)
{
	struct scenario			 sc;
	struct smtp_client_params	 p;

	/* freed before the loop ever runs: the resolver must be cancelled */
	sc_init(&sc, script_ready_silent, TLS_NONE);
	memset(&p, 0, sizeof(p));
	p.base = sc.base;
	p.dns = sc.dns;
	p.up = &sc.up;
	sc.owner.ops = ops_free_at_once;
	sc.owner.c = smtp_client_new(&p, &owner_cb, &sc.owner);
	assert_non_null(sc.owner.c);
	smtp_client_free(sc.owner.c);
	(void)event_base_loop(sc.base, EVLOOP_NONBLOCK);
	assert_int_equal(sc.owner.ready, 0);
	assert_int_equal(sc.owner.failed, 0);
	sc_done(&sc);
}

static void
test_connect_refused(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	/* nothing listens on the port once the fake's listener is closed */
	event_del(sc.fake.lev);
	close(sc.fake.lfd);
	sc.fake.lfd = socket(AF_INET, SOCK_STREAM, 0);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CONNECT);
	assert_non_null(strstr(sc.owner.fail_text, "refused"));
	sc_done(&sc);
}

static void
test_dns_failure(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	(void)str_copy(sc.up.host, "no-such-host.invalid", sizeof(sc.up.host));
	sc.up.connect_timeout = 2;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_DNS);
	sc_done(&sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_transaction),
		cmocka_unit_test(test_pipelined_batch),
		cmocka_unit_test(test_pipelining_not_offered),
		cmocka_unit_test(test_pipelined_421),
		cmocka_unit_test(test_body_without_final_crlf),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_failures_before_ready),
		cmocka_unit_test(test_overlong_replies),
		cmocka_unit_test(test_starttls_optional_not_offered),
		cmocka_unit_test(test_starttls_optional_refused),
		cmocka_unit_test(test_timeout_banner),
		cmocka_unit_test(test_timeout_reply),
		cmocka_unit_test(test_timeout_after_dot),
		cmocka_unit_test(test_close_after_dot),
		cmocka_unit_test(test_body_source_error),
		cmocka_unit_test(test_large_body_backpressure),
		cmocka_unit_test(test_421_in_transaction),
		cmocka_unit_test(test_close_while_idle),
		cmocka_unit_test(test_rset_and_rejected_rcpt),
		cmocka_unit_test(test_wrong_reply_kind),
		cmocka_unit_test(test_crlf_in_arguments),
		cmocka_unit_test(test_free_inside_reply),
		cmocka_unit_test(test_quit_inside_ready),
		cmocka_unit_test(test_free_while_resolving),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_dns_failure),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
