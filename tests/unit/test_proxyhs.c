/*
 * test_proxyhs - the proxy URL (util/proxyurl.c) and the SOCKS5 and HTTP
 * CONNECT handshakes (net/proxyhs.c): requests octet for octet, replies
 * whole, in pieces, refused, and broken.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "net/proxyhs.h"
#include "util/proxyurl.h"

static void
test_url(void **state)
{
	static const struct {
		const char	*in;
		const char	*err;	/* NULL: parses */
		const char	*back;	/* formatted again */
	} t[] = {
		{ "", NULL, "" },
		{ "socks5://127.0.0.1:1080", NULL, "socks5://127.0.0.1:1080" },
		{ "SOCKS5://proxy.example:1080", NULL,
		    "socks5://proxy.example:1080" },
		{ "http://u@[::1]:3128", NULL, "http://u@[::1]:3128" },
		{ "socks5://user.name@p:1", NULL, "socks5://user.name@p:1" },
		{ "socks4://h:1", "scheme", NULL },
		{ "https://h:1", "scheme", NULL },
		{ "h:1080", "must be", NULL },
		{ "socks5://h", "port", NULL },
		{ "socks5://h:0", "port", NULL },
		{ "socks5://h:65536", "port", NULL },
		{ "socks5://::1:1080", "brackets", NULL },
		{ "socks5://@h:1", "empty user", NULL },
		{ "socks5://u:pw@h:1", "password", NULL },
		{ "http://h:1/path", "path", NULL },
		{ "http://", "host", NULL },
		{ "http://u@", "host", NULL },
	};
	struct proxy_url	 p;
	const char		*e;
	char			 buf[600];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		e = proxyurl_parse(t[i].in, &p);
		if (t[i].err == NULL) {
			if (e != NULL)
				fail_msg("%s: %s", t[i].in, e);
			assert_int_equal(proxyurl_format(&p, buf, sizeof(buf)),
			    0);
			assert_string_equal(buf, t[i].back);
		} else {
			if (e == NULL || strstr(e, t[i].err) == NULL)
				fail_msg("%s: want \"%s\", got %s", t[i].in,
				    t[i].err, e != NULL ? e : "success");
		}
	}
	assert_int_equal(proxyurl_format(&p, buf, 5), -1);
}

/* feed one reply, expect res, and compare the next request */
static enum proxyhs_result
feed(struct proxyhs *h, const void *in, size_t len, size_t *used,
    struct proxyhs_out *out, enum gw_fail *cls, char *why)
{
	return proxyhs_input(h, in, len, used, out, cls, why, 256);
}

static void
test_socks5_noauth(void **state)
{
	static const unsigned char	 conn[] = { 5, 1, 0, 3, 16,
	    'm', 'a', 'i', 'l', '.', 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
	    'o', 'r', 'g', 0x02, 0x4b };
	static const unsigned char	 rep[] = { 5, 0, 0, 1, 127, 0, 0, 1,
	    0x04, 0x38, '2', '2', '0' };
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256];
	size_t			 used, i;

	(void)state;
	assert_null(proxyhs_init(&h, PROXY_SOCKS5, "", NULL,
	    "mail.example.org", 587));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	assert_int_equal(out.len, 3);
	assert_memory_equal(out.buf, "\x05\x01\x00", 3);
	assert_int_equal(feed(&h, "\x05", 1, &used, &out, &cls, why),
	    PROXYHS_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(feed(&h, "\x05\x00", 2, &used, &out, &cls, why),
	    PROXYHS_MORE);
	assert_int_equal(used, 2);
	assert_int_equal(out.len, sizeof(conn));
	assert_memory_equal(out.buf, conn, sizeof(conn));
	assert_int_equal(out.secret, 0);
	/* every prefix of the reply wants more */
	for (i = 0; i < 10; i++)
		assert_int_equal(feed(&h, rep, i, &used, &out, &cls, why),
		    PROXYHS_MORE);
	/* the banner behind the reply is the destination's */
	assert_int_equal(feed(&h, rep, sizeof(rep), &used, &out, &cls, why),
	    PROXYHS_DONE);
	assert_int_equal(used, 10);
}

