/*
 * test_str - bounded copies, strict number/size/duration/bool parsing,
 * lists, case-insensitive matching and log escaping.  The small log and
 * fail modules have no test file of their own and are covered at the end.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/wait.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fail.h"
#include "util/log.h"
#include "util/str.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const char *
nz(const char *s)
{
	return s != NULL ? s : "(null)";
}

/* reset every global the tested modules read */
static int
setup(void **state)
{
	(void)state;
	log_init(0, GW_LOG_INFO, LOGF_ALL);
	return 0;
}

static void
test_strlcpy(void **state)
{
	static const struct {
		const char	*src;
		size_t		 size;
		const char	*want;
		size_t		 wantret;
	} t[] = {
		{ "hello", 10, "hello", 5 },
		{ "hello", 6, "hello", 5 },
		{ "hello", 5, "hell", 5 },
		{ "hello", 1, "", 5 },
		{ "", 4, "", 0 },
	};
	char	 dst[16];
	size_t	 i, r;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(dst, 'X', sizeof(dst));
		r = gw_strlcpy(dst, t[i].src, t[i].size);
		if (r != t[i].wantret || strcmp(dst, t[i].want) != 0)
			fail_msg("case %zu: got %zu \"%s\", want %zu \"%s\"",
			    i, r, dst, t[i].wantret, t[i].want);
	}
	/* size 0 must not touch dst at all */
	memset(dst, 'X', sizeof(dst));
	assert_int_equal(gw_strlcpy(dst, "abc", 0), 3);
	assert_int_equal(dst[0], 'X');
}

static void
test_strlcat(void **state)
{
	static const struct {
		const char	*dst;
		const char	*src;
		size_t		 size;
		const char	*want;
		size_t		 wantret;
	} t[] = {
		{ "ab", "cd", 10, "abcd", 4 },
		{ "ab", "cd", 5, "abcd", 4 },
		{ "ab", "cd", 4, "abc", 4 },
		{ "ab", "cd", 3, "ab", 4 },
		{ "", "cd", 2, "c", 2 },
		{ "abc", "", 4, "abc", 3 },
	};
	char	 dst[16];
	size_t	 i, r;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(dst, 'X', sizeof(dst));
		strcpy(dst, t[i].dst);
		r = gw_strlcat(dst, t[i].src, t[i].size);
		if (r != t[i].wantret || strcmp(dst, t[i].want) != 0)
			fail_msg("case %zu: got %zu \"%s\", want %zu \"%s\"",
			    i, r, dst, t[i].wantret, t[i].want);
	}
	/* dst not terminated within size: nothing appended, size + srclen */
	memset(dst, 'X', sizeof(dst));
	assert_int_equal(gw_strlcat(dst, "abc", 4), 7);
	assert_int_equal(dst[3], 'X');
	assert_int_equal(gw_strlcat(dst, "abc", 0), 3);
}

static void
test_str_copy(void **state)
{
	char	 dst[4];

	(void)state;
	assert_int_equal(str_copy(dst, "abc", sizeof(dst)), 0);
	assert_string_equal(dst, "abc");
	assert_int_equal(str_copy(dst, "abcd", sizeof(dst)), -1);
	assert_string_equal(dst, "");
	assert_int_equal(str_copy(dst, "", sizeof(dst)), 0);
	assert_string_equal(dst, "");
	assert_int_equal(str_copy(dst, "a", 0), -1);
}

