/*
 * test_sasl - the client encodings (RFC 2195's CRAM-MD5 example exactly,
 * PLAIN, LOGIN, XOAUTH2, OAUTHBEARER), the refusal of inputs that could
 * forge fields, hostile challenges, and the mechanism choice table with
 * its cleartext rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/types.h>

#include "auth/sasl.h"
#include "util/base64.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define B(m)		SASL_BIT(AUTH_MECH_##m)
#define ALL		(B(PLAIN) | B(LOGIN) | B(CRAM_MD5) | B(XOAUTH2) | \
			    B(OAUTHBEARER))
#define PW		(B(PLAIN) | B(LOGIN) | B(CRAM_MD5) | B(SCRAM_SHA_1) | \
			    B(SCRAM_SHA_256) | B(DIGEST_MD5) | B(NTLM))

static char	 out[SASL_LINE_MAX];
static struct sasl_state st;	/* no test here needs it between calls */

/* decode the base64 after prefix in line; returns the length */
static size_t
decode_after(const char *line, const char *prefix, unsigned char *buf,
    size_t len)
{
	ssize_t	 n;

	assert_int_equal(strncmp(line, prefix, strlen(prefix)), 0);
	n = base64_decode(line + strlen(prefix), strlen(line + strlen(prefix)),
	    buf, len);
	assert_true(n >= 0);
	return (size_t)n;
}

