/*
 * addr - "HOST:PORT" and "[V6]:PORT" parsing, CIDR parsing and matching,
 * and socket addresses as text.
 *
 * Only numeric conversions (inet_pton/inet_ntop) are used: no DNS, no
 * sockets, so the functions are safe to call from config parsing and
 * from inside the event loop alike.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "util/addr.h"
#include "util/str.h"

/* room for the longest IPv6 text, including a dotted IPv4 tail */
#define ADDR_TEXT_MAX	INET6_ADDRSTRLEN

static int	host_char_ok(int);
static const char *parse_port(const char *, unsigned short *);
static int	prefix_match(const unsigned char *, const unsigned char *,
		    unsigned);

static int
host_char_ok(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

static const char *
parse_port(const char *s, unsigned short *port)
{
	long long	 v;

	if (*s == '\0')
		return "missing port";
	if (str_tonum(s, 1, 65535, &v) != NULL)
		return "invalid port (1-65535)";
	*port = (unsigned short)v;
	return NULL;
}

/* addr_parse_hostport - "1.2.3.4:25", "[::1]:25", "name:25" */
const char *
addr_parse_hostport(const char *s, struct hostport *hp)
{
	struct hostport	 tmp;
	struct in6_addr	 in6;
	const char	*end, *err;
	size_t		 hlen, i;

	if (s[0] == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return "missing ']' after IPv6 address";
		hlen = (size_t)(end - (s + 1));
		if (hlen == 0)
			return "missing host";
		if (hlen >= sizeof(tmp.host))
			return "host too long";
		memcpy(tmp.host, s + 1, hlen);
		tmp.host[hlen] = '\0';
		/* brackets are only for IPv6 literals (RFC 3986 IP-literal) */
		if (inet_pton(AF_INET6, tmp.host, &in6) != 1)
			return "invalid IPv6 address in brackets";
		if (end[1] != ':')
			return "missing ':' and port after ']'";
		end++;
	} else {
		if ((end = strrchr(s, ':')) == NULL)
			return "missing ':' and port";
		hlen = (size_t)(end - s);
		/*
		 * "::1:25" could mean [::1]:25 or [::]:125 and friends;
		 * guessing would bind or connect somewhere unintended.
		 */
		if (memchr(s, ':', hlen) != NULL)
			return "IPv6 address needs brackets: [addr]:port";
		if (hlen == 0)
			return "missing host";
		if (hlen >= sizeof(tmp.host))
			return "host too long";
		/* the name ends up in logs and DNS queries: keep it plain */
		for (i = 0; i < hlen; i++)
			if (!host_char_ok((unsigned char)s[i]))
				return "invalid character in host";
		memcpy(tmp.host, s, hlen);
		tmp.host[hlen] = '\0';
	}
	if ((err = parse_port(end + 1, &tmp.port)) != NULL)
		return err;
	*hp = tmp;
	return NULL;
}

/* cidr_parse - "10.0.0.0/8", "::1/128", or a bare address (host route) */
const char *
cidr_parse(const char *s, struct cidr *c)
{
	struct cidr	 tmp;
	char		 text[ADDR_TEXT_MAX];
	const char	*slash;
	long long	 plen;
	size_t		 alen, nbytes, i;
	unsigned	 maxbits;

	memset(&tmp, 0, sizeof(tmp));
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0)
		return "missing address";
	if (alen >= sizeof(text))
		return "invalid address";
	memcpy(text, s, alen);
	text[alen] = '\0';
	if (inet_pton(AF_INET, text, tmp.addr) == 1) {
		tmp.family = AF_INET;
		maxbits = 32;
	} else if (inet_pton(AF_INET6, text, tmp.addr) == 1) {
		tmp.family = AF_INET6;
		maxbits = 128;
	} else
		return "invalid address";

	if (slash == NULL)
		plen = maxbits;
	else if (slash[1] == '\0')
		return "missing prefix length after '/'";
	else if (str_tonum(slash + 1, 0, 128, &plen) != NULL)
		return "invalid prefix length";
	if (plen > (long long)maxbits)
		return "prefix length too large";
	tmp.prefix = (unsigned)plen;

	/*
	 * "10.0.0.1/8" is refused instead of being masked to 10.0.0.0/8:
	 * the operator most likely meant a host or a different prefix, and
	 * quietly widening an access list is the wrong way to find out.
	 */
	nbytes = maxbits / 8;
	for (i = 0; i < nbytes; i++) {
		unsigned	 bit0 = (unsigned)i * 8, keep;

		if (bit0 >= tmp.prefix)
			keep = 0;
		else if (tmp.prefix - bit0 >= 8)
			keep = 8;
		else
			keep = tmp.prefix - bit0;
		if ((tmp.addr[i] & (0xffu >> keep)) != 0)
			return "host bits set (address does not match prefix)";
	}
	*c = tmp;
	return NULL;
}

