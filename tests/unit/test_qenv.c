/*
 * test_qenv - the queue envelope file: round trip, escaping of hostile
 * values, and every way a file is refused (cut short, unknown or repeated
 * records, bad numbers and escapes, missing required records).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "queue/qenv.h"

static void
sample(struct qenv *e)
{
	memset(e, 0, sizeof(*e));
	e->id = 0x3f2a9c0d11e84b27ull;
	e->arrival = 1733430000;
	e->next = 1733430300;
	e->attempts = 2;
	e->flags = QF_HOLD;
	e->size = 12345;
	e->ret = QRET_HDRS;
	assert_int_equal(qenv_set(&e->listener, "local"), 0);
	assert_int_equal(qenv_set(&e->client, "[192.0.2.1]:4711"), 0);
	assert_int_equal(qenv_set(&e->sender, "billing@example.com"), 0);
	assert_int_equal(qenv_set(&e->mail_params, "BODY=8BITMIME"), 0);
	assert_int_equal(qenv_set(&e->envid, "QQ314159"), 0);
	assert_int_equal(qenv_set(&e->last_error,
	    "451 4.3.0 try again later"), 0);
	assert_int_equal(qenv_add_rcpt(e, "a@example.net",
	    QN_SUCCESS | QN_FAILURE, "rfc822;a@example.net"), 0);
	/* a hostile address: spaces, CR LF, a record of its own, '%' */
	assert_int_equal(qenv_add_rcpt(e,
	    "\"x y\r\nrcpt delivered - - - evil\"%@example.org", 0, NULL), 0);
	e->rcpt[1].state = QR_FAILED;
	assert_int_equal(qenv_set(&e->rcpt[1].reply,
	    "550 5.1.1 no such user"), 0);
	assert_int_equal(qenv_add_rcpt(e, "-", QN_NEVER, NULL), 0);
}

static void
test_round_trip(void **state)
{
	struct qenv	 e, f;
	char		*t1, *t2, why[256];
	size_t		 n1, n2;

	(void)state;
	sample(&e);
	assert_int_equal(qenv_format(&e, &t1, &n1, why, sizeof(why)), 0);
	/* one line per record: the hostile address made no line of its own */
	assert_non_null(strstr(t1, "\nrcpt failed - - 550%205.1.1%20no%20"
	    "such%20user \"x%20y%0D%0Arcpt%20delivered"));
	assert_non_null(strstr(t1, "\nrcpt pending never - - %2D\n"));
	assert_int_equal(qenv_parse(t1, n1, &f, why, sizeof(why)), 0);
	assert_int_equal(f.id, e.id);
	assert_int_equal(f.arrival, e.arrival);
	assert_int_equal(f.next, e.next);
	assert_int_equal(f.attempts, 2);
	assert_int_equal(f.flags, QF_HOLD);
	assert_int_equal(f.ret, QRET_HDRS);
	assert_int_equal(f.size, 12345);
	assert_string_equal(f.sender, "billing@example.com");
	assert_string_equal(f.client, "[192.0.2.1]:4711");
	assert_int_equal(f.nrcpt, 3);
	assert_string_equal(f.rcpt[1].addr, e.rcpt[1].addr);
	assert_int_equal(f.rcpt[1].state, QR_FAILED);
	assert_string_equal(f.rcpt[1].reply, "550 5.1.1 no such user");
	assert_int_equal(f.rcpt[0].notify, QN_SUCCESS | QN_FAILURE);
	assert_string_equal(f.rcpt[0].orcpt, "rfc822;a@example.net");
	assert_string_equal(f.rcpt[2].addr, "-");
	assert_int_equal(qenv_pending(&f), 2);
	/* formatting what was read gives the same text */
	assert_int_equal(qenv_format(&f, &t2, &n2, why, sizeof(why)), 0);
	assert_int_equal(n1, n2);
	assert_memory_equal(t1, t2, n1);
	free(t1);
	free(t2);
	qenv_free(&e);
	qenv_free(&f);
}

static void
test_null_sender(void **state)
{
	struct qenv	 e, f;
	char		*t, why[256];
	size_t		 n;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.id = 1;
	e.arrival = 1;
	e.flags = QF_BOUNCE;
	assert_int_equal(qenv_set(&e.sender, ""), 0);
	assert_int_equal(qenv_add_rcpt(&e, "x@example.com", 0, NULL), 0);
	assert_int_equal(qenv_format(&e, &t, &n, why, sizeof(why)), 0);
	assert_non_null(strstr(t, "\nsender -\n"));
	assert_int_equal(qenv_parse(t, n, &f, why, sizeof(why)), 0);
	assert_string_equal(f.sender, "");
	assert_int_equal(f.flags, QF_BOUNCE);
	free(t);
	qenv_free(&e);
	qenv_free(&f);
}