static void
test_tonum(void **state)
{
	static const struct {
		const char	*s;
		long long	 min, max;
		int		 ok;
		long long	 want;
	} t[] = {
		{ "0", 0, 10, 1, 0 },
		{ "10", 0, 10, 1, 10 },
		{ "007", 0, 10, 1, 7 },
		{ "11", 0, 10, 0, 0 },
		{ "4", 5, 10, 0, 0 },
		{ "-1", 0, 10, 0, 0 },
		{ "-0", 0, 10, 0, 0 },
		{ "-1", -5, 10, 1, -1 },
		{ "-6", -5, 10, 0, 0 },
		{ "-0", -5, 10, 1, 0 },
		{ "+1", 0, 10, 0, 0 },
		{ "+1", -5, 10, 0, 0 },
		{ " 1", 0, 10, 0, 0 },
		{ "1 ", 0, 10, 0, 0 },
		{ "\t1", 0, 10, 0, 0 },
		{ "", 0, 10, 0, 0 },
		{ "-", -5, 10, 0, 0 },
		{ "--1", -5, 10, 0, 0 },
		{ "1x", 0, 10, 0, 0 },
		{ "0x10", 0, 100, 0, 0 },
		{ "1e3", 0, 10000, 0, 0 },
		{ "1.5", 0, 10, 0, 0 },
		{ "9223372036854775807", LLONG_MIN, LLONG_MAX, 1, LLONG_MAX },
		{ "9223372036854775808", LLONG_MIN, LLONG_MAX, 0, 0 },
		{ "-9223372036854775808", LLONG_MIN, LLONG_MAX, 1, LLONG_MIN },
		{ "-9223372036854775809", LLONG_MIN, LLONG_MAX, 0, 0 },
		{ "18446744073709551615", LLONG_MIN, LLONG_MAX, 0, 0 },
		{ "18446744073709551616", LLONG_MIN, LLONG_MAX, 0, 0 },
		{ "99999999999999999999999999", 0, LLONG_MAX, 0, 0 },
		{ "65535", 1, 65535, 1, 65535 },
		{ "65536", 1, 65535, 0, 0 },
	};
	const char	*err;
	long long	 v;
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		v = 424242;
		err = str_tonum(t[i].s, t[i].min, t[i].max, &v);
		if (t[i].ok && (err != NULL || v != t[i].want))
			fail_msg("case %zu \"%s\": got %lld err %s, want %lld",
			    i, t[i].s, v, nz(err), t[i].want);
		if (!t[i].ok && (err == NULL || v != 424242))
			fail_msg("case %zu \"%s\": got %lld err %s, want error"
			    " and no store", i, t[i].s, v, nz(err));
	}
}

static void
test_parse_size(void **state)
{
	static const struct {
		const char		*s;
		unsigned long long	 max;
		int			 ok;
		unsigned long long	 want;
	} t[] = {
		{ "0", 100, 1, 0 },
		{ "1024", 2048, 1, 1024 },
		{ "1k", 2048, 1, 1024 },
		{ "1K", 2048, 1, 1024 },
		{ "2K", 2048, 1, 2048 },
		{ "3K", 2048, 0, 0 },
		{ "2049", 2048, 0, 0 },
		{ "10M", ULLONG_MAX, 1, 10ULL << 20 },
		{ "10m", ULLONG_MAX, 1, 10ULL << 20 },
		{ "1g", ULLONG_MAX, 1, 1ULL << 30 },
		{ "4G", ULLONG_MAX, 1, 4ULL << 30 },
		{ "0K", 0, 1, 0 },
		{ "17179869183G", ULLONG_MAX, 1, 17179869183ULL << 30 },
		{ "17179869184G", ULLONG_MAX, 0, 0 },
		{ "18014398509481983K", ULLONG_MAX, 1,
		    18014398509481983ULL << 10 },
		{ "18014398509481984K", ULLONG_MAX, 0, 0 },
		{ "18446744073709551615", ULLONG_MAX, 1, ULLONG_MAX },
		{ "18446744073709551616", ULLONG_MAX, 0, 0 },
		{ "99999999999999999999999", ULLONG_MAX, 0, 0 },
		{ "", 100, 0, 0 },
		{ "K", 100, 0, 0 },
		{ "1KB", 10000, 0, 0 },
		{ "1B", 10000, 0, 0 },
		{ "1T", ULLONG_MAX, 1, 1ULL << 40 },
		{ "16777216T", ULLONG_MAX, 0, 0 },
		{ "1P", ULLONG_MAX, 0, 0 },
		{ "1KK", ULLONG_MAX, 0, 0 },
		{ "-1", 100, 0, 0 },
		{ "+1", 100, 0, 0 },
		{ " 1K", 10000, 0, 0 },
		{ "1 K", 10000, 0, 0 },
		{ "1K ", 10000, 0, 0 },
		{ "1.5M", ULLONG_MAX, 0, 0 },
	};
	const char		*err;
	unsigned long long	 v;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		v = 424242;
		err = str_parse_size(t[i].s, t[i].max, &v);
		if (t[i].ok && (err != NULL || v != t[i].want))
			fail_msg("case %zu \"%s\": got %llu err %s, want %llu",
			    i, t[i].s, v, nz(err), t[i].want);
		if (!t[i].ok && (err == NULL || v != 424242))
			fail_msg("case %zu \"%s\": got %llu err %s, want error",
			    i, t[i].s, v, nz(err));
	}
}

