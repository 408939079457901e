/*
 * test_mime_qp - quoted-printable re-encoding for long_lines = encode.
 *
 * Headers: a table of header blocks, each rewritten or refused with its
 * reason.  Body: a table of exact encodings, each also fed byte by byte
 * and with the smallest output buffer allowed (all must agree), and
 * random bodies decoded back (RFC 2045 6.7 decoder below) to the input,
 * with every output line within 76 octets and no white space before a
 * line end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/mime_qp.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define L(s)		s, sizeof(s) - 1

/* encode in pieces of chunk octets (0: whole), output room exactly room */
static char *
encode(const char *in, size_t len, size_t chunk, size_t room, size_t *outlen)
{
	struct mime_qp	 q;
	char		*out, *buf;
	size_t		 cap = 24 * len + 64, n = 0, pos = 0, c, used, w;

	out = malloc(cap);
	buf = malloc(room);
	assert_non_null(out);
	assert_non_null(buf);
	mime_qp_init(&q);
	while (pos < len) {
		c = chunk == 0 ? len - pos : chunk;
		if (c > len - pos)
			c = len - pos;
		used = mime_qp_body(&q, in + pos, c, buf, room, &w);
		assert_true(used > 0 && used <= c && w <= room);
		assert_true(n + w <= cap);
		memcpy(out + n, buf, w);
		n += w;
		pos += used;
	}
	w = mime_qp_body_end(&q, buf, room);
	assert_true(w <= room && n + w <= cap);
	memcpy(out + n, buf, w);
	n += w;
	free(buf);
	*outlen = n;
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * A strict decoder: fails on anything our encoder must never produce
 * (a line over 76, white space before a line end, a lower-case or broken
 * escape, a bare CR or LF, an octet that needed encoding).
 */
static char *
decode(const char *p, size_t len, size_t *outlen)
{
	char	*out = malloc(len + 1);
	size_t	 i, n = 0, col = 0;
	int	 h, l;

	assert_non_null(out);
	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if (c == '\r') {
			assert_true(i + 1 < len && p[i + 1] == '\n');
			assert_true(i == 0 || (p[i - 1] != ' ' &&
			    p[i - 1] != '\t'));
			out[n++] = '\r';
			out[n++] = '\n';
			i++;
			col = 0;
			continue;
		}
		assert_true(c != '\n');
		col++;
		assert_true(col <= MIME_QP_LINE);
		if (c == '=') {
			if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
				i += 2;		/* soft line break */
				col = 0;
				continue;
			}
			assert_true(i + 2 < len);
			h = hexval(p[i + 1]);
			l = hexval(p[i + 2]);
			assert_true(h >= 0 && l >= 0);
			out[n++] = (char)(h * 16 + l);
			i += 2;
			col += 2;
			assert_true(col <= MIME_QP_LINE);
			continue;
		}
		assert_true((c >= 33 && c <= 126) || c == ' ' || c == '\t');
		out[n++] = (char)c;
	}
	/* no white space at the very end either */
	assert_true(len == 0 || (p[len - 1] != ' ' && p[len - 1] != '\t'));
	*outlen = n;
	return out;
}

static const struct {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*out;
	size_t		 outlen;
} bodies[] = {
	{ "empty", L(""), L("") },
	{ "plain line", L("hello\r\n"), L("hello\r\n") },
	{ "equals", L("a=b\r\n"), L("a=3Db\r\n") },
	{ "8-bit", L("caf\xc3\xa9\r\n"), L("caf=C3=A9\r\n") },
	{ "control", L("a\x01" "b\r\n"), L("a=01b\r\n") },
	{ "NUL", L("a\x00" "b\r\n"), L("a=00b\r\n") },
	{ "trailing space", L("a \r\n"), L("a=20\r\n") },
	{ "trailing tab", L("a\t\r\n"), L("a=09\r\n") },
	{ "two trailing spaces", L("a  \r\n"), L("a =20\r\n") },
	{ "inner space", L("a b\r\n"), L("a b\r\n") },
	{ "space at end of body", L("a "), L("a=20") },
	{ "bare CR", L("a\rb\r\n"), L("a=0Db\r\n") },
	{ "bare LF", L("a\nb\r\n"), L("a=0Ab\r\n") },
	{ "space before bare CR", L("a \rb"), L("a =0Db") },
	{ "CR at end of body", L("a\r"), L("a=0D") },
	{ "CR CR LF", L("a\r\r\n"), L("a=0D\r\n") },
	{ "dot line kept", L(".\r\n..x\r\n"), L(".\r\n..x\r\n") },
	{ "76 octets: soft break after 75",
	    L("0123456789012345678901234567890123456789012345678901234567890123456789012345\r\n"),
	    L("012345678901234567890123456789012345678901234567890123456789012345678901234=\r\n5\r\n") },
	{ "75 octets: no break",
	    L("012345678901234567890123456789012345678901234567890123456789012345678901234\r\n"),
	    L("012345678901234567890123456789012345678901234567890123456789012345678901234\r\n") },
	{ "escape does not straddle a soft break",
	    L("01234567890123456789012345678901234567890123456789012345678901234567890123=\r\n"),
	    L("01234567890123456789012345678901234567890123456789012345678901234567890123=\r\n=3D\r\n") },
};

static void
test_body_table(void **state)
{
	char	*got;
	size_t	 i, n, chunk;
	int	 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(bodies); i++) {
		for (chunk = 0; chunk <= 1; chunk++) {
			got = encode(bodies[i].in, bodies[i].inlen, chunk,
			    chunk ? MIME_QP_OUT_ROOM : 4096, &n);
			if (n != bodies[i].outlen ||
			    memcmp(got, bodies[i].out, n) != 0) {
				print_error("%s (chunk %zu): got \"%.*s\"\n",
				    bodies[i].name, chunk, (int)n, got);
				bad++;
			}
			free(got);
		}
	}
	assert_int_equal(bad, 0);
}

