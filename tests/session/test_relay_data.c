/*
 * test_relay_data.c - the relay's command batches and its DATA, end to
 * end in process over relay_fixture.h: RFC 2920 pipelining from the
 * client and towards the upstream, DATA refused before and after the
 * body, and streaming DATA (the 354 after the upstream's, bare line
 * ends mid-stream, either side going away mid-body).
 */

#include "relay_fixture.h"

/*
 * A client that pipelines MAIL, RCPT and DATA in one write: the relay
 * still runs them one at a time upstream, and the replies come back in
 * order, each the upstream's own.
 */
static void
test_pipelined(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient b ok\r\n" },
		{ "RCPT TO:<x@dst.test>", "450 4.2.1 x is busy\r\n" },
		{ "RCPT TO:<c@dst.test>", "250 2.1.5 Recipient c ok\r\n" },
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
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nRCPT TO:<c@dst.test>\r\nDATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 Recipient b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "450 4.2.1 x is busy\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 Recipient c ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cmd(t, MSG ".\r\n", CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nRCPT TO:<c@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}



/*
 * RFC 2920 towards the upstream: the client's batch goes upstream as one
 * batch.  The upstream answers nothing before DATA is in, so a relay
 * that sent one command at a time would stall here; every reply the
 * client gets is the upstream's, in order.
 */
static void
test_pipelined_upstream_batch(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "RCPT TO:<x@dst.test>", "" },
		{ "DATA", "250 2.1.0 Sender ok\r\n250 2.1.5 b ok\r\n"
		    "450 4.2.1 x is busy\r\n354 go ahead\r\n" },
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
	/* RSET answered here: the upstream is opened by the MAIL below */
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nDATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "450 4.2.1 x is busy\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * RFC 2920's rules: a refused MAIL with RCPT and DATA behind it.  Both
 * reached the upstream, which answers them 503; the client gets exactly
 * those, and its session is back outside a transaction.
 */
static void
test_pipelined_mail_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", "550 5.7.1 Sender refused\r\n"
		    "503 5.5.1 Error: need MAIL command\r\n"
		    "503 5.5.1 Error: need RCPT command\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.7.1 Sender refused\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "503 5.5.1 Error: need MAIL command\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "503 5.5.1 Error: need RCPT command\r\n");
	/* no transaction: a new MAIL is taken */
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a 5xx to DATA after pipelined RCPTs: the client's DATA gets it */
static void
test_pipelined_data_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", "250 2.1.0 Sender ok\r\n250 2.1.5 b ok\r\n"
		    "554 5.7.1 No data today\r\n" },
		{ "RSET", "250 2.0.0 Ok\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.7.1 No data today\r\n");
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* the upstream goes away under a batch: every command gets a 4xx */
static void
test_pipelined_upstream_lost(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", NULL },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	/* the session goes on */
	cmd(t, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The upstream refuses DATA itself.  Streamed (the default): the refusal
 * is the client's answer to DATA, and no body is sent at all.
 */
static void
test_data_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
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
	cmd(t, "DATA\r\n", "554 5.5.1 No valid recipients\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * stream_data = no: the client, which already sent its body to the
 * gateway, gets the upstream's refusal of DATA after the dot, never a
 * 250, and the upstream never sees the body.
 */
static void
test_data_refused_spooled(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, "stream_data = no\n", NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	/* spooled: the upstream has not seen DATA yet */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n");
	cl_send(t, MSG ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.5.1 No valid recipients\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The upstream refuses the DATA command itself: its MAIL and RCPT stand,
 * so the next MAIL of the session is preceded by RSET (else a Postfix
 * answers 503 nested MAIL).
 */
static void
test_data_refused_then_mail(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
		{ "RSET", "250 2.0.0 reset\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
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
	cmd(t, "DATA\r\n", "554 5.5.1 No valid recipients\r\n");
	/* the session's transaction stands too: MAIL needs RSET first */
	cmd_prefix(t, "MAIL FROM:<c@src.test>\r\n", "503 ");
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "RSET\r\nMAIL FROM:<c@src.test>\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * Streamed DATA: the client's 354 waits for the upstream's, and the body
 * reaches the upstream while the client still sends it (before its dot).
 */
static void
test_stream_354_after_upstream(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
		{ ".", UP_OK },
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
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);	/* no 354 of our own */
	up_release(&t->up, 0, "354 go ahead\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	/* the first part of the body goes up before the client's dot */
	cl_send(t, "Subject: one\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n");
	cmd(t, "\r\n..dot\r\nbody\r\n.\r\n", CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\n..dot\r\nbody\r\n.\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A bare LF mid-stream under bare_newline = reject: the client gets the
 * same 550 as when spooled, and the upstream connection is closed before
 * any end of data (it got part of the body and no dot: nothing is
 * delivered).  The next message opens a new connection.
 */
static void
test_stream_bare_lf_aborts(void **state)
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
	t = t_new(s, s);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nfirst line\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\nfirst line\r\n");
	/* a bare LF, then the real end of data */
	cl_send(t, "smuggled\n.\r\nMAIL FROM:<x@evil.test>\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.6.0 Message contains bare CR or LF\r\n");
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "evil", 4));
	/* the session goes on; the next message on a new connection */
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, 2);
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* the client disconnects mid-body: the upstream is closed with no dot */
static void
test_stream_client_gone(void **state)
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

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nhalf a body\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\nhalf a body\r\n");
	event_free(t->cev);
	t->cev = NULL;
	close(t->cfd);
	t->cfd = -1;
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * The upstream goes away after its 354 while the client still sends: the
 * rest of the body is read and dropped, and the client's dot gets a 4xx
 * (the client keeps the message), never a 250.
 */
static void
test_stream_upstream_gone(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		THEN_CLOSE,
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
	wait_closed(t, 0);
	cl_send(t, MSG);
	cl_send(t, ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* run_for - drive the loop for ms milliseconds (a client that pauses) */
static int
never(struct t *t)
{
	(void)t;
	return 0;
}

static void
run_for(struct t *t, long ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	t->timed_out = 0;
	assert_int_equal(evtimer_add(t->timer, &tv), 0);
	while (!never(t) && !t->timed_out)
		(void)event_base_loop(t->base, EVLOOP_ONCE);
	evtimer_del(t->timer);
}

/*
 * A client that pauses mid-body for longer than the upstream's
 * command_timeout (but well within its own data_timeout): the upstream
 * connection is idle only because the client is, which the client's own
 * limits bound.  The message goes through.
 */
static void
test_stream_client_pause(void **state)
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

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, "command_timeout = 1s\n"), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n");
	run_for(t, 2500);
	cmd(t, "\r\nbody\r\n.\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The client hangs up while the upstream's answer to DATA is awaited;
 * the 354 comes after the session is gone.  Nothing is left behind.
 */
static void
test_stream_gone_before_354(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
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
	cl_send(t, "DATA\r\n" MSG);
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	/* half-closed: the body so far is buffered, no dot */
	assert_int_equal(shutdown(t->cfd, SHUT_WR), 0);
	run_for(t, 200);
	up_release(&t->up, 0, "354 go ahead\r\n");
	wait_closed(t, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * SIGTERM (drain, and the pools shut) while the upstream's 354 is awaited
 * and again mid-body: the streamed message still goes through, then 421.
 */
static void
test_stream_drain_mid_body(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, "pool = yes\n"), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	relay_drain_all();
	relay_env_shutdown(t->env);
	run_for(t, 100);
	up_release(&t->up, 0, "354 go ahead\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cl_send(t, "Subject: one\r\n");
	run_for(t, 100);
	relay_drain_all();
	cmd(t, "\r\nbody\r\n.\r\n", CL_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * A body the session refuses mid-stream (a bare LF under reject) while the
 * client goes on sending: the upstream connection is closed at once, not
 * held idle until the client's end of data (which a slow client may send
 * much later).  The client still gets its 550 at the end.
 */
static void
test_stream_refused_closes_early(void **state)
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
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nbare\nmore body\r\n");
	/* no end of data yet: the client is still sending */
	wait_closed(t, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_int_equal(t->cinlen, 0);
	cl_send(t, "the rest\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.6.0 Message contains bare CR or LF\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A client that sends its body right behind DATA, not waiting for the 354
 * (RFC 2920 forbids it), and the upstream refuses DATA: what follows is
 * message text, never commands.  The refusal, then 421, and nothing of
 * the text reaches the upstream.
 */
static void
test_stream_refused_early_body(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.7.1 not from you\r\n" },
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
	cl_send(t, "DATA\r\nRCPT TO:<victim@evil.test>\r\nDATA\r\n"
	    "Subject: spam\r\n\r\nspam\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.7.1 not from you\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "421 ", 4) == 0);
	assert_true(run_until(t, all_gone));
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "evil", 4));
	t_free(t);
}

/* the upstream answers DATA with 250: no message went, the client's 451 */
static void
test_stream_data_250(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "250 2.0.0 sure\r\n" },
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
	cl_send(t, "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(got[0] == '4');
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pipelined, teardown),
		cmocka_unit_test_teardown(test_pipelined_upstream_batch,
		    teardown),
		cmocka_unit_test_teardown(test_pipelined_mail_refused,
		    teardown),
		cmocka_unit_test_teardown(test_pipelined_data_refused,
		    teardown),
		cmocka_unit_test_teardown(test_pipelined_upstream_lost,
		    teardown),
		cmocka_unit_test_teardown(test_data_refused, teardown),
		cmocka_unit_test_teardown(test_data_refused_spooled, teardown),
		cmocka_unit_test_teardown(test_stream_354_after_upstream,
		    teardown),
		cmocka_unit_test_teardown(test_stream_bare_lf_aborts, teardown),
		cmocka_unit_test_teardown(test_stream_client_gone, teardown),
		cmocka_unit_test_teardown(test_stream_upstream_gone, teardown),
		cmocka_unit_test_teardown(test_stream_client_pause, teardown),
		cmocka_unit_test_teardown(test_stream_gone_before_354,
		    teardown),
		cmocka_unit_test_teardown(test_stream_data_250, teardown),
		cmocka_unit_test_teardown(test_stream_drain_mid_body, teardown),
		cmocka_unit_test_teardown(test_stream_refused_closes_early,
		    teardown),
		cmocka_unit_test_teardown(test_stream_refused_early_body,
		    teardown),
		cmocka_unit_test_teardown(test_data_refused_then_mail,
		    teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

