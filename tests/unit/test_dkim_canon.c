/*
 * test_dkim_canon.c - DKIM canonicalisation (RFC 6376 §3.4), header block
 * splitting, body hashing under any chunking, From extraction, domain match.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_local.h"

/* the collecting sink: canonical body bytes appended here */
struct out {
	char	buf[8192];
	size_t	len;
};

static void
collect(void *arg, const char *p, size_t n)
{
	struct out *o = arg;

	assert_true(o->len + n <= sizeof o->buf);
	memcpy(o->buf + o->len, p, n);
	o->len += n;
}

/* canonicalise body in chunks of step bytes (0: all at once) */
static void
body_is(enum dkim_canon c, const char *in, size_t step, const char *want)
{
	struct dkim_body b;
	struct out o = { .len = 0 };
	size_t len = strlen(in), off = 0;

	dkim_body_init(&b, c, collect, &o);
	if (step == 0)
		step = len ? len : 1;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		dkim_body_update(&b, in + off, n);
		off += n;
	}
	dkim_body_final(&b);
	if (o.len != strlen(want) || memcmp(o.buf, want, o.len) != 0) {
		fprintf(stderr, "%s body, step %zu: got [%.*s] want [%s]\n",
		    dkim_canon_name(c), step, (int)o.len, o.buf, want);
		fail();
	}
}

static void
body_all_steps(enum dkim_canon c, const char *in, const char *want)
{
	size_t s;

	for (s = 0; s <= strlen(in) + 1; s++)
		body_is(c, in, s, want);
}

static void
header_is(enum dkim_canon c, const char *in, const char *want)
{
	char out[1024];
	long n = dkim_canon_header(c, in, strlen(in), out, sizeof out);

	assert_true(n >= 0);
	out[n] = '\0';
	assert_string_equal(out, want);
}

/* RFC 6376 §3.4.6, the example, exactly */
#define EX_H1	"A: X\r\n"
#define EX_H2	"B : Y\t\r\n\tZ  \r\n"
#define EX_BODY	" C \r\nD \t E\r\n\r\n\r\n"

static void
test_rfc_example_relaxed(void **state)
{
	(void)state;
	header_is(DKIM_CANON_RELAXED, EX_H1, "a:X\r\n");
	header_is(DKIM_CANON_RELAXED, EX_H2, "b:Y Z\r\n");
	body_all_steps(DKIM_CANON_RELAXED, EX_BODY, " C\r\nD E\r\n");
}

static void
test_rfc_example_simple(void **state)
{
	(void)state;
	header_is(DKIM_CANON_SIMPLE, EX_H1, EX_H1);
	header_is(DKIM_CANON_SIMPLE, EX_H2, EX_H2);
	body_all_steps(DKIM_CANON_SIMPLE, EX_BODY, " C \r\nD \t E\r\n");
}

static void
test_empty_body(void **state)
{
	(void)state;
	/* §3.4.3: simple empty body is CRLF; §3.4.4: relaxed is empty */
	body_is(DKIM_CANON_SIMPLE, "", 0, "\r\n");
	body_is(DKIM_CANON_RELAXED, "", 0, "");
	/* only empty lines: the same */
	body_all_steps(DKIM_CANON_SIMPLE, "\r\n\r\n\r\n", "\r\n");
	body_all_steps(DKIM_CANON_RELAXED, "\r\n\r\n\r\n", "");
	/* only blank lines: relaxed strips them to empty, simple keeps them */
	body_all_steps(DKIM_CANON_RELAXED, " \t\r\n\t\r\n", "");
	body_all_steps(DKIM_CANON_SIMPLE, " \t\r\n\t\r\n", " \t\r\n\t\r\n");
}

static void
test_no_final_crlf(void **state)
{
	(void)state;
	body_all_steps(DKIM_CANON_SIMPLE, "abc", "abc\r\n");
	body_all_steps(DKIM_CANON_RELAXED, "abc", "abc\r\n");
	body_all_steps(DKIM_CANON_SIMPLE, "a\r\n\r\nb", "a\r\n\r\nb\r\n");
	body_all_steps(DKIM_CANON_RELAXED, "a  b \t", "a b\r\n");
	/* a lone CR at the very end is content */
	body_all_steps(DKIM_CANON_SIMPLE, "a\r", "a\r\r\n");
}

