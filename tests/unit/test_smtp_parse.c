/*
 * test_smtp_parse - table tests for the SMTP command and reply parsers.
 *
 * Every table row is checked and every mismatch printed (got/want) before
 * the test fails, so one run shows all broken rows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp_dsn.h"
#include "smtp/smtp_parse.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define L(s)		s, sizeof(s) - 1	/* a literal with its length, NULs kept */

#define CHECK(bad, cond, ...) do {					\
	if (!(cond)) {							\
		print_error(__VA_ARGS__);				\
		(bad)++;						\
	}								\
} while (0)

static const char *vis(const char *, size_t);
static const char *vs(const char *);
static const char *params_str(const struct smtp_path *);
static char	*repeat(char *, int, size_t);
static int	 feed_lines(struct smtp_reply *, const char *const *, size_t,
		    const char **);

/* printable rendering of test input for messages; rotating buffers */
static const char *
vis(const char *s, size_t n)
{
	static char	bufs[4][2048];
	static int	which;
	char		*b = bufs[which++ % 4];
	size_t		i, o = 0;

	if (s == NULL)
		return "(null)";
	for (i = 0; i < n && o + 8 < sizeof(bufs[0]); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			b[o++] = (char)c;
		else
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o,
			    "\\x%02x", c);
	}
	b[o] = '\0';
	return b;
}

static const char *
vs(const char *s)
{
	return s == NULL ? "(null)" : vis(s, strlen(s));
}

/* "K=V K2" from parsed params */
static const char *
params_str(const struct smtp_path *p)
{
	static char	buf[2048];
	size_t		i;

	buf[0] = '\0';
	for (i = 0; i < p->nparams; i++) {
		if (i > 0)
			strcat(buf, " ");
		strcat(buf, p->params[i].keyword);
		if (p->params[i].has_value) {
			strcat(buf, "=");
			strcat(buf, p->params[i].value);
		}
	}
	return buf;
}

static char *
repeat(char *dst, int c, size_t n)
{
	memset(dst, c, n);
	dst[n] = '\0';
	return dst;
}

/* ---- smtp_parse_command ---- */

static void
test_command(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
		int		 ok;
		enum smtp_verb	 verb;
		const char	*args;
	} t[] = {
		{ L("MAIL FROM:<a@b>"), 1, SMTP_CMD_MAIL, "FROM:<a@b>" },
		{ L("mail FROM:<a@b>"), 1, SMTP_CMD_MAIL, "FROM:<a@b>" },
		{ L("MaIl from:<a@b>"), 1, SMTP_CMD_MAIL, "from:<a@b>" },
		{ L("RCPT TO:<a@b>"), 1, SMTP_CMD_RCPT, "TO:<a@b>" },
		{ L("HELO host"), 1, SMTP_CMD_HELO, "host" },
		{ L("EHLO host.example"), 1, SMTP_CMD_EHLO, "host.example" },
		{ L("DATA"), 1, SMTP_CMD_DATA, "" },
		{ L("data"), 1, SMTP_CMD_DATA, "" },
		{ L("RSET"), 1, SMTP_CMD_RSET, "" },
		{ L("NOOP"), 1, SMTP_CMD_NOOP, "" },
		{ L("NOOP hello"), 1, SMTP_CMD_NOOP, "hello" },
		{ L("QUIT"), 1, SMTP_CMD_QUIT, "" },
		{ L("QUIT "), 1, SMTP_CMD_QUIT, "" },
		{ L("HELP"), 1, SMTP_CMD_HELP, "" },
		{ L("VRFY root"), 1, SMTP_CMD_VRFY, "root" },
		{ L("EXPN list"), 1, SMTP_CMD_EXPN, "list" },
		{ L("STARTTLS"), 1, SMTP_CMD_STARTTLS, "" },
		{ L("starttls"), 1, SMTP_CMD_STARTTLS, "" },
		{ L("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q="), 1, SMTP_CMD_AUTH,
		    "PLAIN dGVzdAB0ZXN0AHRlc3Q=" },
		{ L("BDAT 100 LAST"), 1, SMTP_CMD_BDAT, "100 LAST" },
		{ L("MAIL  FROM:<a@b>"), 1, SMTP_CMD_MAIL, " FROM:<a@b>" },
		/* unknown verbs are no error */
		{ L("XYZZY"), 1, SMTP_CMD_UNKNOWN, "" },
		{ L("XYZZY plugh"), 1, SMTP_CMD_UNKNOWN, "plugh" },
		{ L(""), 1, SMTP_CMD_UNKNOWN, "" },
		{ L("MAILFROM:<a@b>"), 1, SMTP_CMD_UNKNOWN, "" },
		{ L("MAIL\tFROM:<a@b>"), 1, SMTP_CMD_UNKNOWN, "" },
		{ L("MAI"), 1, SMTP_CMD_UNKNOWN, "" },
		{ L("STARTTLSX"), 1, SMTP_CMD_UNKNOWN, "" },
		{ L(" MAIL FROM:<a@b>"), 1, SMTP_CMD_UNKNOWN, "MAIL FROM:<a@b>" },
		/* CR, LF and NUL anywhere: smuggled commands, truncation */
		{ L("MAIL FROM:<a@b>\r\nRCPT TO:<c@d>"), 0, 0, NULL },
		{ L("MAIL FROM:<a@b>\nRCPT TO:<c@d>"), 0, 0, NULL },
		{ L("MAIL FROM:<a@b>\rRCPT TO:<c@d>"), 0, 0, NULL },
		{ L("MAIL FROM:<a@b>\r"), 0, 0, NULL },
		{ L("\nQUIT"), 0, 0, NULL },
		{ L("QU\0IT"), 0, 0, NULL },
		{ L("RCPT TO:<a@b>\0<evil@x>"), 0, 0, NULL },
		{ L("DATA\0"), 0, 0, NULL },
		{ L("XYZZY\r"), 0, 0, NULL },
	};
	enum smtp_verb	 verb;
	const char	*args, *err;
	size_t		 i;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		err = smtp_parse_command(t[i].line, t[i].len, &verb, &args);
		if (!t[i].ok) {
			CHECK(bad, err != NULL, "command %zu \"%s\": got ok, "
			    "want error\n", i, vis(t[i].line, t[i].len));
			continue;
		}
		CHECK(bad, err == NULL, "command %zu \"%s\": got error \"%s\", "
		    "want ok\n", i, vis(t[i].line, t[i].len), err);
		if (err != NULL)
			continue;
		CHECK(bad, verb == t[i].verb, "command %zu \"%s\": got verb %d, "
		    "want %d\n", i, vis(t[i].line, t[i].len), verb, t[i].verb);
		CHECK(bad, strcmp(args, t[i].args) == 0, "command %zu \"%s\": "
		    "got args \"%s\", want \"%s\"\n", i,
		    vis(t[i].line, t[i].len), vs(args), t[i].args);
		/* the contract: args points into the line when there are any */
		if (t[i].args[0] != '\0')
			CHECK(bad, args > t[i].line &&
			    args < t[i].line + t[i].len, "command %zu: args "
			    "does not point into the line\n", i);
	}
	assert_int_equal(bad, 0);
}

static void
test_command_length(void **state)
{
	char		 line[SMTP_CMD_LINE_MAX + 8];
	enum smtp_verb	 verb;
	const char	*args;

	(void)state;
	/* 510 octets plus CRLF is the RFC 5321 maximum: accepted */
	memcpy(line, "NOOP ", 5);
	repeat(line + 5, 'x', SMTP_CMD_LINE_MAX - 2 - 5);
	assert_int_equal(strlen(line), SMTP_CMD_LINE_MAX - 2);
	assert_null(smtp_parse_command(line, strlen(line), &verb, &args));
	assert_int_equal(verb, SMTP_CMD_NOOP);
	/* one more is refused, also for an unknown verb */
	repeat(line + 5, 'x', SMTP_CMD_LINE_MAX - 2 - 4);
	assert_non_null(smtp_parse_command(line, strlen(line), &verb, &args));
	assert_int_equal(verb, SMTP_CMD_UNKNOWN);
	line[0] = 'Z';
	assert_non_null(smtp_parse_command(line, strlen(line), &verb, &args));
	assert_non_null(smtp_parse_command(line, (size_t)-1, &verb, &args));
}

