/*
 * test_relay_pool.c - the upstream connection pool, end to end in
 * process over relay_fixture.h: sessions one after another on the same
 * env, the RSET that gives a connection back, idle connections closed by
 * the server, the limits of the pool's keys, identities, SIGHUP's retire
 * and SIGTERM's QUIT.  The transparent retry on a new connection, and
 * when there is none, are in test_relay_retry.c.
 */

#include "relay_fixture.h"

/*
 * Two one-message sessions with the pool on: one upstream connection
 * carries both; at the end of each session it is reset (RSET) and kept,
 * the second session starts with MAIL (no banner, no EHLO again), and
 * the idle connection says QUIT at shutdown.
 */
static void
test_pool_two_sessions(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 log[8192];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	log_capture(t->dir);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	/* the client session is gone, the idle connection stays */
	wait_count(t, 1);
	assert_int_equal(t->up.conns[0].closed, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	log_collect(t->dir, log, sizeof(log));
	/* the transaction lines: new, then reused having carried one */
	if (!log_has(log, "reply=\"250 2.0.0 first\"",
	    " conn=new carried=0 ") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"",
	    " conn=reused carried=1 "))
		fail_msg("transaction lines not as expected:\n%s", log);

	relay_env_shutdown(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n"
	    "QUIT\r\n");
	wait_count(t, 0);
	assert_int_equal(t->up.accepts, 1);
	assert_int_equal(t->done, 2);
	t_free(t);
}

/*
 * Towards a pipelining upstream the give-back sends nothing: the RSET
 * leads the next MAIL in the same write, and its reply stays ours.
 */
