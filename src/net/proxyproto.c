/*
 * proxyproto.c - PROXY protocol v1 and v2 header parser (pure).
 *
 * Strict on purpose: the header decides which address the allow list and
 * the limits see, so anything a balancer would not send is refused
 * rather than guessed at (single spaces, decimal ports without leading
 * zeros, addresses of the named family, a well-formed TLV list).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include "net/proxyproto.h"

#define V1_PREFIX	"PROXY "
#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x0
#define V2_FAM_INET	0x1
#define V2_FAM_INET6	0x2
#define V2_FAM_UNIX	0x3
#define V2_PROTO_STREAM	0x1
#define V2_INET_LEN	12	/* two IPv4 addresses, two ports */
#define V2_INET6_LEN	36	/* two IPv6 addresses, two ports */

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static enum proxy_result parse_v1(const unsigned char *, size_t,
	    struct proxy_hdr *, const char **);
static enum proxy_result parse_v2(const unsigned char *, size_t,
	    struct proxy_hdr *, const char **);

static enum proxy_result
fail(const char **why, const char *reason)
{
	*why = reason;
	return PROXY_ERROR;
}

/* the first n octets of buf equal the first n of want (n <= both) */
static int
prefix_is(const unsigned char *buf, size_t len, const void *want,
    size_t wantlen)
{
	return memcmp(buf, want, len < wantlen ? len : wantlen) == 0;
}

/* proxyproto_parse - see proxyproto.h */
enum proxy_result
proxyproto_parse(const unsigned char *buf, size_t len, int accept,
    struct proxy_hdr *hdr, const char **why)
{
	if (len == 0)
		return PROXY_NEED_MORE;
	/* the two signatures differ in their first octet: 'P' or CR */
	if (buf[0] == 'P') {
		if (!(accept & PROXY_ACCEPT_V1))
			return fail(why, "v1 header where only v2 is taken");
		if (!prefix_is(buf, len, V1_PREFIX, sizeof(V1_PREFIX) - 1))
			return fail(why, "bad v1 signature");
		return parse_v1(buf, len, hdr, why);
	}
	if (!prefix_is(buf, len, v2sig, sizeof(v2sig)))
		return fail(why, "bad signature");
	if (!(accept & PROXY_ACCEPT_V2))
		return fail(why, "v2 header where only v1 is taken");
	return parse_v2(buf, len, hdr, why);
}

/* a decimal port: 1-5 digits, no leading zero, at most 65535 */
static int
v1_port(const char *s, size_t n, unsigned *port)
{
	unsigned	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || (s[0] == '0' && n > 1))
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = v;
	return 0;
}

