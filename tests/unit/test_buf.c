/*
 * test_buf - bounded buffer: limits, growth, compaction, and the CRLF-only
 * line search that guards against SMTP smuggling.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"

/* a string literal with its length, so that NULs inside are kept */
#define S(x)	x, sizeof(x) - 1

static const char *
linename(enum buf_line l)
{
	switch (l) {
	case BUF_LINE_NONE:
		return "NONE";
	case BUF_LINE_OK:
		return "OK";
	case BUF_LINE_TOOLONG:
		return "TOOLONG";
	case BUF_LINE_BARE:
		return "BARE";
	}
	return "?";
}

static void
test_findline_table(void **state)
{
	static const struct {
		const char	*name;
		const char	*data;
		size_t		 len;
		size_t		 limit;
		enum buf_line	 want;
		size_t		 wantlen;	/* checked for OK and BARE */
	} t[] = {
		{ "empty", S(""), 512, BUF_LINE_NONE, 0 },
		{ "partial", S("HELO x"), 512, BUF_LINE_NONE, 0 },
		{ "line", S("HELO x\r\n"), 512, BUF_LINE_OK, 6 },
		{ "empty line", S("\r\n"), 512, BUF_LINE_OK, 0 },
		{ "first of two", S("a\r\nbc\r\n"), 512, BUF_LINE_OK, 1 },
		{ "NUL inside", S("a\0b\r\n"), 512, BUF_LINE_OK, 3 },
		{ "bare LF", S("a\nb\r\n"), 512, BUF_LINE_BARE, 2 },
		{ "bare LF alone", S("\n"), 512, BUF_LINE_BARE, 1 },
		{ "bare LF at end", S("abc\n"), 512, BUF_LINE_BARE, 4 },
		{ "bare CR", S("a\rb\r\n"), 512, BUF_LINE_BARE, 2 },
		{ "CR CR LF", S("a\r\r\n"), 512, BUF_LINE_BARE, 2 },
		{ "LF CR", S("a\n\r"), 512, BUF_LINE_BARE, 2 },
		{ "CR at end", S("a\r"), 512, BUF_LINE_NONE, 0 },
		{ "CR alone", S("\r"), 512, BUF_LINE_NONE, 0 },
		{ "smuggle LF.LF", S("x\n.\n"), 512, BUF_LINE_BARE, 2 },
		{ "smuggle CR.CR", S("x\r.\r"), 512, BUF_LINE_BARE, 2 },
		/* limit counts the CRLF: 8 chars + CRLF is exactly 10 */
		{ "limit-2 chars + CRLF", S("12345678\r\n"), 10,
		    BUF_LINE_OK, 8 },
		{ "limit-1 chars + CRLF", S("123456789\r\n"), 10,
		    BUF_LINE_TOOLONG, 0 },
		{ "limit chars", S("1234567890"), 10, BUF_LINE_TOOLONG, 0 },
		{ "limit-1 chars", S("123456789"), 10, BUF_LINE_NONE, 0 },
		{ "limit-2 chars + CR", S("12345678\r"), 10, BUF_LINE_NONE, 0 },
		{ "limit-1 chars + CR", S("123456789\r"), 10,
		    BUF_LINE_TOOLONG, 0 },
		/* CR in the last octet of the limit: too long, never bare */
		{ "CR at limit-1 then x", S("123456789\rx"), 10,
		    BUF_LINE_TOOLONG, 0 },
		{ "bare LF before limit", S("123\n5678901"), 10,
		    BUF_LINE_BARE, 4 },
		{ "bare CR before limit", S("123\r5678901"), 10,
		    BUF_LINE_BARE, 4 },
		{ "LF just past limit", S("1234567890\n"), 10,
		    BUF_LINE_TOOLONG, 0 },
		{ "limit 2 CRLF", S("\r\n"), 2, BUF_LINE_OK, 0 },
		{ "limit 1 CRLF", S("\r\n"), 1, BUF_LINE_TOOLONG, 0 },
	};
	struct buf	 b;
	size_t		 i, got;
	enum buf_line	 r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		buf_init(&b, 4096);
		assert_int_equal(buf_append(&b, t[i].data, t[i].len), 0);
		got = 12345;
		r = buf_findline(&b, t[i].limit, &got);
		if (r != t[i].want)
			fail_msg("case %zu \"%s\": got %s, want %s", i,
			    t[i].name, linename(r), linename(t[i].want));
		if ((r == BUF_LINE_OK || r == BUF_LINE_BARE) &&
		    got != t[i].wantlen)
			fail_msg("case %zu \"%s\": got linelen %zu, want %zu",
			    i, t[i].name, got, t[i].wantlen);
		buf_release(&b);
	}
}