/* RFC 2195 section 2, the example exchange */
static void
test_cram_md5_rfc2195(void **state)
{
	static const char chal[] =
	    "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+";
	struct sasl_cred cr = { .user = "tim",
	    .password = "tanstaaftanstaaf" };
	char		 r[128];
	int		 fail;

	(void)state;
	assert_null(sasl_cram_md5("tim", "tanstaaftanstaaf",
	    (const unsigned char *)"<1896.697170952@postoffice.reston.mci.net>",
	    42, r, sizeof(r)));
	assert_string_equal(r, "tim b913a602c7eda7a495b4e6e7334d3890");
	assert_null(sasl_start(AUTH_MECH_CRAM_MD5, &cr, &st, out, sizeof(out)));
	assert_string_equal(out, "AUTH CRAM-MD5");
	assert_null(sasl_step(AUTH_MECH_CRAM_MD5, 0, &cr, &st, chal, strlen(chal),
	    out, sizeof(out), &fail));
	assert_string_equal(out,
	    "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
	assert_int_equal(fail, 0);
	/* a second challenge, an empty one, junk: refused */
	assert_non_null(sasl_step(AUTH_MECH_CRAM_MD5, 1, &cr, &st, chal,
	    strlen(chal), out, sizeof(out), &fail));
	assert_non_null(sasl_step(AUTH_MECH_CRAM_MD5, 0, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
	assert_non_null(sasl_step(AUTH_MECH_CRAM_MD5, 0, &cr, &st, "!!!!", 4, out,
	    sizeof(out), &fail));
	/* output too small: an error, not a truncated digest */
	assert_non_null(sasl_cram_md5("tim", "x", (const unsigned char *)"c",
	    1, r, 20));
}

static void
test_plain(void **state)
{
	struct sasl_cred cr = { .user = "joe@example.com",
	    .password = "s3cr et" };
	unsigned char	 raw[256];
	size_t		 n;
	int		 fail;

	(void)state;
	assert_null(sasl_start(AUTH_MECH_PLAIN, &cr, &st, out, sizeof(out)));
	n = decode_after(out, "AUTH PLAIN ", raw, sizeof(raw));
	assert_int_equal(n, 1 + 15 + 1 + 7);
	assert_memory_equal(raw, "\0joe@example.com\0s3cr et", n);
	/* RFC 4616's example encoding */
	cr.user = "tim";
	cr.password = "tanstaaftanstaaf";
	assert_null(sasl_start(AUTH_MECH_PLAIN, &cr, &st, out, sizeof(out)));
	assert_string_equal(out, "AUTH PLAIN AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
	/* nothing is owed after the initial response */
	assert_non_null(sasl_step(AUTH_MECH_PLAIN, 0, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
	/* too small an output buffer */
	assert_non_null(sasl_start(AUTH_MECH_PLAIN, &cr, &st, out, 20));
}

static void
test_login(void **state)
{
	struct sasl_cred cr = { .user = "joe", .password = "pw" };
	int		 fail;

	(void)state;
	assert_null(sasl_start(AUTH_MECH_LOGIN, &cr, &st, out, sizeof(out)));
	assert_string_equal(out, "AUTH LOGIN");
	assert_null(sasl_step(AUTH_MECH_LOGIN, 0, &cr, &st, "VXNlcm5hbWU6", 12, out,
	    sizeof(out), &fail));
	assert_string_equal(out, "am9l");
	assert_null(sasl_step(AUTH_MECH_LOGIN, 1, &cr, &st, "UGFzc3dvcmQ6", 12, out,
	    sizeof(out), &fail));
	assert_string_equal(out, "cHc=");
	assert_non_null(sasl_step(AUTH_MECH_LOGIN, 2, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
}

static void
test_xoauth2(void **state)
{
	struct sasl_cred cr = { .user = "someuser@example.com",
	    .token = "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg" };
	unsigned char	 raw[256];
	size_t		 n;
	int		 fail;

	(void)state;
	assert_null(sasl_start(AUTH_MECH_XOAUTH2, &cr, &st, out, sizeof(out)));
	/* Google's documented example */
	assert_string_equal(out, "AUTH XOAUTH2 dXNlcj1zb21ldXNlckBleGFtcGxlLm"
	    "NvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJo"
	    "ZG1semRHRXVZMjl0Q2cBAQ==");
	n = decode_after(out, "AUTH XOAUTH2 ", raw, sizeof(raw));
	assert_memory_equal(raw, "user=someuser@example.com\001auth=Bearer ",
	    37);
	assert_memory_equal(raw + n - 2, "\001\001", 2);
	/* an error challenge: empty answer, then the 5xx */
	assert_null(sasl_step(AUTH_MECH_XOAUTH2, 0, &cr, &st,
	    "eyJzdGF0dXMiOiI0MDEifQ==", 24, out, sizeof(out), &fail));
	assert_string_equal(out, "");
	assert_int_equal(fail, 1);
	/* a token that could forge a field separator is refused */
	cr.token = "abc\001user=evil";
	assert_non_null(sasl_start(AUTH_MECH_XOAUTH2, &cr, &st, out, sizeof(out)));
	cr.token = "";
	assert_non_null(sasl_start(AUTH_MECH_XOAUTH2, &cr, &st, out, sizeof(out)));
	cr.token = "abc==";
	assert_null(sasl_start(AUTH_MECH_XOAUTH2, &cr, &st, out, sizeof(out)));
	cr.token = "ab=c";
	assert_non_null(sasl_start(AUTH_MECH_XOAUTH2, &cr, &st, out, sizeof(out)));
}

static void
test_oauthbearer(void **state)
{
	/* RFC 7628 section 4.1, with the host and port of its example */
	struct sasl_cred cr = { .user = "user@example.com",
	    .token = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==",
	    .host = "server.example.com", .port = 143 };
	static const char want[] = "n,a=user@example.com,\001"
	    "host=server.example.com\001port=143\001auth=Bearer "
	    "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\001\001";
	unsigned char	 raw[256];
	size_t		 n;
	int		 fail;

	(void)state;
	assert_null(sasl_start(AUTH_MECH_OAUTHBEARER, &cr, &st, out, sizeof(out)));
	n = decode_after(out, "AUTH OAUTHBEARER ", raw, sizeof(raw));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(raw, want, n);
	assert_null(sasl_step(AUTH_MECH_OAUTHBEARER, 0, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
	assert_string_equal(out, "AQ==");
	assert_int_equal(fail, 1);
	/* ',' and '=' in the user name are escaped (RFC 5801 saslname) */
	cr.user = "a,b=c";
	cr.host = NULL;
	assert_null(sasl_start(AUTH_MECH_OAUTHBEARER, &cr, &st, out, sizeof(out)));
	n = decode_after(out, "AUTH OAUTHBEARER ", raw, sizeof(raw));
	assert_true(n > 16);
	assert_memory_equal(raw, "n,a=a=2Cb=3Dc,\001auth=Bearer ", 27);
}

/* CR, LF and empty credentials never reach a line */
static void
test_refused_inputs(void **state)
{
	struct sasl_cred cr = { .user = "joe",
	    .password = "pw\r\nMAIL FROM:<x>" };
	int		 fail;

	(void)state;
	assert_non_null(sasl_start(AUTH_MECH_PLAIN, &cr, &st, out, sizeof(out)));
	cr.password = "pw";
	cr.user = "jo\ne";
	assert_non_null(sasl_start(AUTH_MECH_PLAIN, &cr, &st, out, sizeof(out)));
	cr.user = "";
	assert_non_null(sasl_start(AUTH_MECH_LOGIN, &cr, &st, out, sizeof(out)));
	cr.user = "joe";
	cr.password = NULL;
	assert_non_null(sasl_start(AUTH_MECH_CRAM_MD5, &cr, &st, out, sizeof(out)));
	assert_non_null(sasl_start(AUTH_MECH_NONE, &cr, &st, out, sizeof(out)));
	assert_non_null(sasl_start(AUTH_MECH_MAX, &cr, &st, out, sizeof(out)));
	assert_non_null(sasl_step(AUTH_MECH_NONE, 0, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
}

static void
test_offered(void **state)
{
	(void)state;
	assert_int_equal(sasl_offered(""), 0);
	assert_int_equal(sasl_offered("PLAIN"), B(PLAIN));
	assert_int_equal(sasl_offered("login  cram-md5 GSSAPI NTLM X-FOO"),
	    B(LOGIN) | B(CRAM_MD5) | B(GSSAPI) | B(NTLM));
	assert_int_equal(sasl_offered("CRAM-MD5 LOGIN OAUTHBEARER PLAIN "
	    "XOAUTH2"), ALL);
	assert_int_equal(sasl_offered("PLAINX XOAUTH"), 0);
}

/* the choice table: got/want per row */
static void
test_choose(void **state)
{
	static const int list_cp[] = { AUTH_MECH_CRAM_MD5, AUTH_MECH_PLAIN };
	static const int list_lp[] = { AUTH_MECH_LOGIN, AUTH_MECH_PLAIN };
	static const int list_ox[] = { AUTH_MECH_OAUTHBEARER,
	    AUTH_MECH_XOAUTH2 };
	static const int list_d[] = { AUTH_MECH_DIGEST_MD5 };
	static const int list_n[] = { AUTH_MECH_NTLM };
	static const struct {
		const char	*name;
		unsigned	 offered;
		const int	*allow;
		size_t		 nallow;
		int		 token, tls, clear_ok;
		unsigned	 tried;
		int		 want, want_clear;
	} t[] = {
		{ "tls: PLAIN is strongest", ALL, NULL, 0, 0, 1, 0, 0,
		    AUTH_MECH_PLAIN, 0 },
		{ "tls: LOGIN after PLAIN", ALL, NULL, 0, 0, 1, 0, B(PLAIN),
		    AUTH_MECH_LOGIN, 0 },
		{ "tls: CRAM-MD5 last", ALL, NULL, 0, 0, 1, 0,
		    B(PLAIN) | B(LOGIN), AUTH_MECH_CRAM_MD5, 0 },
		{ "tls: all tried", ALL, NULL, 0, 0, 1, 0,
		    B(PLAIN) | B(LOGIN) | B(CRAM_MD5), AUTH_MECH_NONE, 0 },
		{ "cleartext: CRAM-MD5", ALL, NULL, 0, 0, 0, 0, 0,
		    AUTH_MECH_CRAM_MD5, 0 },
		{ "cleartext: no PLAIN without the key", B(PLAIN) | B(LOGIN),
		    NULL, 0, 0, 0, 0, 0, AUTH_MECH_NONE, 0 },
		{ "cleartext: PLAIN allowed, flagged", B(PLAIN) | B(LOGIN),
		    NULL, 0, 0, 0, 1, 0, AUTH_MECH_PLAIN, 1 },
		{ "cleartext: CRAM-MD5 before PLAIN even when allowed", ALL,
		    NULL, 0, 0, 0, 1, 0, AUTH_MECH_CRAM_MD5, 0 },
		{ "cleartext: fallback to PLAIN when allowed", ALL, NULL, 0,
		    0, 0, 1, B(CRAM_MD5), AUTH_MECH_PLAIN, 1 },
		{ "cleartext: no fallback to PLAIN", ALL, NULL, 0, 0, 0, 0,
		    B(CRAM_MD5), AUTH_MECH_NONE, 0 },
		{ "token: XOAUTH2 first", ALL, NULL, 0, 1, 1, 0, 0,
		    AUTH_MECH_XOAUTH2, 0 },
		{ "token: OAUTHBEARER if only it", B(PLAIN) | B(OAUTHBEARER),
		    NULL, 0, 1, 1, 0, 0, AUTH_MECH_OAUTHBEARER, 0 },
		{ "token: never a password mechanism", B(PLAIN) | B(CRAM_MD5),
		    NULL, 0, 1, 1, 0, 0, AUTH_MECH_NONE, 0 },
		{ "token: cleartext refused", ALL, NULL, 0, 1, 0, 0, 0,
		    AUTH_MECH_NONE, 0 },
		{ "token: cleartext allowed, flagged", ALL, NULL, 0, 1, 0, 1,
		    0, AUTH_MECH_XOAUTH2, 1 },
		{ "password: never a token mechanism", B(XOAUTH2), NULL, 0, 0,
		    1, 0, 0, AUTH_MECH_NONE, 0 },
		{ "list order: CRAM-MD5 before PLAIN under TLS", ALL, list_cp,
		    2, 0, 1, 0, 0, AUTH_MECH_CRAM_MD5, 0 },
		{ "list order: then PLAIN", ALL, list_cp, 2, 0, 1, 0,
		    B(CRAM_MD5), AUTH_MECH_PLAIN, 0 },
		{ "list: LOGIN first", ALL, list_lp, 2, 0, 1, 0, 0,
		    AUTH_MECH_LOGIN, 0 },
		{ "list: not offered skipped", B(PLAIN), list_lp, 2, 0, 1, 0,
		    0, AUTH_MECH_PLAIN, 0 },
		{ "list: nothing offered in it", B(CRAM_MD5), list_lp, 2, 0,
		    1, 0, 0, AUTH_MECH_NONE, 0 },
		{ "list: cleartext rule still applies", ALL, list_lp, 2, 0, 0,
		    0, 0, AUTH_MECH_NONE, 0 },
		{ "list: tokens", ALL, list_ox, 2, 1, 1, 0, 0,
		    AUTH_MECH_OAUTHBEARER, 0 },
		{ "nothing offered", 0, NULL, 0, 0, 1, 1, 0, AUTH_MECH_NONE,
		    0 },
		{ "tls: SCRAM-SHA-256 first", PW, NULL, 0, 0, 1, 0, 0,
		    AUTH_MECH_SCRAM_SHA_256, 0 },
		{ "tls: SCRAM-SHA-1 next", PW, NULL, 0, 0, 1, 0,
		    B(SCRAM_SHA_256), AUTH_MECH_SCRAM_SHA_1, 0 },
		{ "tls: then PLAIN", PW, NULL, 0, 0, 1, 0,
		    B(SCRAM_SHA_256) | B(SCRAM_SHA_1), AUTH_MECH_PLAIN, 0 },
		{ "tls: NTLM after CRAM-MD5", PW, NULL, 0, 0, 1, 0,
		    B(SCRAM_SHA_256) | B(SCRAM_SHA_1) | B(PLAIN) | B(LOGIN) |
		    B(CRAM_MD5), AUTH_MECH_NTLM, 0 },
		{ "all: DIGEST-MD5 only when named", B(DIGEST_MD5), NULL, 0,
		    0, 1, 1, 0, AUTH_MECH_NONE, 0 },
		{ "list: DIGEST-MD5 named", B(DIGEST_MD5), list_d, 1, 0, 0, 0,
		    0, AUTH_MECH_DIGEST_MD5, 0 },
		{ "cleartext: SCRAM first", PW, NULL, 0, 0, 0, 0, 0,
		    AUTH_MECH_SCRAM_SHA_256, 0 },
		{ "cleartext: all never picks NTLM", PW, NULL, 0, 0, 0, 0,
		    B(SCRAM_SHA_256) | B(SCRAM_SHA_1) | B(CRAM_MD5),
		    AUTH_MECH_NONE, 0 },
		{ "cleartext: NTLM named, not flagged", B(NTLM) | B(LOGIN),
		    list_n, 1, 0, 0, 0, 0, AUTH_MECH_NTLM, 0 },
		{ "token: never SCRAM", B(SCRAM_SHA_256) | B(NTLM), NULL, 0,
		    1, 1, 1, 0, AUTH_MECH_NONE, 0 },
	};
	struct sasl_choice ch;
	size_t		 i;
	int		 got, clear;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(&ch, 0, sizeof(ch));
		ch.offered = t[i].offered;
		ch.allow = t[i].allow;
		ch.nallow = t[i].nallow;
		ch.have_token = t[i].token;
		ch.tls = t[i].tls;
		ch.cleartext_ok = t[i].clear_ok;
		ch.tried = t[i].tried;
		got = sasl_choose(&ch, &clear);
		if (got != t[i].want || clear != t[i].want_clear)
			fail_msg("%s: got %s (cleartext %d), want %s (%d)",
			    t[i].name, auth_mech_name(got), clear,
			    auth_mech_name(t[i].want), t[i].want_clear);
	}
}

/*
 * A keytab serves GSSAPI only, with or without TLS (its key never
 * crosses the wire: no cleartext flag), in "all" or a list that names
 * it; and sasl_start/sasl_step refuse GSSAPI without a keytab or a
 * running exchange before the GSS-API library is called at all.
 */
static void
test_choose_keytab(void **state)
{
	static const int list_pg[] = { AUTH_MECH_PLAIN, AUTH_MECH_GSSAPI };
	struct sasl_choice	 ch;
	struct sasl_cred	 cr = { .user = "", .principal = "gw@EX.COM" };
	struct sasl_state	 gs;
	int			 clear, fail;

	(void)state;
	memset(&ch, 0, sizeof(ch));
	ch.have_keytab = 1;
	ch.offered = ALL | B(GSSAPI);
	ch.tls = 1;
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_GSSAPI);
	ch.tls = 0;
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_GSSAPI);
	assert_int_equal(clear, 0);
	ch.allow = list_pg;
	ch.nallow = 2;
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_GSSAPI);
	ch.tried = B(GSSAPI);
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_NONE);
	ch.tried = 0;
	ch.offered = ALL;
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_NONE);
	/* without a keytab, GSSAPI is never chosen */
	ch.have_keytab = 0;
	ch.offered = B(GSSAPI);
	ch.nallow = 0;
	ch.tls = 1;
	assert_int_equal(sasl_choose(&ch, &clear), AUTH_MECH_NONE);

	memset(&gs, 0, sizeof(gs));
	assert_non_null(sasl_start(AUTH_MECH_GSSAPI, &cr, &gs, out,
	    sizeof(out)));
	assert_null(gs.gss);
	assert_non_null(sasl_step(AUTH_MECH_GSSAPI, 0, &cr, &gs, "", 0, out,
	    sizeof(out), &fail));
	sasl_state_clear(&gs);
}

/*
 * issue 10, section 5: fall back only when the mechanism failed; a
 * rejected password tried again under another mechanism is one more
 * failed login at the provider.
 */
static void
test_fallback_ok(void **state)
{
	static const struct {
		int		 code;
		const char	*enh;
		int		 want;
	} t[] = {
		{ 432, "4.7.12", 1 },	/* password transition needed */
		{ 432, "", 1 },
		{ 504, "5.5.4", 1 },	/* mechanism not supported */
		{ 504, "", 1 },
		{ 534, "5.7.9", 1 },	/* mechanism too weak */
		{ 538, "5.7.11", 1 },	/* mechanism needs encryption */
		{ 538, "", 1 },
		{ 500, "5.5.6", 1 },	/* line too long for the mechanism */
		{ 500, "", 0 },		/* AUTH itself unknown, maybe */
		{ 500, "5.5.2", 0 },
		{ 535, "5.7.8", 0 },	/* credentials invalid */
		{ 535, "", 0 },
		{ 535, "5.7.0", 0 },
		{ 504, "5.7.8", 0 },	/* the enhanced code says: account */
		{ 534, "5.7.8", 0 },
		{ 454, "4.7.0", 0 },	/* temporary: the server, not us */
		{ 454, "", 0 },
		{ 501, "5.5.2", 0 },	/* syntax, cancelled */
		{ 530, "5.7.0", 0 },
		{ 550, "5.7.1", 0 },	/* account disabled and the like */
		{ 554, "5.7.0", 0 },
		{ 421, "4.4.2", 0 },
		{ 235, "2.7.0", 0 },
		{ 334, "", 0 },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++)
		if (sasl_fallback_ok(t[i].code, t[i].enh) != t[i].want)
			fail_msg("%d %s: got %d, want %d", t[i].code, t[i].enh,
			    !t[i].want, t[i].want);
	assert_int_equal(sasl_fallback_ok(504, NULL), 1);
	assert_int_equal(sasl_fallback_ok(500, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cram_md5_rfc2195),
		cmocka_unit_test(test_plain),
		cmocka_unit_test(test_login),
		cmocka_unit_test(test_xoauth2),
		cmocka_unit_test(test_oauthbearer),
		cmocka_unit_test(test_refused_inputs),
		cmocka_unit_test(test_offered),
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_choose_keytab),
		cmocka_unit_test(test_fallback_ok),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