static void
test_trailing_blank_lines(void **state)
{
	(void)state;
	body_all_steps(DKIM_CANON_SIMPLE, "a\r\n\r\n\r\n\r\n", "a\r\n");
	body_all_steps(DKIM_CANON_RELAXED, "a\r\n\r\n\r\n\r\n", "a\r\n");
	/* empty lines in the middle stay */
	body_all_steps(DKIM_CANON_SIMPLE, "a\r\n\r\n\r\nb\r\n\r\n",
	    "a\r\n\r\n\r\nb\r\n");
	/* relaxed: lines of blanks at the end are empty lines too */
	body_all_steps(DKIM_CANON_RELAXED, "a\r\n  \r\n\t\r\n", "a\r\n");
	body_all_steps(DKIM_CANON_SIMPLE, "a\r\n  \r\n\t\r\n",
	    "a\r\n  \r\n\t\r\n");
	/* leading empty lines stay */
	body_all_steps(DKIM_CANON_RELAXED, "\r\n\r\nx\r\n", "\r\n\r\nx\r\n");
}

static void
test_whitespace_runs(void **state)
{
	(void)state;
	body_all_steps(DKIM_CANON_RELAXED, "a \t  b\t\tc\r\n", "a b c\r\n");
	body_all_steps(DKIM_CANON_RELAXED, "\t lead\r\n", " lead\r\n");
	/* WSP at line end goes, the CRLF stays */
	body_all_steps(DKIM_CANON_RELAXED, "x  \r\ny\t\r\n", "x\r\ny\r\n");
	body_all_steps(DKIM_CANON_SIMPLE, "x  \r\ny\t\r\n", "x  \r\ny\t\r\n");
	/* bare LF and bare CR are content, not line ends */
	body_all_steps(DKIM_CANON_RELAXED, "a \nb \rc\r\n", "a \nb \rc\r\n");
}

static void
test_headers_relaxed(void **state)
{
	(void)state;
	/* mixed-case names, blanks around the colon */
	header_is(DKIM_CANON_RELAXED, "SuBjEcT  :  hi\r\n", "subject:hi\r\n");
	header_is(DKIM_CANON_RELAXED, "Message-ID:<a@b>\r\n",
	    "message-id:<a@b>\r\n");
	/* folded: unfold, runs to one SP, trailing blanks gone */
	header_is(DKIM_CANON_RELAXED, "To: a@b,\r\n   c@d,\r\n\te@f \t\r\n",
	    "to:a@b, c@d, e@f\r\n");
	/* colons and blanks inside the value are kept (h= lists fold so) */
	header_is(DKIM_CANON_RELAXED, "X: a:\r\n\tb: c\r\n", "x:a: b: c\r\n");
	/* empty value */
	header_is(DKIM_CANON_RELAXED, "X:\r\n", "x:\r\n");
	header_is(DKIM_CANON_RELAXED, "X:   \r\n", "x:\r\n");
	/* no final CRLF (the signature header itself): one is added */
	header_is(DKIM_CANON_RELAXED, "A: b=", "a:b=\r\n");
	header_is(DKIM_CANON_SIMPLE, "A: b=", "A: b=\r\n");
	/* UTF-8 bytes pass through */
	header_is(DKIM_CANON_RELAXED, "Subject: K\xc3\xb6ln  x\r\n",
	    "subject:K\xc3\xb6ln x\r\n");
}

static void
test_header_outlen(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(dkim_canon_header(DKIM_CANON_SIMPLE, "Abc: def\r\n",
	    10, out, sizeof out), -1);
	assert_int_equal(dkim_canon_header(DKIM_CANON_RELAXED, "Abc: def\r\n",
	    10, out, sizeof out), -1);
}