/* RFC 5321 4.5.3.1.4: 512 octets for a command line, CRLF included */
static void
test_findline_smtp_limit(void **state)
{
	static const struct {
		size_t		 chars;
		enum buf_line	 want;
	} t[] = {
		{ 509, BUF_LINE_OK },
		{ 510, BUF_LINE_OK },
		{ 511, BUF_LINE_TOOLONG },
		{ 512, BUF_LINE_TOOLONG },
		{ 2000, BUF_LINE_TOOLONG },
	};
	char		 line[2002];
	struct buf	 b;
	size_t		 i, got;
	enum buf_line	 r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(line, 'a', t[i].chars);
		memcpy(line + t[i].chars, "\r\n", 2);
		buf_init(&b, sizeof(line));
		assert_int_equal(buf_append(&b, line, t[i].chars + 2), 0);
		r = buf_findline(&b, 512, &got);
		if (r != t[i].want)
			fail_msg("%zu chars + CRLF: got %s, want %s",
			    t[i].chars, linename(r), linename(t[i].want));
		if (r == BUF_LINE_OK && got != t[i].chars)
			fail_msg("%zu chars + CRLF: got linelen %zu",
			    t[i].chars, got);
		buf_release(&b);
	}
}

/* the verdict must not depend on how the input was split into reads */
static void
test_findline_bytewise(void **state)
{
	static const char	 line[] = "MAIL FROM:<a@b>\r\n";
	struct buf		 b;
	size_t			 i, got;
	enum buf_line		 r;

	(void)state;
	buf_init(&b, 512);
	for (i = 0; i < sizeof(line) - 1; i++) {
		assert_int_equal(buf_append(&b, line + i, 1), 0);
		r = buf_findline(&b, 512, &got);
		if (i < sizeof(line) - 2 && r != BUF_LINE_NONE)
			fail_msg("after %zu bytes: got %s, want NONE", i + 1,
			    linename(r));
	}
	assert_int_equal(r, BUF_LINE_OK);
	assert_int_equal(got, sizeof(line) - 3);
	buf_release(&b);
}

/* a consumed front must not be seen by the next search */
static void
test_findline_after_consume(void **state)
{
	struct buf	 b;
	size_t		 got;

	(void)state;
	buf_init(&b, 512);
	assert_int_equal(buf_append(&b, S("NOOP\r\nQUIT\r\nHE")), 0);
	assert_int_equal(buf_findline(&b, 512, &got), BUF_LINE_OK);
	assert_int_equal(got, 4);
	buf_consume(&b, got + 2);
	assert_int_equal(buf_findline(&b, 512, &got), BUF_LINE_OK);
	assert_int_equal(got, 4);
	assert_memory_equal(buf_data(&b), "QUIT", 4);
	buf_consume(&b, got + 2);
	assert_int_equal(buf_findline(&b, 512, &got), BUF_LINE_NONE);
	assert_int_equal(buf_len(&b), 2);
	buf_release(&b);
}

