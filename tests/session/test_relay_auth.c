/*
 * test_relay_auth.c - what the relay adds to a message and how it logs
 * in upstream, end to end in process over relay_fixture.h: the Received
 * header, DKIM before it, and auth = inject, map and passthrough.
 */

#include "relay_fixture.h"

/* received_header = yes: our Received is the first line upstream */
static void
test_received_first(void **state)
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
	const char	*body, *want;
	char		*end;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, "received_header = yes\n", NULL), 0);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	t->up.conns[0].body[t->up.conns[0].bodylen] = '\0';
	body = t->up.conns[0].body;
	want = "Received: from client.test ([127.0.0.1])\r\n"
	    "\tby gw.test (smtpgate) with ESMTP id ";
	if (strncmp(body, want, strlen(want)) != 0)
		fail_msg("body starts '%.120s'", body);
	/* one recipient: named; then the date; then the client's message */
	assert_non_null(strstr(body, "\r\n\tfor <b@dst.test>;\r\n\t"));
	end = strstr(body, "Subject: one\r\n");
	assert_non_null(end);
	assert_string_equal(end, MSG_UP);
	/* the header's own lines are all continuation lines */
	assert_null(memmem(body, (size_t)(end - body) - 2, "\r\nSubject", 9));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A listener with dkim and received_header: the upstream's body starts
 * with our DKIM-Signature (d= and s= of the [dkim] section), then our
 * Received, then the client's message unchanged.  (Whether the signature
 * verifies is tests/dkim's job.)
 */
static void
test_dkim_then_received(void **state)
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
	char		 cmdline[512], keyp[128];
	const char	*body, *recv, *msg;

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(keyp, sizeof(keyp), "%s/dkim.pem", t->dir);
	(void)snprintf(cmdline, sizeof(cmdline), "openssl genpkey -algorithm "
	    "ed25519 -out '%s' 2>/dev/null && chmod 600 '%s'", keyp, keyp);
	if (system(cmdline) != 0)
		fail_msg("openssl could not make an ed25519 key");
	(void)snprintf(t->sections, sizeof(t->sections), "[dkim s1]\n"
	    "domain = src.test\nselector = sel1\nkey_file = %s\n", keyp);
	if (t_conf(t, "received_header = yes\ndkim = s1\n", NULL) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	t->up.conns[0].body[t->up.conns[0].bodylen] = '\0';
	body = t->up.conns[0].body;
	if (strncmp(body, "DKIM-Signature: ", 16) != 0)
		fail_msg("body starts '%.120s'", body);
	recv = strstr(body, "\r\nReceived: from client.test ([127.0.0.1])\r\n");
	msg = strstr(body, "\r\nSubject: one\r\n");
	assert_non_null(recv);
	assert_non_null(msg);
	assert_true(recv < msg);
	/* exactly one signature, and it is ours */
	assert_null(strstr(body + 1, "DKIM-Signature:"));
	assert_non_null(memmem(body, (size_t)(recv - body), "d=src.test;",
	    11));
	assert_non_null(memmem(body, (size_t)(recv - body), "s=sel1;", 7));
	assert_string_equal(msg + 2, MSG_UP);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* auth = inject: the password_file's secret goes upstream as AUTH PLAIN */
static void
test_auth_inject_cleartext_allowed(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN LOGIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		/* base64 of "\0user1\0s3cret" */
		{ "AUTH PLAIN AHVzZXIxAHMzY3JldA==",
		    "235 2.7.0 Authentication successful\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 pw[128], extra[512];

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(pw, sizeof(pw), "%s/password", t->dir);
	write_file(pw, "s3cret\n", 0600);
	(void)snprintf(extra, sizeof(extra), "auth = inject\n"
	    "username = user1\npassword_file = %s\n"
	    "auth_allow_cleartext = yes\n", pw);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AHVzZXIxAHMzY3JldA==\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The same without auth_allow_cleartext: the configuration loads (TLS
 * may be offered by another upstream), but the secret never goes out in
 * cleartext: the upstream sees EHLO and QUIT, never AUTH nor MAIL, and
 * the client gets a 4xx so it keeps the message.
 */
static void
test_auth_inject_cleartext_refused(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN LOGIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		END
	};
	struct t	*t;
	char		 pw[128], extra[512];

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(pw, sizeof(pw), "%s/password", t->dir);
	write_file(pw, "s3cret\n", 0600);
	(void)snprintf(extra, sizeof(extra), "auth = inject\n"
	    "username = user1\npassword_file = %s\n", pw);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.7.0 Upstream authentication failed (auth-failed)\r\n");
	assert_true(run_until(t, upstream_quit));
	assert_raw(t, 0, "EHLO gw.test\r\nQUIT\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}


static void
map_conf(struct t *t)
{
	char	 path[128], extra[512];

	(void)snprintf(path, sizeof(path), "%s/users", t->dir);
	write_file(path, USERS, 0600);
	(void)snprintf(extra, sizeof(extra), "auth = map\n"
	    "users_file = %s\nauth_allow_cleartext = yes\n", path);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
}

/*
 * auth = map: MAIL before AUTH is refused; the local user's password is
 * checked locally ("local pw"), and the upstream gets the mapped account
 * ("up-user", secret "up:secret x"), never the local credentials.
 */
static void
test_auth_map(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		/* base64 of "\0up-user\0up:secret x" */
		{ "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg=",
		    "235 2.7.0 Authentication successful\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	map_conf(t);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	/* "\0scanner\0local pw" */
	cmd_prefix(t, "AUTH PLAIN AHNjYW5uZXIAbG9jYWwgcHc=\r\n", "235 2.7.0 ");
	/* the local check does not open the upstream */
	assert_int_equal(t->up.accepts, 0);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg=\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* auth = map, a wrong local password: 535 5.7.8, the upstream untouched */
static void
test_auth_map_wrong_password(void **state)
{
	static const struct step s[] = { GREET, END };
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	map_conf(t);
	t_start(t);
	ehlo(t);
	/* "\0scanner\0wrong" */
	cmd_prefix(t, "AUTH PLAIN AHNjYW5uZXIAd3Jvbmc=\r\n", "535 5.7.8 ");
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	assert_int_equal(t->up.accepts, 0);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * auth = passthrough: the client's AUTH opens the upstream at once and
 * goes there unchanged; the upstream's verdict, text and all, is the
 * client's reply.  A refusal closes that upstream connection; the next
 * AUTH opens a new one.
 */
static void
test_auth_passthrough(void **state)
{
	static const struct step s0[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "535 5.7.8 alice: bad credentials at up.test\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "235 2.7.0 welcome alice\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	if (t_conf(t, NULL, "auth = passthrough\n"
	    "auth_allow_cleartext = yes\n") != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	/* "\0alice\0alicepw" */
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "535 5.7.8 alice: bad credentials at up.test\r\n");
	assert_true(run_until(t, upstream_quit));
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	assert_int_equal(t->up.accepts, 2);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\nQUIT\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n"
	    "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_received_first, teardown),
		cmocka_unit_test_teardown(test_dkim_then_received, teardown),
		cmocka_unit_test_teardown(test_auth_inject_cleartext_allowed,
		    teardown),
		cmocka_unit_test_teardown(test_auth_inject_cleartext_refused,
		    teardown),
		cmocka_unit_test_teardown(test_auth_map, teardown),
		cmocka_unit_test_teardown(test_auth_map_wrong_password,
		    teardown),
		cmocka_unit_test_teardown(test_auth_passthrough, teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

