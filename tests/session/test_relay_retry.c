/*
 * test_relay_retry.c - a reused pooled connection that fails, end to end
 * in process over relay_fixture.h.  Before the upstream accepted anything
 * of the transaction, the RSET leading MAIL refused, answered 421,
 * closed or never answered, MAIL answered 421 or closed, each retried
 * once on a new connection unseen by the client; and no retry when the
 * new connection fails too, after MAIL's 250, or with the client's
 * pipelined commands already sent behind MAIL.
 */

#include "relay_fixture.h"

/*
 * That RSET refused: the connection is dropped with nothing of the
 * transaction accepted, the MAIL runs again on a new connection, and
 * the client sees only its 250.
 */
static void
test_pool_rset_refused_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", "554 5.5.1 Not today\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	t_free(t);
}

/*
 * A reused connection answers the RSET that leads MAIL with 421 and
 * closes: nothing of the transaction was accepted, so the MAIL runs
 * again on a new connection, the client sees only its 250, and the
 * dead connection gets no QUIT.
 */
static void
test_pool_rset_421_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, "421 4.3.2 shutting down") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * The upstream closes at the RSET that leads the next MAIL (sent in one
 * write with it): nothing of the transaction was accepted, so it runs
 * again on a new connection and the client sees only its 250.
 */
static void
test_pool_rset_closed_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", NULL },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, NULL) ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * The same lost connection, but the client pipelined: its RCPT and DATA
 * went upstream behind the MAIL (and the RSET leading it) before the
 * connection died.  Those commands went down with it, so there is no
 * retry: each of the three gets a 4xx, and no second connection opens.
 */
static void
test_pool_no_retry_behind_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", "" },
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", NULL },
		END
	};
	/* a retry would take this one, and the client would see 250s */
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;
	char		 log[8192], got[1024];
	int		 i;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	for (i = 0; i < 3; i++) {
		cl_reply(t, got, sizeof(got));
		if (strncmp(got, "451 4.4.2 ", 10) != 0)
			fail_msg("reply %d to the batch: '%s'", i + 1, got);
	}
	cmd(t, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	log_collect(t->dir, log, sizeof(log));
	if (log_has(log, " relay retry ", NULL))
		fail_msg("retried with commands behind MAIL:\n%s", log);
	assert_int_equal(t->up.accepts, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n");
	t_end(t);
	wait_count(t, 0);
	t_free(t);
}

/*
 * The upstream never answers the RSET that leads the next MAIL: after
 * command_timeout the transaction runs on a new connection (nothing was
 * accepted on the silent one), and the client still gets its 250.
 */
static void
test_pool_rset_timeout_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", HOLD },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "command_timeout = 1s\n"), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * A reused connection answers MAIL with 421 and closes: the MAIL runs
 * again, once, on a new connection, and the client sees only its 250.
 */
static void
test_pool_retry_421_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, "421 4.3.2 shutting down") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	assert_int_equal(t->up.conns[1].bodylen, strlen(MSG_UP));
	assert_memory_equal(t->up.conns[1].body, MSG_UP, strlen(MSG_UP));
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	t_free(t);
	/* t_free's shutdown: the one kept says QUIT */
}

/* a reused connection closed at MAIL, unanswered: retried the same way */
static void
test_pool_retry_closed_at_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", NULL },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* the retry's new connection fails too: a 4xx, and no third connection */
static void
test_pool_retry_once(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		{ "MAIL FROM:<a@src.test>",
		    "421 4.3.2 still shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s2[] = {
		GREET, EHLO_NP, TX("250 2.0.0 third\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	t->up.scripts[2] = s2;
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n");
	t_end(t);
	assert_int_equal(t->up.accepts, 2);
	wait_count(t, 0);
	t_free(t);
}

/* a reused connection lost after MAIL's 250: no retry, the client is told */
static void
test_pool_no_retry_after_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	assert_int_equal(t->up.accepts, 1);
	wait_count(t, 0);
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pool_rset_refused_retried,
		    teardown),
		cmocka_unit_test_teardown(test_pool_rset_421_retried, teardown),
		cmocka_unit_test_teardown(test_pool_rset_closed_retried,
		    teardown),
		cmocka_unit_test_teardown(test_pool_no_retry_behind_mail,
		    teardown),
		cmocka_unit_test_teardown(test_pool_rset_timeout_retried,
		    teardown),
		cmocka_unit_test_teardown(test_pool_retry_421_mail, teardown),
		cmocka_unit_test_teardown(test_pool_retry_closed_at_mail,
		    teardown),
		cmocka_unit_test_teardown(test_pool_retry_once, teardown),
		cmocka_unit_test_teardown(test_pool_no_retry_after_mail,
		    teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}