static void
test_socks5_login(void **state)
{
	static const unsigned char	 login[] = { 1, 4, 'u', 's', 'e', 'r',
	    2, 'p', 'w' };
	static const unsigned char	 conn[] = { 5, 1, 0, 4, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 25 };
	static const unsigned char	 rep[] = { 5, 0, 0, 3, 2, 'h', 'x',
	    0, 25 };
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256];
	size_t			 used;

	(void)state;
	assert_null(proxyhs_init(&h, PROXY_SOCKS5, "user", "pw", "::1", 25));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	assert_int_equal(out.len, 4);
	assert_memory_equal(out.buf, "\x05\x02\x00\x02", 4);
	assert_int_equal(feed(&h, "\x05\x02", 2, &used, &out, &cls, why),
	    PROXYHS_MORE);
	assert_int_equal(out.len, sizeof(login));
	assert_memory_equal(out.buf, login, sizeof(login));
	assert_int_equal(out.secret, 1);
	assert_int_equal(feed(&h, "\x01\x00", 2, &used, &out, &cls, why),
	    PROXYHS_MORE);
	assert_int_equal(out.len, sizeof(conn));
	assert_memory_equal(out.buf, conn, sizeof(conn));
	assert_int_equal(feed(&h, rep, sizeof(rep), &used, &out, &cls, why),
	    PROXYHS_DONE);
	assert_int_equal(used, sizeof(rep));
	/* the password is gone once the tunnel is open */
	assert_int_equal(h.pass[0], '\0');
}

static void
test_socks5_failures(void **state)
{
	static const struct {
		const char	*user;
		const char	*r1;	/* method reply */
		const char	*r2;	/* login or CONNECT reply */
		size_t		 l2;
		enum gw_fail	 cls;
		const char	*why;
	} t[] = {
		{ "", "\x05\xff", NULL, 0, FAIL_PROXY_AUTH, "none of our" },
		{ "", "\x05\x02", NULL, 0, FAIL_PROXY_AUTH, "none of our" },
		{ "u", "\x05\x02", "\x01\x01", 2, FAIL_PROXY_AUTH,
		    "refused the login of user u" },
		{ "", "\x04\x00", NULL, 0, FAIL_PROTOCOL, "not a SOCKS5" },
		{ "", "\x05\x00", "\x05\x02\x00\x01", 4, FAIL_PROXY_REFUSED,
		    "not allowed by ruleset" },
		{ "", "\x05\x00", "\x05\x05\x00\x01", 4, FAIL_PROXY_REFUSED,
		    "connection refused" },
		{ "", "\x05\x00", "\x05\x63\x00\x01", 4, FAIL_PROXY_REFUSED,
		    "unknown reply code" },
		{ "", "\x05\x00", "\x05\x00\x00\x09\x00", 5, FAIL_PROTOCOL,
		    "address type" },
		{ "", "\x05\x00", "\x06\x00\x00\x01\x00", 5, FAIL_PROTOCOL,
		    "version" },
	};
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256];
	size_t			 used, i;
	enum proxyhs_result	 r;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_null(proxyhs_init(&h, PROXY_SOCKS5, t[i].user,
		    t[i].user[0] != '\0' ? "pw" : NULL, "h.example", 25));
		assert_int_equal(proxyhs_start(&h, &out), 0);
		r = feed(&h, t[i].r1, 2, &used, &out, &cls, why);
		if (t[i].r2 != NULL) {
			assert_int_equal(r, PROXYHS_MORE);
			r = feed(&h, t[i].r2, t[i].l2, &used, &out, &cls, why);
		}
		assert_int_equal(r, PROXYHS_FAIL);
		assert_int_equal(cls, t[i].cls);
		if (strstr(why, t[i].why) == NULL)
			fail_msg("case %zu: want \"%s\" in \"%s\"", i,
			    t[i].why, why);
	}
	/* a user without a password is refused before anything is sent */
	assert_non_null(proxyhs_init(&h, PROXY_SOCKS5, "u", "", "h", 25));
	assert_non_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "a\r\nb", 25));
}

static void
test_http(void **state)
{
	static const char	 req[] = "CONNECT mail.example.org:465 "
	    "HTTP/1.1\r\nHost: mail.example.org:465\r\nProxy-Authorization: "
	    "Basic dXNlcjpzZWNyZXQ=\r\n\r\n";
	static const char	 rep[] = "HTTP/1.0 200 Connection established"
	    "\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\n220 banner\r\n";
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256];
	size_t			 used;
	enum proxyhs_result	 r = PROXYHS_MORE;

	(void)state;
	assert_null(proxyhs_init(&h, PROXY_HTTP, "user", "secret",
	    "mail.example.org", 465));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	assert_int_equal(out.len, strlen(req));
	assert_memory_equal(out.buf, req, out.len);
	assert_int_equal(out.secret, 1);
	r = feed(&h, rep, 40, &used, &out, &cls, why);
	assert_int_equal(r, PROXYHS_MORE);
	assert_int_equal(used, strlen("HTTP/1.0 200 Connection established"
	    "\r\n"));
	assert_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "::1", 25));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	assert_string_equal((char *)out.buf,
	    "CONNECT [::1]:25 HTTP/1.1\r\nHost: [::1]:25\r\n\r\n");
	assert_int_equal(out.secret, 0);
	r = feed(&h, rep, strlen(rep), &used, &out, &cls, why);
	assert_int_equal(r, PROXYHS_DONE);
	assert_int_equal(used, strlen(rep) - strlen("220 banner\r\n"));
}