/* random bodies, long lines among them, decode back to the input */
static void
test_body_round_trip(void **state)
{
	static const char	 alpha[] = " \t\r\n=.aZ\x00\x7f\x80\xff";
	char			 in[6000], *enc, *dec, *enc2;
	unsigned		 seed = 20261204;
	size_t			 iter, len, i, n, m, n2;

	(void)state;
	for (iter = 0; iter < 2000; iter++) {
		len = (size_t)rand_r(&seed) % (iter % 10 == 0 ? 6000 : 300);
		for (i = 0; i < len; i++) {
			if (rand_r(&seed) % 3 == 0)
				in[i] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
			else
				in[i] = (char)('a' + rand_r(&seed) % 26);
		}
		enc = encode(in, len, 0, 65536, &n);
		dec = decode(enc, n, &m);
		/* a bare LF goes out as =0A: decoding gives it back */
		assert_int_equal(m, len);
		assert_memory_equal(dec, in, len);
		/* the split does not matter */
		enc2 = encode(in, len, 1 + iter % 7, MIME_QP_OUT_ROOM + iter % 5,
		    &n2);
		assert_int_equal(n2, n);
		assert_memory_equal(enc2, enc, n);
		free(enc);
		free(enc2);
		free(dec);
	}
}

static const struct {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	const char	*out;		/* NULL: refused */
	size_t		 outlen;
	const char	*why;
} headers[] = {
	{ "no MIME at all", L("Subject: x\r\nFrom: a@b\r\n\r\n"),
	    L("Subject: x\r\nFrom: a@b\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"), NULL },
	{ "html 8bit", L("MIME-Version: 1.0\r\nContent-Type: text/html; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\nSubject: x\r\n"
	    "\r\n"),
	    L("MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n"
	    "Subject: x\r\nContent-Transfer-Encoding: quoted-printable\r\n"
	    "\r\n"), NULL },
	{ "folded CTE dropped whole", L("mime-version: 1.0\r\n"
	    "content-transfer-encoding:\r\n 7BIT\r\nX: y\r\n\r\n"),
	    L("mime-version: 1.0\r\nX: y\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"), NULL },
	{ "folded field kept", L("Subject: a\r\n b\r\n\r\n"),
	    L("Subject: a\r\n b\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"), NULL },
	{ "empty header block", L("\r\n"),
	    L("MIME-Version: 1.0\r\nContent-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n"), NULL },
	{ "comment before the type", L("Content-Type: (x) text/plain\r\n\r\n"),
	    L("Content-Type: (x) text/plain\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"), NULL },
	{ "multipart", L("Content-Type: multipart/mixed; boundary=x\r\n\r\n"),
	    NULL, 0, "multipart" },
	{ "multipart, folded, upper case", L("Content-type:\r\n\t(c) "
	    "MULTIPART/alternative;\r\n boundary=x\r\n\r\n"), NULL, 0,
	    "multipart" },
	{ "message/rfc822", L("Content-Type: message/rfc822\r\n\r\n"), NULL,
	    0, "message type" },
	{ "already base64", L("Content-Transfer-Encoding: base64\r\n\r\n"),
	    NULL, 0, "body already encoded" },
	{ "already QP", L("Content-Transfer-Encoding: Quoted-Printable\r\n"
	    "\r\n"), NULL, 0, "body already encoded" },
	{ "signed by the sender", L("Subject: x\r\nDKIM-Signature: v=1;\r\n"
	    " b=x\r\n\r\n"), NULL, 0, "signed by the sender" },
	{ "continuation first", L(" x: y\r\n\r\n"), NULL, 0,
	    "malformed header" },
	{ "no colon", L("Subject x\r\n\r\n"), NULL, 0, "malformed header" },
	{ "no empty line", L("Subject: x\r\n"), NULL, 0, "no header block" },
};

static void
test_headers(void **state)
{
	char		 out[1024];
	const char	*why;
	size_t		 i, n;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(headers); i++) {
		why = mime_qp_headers(headers[i].in, headers[i].inlen,
		    MIME_HDR_TOP, out, headers[i].inlen + MIME_QP_HDR_EXTRA, &n);
		if (headers[i].out == NULL) {
			if (why == NULL || strcmp(why, headers[i].why) != 0) {
				print_error("%s: got %s, want %s\n",
				    headers[i].name, why ? why : "accepted",
				    headers[i].why);
				bad++;
			}
			continue;
		}
		if (why != NULL || n != headers[i].outlen ||
		    memcmp(out, headers[i].out, n) != 0) {
			print_error("%s: got %s \"%.*s\"\n", headers[i].name,
			    why ? why : "", (int)n, out);
			bad++;
		}
	}
	/* too small an output buffer is refused, not overrun */
	assert_non_null(mime_qp_headers(L("A: b\r\n\r\n"), MIME_HDR_TOP, out,
	    8, &n));
	assert_int_equal(bad, 0);
}

static void
test_header_end(void **state)
{
	(void)state;
	assert_int_equal(mime_header_end(L("\r\nbody")), 2);
	assert_int_equal(mime_header_end(L("A: b\r\n\r\nbody")), 8);
	assert_int_equal(mime_header_end(L("A: b\r\n\r")), 0);
	assert_int_equal(mime_header_end(L("")), 0);
	assert_int_equal(mime_header_end(L("A: b\r\nbody\r\n")), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_body_table),
		cmocka_unit_test(test_body_round_trip),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_header_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