static void
test_parse_duration(void **state)
{
	static const struct {
		const char	*s;
		unsigned	 max;
		int		 ok;
		unsigned	 want;
	} t[] = {
		{ "0", 10, 1, 0 },
		{ "30", 300, 1, 30 },
		{ "30s", 300, 1, 30 },
		{ "30S", 300, 1, 30 },
		{ "5m", 300, 1, 300 },
		{ "5M", 300, 1, 300 },
		{ "6m", 300, 0, 0 },
		{ "1h", 3600, 1, 3600 },
		{ "2H", UINT_MAX, 1, 7200 },
		{ "1h", 3599, 0, 0 },
		{ "4294967295", UINT_MAX, 1, UINT_MAX },
		{ "4294967296", UINT_MAX, 0, 0 },
		{ "71582788m", UINT_MAX, 1, 71582788u * 60 },
		{ "71582789m", UINT_MAX, 0, 0 },
		{ "1193046h", UINT_MAX, 1, 1193046u * 3600 },
		{ "1193047h", UINT_MAX, 0, 0 },
		{ "99999999999999999999999h", UINT_MAX, 0, 0 },
		{ "", 10, 0, 0 },
		{ "s", 10, 0, 0 },
		{ "1d", UINT_MAX, 1, 86400 },
		{ "49710d", UINT_MAX, 1, 49710u * 86400 },
		{ "49711d", UINT_MAX, 0, 0 },
		{ "1w", UINT_MAX, 0, 0 },
		{ "1ms", UINT_MAX, 0, 0 },
		{ "1 s", 10, 0, 0 },
		{ "-1", 10, 0, 0 },
		{ "+1", 10, 0, 0 },
		{ "1.5h", UINT_MAX, 0, 0 },
	};
	const char	*err;
	unsigned	 v;
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		v = 424242;
		err = str_parse_duration(t[i].s, t[i].max, &v);
		if (t[i].ok && (err != NULL || v != t[i].want))
			fail_msg("case %zu \"%s\": got %u err %s, want %u",
			    i, t[i].s, v, nz(err), t[i].want);
		if (!t[i].ok && (err == NULL || v != 424242))
			fail_msg("case %zu \"%s\": got %u err %s, want error",
			    i, t[i].s, v, nz(err));
	}
}

static void
test_parse_bool(void **state)
{
	static const struct {
		const char	*s;
		int		 want;		/* -1: error */
	} t[] = {
		{ "yes", 1 }, { "YES", 1 }, { "true", 1 }, { "True", 1 },
		{ "on", 1 }, { "On", 1 },
		{ "no", 0 }, { "NO", 0 }, { "false", 0 }, { "FALSE", 0 },
		{ "off", 0 }, { "oFF", 0 },
		{ "", -1 }, { "1", -1 }, { "0", -1 }, { "y", -1 },
		{ "n", -1 }, { "yess", -1 }, { "nope", -1 }, { " yes", -1 },
		{ "yes ", -1 }, { "o", -1 },
	};
	const char	*err;
	size_t		 i;
	int		 v;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		v = 7;
		err = str_parse_bool(t[i].s, &v);
		if (t[i].want >= 0 && (err != NULL || v != t[i].want))
			fail_msg("case %zu \"%s\": got %d err %s, want %d",
			    i, t[i].s, v, nz(err), t[i].want);
		if (t[i].want < 0 && (err == NULL || v != 7))
			fail_msg("case %zu \"%s\": got %d, want error", i,
			    t[i].s, v);
	}
}