/* each broken file is refused, and the reason names the line */
static void
test_refused(void **state)
{
	static const struct {
		const char	*text;
		const char	*why;
	} cases[] = {
		{ "", "line 1" },
		{ "smtpgate-queue 2\nend\n", "version" },
		{ "smtpgate-queue 1\nid 0000000000000001\n", "cut short" },
		{ "smtpgate-queue 1\nid 0000000000000001\nend", "line 3" },
		{ "smtpgate-queue 1\nid 0000000000000001\nend\nx\n",
		    "after \"end\"" },
		{ "smtpgate-queue 1\nid 1\nend\n", "16 lower-case" },
		{ "smtpgate-queue 1\nid 0000000000000001\nid "
		    "0000000000000002\nend\n", "once" },
		{ "smtpgate-queue 1\ncolour blue\nend\n", "known record" },
		{ "smtpgate-queue 1\narrival -5\nend\n", "unix seconds" },
		{ "smtpgate-queue 1\narrival 01\nend\n", "unix seconds" },
		{ "smtpgate-queue 1\nsender a%2\nend\n", "escapes" },
		{ "smtpgate-queue 1\nsender a%00b\nend\n", "escapes" },
		{ "smtpgate-queue 1\nsender  a\nend\n", "empty" },
		{ "smtpgate-queue 1\nrcpt sent - - - a@b\nend\n", "rcpt STATE" },
		{ "smtpgate-queue 1\nrcpt pending never,delay - - a@b\nend\n",
		    "rcpt STATE" },
		{ "smtpgate-queue 1\nrcpt pending - - - -\nend\n", "rcpt STATE" },
		{ "smtpgate-queue 1\nid 0000000000000001\narrival 5\n"
		    "sender -\nend\n", "required" },
		{ "smtpgate-queue 1\nflags hold,hold\nend\n", "flags" },
	};
	struct qenv	 e;
	char		 why[256];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why[0] = '\0';
		if (qenv_parse(cases[i].text, strlen(cases[i].text), &e, why,
		    sizeof(why)) == 0)
			fail_msg("case %zu accepted", i);
		if (strstr(why, cases[i].why) == NULL)
			fail_msg("case %zu: \"%s\" does not say \"%s\"", i, why,
			    cases[i].why);
		qenv_free(&e);
	}
}

static void
test_limits(void **state)
{
	struct qenv	 e;
	char		*t, why[256], big[QENV_TEXT_MAX + 2];
	size_t		 n;

	(void)state;
	memset(&e, 0, sizeof(e));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qenv_set(&e.sender, big), 0);
	assert_int_equal(qenv_add_rcpt(&e, "x@example.com", 0, NULL), 0);
	assert_int_equal(qenv_format(&e, &t, &n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "at most"));
	assert_int_equal(qenv_add_rcpt(&e, "", 0, NULL), -1);
	assert_int_equal(e.nrcpt, 1);
	qenv_free(&e);
}

/* the longest record qenv_format writes is one qenv_parse reads back */
static void
test_worst_line(void **state)
{
	struct qenv	 e, back;
	char		*t, why[256], big[QENV_TEXT_MAX + 1];
	size_t		 n;

	(void)state;
	memset(&e, 0, sizeof(e));
	memset(&back, 0, sizeof(back));
	memset(big, ' ', sizeof(big) - 1);	/* each written as %20 */
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(qenv_set(&e.sender, "s@example.com"), 0);
	assert_int_equal(qenv_add_rcpt(&e, big, QN_FAILURE | QN_DELAY, big),
	    0);
	assert_int_equal(qenv_set(&e.rcpt[0].reply, big), 0);
	assert_int_equal(qenv_format(&e, &t, &n, why, sizeof(why)), 0);
	assert_int_equal(qenv_parse(t, n, &back, why, sizeof(why)), 0);
	assert_string_equal(back.rcpt[0].addr, big);
	assert_string_equal(back.rcpt[0].orcpt, big);
	assert_string_equal(back.rcpt[0].reply, big);
	free(t);
	qenv_free(&e);
	qenv_free(&back);
}

/* the tail of ID.msg: exact form, lowercase hex, bounded length */
static void
test_tail(void **state)
{
	static const struct {
		const char	*s;
		int		 r;
		size_t		 len;
	} t[] = {
		{ "smtpgate-envelope 00000000000001b6\n", 0, 0x1b6 },
		{ "smtpgate-envelope 0000000000000000\n", 0, 0 },
		{ "smtpgate-envelope 0000000000400000\n", 0, QENV_FILE_MAX },
		{ "smtpgate-envelope 0000000000400001\n", -1, 0 },
		{ "smtpgate-envelope ffffffffffffffff\n", -1, 0 },
		{ "smtpgate-envelope 00000000000001B6\n", -1, 0 },
		{ "smtpgate-envelope 00000000000001b6\r", -1, 0 },
		{ "smtpgate-envelope  0000000000001b6\n", -1, 0 },
		{ "smtpgate-envelopf 00000000000001b6\n", -1, 0 },
		{ "Subject: hello there, this is mail\n", -1, 0 },
	};
	char	out[QENV_TAIL_LEN + 1];
	size_t	i, len;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		len = 0;
		assert_int_equal(strlen(t[i].s), QENV_TAIL_LEN);
		if (qenv_tail_parse(t[i].s, QENV_TAIL_LEN, &len) != t[i].r ||
		    (t[i].r == 0 && len != t[i].len))
			fail_msg("\"%s\": wrong", t[i].s);
	}
	/* one octet short or long is not a tail */
	assert_int_equal(qenv_tail_parse(t[0].s, QENV_TAIL_LEN - 1, &len), -1);
	qenv_tail_format(out, 0x1b6);
	assert_string_equal(out, t[0].s);
	qenv_tail_format(out, QENV_FILE_MAX);
	assert_int_equal(qenv_tail_parse(out, QENV_TAIL_LEN, &len), 0);
	assert_int_equal(len, QENV_FILE_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_null_sender),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_worst_line),
		cmocka_unit_test(test_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
