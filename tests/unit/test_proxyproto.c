/*
 * test_proxyproto - the PROXY protocol header parser: v1 and v2 headers
 * whole, cut at every length (NEED_MORE until the last octet), followed
 * by client bytes (never consumed), and many malformed ones.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/proxyproto.h"
#include "util/addr.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define BOTH		(PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2)
#define SIG		"\r\n\r\n\0\r\nQUIT\n"

struct pcase {
	const char	*name;
	const char	*in;
	size_t		 len;		/* 0: strlen(in) */
	int		 accept;
	enum proxy_result want;
	size_t		 hlen;		/* DONE: header length */
	int		 local;
	const char	*src;		/* DONE, not local: "addr:port" text */
	const char	*why;		/* ERROR: the reason, NULL: any */
};

/* v2 headers as octet strings; the length field is bytes 14-15 */
#define V2(cmd, fam, lenhi, lenlo)	SIG cmd fam lenhi lenlo
static const char v2_inet[] = V2("\x21", "\x11", "\x00", "\x0c")
	"\xc0\x00\x02\x01" "\x7f\x00\x00\x01" "\x30\x39" "\x00\x19";
static const char v2_inet_tlv[] = V2("\x21", "\x11", "\x00", "\x14")
	"\x0a\x00\x00\x07" "\x7f\x00\x00\x01" "\x00\x50" "\x00\x19"
	"\x04\x00\x02" "ab" "\x03\x00\x00";	/* NOOP "ab", empty CRC TLV */
static const char v2_inet6[] = V2("\x21", "\x21", "\x00", "\x24")
	"\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"
	"\x01\xbb" "\x00\x19";
static const char v2_local[] = V2("\x20", "\x00", "\x00", "\x00");
static const char v2_local_junk[] = V2("\x20", "\x11", "\x00", "\x03") "xyz";
static const char v2_unspec[] = V2("\x21", "\x00", "\x00", "\x00");
static const char v2_badver[] = V2("\x11", "\x11", "\x00", "\x0c");
static const char v2_badcmd[] = V2("\x22", "\x11", "\x00", "\x0c");
static const char v2_unix[] = V2("\x21", "\x31", "\x00", "\x00");
static const char v2_dgram[] = V2("\x21", "\x12", "\x00", "\x0c")
	"\xc0\x00\x02\x01" "\x7f\x00\x00\x01" "\x30\x39" "\x00\x19";
static const char v2_badfam[] = V2("\x21", "\x41", "\x00", "\x0c")
	"\xc0\x00\x02\x01" "\x7f\x00\x00\x01" "\x30\x39" "\x00\x19";
static const char v2_short[] = V2("\x21", "\x21", "\x00", "\x0c")
	"\xc0\x00\x02\x01" "\x7f\x00\x00\x01" "\x30\x39" "\x00\x19";
static const char v2_huge[] = V2("\x21", "\x11", "\x04", "\x01");
static const char v2_max[] = V2("\x21", "\x11", "\xff", "\xff");
static const char v2_badtlv[] = V2("\x21", "\x11", "\x00", "\x11")
	"\x0a\x00\x00\x07" "\x7f\x00\x00\x01" "\x00\x50" "\x00\x19"
	"\x04\x00\x09" "ab";
static const char v2_tlvstub[] = V2("\x21", "\x11", "\x00", "\x0e")
	"\x0a\x00\x00\x07" "\x7f\x00\x00\x01" "\x00\x50" "\x00\x19" "\x04\x00";
static const char v2_badsig[] = "\r\n\r\n\0\r\nQUIX\n\x21\x11\x00\x00";