static void
test_trim(void **state)
{
	static const struct {
		const char	*s;
		const char	*want;
	} t[] = {
		{ "abc", "abc" },
		{ "  abc", "abc" },
		{ "abc \t ", "abc" },
		{ "\t a b \t", "a b" },
		{ "", "" },
		{ "   ", "" },
		{ "\t", "" },
	};
	char	 buf[32];
	char	*r;
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		strcpy(buf, t[i].s);
		r = str_trim(buf);
		if (strcmp(r, t[i].want) != 0)
			fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i,
			    t[i].s, r, t[i].want);
	}
}

static void
test_split_list(void **state)
{
	static const struct {
		const char	*s;
		int		 max;
		int		 want;
		const char	*items[4];
	} t[] = {
		{ "a", 4, 1, { "a" } },
		{ "a,b,c", 4, 3, { "a", "b", "c" } },
		{ " a , b\t,\tc ", 4, 3, { "a", "b", "c" } },
		{ "127.0.0.0/8, ::1/128", 4, 2, { "127.0.0.0/8", "::1/128" } },
		{ "a b, c", 4, 2, { "a b", "c" } },
		{ "a,b,c,d", 4, 4, { "a", "b", "c", "d" } },
		{ "a,b,c,d", 3, -1, { NULL } },
		{ "a,b", 1, -1, { NULL } },
		{ "a", 0, -1, { NULL } },
		{ "a,,b", 4, -1, { NULL } },
		{ "a, ,b", 4, -1, { NULL } },
		{ "a,", 4, -1, { NULL } },
		{ ",a", 4, -1, { NULL } },
		{ ",", 4, -1, { NULL } },
		{ "", 4, -1, { NULL } },
		{ "  ", 4, -1, { NULL } },
	};
	char	 buf[64];
	char	*items[4];
	size_t	 i;
	int	 n, j;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		strcpy(buf, t[i].s);
		n = str_split_list(buf, items, t[i].max);
		if (n != t[i].want)
			fail_msg("case %zu \"%s\": got %d items, want %d", i,
			    t[i].s, n, t[i].want);
		for (j = 0; j < n; j++)
			if (strcmp(items[j], t[i].items[j]) != 0)
				fail_msg("case %zu item %d: got \"%s\", want "
				    "\"%s\"", i, j, items[j], t[i].items[j]);
	}
}

/* str_hex16: exactly 16 lowercase hex digits; what follows is not read */
static void
test_hex16(void **state)
{
	static const struct {
		const char	*s;
		int		 r;
		uint64_t	 v;
	} t[] = {
		{ "3f2a9c0d11e84b27", 0, 0x3f2a9c0d11e84b27ull },
		{ "0000000000000000", 0, 0 },
		{ "ffffffffffffffff", 0, UINT64_MAX },
		{ "00000000000001b6\n", 0, 0x1b6 },
		{ "00000000000001b6 rest", 0, 0x1b6 },
		{ "3F2A9C0D11E84B27", -1, 0 },
		{ "3f2a9c0d11e84b2", -1, 0 },
		{ "3f2a9c0d11e84b2g", -1, 0 },
		{ " 3f2a9c0d11e84b2", -1, 0 },
		{ "", -1, 0 },
	};
	uint64_t	v;
	size_t		i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		v = 42;
		if (str_hex16(t[i].s, &v) != t[i].r ||
		    (t[i].r == 0 && v != t[i].v) || (t[i].r == -1 && v != 42))
			fail_msg("hex16 case %zu \"%s\"", i, t[i].s);
	}
}

