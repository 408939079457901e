/*
 * test_dsn - the delivery status notification: only wanted recipients
 * are reported, Status comes from the enhanced code, outside text cannot
 * start a header, RET=FULL returns the message only under the limit, and
 * the boundary never occurs in the returned text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "queue/dsn.h"

static const char msg[] = "From: <s@example.com>\r\nTo: <a@example.net>\r\n"
    "Subject: hello\r\n\r\nbody line one\r\n.dot line\r\n";

static void
envelope(struct qenv *e)
{
	memset(e, 0, sizeof(*e));
	e->id = 0xabcdef0123456789ull;
	e->arrival = 1733430000;	/* Thu, 05 Dec 2024 20:20:00 */
	assert_int_equal(qenv_set(&e->sender, "s@example.com"), 0);
	assert_int_equal(qenv_add_rcpt(e, "a@example.net", 0,
	    "rfc822;A@example.net"), 0);
	assert_int_equal(qenv_add_rcpt(e, "b@example.net", 0, NULL), 0);
	e->rcpt[0].state = QR_FAILED;
	assert_int_equal(qenv_set(&e->rcpt[0].reply,
	    "550 5.1.1 <a@example.net>: no such user\r\nX-Evil: 1"), 0);
	e->rcpt[1].state = QR_DELIVERED;
}

static void
test_one_failed(void **state)
{
	struct qenv	 e;
	char		*d;
	size_t		 n;

	(void)state;
	envelope(&e);
	assert_int_equal(dsn_build(&e, "gw.example.lan", 1733430600, msg,
	    sizeof(msg) - 1, &d, &n), 1);
	assert_int_equal(strlen(d), n);
	assert_non_null(strstr(d, "\r\nTo: <s@example.com>\r\n"));
	assert_non_null(strstr(d, "Content-Type: multipart/report; "
	    "report-type=delivery-status;"));
	assert_non_null(strstr(d, "Reporting-MTA: dns; gw.example.lan\r\n"));
	assert_non_null(strstr(d, "Arrival-Date: Thu, 05 Dec 2024 20:20:00 "
	    "+0000\r\n"));
	assert_non_null(strstr(d, "Date: Thu, 05 Dec 2024 20:30:00 +0000\r\n"));
	assert_non_null(strstr(d, "Original-Recipient: rfc822;A@example.net"
	    "\r\nFinal-Recipient: rfc822; a@example.net\r\nAction: failed\r\n"
	    "Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 "
	    "<a@example.net>: no such user  X-Evil: 1\r\n"));
	/* the reply's CR LF did not make a header line */
	assert_null(strstr(d, "\r\nX-Evil"));
	/* the delivered recipient is not reported */
	assert_null(strstr(d, "b@example.net"));
	/* headers only by default */
	assert_non_null(strstr(d, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "From: <s@example.com>\r\nTo: <a@example.net>\r\nSubject: hello"
	    "\r\n\r\n--=_smtpgate_abcdef0123456789_0--\r\n"));
	assert_null(strstr(d, "body line one"));
	free(d);
	qenv_free(&e);
}

/* the "relayed" report: only the marked recipients, 2.0.0, headers */
static void
test_relayed(void **state)
{
	struct qenv		 e;
	unsigned char		 relayed[2] = { 0, 1 };
	char			*d;
	size_t			 n;

	(void)state;
	envelope(&e);
	e.ret = QRET_FULL;	/* for failures only: headers here */
	assert_int_equal(qenv_set(&e.rcpt[1].reply, "250 2.0.0 Ok: queued"),
	    0);
	assert_int_equal(dsn_build_relayed(&e, relayed, "gw.example.lan",
	    1733430600, msg, sizeof(msg) - 1, &d, &n), 1);
	assert_non_null(strstr(d, "Subject: Delivery Status Notification "
	    "(Relayed)\r\n"));
	assert_non_null(strstr(d, "Final-Recipient: rfc822; b@example.net\r\n"
	    "Action: relayed\r\nStatus: 2.0.0\r\nDiagnostic-Code: smtp; 250 "
	    "2.0.0 Ok: queued\r\n"));
	assert_null(strstr(d, "a@example.net>: no such user"));
	assert_null(strstr(d, "Action: failed"));
	assert_non_null(strstr(d, "Content-Type: text/rfc822-headers\r\n"));
	assert_null(strstr(d, "body line one"));
	free(d);
	relayed[1] = 0;
	assert_int_equal(dsn_build_relayed(&e, relayed, "gw.example.lan",
	    1733430600, msg, sizeof(msg) - 1, &d, &n), 0);
	assert_null(d);
	qenv_free(&e);
}

