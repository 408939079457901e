/*
 * test_sasl_mech - SCRAM-SHA-1/256, NTLMv2 and DIGEST-MD5 against their
 * published examples (RFC 5802, RFC 7677, MS-NLMP 4.2.4, RFC 2831), with
 * the fixed nonces, client challenge and time those use; and the
 * refusals: a wrong server signature, e=, a wrong rspauth, broken type 2.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "auth/sasl.h"
#include "auth/sasl_mech.h"
#include "util/base64.h"

static char		 out[SASL_LINE_MAX];
static struct sasl_state st;

/* base64 of a text, for the 334 challenges */
static const char *
b64(const char *s)
{
	static char	 buf[4096];

	assert_true(base64_encode((const unsigned char *)s, strlen(s), buf,
	    sizeof(buf)) >= 0);
	return buf;
}

/* the decoded text of a base64 line (after prefix) */
static const char *
unb64(const char *line, const char *prefix)
{
	static char	 buf[4096];
	ssize_t		 n;

	assert_int_equal(strncmp(line, prefix, strlen(prefix)), 0);
	line += strlen(prefix);
	n = base64_decode(line, strlen(line), (unsigned char *)buf,
	    sizeof(buf) - 1);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static const char *
step(int mech, int n, const struct sasl_cred *cr, const char *text)
{
	const char	*c = b64(text);
	int		 fail;

	return sasl_step(mech, n, cr, &st, c, strlen(c), out, sizeof(out),
	    &fail);
}

/* RFC 5802 section 5, through sasl_start/sasl_step, the nonce from rnd */
static void
test_scram_sha1_rfc5802(void **state)
{
	struct sasl_cred cr = { .user = "user", .password = "pencil",
	    .host = "h", .port = 25 };
	static const char sf[] = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,"
	    "s=QSXCR+Q6sek8bf92,i=4096";

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_int_equal(base64_decode("fyko+d2lbbFgONRv9qkxdawL", 24, st.rnd,
	    sizeof(st.rnd)), 18);
	assert_null(sasl_start(AUTH_MECH_SCRAM_SHA_1, &cr, &st, out,
	    sizeof(out)));
	assert_string_equal(unb64(out, "AUTH SCRAM-SHA-1 "),
	    "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
	assert_false(sasl_final_ok(&st));
	assert_null(step(AUTH_MECH_SCRAM_SHA_1, 0, &cr, sf));
	assert_string_equal(unb64(out, ""), "c=biws,r=fyko+d2lbbFgONRv9qkxdawL"
	    "3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
	assert_false(sasl_final_ok(&st));
	assert_null(step(AUTH_MECH_SCRAM_SHA_1, 1, &cr,
	    "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="));
	assert_string_equal(out, "");
	assert_true(sasl_final_ok(&st));
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_1, 2, &cr, "v=x"));
	sasl_state_clear(&st);
}

/* RFC 7677 section 3, the client nonce given as the RFC has it */
static void
test_scram_sha256_rfc7677(void **state)
{
	struct sasl_cred cr = { .user = "user", .password = "pencil",
	    .host = "h", .port = 25 };
	static const char sf[] = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)"
	    "hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
	static const char good[] =
	    "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
	static const char bad[] =
	    "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_null(scram_start(AUTH_MECH_SCRAM_SHA_256, &cr,
	    "rOprNGfwEbeRWgbNEkqO", &st, out, sizeof(out)));
	assert_string_equal(unb64(out, "AUTH SCRAM-SHA-256 "),
	    "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
	assert_null(step(AUTH_MECH_SCRAM_SHA_256, 0, &cr, sf));
	assert_string_equal(unb64(out, ""), "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvY"
	    "DpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmi"
	    "z7AndVQ=");
	/* a wrong signature, an error, junk: refused, not proved */
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_256, 1, &cr, bad));
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_256, 1, &cr,
	    "e=invalid-proof"));
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_256, 1, &cr, "v="));
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_256, 1, &cr, "x=1"));
	assert_false(sasl_final_ok(&st));
	assert_null(step(AUTH_MECH_SCRAM_SHA_256, 1, &cr, good));
	assert_true(sasl_final_ok(&st));
	sasl_state_clear(&st);
}