static void
test_ieq_iprefix(void **state)
{
	static const struct {
		const char	*a, *b;
		int		 want;
	} eq[] = {
		{ "", "", 1 }, { "ehlo", "EHLO", 1 }, { "EhLo", "eHlO", 1 },
		{ "ehlo", "ehl", 0 }, { "ehl", "ehlo", 0 }, { "a", "", 0 },
		{ "[", "{", 0 }, { "@", "`", 0 }, { "\xc9", "\xe9", 0 },
	};
	static const struct {
		const char	*s, *prefix;
		int		 want;		/* offset, or -1 for NULL */
	} pre[] = {
		{ "MAIL FROM:<a>", "mail from:", 10 },
		{ "mail from:<a>", "MAIL FROM:", 10 },
		{ "MAIL", "mail from:", -1 },
		{ "MAIL TO:", "mail from:", -1 },
		{ "abc", "", 0 },
		{ "", "", 0 },
		{ "", "a", -1 },
		{ "STARTTLS", "starttls", 8 },
	};
	const char	*r;
	size_t		 i;
	int		 got;

	(void)state;
	for (i = 0; i < NELEM(eq); i++)
		if (str_ieq(eq[i].a, eq[i].b) != eq[i].want)
			fail_msg("ieq case %zu \"%s\" \"%s\": want %d", i,
			    eq[i].a, eq[i].b, eq[i].want);
	for (i = 0; i < NELEM(pre); i++) {
		r = str_iprefix(pre[i].s, pre[i].prefix);
		got = r == NULL ? -1 : (int)(r - pre[i].s);
		if (got != pre[i].want)
			fail_msg("iprefix case %zu \"%s\" \"%s\": got %d, "
			    "want %d", i, pre[i].s, pre[i].prefix, got,
			    pre[i].want);
	}
}

static void
test_vis(void **state)
{
	static const struct {
		const char	*src;
		size_t		 srclen;
		size_t		 dstlen;
		const char	*want;
	} t[] = {
		{ "abc", 3, 32, "abc" },
		{ "a\r\nb", 4, 32, "a\\x0d\\x0ab" },
		{ "a\\b", 3, 32, "a\\\\b" },
		{ "\x80\xff\x7f", 3, 32, "\\x80\\xff\\x7f" },
		{ "a\0b", 3, 32, "a\\x00b" },
		{ "\t ~", 3, 32, "\\x09 ~" },
		/* a quote cannot end a key="..." field early */
		{ "a\" b=\"c", 7, 32, "a\\\" b=\\\"c" },
		{ "ab\"cdefgh", 9, 8, "ab\\\"..." },
		{ "", 0, 32, "" },
		/* exact fit: no marker */
		{ "abc", 3, 4, "abc" },
		{ "\n", 1, 5, "\\x0a" },
		/* truncation ends in "..." and never splits an escape */
		{ "abcdefghij", 10, 8, "abcd..." },
		{ "abcd", 4, 4, "..." },
		{ "ab\ncdefgh", 9, 8, "ab..." },
		{ "ab\\cdefgh", 9, 8, "ab\\\\..." },
		{ "abc\\defgh", 9, 8, "abc..." },
		{ "abcd", 4, 3, ".." },
		{ "abcd", 4, 1, "" },
		{ "\n", 1, 4, "..." },
	};
	char	 dst[64];
	size_t	 i;
	char	*r;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(dst, 'X', sizeof(dst));
		r = str_vis(dst, t[i].dstlen, t[i].src, t[i].srclen);
		if (r != dst || strcmp(dst, t[i].want) != 0)
			fail_msg("case %zu (dstlen %zu): got \"%s\", want "
			    "\"%s\"", i, t[i].dstlen, dst, t[i].want);
		if (strlen(dst) >= t[i].dstlen)
			fail_msg("case %zu: overran dstlen", i);
	}
	/* dstlen 0 writes nothing */
	dst[0] = 'X';
	assert_ptr_equal(str_vis(dst, 0, "a", 1), dst);
	assert_int_equal(dst[0], 'X');
}