/* RFC 3461 4: MAIL and RCPT lines may be 500 octets longer, no others */
static void
test_command_length_dsn(void **state)
{
	static const char *const verbs[] = { "MAIL", "rcpt", "NOOP", "AUTH",
	    "HELO", "XYZW" };
	char		 line[SMTP_MAILRCPT_LINE_MAX + 8];
	enum smtp_verb	 verb;
	const char	*args, *err;
	size_t		 i;
	int		 long_ok;

	(void)state;
	for (i = 0; i < NELEM(verbs); i++) {
		long_ok = i < 2;
		memcpy(line, verbs[i], 4);
		line[4] = ' ';
		repeat(line + 5, 'x', SMTP_MAILRCPT_LINE_MAX - 2 - 5);
		err = smtp_parse_command(line, strlen(line), &verb, &args);
		if (long_ok) {
			assert_null(err);
			assert_int_equal(verb, i == 0 ? SMTP_CMD_MAIL :
			    SMTP_CMD_RCPT);
			assert_ptr_equal(args, line + 5);
		} else {
			assert_non_null(err);
			assert_int_equal(verb, SMTP_CMD_UNKNOWN);
			assert_string_equal(args, "");
		}
		repeat(line + 5, 'x', SMTP_MAILRCPT_LINE_MAX - 2 - 4);
		assert_non_null(smtp_parse_command(line, strlen(line), &verb,
		    &args));
		assert_int_equal(verb, SMTP_CMD_UNKNOWN);
	}
}

/* ---- smtp_parse_mail / smtp_parse_rcpt ---- */

struct path_case {
	const char	*args;
	int		 utf8;
	int		 ok;
	const char	*addr;		/* want, when ok */
	const char	*params;	/* want, as params_str() */
};

static int
run_path_cases(const char *what, const struct path_case *t, size_t n,
    const char *(*fn)(const char *, int, struct smtp_path *))
{
	struct smtp_path	 p;
	const char		*err;
	size_t			 i;
	int			 bad = 0;

	for (i = 0; i < n; i++) {
		memset(&p, 0xa5, sizeof(p));
		err = fn(t[i].args, t[i].utf8, &p);
		if (!t[i].ok) {
			CHECK(bad, err != NULL, "%s %zu \"%s\" utf8=%d: got ok "
			    "(addr \"%s\"), want error\n", what, i,
			    vs(t[i].args), t[i].utf8, vs(p.addr));
			continue;
		}
		CHECK(bad, err == NULL, "%s %zu \"%s\" utf8=%d: got error "
		    "\"%s\", want ok\n", what, i, vs(t[i].args), t[i].utf8,
		    err);
		if (err != NULL)
			continue;
		CHECK(bad, strcmp(p.addr, t[i].addr) == 0, "%s %zu \"%s\": got "
		    "addr \"%s\", want \"%s\"\n", what, i, vs(t[i].args),
		    vs(p.addr), vs(t[i].addr));
		CHECK(bad, strcmp(params_str(&p), t[i].params) == 0, "%s %zu "
		    "\"%s\": got params \"%s\", want \"%s\"\n", what, i,
		    vs(t[i].args), params_str(&p), t[i].params);
	}
	return bad;
}

