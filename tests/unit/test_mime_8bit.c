/*
 * test_mime_8bit - the encoding chosen for an 8-bit body (none,
 * quoted-printable, base64), the header block rewritten for it, and the
 * streaming base64 encoder: line length, padding, and the same octets
 * back whatever the input's split and the output's room.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/mime_8bit.h"
#include "smtp/mime_qp.h"
#include "util/base64.h"

#define L(s)		s, sizeof(s) - 1
#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct {
	const char	*name;
	const char	*in;
	size_t		 inlen;
	enum mime_cte	 want;
} choices[] = {
	{ "empty", L(""), MIME_CTE_NONE },
	{ "ascii with controls", L("a\tb\x01\x7f\r\n"), MIME_CTE_NONE },
	{ "German", L("Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln, ihr alle\r\n"),
	    MIME_CTE_QP },
	{ "one quarter", L("\xc3\xa4\xc3\xa4xxxxxxxxxxxx"), MIME_CTE_QP },
	{ "over a quarter", L("\xc3\xa4\xc3\xa4xxxxxxxxxxx"),
	    MIME_CTE_BASE64 },
	{ "Cyrillic", L("\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82\r\n"),
	    MIME_CTE_BASE64 },
	/* controls count as escapes once the body is 8-bit at all */
	{ "binary", L("\x01\x02\x03\x04\x05\xffxxxxxxxxxxxxxxx"),
	    MIME_CTE_BASE64 },
};

static void
test_choose(void **state)
{
	struct mime_stats	 st;
	size_t			 i, k;
	int			 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(choices); i++) {
		/* the counts do not depend on how the body arrives */
		memset(&st, 0, sizeof(st));
		for (k = 0; k < choices[i].inlen; k++)
			mime_stats_add(&st, choices[i].in + k, 1);
		if (mime_8bit_choose(&st) != choices[i].want) {
			print_error("%s: got %d want %d\n", choices[i].name,
			    (int)mime_8bit_choose(&st), (int)choices[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* the header block for a base64 body; a sender's signature may be kept */
static void
test_headers_base64(void **state)
{
	char		 out[512];
	const char	 in[] = "Subject: x\r\nDKIM-Signature: v=1\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n";
	const char	 want[] = "Subject: x\r\nDKIM-Signature: v=1\r\n"
	    "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n";
	size_t		 n;

	(void)state;
	assert_string_equal(mime_qp_headers(in, sizeof(in) - 1,
	    MIME_HDR_TOP | MIME_HDR_BASE64, out, sizeof(out), &n),
	    "signed by the sender");
	assert_null(mime_qp_headers(in, sizeof(in) - 1, MIME_HDR_TOP |
	    MIME_HDR_SIGNED_OK | MIME_HDR_BASE64, out, sizeof(out), &n));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(out, want, n);
	/* a part: no MIME-Version */
	assert_null(mime_qp_headers(L("Content-Type: text/plain\r\n\r\n"),
	    MIME_HDR_BASE64, out, sizeof(out), &n));
	assert_int_equal(n, strlen("Content-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"));
	/* already base64: never encoded twice */
	assert_string_equal(mime_qp_headers(out, n, MIME_HDR_BASE64, out + 256,
	    256, &n), "body already encoded");
}

/* in[0..len) through the encoder in steps of step, with room octets */
static size_t
b64_stream(const char *in, size_t len, size_t step, size_t room, char *out)
{
	struct mime_b64	 b;
	size_t		 pos = 0, n = 0, used, w, take;

	mime_b64_init(&b);
	while (pos < len) {
		take = len - pos < step ? len - pos : step;
		used = mime_b64_body(&b, in + pos, take, out + n, room, &w);
		n += w;
		pos += used;
	}
	n += mime_b64_body_end(&b, out + n, MIME_B64_OUT_ROOM);
	return n;
}

static void
test_base64_stream(void **state)
{
	static char	 in[1000], out[2000], want[2000], dec[1000];
	static const size_t steps[] = { 1, 2, 3, 7, 57, 1000 };
	static const size_t rooms[] = { MIME_B64_OUT_ROOM, 9, 100, 2000 };
	static const size_t lens[] = { 0, 1, 2, 3, 56, 57, 58, 1000 };
	size_t		 i, s, r, n, k, col, wn, li;
	ssize_t		 d;

	(void)state;
	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i * 7 + 3);
	for (li = 0; li < NELEM(lens); li++)
	for (s = 0; s < NELEM(steps); s++)
	for (r = 0; r < NELEM(rooms); r++) {
		n = b64_stream(in, lens[li], steps[s], rooms[r], out);
		/* lines of at most 76, CRLF-ended, and decodes back */
		for (k = 0, col = 0, wn = 0; k < n; k++) {
			if (out[k] == '\r') {
				assert_true(k + 1 < n && out[k + 1] == '\n');
				assert_true(col > 0 && col <= MIME_B64_LINE);
				k++;
				col = 0;
				continue;
			}
			want[wn++] = out[k];
			col++;
		}
		assert_int_equal(col, 0);
		assert_true(lens[li] == 0 || (n >= 2 && out[n - 1] == '\n'));
		d = base64_decode(want, wn, dec, sizeof(dec));
		assert_int_equal(d, (ssize_t)lens[li]);
		assert_memory_equal(dec, in, lens[li]);
	}
	/* 57 octets make one full line of 76 */
	n = b64_stream(in, 57, 57, sizeof(out), out);
	assert_int_equal(n, 78);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_choose),
		cmocka_unit_test(test_headers_base64),
		cmocka_unit_test(test_base64_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
