/*
 * test_pop3_parse - table tests for the POP3 status, greeting and CAPA
 * parsers and the APOP digest.
 *
 * Every row is checked and every mismatch printed (got/want) before the
 * test fails, so one run shows all broken rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pop/pop3_parse.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define L(s)		s, sizeof(s) - 1	/* a literal with its length, NULs kept */

static void	test_status(void **);
static void	test_greeting(void **);
static void	test_capa(void **);
static void	test_arg(void **);
static void	test_apop(void **);

static void
test_status(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
		int		 ok;	/* -1: refused */
		const char	*text;
	} rows[] = {
		{ L("+OK"), 1, "" },
		{ L("+OK "), 1, "" },
		{ L("+OK Logged in."), 1, "Logged in." },
		{ L("-ERR"), 0, "" },
		{ L("-ERR [AUTH] Authentication failed."), 0,
		    "[AUTH] Authentication failed." },
		{ L("+OK\ttab"), -1, NULL },	/* a space must follow */
		{ L("+OKAY"), -1, NULL },
		{ L("+ok fine"), -1, NULL },
		{ L("-ERROR x"), -1, NULL },
		{ L("+O"), -1, NULL },
		{ L(""), -1, NULL },
		{ L("220 smtp"), -1, NULL },
		{ L("+OK a\rb"), -1, NULL },
		{ L("+OK a\nb"), -1, NULL },
		{ L("+OK a\0b"), -1, NULL },
		{ L("+OK a\x7f"), -1, NULL },
		{ L("+OK text\twith tab"), 1, "text\twith tab" },
	};
	struct pop3_status	 st;
	const char		*err;
	size_t			 i;
	int			 bad = 0, got;
	char			 longline[POP3_LINE_MAX + 8];

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		err = pop3_parse_status(rows[i].line, rows[i].len, &st);
		got = err != NULL ? -1 : st.ok;
		if (got != rows[i].ok || (err == NULL &&
		    (st.textlen != strlen(rows[i].text) ||
		    memcmp(st.text, rows[i].text, st.textlen) != 0))) {
			print_error("row %zu \"%s\": got ok=%d text=\"%.*s\" "
			    "(%s), want ok=%d text=\"%s\"\n", i, rows[i].line,
			    got, err == NULL ? (int)st.textlen : 0,
			    err == NULL ? st.text : "", err ? err : "-",
			    rows[i].ok, rows[i].text ? rows[i].text : "-");
			bad++;
		}
		if (err != NULL && (st.text != NULL || st.ok != 0)) {
			print_error("row %zu: refused but output set\n", i);
			bad++;
		}
	}
	/* the bound: 510 octets and CRLF pass, 511 do not */
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "+OK ", 4);
	if (pop3_parse_status(longline, POP3_LINE_MAX - 2, &st) != NULL) {
		print_error("a line of %d octets was refused\n", POP3_LINE_MAX - 2);
		bad++;
	}
	if (pop3_parse_status(longline, POP3_LINE_MAX - 1, &st) == NULL) {
		print_error("a line of %d octets was accepted\n", POP3_LINE_MAX - 1);
		bad++;
	}
	assert_int_equal(bad, 0);
}

static void
test_greeting(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
		int		 err;
		const char	*ts;
	} rows[] = {
		/* RFC 1939 section 7's example */
		{ L("+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
		    0, "<1896.697170952@dbc.mtview.ca.us>" },
		{ L("+OK Dovecot (Debian) ready. <4a1.2.6560b4a3.Zx9q@host>"),
		    0, "<4a1.2.6560b4a3.Zx9q@host>" },
		{ L("+OK Dovecot (Debian) ready."), 0, "" },
		{ L("+OK"), 0, "" },
		{ L("+OK <a@b> <c@d>"), 0, "<a@b>" },
		{ L("+OK <no-at-sign>"), 0, "" },
		{ L("+OK <a@b@c>"), 0, "" },
		{ L("+OK <@b>"), 0, "" },
		{ L("+OK <a@>"), 0, "" },
		{ L("+OK <a b@c>"), 0, "" },
		{ L("+OK <a<b@c>"), 0, "" },
		{ L("+OK <a@b"), 0, "" },
		{ L("-ERR go away <a@b>"), 1, "" },
		{ L("* OK IMAP"), 1, "" },
		{ L("+OK <a@b>\r"), 1, "" },
	};
	char		 ts[POP3_TIMESTAMP_MAX], line[POP3_LINE_MAX];
	const char	*err;
	size_t		 i, n;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		memset(ts, 'z', sizeof(ts));
		err = pop3_parse_greeting(rows[i].line, rows[i].len, ts,
		    sizeof(ts));
		if ((err != NULL) != rows[i].err || strcmp(ts, rows[i].ts) != 0) {
			print_error("row %zu \"%s\": got %s ts=\"%s\", want "
			    "%s ts=\"%s\"\n", i, rows[i].line, err ? err : "ok",
			    ts, rows[i].err ? "error" : "ok", rows[i].ts);
			bad++;
		}
	}
	/* a timestamp that does not fit POP3_TIMESTAMP_MAX is none */
	n = (size_t)snprintf(line, sizeof(line), "+OK <%0*d@h>",
	    POP3_TIMESTAMP_MAX, 7);
	if (pop3_parse_greeting(line, n, ts, sizeof(ts)) != NULL ||
	    ts[0] != '\0') {
		print_error("over-long timestamp: got \"%s\"\n", ts);
		bad++;
	}
	/* nor one that does not fit the caller's buffer */
	if (pop3_parse_greeting(L("+OK <abcdef@ghijk>"), ts, 8) != NULL ||
	    ts[0] != '\0') {
		print_error("small buffer: got \"%s\"\n", ts);
		bad++;
	}
	assert_int_equal(bad, 0);
}