static const struct path_case mail_cases[] = {
	/* ordinary */
	{ "FROM:<a@b.c>", 0, 1, "a@b.c", "" },
	{ "from:<a@b.c>", 0, 1, "a@b.c", "" },
	{ "From:<User.Name+tag@Sub.Example.co.uk>", 0, 1,
	    "User.Name+tag@Sub.Example.co.uk", "" },
	{ "FROM:<user@localhost>", 0, 1, "user@localhost", "" },
	{ "FROM:<a!#$%&'*+-/=?^_`{|}~@example.com>", 0, 1,
	    "a!#$%&'*+-/=?^_`{|}~@example.com", "" },
	{ "FROM:<x@a-b.c-d.e>", 0, 1, "x@a-b.c-d.e", "" },
	{ "FROM:<x@123.example>", 0, 1, "x@123.example", "" },
	/* legacy: one space after the colon */
	{ "FROM: <a@b.c>", 0, 1, "a@b.c", "" },
	{ "FROM: <>", 0, 1, "", "" },
	/* the null reverse-path, with and without parameters */
	{ "FROM:<>", 0, 1, "", "" },
	{ "FROM:<> SIZE=1000", 0, 1, "", "SIZE=1000" },
	{ "FROM:<> BODY=8BITMIME RET=HDRS", 0, 1, "", "BODY=8BITMIME RET=HDRS" },
	/* parameters */
	{ "FROM:<a@b.c> SIZE=10 BODY=8BITMIME", 0, 1, "a@b.c",
	    "SIZE=10 BODY=8BITMIME" },
	{ "FROM:<a@b.c> SMTPUTF8", 0, 1, "a@b.c", "SMTPUTF8" },
	{ "FROM:<a@b.c> size=10", 0, 1, "a@b.c", "size=10" },
	{ "FROM:<a@b.c> ENVID=QQ314159+2B RET=FULL", 0, 1, "a@b.c",
	    "ENVID=QQ314159+2B RET=FULL" },
	{ "FROM:<a@b.c> X-FOO=a-b X-9=<x>", 0, 1, "a@b.c", "X-FOO=a-b X-9=<x>" },
	{ "FROM:<a@b.c> AUTH=<>", 0, 1, "a@b.c", "AUTH=<>" },
	{ "FROM:<a@b.c>  SIZE=10  BODY=7BIT ", 0, 1, "a@b.c",
	    "SIZE=10 BODY=7BIT" },
	{ "FROM:<a@b.c> ", 0, 1, "a@b.c", "" },
	{ "FROM:<a@b.c> A B C D E F G H", 0, 1, "a@b.c", "A B C D E F G H" },
	{ "FROM:<a@b.c> 8=1", 0, 1, "a@b.c", "8=1" },
	/* quoted local parts */
	{ "FROM:<\"john doe\"@example.com>", 0, 1, "\"john doe\"@example.com", "" },
	{ "FROM:<\"a@b\"@example.com>", 0, 1, "\"a@b\"@example.com", "" },
	{ "FROM:<\"a\\\"b\"@example.com>", 0, 1, "\"a\\\"b\"@example.com", "" },
	{ "FROM:<\"a\\\\\"@example.com>", 0, 1, "\"a\\\\\"@example.com", "" },
	{ "FROM:<\"\"@example.com>", 0, 1, "\"\"@example.com", "" },
	{ "FROM:<\"a:b,c\"@example.com>", 0, 1, "\"a:b,c\"@example.com", "" },
	/* address literals */
	{ "FROM:<user@[192.0.2.1]>", 0, 1, "user@[192.0.2.1]", "" },
	{ "FROM:<user@[IPv6:2001:db8::1]>", 0, 1, "user@[IPv6:2001:db8::1]", "" },
	{ "FROM:<user@[ipv6:::1]>", 0, 1, "user@[ipv6:::1]", "" },
	{ "FROM:<user@[IPv6:::ffff:192.0.2.1]>", 0, 1,
	    "user@[IPv6:::ffff:192.0.2.1]", "" },
	{ "FROM:<user@[x-tag:abc]>", 0, 1, "user@[x-tag:abc]", "" },
	/* source routes are accepted and dropped */
	{ "FROM:<@r1.example,@r2.example:user@d.example>", 0, 1,
	    "user@d.example", "" },
	{ "FROM:<@r1.example:user@d.example> SIZE=5", 0, 1,
	    "user@d.example", "SIZE=5" },
	/* SMTPUTF8 */
	{ "FROM:<pel\xc3\xa9@ex\xc3\xa4mple.com>", 1, 1,
	    "pel\xc3\xa9@ex\xc3\xa4mple.com", "" },
	{ "FROM:<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>",
	    1, 1, "\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a", "" },
	{ "FROM:<\"j\xc3\xb6rg\"@example.com>", 1, 1,
	    "\"j\xc3\xb6rg\"@example.com", "" },
	{ "FROM:<a@b.c> SMTPUTF8 X=\xc3\xa9", 1, 1, "a@b.c", "SMTPUTF8 X=\xc3\xa9" },
	{ "FROM:<a@\xf0\x9f\x98\x80.example>", 1, 1, "a@\xf0\x9f\x98\x80.example", "" },

	/* syntax */
	{ "", 0, 0, NULL, NULL },
	{ "FROM:", 0, 0, NULL, NULL },
	{ "FROM", 0, 0, NULL, NULL },
	{ "FROM:a@b.c", 0, 0, NULL, NULL },
	{ "FROM: a@b.c", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c", 0, 0, NULL, NULL },
	{ "FROM:a@b.c>", 0, 0, NULL, NULL },
	{ "FROM:  <a@b.c>", 0, 0, NULL, NULL },
	{ "FROM :<a@b.c>", 0, 0, NULL, NULL },
	{ " FROM:<a@b.c>", 0, 0, NULL, NULL },
	{ "FROM:\t<a@b.c>", 0, 0, NULL, NULL },
	{ "TO:<a@b.c>", 0, 0, NULL, NULL },
	{ "FROMX:<a@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c>SIZE=1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c>>", 0, 0, NULL, NULL },
	{ "FROM:<<a@b.c>>", 0, 0, NULL, NULL },
	{ "FROM:<a<b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> <d@e.f>", 0, 0, NULL, NULL },
	{ "FROM:<> <>", 0, 0, NULL, NULL },
	{ "FROM:<>x", 0, 0, NULL, NULL },
	{ "FROM:< >", 0, 0, NULL, NULL },
	{ "FROM:< a@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c >", 0, 0, NULL, NULL },
	/* special cases are exact: no domain-less address but Postmaster for RCPT */
	{ "FROM:<Postmaster>", 0, 0, NULL, NULL },
	{ "FROM:<root>", 0, 0, NULL, NULL },
	/* CVE-2020-7247: shell in a domain-less local part */
	{ "FROM:<;sleep 66;>", 0, 0, NULL, NULL },
	{ "FROM:<;/bin/sh -c 'id';>", 0, 0, NULL, NULL },
	{ "FROM:<`sleep 66`>", 0, 0, NULL, NULL },
	{ "FROM:<root;id>", 0, 0, NULL, NULL },
	{ "FROM:<;sleep 66;@example.com>", 0, 0, NULL, NULL },
	{ "FROM:<a;b@example.com>", 0, 0, NULL, NULL },
	{ "FROM:<$(id)@example.com>", 0, 0, NULL, NULL },
	{ "FROM:<a@example.com;id>", 0, 0, NULL, NULL },
	{ "FROM:<a@$(id).com>", 0, 0, NULL, NULL },
	{ "FROM:<;sleep 66;@>", 0, 0, NULL, NULL },
	{ "FROM:<@a.b:;sleep 66;>", 0, 0, NULL, NULL },
	/* injection through CR, LF, other controls */
	{ "FROM:<a@b.c>\r\nRCPT TO:<x@y.z>", 0, 0, NULL, NULL },
	{ "FROM:<a\r@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c\n>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1\rX", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1\n", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1\r\nDATA", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> X\n=1", 0, 0, NULL, NULL },
	{ "FROM:<\"a\r\nRSET\"@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\\\r\"@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a\tb@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\tb\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> BODY=8BIT\x01MIME", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c\x7f>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c>\x1b[2J", 0, 0, NULL, NULL },
	/* local part */
	{ "FROM:<a..b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<.a@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a.@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a(b)@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a,b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a:b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a\\b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a[b]@c.d>", 0, 0, NULL, NULL },
	/* quotes */
	{ "FROM:<\"unbalanced@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<unbalanced\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\"b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a\"b\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\"\"b\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\\\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a<b\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a>b\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"a\\<b\"@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<\"\\\">", 0, 0, NULL, NULL },
	{ "FROM:<\">", 0, 0, NULL, NULL },
	/* domain */
	{ "FROM:<a@@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b@c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a@>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.>", 0, 0, NULL, NULL },
	{ "FROM:<a@.b>", 0, 0, NULL, NULL },
	{ "FROM:<a@b..c>", 0, 0, NULL, NULL },
	{ "FROM:<a@-b.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b-.c>", 0, 0, NULL, NULL },
	{ "FROM:<a@b_c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a@b c.d>", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c:25>", 0, 0, NULL, NULL },
	{ "FROM:<a@\"b\".c>", 0, 0, NULL, NULL },
	/* address literals */
	{ "FROM:<a@[300.1.1.1]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[1.2.3]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[1.2.3.4.5]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[01.2.3.4]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[1.2.3.4>", 0, 0, NULL, NULL },
	{ "FROM:<a@1.2.3.4]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[IPv6:zz]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[IPv6:1::2::3]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[IPv6:]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[2001:db8::1]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[x:]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[x:a b]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[x:a[b]>", 0, 0, NULL, NULL },
	/* fuzz_command: '<' or '>' reached a path through a general literal */
	{ "FROM:<a@[x:a<b]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[TO:<b@]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[x:a>b]>", 0, 0, NULL, NULL },
	{ "FROM:<a@[1.2.3.4].com>", 0, 0, NULL, NULL },
	/* source routes */
	{ "FROM:<@a.b>", 0, 0, NULL, NULL },
	{ "FROM:<@a.b:>", 0, 0, NULL, NULL },
	{ "FROM:<@:a@b.c>", 0, 0, NULL, NULL },
	{ "FROM:<@a,b:c@d.e>", 0, 0, NULL, NULL },
	{ "FROM:<@a,:c@d.e>", 0, 0, NULL, NULL },
	{ "FROM:<@a..b:c@d.e>", 0, 0, NULL, NULL },
	{ "FROM:<@[1.2.3.4]:c@d.e>", 0, 0, NULL, NULL },
	{ "FROM:<@a:@b:c@d.e>", 0, 0, NULL, NULL },
	/* parameters */
	{ "FROM:<a@b.c> SIZE=", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE==1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1=2", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> =1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> -X=1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> X_Y=1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> X.Y=1", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1 SIZE=2", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> SIZE=1 size=2", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> BODY=8BITMIME BODY", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> A B C D E F G H I", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> X=\xc3\xa9", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c> \xc3\xa9=1", 1, 0, NULL, NULL },
	/* non-ASCII only under SMTPUTF8, and only well-formed */
	{ "FROM:<pel\xc3\xa9@example.com>", 0, 0, NULL, NULL },
	{ "FROM:<a@ex\xc3\xa4mple.com>", 0, 0, NULL, NULL },
	{ "FROM:<\"j\xc3\xb6rg\"@example.com>", 0, 0, NULL, NULL },
	{ "FROM:<a\xc0\xaf@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a\xed\xa0\x80@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a\xc2\x85@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a\xe2\x82@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a\xff@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a\x80@example.com>", 1, 0, NULL, NULL },
	{ "FROM:<a@\xf4\x90\x80\x80.com>", 1, 0, NULL, NULL },
	{ "FROM:<a@\xc3\xa4->", 1, 0, NULL, NULL },
	{ "FROM:<a@b.c> X=\xc3", 1, 0, NULL, NULL },
};

static void
test_mail(void **state)
{
	(void)state;
	assert_int_equal(run_path_cases("mail", mail_cases, NELEM(mail_cases),
	    smtp_parse_mail), 0);
}

static const struct path_case rcpt_cases[] = {
	{ "TO:<a@b.c>", 0, 1, "a@b.c", "" },
	{ "to:<a@b.c>", 0, 1, "a@b.c", "" },
	{ "TO: <a@b.c>", 0, 1, "a@b.c", "" },
	{ "TO:<Postmaster>", 0, 1, "Postmaster", "" },
	{ "TO:<postmaster>", 0, 1, "postmaster", "" },
	{ "TO:<POSTMASTER>", 0, 1, "POSTMASTER", "" },
	{ "TO: <PostMaster>", 0, 1, "PostMaster", "" },
	{ "TO:<Postmaster> NOTIFY=NEVER", 0, 1, "Postmaster", "NOTIFY=NEVER" },
	{ "TO:<postmaster@example.com>", 0, 1, "postmaster@example.com", "" },
	{ "TO:<a@b.c> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.c", 0, 1,
	    "a@b.c", "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a@b.c" },
	{ "TO:<@r.example:a@b.c>", 0, 1, "a@b.c", "" },
	{ "TO:<\xc3\xa9@b.c>", 1, 1, "\xc3\xa9@b.c", "" },

	{ "TO:<>", 0, 0, NULL, NULL },
	{ "TO:<> NOTIFY=NEVER", 0, 0, NULL, NULL },
	{ "FROM:<a@b.c>", 0, 0, NULL, NULL },
	{ "TO:a@b.c", 0, 0, NULL, NULL },
	{ "TO:<root>", 0, 0, NULL, NULL },
	{ "TO:<Postmaster2>", 0, 0, NULL, NULL },
	{ "TO:<Postmaste>", 0, 0, NULL, NULL },
	{ "TO:<postmaster;id>", 0, 0, NULL, NULL },
	{ "TO:<Postmaster>;id", 0, 0, NULL, NULL },
	{ "TO:<Postmaster>\r\nDATA", 0, 0, NULL, NULL },
	{ "TO:<@a.b:Postmaster>", 0, 0, NULL, NULL },
	{ "TO:<\"Postmaster\">", 0, 0, NULL, NULL },
	{ "TO:<;sleep 66;>", 0, 0, NULL, NULL },
	{ "TO:<root;sleep 66;>", 0, 0, NULL, NULL },
	{ "TO:<a@b.c>\nRCPT TO:<d@e.f>", 0, 0, NULL, NULL },
	{ "TO:<a@b.c> NOTIFY=NEVER\r", 0, 0, NULL, NULL },
	{ "TO:<\xc3\xa9@b.c>", 0, 0, NULL, NULL },
	{ "TO:<a@b.c> A B C D E F G H I", 0, 0, NULL, NULL },
	{ "TO:  <a@b.c>", 0, 0, NULL, NULL },
};

static void
test_rcpt(void **state)
{
	(void)state;
	assert_int_equal(run_path_cases("rcpt", rcpt_cases, NELEM(rcpt_cases),
	    smtp_parse_rcpt), 0);
}

/* bounds: path length, keyword and value length, parameter count */
static void
test_path_bounds(void **state)
{
	struct smtp_path	 p;
	char			 args[8192], part[1024];
	size_t			 i;

	(void)state;
	/* "<" + 250 local + "@b.c" + ">" = 256: the maximum */
	repeat(part, 'x', 250);
	snprintf(args, sizeof(args), "FROM:<%s@b.c>", part);
	assert_null(smtp_parse_mail(args, 0, &p));
	assert_int_equal(strlen(p.addr), 254);
	snprintf(args, sizeof(args), "TO:<%s@b.c>", part);
	assert_null(smtp_parse_rcpt(args, 0, &p));
	/* 257 */
	repeat(part, 'x', 251);
	snprintf(args, sizeof(args), "FROM:<%s@b.c>", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));
	assert_string_equal(p.addr, "");
	snprintf(args, sizeof(args), "TO:<%s@b.c>", part);
	assert_non_null(smtp_parse_rcpt(args, 0, &p));
	/* far over */
	repeat(part, 'x', 1000);
	snprintf(args, sizeof(args), "FROM:<%s@b.c>", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));
	snprintf(args, sizeof(args), "FROM:<a@%s.c>", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));
	/* a source route counts toward the 256 too, before it is dropped */
	repeat(part, 'r', 60);
	snprintf(args, sizeof(args), "FROM:<@%s.a,@%s.b,@%s.c:%s@%s.d>",
	    part, part, part, "u", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));
	/* domain label of 63 is fine, 64 is not */
	repeat(part, 'l', 63);
	snprintf(args, sizeof(args), "FROM:<a@%s.c>", part);
	assert_null(smtp_parse_mail(args, 0, &p));
	repeat(part, 'l', 64);
	snprintf(args, sizeof(args), "FROM:<a@%s.c>", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));

	/* keyword up to 31, value up to 127 */
	repeat(part, 'K', SMTP_PARAM_KW_MAX - 1);
	snprintf(args, sizeof(args), "FROM:<a@b.c> %s=1", part);
	assert_null(smtp_parse_mail(args, 0, &p));
	assert_string_equal(p.params[0].keyword, part);
	repeat(part, 'K', SMTP_PARAM_KW_MAX);
	snprintf(args, sizeof(args), "FROM:<a@b.c> %s=1", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));
	repeat(part, 'v', SMTP_PARAM_VAL_MAX - 1);
	snprintf(args, sizeof(args), "FROM:<a@b.c> X=%s", part);
	assert_null(smtp_parse_mail(args, 0, &p));
	assert_string_equal(p.params[0].value, part);
	repeat(part, 'v', SMTP_PARAM_VAL_MAX);
	snprintf(args, sizeof(args), "FROM:<a@b.c> X=%s", part);
	assert_non_null(smtp_parse_mail(args, 0, &p));

	/* exactly SMTP_PARAM_MAX parameters, then one more */
	strcpy(args, "FROM:<a@b.c>");
	for (i = 0; i < SMTP_PARAM_MAX; i++)
		snprintf(args + strlen(args), sizeof(args) - strlen(args),
		    " P%zu=%zu", i, i);
	assert_null(smtp_parse_mail(args, 0, &p));
	assert_int_equal(p.nparams, SMTP_PARAM_MAX);
	strcat(args, " LAST=1");
	assert_non_null(smtp_parse_mail(args, 0, &p));
	assert_int_equal(p.nparams, 0);
}

