/*
 * test_txlog - the reply field of the transaction and refusal lines: the
 * reply as the client reads it ("451 4.4.2 text"), escaped for a
 * key="..." field, bounded.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "relay/txlog.h"

struct reply_case {
	const char	*name;
	int		 code;
	const char	*enh;
	const char	*text;
	size_t		 len;		/* 0: TXLOG_REPLY_MAX */
	const char	*want;
};

static const struct reply_case reply_cases[] = {
	{ "enhanced", 451, "4.4.2", "Upstream timed out (timeout)", 0,
	    "451 4.4.2 Upstream timed out (timeout)" },
	{ "no enhanced code", 250, NULL, "OK", 0, "250 OK" },
	{ "empty enhanced code", 550, "", "no such user here", 0,
	    "550 no such user here" },
	{ "no text", 250, "2.0.0", "", 0, "250 2.0.0" },
	{ "quote and backslash", 550, "5.1.1", "no \"x\\y\"", 0,
	    "550 5.1.1 no \\\"x\\\\y\\\"" },
	{ "multi-line", 250, "2.0.0", "one\ntwo", 0,
	    "250 2.0.0 one\\x0atwo" },
	{ "8-bit and TAB as the client sees them", 250, "2.0.0",
	    "caf\xc3\xa9\tok\x7f", 0, "250 2.0.0 caf???ok?" },
	{ "cut, marked", 250, "2.0.0", "abcdefghijklmnopqrstuvwxyz", 20,
	    "250 2.0.0 abcdef..." },
	{ "head only fits", 250, "2.0.0", "text", 10, "250 2.0.0" },
};

static void
test_reply(void **state)
{
	char	 buf[TXLOG_REPLY_MAX];
	size_t	 i, len;

	(void)state;
	for (i = 0; i < sizeof(reply_cases) / sizeof(reply_cases[0]); i++) {
		const struct reply_case	*c = &reply_cases[i];

		len = c->len ? c->len : sizeof(buf);
		memset(buf, 'Z', sizeof(buf));
		(void)txlog_reply(buf, len, c->code, c->enh, c->text);
		if (memchr(buf, '\0', len) == NULL)
			fail_msg("%s: not terminated within %zu", c->name, len);
		if (strcmp(buf, c->want) != 0)
			fail_msg("%s: got \"%s\", want \"%s\"", c->name, buf,
			    c->want);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reply),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
