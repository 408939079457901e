/*
 * proxyurl.c - parse and format a proxy URL (see proxyurl.h).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "util/addr.h"
#include "util/proxyurl.h"
#include "util/str.h"

static const char *user_check(const char *, size_t);

/*
 * The user goes into an RFC 1929 request and a Basic credential: printable
 * ASCII only, and no ':' (Basic splits user and password at the first one).
 */
static const char *
user_check(const char *u, size_t len)
{
	size_t	 i;

	if (len == 0)
		return "empty user name before '@'";
	if (len >= PROXY_USER_MAX)
		return "user name longer than 255 characters";
	for (i = 0; i < len; i++) {
		if (u[i] <= ' ' || u[i] > '~')
			return "user name with a space or control character";
		if (u[i] == ':')
			return "user name with ':' (the password belongs in "
			    "proxy_password_file)";
	}
	return NULL;
}

/* proxyurl_parse - "" or "socks5://[user@]host:port", "http://..." */
const char *
proxyurl_parse(const char *s, struct proxy_url *p)
{
	struct proxy_url	 t;
	struct hostport		 hp;
	const char		*rest, *at, *e;

	memset(&t, 0, sizeof(t));
	if (*s == '\0') {
		*p = t;
		return NULL;
	}
	if (strncasecmp(s, "socks5://", 9) == 0) {
		t.kind = PROXY_SOCKS5;
		rest = s + 9;
	} else if (strncasecmp(s, "http://", 7) == 0) {
		t.kind = PROXY_HTTP;
		rest = s + 7;
	} else if (strstr(s, "://") != NULL)
		return "scheme must be socks5:// or http://";
	else
		return "must be socks5://[user@]host:port or "
		    "http://[user@]host:port";
	if (strchr(rest, '/') != NULL || strchr(rest, '?') != NULL ||
	    strchr(rest, '#') != NULL)
		return "a proxy URL has no path, query or fragment";
	if ((at = strrchr(rest, '@')) != NULL) {
		if ((e = user_check(rest, (size_t)(at - rest))) != NULL)
			return e;
		memcpy(t.user, rest, (size_t)(at - rest));
		t.user[at - rest] = '\0';
		rest = at + 1;
	}
	if (*rest == '\0')
		return "missing host";
	if ((e = addr_parse_hostport(rest, &hp)) != NULL)
		return e;
	if (str_copy(t.host, hp.host, sizeof(t.host)) == -1)
		return "host too long";
	t.port = hp.port;
	*p = t;
	return NULL;
}

int
proxyurl_format(const struct proxy_url *p, char *buf, size_t len)
{
	int	 n;
	int	 v6 = strchr(p->host, ':') != NULL;

	if (len == 0)
		return -1;
	if (p->kind == PROXY_NONE) {
		buf[0] = '\0';
		return 0;
	}
	n = snprintf(buf, len, "%s://%s%s%s%s%s:%u", proxyurl_scheme(p->kind),
	    p->user, p->user[0] != '\0' ? "@" : "", v6 ? "[" : "", p->host,
	    v6 ? "]" : "", p->port);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return 0;
}

const char *
proxyurl_scheme(enum proxy_kind k)
{
	switch (k) {
	case PROXY_SOCKS5:
		return "socks5";
	case PROXY_HTTP:
		return "http";
	default:
		return "none";
	}
}
