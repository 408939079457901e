/*
 * test_base64 - RFC 4648 vectors, strict decoding, exact output sizes,
 * binary round trips (SASL PLAIN carries NULs) and overflow.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/types.h>

#include "util/base64.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define S(x)		x, sizeof(x) - 1

/* RFC 4648 section 10, plus binary data with NULs */
static const struct {
	const char	*raw;
	size_t		 rawlen;
	const char	*enc;
} vectors[] = {
	{ S(""), "" },
	{ S("f"), "Zg==" },
	{ S("fo"), "Zm8=" },
	{ S("foo"), "Zm9v" },
	{ S("foob"), "Zm9vYg==" },
	{ S("fooba"), "Zm9vYmE=" },
	{ S("foobar"), "Zm9vYmFy" },
	{ S("\0user\0pass"), "AHVzZXIAcGFzcw==" },
	{ S("\0"), "AA==" },
	{ S("\0\0\0"), "AAAA" },
	{ S("\xff\xff\xff"), "////" },
	{ S("\xfb\xef\xbe"), "++++" },
};

static void
test_encode_vectors(void **state)
{
	char	 out[64];
	size_t	 i;
	ssize_t	 n;

	(void)state;
	for (i = 0; i < NELEM(vectors); i++) {
		n = base64_encode(vectors[i].raw, vectors[i].rawlen, out,
		    sizeof(out));
		if (n != (ssize_t)strlen(vectors[i].enc) ||
		    strcmp(out, vectors[i].enc) != 0)
			fail_msg("case %zu: got %zd \"%s\", want \"%s\"", i, n,
			    n >= 0 ? out : "", vectors[i].enc);
	}
}

static void
test_decode_vectors(void **state)
{
	unsigned char	 out[64];
	size_t		 i;
	ssize_t		 n;

	(void)state;
	for (i = 0; i < NELEM(vectors); i++) {
		n = base64_decode(vectors[i].enc, strlen(vectors[i].enc), out,
		    sizeof(out));
		if (n != (ssize_t)vectors[i].rawlen ||
		    memcmp(out, vectors[i].raw, vectors[i].rawlen) != 0)
			fail_msg("case %zu \"%s\": got %zd bytes, want %zu", i,
			    vectors[i].enc, n, vectors[i].rawlen);
	}
}

/* the output size must be exact: room for the text and its NUL */
static void
test_encode_outlen(void **state)
{
	static const struct {
		size_t		 inlen;
		size_t		 outlen;
		ssize_t		 want;
	} t[] = {
		{ 0, 1, 0 },
		{ 0, 0, -1 },
		{ 1, 5, 4 },
		{ 1, 4, -1 },
		{ 3, 5, 4 },
		{ 3, 4, -1 },
		{ 4, 9, 8 },
		{ 4, 8, -1 },
		{ 6, 9, 8 },
	};
	char	 out[16];
	size_t	 i;
	ssize_t	 n;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(out, 'X', sizeof(out));
		n = base64_encode("abcdef", t[i].inlen, out, t[i].outlen);
		if (n != t[i].want)
			fail_msg("case %zu: inlen %zu outlen %zu: got %zd, "
			    "want %zd", i, t[i].inlen, t[i].outlen, n,
			    t[i].want);
		if (n < 0 && out[0] != 'X')
			fail_msg("case %zu: wrote on failure", i);
	}
	/* a length whose encoding cannot be represented must not wrap */
	assert_int_equal(base64_encode("x", SIZE_MAX, out, sizeof(out)), -1);
	assert_int_equal(base64_encode("x", SIZE_MAX / 4 * 3, out,
	    sizeof(out)), -1);
}

