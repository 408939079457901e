/*
 * test_relay.c - the relay (src/relay/relay.c) end to end, in process,
 * through relay.h's public API only: a configuration loaded with
 * conf_load() from a small INI file, a client on one end of a socketpair
 * handed to relay_session_start(), and a scripted upstream SMTP server on
 * a loopback listener inside the same event_base (relay_fixture.h).  The
 * upstream records every byte it received, so the tests assert what the
 * upstream saw, not only what the client was told.
 *
 * This file: one transaction and its replies passed through, the
 * upstream's failures, ESMTP parameters, RSET and drain.  The other
 * themes: test_relay_data.c (pipelining, DATA refused, streaming),
 * test_relay_auth.c (Received, DKIM, the AUTH modes), test_relay_pool.c
 * (the upstream connection pool), test_relay_retry.c (its one retry).
 */

#include "relay_fixture.h"

/*
 * One message: the upstream sees exactly the commands and the body the
 * client sent, and the client's final reply is the upstream's own text,
 * given only after the upstream answered the dot (lockstep: while the
 * upstream holds its answer, the client is told nothing).
 */
static void
test_one_message(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", HOLD },
		END
	};
	struct t	*t;
	char		 got[1024];
	int		 i;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	/* the upstream is not opened before MAIL */
	assert_int_equal(t->up.accepts, 0);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, 1);
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, MSG ".\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("the body never reached the upstream");
	assert_string_equal(t->up.mismatch, "");
	/* whatever is ready runs; the client still has no answer */
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);
	up_release(&t->up, 0, UP_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n"
	    MSG_UP ".\r\n");
	assert_int_equal(t->up.conns[0].bodylen, strlen(MSG_UP));
	assert_memory_equal(t->up.conns[0].body, MSG_UP, strlen(MSG_UP));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	/* the upstream session ends with QUIT, not a dropped connection */
	assert_true(run_until(t, upstream_quit));
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	t_free(t);
}

/* two transactions in one session: one upstream connection carries both */
static void
test_two_transactions_one_connection(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 2.0.0 first\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 2.0.0 second\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, s);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	/* no RSET after a completed transaction, no second EHLO */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a 550 to RCPT reaches the client with the upstream's enhanced code */
static void
test_rcpt_550_passed(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<nobody@dst.test>",
		    "550 5.1.1 <nobody@dst.test>: no such user here\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<nobody@dst.test>\r\n",
	    "550 5.1.1 <nobody@dst.test>: no such user here\r\n");
	/* the transaction goes on for the accepted recipient */
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A transient refusal of MAIL: the client gets a 4xx and no transaction
 * opens (RCPT then is out of sequence); nothing reaches RCPT or DATA
 * upstream.  The next MAIL is accepted: on the same connection after a
 * 452, on a new one after a 421 (which ends the upstream session).
 */