/* server-first messages that must be refused, and inputs SCRAM refuses */
static void
test_scram_refused(void **state)
{
	struct sasl_cred cr = { .user = "user", .password = "pencil",
	    .host = "h", .port = 25 };
	struct sasl_cred utf = { .user = "user", .password = "p\xc3\xa9ncil",
	    .host = "h", .port = 25 };
	static const char *const bad[] = {
		"r=OTHERNONCE,s=QSXCR+Q6sek8bf92,i=4096",
		"r=abc,s=QSXCR+Q6sek8bf92,i=4096",	/* not extended */
		"r=abcdef,s=QSXCR+Q6sek8bf92,i=0",
		"r=abcdef,s=QSXCR+Q6sek8bf92,i=100001",
		"r=abcdef,s=QSXCR+Q6sek8bf92,i=40x",
		"r=abcdef,s=,i=4096",
		"r=abcdef,s=!!!,i=4096",
		"r=abcdef,i=4096",
		"m=ext,r=abcdef,s=QSXCR+Q6sek8bf92,i=4096",
		"e=other-error",
		"",
	};
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&st, 0, sizeof(st));
		assert_null(scram_start(AUTH_MECH_SCRAM_SHA_1, &cr, "abc", &st,
		    out, sizeof(out)));
		if (step(AUTH_MECH_SCRAM_SHA_1, 0, &cr, bad[i]) == NULL)
			fail_msg("accepted server-first \"%s\"", bad[i]);
	}
	/* a v= before any client-final, a step before the start */
	memset(&st, 0, sizeof(st));
	assert_non_null(step(AUTH_MECH_SCRAM_SHA_1, 1, &cr, "v=AAAA"));
	/* SASLprep is not implemented: non-ASCII is refused, not sent */
	memset(&st, 0, sizeof(st));
	assert_non_null(sasl_start(AUTH_MECH_SCRAM_SHA_256, &utf, &st, out,
	    sizeof(out)));
	/* ',' and '=' in the user name are escaped (RFC 5802 5.1) */
	cr.user = "a,b=c";
	assert_null(scram_start(AUTH_MECH_SCRAM_SHA_1, &cr, "xyz", &st, out,
	    sizeof(out)));
	assert_string_equal(unb64(out, "AUTH SCRAM-SHA-1 "),
	    "n,,n=a=2Cb=3Dc,r=xyz");
	sasl_state_clear(&st);
}

static void
hex(const unsigned char *d, size_t n, char *o)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		snprintf(o + 2 * i, 3, "%02x", d[i]);
}

/* MS-NLMP 4.2.4: NTOWFv2, NTProofStr, the session base key */
static void
test_ntlmv2_msnlmp(void **state)
{
	static const unsigned char tinfo[] = {
		0x02, 0x00, 0x0c, 0x00, 'D', 0, 'o', 0, 'm', 0, 'a', 0, 'i', 0,
		'n', 0, 0x01, 0x00, 0x0c, 0x00, 'S', 0, 'e', 0, 'r', 0, 'v', 0,
		'e', 0, 'r', 0, 0x00, 0x00, 0x00, 0x00
	};
	static const unsigned char schal[8] = { 0x01, 0x23, 0x45, 0x67, 0x89,
	    0xab, 0xcd, 0xef };
	static const unsigned char cchal[8] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
	    0xaa, 0xaa, 0xaa };
	static const unsigned char t0[8];
	struct ntlm_challenge c;
	unsigned char	 key[16], nt[256], sbk[16];
	char		 h[64];
	size_t		 ntlen;

	(void)state;
	assert_null(ntlm_ntowfv2("Password", "User", "Domain", key));
	hex(key, 16, h);
	assert_string_equal(h, "0c868a403bfd7a93a3001ef22ef02e3f");
	memset(&c, 0, sizeof(c));
	memcpy(c.server_chal, schal, 8);
	memcpy(c.tinfo, tinfo, sizeof(tinfo));
	c.tinfolen = sizeof(tinfo);
	assert_null(ntlm_v2_response(key, &c, t0, cchal, nt, sizeof(nt),
	    &ntlen, sbk));
	assert_int_equal(ntlen, 16 + 28 + sizeof(tinfo) + 4);
	hex(nt, 16, h);
	assert_string_equal(h, "68cd0ab851e51c96aabc927bebef6a1c");
	hex(sbk, 16, h);
	assert_string_equal(h, "8de40ccadbc14a82f15cb0ad0de95ca3");
	/* too small a buffer: an error */
	assert_non_null(ntlm_v2_response(key, &c, t0, cchal, nt, 40, &ntlen,
	    NULL));
}

