/*
 * addr - "HOST:PORT" and "[V6]:PORT" parsing, CIDR parsing and matching,
 * and socket addresses as text.
 *
 * Contract: pure functions; no DNS, no sockets.  Parsers return NULL or a
 * static error string.
 */
#ifndef GW_ADDR_H
#define GW_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

#define ADDR_HOST_MAX	256

struct hostport {
	char		host[ADDR_HOST_MAX];	/* without brackets */
	unsigned short	port;
};

struct cidr {
	int		family;		/* AF_INET or AF_INET6 */
	unsigned char	addr[16];	/* network order, masked */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

/* addr_parse_hostport - "1.2.3.4:25", "[::1]:25", "name:25"; port 1..65535 */
const char *addr_parse_hostport(const char *s, struct hostport *hp);
/*
 * cidr_parse - "127.0.0.0/8", "::1/128", or a bare address (a host route).
 * Host bits set beyond the prefix are an error (a likely typo).
 */
const char *cidr_parse(const char *s, struct cidr *c);
/* cidr_match - 1 if sa is inside c; an IPv4-mapped IPv6 address matches v4 */
int	cidr_match(const struct cidr *c, const struct sockaddr *sa);
/* addr_ntop - address only ("127.0.0.1", "::1"); "?" on failure */
const char *addr_ntop(const struct sockaddr *sa, char *buf, size_t len);
/* addr_ntop_port - "127.0.0.1:25" / "[::1]:25" */
const char *addr_ntop_port(const struct sockaddr *sa, char *buf, size_t len);

/*
 * The key of a client in per-address tables (AUTH failures, rate
 * limits): the address itself for IPv4 (and IPv4-mapped IPv6), its /64
 * for IPv6, since one host on an IPv6 LAN commonly holds a whole /64 and
 * rotates addresses inside it.
 */
struct addr_key {
	unsigned char	 b[8];	/* IPv4 in the first 4, or an IPv6 /64 */
	int		 v6;
};
/* "192.0.2.1" or "2001:db8:1:2::/64" */
#define ADDR_KEY_NAME_MAX	64

/* addr_key - the key of sa; -1 for a family other than IPv4/IPv6 */
int	addr_key(const struct sockaddr *sa, struct addr_key *k);
/* addr_key_name - the key for a log line, as in ADDR_KEY_NAME_MAX */
const char *addr_key_name(const struct addr_key *k, char *buf, size_t len);

#endif