static void
mail_refused(const char *upreply, const char *want, int new_conn)
{
	const struct step s0[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", upreply },
		{ new_conn ? NULL : "MAIL FROM:<c@src.test>",
		    new_conn ? NULL : "250 2.1.0 Sender ok\r\n" },
		END
	};
	const struct step s1[] = {
		GREET, EHLO,
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	struct t	*t;

	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", want);
	cmd_prefix(t, "RCPT TO:<b@dst.test>\r\n", "503 ");
	cmd_prefix(t, "DATA\r\n", "503 ");
	assert_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, new_conn ? 2 : 1);
	if (new_conn)
		assert_int_equal(t->up.conns[0].closed, 1);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

static void
test_mail_452(void **state)
{
	(void)state;
	mail_refused("452 4.3.1 Insufficient system storage\r\n",
	    "452 4.3.1 Insufficient system storage\r\n", 0);
}

static void
test_mail_421(void **state)
{
	(void)state;
	/* 421 ends the upstream session: the failure class's 451 */
	mail_refused("421 4.3.2 Service shutting down\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n", 1);
}

/*
 * The upstream takes the body and closes before its final reply: the
 * message was not accepted, so the client gets 451 and never 250.
 */
static void
test_close_after_dot(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", NULL },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, MSG ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got,
	    "451 4.4.2 Upstream connection lost (closed)\r\n");
	/* the whole body did reach the upstream before it closed */
	assert_int_equal(t->up.conns[0].bodylen, strlen(MSG_UP));
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_null(memmem(t->cin, t->cinlen, "250 ", 4));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * An upstream without enhanced codes (aiosmtpd, Exim): we advertise
 * ENHANCEDSTATUSCODES, so each reply gets the code that fits, its text
 * kept.
 */
static void
test_bare_replies(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 sender fine\r\n" },
		{ "RCPT TO:<nobody@dst.test>", "550 no such user\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 rcpt fine\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 queued as BARE1\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 sender fine\r\n");
	cmd(t, "RCPT TO:<nobody@dst.test>\r\n", "550 5.0.0 no such user\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 rcpt fine\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 queued as BARE1\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A 421 to RCPT ends the upstream session: the client gets a 4xx for
 * that recipient, nothing is acknowledged, and the next MAIL is carried
 * by a new connection.
 */
static void
test_rcpt_421(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "421 4.4.2 idle too long\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cl_send(t, "RCPT TO:<b@dst.test>\r\n");
	cl_reply(t, got, sizeof(got));
	if (got[0] != '4')
		fail_msg("RCPT: got '%s', want a 4xx", got);
	assert_string_equal(got, "451 4.4.0 Upstream refused the session "
	    "(rejected)\r\n");
	/* no recipient: DATA is refused by the gateway itself */
	cmd_prefix(t, "DATA\r\n", "5");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n");
	cmd_prefix(t, "RSET\r\n", "250 ");
	one_message(t, CL_OK);
	assert_int_equal(t->up.accepts, 2);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* nobody listens at the upstream's port: 451 4.4.1 at MAIL */
static void
test_unreachable(void **state)
{
	struct t	*t;

	(void)state;
	t = t_new(NULL, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.1 Upstream unreachable (connect)\r\n");
	cmd_prefix(t, "RCPT TO:<b@dst.test>\r\n", "503 ");
	/* the session goes on: the client may try again */
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.1 Upstream unreachable (connect)\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* SIZE and the DSN parameters go upstream when it offers them */
static void
test_params_offered(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_DSN,
		{ "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1",
		    "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
		    "ORCPT=rfc822;b@dst.test", "250 2.1.5 Recipient ok\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n",
	    "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n", "250 2.1.5 Recipient ok\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n"
	    "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* ... and are dropped when it does not (DSN as RFC 3461 4 says) */
static void
test_params_dropped(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n",
	    "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n", "250 2.1.5 Recipient ok\r\n");
	/* exact lines: no parameter at all, not even a trailing space */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a client RSET inside a transaction resets the upstream's too */
static void
test_rset_reaches_upstream(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "RSET", "250 2.0.0 reset\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<d@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "RSET\r\n", "250 ");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<d@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	assert_int_equal(t->up.accepts, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RSET\r\n"
	    "MAIL FROM:<c@src.test>\r\nRCPT TO:<d@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

static int
client_closed(struct t *t)
{
	return t->ceof;
}

/*
 * relay_drain_all in the middle of a transaction: the transaction ends
 * normally (the upstream's 250 reaches the client), then the session
 * ends with 421 and the upstream gets QUIT.
 */
static void
test_drain_after_transaction(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	relay_drain_all();
	assert_int_equal(t->done, 0);
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, client_closed));
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	assert_int_equal(t->up.conns[0].quit, 1);
	t_free(t);
}

/* relay_drain_all on an idle session: 421 at once, the session ends */
static void
test_drain_idle(void **state)
{
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(NULL, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	relay_drain_all();
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, client_closed));
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_one_message, teardown),
		cmocka_unit_test_teardown(test_two_transactions_one_connection,
		    teardown),
		cmocka_unit_test_teardown(test_rcpt_550_passed, teardown),
		cmocka_unit_test_teardown(test_mail_452, teardown),
		cmocka_unit_test_teardown(test_mail_421, teardown),
		cmocka_unit_test_teardown(test_close_after_dot, teardown),
		cmocka_unit_test_teardown(test_bare_replies, teardown),
		cmocka_unit_test_teardown(test_rcpt_421, teardown),
		cmocka_unit_test_teardown(test_unreachable, teardown),
		cmocka_unit_test_teardown(test_params_offered, teardown),
		cmocka_unit_test_teardown(test_params_dropped, teardown),
		cmocka_unit_test_teardown(test_rset_reaches_upstream, teardown),
		cmocka_unit_test_teardown(test_drain_after_transaction,
		    teardown),
		cmocka_unit_test_teardown(test_drain_idle, teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

