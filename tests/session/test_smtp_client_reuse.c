/*
 * test_smtp_client_reuse.c - an upstream SMTP client that outlives its
 * transaction (issue 11) against the fake upstream
 * (smtp_client_fixture.h): detach and attach between owners (also to a
 * connection dropped meanwhile, and a give-back before ready()), the
 * idle watch, QUIT while idle or right after a detach, the transaction
 * state a failure reports (the retry rule), and reuse over TLS.
 */
#include "smtp_client_fixture.h"

static const struct op ops_tx_detach[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_DETACH, NULL },
	{ OP_NONE, NULL }
};

static const struct op ops_second_tx[] = {
	{ OP_MAIL, "<c@example.org>" },
	{ OP_RCPT, "<d@example.net>" },
	{ OP_DATA, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

#define TX_ONE	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"), \
		EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"), \
		EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"), \
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL }, \
		SEND("250 2.0.0 queued as 1\r\n")

static const struct step script_reuse[] = {
	TX_ONE,
	EXP("RSET"), SEND("250 2.0.0 flushed\r\n"),
	EXP("MAIL FROM:<c@example.org>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<d@example.net>"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL },
	SEND("250 2.0.0 queued as 2\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_detach_attach_two_owners(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: one\r\n\r\nfirst\r\n";
	static const char msg2[] = "Subject: two\r\n\r\nsecond\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	struct body	 b2 = { msg2, sizeof(msg2) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_reuse, TLS_NONE);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_second_tx;
	sc.owner2.body = &b2;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.fake.accepts, 1);	/* one connection for both */
	/* the first owner: its transaction, then nothing after detach */
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.tx[2], SMTP_TX_DOT);
	/* the second: ready() once, every reply, after detach's RSET */
	assert_int_equal(sc.holder.attach_rc, 0);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.failed, 0);
	assert_int_equal(sc.owner2.nreplies, 3);
	assert_string_equal(sc.owner2.reply_text[2], "queued as 2");
	assert_int_equal(sc.owner2.messages, 2);
	assert_string_equal(sc.fake.transcript, "EHLO gw.test\n"
	    "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.net>\nDATA\n"
	    "RSET\nMAIL FROM:<c@example.org>\nRCPT TO:<d@example.net>\n"
	    "DATA\nQUIT\n");
	assert_int_equal(sc.fake.bodylen, sizeof(msg) + sizeof(msg2) - 2);
	assert_memory_equal(sc.fake.body + sizeof(msg) - 1, msg2,
	    sizeof(msg2) - 1);
	sc_done(&sc);
}

/* what the upstream does to a connection once it idles */
static const struct {
	const char	*name;
	struct step	 script[24];
	enum gw_fail	 want;
	const char	*text;
} idle_dead_cases[] = {
	{ "closed while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    { ST_CLOSE, NULL }, END }, FAIL_CLOSED, "closed by upstream" },
	{ "421 while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    SEND("421 4.4.2 mx.test idle timeout\r\n"), { ST_SILENT, NULL },
	    END }, FAIL_REJECTED, "421 while idle: 421 4.4.2 mx.test idle" },
	{ "reply while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    SEND("250 surprise\r\n"), { ST_SILENT, NULL }, END },
	    FAIL_PROTOCOL, "unsolicited data while idle: 250 surprise" },
	{ "partial line while idle", { TX_ONE, EXP("RSET"),
	    SEND("250 ok\r\n"), SEND("2"), { ST_SILENT, NULL }, END },
	    FAIL_PROTOCOL, "unsolicited data while idle: 2" },
	{ "RSET refused", { TX_ONE, EXP("RSET"),
	    SEND("500 5.5.1 what\r\n"), { ST_SILENT, NULL }, END },
	    FAIL_REJECTED, "RSET before reuse answered 500 5.5.1 what" },
	{ "closed before RSET's reply", { TX_ONE, EXP("RSET"),
	    { ST_CLOSE, NULL }, END }, FAIL_CLOSED, "in state RSET" },
};

