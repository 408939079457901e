/*
 * test_addr - HOST:PORT parsing, CIDR parsing and matching (including
 * IPv4-mapped IPv6 clients of a dual-stack listener), address text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "util/addr.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const char *
nz(const char *s)
{
	return s != NULL ? s : "(null)";
}

/* mksa - sockaddr from numeric text: IPv6 if it has a ':' */
static const struct sockaddr *
mksa(struct sockaddr_storage *ss, const char *text, unsigned short port)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strchr(text, ':') != NULL) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr),
		    1);
	} else {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	}
	return (const struct sockaddr *)ss;
}

static void
test_hostport(void **state)
{
	static const struct {
		const char	*s;
		const char	*host;		/* NULL: must fail */
		unsigned short	 port;
	} t[] = {
		{ "1.2.3.4:25", "1.2.3.4", 25 },
		{ "[::1]:25", "::1", 25 },
		{ "[::ffff:1.2.3.4]:587", "::ffff:1.2.3.4", 587 },
		{ "[2001:db8::1]:65535", "2001:db8::1", 65535 },
		{ "mail.example.com:587", "mail.example.com", 587 },
		{ "smtp-relay_1.example:1", "smtp-relay_1.example", 1 },
		{ "localhost:025", "localhost", 25 },
		{ ":25", NULL, 0 },
		{ "host:", NULL, 0 },
		{ "host", NULL, 0 },
		{ "", NULL, 0 },
		{ "host:0", NULL, 0 },
		{ "host:65536", NULL, 0 },
		{ "host:-1", NULL, 0 },
		{ "host:+25", NULL, 0 },
		{ "host: 25", NULL, 0 },
		{ "host:25 ", NULL, 0 },
		{ "host:25x", NULL, 0 },
		{ "host:smtp", NULL, 0 },
		{ "::1:25", NULL, 0 },
		{ "::1", NULL, 0 },
		{ "2001:db8::1:25", NULL, 0 },
		{ "host:25:26", NULL, 0 },
		{ "[::1]25", NULL, 0 },
		{ "[::1]", NULL, 0 },
		{ "[::1]:", NULL, 0 },
		{ "[::1:25", NULL, 0 },
		{ "[]:25", NULL, 0 },
		{ "[1.2.3.4]:25", NULL, 0 },
		{ "[host]:25", NULL, 0 },
		{ "[::1]x:25", NULL, 0 },
		{ "ho st:25", NULL, 0 },
		{ "host\r\n:25", NULL, 0 },
		{ " host:25", NULL, 0 },
		{ "h@st:25", NULL, 0 },
	};
	struct hostport	 hp;
	const char	*err;
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(&hp, 0, sizeof(hp));
		strcpy(hp.host, "untouched");
		hp.port = 9;
		err = addr_parse_hostport(t[i].s, &hp);
		if (t[i].host != NULL && (err != NULL ||
		    strcmp(hp.host, t[i].host) != 0 || hp.port != t[i].port))
			fail_msg("case %zu \"%s\": got \"%s\" %u err %s, "
			    "want \"%s\" %u", i, t[i].s, hp.host, hp.port,
			    nz(err), t[i].host, t[i].port);
		if (t[i].host == NULL && (err == NULL ||
		    strcmp(hp.host, "untouched") != 0 || hp.port != 9))
			fail_msg("case %zu \"%s\": got \"%s\" %u, want error "
			    "and no store", i, t[i].s, hp.host, hp.port);
	}
}

