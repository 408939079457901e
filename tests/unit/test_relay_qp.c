/*
 * test_relay_qp - long_lines = encode and eight_bit = convert over a
 * real spool: single-part and multipart messages rewritten exactly as
 * expected (quoted-printable, or base64 for mostly 8-bit bodies), our
 * Received header kept in front, and the cases left alone with their
 * reason.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relay/relay_qp.h"
#include "relay/spool.h"

#define L(s)		s, sizeof(s) - 1
#define RECEIVED	"Received: from x\r\n\tby y; date\r\n"

static char	 longline[1201];

/* 1,200 'a' as quoted-printable: 16 lines of 75, soft breaks between */
static void
qp_longline(char *want, size_t size)
{
	size_t	 n = strlen(want);
	int	 i;

	for (i = 0; i < 16; i++) {
		assert_true(n + 78 < size);
		memcpy(want + n, longline, 75);
		n += 75;
		memcpy(want + n, i < 15 ? "=\r\n" : "\r\n", i < 15 ? 3 : 2);
		n += i < 15 ? 3 : 2;
	}
	want[n] = '\0';
}

/* the message in a spool (memory threshold small: the file path too) */
static struct spool *
spooled(const char *pre, const char *msg, size_t memthresh)
{
	struct spool	*sp = spool_new(memthresh, 1 << 20, NULL);

	assert_non_null(sp);
	if (*pre != '\0')
		assert_int_equal(spool_write(sp, pre, strlen(pre)), 0);
	assert_int_equal(spool_write(sp, msg, strlen(msg)), 0);
	return sp;
}

static char *
contents(struct spool *sp, size_t *len)
{
	char	*out = malloc(1 << 21);
	ssize_t	 n;

	assert_non_null(out);
	*len = 0;
	while ((n = spool_read(sp, out + *len, 4096)) > 0)
		*len += (size_t)n;
	assert_true(n == 0);
	out[*len] = '\0';
	return out;
}

typedef int (*convert_fn)(struct spool **, size_t, size_t,
    struct dkim_msg **, unsigned, int *, const char **);

static void	expect_fn(convert_fn, const char *, const char *, int,
		    const char *, const char *);

static void
expect(const char *pre, const char *msg, int want_rc, const char *want,
    const char *want_why)
{
	expect_fn(relay_qp_encode, pre, msg, want_rc, want, want_why);
}

static void
expect8(const char *pre, const char *msg, int want_rc, const char *want,
    const char *want_why)
{
	expect_fn(relay_qp_8bit, pre, msg, want_rc, want, want_why);
}

static void
expect_fn(convert_fn fn, const char *pre, const char *msg, int want_rc,
    const char *want, const char *want_why)
{
	struct spool	*sp;
	struct dkim_msg	*dmsg = NULL;
	const char	*why;
	char		*got;
	size_t		 len, th;
	int		 rc, full = 0;

	for (th = 64; th <= 1 << 20; th <<= 14) {
		sp = spooled(pre, msg, th);
		rc = fn(&sp, strlen(pre), th, &dmsg, 0, &full, &why);
		assert_int_equal(rc, want_rc);
		got = contents(sp, &len);
		if (rc == 1) {
			assert_null(why);
			if (strcmp(got, want) != 0)
				fail_msg("got\n%s\nwant\n%s", got, want);
		} else {
			assert_string_equal(why, want_why);
			/* left as it is, and rewound */
			assert_int_equal(len, strlen(pre) + strlen(msg));
			assert_memory_equal(got + strlen(pre), msg, strlen(msg));
		}
		assert_null(dmsg);
		free(got);
		spool_free(sp);
	}
}

static void
test_single_part(void **state)
{
	char	 msg[2048], want[4096];

	(void)state;
	snprintf(msg, sizeof(msg), "Subject: x\r\n\r\n%s\r\nend \r\n",
	    longline);
	/* 1200 'a': 15 lines of 75 and one of 75 */
	snprintf(want, sizeof(want), RECEIVED "Subject: x\r\n"
	    "MIME-Version: 1.0\r\nContent-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n");
	qp_longline(want, sizeof(want));
	strcat(want, "end=20\r\n");
	expect(RECEIVED, msg, 1, want, NULL);
}

static void
test_multipart(void **state)
{
	char	 msg[4096], want[8192];

	(void)state;
	snprintf(msg, sizeof(msg),
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\npre\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\nshort\r\n"
	    "--o\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: "
	    "8bit\r\n\r\n%s\r\n--o\r\nContent-Transfer-Encoding: base64"
	    "\r\n\r\n%s\r\n--o--\r\nepi\r\n", longline, longline);
	snprintf(want, sizeof(want),
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\npre\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\nshort\r\n"
	    "--o\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: "
	    "quoted-printable\r\n\r\n");
	qp_longline(want, sizeof(want));
	/* the base64 part is not ours to touch, long line or not */
	strcat(want, "--o\r\nContent-Transfer-Encoding: base64\r\n\r\n");
	strcat(want, longline);
	strcat(want, "\r\n--o--\r\nepi\r\n");
	expect("", msg, 1, want, NULL);
}