/* one address of family af from s[0..n) into ss */
static int
v1_addr(int af, const char *s, size_t n, unsigned port,
    struct sockaddr_storage *ss, socklen_t *sl)
{
	char			 tmp[INET6_ADDRSTRLEN];
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	if (n == 0 || n >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sl = sizeof(*sin);
		return inet_pton(AF_INET, tmp, &sin->sin_addr) == 1 ? 0 : -1;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons((uint16_t)port);
	*sl = sizeof(*sin6);
	return inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/*
 * "PROXY TCP4 SRC DST SPORT DPORT\r\n": four fields after the protocol,
 * separated by exactly one space.
 */
static enum proxy_result
v1_fields(const char *p, size_t n, int af, struct proxy_hdr *hdr,
    const char **why)
{
	const char	*f[4];
	size_t		 fl[4], i, k = 0, start = 0;
	unsigned	 sport, dport;

	for (i = 0; i <= n; i++) {
		if (i < n && p[i] != ' ')
			continue;
		if (k == 4)
			return fail(why, "v1 header has too many fields");
		f[k] = p + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	if (k != 4)
		return fail(why, "v1 header has too few fields");
	if (v1_port(f[2], fl[2], &sport) == -1 ||
	    v1_port(f[3], fl[3], &dport) == -1)
		return fail(why, "v1 header has a bad port");
	if (v1_addr(af, f[0], fl[0], sport, &hdr->src, &hdr->srclen) == -1 ||
	    v1_addr(af, f[1], fl[1], dport, &hdr->dst, &hdr->dstlen) == -1)
		return fail(why, "v1 header has a bad address");
	return PROXY_DONE;
}

static enum proxy_result
parse_v1(const unsigned char *buf, size_t len, struct proxy_hdr *hdr,
    const char **why)
{
	const char	*line = (const char *)buf, *p;
	size_t		 end, n, plen = sizeof(V1_PREFIX) - 1;
	int		 af;

	/* find the LF; a NUL or a lone CR before it is not a v1 line */
	for (end = 0; end < len && end < PROXY_V1_MAX; end++) {
		if (buf[end] == '\n')
			break;
		if (buf[end] == '\0' || (buf[end] == '\r' &&
		    end + 1 < len && buf[end + 1] != '\n'))
			return fail(why, "v1 header has a stray control octet");
	}
	if (end == PROXY_V1_MAX)
		return fail(why, "v1 header longer than 107 octets");
	if (end == len)
		return PROXY_NEED_MORE;
	if (end == 0 || buf[end - 1] != '\r')
		return fail(why, "v1 header not ended by CRLF");
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = 1;
	hdr->len = end + 1;
	p = line + plen;
	n = end - 1 - plen;	/* the text between "PROXY " and CRLF */
	/* "UNKNOWN" may be followed by anything: the receiver ignores it */
	if (n >= 7 && memcmp(p, "UNKNOWN", 7) == 0 &&
	    (n == 7 || p[7] == ' ')) {
		hdr->local = 1;
		return PROXY_DONE;
	}
	if (n > 5 && memcmp(p, "TCP4 ", 5) == 0)
		af = AF_INET;
	else if (n > 5 && memcmp(p, "TCP6 ", 5) == 0)
		af = AF_INET6;
	else
		return fail(why, "v1 header has an unknown protocol");
	return v1_fields(p + 5, n - 5, af, hdr, why);
}

static unsigned
be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

/* the TLVs after the addresses: each must fit, then they are skipped */
static int
v2_tlvs_ok(const unsigned char *p, size_t n)
{
	size_t	 tl;

	while (n > 0) {
		if (n < 3)
			return 0;
		tl = be16(p + 1);
		if (tl > n - 3)
			return 0;
		p += 3 + tl;
		n -= 3 + tl;
	}
	return 1;
}

static void
v2_inet(const unsigned char *a, struct proxy_hdr *hdr)
{
	struct sockaddr_in	*s = (struct sockaddr_in *)&hdr->src;
	struct sockaddr_in	*d = (struct sockaddr_in *)&hdr->dst;

	s->sin_family = d->sin_family = AF_INET;
	memcpy(&s->sin_addr, a, 4);
	memcpy(&d->sin_addr, a + 4, 4);
	/* the wire order is network order already */
	memcpy(&s->sin_port, a + 8, 2);
	memcpy(&d->sin_port, a + 10, 2);
	hdr->srclen = hdr->dstlen = sizeof(*s);
}

static void
v2_inet6(const unsigned char *a, struct proxy_hdr *hdr)
{
	struct sockaddr_in6	*s = (struct sockaddr_in6 *)&hdr->src;
	struct sockaddr_in6	*d = (struct sockaddr_in6 *)&hdr->dst;

	s->sin6_family = d->sin6_family = AF_INET6;
	memcpy(&s->sin6_addr, a, 16);
	memcpy(&d->sin6_addr, a + 16, 16);
	memcpy(&s->sin6_port, a + 32, 2);
	memcpy(&d->sin6_port, a + 34, 2);
	hdr->srclen = hdr->dstlen = sizeof(*s);
}

static enum proxy_result
parse_v2(const unsigned char *buf, size_t len, struct proxy_hdr *hdr,
    const char **why)
{
	size_t		 plen, alen;
	unsigned	 cmd, fam, proto;

	if (len < PROXY_V2_FIXED)
		return PROXY_NEED_MORE;
	if ((buf[12] >> 4) != 2)
		return fail(why, "v2 header has an unknown version");
	cmd = buf[12] & 0x0f;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return fail(why, "v2 header has an unknown command");
	/* bounded before waiting for it: a huge length is refused at once */
	plen = be16(buf + 14);
	if (plen > PROXY_V2_MAX_PAYLOAD)
		return fail(why, "v2 header longer than 1024 octets");
	if (len < PROXY_V2_FIXED + plen)
		return PROXY_NEED_MORE;
	memset(hdr, 0, sizeof(*hdr));
	hdr->version = 2;
	hdr->len = PROXY_V2_FIXED + plen;
	fam = buf[13] >> 4;
	proto = buf[13] & 0x0f;
	/* LOCAL: a balancer's own connection (health check); no addresses */
	if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC) {
		hdr->local = 1;
		return PROXY_DONE;
	}
	if (proto != V2_PROTO_STREAM)
		return fail(why, "v2 header for a transport other than TCP");
	if (fam == V2_FAM_INET)
		alen = V2_INET_LEN;
	else if (fam == V2_FAM_INET6)
		alen = V2_INET6_LEN;
	else if (fam == V2_FAM_UNIX)
		return fail(why, "v2 header with a unix socket address");
	else
		return fail(why, "v2 header has an unknown family");
	if (plen < alen)
		return fail(why, "v2 header too short for its addresses");
	if (!v2_tlvs_ok(buf + PROXY_V2_FIXED + alen, plen - alen))
		return fail(why, "v2 header has a malformed TLV");
	if (fam == V2_FAM_INET)
		v2_inet(buf + PROXY_V2_FIXED, hdr);
	else
		v2_inet6(buf + PROXY_V2_FIXED, hdr);
	return PROXY_DONE;
}