#define B(s)	s, sizeof(s) - 1
static const struct pcase cases[] = {
	{ "v1 tcp4", "PROXY TCP4 192.0.2.1 127.0.0.1 12345 25\r\n", 0, BOTH,
	    PROXY_DONE, 41, 0, "192.0.2.1:12345", NULL },
	{ "v1 tcp6", "PROXY TCP6 2001:db8::1 ::1 443 25\r\n", 0,
	    PROXY_ACCEPT_V1, PROXY_DONE, 35, 0, "[2001:db8::1]:443", NULL },
	{ "v1 port 0 and 65535", "PROXY TCP4 1.2.3.4 5.6.7.8 0 65535\r\n",
	    0, BOTH, PROXY_DONE, 36, 0, "1.2.3.4:0", NULL },
	{ "v1 unknown", "PROXY UNKNOWN\r\n", 0, BOTH, PROXY_DONE, 15, 1,
	    NULL, NULL },
	{ "v1 unknown with fields", "PROXY UNKNOWN ffff::1 ::1 1 2\r\n", 0,
	    BOTH, PROXY_DONE, 31, 1, NULL, NULL },
	{ "v1 longest", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", 0, BOTH,
	    PROXY_DONE, 104, 0,
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", NULL },
	{ "v1 over 107", "PROXY UNKNOWN xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "\r\n", 0, BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v1 header longer than 107 octets" },
	{ "v1 no CRLF in 107", "PROXY TCP4 xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxx", 0, BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v1 header longer than 107 octets" },
	{ "v1 bare LF", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header not ended by CRLF" },
	{ "v1 bare CR", "PROXY TCP4 1.2.3.4\r5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 NUL", B("PROXY TCP4 1.2.3.4\0 5.6.7.8 1 2\r\n"), BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 lower case", "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 bad signature", "PROXZ TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "bad v1 signature" },
	{ "SMTP instead", "EHLO x\r\n", 0, BOTH, PROXY_ERROR, 0, 0, NULL,
	    "bad signature" },
	{ "TLS instead", "\x16\x03\x01\x02\x00\x01", 0, BOTH, PROXY_ERROR, 0,
	    0, NULL, "bad signature" },
	{ "v1 tcp5", "PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has an unknown protocol" },
	{ "v1 udp4", "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has an unknown protocol" },
	{ "v1 unknownx", "PROXY UNKNOWNX\r\n", 0, BOTH, PROXY_ERROR, 0, 0,
	    NULL, "v1 header has an unknown protocol" },
	{ "v1 missing field", "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has too few fields" },
	{ "v1 extra field", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has too many fields" },
	{ "v1 double space", "PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 trailing space", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 port leading zero", "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", 0,
	    BOTH, PROXY_ERROR, 0, 0, NULL, "v1 header has a bad port" },
	{ "v1 port 65536", "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad port" },
	{ "v1 port sign", "PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad port" },
	{ "v1 port 6 digits", "PROXY TCP4 1.2.3.4 5.6.7.8 100000 2\r\n", 0,
	    BOTH, PROXY_ERROR, 0, 0, NULL, "v1 header has a bad port" },
	{ "v1 v6 address in TCP4", "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad address" },
	{ "v1 v4 address in TCP6", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad address" },
	{ "v1 octet 256", "PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad address" },
	{ "v1 name", "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, "v1 header has a bad address" },
	{ "v1 empty address", "PROXY TCP4  5.6.7.8 1 2\r\n", 0, BOTH,
	    PROXY_ERROR, 0, 0, NULL, NULL },
	{ "v1 on a v2 listener", "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n", 0,
	    PROXY_ACCEPT_V2, PROXY_ERROR, 0, 0, NULL,
	    "v1 header where only v2 is taken" },
	{ "v2 inet", B(v2_inet), BOTH, PROXY_DONE, 28, 0, "192.0.2.1:12345",
	    NULL },
	{ "v2 inet, TLVs skipped", B(v2_inet_tlv), PROXY_ACCEPT_V2,
	    PROXY_DONE, 36, 0, "10.0.0.7:80", NULL },
	{ "v2 inet6", B(v2_inet6), BOTH, PROXY_DONE, 52, 0,
	    "[2001:db8::1]:443", NULL },
	{ "v2 local", B(v2_local), BOTH, PROXY_DONE, 16, 1, NULL, NULL },
	{ "v2 local, body ignored", B(v2_local_junk), BOTH, PROXY_DONE, 19,
	    1, NULL, NULL },
	{ "v2 unspec", B(v2_unspec), BOTH, PROXY_DONE, 16, 1, NULL, NULL },
	{ "v2 on a v1 listener", B(v2_inet), PROXY_ACCEPT_V1, PROXY_ERROR, 0,
	    0, NULL, "v2 header where only v1 is taken" },
	{ "v2 version 1", B(v2_badver), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header has an unknown version" },
	{ "v2 command 2", B(v2_badcmd), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header has an unknown command" },
	{ "v2 unix", B(v2_unix), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header with a unix socket address" },
	{ "v2 dgram", B(v2_dgram), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header for a transport other than TCP" },
	{ "v2 family 4", B(v2_badfam), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header has an unknown family" },
	{ "v2 inet6 in 12 octets", B(v2_short), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header too short for its addresses" },
	{ "v2 1025 octets", B(v2_huge), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header longer than 1024 octets" },
	{ "v2 65535 octets", B(v2_max), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header longer than 1024 octets" },
	{ "v2 TLV overruns", B(v2_badtlv), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header has a malformed TLV" },
	{ "v2 TLV cut", B(v2_tlvstub), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "v2 header has a malformed TLV" },
	{ "v2 bad signature", B(v2_badsig), BOTH, PROXY_ERROR, 0, 0, NULL,
	    "bad signature" },
};

static void
check_done(const struct pcase *c, const struct proxy_hdr *h)
{
	char	 got[80];

	if (h->len != c->hlen || h->local != c->local)
		fail_msg("%s: len %zu local %d, want %zu %d", c->name, h->len,
		    h->local, c->hlen, c->local);
	if (c->local)
		return;
	(void)addr_ntop_port((const struct sockaddr *)&h->src, got,
	    sizeof(got));
	if (strcmp(got, c->src) != 0)
		fail_msg("%s: src %s, want %s", c->name, got, c->src);
}

static void
test_table(void **state)
{
	const struct pcase	*c;
	struct proxy_hdr	 h;
	const char		*why;
	enum proxy_result	 r;
	size_t			 i, len;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		c = &cases[i];
		len = c->len ? c->len : strlen(c->in);
		why = NULL;
		memset(&h, 0xa5, sizeof(h));
		r = proxyproto_parse((const unsigned char *)c->in, len,
		    c->accept, &h, &why);
		if (r != c->want)
			fail_msg("%s: result %d, want %d (%s)", c->name, r,
			    c->want, why ? why : "");
		if (r == PROXY_DONE)
			check_done(c, &h);
		if (r == PROXY_ERROR && (why == NULL ||
		    (c->why != NULL && strcmp(why, c->why) != 0)))
			fail_msg("%s: why \"%s\", want \"%s\"", c->name,
			    why ? why : "(null)", c->why);
	}
}

/*
 * A valid header cut short is NEED_MORE at every length; followed by
 * client bytes it is DONE with the same length (they are not consumed).
 */
static void
test_truncated_and_followed(void **state)
{
	const struct pcase	*c;
	struct proxy_hdr	 h;
	unsigned char		 buf[256];
	const char		*why;
	enum proxy_result	 r;
	size_t			 i, k, len;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		c = &cases[i];
		if (c->want != PROXY_DONE)
			continue;
		len = c->len ? c->len : strlen(c->in);
		for (k = 0; k < len; k++) {
			r = proxyproto_parse((const unsigned char *)c->in, k,
			    c->accept, &h, &why);
			if (r != PROXY_NEED_MORE)
				fail_msg("%s: cut at %zu: result %d", c->name,
				    k, r);
		}
		assert_true(len + 40 <= sizeof(buf));
		memcpy(buf, c->in, len);
		memcpy(buf + len, "\x16\x03\x01\x00\x20" "EHLO x\r\n\r\n", 16);
		r = proxyproto_parse(buf, len + 16, c->accept, &h, &why);
		if (r != PROXY_DONE || h.len != len)
			fail_msg("%s: followed by data: result %d len %zu",
			    c->name, r, h.len);
	}
}

/* a v2 header with TLVs up to the bound is taken, one octet more is not */
static void
test_v2_bound(void **state)
{
	unsigned char		 buf[PROXY_MAX_LEN + 1];
	struct proxy_hdr	 h;
	const char		*why;
	size_t			 plen = PROXY_V2_MAX_PAYLOAD;

	(void)state;
	memset(buf, 0, sizeof(buf));
	memcpy(buf, v2_inet, 16);
	buf[14] = (unsigned char)(plen >> 8);
	buf[15] = (unsigned char)plen;
	memcpy(buf + 16, v2_inet + 16, 12);
	/* one NOOP TLV filling the rest */
	buf[28] = 0x04;
	buf[29] = (unsigned char)((plen - 12 - 3) >> 8);
	buf[30] = (unsigned char)(plen - 12 - 3);
	assert_int_equal(proxyproto_parse(buf, 16 + plen, BOTH, &h, &why),
	    PROXY_DONE);
	assert_int_equal(h.len, PROXY_MAX_LEN);
	assert_int_equal(proxyproto_parse(buf, 16 + plen - 1, BOTH, &h, &why),
	    PROXY_NEED_MORE);
	buf[15] = (unsigned char)(plen + 1);
	assert_int_equal(proxyproto_parse(buf, 16, BOTH, &h, &why),
	    PROXY_ERROR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_truncated_and_followed),
		cmocka_unit_test(test_v2_bound),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