static void
test_idle_dead(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b;
	size_t		 i;

	for (i = 0; i < sizeof(idle_dead_cases) / sizeof(idle_dead_cases[0]);
	    i++) {
		memset(&b, 0, sizeof(b));
		b.data = msg;
		b.len = sizeof(msg) - 1;
		sc_init(&sc, idle_dead_cases[i].script, TLS_NONE);
		sc.holder.action = H_WAIT;
		sc_run(&sc, ops_tx_detach, &b);
		if (sc.holder.dead != 1 ||
		    sc.holder.dead_class != idle_dead_cases[i].want ||
		    strstr(sc.holder.dead_text, idle_dead_cases[i].text) == NULL)
			fail_msg("%s: dead=%d class=%s text='%s'; want %s '%s'",
			    idle_dead_cases[i].name, sc.holder.dead,
			    fail_name(sc.holder.dead_class), sc.holder.dead_text,
			    fail_name(idle_dead_cases[i].want),
			    idle_dead_cases[i].text);
		assert_string_equal(sc.fake.mismatch, "");
		/* the owner saw its transaction and nothing after detach */
		assert_int_equal(sc.owner.nreplies, 3);
		assert_int_equal(sc.owner.failed, 0);
		/* no QUIT to a dead connection */
		assert_null(strstr(sc.fake.transcript, "QUIT"));
		sc_done(&sc);
	}
}

static const struct step script_quit_idle[] = {
	TX_ONE,
	EXP("RSET"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_SILENT, NULL },
	END
};

static void
test_quit_while_idle(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_quit_idle, TLS_NONE);
	sc.holder.action = H_QUIT;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.acted, 1);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.fake.pc, 15);	/* QUIT seen and answered */
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);		/* and the client closed */
	sc_done(&sc);
}

/* a connection that never carried a MAIL idles without RSET */
static const struct op ops_detach_at_ready[] = {
	{ OP_DETACH, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_fresh_reuse[] = {
	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL FROM:<c@example.org>"),
	SEND("421 4.7.0 mx.test too many connections\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static const struct op ops_mail_only[] = {
	{ OP_MAIL, "<c@example.org>" },
	{ OP_NONE, NULL }
};

static void
test_reused_421_to_mail(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_fresh_reuse, TLS_NONE);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_mail_only;
	sc_run(&sc, ops_detach_at_ready, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_null(strstr(sc.fake.transcript, "RSET"));
	/* the second owner got the first one's connection, not a new one */
	assert_int_equal(sc.fake.accepts, 1);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.failed, 1);
	assert_int_equal(sc.owner2.fail_class, FAIL_REJECTED);
	/* nothing of the transaction was accepted: the pool may retry */
	assert_int_equal(sc.owner2.fail_tx, SMTP_TX_NONE);
	sc_done(&sc);
}

/* the retry rule on failures at each point of a transaction */
static const struct step script_close_after_mail[] = {
	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), { ST_CLOSE, NULL },
	END
};

static void
test_tx_state_on_failure(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	/* 421 to MAIL: nothing accepted */
	sc_init(&sc, script_421_mail, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_NONE);
	sc_done(&sc);

	/* closed after MAIL's 250: the upstream had the sender */
	sc_init(&sc, script_close_after_mail, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_wait, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_MAIL);
	sc_done(&sc);

	/* closed after the final dot: never retried */
	sc_init(&sc, script_close_after_dot, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_DOT);
	sc_done(&sc);
}

static void
test_quit_right_after_detach(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE,
		EXP("RSET"), EXP("QUIT"), SEND("250 ok\r\n221 bye\r\n"),
		{ ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.holder.action = H_QUIT_NOW;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	/* QUIT follows detach's RSET on the wire */
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);
	sc_done(&sc);
}

/*
 * smtp_client_quit() while detach's RSET is in flight (SIGTERM or SIGHUP
 * as a session gives its connection back): QUIT follows the RSET on the
 * wire, and the reply to the RSET must not be taken for QUIT's.  The
 * upstream here answers the RSET and never QUIT: the client waits for
 * QUIT's reply until its timer (command_timeout, 1 s) instead of closing
 * at the RSET's 250, after which a real server may never see the QUIT.
 */
static void
test_quit_during_detach_rset_waits_for_quit_reply(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE,
		EXP("RSET"), EXP("QUIT"), SEND("250 ok\r\n"),
		{ ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.up.command_timeout = 1;
	sc.holder.action = H_QUIT_NOW;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);
	/* 10 ms a tick: closed at the timer, not at the RSET's reply */
	if (sc.ticks < 80)
		fail_msg("closed after %u ticks: the RSET's reply ended QUIT",
		    (unsigned)sc.ticks);
	sc_done(&sc);
}

static void
test_attach_to_dropped(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE, EXP("RSET"), SEND("250 ok\r\n"), { ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.holder.action = H_DROP_ATTACH;
	sc.owner2.ops = ops_mail_only;
	sc_run(&sc, ops_tx_detach, &b);
	/* attach saw the EOF itself: -1, and no callback to anyone */
	assert_int_equal(sc.holder.attach_rc, -1);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.owner2.ready, 0);
	assert_int_equal(sc.owner2.failed, 0);
	assert_null(strstr(sc.fake.transcript, "MAIL FROM:<c@"));
	sc_done(&sc);
}

#define TX_ONE_TLS { ST_TLS, NULL }, BANNER, EXP("EHLO"), \
		SEND("250 mx.test\r\n"), \
		EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"), \
		EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"), \
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL }, \
		SEND("250 2.0.0 queued as 1\r\n")