static void
test_find_param(void **state)
{
	struct smtp_path	 p;
	const struct smtp_param	*pa;

	(void)state;
	assert_null(smtp_parse_mail("FROM:<a@b.c> SIZE=10 body=8BITMIME SMTPUTF8",
	    1, &p));
	pa = smtp_find_param(&p, "size");
	assert_non_null(pa);
	assert_string_equal(pa->value, "10");
	assert_int_equal(pa->has_value, 1);
	pa = smtp_find_param(&p, "BODY");
	assert_non_null(pa);
	assert_string_equal(pa->keyword, "body");
	assert_string_equal(pa->value, "8BITMIME");
	pa = smtp_find_param(&p, "SmtpUtf8");
	assert_non_null(pa);
	assert_int_equal(pa->has_value, 0);
	assert_string_equal(pa->value, "");
	assert_null(smtp_find_param(&p, "SIZ"));
	assert_null(smtp_find_param(&p, "SIZE10"));
	assert_null(smtp_find_param(&p, "RET"));
}

/* ---- smtp_parse_helo ---- */

/* RFC 3461 parameter values: keyword, command, value, valid */
static const struct {
	const char	*kw;
	int		 rcpt;
	const char	*value;		/* NULL: the keyword alone */
	int		 ok;
} dsn_cases[] = {
	{ "RET", 0, "FULL", 1 },
	{ "RET", 0, "HDRS", 1 },
	{ "ret", 0, "hdrs", 1 },
	{ "RET", 0, "HEADERS", 0 },
	{ "RET", 0, "FULLX", 0 },
	{ "RET", 0, NULL, 0 },
	{ "ENVID", 0, "QQ314159", 1 },
	{ "ENVID", 0, "a+2Bb", 1 },		/* "a+b" */
	{ "ENVID", 0, "+20x+09", 1 },		/* SP and HTAB decode fine */
	{ "ENVID", 0, "a+2bb", 0 },		/* lower-case hex */
	{ "ENVID", 0, "a+2", 0 },		/* cut hexchar */
	{ "ENVID", 0, "a+", 0 },
	{ "ENVID", 0, "a+0D+0AX-Injected:+20y", 0 }, /* CR LF encoded */
	{ "ENVID", 0, "a+00", 0 },
	{ "ENVID", 0, "a+7F", 0 },
	{ "ENVID", 0, "a+C3+A4", 0 },		/* 8-bit after decoding */
	{ "ENVID", 0, "a+", 0 },
	{ "ENVID", 0, "a\xc3\xa4", 0 },		/* raw UTF-8 is no xtext */
	{ "ENVID", 0, NULL, 0 },
	{ "NOTIFY", 1, "NEVER", 1 },
	{ "NOTIFY", 1, "never", 1 },
	{ "NOTIFY", 1, "SUCCESS", 1 },
	{ "NOTIFY", 1, "SUCCESS,FAILURE", 1 },
	{ "NOTIFY", 1, "DELAY,FAILURE,SUCCESS", 1 },
	{ "NOTIFY", 1, "success,Delay", 1 },
	{ "NOTIFY", 1, "NEVER,SUCCESS", 0 },	/* NEVER stands alone */
	{ "NOTIFY", 1, "SUCCESS,NEVER", 0 },
	{ "NOTIFY", 1, "SUCCESS,", 0 },
	{ "NOTIFY", 1, ",SUCCESS", 0 },
	{ "NOTIFY", 1, "SUCCESS,,FAILURE", 0 },
	{ "NOTIFY", 1, "SUCCES", 0 },
	{ "NOTIFY", 1, "ALWAYS", 0 },
	{ "NOTIFY", 1, NULL, 0 },
	{ "ORCPT", 1, "rfc822;a@b.c", 1 },
	{ "ORCPT", 1, "RFC822;a+2Bx@b.c", 1 },
	{ "ORCPT", 1, "utf-8;a\\x{E9}@b.c", 1 },
	{ "ORCPT", 1, "x400;/c+3Dus/", 1 },
	{ "ORCPT", 1, "rfc822;", 0 },
	{ "ORCPT", 1, ";a@b.c", 0 },
	{ "ORCPT", 1, "a@b.c", 0 },
	{ "ORCPT", 1, "rf(c;a@b.c", 0 },
	{ "ORCPT", 1, "rfc822;a+0A@b.c", 0 },
	{ "ORCPT", 1, "rfc822;a+zz@b.c", 0 },
	{ "ORCPT", 1, NULL, 0 },
};