/* prefix_match - do the first bits bits of a and b agree? */
static int
prefix_match(const unsigned char *a, const unsigned char *b, unsigned bits)
{
	unsigned	 whole = bits / 8, rest = bits % 8;
	unsigned char	 mask;

	if (memcmp(a, b, whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xffu << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

/* cidr_match - 1 if sa is inside c; IPv4-mapped IPv6 matches v4 */
int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	struct sockaddr_in		 s4;
	struct sockaddr_in6		 s6;

	if (sa == NULL)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		if (c->family != AF_INET)
			return 0;
		/* copied: a caller's sockaddr may be less aligned */
		memcpy(&s4, sa, sizeof(s4));
		sin = &s4;
		return prefix_match((const unsigned char *)&sin->sin_addr,
		    c->addr, c->prefix);
	case AF_INET6:
		memcpy(&s6, sa, sizeof(s6));
		sin6 = &s6;
		if (c->family == AF_INET6)
			return prefix_match(sin6->sin6_addr.s6_addr, c->addr,
			    c->prefix);
		/*
		 * A dual-stack listener sees IPv4 clients as ::ffff:a.b.c.d;
		 * an "allow = 127.0.0.0/8" must still admit them.
		 */
		if (c->family == AF_INET &&
		    IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			return prefix_match(sin6->sin6_addr.s6_addr + 12,
			    c->addr, c->prefix);
		return 0;
	default:
		return 0;
	}
}

/* addr_ntop - numeric address text; "?" on failure */
const char *
addr_ntop(const struct sockaddr *sa, char *buf, size_t len)
{
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6;
	const char		*r = NULL;

	if (sa != NULL && len > 0 && len <= (size_t)(socklen_t)-1) {
		if (sa->sa_family == AF_INET) {
			memcpy(&s4, sa, sizeof(s4));
			r = inet_ntop(AF_INET, &s4.sin_addr, buf,
			    (socklen_t)len);
		} else if (sa->sa_family == AF_INET6) {
			memcpy(&s6, sa, sizeof(s6));
			r = inet_ntop(AF_INET6, &s6.sin6_addr, buf,
			    (socklen_t)len);
		}
	}
	if (r != NULL)
		return r;
	if (len >= 2) {
		buf[0] = '?';
		buf[1] = '\0';
		return buf;
	}
	return "?";
}

/* addr_ntop_port - "127.0.0.1:25" / "[::1]:25"; "?" on failure */
const char *
addr_ntop_port(const struct sockaddr *sa, char *buf, size_t len)
{
	char		 host[ADDR_TEXT_MAX];
	unsigned	 port;
	int		 n;

	if (sa == NULL)
		return addr_ntop(sa, buf, len);
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in	 s4;

		memcpy(&s4, sa, sizeof(s4));
		port = ntohs(s4.sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6	 s6;

		memcpy(&s6, sa, sizeof(s6));
		port = ntohs(s6.sin6_port);
	} else
		return addr_ntop(NULL, buf, len);
	if (addr_ntop(sa, host, sizeof(host)) == NULL || strcmp(host, "?") == 0)
		return addr_ntop(NULL, buf, len);
	n = snprintf(buf, len, sa->sa_family == AF_INET6 ? "[%s]:%u" :
	    "%s:%u", host, port);
	/* a cut "[::1]:2" would name a different port: say "?" instead */
	if (n < 0 || (size_t)n >= len)
		return addr_ntop(NULL, buf, len);
	return buf;
}

/* addr_key - IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4 */
int
addr_key(const struct sockaddr *sa, struct addr_key *k)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*a;
	static const unsigned char	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0,
					    0, 0, 0, 0xff, 0xff };

	memset(k, 0, sizeof(*k));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		memcpy(k->b, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		a = (const unsigned char *)&sin6->sin6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(k->b, a + 12, 4);
			return 0;
		}
		memcpy(k->b, a, 8);
		k->v6 = 1;
		return 0;
	default:
		return -1;
	}
}

/* addr_key_name - "192.0.2.1" or "2001:db8::/64" */
const char *
addr_key_name(const struct addr_key *k, char *buf, size_t len)
{
	struct in6_addr	 a6;
	char		 tmp[INET6_ADDRSTRLEN];

	if (!k->v6) {
		if (inet_ntop(AF_INET, k->b, buf, (socklen_t)len) == NULL)
			(void)snprintf(buf, len, "?");
		return buf;
	}
	memset(&a6, 0, sizeof(a6));
	memcpy(&a6, k->b, 8);
	if (inet_ntop(AF_INET6, &a6, tmp, sizeof(tmp)) == NULL ||
	    snprintf(buf, len, "%s/64", tmp) >= (int)len)
		(void)snprintf(buf, len, "?");
	return buf;
}