static void
test_capa(void **state)
{
	static const struct {
		const char	*lines[8];
		int		 err;		/* index of the refused line + 1, or 0 */
		unsigned	 flags;
		int		 done, refused;
	} rows[] = {
		{ { "+OK", "CAPA", "TOP", "UIDL", "RESP-CODES", "PIPELINING",
		    "STLS", "." }, 0, POP3_CAPA_STLS, 1, 0 },
		{ { "+OK Capability list follows", "user", "SASL PLAIN",
		    "." }, 0, POP3_CAPA_USER | POP3_CAPA_SASL, 1, 0 },
		{ { "-ERR unknown command" }, 0, 0, 1, 1 },
		{ { "+OK", "STLSX", "STL", ".STLS", "." }, 0, POP3_CAPA_STLS,
		    1, 0 },
		{ { "+OK", "STLS" }, 0, POP3_CAPA_STLS, 0, 0 },
		{ { "OK", "STLS" }, 1, 0, 0, 0 },
		{ { "+OK", "STLS\r", "." }, 2, 0, 0, 0 },
		{ { "+OK", ".", "STLS" }, 3, 0, 1, 0 },
		{ { "-ERR", "STLS" }, 2, 0, 1, 1 },
	};
	struct pop3_capa	 c, saved;
	const char		*err;
	size_t			 i, j;
	int			 bad = 0, refused_at;

	(void)state;
	for (i = 0; i < NELEM(rows); i++) {
		pop3_capa_reset(&c);
		refused_at = 0;
		for (j = 0; j < NELEM(rows[i].lines) && rows[i].lines[j]; j++) {
			saved = c;
			err = pop3_capa_feed(&c, rows[i].lines[j],
			    strlen(rows[i].lines[j]));
			if (err != NULL) {
				refused_at = (int)j + 1;
				if (memcmp(&saved, &c, sizeof(c)) != 0) {
					print_error("row %zu: refused line %zu "
					    "changed the state\n", i, j);
					bad++;
				}
				break;
			}
		}
		if (refused_at != rows[i].err || c.flags != rows[i].flags ||
		    c.done != rows[i].done || c.refused != rows[i].refused) {
			print_error("row %zu: got refused-at %d flags 0x%x done "
			    "%d refused %d, want %d 0x%x %d %d\n", i, refused_at,
			    c.flags, c.done, c.refused, rows[i].err,
			    rows[i].flags, rows[i].done, rows[i].refused);
			bad++;
		}
	}
	/* the line bound */
	pop3_capa_reset(&c);
	assert_null(pop3_capa_feed(&c, L("+OK")));
	for (i = 0; i < POP3_CAPA_LINES_MAX; i++)
		assert_null(pop3_capa_feed(&c, L("X-THING")));
	assert_non_null(pop3_capa_feed(&c, L("STLS")));
	assert_int_equal(c.flags, 0);
	assert_null(pop3_capa_feed(&c, L(".")));
	assert_int_equal(bad, 0);
}

static void
test_arg(void **state)
{
	char	 big[POP3_ARG_MAX + 2];

	(void)state;
	assert_null(pop3_arg_ok("user@example.org"));
	assert_null(pop3_arg_ok("pass with spaces"));
	assert_non_null(pop3_arg_ok(""));
	assert_non_null(pop3_arg_ok("a\r\nDELE 1"));
	assert_non_null(pop3_arg_ok("a\nb"));
	assert_non_null(pop3_arg_ok("a\tb"));
	assert_non_null(pop3_arg_ok("a\x7f"));
	memset(big, 'a', sizeof(big));
	big[POP3_ARG_MAX] = '\0';
	assert_null(pop3_arg_ok(big));
	big[POP3_ARG_MAX] = 'a';
	big[POP3_ARG_MAX + 1] = '\0';
	assert_non_null(pop3_arg_ok(big));
}

static void
test_apop(void **state)
{
	char	 hex[POP3_DIGEST_LEN + 1];

	(void)state;
	/* RFC 1939 section 7, exactly */
	assert_null(pop3_apop_digest("<1896.697170952@dbc.mtview.ca.us>",
	    "tanstaaf", hex, sizeof(hex)));
	assert_string_equal(hex, "c4c9334bac560ecc979e58001b3e22fb");
	/* MD5("<a@b>") with an empty secret, from md5sum */
	assert_null(pop3_apop_digest("<a@b>", "", hex, sizeof(hex)));
	assert_string_equal(hex, "88619db570587f35a6761a4982138641");
	assert_non_null(pop3_apop_digest("<a@b>", "x", hex, sizeof(hex) - 1));
	assert_non_null(pop3_apop_digest("a@b", "x", hex, sizeof(hex)));
	assert_string_equal(hex, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_greeting),
		cmocka_unit_test(test_capa),
		cmocka_unit_test(test_arg),
		cmocka_unit_test(test_apop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