/* the host must fit ADDR_HOST_MAX with its NUL: 255 yes, 256 no */
static void
test_hostport_long(void **state)
{
	char		 s[ADDR_HOST_MAX + 16];
	struct hostport	 hp;

	(void)state;
	memset(s, 'a', ADDR_HOST_MAX - 1);
	strcpy(s + ADDR_HOST_MAX - 1, ":25");
	assert_null(addr_parse_hostport(s, &hp));
	assert_int_equal(strlen(hp.host), ADDR_HOST_MAX - 1);
	memset(s, 'a', ADDR_HOST_MAX);
	strcpy(s + ADDR_HOST_MAX, ":25");
	assert_non_null(addr_parse_hostport(s, &hp));
	/* a long bracketed host too */
	s[0] = '[';
	memset(s + 1, ':', ADDR_HOST_MAX);
	strcpy(s + 1 + ADDR_HOST_MAX, "]:25");
	assert_non_null(addr_parse_hostport(s, &hp));
}

static void
test_cidr_parse(void **state)
{
	static const struct {
		const char	*s;
		int		 ok;
		int		 family;
		unsigned	 prefix;
		const char	*addr;		/* ok: expected network */
		const char	*errpart;	/* !ok: substring of error */
	} t[] = {
		{ "10.0.0.0/8", 1, AF_INET, 8, "10.0.0.0", NULL },
		{ "127.0.0.0/8", 1, AF_INET, 8, "127.0.0.0", NULL },
		{ "192.168.1.7", 1, AF_INET, 32, "192.168.1.7", NULL },
		{ "192.168.1.128/25", 1, AF_INET, 25, "192.168.1.128", NULL },
		{ "0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0", NULL },
		{ "1.2.3.4/32", 1, AF_INET, 32, "1.2.3.4", NULL },
		{ "10.0.0.0/08", 1, AF_INET, 8, "10.0.0.0", NULL },
		{ "::1/128", 1, AF_INET6, 128, "::1", NULL },
		{ "::1", 1, AF_INET6, 128, "::1", NULL },
		{ "fe80::/10", 1, AF_INET6, 10, "fe80::", NULL },
		{ "::/0", 1, AF_INET6, 0, "::", NULL },
		{ "2001:db8::/32", 1, AF_INET6, 32, "2001:db8::", NULL },
		{ "::ffff:10.0.0.0/104", 1, AF_INET6, 104, "::ffff:10.0.0.0",
		    NULL },
		{ "10.0.0.1/8", 0, 0, 0, NULL, "host bits set" },
		{ "192.168.1.64/25", 0, 0, 0, NULL, "host bits set" },
		{ "1.0.0.0/0", 0, 0, 0, NULL, "host bits set" },
		{ "fe80::1/10", 0, 0, 0, NULL, "host bits set" },
		{ "fec0::/9", 0, 0, 0, NULL, "host bits set" },
		{ "::1/127", 0, 0, 0, NULL, "host bits set" },
		{ "10.0.0.0/33", 0, 0, 0, NULL, "too large" },
		{ "::/129", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/", 0, 0, 0, NULL, "" },
		{ "/8", 0, 0, 0, NULL, "" },
		{ "", 0, 0, 0, NULL, "" },
		{ "10.0.0/8", 0, 0, 0, NULL, "" },
		{ "10.0.0.256", 0, 0, 0, NULL, "" },
		{ "010.0.0.0/8", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/8x", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/8/8", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/-1", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/+8", 0, 0, 0, NULL, "" },
		{ "10.0.0.0 /8", 0, 0, 0, NULL, "" },
		{ "10.0.0.0/ 8", 0, 0, 0, NULL, "" },
		{ " 10.0.0.0/8", 0, 0, 0, NULL, "" },
		{ "garbage", 0, 0, 0, NULL, "" },
		{ "localhost/8", 0, 0, 0, NULL, "" },
		{ "[::1]/128", 0, 0, 0, NULL, "" },
		{ "fe80::1%eth0/128", 0, 0, 0, NULL, "" },
		{ "1:2:3:4:5:6:7:8:9/128", 0, 0, 0, NULL, "" },
		{ "0000:0000:0000:0000:0000:0000:0000:0000:0000/0", 0, 0, 0,
		    NULL, "" },
	};
	unsigned char	 want[16];
	struct cidr	 c;
	const char	*err;
	size_t		 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		memset(&c, 0xa5, sizeof(c));
		err = cidr_parse(t[i].s, &c);
		if (!t[i].ok) {
			if (err == NULL || strstr(err, t[i].errpart) == NULL)
				fail_msg("case %zu \"%s\": got err %s, want "
				    "error with \"%s\"", i, t[i].s, nz(err),
				    t[i].errpart);
			if (c.family != (int)0xa5a5a5a5)
				fail_msg("case %zu: stored on error", i);
			continue;
		}
		if (err != NULL || c.family != t[i].family ||
		    c.prefix != t[i].prefix)
			fail_msg("case %zu \"%s\": got family %d prefix %u "
			    "err %s, want %d /%u", i, t[i].s, c.family,
			    c.prefix, nz(err), t[i].family, t[i].prefix);
		memset(want, 0, sizeof(want));
		assert_int_equal(inet_pton(t[i].family, t[i].addr, want), 1);
		if (memcmp(c.addr, want, t[i].family == AF_INET ? 4 : 16) != 0)
			fail_msg("case %zu \"%s\": network bytes differ", i,
			    t[i].s);
	}
}