static void
test_left_alone(void **state)
{
	char	 msg[2048];

	(void)state;
	snprintf(msg, sizeof(msg), "Content-Transfer-Encoding: base64\r\n"
	    "\r\n%s\r\n", longline);
	expect(RECEIVED, msg, 0, NULL, "body already encoded");
	snprintf(msg, sizeof(msg), "DKIM-Signature: v=1\r\n\r\n%s\r\n",
	    longline);
	expect("", msg, 0, NULL, "signed by the sender");
	snprintf(msg, sizeof(msg), "Content-Type: multipart/mixed; "
	    "boundary=b\r\nDKIM-Signature: v=1\r\n\r\n--b\r\n\r\n%s\r\n"
	    "--b--\r\n", longline);
	expect("", msg, 0, NULL, "signed by the sender");
	snprintf(msg, sizeof(msg), "Content-Type: multipart/mixed; "
	    "boundary=b\r\n\r\n%s\r\n--b\r\n\r\nshort\r\n--b--\r\n",
	    longline);
	expect("", msg, 0, NULL, "multipart, no part that can be re-encoded");
	expect("", "no header block, just a line\r\n", 0, NULL,
	    "header block not found or too large");
}

/* eight_bit: a few accented letters are quoted-printable */
static void
test_8bit_qp(void **state)
{
	(void)state;
	expect8(RECEIVED, "Subject: x\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
	    "Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \r\n=end\r\n", 1,
	    RECEIVED "Subject: x\r\nContent-Type: text/plain; "
	    "charset=utf-8\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Gr=C3=BC=C3=9Fe aus K=C3=B6ln=20\r\n=3Dend\r\n", NULL);
}

/* mostly 8-bit (Cyrillic): base64, the sender's signature no obstacle */
static void
test_8bit_base64(void **state)
{
	(void)state;
	expect8("", "DKIM-Signature: v=1\r\nMIME-Version: 1.0\r\n\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
	    "\xd0\xbc\xd0\xb8\xd1\x80\r\n", 1,
	    "DKIM-Signature: v=1\r\nMIME-Version: 1.0\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "0J/RgNC40LLQtdGCINC80LjRgA0K\r\n", NULL);
}

/*
 * A multipart: only the 8-bit parts change; a base64 part's last CRLF
 * stays the delimiter's, so it decodes to the part as it was.
 */
static void
test_8bit_multipart(void **state)
{
	(void)state;
	expect8("", "Content-Type: multipart/mixed; boundary=o\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\nViele Gr\xc3\xbc\xc3\x9f"
	    "e aus K\xc3\xb6ln\r\n"
	    "--o\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
	    "\xd0\xbc\xd0\xb8\xd1\x80\r\n"
	    "--o\r\nContent-Transfer-Encoding: base64\r\n\r\n\xff\r\n"
	    "--o--\r\n", 1,
	    "Content-Type: multipart/mixed; boundary=o\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\nascii\r\n"
	    "--o\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "Viele Gr=C3=BC=C3=9Fe aus K=C3=B6ln\r\n"
	    "--o\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "0J/RgNC40LLQtdGCINC80LjRgA==\r\n"
	    "--o\r\nContent-Transfer-Encoding: base64\r\n\r\n\xff\r\n"
	    "--o--\r\n", NULL);
}

static void
test_8bit_left_alone(void **state)
{
	(void)state;
	expect8(RECEIVED, "Subject: \xc3\xa4\r\n\r\nascii\r\n", 0, NULL,
	    "no 8-bit octet in the body");
	expect8("", "Content-Type: message/rfc822\r\n\r\nSubject: x\r\n"
	    "\r\n\xc3\xa4\r\n", 0, NULL, "message type");
	expect8("", "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n"
	    "\r\n\xc3\xa4\r\n--b--\r\n", 0, NULL,
	    "multipart, no part that can be re-encoded");
}

/*
 * Both steps as srv_data_end runs them: long lines first (that part
 * becomes quoted-printable), then 8-bit (the part left 8-bit becomes
 * base64; the one already encoded is not touched again).
 */
static void
test_long_then_8bit(void **state)
{
	struct spool	*sp;
	struct dkim_msg	*dmsg = NULL;
	const char	*why;
	char		 msg[4096], want[8192], *got;
	size_t		 len;
	int		 full = 0;

	(void)state;
	snprintf(msg, sizeof(msg),
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: text/html\r\n\r\n%s\r\n"
	    "--o\r\nContent-Type: text/plain\r\n\r\n"
	    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 "
	    "\xd0\xbc\xd0\xb8\xd1\x80\r\n--o--\r\n", longline);
	snprintf(want, sizeof(want),
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: text/html\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	qp_longline(want, sizeof(want));
	strcat(want, "--o\r\nContent-Type: text/plain\r\n"
	    "Content-Transfer-Encoding: base64\r\n\r\n"
	    "0J/RgNC40LLQtdGCINC80LjRgA==\r\n--o--\r\n");
	sp = spooled("", msg, 1 << 20);
	assert_int_equal(relay_qp_encode(&sp, 0, 1 << 20, &dmsg, 0, &full,
	    &why), 1);
	assert_int_equal(relay_qp_8bit(&sp, 0, 1 << 20, &dmsg, 0, &full,
	    &why), 1);
	got = contents(sp, &len);
	if (strcmp(got, want) != 0)
		fail_msg("got\n%s\nwant\n%s", got, want);
	free(got);
	/* nothing 8-bit is left: a third pass changes nothing */
	assert_int_equal(relay_qp_8bit(&sp, 0, 1 << 20, &dmsg, 0, &full,
	    &why), 0);
	assert_string_equal(why, "multipart, no part that can be re-encoded");
	spool_free(sp);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_part),
		cmocka_unit_test(test_multipart),
		cmocka_unit_test(test_left_alone),
		cmocka_unit_test(test_8bit_qp),
		cmocka_unit_test(test_8bit_base64),
		cmocka_unit_test(test_8bit_multipart),
		cmocka_unit_test(test_8bit_left_alone),
		cmocka_unit_test(test_long_then_8bit),
	};

	memset(longline, 'a', sizeof(longline) - 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