static void
test_dsn(void **state)
{
	struct smtp_param	 pa;
	enum smtp_dsn_kw	 kw;
	const char		*err;
	size_t			 i;
	int			 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(dsn_cases); i++) {
		memset(&pa, 0, sizeof(pa));
		strcpy(pa.keyword, dsn_cases[i].kw);
		if (dsn_cases[i].value != NULL) {
			strcpy(pa.value, dsn_cases[i].value);
			pa.has_value = 1;
		}
		kw = smtp_dsn_keyword(pa.keyword, dsn_cases[i].rcpt);
		CHECK(bad, kw != SMTP_DSN_NONE, "%s not a DSN keyword\n",
		    pa.keyword);
		/* each keyword belongs to one command only */
		CHECK(bad, smtp_dsn_keyword(pa.keyword,
		    !dsn_cases[i].rcpt) == SMTP_DSN_NONE,
		    "%s a DSN keyword of the other command\n", pa.keyword);
		err = smtp_check_dsn(kw, &pa);
		CHECK(bad, (err == NULL) == dsn_cases[i].ok,
		    "%s=%s: got %s, want %s\n", pa.keyword, vs(pa.value),
		    err == NULL ? "ok" : err, dsn_cases[i].ok ? "ok" : "error");
	}
	CHECK(bad, smtp_dsn_keyword("SIZE", 0) == SMTP_DSN_NONE, "SIZE\n");
	CHECK(bad, smtp_dsn_keyword("RETX", 0) == SMTP_DSN_NONE, "RETX\n");
	CHECK(bad, smtp_dsn_keyword("NOTIF", 1) == SMTP_DSN_NONE, "NOTIF\n");
	assert_int_equal(bad, 0);
}

/* ENVID: 100 octets as sent (RFC 3461 4.4), encoded octets counted */
static void
test_dsn_envid_length(void **state)
{
	struct smtp_param	 pa;

	(void)state;
	memset(&pa, 0, sizeof(pa));
	strcpy(pa.keyword, "ENVID");
	pa.has_value = 1;
	repeat(pa.value, 'e', SMTP_DSN_ENVID_MAX);
	assert_null(smtp_check_dsn(SMTP_DSN_ENVID, &pa));
	repeat(pa.value, 'e', SMTP_DSN_ENVID_MAX + 1);
	assert_non_null(smtp_check_dsn(SMTP_DSN_ENVID, &pa));
	repeat(pa.value, 'e', SMTP_DSN_ENVID_MAX - 3);
	strcat(pa.value, "+2B");
	assert_null(smtp_check_dsn(SMTP_DSN_ENVID, &pa));
	strcat(pa.value, "e");
	assert_non_null(smtp_check_dsn(SMTP_DSN_ENVID, &pa));
}

static void
test_xtext_decode(void **state)
{
	char		 out[8];
	size_t		 n;

	(void)state;
	assert_null(smtp_xtext_decode("a+2Bb+3D", out, sizeof(out), &n));
	assert_string_equal(out, "a+b=");
	assert_int_equal(n, 4);
	assert_null(smtp_xtext_decode("", out, sizeof(out), &n));
	assert_int_equal(n, 0);
	/* exactly fits (7 + NUL), then one too many: refused, never cut */
	assert_null(smtp_xtext_decode("abcdefg", out, sizeof(out), &n));
	assert_non_null(smtp_xtext_decode("abcdefgh", out, sizeof(out), &n));
	assert_non_null(smtp_xtext_decode("a=b", out, sizeof(out), &n));
	assert_non_null(smtp_xtext_decode("a b", out, sizeof(out), &n));
	assert_non_null(smtp_xtext_decode("+4", out, sizeof(out), &n));
	assert_non_null(smtp_xtext_decode("x", out, 0, &n));
}