/* feed a message to a dkim_msg in chunks of step bytes */
static struct dkim_msg *
msg_feed(const char *m, size_t len, size_t step)
{
	struct dkim_msg *dm = dkim_msg_new();
	size_t off = 0;

	assert_non_null(dm);
	if (step == 0)
		step = len ? len : 1;
	while (off < len) {
		size_t n = len - off < step ? len - off : step;

		assert_int_equal(dkim_msg_write(dm, m + off, n), 0);
		off += n;
	}
	assert_int_equal(dkim_msg_end(dm), 0);
	return dm;
}

static void
test_chunking_same_hashes(void **state)
{
	static const char m[] = "From: a@example.com\r\nSubject: x\r\n"
	    " folded\r\n\r\n\r\nbody  line \r\n\r\n more\t\r\n\r\n\r\n";
	struct dkim_msg *ref, *dm;
	size_t step, split;

	(void)state;
	ref = msg_feed(m, sizeof m - 1, 0);
	assert_int_equal(ref->nfields, 2);
	for (step = 1; step < sizeof m; step++) {
		dm = msg_feed(m, sizeof m - 1, step);
		assert_memory_equal(dm->bh, ref->bh, sizeof ref->bh);
		assert_int_equal(dm->hdrlen, ref->hdrlen);
		dkim_msg_free(dm);
	}
	/* two pieces, split at every byte */
	for (split = 0; split < sizeof m; split++) {
		dm = dkim_msg_new();
		assert_int_equal(dkim_msg_write(dm, m, split), 0);
		assert_int_equal(dkim_msg_write(dm, m + split,
		    sizeof m - 1 - split), 0);
		assert_int_equal(dkim_msg_end(dm), 0);
		assert_memory_equal(dm->bh, ref->bh, sizeof ref->bh);
		dkim_msg_free(dm);
	}
	dkim_msg_free(ref);
}

/* bh of a message equals SHA-256 of the body canonicalised by hand */
static void
test_body_hash_values(void **state)
{
	static const char m[] = "From: a@example.com\r\n\r\n" EX_BODY;
	unsigned char want[WC_SHA256_DIGEST_SIZE];
	struct dkim_msg *dm;

	(void)state;
	dm = msg_feed(m, sizeof m - 1, 3);
	assert_int_equal(wc_Sha256Hash((const byte *)" C\r\nD E\r\n", 9,
	    want), 0);
	assert_memory_equal(dm->bh[DKIM_CANON_RELAXED], want, sizeof want);
	assert_int_equal(wc_Sha256Hash((const byte *)" C \r\nD \t E\r\n", 12,
	    want), 0);
	assert_memory_equal(dm->bh[DKIM_CANON_SIMPLE], want, sizeof want);
	dkim_msg_free(dm);
	/* headers only, no empty line: the body is empty */
	dm = msg_feed("From: a@example.com\r\n", 21, 0);
	assert_int_equal(wc_Sha256Hash((const byte *)"\r\n", 2, want), 0);
	assert_memory_equal(dm->bh[DKIM_CANON_SIMPLE], want, sizeof want);
	assert_int_equal(wc_Sha256Hash((const byte *)"", 0, want), 0);
	assert_memory_equal(dm->bh[DKIM_CANON_RELAXED], want, sizeof want);
	dkim_msg_free(dm);
}

/* 20 MB streamed in 64 KB writes: hashed, not held */
static void
test_large_body_streamed(void **state)
{
	static const char hdr[] = "From: a@example.com\r\n\r\n";
	static char chunk[65536];
	unsigned char want[WC_SHA256_DIGEST_SIZE];
	struct dkim_msg *dm = dkim_msg_new();
	wc_Sha256 sha;
	size_t i;

	(void)state;
	/* lines of 78 octets without blanks: both canonicalisations equal */
	for (i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)('a' + i % 26);
	for (i = 76; i + 1 < sizeof chunk; i += 78) {
		chunk[i] = '\r';
		chunk[i + 1] = '\n';
	}
	chunk[sizeof chunk - 2] = '\r';
	chunk[sizeof chunk - 1] = '\n';
	assert_int_equal(dkim_msg_write(dm, hdr, sizeof hdr - 1), 0);
	assert_int_equal(wc_InitSha256(&sha), 0);
	for (i = 0; i < 320; i++) {
		assert_int_equal(dkim_msg_write(dm, chunk, sizeof chunk), 0);
		assert_int_equal(wc_Sha256Update(&sha, (byte *)chunk,
		    sizeof chunk), 0);
	}
	assert_int_equal(wc_Sha256Final(&sha, want), 0);
	wc_Sha256Free(&sha);
	assert_int_equal(dkim_msg_end(dm), 0);
	assert_memory_equal(dm->bh[DKIM_CANON_SIMPLE], want, sizeof want);
	assert_memory_equal(dm->bh[DKIM_CANON_RELAXED], want, sizeof want);
	/* only the header block was kept */
	assert_true(dm->hdrcap <= 4096);
	dkim_msg_free(dm);
}