static void
test_cidr_match(void **state)
{
	static const struct {
		const char	*cidr;
		const char	*addr;
		int		 want;
	} t[] = {
		{ "10.0.0.0/8", "10.1.2.3", 1 },
		{ "10.0.0.0/8", "10.255.255.255", 1 },
		{ "10.0.0.0/8", "11.0.0.0", 0 },
		{ "10.0.0.0/8", "9.255.255.255", 0 },
		/* dual-stack listener: IPv4 clients arrive IPv4-mapped */
		{ "10.0.0.0/8", "::ffff:10.1.2.3", 1 },
		{ "10.0.0.0/8", "::ffff:11.0.0.1", 0 },
		{ "127.0.0.0/8", "::ffff:127.0.0.1", 1 },
		{ "127.0.0.1", "::ffff:127.0.0.1", 1 },
		{ "127.0.0.1", "::ffff:127.0.0.2", 0 },
		/* only the mapped form, not IPv4-compatible or NAT64 */
		{ "10.0.0.0/8", "::10.1.2.3", 0 },
		{ "10.0.0.0/8", "64:ff9b::10.1.2.3", 0 },
		{ "10.0.0.0/8", "::fffe:10.1.2.3", 0 },
		{ "0.0.0.0/0", "1.2.3.4", 1 },
		{ "0.0.0.0/0", "::ffff:1.2.3.4", 1 },
		{ "0.0.0.0/0", "::1", 0 },
		{ "::1/128", "::1", 1 },
		{ "::1/128", "::2", 0 },
		{ "::1/128", "127.0.0.1", 0 },
		{ "::/0", "2001:db8::1", 1 },
		{ "::/0", "1.2.3.4", 0 },
		{ "::ffff:0.0.0.0/96", "::ffff:1.2.3.4", 1 },
		{ "::ffff:0.0.0.0/96", "1.2.3.4", 0 },
		{ "fe80::/10", "fe80::1", 1 },
		{ "fe80::/10", "febf:ffff::1", 1 },
		{ "fe80::/10", "fec0::1", 0 },
		{ "fe80::/10", "fe7f::1", 0 },
		{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
		{ "2001:db8::/32", "2001:db9::1", 0 },
		{ "192.168.1.128/25", "192.168.1.200", 1 },
		{ "192.168.1.128/25", "192.168.1.128", 1 },
		{ "192.168.1.128/25", "192.168.1.127", 0 },
		{ "192.168.1.7", "192.168.1.7", 1 },
		{ "192.168.1.7", "192.168.1.6", 0 },
		{ "1.2.3.4/31", "1.2.3.5", 1 },
		{ "1.2.3.4/31", "1.2.3.6", 0 },
	};
	struct sockaddr_storage	 ss;
	struct cidr		 c;
	const char		*err;
	size_t			 i;
	int			 got;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		if ((err = cidr_parse(t[i].cidr, &c)) != NULL)
			fail_msg("case %zu: cidr_parse(\"%s\"): %s", i,
			    t[i].cidr, err);
		got = cidr_match(&c, mksa(&ss, t[i].addr, 25));
		if (got != t[i].want)
			fail_msg("case %zu: %s in %s: got %d, want %d", i,
			    t[i].addr, t[i].cidr, got, t[i].want);
	}
}