static void
test_helo(void **state)
{
	static const struct {
		const char	*args;
		int		 ok;
	} t[] = {
		{ "example.com", 1 },
		{ "mx1.example.com", 1 },
		{ "localhost", 1 },
		{ "LOCALHOST.localdomain", 1 },
		{ "192.168.1.5", 1 },
		{ "[192.0.2.1]", 1 },
		{ "[IPv6:::1]", 1 },
		{ "[IPv6:2001:db8::25]", 1 },
		{ "my_pc", 1 },
		{ "WIN_HOST-01.corp.example", 1 },
		{ "a", 1 },
		{ "", 0 },
		{ " ", 0 },
		{ "a b", 0 },
		{ "example.com ", 0 },
		{ " example.com", 0 },
		{ "a\tb", 0 },
		{ "host\r", 0 },
		{ "host\r\nMAIL FROM:<a@b.c>", 0 },
		{ "host\n", 0 },
		{ "host\x1b", 0 },
		{ "host\x7f", 0 },
		{ "h\xc3\xa9st", 0 },
		{ "ex..com", 0 },
		{ ".example.com", 0 },
		{ "example.com.", 0 },
		{ "-a.com", 0 },
		{ "a-.com", 0 },
		{ "a@b.com", 0 },
		{ "<a.com>", 0 },
		{ "[1.2.3.4", 0 },
		{ "[1.2.3.400]", 0 },
		{ "[]", 0 },
		{ "$(id)", 0 },
		{ "a;b", 0 },
	};
	char	name[SMTP_DOMAIN_MAX + 1], big[600];
	const char *err;
	size_t	i;
	int	bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(name, 'Z', sizeof(name));
		err = smtp_parse_helo(t[i].args, name, sizeof(name));
		if (t[i].ok) {
			CHECK(bad, err == NULL, "helo %zu \"%s\": got error "
			    "\"%s\", want ok\n", i, vs(t[i].args), err);
			CHECK(bad, err != NULL || strcmp(name, t[i].args) == 0,
			    "helo %zu: got name \"%s\", want \"%s\"\n", i,
			    vs(name), vs(t[i].args));
		} else {
			CHECK(bad, err != NULL, "helo %zu \"%s\": got ok, want "
			    "error\n", i, vs(t[i].args));
			CHECK(bad, name[0] == '\0', "helo %zu: name not cleared "
			    "on error\n", i);
		}
	}
	assert_int_equal(bad, 0);

	/* name buffer bounds */
	assert_non_null(smtp_parse_helo("example.com", name, 11));
	assert_string_equal(name, "");
	assert_null(smtp_parse_helo("example.com", name, 12));
	assert_string_equal(name, "example.com");
	/* 255 octets (four labels of 63 and three dots) fit, 256 do not */
	memset(big, 'a', 255);
	big[63] = big[127] = big[191] = '.';
	big[255] = '\0';
	assert_null(smtp_parse_helo(big, name, sizeof(name)));
	big[255] = 'a';
	big[256] = '\0';
	big[254] = '.';
	assert_non_null(smtp_parse_helo(big, name, sizeof(name)));
}

/* ---- smtp_parse_reply_line ---- */

static void
test_reply_line(void **state)
{
	static const struct {
		const char	*line;
		size_t		 len;
		int		 ok;
		int		 code;
		int		 more;
		const char	*text;
	} t[] = {
		{ L("250 OK"), 1, 250, 0, "OK" },
		{ L("250-PIPELINING"), 1, 250, 1, "PIPELINING" },
		{ L("250"), 1, 250, 0, "" },
		{ L("250 "), 1, 250, 0, "" },
		{ L("250-"), 1, 250, 1, "" },
		{ L("220 mx.example.com ESMTP"), 1, 220, 0, "mx.example.com ESMTP" },
		{ L("354 End data with <CR><LF>.<CR><LF>"), 1, 354, 0,
		    "End data with <CR><LF>.<CR><LF>" },
		{ L("421 4.3.2 Shutting down"), 1, 421, 0, "4.3.2 Shutting down" },
		{ L("554-5.7.1 no"), 1, 554, 1, "5.7.1 no" },
		{ L("200 x"), 1, 200, 0, "x" },
		{ L("559 x"), 1, 559, 0, "x" },
		{ L("250 a\tb"), 1, 250, 0, "a\tb" },
		{ L("250 caf\xc3\xa9"), 1, 250, 0, "caf\xc3\xa9" },
		{ L("250  two spaces"), 1, 250, 0, " two spaces" },
		{ L("250 -"), 1, 250, 0, "-" },

		{ L(""), 0, 0, 0, NULL },
		{ L("2"), 0, 0, 0, NULL },
		{ L("25"), 0, 0, 0, NULL },
		{ L("2500"), 0, 0, 0, NULL },
		{ L("250x"), 0, 0, 0, NULL },
		{ L("250\t"), 0, 0, 0, NULL },
		{ L("250_ok"), 0, 0, 0, NULL },
		{ L("199 x"), 0, 0, 0, NULL },
		{ L("100 x"), 0, 0, 0, NULL },
		{ L("600 x"), 0, 0, 0, NULL },
		{ L("260 x"), 0, 0, 0, NULL },
		{ L("290 x"), 0, 0, 0, NULL },
		{ L("2a0 x"), 0, 0, 0, NULL },
		{ L("25a x"), 0, 0, 0, NULL },
		{ L("000 x"), 0, 0, 0, NULL },
		{ L(" 250 x"), 0, 0, 0, NULL },
		{ L("1000"), 0, 0, 0, NULL },
		{ L("250\r"), 0, 0, 0, NULL },
		{ L("250 a\rb"), 0, 0, 0, NULL },
		{ L("250 a\nb"), 0, 0, 0, NULL },
		{ L("250 a\0b"), 0, 0, 0, NULL },
		{ L("25\0 x"), 0, 0, 0, NULL },
		{ L("250 a\x1b[2Jb"), 0, 0, 0, NULL },
		{ L("250 \x7f"), 0, 0, 0, NULL },
		{ L("250 \x01"), 0, 0, 0, NULL },
		{ L("250 ok\r\n250 more"), 0, 0, 0, NULL },
	};
	struct smtp_reply_line	 r;
	const char		*err;
	size_t			 i;
	int			 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		err = smtp_parse_reply_line(t[i].line, t[i].len, &r);
		if (!t[i].ok) {
			CHECK(bad, err != NULL, "reply line %zu \"%s\": got ok, "
			    "want error\n", i, vis(t[i].line, t[i].len));
			continue;
		}
		CHECK(bad, err == NULL, "reply line %zu \"%s\": got error "
		    "\"%s\", want ok\n", i, vis(t[i].line, t[i].len), err);
		if (err != NULL)
			continue;
		CHECK(bad, r.code == t[i].code && r.more == t[i].more,
		    "reply line %zu \"%s\": got %d more=%d, want %d more=%d\n",
		    i, vis(t[i].line, t[i].len), r.code, r.more, t[i].code,
		    t[i].more);
		CHECK(bad, r.textlen == strlen(t[i].text) &&
		    memcmp(r.text, t[i].text, r.textlen) == 0,
		    "reply line %zu: got text \"%s\", want \"%s\"\n", i,
		    vis(r.text, r.textlen), vs(t[i].text));
	}
	assert_int_equal(bad, 0);
}

static void
test_reply_line_length(void **state)
{
	char			 line[SMTP_REPLY_LINE_MAX + 8];
	struct smtp_reply_line	 r;

	(void)state;
	memcpy(line, "250 ", 4);
	memset(line + 4, 'x', sizeof(line) - 4);
	assert_null(smtp_parse_reply_line(line, SMTP_REPLY_LINE_MAX - 2, &r));
	assert_int_equal(r.textlen, SMTP_REPLY_LINE_MAX - 6);
	assert_non_null(smtp_parse_reply_line(line, SMTP_REPLY_LINE_MAX - 1, &r));
	assert_non_null(smtp_parse_reply_line(line, (size_t)-1, &r));
}

/* ---- smtp_reply_feed ---- */

static int
feed_lines(struct smtp_reply *r, const char *const *lines, size_t n,
    const char **err)
{
	size_t	i;

	smtp_reply_reset(r);
	*err = NULL;
	for (i = 0; i < n && lines[i] != NULL; i++)
		if ((*err = smtp_reply_feed(r, lines[i], strlen(lines[i]))) != NULL)
			return (int)i;
	return -1;
}