static void
test_append_limits(void **state)
{
	struct buf	 b;
	char		 data[100];

	(void)state;
	memset(data, 'x', sizeof(data));
	buf_init(&b, 10);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(buf_room(&b), 10);
	assert_int_equal(buf_append(&b, data, 0), 0);
	assert_int_equal(buf_append(&b, "0123456", 7), 0);

	/* over the maximum: refused whole, nothing truncated or changed */
	errno = 0;
	assert_int_equal(buf_append(&b, data, 4), -1);
	assert_int_equal(errno, ENOBUFS);
	assert_int_equal(buf_len(&b), 7);
	assert_memory_equal(buf_data(&b), "0123456", 7);

	assert_int_equal(buf_append(&b, "789", 3), 0);
	assert_int_equal(buf_room(&b), 0);
	assert_memory_equal(buf_data(&b), "0123456789", 10);
	errno = 0;
	assert_int_equal(buf_append(&b, data, 1), -1);
	assert_int_equal(errno, ENOBUFS);
	/* a huge n must not wrap the bound check */
	assert_int_equal(buf_append(&b, data, SIZE_MAX), -1);
	assert_true(b.cap <= b.max);

	buf_consume(&b, 4);
	assert_int_equal(buf_room(&b), 4);
	assert_int_equal(buf_append(&b, "abcd", 4), 0);
	assert_memory_equal(buf_data(&b), "456789abcd", 10);
	assert_true(b.cap <= b.max);
	buf_release(&b);

	/* a zero maximum holds nothing but accepts empty appends */
	buf_init(&b, 0);
	assert_int_equal(buf_append(&b, data, 0), 0);
	assert_int_equal(buf_append(&b, data, 1), -1);
	buf_release(&b);
}

static void
test_reserve_commit(void **state)
{
	struct buf	 b;
	char		*p;
	size_t		 got;

	(void)state;
	buf_init(&b, 50);
	errno = 0;
	assert_null(buf_reserve(&b, 0, &got));
	assert_int_equal(errno, EINVAL);

	p = buf_reserve(&b, 100, &got);
	assert_non_null(p);
	assert_int_equal(got, 50);
	memset(p, 'r', 20);
	buf_commit(&b, 20);
	assert_int_equal(buf_len(&b), 20);

	p = buf_reserve(&b, 5, &got);
	assert_non_null(p);
	assert_int_equal(got, 5);
	memcpy(p, "abcde", 5);
	buf_commit(&b, 3);
	assert_int_equal(buf_len(&b), 23);
	assert_memory_equal(buf_data(&b) + 20, "abc", 3);

	p = buf_reserve(&b, 1000, &got);
	assert_non_null(p);
	assert_int_equal(got, 27);
	buf_commit(&b, got);
	errno = 0;
	assert_null(buf_reserve(&b, 1, &got));
	assert_int_equal(errno, ENOBUFS);

	buf_clear(&b);
	assert_int_equal(buf_len(&b), 0);
	assert_non_null(buf_reserve(&b, 1, &got));
	assert_int_equal(got, 1);
	buf_release(&b);
}

static void
test_clear_release(void **state)
{
	struct buf	 b;
	const char	*old;
	size_t		 cap;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_append(&b, S("hello")), 0);
	old = b.data;
	cap = b.cap;
	buf_clear(&b);
	assert_int_equal(buf_len(&b), 0);
	assert_ptr_equal(b.data, old);
	assert_int_equal(b.cap, cap);
	buf_release(&b);
	assert_null(b.data);
	assert_int_equal(buf_len(&b), 0);
	assert_int_equal(b.max, 4096);
	/* reusable after release */
	assert_int_equal(buf_append(&b, S("again")), 0);
	assert_memory_equal(buf_data(&b), "again", 5);
	buf_release(&b);
	buf_release(&b);
}

/*
 * A stream of appends and consumes against a shadow copy: exercises
 * growth and compaction and checks that no byte is lost or reordered and
 * that the storage never exceeds the maximum.
 */
static void
test_stream_model(void **state)
{
	enum { MAX = 3000 };
	static unsigned char	 model[MAX];
	unsigned char		 chunk[700];
	struct buf		 b;
	size_t			 mlen = 0, n, i, round;
	uint32_t		 rnd = 12345;
	unsigned char		 next = 0;

	(void)state;
	buf_init(&b, MAX);
	for (round = 0; round < 20000; round++) {
		rnd = rnd * 1103515245u + 12345u;
		n = (rnd >> 8) % sizeof(chunk);
		if ((rnd >> 4) & 1) {
			for (i = 0; i < n; i++)
				chunk[i] = next++;
			if (mlen + n > MAX) {
				assert_int_equal(buf_append(&b, chunk, n), -1);
				next = (unsigned char)(next - n);
			} else {
				assert_int_equal(buf_append(&b, chunk, n), 0);
				memcpy(model + mlen, chunk, n);
				mlen += n;
			}
		} else {
			if (n > mlen)
				n = mlen;
			buf_consume(&b, n);
			memmove(model, model + n, mlen - n);
			mlen -= n;
		}
		if (buf_len(&b) != mlen)
			fail_msg("round %zu: got len %zu, want %zu", round,
			    buf_len(&b), mlen);
		if (mlen > 0 && memcmp(buf_data(&b), model, mlen) != 0)
			fail_msg("round %zu: contents differ", round);
		if (b.cap > MAX || b.off + b.len > b.cap)
			fail_msg("round %zu: off %zu len %zu cap %zu max %d",
			    round, b.off, b.len, b.cap, MAX);
	}
	buf_release(&b);
}