static void
test_log_parse(void **state)
{
	static const struct {
		const char	*s;
		int		 want;		/* -1: error */
	} lv[] = {
		{ "error", GW_LOG_ERROR }, { "warning", GW_LOG_WARNING },
		{ "info", GW_LOG_INFO }, { "debug", GW_LOG_DEBUG },
		{ "DEBUG", GW_LOG_DEBUG }, { "", -1 }, { "warn", -1 },
		{ "info ", -1 }, { "trace", -1 },
	};
	static const struct {
		const char	*s;
		long		 want;		/* -1: error */
	} fac[] = {
		{ "protocol", LOGF_PROTOCOL },
		{ "protocol,tls,auth,dkim,proxy", LOGF_ALL },
		{ " tls , auth ", LOGF_TLS | LOGF_AUTH },
		{ "dkim,proxy", LOGF_DKIM | LOGF_PROXY },
		{ "TLS", LOGF_TLS },
		{ "all", LOGF_ALL },
		{ " all ", LOGF_ALL },
		{ "all,tls", LOGF_ALL },
		{ "none", 0 },
		{ "none,tls", -1 },
		{ "tls,none", -1 },
		{ "", -1 },
		{ "tls,", -1 },
		{ "tls,,auth", -1 },
		{ "tl", -1 },
		{ "tlsx", -1 },
		{ "tls auth", -1 },
		{ "smtp", -1 },
	};
	const char	*err;
	unsigned	 m;
	size_t		 i;
	int		 v;

	(void)state;
	for (i = 0; i < NELEM(lv); i++) {
		v = 99;
		err = log_level_parse(lv[i].s, &v);
		if (lv[i].want >= 0 && (err != NULL || v != lv[i].want))
			fail_msg("level case %zu \"%s\": got %d err %s, want %d",
			    i, lv[i].s, v, nz(err), lv[i].want);
		if (lv[i].want < 0 && (err == NULL || v != 99))
			fail_msg("level case %zu \"%s\": want error", i,
			    lv[i].s);
	}
	for (i = 0; i < NELEM(fac); i++) {
		m = 0x100;
		err = log_facilities_parse(fac[i].s, &m);
		if (fac[i].want >= 0 && (err != NULL || m != fac[i].want))
			fail_msg("facility case %zu \"%s\": got %#x err %s, "
			    "want %#lx", i, fac[i].s, m, nz(err), fac[i].want);
		if (fac[i].want < 0 && (err == NULL || m != 0x100))
			fail_msg("facility case %zu \"%s\": want error", i,
			    fac[i].s);
	}
}

static void
test_log_filter(void **state)
{
	(void)state;
	assert_true(log_would(GW_LOG_INFO));
	assert_false(log_would(GW_LOG_DEBUG));
	assert_false(log_trace_enabled(LOGF_TLS));
	log_setlevel(GW_LOG_DEBUG, LOGF_TLS | LOGF_AUTH);
	assert_true(log_would(GW_LOG_DEBUG));
	assert_true(log_trace_enabled(LOGF_TLS));
	assert_true(log_trace_enabled(LOGF_AUTH));
	assert_false(log_trace_enabled(LOGF_DKIM));
	log_setlevel(GW_LOG_ERROR, LOGF_ALL);
	assert_true(log_would(GW_LOG_ERROR));
	assert_false(log_would(GW_LOG_WARNING));
	assert_false(log_trace_enabled(LOGF_TLS));
}

/*
 * capture - run fn with stderr redirected to a temporary file and return
 * what was written (static buffer).
 */