static void
test_pool_rset_leads_mail(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * The upstream drops the idle connection right after answering RSET:
 * the idle watch lets it go, and the next session gets a new connection
 * and its 250, no 4xx.
 */
static void
test_pool_idle_closed(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		THEN_CLOSE,
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
	wait_closed(t, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	/* the relay noticed while idle: nothing is kept */
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * A 421 while idle, then the close, and the next session's MAIL comes
 * at once (the relay may or may not have seen the close yet): a new
 * connection, the client sees 250.
 */
static void
test_pool_idle_421(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
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
	up_send(&t->up.conns[0], "421 4.4.2 idle too long\r\n");
	up_close(&t->up.conns[0]);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	t_free(t);
}

/*
 * The idle connection closes while the next session is already at EHLO:
 * the close and the client's MAIL arrive in the same turn of the loop,
 * so the lease may find it before the idle watch does (attach's check
 * then drops it) or after.  Either way: a new connection, 250.
 */
static void
test_pool_idle_closed_at_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	/* the client's MAIL is ready first, then the upstream's close */
	cl_send(t, "MAIL FROM:<a@src.test>\r\n");
	up_close(&t->up.conns[0]);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* pool_max_messages = 1: each connection carries one message, then QUIT */
static void
test_pool_max_messages(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	static const struct step s1[] = {
		GREET, EHLO, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_max_messages = 1\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_closed(t, 1);
	assert_int_equal(t->up.conns[1].quit, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* pool_max_messages within one client session: QUIT, then a new one */
static void
test_pool_max_messages_in_session(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	static const struct step s1[] = {
		GREET, EHLO, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_max_messages = 1\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	t_end(t);
	wait_closed(t, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* pool_idle_timeout: an idle connection says QUIT after it */
static void
test_pool_idle_timeout(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_idle_timeout = 1s\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\nQUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * The client leaves after RCPT, its transaction open upstream: the
 * give-back's RSET clears it, the connection is kept and the next
 * session's message goes on it.
 */
static void
test_pool_client_leaves_mid_tx(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\nRSET\r\n");
	wait_count(t, 1);
	assert_int_equal(t->up.conns[0].closed, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\nRSET\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * auth = map with the pool: a connection is reused only for the same
 * upstream account.  scanner (up-user), then printer (up-two) on a new
 * connection of its own, then scanner again on scanner's idle one.
 */
#define USERS2	USERS \
		"printer:$6$Pr1nt3rSalt$70sz46hSzW/GCMFxVZGWJnUCAzGi9d87y1ra9" \
		"62LBs5bi1E.FqI70LvK7x0yxE1p.uttG6AWoy2eA7vb3JLlD1:up-two:" \
		"two secret\n"
#define EHLO_AUTH { "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n" \
		    "250 ENHANCEDSTATUSCODES\r\n" }
/* "\0up-user\0up:secret x", "\0up-two\0two secret" */
#define UP_AUTH1 "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg="
#define UP_AUTH2 "AUTH PLAIN AHVwLXR3bwB0d28gc2VjcmV0"
/* "\0scanner\0local pw", "\0printer\0print pw" */
#define CL_AUTH1 "AUTH PLAIN AHNjYW5uZXIAbG9jYWwgcHc=\r\n"
#define CL_AUTH2 "AUTH PLAIN AHByaW50ZXIAcHJpbnQgcHc=\r\n"

static void
test_pool_map_identity(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_AUTH,
		{ UP_AUTH1, "235 2.7.0 Authentication successful\r\n" },
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 third\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_AUTH,
		{ UP_AUTH2, "235 2.7.0 Authentication successful\r\n" },
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 path[128], extra[512];

	(void)state;
	t = t_new(s0, s1);
	(void)snprintf(path, sizeof(path), "%s/users", t->dir);
	write_file(path, USERS2, 0600);
	(void)snprintf(extra, sizeof(extra), POOL_ON "auth = map\n"
	    "users_file = %s\nauth_allow_cleartext = yes\n", path);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH1, "235 2.7.0 ");
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" UP_AUTH1 "\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH2, "235 2.7.0 ");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" UP_AUTH2 "\r\n" TX_UP "RSET\r\n");
	wait_count(t, 2);

	t_session(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH1, "235 2.7.0 ");
	one_message(t, "250 2.0.0 third\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" UP_AUTH1 "\r\n" TX_UP "RSET\r\n"
	    TX_UP "RSET\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" UP_AUTH2 "\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* SIGTERM (relay_env_shutdown): the idle connection says QUIT and goes */
static void
test_pool_shutdown(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	relay_env_shutdown(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\nQUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * SIGHUP (relay_env_retire): the idle connection says QUIT, and a
 * session still on the old env opens a new one and QUITs it at its end:
 * nothing is kept under a retired snapshot.
 */
static void
test_pool_retire(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
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
	relay_env_retire(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_closed(t, 1);
	assert_int_equal(t->up.conns[1].quit, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * SIGTERM while a session holds its connection: at the session's end the
 * connection says QUIT at once, no RSET first (it would not be kept).
 */
static void
test_pool_shutdown_in_use(void **state)
{
	static const struct step s[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	relay_env_shutdown(t->env);
	assert_int_equal(t->up.conns[0].closed, 0);
	t_end(t);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* the give-back's RSET refused: the connection is dropped, not kept */
static void
test_pool_rset_refused(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"),
		{ "RSET", "500 5.5.1 no RSET here\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP, TX("250 2.0.0 second\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_closed(t, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	assert_int_equal(t->up.conns[0].quit, 0);
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

static int
rset_held(struct t *t)
{
	return t->up.conns[0].held || t->up.mismatch[0] != '\0';
}

/*
 * The next session's MAIL while the give-back's RSET is still
 * unanswered: the MAIL waits for it on the same connection, then goes.
 */
static void
test_pool_mail_during_rset(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), { "RSET", HOLD },
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 got[1024];
	int		 i;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	if (!run_until(t, rset_held))
		fail_msg("no RSET at the upstream");

	t_session(t);
	ehlo(t);
	cl_send(t, "MAIL FROM:<a@src.test>\r\n");
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	up_release(&t->up, 0, "250 2.0.0 Ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * Passthrough and the pool (review of issue 11): a wrong password never
 * gets the connection the right one opened (it is tried upstream on a
 * new connection and refused); the right one again gets it without a
 * new AUTH upstream.
 */
static void
test_pool_passthrough_proof(void **state)
{
	static const struct step s0[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "235 2.7.0 welcome alice\r\n" },
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAHdyb25ncHc=",
		    "535 5.7.8 alice: bad credentials\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, "auth = passthrough\n"
	    "auth_allow_cleartext = yes\n" POOL_ON), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	t_session(t);
	ehlo(t);
	/* "\0alice\0wrongpw": asked upstream on a new connection */
	cmd(t, "AUTH PLAIN AGFsaWNlAHdyb25ncHc=\r\n",
	    "535 5.7.8 alice: bad credentials\r\n");
	assert_int_equal(t->up.accepts, 2);
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_pool_two_sessions, teardown),
		cmocka_unit_test_teardown(test_pool_rset_leads_mail, teardown),
		cmocka_unit_test_teardown(test_pool_idle_closed, teardown),
		cmocka_unit_test_teardown(test_pool_idle_421, teardown),
		cmocka_unit_test_teardown(test_pool_idle_closed_at_mail,
		    teardown),
		cmocka_unit_test_teardown(test_pool_idle_timeout, teardown),
		cmocka_unit_test_teardown(test_pool_client_leaves_mid_tx,
		    teardown),
		cmocka_unit_test_teardown(test_pool_map_identity, teardown),
		cmocka_unit_test_teardown(test_pool_max_messages, teardown),
		cmocka_unit_test_teardown(test_pool_max_messages_in_session,
		    teardown),
		cmocka_unit_test_teardown(test_pool_shutdown, teardown),
		cmocka_unit_test_teardown(test_pool_retire, teardown),
		cmocka_unit_test_teardown(test_pool_shutdown_in_use, teardown),
		cmocka_unit_test_teardown(test_pool_rset_refused, teardown),
		cmocka_unit_test_teardown(test_pool_mail_during_rset, teardown),
		cmocka_unit_test_teardown(test_pool_passthrough_proof,
		    teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}