static void
test_header_block_too_large(void **state)
{
	struct dkim_msg *dm = dkim_msg_new();
	char line[1000];
	size_t total = 0;
	const char *why;
	int r = 0;

	(void)state;
	memset(line, 'x', sizeof line);
	memcpy(line, "X-Big: ", 7);
	line[sizeof line - 2] = '\r';
	line[sizeof line - 1] = '\n';
	while (total <= DKIM_MAX_HEADER_BLOCK && r == 0) {
		r = dkim_msg_write(dm, line, sizeof line);
		total += sizeof line;
	}
	assert_int_equal(r, -1);
	assert_int_equal(dkim_msg_write(dm, "\r\n", 2), -1);
	assert_int_equal(dkim_msg_end(dm), -1);
	assert_null(dkim_msg_from_domain(dm, &why));
	assert_string_equal(why, "header block too large");
	dkim_msg_free(dm);
}

static const char *
from_of(const char *m, const char **why)
{
	static char dom[256];
	struct dkim_msg *dm = msg_feed(m, strlen(m), 5);
	const char *d = dkim_msg_from_domain(dm, why);
	static char whybuf[64];

	dom[0] = '\0';
	if (d != NULL)
		snprintf(dom, sizeof dom, "%s", d);
	if (*why != NULL) {
		snprintf(whybuf, sizeof whybuf, "%s", *why);
		*why = whybuf;
	}
	dkim_msg_free(dm);
	return d != NULL ? dom : NULL;
}

static void
from_is(const char *m, const char *want)
{
	const char *why = NULL, *d = from_of(m, &why);

	if (d == NULL) {
		fprintf(stderr, "From in [%s]: %s\n", m, why);
		fail();
	}
	assert_string_equal(d, want);
}

static void
from_fails(const char *m, const char *want_why)
{
	const char *why = NULL;

	assert_null(from_of(m, &why));
	assert_non_null(why);
	if (want_why != NULL)
		assert_string_equal(why, want_why);
}

static void
test_from_extraction(void **state)
{
	(void)state;
	from_is("From: a@Example.COM\r\n\r\n", "example.com");
	from_is("from:a@example.com\r\n\r\n", "example.com");
	from_is("FROM : <a@example.com>\r\n\r\n", "example.com");
	from_is("From: Joe Q. Public <joe@mail.example.com>\r\n\r\nb\r\n",
	    "mail.example.com");
	from_is("From: \"Public, Joe <x@evil.org>\" <joe@example.com>\r\n\r\n",
	    "example.com");
	from_is("From: joe@example.com (Joe @ evil.org, <x>)\r\n\r\n",
	    "example.com");
	from_is("From: (c) Joe <joe(c)@(c)example.com(c)>\r\n\r\n",
	    "example.com");
	from_is("From: \"Joe\"\r\n <joe@example.com>\r\n\r\n", "example.com");
	from_is("From:\r\n\tjoe@example.com\r\n\r\n", "example.com");
	from_is("From: \"a@b\"@example.com\r\n\r\n", "example.com");
	from_is("To: x@y\r\nFrom: a@example.com.\r\n\r\n", "example.com");
	from_is("Received: x\r\nFrom: =?UTF-8?Q?J=C3=B6?= <j@ex.org>\r\n\r\n",
	    "ex.org");
}