static const char *
capture(void (*fn)(void))
{
	static char	 out[8192];
	FILE		*tmp;
	size_t		 n;
	int		 saved;

	assert_non_null(tmp = tmpfile());
	fflush(stderr);
	assert_true((saved = dup(STDERR_FILENO)) != -1);
	assert_true(dup2(fileno(tmp), STDERR_FILENO) != -1);
	fn();
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) != -1);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof(out) - 1, tmp);
	out[n] = '\0';
	fclose(tmp);
	return out;
}

static void
log_hostile(void)
{
	log_info("%016llx smtp line=%s", 0xabcULL, "QUIT\r\nfake: line\x1b");
	log_debug("not at info level");
	log_trace(LOGF_TLS, "not at info level either");
}

static void
log_traces(void)
{
	log_setlevel(GW_LOG_DEBUG, LOGF_TLS);
	log_trace(LOGF_TLS, "handshake done");
	log_trace(LOGF_AUTH, "filtered out");
}

/* one event is one line, whatever the caller formatted into it */
static void
test_log_one_line(void **state)
{
	const char	*out, *p;
	int		 lines = 0;

	(void)state;
	out = capture(log_hostile);
	for (p = out; *p != '\0'; p++)
		lines += *p == '\n';
	if (lines != 1)
		fail_msg("got %d lines, want 1: \"%s\"", lines, out);
	if (strstr(out, " smtpgate[") == NULL ||
	    strstr(out, "]: info: 0000000000000abc smtp line=QUIT\\x0d\\x0a"
	    "fake: line\\x1b\n") == NULL)
		fail_msg("unexpected line \"%s\"", out);
	/* ISO-8601 UTC stamp first: 2026-01-02T03:04:05Z */
	assert_true(strlen(out) > 20 && out[4] == '-' && out[10] == 'T' &&
	    out[19] == 'Z');

	out = capture(log_traces);
	if (strstr(out, "debug/tls: handshake done\n") == NULL ||
	    strstr(out, "filtered") != NULL)
		fail_msg("unexpected trace output \"%s\"", out);
}

static void
log_levels(void)
{
	log_setlevel(GW_LOG_WARNING, LOGF_ALL);
	log_error("e %d", 1);
	log_warnx("w %d", 2);
	log_info("i %d", 3);
	log_debug("d %d", 4);
}

static void
test_log_levels(void **state)
{
	const char	*out;

	(void)state;
	out = capture(log_levels);
	if (strstr(out, "]: error: e 1\n") == NULL ||
	    strstr(out, "]: warning: w 2\n") == NULL ||
	    strstr(out, "i 3") != NULL || strstr(out, "d 4") != NULL)
		fail_msg("unexpected output \"%s\"", out);
}

static void
log_long(void)
{
	static char	 big[6000];

	memset(big, 'a', sizeof(big) - 1);
	big[100] = '\n';
	log_info("%s", big);
}

/* an over-long message is cut with "..." and is still one line */
static void
test_log_long(void **state)
{
	const char	*out, *end;

	(void)state;
	out = capture(log_long);
	end = strchr(out, '\n');
	if (end == NULL || end[1] != '\0' || end - out < 4000 ||
	    strncmp(end - 3, "...", 3) != 0 || strstr(out, "a\\x0aa") == NULL)
		fail_msg("unexpected output of %zu bytes", strlen(out));
}

/*
 * run_child - fork, run fn with stderr on a pipe, and return what it
 * wrote; *status gets the wait status.
 */
static const char *
run_child(void (*fn)(void), int *status)
{
	static char	 out[8192];
	size_t		 off = 0;
	ssize_t		 n;
	pid_t		 pid;
	int		 fd[2];

	assert_int_equal(pipe(fd), 0);
	fflush(stderr);
	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		(void)dup2(fd[1], STDERR_FILENO);
		close(fd[0]);
		close(fd[1]);
		fn();
		_exit(99);
	}
	close(fd[1]);
	while (off < sizeof(out) - 1 &&
	    (n = read(fd[0], out + off, sizeof(out) - 1 - off)) > 0)
		off += (size_t)n;
	out[off] = '\0';
	close(fd[0]);
	assert_int_equal(waitpid(pid, status, 0), pid);
	return out;
}