static void
test_tls_reuse_and_idle_close(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	struct body	 b2 = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step reuse[] = {
		TX_ONE_TLS,
		EXP("RSET"), SEND("250 ok\r\n"),
		EXP("MAIL FROM:<c@example.org>"), SEND("250 ok\r\n"),
		EXP("RCPT TO:<d@example.net>"), SEND("250 ok\r\n"),
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL },
		SEND("250 2.0.0 queued as 2\r\n"),
		EXP("QUIT"), SEND("221 bye\r\n"), { ST_TLS_CLOSE, NULL },
		END
	};
	/* the RSET reply, then close_notify in the same flight */
	static const struct step notify[] = {
		TX_ONE_TLS, EXP("RSET"), SEND("250 ok\r\n"),
		{ ST_TLS_CLOSE, NULL }, END
	};
	/* two records at once: wolfSSL holds the second after the first */
	static const struct step late421[] = {
		TX_ONE_TLS, EXP("RSET"), { ST_CORK, "1" }, SEND("250 ok\r\n"),
		SEND("421 4.4.2 bye\r\n"), { ST_CORK, "0" },
		{ ST_SILENT, NULL }, END
	};

	NEED_PKI();
	sc_init(&sc, reuse, TLS_IMPLICIT);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_second_tx;
	sc.owner2.body = &b2;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.fake.accepts, 1);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.nreplies, 3);
	assert_int_equal(sc.owner2.messages, 2);
	assert_int_equal(sc.holder.dead, 0);
	sc_done(&sc);

	b.off = 0;
	sc_init(&sc, notify, TLS_IMPLICIT);
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.holder.dead, 1);
	assert_int_equal(sc.holder.dead_class, FAIL_CLOSED);
	sc_done(&sc);

	b.off = 0;
	sc_init(&sc, late421, TLS_IMPLICIT);
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.holder.dead, 1);
	/* read with the 250 (data after a reply) or on its own (421) */
	assert_true(sc.holder.dead_class == FAIL_REJECTED ||
	    sc.holder.dead_class == FAIL_PROTOCOL);
	sc_done(&sc);
}

static void
test_give_back_before_ready(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	memset(&cur_owner2, 0, sizeof(cur_owner2));
	sc_init(&sc, script_quit_idle, TLS_NONE);
	sc.holder.action = H_BOUNCE;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	/* the short owner never heard anything */
	assert_int_equal(cur_owner2.ready + cur_owner2.failed +
	    cur_owner2.nreplies, 0);
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	sc_done(&sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_detach_attach_two_owners),
		cmocka_unit_test(test_idle_dead),
		cmocka_unit_test(test_quit_while_idle),
		cmocka_unit_test(test_reused_421_to_mail),
		cmocka_unit_test(test_tx_state_on_failure),
		cmocka_unit_test(test_quit_right_after_detach),
		cmocka_unit_test(test_quit_during_detach_rset_waits_for_quit_reply),
		cmocka_unit_test(test_attach_to_dropped),
		cmocka_unit_test(test_tls_reuse_and_idle_close),
		cmocka_unit_test(test_give_back_before_ready),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