static void
test_decode_bad(void **state)
{
	static const struct {
		const char	*name;
		const char	*in;
		size_t		 inlen;
	} t[] = {
		{ "length 1", S("Z") },
		{ "length 3", S("Zg=") },
		{ "missing padding", S("Zg") },
		{ "missing padding 3", S("Zm8") },
		{ "too much padding", S("Z===") },
		{ "only padding", S("====") },
		{ "padding in middle", S("Zg==Zm9v") },
		{ "padding inside quantum", S("Zm=v") },
		{ "pad then char", S("Zg=v") },
		{ "leading pad", S("=Zm9") },
		{ "space", S("Zm 9") },
		{ "space between quanta", S("Zm9v Zm9v") },
		{ "trailing LF", S("Zm9v\n") },
		{ "CRLF", S("Zm9v\r\nZm9v") },
		{ "tab", S("Zm9\t") },
		{ "url-safe minus", S("Zm9-") },
		{ "url-safe underscore", S("Zm9_") },
		{ "dot", S("Zm9.") },
		{ "NUL inside", S("Zm\0v") },
		{ "high byte", S("Zm9\xc3") },
		{ "star", S("*AAA") },
	};
	unsigned char	 out[64];
	size_t		 i;
	ssize_t		 n;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		n = base64_decode(t[i].in, t[i].inlen, out, sizeof(out));
		if (n != -1)
			fail_msg("case %zu \"%s\": got %zd, want -1", i,
			    t[i].name, n);
	}
}

/* non-zero bits after the last whole byte are tolerated */
static void
test_decode_trailing_bits(void **state)
{
	unsigned char	 out[8];

	(void)state;
	assert_int_equal(base64_decode(S("Zh=="), out, sizeof(out)), 1);
	assert_int_equal(out[0], 'f');
	assert_int_equal(base64_decode(S("Zm9="), out, sizeof(out)), 2);
	assert_memory_equal(out, "fo", 2);
}

/* overflow is refused before anything is written */
static void
test_decode_overflow(void **state)
{
	static const struct {
		const char	*in;
		size_t		 outlen;
		ssize_t		 want;
	} t[] = {
		{ "Zm9v", 3, 3 },
		{ "Zm9v", 2, -1 },
		{ "Zm8=", 2, 2 },
		{ "Zm8=", 1, -1 },
		{ "Zg==", 1, 1 },
		{ "Zg==", 0, -1 },
		{ "", 0, 0 },
		{ "Zm9vYmFy", 6, 6 },
		{ "Zm9vYmFy", 5, -1 },
		{ "AHVzZXIAcGFzcw==", 10, 10 },
		{ "AHVzZXIAcGFzcw==", 9, -1 },
	};
	unsigned char	 out[16];
	size_t		 i, j;
	ssize_t		 n;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(out, 0xa5, sizeof(out));
		n = base64_decode(t[i].in, strlen(t[i].in), out, t[i].outlen);
		if (n != t[i].want)
			fail_msg("case %zu \"%s\" outlen %zu: got %zd, want "
			    "%zd", i, t[i].in, t[i].outlen, n, t[i].want);
		for (j = n < 0 ? 0 : (size_t)n; j < sizeof(out); j++)
			if (out[j] != 0xa5)
				fail_msg("case %zu: byte %zu written", i, j);
	}
}

/* every byte value, every length mod 3, encode then decode */
static void
test_roundtrip(void **state)
{
	unsigned char	 raw[300], dec[300];
	char		 enc[401];
	size_t		 len, i;
	ssize_t		 n, m;

	(void)state;
	for (i = 0; i < sizeof(raw); i++)
		raw[i] = (unsigned char)(i * 37 + (i >> 3));
	raw[0] = 0;
	raw[150] = 0;
	for (len = 0; len <= sizeof(raw); len++) {
		n = base64_encode(raw, len, enc, sizeof(enc));
		if (n != (ssize_t)((len + 2) / 3 * 4))
			fail_msg("len %zu: encoded to %zd", len, n);
		/* exactly the decoded size is enough */
		m = base64_decode(enc, (size_t)n, dec, len);
		if (m != (ssize_t)len || memcmp(raw, dec, len) != 0)
			fail_msg("len %zu: decoded %zd bytes, want %zu", len,
			    m, len);
		if (len > 0 && base64_decode(enc, (size_t)n, dec,
		    len - 1) != -1)
			fail_msg("len %zu: one byte short must fail", len);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_vectors),
		cmocka_unit_test(test_decode_vectors),
		cmocka_unit_test(test_encode_outlen),
		cmocka_unit_test(test_decode_bad),
		cmocka_unit_test(test_decode_trailing_bits),
		cmocka_unit_test(test_decode_overflow),
		cmocka_unit_test(test_roundtrip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