/* byte-at-a-time filling must grow to exactly the maximum, not beyond */
static void
test_growth_bounded(void **state)
{
	struct buf	 b;
	size_t		 i;

	(void)state;
	buf_init(&b, 5000);
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_append(&b, "z", 1), 0);
	assert_int_equal(b.cap, 5000);
	assert_int_equal(buf_append(&b, "z", 1), -1);
	buf_release(&b);
}

/* buf_consume_wipe zeroes what it drops, in the storage itself */
static void
test_consume_wipe(void **state)
{
	struct buf	 b;
	const char	*p;
	size_t		 i;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append(&b, "AUTH PLAIN c2VjcmV0\r\nNOOP\r\n", 27),
	    0);
	p = buf_data(&b);
	buf_consume_wipe(&b, 21);
	for (i = 0; i < 21; i++)
		assert_int_equal(p[i], 0);
	assert_int_equal(buf_len(&b), 6);
	assert_memory_equal(buf_data(&b), "NOOP\r\n", 6);
	buf_consume_wipe(&b, 6);
	assert_int_equal(buf_len(&b), 0);
	buf_release(&b);
}

/* compaction leaves no second copy of the bytes it moved */
static void
test_compact_wipes(void **state)
{
	struct buf	 b;
	char		 chunk[1000];
	size_t		 i;

	(void)state;
	buf_init(&b, 1024);
	memset(chunk, 'S', sizeof(chunk));
	assert_int_equal(buf_append(&b, chunk, 1000), 0);
	assert_int_equal(b.cap, 1024);
	buf_consume(&b, 900);
	memset(chunk, 'N', sizeof(chunk));
	/* 100 + 200 fit once the 100 unread bytes move down */
	assert_int_equal(buf_append(&b, chunk, 200), 0);
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_len(&b), 300);
	for (i = 300; i < b.cap; i++)
		assert_int_not_equal(b.data[i], 'S');
	buf_release(&b);
}

/*
 * The extent a free wipes is what was ever written into the block, not
 * the whole block: appends, direct reads and a regrow (which copies the
 * unread data only) move it; consuming does not shrink it.
 */
static void
test_used_extent(void **state)
{
	struct buf	 b;
	char		*p;
	size_t		 got;

	(void)state;
	buf_init(&b, 65536);
	assert_int_equal(b.used, 0);
	assert_int_equal(buf_append(&b, "0123456789", 10), 0);
	assert_true(b.cap >= 1024);
	assert_int_equal(b.used, 10);
	buf_consume(&b, 4);
	assert_int_equal(b.used, 10);
	assert_non_null(p = buf_reserve(&b, 100, &got));
	memset(p, 'x', 30);
	buf_commit(&b, 30);
	assert_int_equal(b.used, 40);
	/* a regrow keeps only the unread 36 bytes */
	assert_non_null(p = buf_reserve(&b, 4096, &got));
	assert_int_equal(b.used, 36);
	buf_commit(&b, 0);
	buf_release(&b);
	assert_int_equal(b.used, 0);
	assert_null(b.data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_findline_table),
		cmocka_unit_test(test_findline_smtp_limit),
		cmocka_unit_test(test_findline_bytewise),
		cmocka_unit_test(test_findline_after_consume),
		cmocka_unit_test(test_append_limits),
		cmocka_unit_test(test_reserve_commit),
		cmocka_unit_test(test_clear_release),
		cmocka_unit_test(test_stream_model),
		cmocka_unit_test(test_growth_bounded),
		cmocka_unit_test(test_consume_wipe),
		cmocka_unit_test(test_compact_wipes),
		cmocka_unit_test(test_used_extent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