/* a type 2 message as MS-NLMP 4.2.4.3 shows it, with the target info */
static size_t
type2(unsigned char *m, uint32_t flags, const unsigned char *ti, size_t tl)
{
	memset(m, 0, 48);
	memcpy(m, "NTLMSSP", 8);
	m[8] = 2;
	m[20] = flags & 0xff;
	m[21] = (flags >> 8) & 0xff;
	m[22] = (flags >> 16) & 0xff;
	m[23] = (flags >> 24) & 0xff;
	memcpy(m + 24, "\x01\x23\x45\x67\x89\xab\xcd\xef", 8);
	m[40] = m[42] = (unsigned char)tl;
	m[44] = 48;
	memcpy(m + 48, ti, tl);
	return 48 + tl;
}

/* the type 2 parser, and a whole exchange through sasl_start/sasl_step */
static void
test_ntlm_exchange(void **state)
{
	static const unsigned char ti[] = { 0x07, 0x00, 0x08, 0x00, 1, 2, 3,
	    4, 5, 6, 7, 8, 0x00, 0x00, 0x00, 0x00 };
	struct sasl_cred cr = { .user = "Domain\\User", .password = "Password",
	    .host = "h", .port = 25 };
	struct ntlm_challenge c;
	unsigned char	 m[256], d[1024];
	char		 u[64], dom[64], line[1024];
	ssize_t		 n;
	size_t		 len;
	int		 fail;

	(void)state;
	len = type2(m, 0x00890205, ti, sizeof(ti));
	assert_null(ntlm_parse_type2(m, len, &c));
	assert_true(c.have_time);
	assert_memory_equal(c.time, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	/* truncated, out of bounds, no EOL, not Unicode, not type 2 */
	assert_non_null(ntlm_parse_type2(m, len - 1, &c));
	m[44] = 200;
	assert_non_null(ntlm_parse_type2(m, len, &c));
	len = type2(m, 0x00890205, ti, 12);
	assert_non_null(ntlm_parse_type2(m, len, &c));
	len = type2(m, 0x00890204, ti, sizeof(ti));
	assert_non_null(ntlm_parse_type2(m, len, &c));
	/* no target info at all (Cyrus SASL's server): an empty one */
	len = type2(m, 0x00090205, ti, 0);
	assert_null(ntlm_parse_type2(m, len, &c));
	assert_int_equal(c.tinfolen, 0);
	assert_false(c.have_time);
	len = type2(m, 0x00890205, ti, sizeof(ti));
	m[8] = 3;
	assert_non_null(ntlm_parse_type2(m, len, &c));
	m[8] = 2;

	assert_null(ntlm_split_user("Domain\\User", u, sizeof(u), dom,
	    sizeof(dom)));
	assert_string_equal(u, "User");
	assert_string_equal(dom, "Domain");
	assert_null(ntlm_split_user("user@example.com", u, sizeof(u), dom,
	    sizeof(dom)));
	assert_string_equal(u, "user@example.com");
	assert_string_equal(dom, "");
	assert_non_null(ntlm_split_user("Domain\\", u, sizeof(u), dom,
	    sizeof(dom)));

	memset(&st, 0, sizeof(st));
	memset(st.rnd, 0xaa, sizeof(st.rnd));
	assert_null(sasl_start(AUTH_MECH_NTLM, &cr, &st, out, sizeof(out)));
	assert_string_equal(out, "AUTH NTLM");
	assert_null(sasl_step(AUTH_MECH_NTLM, 0, &cr, &st, "", 0, out,
	    sizeof(out), &fail));
	n = base64_decode(out, strlen(out), d, sizeof(d));
	assert_int_equal(n, 32);
	assert_memory_equal(d, "NTLMSSP\0\x01\0\0\0", 12);
	assert_true(base64_encode(m, len, line, sizeof(line)) >= 0);
	assert_null(sasl_step(AUTH_MECH_NTLM, 1, &cr, &st, line, strlen(line),
	    out, sizeof(out), &fail));
	n = base64_decode(out, strlen(out), d, sizeof(d));
	/* 64 + "Domain" + "User" in UTF-16 + 24 + 16 + 28 + 16 + 4 */
	assert_int_equal(n, 64 + 12 + 8 + 24 + 16 + 28 + sizeof(ti) + 4);
	assert_memory_equal(d, "NTLMSSP\0\x03\0\0\0", 12);
	assert_memory_equal(d + 64, "D\0o\0m\0a\0i\0n\0U\0s\0e\0r\0", 20);
	/* the LM response is zeros: never an LM hash */
	assert_memory_equal(d + 84, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
	    "\0\0\0\0", 24);
	/* the server's timestamp and our client challenge in the blob */
	assert_memory_equal(d + 108 + 24, "\x01\x02\x03\x04\x05\x06\x07\x08",
	    8);
	assert_memory_equal(d + 108 + 32, st.rnd, 8);
	assert_true(sasl_final_ok(&st));	/* NTLM has no server proof */
	assert_non_null(sasl_step(AUTH_MECH_NTLM, 2, &cr, &st, line,
	    strlen(line), out, sizeof(out), &fail));
	sasl_state_clear(&st);
}

/* RFC 2831 section 4, the IMAP example (serv-type "imap") */
static void
test_digest_rfc2831(void **state)
{
	struct sasl_cred cr = { .user = "chris", .password = "secret",
	    .host = "elwood.innosoft.com",
	    .port = 143 };
	static const char chal[] = "realm=\"elwood.innosoft.com\",nonce=\""
	    "OA6MG9tEQGm2hh\",qop=\"auth\",algorithm=md5-sess,charset=utf-8";
	char		 raw[1024];

	(void)state;
	memset(&st, 0, sizeof(st));
	assert_null(sasl_start(AUTH_MECH_DIGEST_MD5, &cr, &st, out,
	    sizeof(out)));
	assert_string_equal(out, "AUTH DIGEST-MD5");
	assert_false(sasl_final_ok(&st));
	assert_null(digest_response("imap", &cr, "OA6MHXh6VqTrRk", &st,
	    (const unsigned char *)chal, strlen(chal), raw, sizeof(raw)));
	assert_string_equal(raw, "charset=utf-8,username=\"chris\",realm=\""
	    "elwood.innosoft.com\",nonce=\"OA6MG9tEQGm2hh\",nc=00000001,cnonce="
	    "\"OA6MHXh6VqTrRk\",digest-uri=\"imap/elwood.innosoft.com\","
	    "response=d388dad90d4bbd760a152321f2143af7,qop=auth");
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 1, &cr,
	    "rspauth=ea40f60335c427b5527b84dbabcdfffe"));
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 1, &cr, "nothing=1"));
	assert_false(sasl_final_ok(&st));
	assert_null(step(AUTH_MECH_DIGEST_MD5, 1, &cr,
	    "rspauth=ea40f60335c427b5527b84dbabcdfffd"));
	assert_string_equal(out, "");
	assert_true(sasl_final_ok(&st));
	/* through sasl_step: digest-uri smtp/<host> */
	memset(&st, 0, sizeof(st));
	assert_null(sasl_start(AUTH_MECH_DIGEST_MD5, &cr, &st, out,
	    sizeof(out)));
	assert_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr, chal));
	assert_non_null(strstr(unb64(out, ""),
	    "digest-uri=\"smtp/elwood.innosoft.com\""));
	/* no nonce, two nonces, no md5-sess, no qop=auth, bad syntax */
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr,
	    "realm=\"r\",algorithm=md5-sess"));
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr,
	    "nonce=a,nonce=b,algorithm=md5-sess"));
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr, "nonce=a"));
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr,
	    "nonce=a,qop=\"auth-int\",algorithm=md5-sess"));
	assert_non_null(step(AUTH_MECH_DIGEST_MD5, 0, &cr,
	    "nonce=\"a,algorithm=md5-sess"));
	sasl_state_clear(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scram_sha1_rfc5802),
		cmocka_unit_test(test_scram_sha256_rfc7677),
		cmocka_unit_test(test_scram_refused),
		cmocka_unit_test(test_ntlmv2_msnlmp),
		cmocka_unit_test(test_ntlm_exchange),
		cmocka_unit_test(test_digest_rfc2831),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