static void
test_ret_full(void **state)
{
	struct qenv	 e;
	char		*d, *big;
	size_t		 n, bl = DSN_FULL_MAX + 100;

	(void)state;
	envelope(&e);
	e.ret = QRET_FULL;
	assert_int_equal(dsn_build(&e, "gw", 0, msg, sizeof(msg) - 1, &d,
	    &n), 1);
	assert_non_null(strstr(d, "Content-Type: message/rfc822\r\n\r\n"));
	assert_non_null(strstr(d, "body line one\r\n.dot line\r\n\r\n--"));
	free(d);
	/* over the limit: the header only */
	big = malloc(bl);
	assert_non_null(big);
	memcpy(big, msg, sizeof(msg) - 1);
	memset(big + sizeof(msg) - 1, 'x', bl - (sizeof(msg) - 1));
	assert_int_equal(dsn_build(&e, "gw", 0, big, bl, &d, &n), 1);
	assert_non_null(strstr(d, "text/rfc822-headers"));
	assert_true(n < 64 * 1024);
	free(d);
	free(big);
	qenv_free(&e);
}

/* RFC 8689 5: a REQUIRETLS message's report, redacted (msg NULL) */
static void
test_redacted(void **state)
{
	struct qenv	 e;
	char		*d;
	size_t		 n;

	(void)state;
	envelope(&e);
	e.ret = QRET_FULL;
	assert_int_equal(qenv_set(&e.rcpt[0].reply, "550 5.7.30 REQUIRETLS "
	    "support required: the upstream does not offer it"), 0);
	assert_int_equal(dsn_build(&e, "gw", 0, NULL, 0, &d, &n), 1);
	assert_int_equal(strlen(d), n);
	assert_non_null(strstr(d, "Status: 5.7.30\r\n"));
	assert_non_null(strstr(d, "sent with REQUIRETLS"));
	assert_null(strstr(d, "message/rfc822"));
	assert_null(strstr(d, "text/rfc822-headers"));
	assert_null(strstr(d, "Subject: hello"));
	/* two parts, then the closing boundary */
	assert_non_null(strstr(d, "Diagnostic-Code: smtp; 550 5.7.30 "
	    "REQUIRETLS support required: the upstream does not offer it\r\n"
	    "\r\n--=_smtpgate_abcdef0123456789_0--\r\n"));
	free(d);
	qenv_free(&e);
}

static void
test_not_wanted(void **state)
{
	struct qenv	 e;
	char		*d = (char *)1;
	size_t		 n;

	(void)state;
	envelope(&e);
	e.rcpt[0].notify = QN_SUCCESS | QN_DELAY;
	assert_int_equal(dsn_build(&e, "gw", 0, msg, sizeof(msg) - 1, &d,
	    &n), 0);
	assert_null(d);
	e.rcpt[0].notify = QN_NEVER;
	assert_int_equal(dsn_build(&e, "gw", 0, msg, sizeof(msg) - 1, &d,
	    &n), 0);
	e.rcpt[0].notify = QN_FAILURE;
	e.rcpt[0].state = QR_DONE;
	assert_int_equal(dsn_build(&e, "gw", 0, msg, sizeof(msg) - 1, &d,
	    &n), 0);
	qenv_free(&e);
}

static void
test_status_and_boundary(void **state)
{
	struct qenv	 e;
	char		*d, trap[256];
	size_t		 n;

	(void)state;
	envelope(&e);
	free(e.rcpt[0].reply);
	e.rcpt[0].reply = NULL;		/* lifetime over, never answered */
	e.rcpt[1].state = QR_FAILED;
	assert_int_equal(qenv_set(&e.rcpt[1].reply, "554 no"), 0);
	/* the first boundary appears in the original's header */
	snprintf(trap, sizeof(trap), "X-Trap: =_smtpgate_abcdef0123456789_0"
	    "\r\n\r\nbody\r\n");
	assert_int_equal(dsn_build(&e, "gw", 0, trap, strlen(trap), &d, &n),
	    2);
	assert_non_null(strstr(d, "boundary=\"=_smtpgate_abcdef0123456789_1\""));
	assert_non_null(strstr(d, "Final-Recipient: rfc822; a@example.net\r\n"
	    "Action: failed\r\nStatus: 4.4.7\r\n\r\n"));
	assert_non_null(strstr(d, "Final-Recipient: rfc822; b@example.net\r\n"
	    "Action: failed\r\nStatus: 5.0.0\r\nDiagnostic-Code: smtp; 554 no"));
	free(d);
	qenv_free(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_failed),
		cmocka_unit_test(test_ret_full),
		cmocka_unit_test(test_relayed),
		cmocka_unit_test(test_not_wanted),
		cmocka_unit_test(test_redacted),
		cmocka_unit_test(test_status_and_boundary),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