static void
test_reply_feed(void **state)
{
	static const struct {
		const char	*lines[8];
		int		 ok;
		int		 code;
		const char	*enh;
		const char	*text;
		size_t		 nlines;
		int		 done;
	} t[] = {
		{ { "250 2.0.0 Ok" }, 1, 250, "2.0.0", "Ok", 1, 1 },
		{ { "250 Ok" }, 1, 250, "", "Ok", 1, 1 },
		{ { "250" }, 1, 250, "", "", 1, 1 },
		{ { "250 2.0.0" }, 1, 250, "2.0.0", "", 1, 1 },
		{ { "250 2.0.0 " }, 1, 250, "2.0.0", "", 1, 1 },
		{ { "250 2.0.0Ok" }, 1, 250, "", "2.0.0Ok", 1, 1 },
		{ { "250 2.0.0  two" }, 1, 250, "2.0.0", " two", 1, 1 },
		{ { "250 2.10.100 x" }, 1, 250, "2.10.100", "x", 1, 1 },
		{ { "250 2.1000.0 x" }, 1, 250, "", "2.1000.0 x", 1, 1 },
		{ { "250 2.0.1000 x" }, 1, 250, "", "2.0.1000 x", 1, 1 },
		{ { "250 2..0 x" }, 1, 250, "", "2..0 x", 1, 1 },
		{ { "250 2.0. x" }, 1, 250, "", "2.0. x", 1, 1 },
		{ { "250 2.0 x" }, 1, 250, "", "2.0 x", 1, 1 },
		/* the class must be the reply's first digit */
		{ { "250 5.1.1 x" }, 1, 250, "", "5.1.1 x", 1, 1 },
		{ { "550 4.1.1 x" }, 1, 550, "", "4.1.1 x", 1, 1 },
		{ { "354 3.0.0 go" }, 1, 354, "", "3.0.0 go", 1, 1 },
		{ { "451 4.7.0 Try later" }, 1, 451, "4.7.0", "Try later", 1, 1 },
		{ { "250-mx.example.com", "250-PIPELINING", "250 SIZE 100" },
		    1, 250, "", "mx.example.com\nPIPELINING\nSIZE 100", 3, 1 },
		/* Postfix repeats the code on every line */
		{ { "550-5.1.1 <x@y>: Recipient address rejected",
		    "550-5.1.1 second", "550 5.1.1 third" }, 1, 550, "5.1.1",
		    "<x@y>: Recipient address rejected\nsecond\nthird", 3, 1 },
		{ { "550-5.1.1 a", "550 5.1.1" }, 1, 550, "5.1.1", "a\n", 2, 1 },
		{ { "550-5.1.1 a", "550 5.7.1 b" }, 1, 550, "5.1.1",
		    "a\n5.7.1 b", 2, 1 },
		{ { "550-5.1.1 a", "550 5.1.10 b" }, 1, 550, "5.1.1",
		    "a\n5.1.10 b", 2, 1 },
		{ { "550-a", "550 5.1.1 b" }, 1, 550, "", "a\n5.1.1 b", 2, 1 },
		{ { "250-", "250-", "250 " }, 1, 250, "", "\n\n", 3, 1 },
		{ { "250-first" }, 1, 250, "", "first", 1, 0 },

		{ { "250-a", "251 b" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "250-a", "550 b" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "250 a", "250 b" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "250-a", "25" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "250-a", "250" "\r" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "25" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "2500" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "199 x" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "600 x" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "260 x" }, 0, 0, NULL, NULL, 0, 0 },
		{ { "250-a", "250-b\x1b" }, 0, 0, NULL, NULL, 0, 0 },
	};
	struct smtp_reply	 r;
	const char		*err;
	size_t			 i;
	int			 bad = 0, at;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		at = feed_lines(&r, t[i].lines, NELEM(t[i].lines), &err);
		if (!t[i].ok) {
			CHECK(bad, err != NULL, "reply %zu (\"%s\"...): got ok, "
			    "want error\n", i, vs(t[i].lines[0]));
			continue;
		}
		CHECK(bad, err == NULL, "reply %zu (\"%s\"...): got error "
		    "\"%s\" at line %d, want ok\n", i, vs(t[i].lines[0]), err,
		    at);
		if (err != NULL)
			continue;
		CHECK(bad, r.code == t[i].code, "reply %zu: got code %d, want "
		    "%d\n", i, r.code, t[i].code);
		CHECK(bad, strcmp(r.enh, t[i].enh) == 0, "reply %zu: got enh "
		    "\"%s\", want \"%s\"\n", i, r.enh, t[i].enh);
		CHECK(bad, r.textlen == strlen(t[i].text) &&
		    strcmp(r.text, t[i].text) == 0, "reply %zu: got text "
		    "\"%s\" (%zu), want \"%s\"\n", i, vis(r.text, r.textlen),
		    r.textlen, vs(t[i].text));
		CHECK(bad, r.nlines == t[i].nlines && r.done == t[i].done,
		    "reply %zu: got nlines %zu done %d, want %zu %d\n", i,
		    r.nlines, r.done, t[i].nlines, t[i].done);
	}
	assert_int_equal(bad, 0);
}

static void
test_reply_feed_after_done(void **state)
{
	struct smtp_reply	r;

	(void)state;
	smtp_reply_reset(&r);
	assert_null(smtp_reply_feed(&r, L("250 ok")));
	assert_int_equal(r.done, 1);
	assert_non_null(smtp_reply_feed(&r, L("250 again")));
	assert_string_equal(r.text, "ok");
	assert_int_equal(r.nlines, 1);
	/* reset makes it usable again */
	smtp_reply_reset(&r);
	assert_int_equal(r.code, 0);
	assert_null(smtp_reply_feed(&r, L("221 2.0.0 Bye")));
	assert_int_equal(r.code, 221);
	assert_string_equal(r.enh, "2.0.0");
}

static void
test_reply_feed_limits(void **state)
{
	struct smtp_reply	 r;
	char			 line[SMTP_REPLY_LINE_MAX];
	size_t			 i, tl;

	(void)state;
	/* SMTP_REPLY_LINES_MAX lines are fine */
	smtp_reply_reset(&r);
	for (i = 0; i + 1 < SMTP_REPLY_LINES_MAX; i++)
		assert_null(smtp_reply_feed(&r, L("250-x")));
	assert_null(smtp_reply_feed(&r, L("250 x")));
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	assert_int_equal(r.done, 1);
	/* one more is not */
	smtp_reply_reset(&r);
	for (i = 0; i < SMTP_REPLY_LINES_MAX; i++)
		assert_null(smtp_reply_feed(&r, L("250-x")));
	assert_non_null(smtp_reply_feed(&r, L("250 x")));
	assert_int_equal(r.nlines, SMTP_REPLY_LINES_MAX);
	assert_int_equal(r.done, 0);
	/* an endless continuation is cut off */
	smtp_reply_reset(&r);
	for (i = 0; i < 10000; i++)
		if (smtp_reply_feed(&r, L("250-x")) != NULL)
			break;
	assert_int_equal(i, SMTP_REPLY_LINES_MAX);

	/* total text: long lines until the next would not fit */
	smtp_reply_reset(&r);
	memcpy(line, "250-", 4);
	memset(line + 4, 't', sizeof(line) - 4);
	tl = SMTP_REPLY_LINE_MAX - 6;	/* text of a maximal line */
	for (i = 0; ; i++) {
		const char *err = smtp_reply_feed(&r, line,
		    SMTP_REPLY_LINE_MAX - 2);
		size_t want = i * (tl + 1) + tl;

		if (want >= SMTP_REPLY_TEXT_MAX) {
			assert_non_null(err);
			break;
		}
		assert_null(err);
		assert_int_equal(r.textlen, want);
		assert_int_equal(strlen(r.text), r.textlen);
	}
	/* fill exactly to SMTP_REPLY_TEXT_MAX - 1 with a final short line */
	{
		size_t room = SMTP_REPLY_TEXT_MAX - 1 - r.textlen - 1;

		memcpy(line, "250 ", 4);
		assert_non_null(smtp_reply_feed(&r, line, 4 + room + 1));
		assert_null(smtp_reply_feed(&r, line, 4 + room));
		assert_int_equal(r.textlen, SMTP_REPLY_TEXT_MAX - 1);
		assert_int_equal(r.done, 1);
	}
}

