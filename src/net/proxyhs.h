/*
 * proxyhs - the client side of a proxy handshake as a pure machine:
 * SOCKS5 (RFC 1928) with no authentication or username/password
 * (RFC 1929), and HTTP CONNECT (RFC 9110 section 9.3.6) with Basic
 * credentials.
 *
 * Contract: no I/O, no logging, no allocation.  proxyhs_init() takes the
 * proxy's kind and login and the destination; proxyhs_start() gives the
 * first request; proxyhs_input() is given the octets received so far and
 * says one of:
 *   PROXYHS_MORE  *used octets were consumed (a reply part taken), the
 *                 rest is not complete yet; out may hold the next request;
 *   PROXYHS_DONE  the tunnel is open; the first *used octets were the
 *                 proxy's, anything after them is the destination's;
 *   PROXYHS_FAIL  *cls and why say why: FAIL_PROXY_AUTH (no acceptable
 *                 method, login refused, HTTP 407 or 401), FAIL_PROXY_REFUSED
 *                 (SOCKS reply code other than 0, HTTP status other than
 *                 2xx), FAIL_PROTOCOL (not the protocol at all).
 * Every reply is bounded: SOCKS5 by its own lengths, HTTP by
 * PROXYHS_LINE_MAX per line and PROXYHS_LINES_MAX lines.  A request
 * carrying the password is flagged (out->secret) so that the caller sends
 * it with io_write_secret; proxyhs_wipe() clears the copy held here.
 * The destination goes to the proxy as a name (SOCKS5 ATYP 3) unless it
 * is an IP literal, so the proxy resolves it.
 */
#ifndef GW_PROXYHS_H
#define GW_PROXYHS_H

#include <stddef.h>
#include "util/fail.h"
#include "util/proxyurl.h"

#define PROXYHS_OUT_MAX		1200	/* CONNECT with Basic credentials */
#define PROXYHS_LINE_MAX	1024
#define PROXYHS_LINES_MAX	64
#define PROXYHS_SECRET_MAX	256	/* RFC 1929: 255 octets */

enum proxyhs_result {
	PROXYHS_MORE = 0,
	PROXYHS_DONE,
	PROXYHS_FAIL
};

struct proxyhs_out {
	unsigned char	 buf[PROXYHS_OUT_MAX];
	size_t		 len;		/* 0: nothing to send */
	int		 secret;	/* holds the password */
};

struct proxyhs {
	enum proxy_kind	 kind;
	int		 state;
	char		 user[PROXY_USER_MAX];
	char		 pass[PROXYHS_SECRET_MAX];
	char		 host[PROXY_HOST_MAX];
	unsigned	 port;
	unsigned	 lines;		/* HTTP lines read */
	int		 status;	/* HTTP status code */
	char		 reason[64];	/* HTTP reason phrase, printable */
};

/*
 * proxyhs_init - kind and login (user "" for none, pass NULL or "") and
 * the destination.  NULL, or why the values cannot be sent.
 */
const char *proxyhs_init(struct proxyhs *, enum proxy_kind, const char *user,
	    const char *pass, const char *host, unsigned port);
/* proxyhs_start - the first request into out; -1 if it does not fit */
int	proxyhs_start(struct proxyhs *, struct proxyhs_out *out);
/* proxyhs_input - see above; out->len is 0 unless a request follows */
enum proxyhs_result proxyhs_input(struct proxyhs *, const unsigned char *in,
	    size_t len, size_t *used, struct proxyhs_out *out,
	    enum gw_fail *cls, char *why, size_t wlen);
/* proxyhs_wipe - forget the password */
void	proxyhs_wipe(struct proxyhs *);

#endif
