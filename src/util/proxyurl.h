/*
 * proxyurl - the value of an upstream's "proxy" key:
 * "socks5://[user@]host:port" or "http://[user@]host:port", an IPv6
 * literal in brackets.
 *
 * Contract: pure.  proxyurl_parse() returns NULL or a static error
 * string; "" parses as PROXY_NONE (no proxy).  The URL carries no
 * password (it comes from proxy_password_file), no path and no query.
 */
#ifndef GW_PROXYURL_H
#define GW_PROXYURL_H

#include <stddef.h>

/* RFC 1929 carries user and password in one octet of length each */
#define PROXY_USER_MAX	256
#define PROXY_HOST_MAX	256

enum proxy_kind {
	PROXY_NONE = 0,
	PROXY_SOCKS5,
	PROXY_HTTP
};

struct proxy_url {
	enum proxy_kind	 kind;
	char		 user[PROXY_USER_MAX];	/* "": no login */
	char		 host[PROXY_HOST_MAX];	/* without brackets */
	unsigned	 port;
};

/* proxyurl_parse - "" (none) or a proxy URL into *p */
const char *proxyurl_parse(const char *s, struct proxy_url *p);
/*
 * proxyurl_format - the URL back as text ("" for none); -1 if it does
 * not fit.  It holds no secret: fit for logs ("via=...").
 */
int	proxyurl_format(const struct proxy_url *p, char *buf, size_t len);
/* proxyurl_scheme - "socks5", "http" or "none" */
const char *proxyurl_scheme(enum proxy_kind);

#endif