/* ---- smtp_parse_ehlo ---- */

static void
test_ehlo(void **state)
{
	static const struct {
		const char		*lines[20];
		unsigned		 flags;
		unsigned long long	 size;
		const char		*auth;
	} t[] = {
		{ { "250-mx.example.com", "250-PIPELINING", "250-SIZE 10240000",
		    "250-VRFY", "250-ETRN", "250-STARTTLS",
		    "250-AUTH PLAIN LOGIN", "250-AUTH=PLAIN LOGIN",
		    "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250-DSN",
		    "250-SMTPUTF8", "250 CHUNKING" },
		    SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | SMTP_EXT_STARTTLS |
		    SMTP_EXT_AUTH | SMTP_EXT_ENHANCEDSTATUSCODES |
		    SMTP_EXT_8BITMIME | SMTP_EXT_DSN | SMTP_EXT_SMTPUTF8 |
		    SMTP_EXT_CHUNKING, 10240000, "PLAIN LOGIN" },
		/* smtp-sink: a keyword-less last line */
		{ { "250-sink.example", "250-PIPELINING", "250-8BITMIME", "250 " },
		    SMTP_EXT_PIPELINING | SMTP_EXT_8BITMIME, 0, "" },
		{ { "250-x", "250-", "250 STARTTLS" }, SMTP_EXT_STARTTLS, 0, "" },
		{ { "250-x", "250-starttls", "250 size" },
		    SMTP_EXT_STARTTLS | SMTP_EXT_SIZE, 0, "" },
		{ { "250-x", "250-SIZE", "250 Pipelining" },
		    SMTP_EXT_SIZE | SMTP_EXT_PIPELINING, 0, "" },
		/* RFC 8689; a keyword only with a word boundary */
		{ { "250-x", "250-requiretls", "250 REQUIRETLSX" },
		    SMTP_EXT_REQUIRETLS, 0, "" },
		{ { "250-x", "250 SIZE 0" }, SMTP_EXT_SIZE, 0, "" },
		{ { "250-x", "250 SIZE abc" }, SMTP_EXT_SIZE, 0, "" },
		{ { "250-x", "250 SIZE 12x" }, SMTP_EXT_SIZE, 0, "" },
		{ { "250-x", "250 SIZE -1" }, SMTP_EXT_SIZE, 0, "" },
		{ { "250-x", "250 SIZE 18446744073709551615" }, SMTP_EXT_SIZE,
		    18446744073709551615ULL, "" },
		{ { "250-x", "250 SIZE 18446744073709551616" }, SMTP_EXT_SIZE,
		    0, "" },
		{ { "250-x", "250 SIZE 99999999999999999999999" }, SMTP_EXT_SIZE,
		    0, "" },
		/* only the old form */
		{ { "250-x", "250 AUTH=CRAM-MD5 PLAIN" }, SMTP_EXT_AUTH, 0,
		    "CRAM-MD5 PLAIN" },
		{ { "250-x", "250 auth=login" }, SMTP_EXT_AUTH, 0, "login" },
		{ { "250-x", "250 AUTH  PLAIN   XOAUTH2 " }, SMTP_EXT_AUTH, 0,
		    "PLAIN XOAUTH2" },
		{ { "250-x", "250-AUTH LOGIN PLAIN", "250 AUTH plain login XOAUTH2" },
		    SMTP_EXT_AUTH, 0, "LOGIN PLAIN XOAUTH2" },
		{ { "250-x", "250 AUTH" }, SMTP_EXT_AUTH, 0, "" },
		/* mechanism names that are no sasl-mech are dropped */
		{ { "250-x", "250 AUTH PLAIN L\xc3\x96GIN A23456789012345678901 "
		    "B2345678901234567890 X;Y" }, SMTP_EXT_AUTH, 0,
		    "PLAIN B2345678901234567890" },
		/* look-alike keywords are not keywords */
		{ { "250-x", "250-STARTTLSX", "250-XSTARTTLS", "250-SIZE100",
		    "250-AUTHX PLAIN", "250 PIPELINING=1" }, 0, 0, "" },
		{ { "250-x", "250 STARTTLS now" }, SMTP_EXT_STARTTLS, 0, "" },
		/* the greeting line is no keyword */
		{ { "250 STARTTLS" }, 0, 0, "" },
		{ { "250-STARTTLS", "250 8BITMIME" }, SMTP_EXT_8BITMIME, 0, "" },
		/* not a 250: nothing */
		{ { "550-x", "550 STARTTLS" }, 0, 0, "" },
	};
	struct smtp_reply	 r;
	struct smtp_ext		 ext;
	const char		*err;
	size_t			 i;
	int			 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		feed_lines(&r, t[i].lines, NELEM(t[i].lines), &err);
		CHECK(bad, err == NULL, "ehlo %zu: reply error \"%s\"\n", i, err);
		/* whatever was in ext before is forgotten */
		memset(&ext, 0xff, sizeof(ext));
		ext.auth[sizeof(ext.auth) - 1] = '\0';
		smtp_parse_ehlo(&r, &ext);
		CHECK(bad, ext.flags == t[i].flags, "ehlo %zu: got flags %#x, "
		    "want %#x\n", i, ext.flags, t[i].flags);
		CHECK(bad, ext.size == t[i].size, "ehlo %zu: got size %llu, "
		    "want %llu\n", i, ext.size, t[i].size);
		CHECK(bad, strcmp(ext.auth, t[i].auth) == 0, "ehlo %zu: got "
		    "auth \"%s\", want \"%s\"\n", i, vs(ext.auth), t[i].auth);
	}
	assert_int_equal(bad, 0);
}

/* a hostile upstream lists more mechanisms than ext->auth holds */
static void
test_ehlo_auth_bound(void **state)
{
	struct smtp_reply	 r;
	struct smtp_ext		 ext;
	char			 line[SMTP_REPLY_LINE_MAX];
	size_t			 i, n;

	(void)state;
	smtp_reply_reset(&r);
	assert_null(smtp_reply_feed(&r, L("250-x")));
	n = (size_t)snprintf(line, sizeof(line), "250 AUTH");
	for (i = 0; i < 60; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    " MECH-NUMBER-%02zu", i);
	assert_null(smtp_reply_feed(&r, line, n));
	smtp_parse_ehlo(&r, &ext);
	assert_true(ext.flags & SMTP_EXT_AUTH);
	assert_true(strlen(ext.auth) < sizeof(ext.auth));
	/* whole names only: the list ends with a complete one */
	assert_true(strlen(ext.auth) > 200);
	n = strlen(ext.auth);
	assert_true(n >= 14);
	assert_memory_equal(ext.auth + n - 14, "MECH-NUMBER-", 12);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_command),
		cmocka_unit_test(test_command_length),
		cmocka_unit_test(test_command_length_dsn),
		cmocka_unit_test(test_mail),
		cmocka_unit_test(test_rcpt),
		cmocka_unit_test(test_path_bounds),
		cmocka_unit_test(test_find_param),
		cmocka_unit_test(test_dsn),
		cmocka_unit_test(test_dsn_envid_length),
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_reply_line),
		cmocka_unit_test(test_reply_line_length),
		cmocka_unit_test(test_reply_feed),
		cmocka_unit_test(test_reply_feed_after_done),
		cmocka_unit_test(test_reply_feed_limits),
		cmocka_unit_test(test_ehlo),
		cmocka_unit_test(test_ehlo_auth_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