/* the whole reply handed over in pieces, consumed as the caller does */
static void
test_http_pieces(void **state)
{
	static const char	 rep[] = "HTTP/1.1 200 OK\r\nA: b\r\n\r\nX";
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256], in[64];
	size_t			 used, have = 0, i;
	enum proxyhs_result	 r = PROXYHS_MORE;

	(void)state;
	assert_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "h", 25));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	for (i = 0; i < sizeof(rep) - 1 && r == PROXYHS_MORE; i++) {
		in[have++] = rep[i];
		r = feed(&h, in, have, &used, &out, &cls, why);
		memmove(in, in + used, have - used);
		have -= used;
	}
	assert_int_equal(r, PROXYHS_DONE);
	/* done at the blank line, before the destination's X */
	assert_int_equal(i, sizeof(rep) - 2);
	assert_int_equal(have, 0);
}

static void
test_http_failures(void **state)
{
	static const struct {
		const char	*rep;
		enum gw_fail	 cls;
		const char	*why;
	} t[] = {
		{ "HTTP/1.1 407 Proxy Authentication Required\r\n",
		    FAIL_PROXY_AUTH, "with 407 Proxy Authentication Required" },
		{ "HTTP/1.0 403 Access violation\r\n", FAIL_PROXY_REFUSED,
		    "CONNECT h:25 with 403 Access violation" },
		{ "HTTP/1.1 502\r\n", FAIL_PROXY_REFUSED, "with 502" },
		{ "HTTP/1.1 401 Unauthorized\r\n", FAIL_PROXY_AUTH, "401" },
		{ "HTTP/1.1 101 Switching\r\n", FAIL_PROXY_REFUSED, "101" },
		{ "SSH-2.0-OpenSSH\r\n", FAIL_PROTOCOL, "status line" },
		{ "HTTP/1.1 2000 OK\r\n", FAIL_PROTOCOL, "status line" },
		{ "HTTP/1.1 200 OK\r\nA: \001\r\n", FAIL_PROTOCOL, "control" },
	};
	struct proxyhs		 h;
	struct proxyhs_out	 out;
	enum gw_fail		 cls;
	char			 why[256], big[PROXYHS_LINE_MAX + 8];
	size_t			 used, i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "h", 25));
		assert_int_equal(proxyhs_start(&h, &out), 0);
		assert_int_equal(feed(&h, t[i].rep, strlen(t[i].rep), &used,
		    &out, &cls, why), PROXYHS_FAIL);
		assert_int_equal(cls, t[i].cls);
		if (strstr(why, t[i].why) == NULL)
			fail_msg("case %zu: want \"%s\" in \"%s\"", i,
			    t[i].why, why);
	}
	/* a line without end past the bound */
	assert_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "h", 25));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	memset(big, 'a', sizeof(big));
	assert_int_equal(feed(&h, big, sizeof(big), &used, &out, &cls, why),
	    PROXYHS_FAIL);
	assert_int_equal(cls, FAIL_PROTOCOL);
	/* too many header lines */
	assert_null(proxyhs_init(&h, PROXY_HTTP, "", NULL, "h", 25));
	assert_int_equal(proxyhs_start(&h, &out), 0);
	assert_int_equal(feed(&h, "HTTP/1.1 200 OK\r\n", 17, &used, &out,
	    &cls, why), PROXYHS_MORE);
	for (i = 0; i < PROXYHS_LINES_MAX; i++)
		if (feed(&h, "A: b\r\n", 6, &used, &out, &cls, why) !=
		    PROXYHS_MORE)
			break;
	assert_int_equal(cls, FAIL_PROTOCOL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_socks5_noauth),
		cmocka_unit_test(test_socks5_login),
		cmocka_unit_test(test_socks5_failures),
		cmocka_unit_test(test_http),
		cmocka_unit_test(test_http_pieces),
		cmocka_unit_test(test_http_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