static void
call_fatal(void)
{
	errno = ENOENT;
	fatal("open %s", "/etc/x");
}

static void
call_fatalx(void)
{
	errno = ENOENT;
	fatalx("bad state %d", 7);
}

static void
test_fatal(void **state)
{
	const char	*out;
	int		 status;

	(void)state;
	out = run_child(call_fatal, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	if (strstr(out, "]: fatal: open /etc/x: No such file or directory\n")
	    == NULL)
		fail_msg("fatal wrote \"%s\"", out);
	out = run_child(call_fatalx, &status);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	if (strstr(out, "]: fatal: bad state 7\n") == NULL ||
	    strstr(out, "No such file") != NULL)
		fail_msg("fatalx wrote \"%s\"", out);
}

static void
test_fail_name(void **state)
{
	static const struct {
		enum gw_fail	 f;
		const char	*want;
	} t[] = {
		{ FAIL_NONE, "none" },
		{ FAIL_DNS, "dns" },
		{ FAIL_CONNECT, "connect" },
		{ FAIL_TIMEOUT, "timeout" },
		{ FAIL_CLOSED, "closed" },
		{ FAIL_TLS_PROTOCOL, "tls-protocol" },
		{ FAIL_CERT_UNTRUSTED, "cert-untrusted" },
		{ FAIL_CERT_EXPIRED, "cert-expired" },
		{ FAIL_CERT_NOT_YET_VALID, "cert-not-yet-valid" },
		{ FAIL_CERT_NAME_MISMATCH, "cert-name-mismatch" },
		{ FAIL_CERT_REVOKED, "cert-revoked" },
		{ FAIL_REVOCATION_UNKNOWN, "revocation-unknown" },
		{ FAIL_PIN_MISMATCH, "pin-mismatch" },
		{ FAIL_STARTTLS_UNAVAILABLE, "starttls-unavailable" },
		{ FAIL_CLIENT_CERT_REJECTED, "client-cert-rejected" },
		{ FAIL_AUTH, "auth-failed" },
		{ FAIL_PROTOCOL, "protocol" },
		{ FAIL_REJECTED, "rejected" },
		{ FAIL_INTERNAL, "internal" },
		{ FAIL_MAX, "unknown" },
		{ (enum gw_fail)-1, "unknown" },
	};
	size_t	 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++)
		if (strcmp(fail_name(t[i].f), t[i].want) != 0)
			fail_msg("class %d: got \"%s\", want \"%s\"",
			    (int)t[i].f, fail_name(t[i].f), t[i].want);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_strlcpy, setup),
		cmocka_unit_test_setup(test_strlcat, setup),
		cmocka_unit_test_setup(test_str_copy, setup),
		cmocka_unit_test_setup(test_tonum, setup),
		cmocka_unit_test_setup(test_parse_size, setup),
		cmocka_unit_test_setup(test_parse_duration, setup),
		cmocka_unit_test_setup(test_parse_bool, setup),
		cmocka_unit_test_setup(test_trim, setup),
		cmocka_unit_test_setup(test_split_list, setup),
		cmocka_unit_test_setup(test_ieq_iprefix, setup),
		cmocka_unit_test_setup(test_hex16, setup),
		cmocka_unit_test_setup(test_vis, setup),
		cmocka_unit_test_setup(test_log_parse, setup),
		cmocka_unit_test_setup(test_log_filter, setup),
		cmocka_unit_test_setup(test_log_one_line, setup),
		cmocka_unit_test_setup(test_log_levels, setup),
		cmocka_unit_test_setup(test_log_long, setup),
		cmocka_unit_test_setup(test_fatal, setup),
		cmocka_unit_test_setup(test_fail_name, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