static void
test_cidr_match_odd(void **state)
{
	struct sockaddr_un	 sun;
	struct cidr		 c;

	(void)state;
	assert_null(cidr_parse("0.0.0.0/0", &c));
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(cidr_match(&c, (struct sockaddr *)&sun), 0);
	assert_int_equal(cidr_match(&c, NULL), 0);
	assert_null(cidr_parse("::/0", &c));
	assert_int_equal(cidr_match(&c, (struct sockaddr *)&sun), 0);
}

static void
test_ntop(void **state)
{
	static const struct {
		const char	*addr;
		unsigned short	 port;
		size_t		 len;
		const char	*want;
		const char	*wantport;
	} t[] = {
		{ "127.0.0.1", 25, 64, "127.0.0.1", "127.0.0.1:25" },
		{ "::1", 25, 64, "::1", "[::1]:25" },
		{ "::ffff:127.0.0.1", 587, 64, "::ffff:127.0.0.1",
		    "[::ffff:127.0.0.1]:587" },
		{ "2001:db8::1", 65535, 64, "2001:db8::1",
		    "[2001:db8::1]:65535" },
		/* too small: "?" rather than a cut address or port */
		{ "127.0.0.1", 25, 10, "127.0.0.1", "?" },
		{ "127.0.0.1", 25, 9, "?", "?" },
		{ "127.0.0.1", 25, 13, "127.0.0.1", "127.0.0.1:25" },
		{ "127.0.0.1", 25, 12, "127.0.0.1", "?" },
		{ "::1", 25, 9, "::1", "[::1]:25" },
		{ "::1", 25, 8, "::1", "?" },
	};
	struct sockaddr_storage	 ss;
	const struct sockaddr	*sa;
	char			 buf[64];
	const char		*r;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		sa = mksa(&ss, t[i].addr, t[i].port);
		r = addr_ntop(sa, buf, t[i].len);
		if (strcmp(r, t[i].want) != 0)
			fail_msg("case %zu addr_ntop(%s, %zu): got \"%s\", "
			    "want \"%s\"", i, t[i].addr, t[i].len, r,
			    t[i].want);
		r = addr_ntop_port(sa, buf, t[i].len);
		if (strcmp(r, t[i].wantport) != 0)
			fail_msg("case %zu addr_ntop_port(%s, %zu): got \"%s\", "
			    "want \"%s\"", i, t[i].addr, t[i].len, r,
			    t[i].wantport);
	}
}

static void
test_ntop_odd(void **state)
{
	struct sockaddr_un	 sun;
	char			 buf[64];

	(void)state;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_string_equal(addr_ntop((struct sockaddr *)&sun, buf,
	    sizeof(buf)), "?");
	assert_string_equal(addr_ntop_port((struct sockaddr *)&sun, buf,
	    sizeof(buf)), "?");
	assert_string_equal(addr_ntop(NULL, buf, sizeof(buf)), "?");
	assert_string_equal(addr_ntop_port(NULL, buf, sizeof(buf)), "?");
	/* no room even for "?": a static "?" comes back, buf untouched */
	buf[0] = 'X';
	assert_string_equal(addr_ntop(NULL, buf, 1), "?");
	assert_int_equal(buf[0], 'X');
	assert_string_equal(addr_ntop_port(NULL, buf, 0), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_hostport_long),
		cmocka_unit_test(test_cidr_parse),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_match_odd),
		cmocka_unit_test(test_ntop),
		cmocka_unit_test(test_ntop_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