static void
test_from_refused(void **state)
{
	(void)state;
	from_fails("To: a@example.com\r\n\r\nFrom: a@b.c\r\n", "no From header");
	from_fails("From: a@example.com\r\nFrom: b@example.com\r\n\r\n",
	    "2 From headers");
	from_fails("From: a@x.com\r\nfrom: b@x.com\r\nFROM: c@x.com\r\n\r\n",
	    "3 From headers");
	from_fails("From: a@example.com, b@example.org\r\n\r\n", NULL);
	from_fails("From: Group: a@example.com;\r\n\r\n", NULL);
	from_fails("From: \r\n\r\n", NULL);
	from_fails("From: joe\r\n\r\n", NULL);
	from_fails("From: joe@\r\n\r\n", NULL);
	from_fails("From: <joe@example.com\r\n\r\n", NULL);
	from_fails("From: <a@b.com> <c@d.com>\r\n\r\n", NULL);
	from_fails("From: a@[127.0.0.1]\r\n\r\n", NULL);
	from_fails("From: a@exa mple..com\r\n\r\n", NULL);
	from_fails("From: \"unterminated <a@b.com>\r\n\r\n", NULL);
	/* a folded line that is not a From is not a From */
	from_fails("Subject: x\r\n From: a@b.com\r\n\r\n", "no From header");
}

static void
test_domain_match(void **state)
{
	(void)state;
	assert_true(dkim_domain_match("example.com", "example.com", 0));
	assert_true(dkim_domain_match("example.com", "Example.COM", 0));
	assert_false(dkim_domain_match("a.example.com", "example.com", 0));
	assert_true(dkim_domain_match("a.example.com", "example.com", 1));
	assert_true(dkim_domain_match("b.a.example.com", "example.com", 1));
	assert_false(dkim_domain_match("badexample.com", "example.com", 1));
	assert_false(dkim_domain_match(".example.com", "example.com", 1));
	assert_false(dkim_domain_match("example.com", "a.example.com", 1));
	assert_false(dkim_domain_match("example.com", "", 1));
	assert_false(dkim_domain_match("example.org", "example.com", 1));
}

static void
test_canon_parse(void **state)
{
	enum dkim_canon h, b;

	(void)state;
	assert_int_equal(dkim_canon_parse("relaxed/simple", &h, &b), 0);
	assert_int_equal(h, DKIM_CANON_RELAXED);
	assert_int_equal(b, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("Simple/Relaxed", &h, &b), 0);
	assert_int_equal(h, DKIM_CANON_SIMPLE);
	assert_int_equal(b, DKIM_CANON_RELAXED);
	/* a lone value: header algorithm, body simple (RFC 6376 §3.5) */
	assert_int_equal(dkim_canon_parse("relaxed", &h, &b), 0);
	assert_int_equal(h, DKIM_CANON_RELAXED);
	assert_int_equal(b, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("simple", &h, &b), 0);
	assert_int_equal(h, DKIM_CANON_SIMPLE);
	assert_int_equal(b, DKIM_CANON_SIMPLE);
	assert_int_equal(dkim_canon_parse("", &h, &b), -1);
	assert_int_equal(dkim_canon_parse("relaxed/", &h, &b), -1);
	assert_int_equal(dkim_canon_parse("/simple", &h, &b), -1);
	assert_int_equal(dkim_canon_parse("nofws", &h, &b), -1);
	assert_int_equal(dkim_canon_parse("relaxed/simple/x", &h, &b), -1);
	assert_int_equal(dkim_canon_parse("relaxedrelaxedrelaxed", &h, &b),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc_example_relaxed),
		cmocka_unit_test(test_rfc_example_simple),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_no_final_crlf),
		cmocka_unit_test(test_trailing_blank_lines),
		cmocka_unit_test(test_whitespace_runs),
		cmocka_unit_test(test_headers_relaxed),
		cmocka_unit_test(test_header_outlen),
		cmocka_unit_test(test_chunking_same_hashes),
		cmocka_unit_test(test_body_hash_values),
		cmocka_unit_test(test_large_body_streamed),
		cmocka_unit_test(test_header_block_too_large),
		cmocka_unit_test(test_from_extraction),
		cmocka_unit_test(test_from_refused),
		cmocka_unit_test(test_domain_match),
		cmocka_unit_test(test_canon_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
