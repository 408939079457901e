/*
 * proxyproto - the PROXY protocol header a load balancer sends first
 * (HAProxy's doc/proxy-protocol.txt, versions 1 and 2).
 *
 * Contract: proxyproto_parse() is pure: no I/O, no logging, no allocation.
 * It is given the octets received so far and says one of:
 *   PROXY_NEED_MORE  every octet given belongs to the header, which is
 *                    not complete yet (so the caller may consume them);
 *   PROXY_DONE       the header is the first hdr->len octets; anything
 *                    after it is the client's (a TLS ClientHello, SMTP);
 *   PROXY_ERROR      not a header this listener takes; *why says why.
 * A v1 line is at most 107 octets with its CRLF; a v2 header at most
 * PROXY_V2_MAX_PAYLOAD octets after its 16-octet fixed part.  A v1
 * "UNKNOWN", a v2 LOCAL command and a v2 AF_UNSPEC address all mean "use
 * the connection's own addresses" (hdr->local = 1).  v2 AF_UNIX and
 * datagram transports are refused.  TLVs are checked to be well formed
 * and then skipped.
 */
#ifndef GW_PROXYPROTO_H
#define GW_PROXYPROTO_H

#include <stddef.h>
#include <sys/socket.h>

#define PROXY_ACCEPT_V1		0x1
#define PROXY_ACCEPT_V2		0x2

#define PROXY_V1_MAX		107	/* the spec's bound, CRLF included */
#define PROXY_V2_FIXED		16	/* signature, ver/cmd, family, length */
#define PROXY_V2_MAX_PAYLOAD	1024	/* addresses and TLVs: our bound */
/* the most a caller ever needs to hold */
#define PROXY_MAX_LEN		(PROXY_V2_FIXED + PROXY_V2_MAX_PAYLOAD)

enum proxy_result {
	PROXY_NEED_MORE = 0,
	PROXY_DONE,
	PROXY_ERROR
};

struct proxy_hdr {
	size_t			 len;		/* octets of the header */
	int			 version;	/* 1 or 2 */
	int			 local;		/* use the real addresses */
	struct sockaddr_storage	 src;		/* the client: unless local */
	struct sockaddr_storage	 dst;		/* what it connected to */
	socklen_t		 srclen;
	socklen_t		 dstlen;
};

/*
 * proxyproto_parse - look at buf[0..len) for a header of a version in
 * accept (PROXY_ACCEPT_*); hdr is filled only on PROXY_DONE, *why only
 * on PROXY_ERROR (a static string).
 */
enum proxy_result proxyproto_parse(const unsigned char *buf, size_t len,
	    int accept, struct proxy_hdr *hdr, const char **why);

#endif
