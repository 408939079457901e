/*
 * proxyhs.c - SOCKS5 and HTTP CONNECT handshakes, pure (see proxyhs.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "net/proxyhs.h"
#include "util/base64.h"
#include "util/str.h"

enum phs_state {
	PHS_NEW = 0,
	PHS_S5_METHOD,		/* greeting sent, method choice awaited */
	PHS_S5_AUTH,		/* RFC 1929 request sent */
	PHS_S5_CONNECT,		/* CONNECT sent */
	PHS_HTTP_STATUS,	/* CONNECT sent, status line awaited */
	PHS_HTTP_HEADERS,	/* 2xx read, headers up to the blank line */
	PHS_DONE,
	PHS_FAILED
};

#define S5_VER		0x05
#define S5_NOAUTH	0x00
#define S5_USERPASS	0x02
#define S5_NONE		0xff

static const char *const s5_reply_text[] = {
	[1] = "general SOCKS server failure",
	[2] = "connection not allowed by ruleset",
	[3] = "network unreachable",
	[4] = "host unreachable",
	[5] = "connection refused",
	[6] = "TTL expired",
	[7] = "command not supported",
	[8] = "address type not supported",
};

static enum proxyhs_result phs_fail(struct proxyhs *, enum gw_fail *,
		    enum gw_fail, char *, size_t, const char *, ...)
		    __attribute__((format(printf, 6, 7)));
static int	s5_greeting(struct proxyhs *, struct proxyhs_out *);
static int	s5_auth(struct proxyhs *, struct proxyhs_out *);
static int	s5_connect(struct proxyhs *, struct proxyhs_out *);
static int	http_connect(struct proxyhs *, struct proxyhs_out *);
static int	field_ok(const char *, size_t);
static enum proxyhs_result s5_input(struct proxyhs *, const unsigned char *,
		    size_t, size_t *, struct proxyhs_out *, enum gw_fail *,
		    char *, size_t);
static enum proxyhs_result s5_reply(struct proxyhs *, const unsigned char *,
		    size_t, size_t *, enum gw_fail *, char *, size_t);
static enum proxyhs_result http_input(struct proxyhs *, const unsigned char *,
		    size_t, size_t *, enum gw_fail *, char *, size_t);
static enum proxyhs_result http_line(struct proxyhs *, const char *, size_t,
		    enum gw_fail *, char *, size_t);

/* printable ASCII, nothing a request line or header could be split at */
static int
field_ok(const char *s, size_t max)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (i >= max || s[i] < ' ' || s[i] > '~')
			return 0;
	return 1;
}

const char *
proxyhs_init(struct proxyhs *h, enum proxy_kind kind, const char *user,
    const char *pass, const char *host, unsigned port)
{
	memset(h, 0, sizeof(*h));
	if (kind != PROXY_SOCKS5 && kind != PROXY_HTTP)
		return "no proxy kind";
	if (user == NULL)
		user = "";
	if (pass == NULL)
		pass = "";
	/* RFC 1929: one octet of length each, at least one octet */
	if (!field_ok(user, 255) || !field_ok(pass, 255) ||
	    strchr(user, ':') != NULL)
		return "proxy user or password unfit to send";
	if (user[0] != '\0' && pass[0] == '\0')
		return "proxy user without a password";
	if (!field_ok(host, 255) || host[0] == '\0' || strchr(host, ' '))
		return "destination host unfit to send";
	if (port == 0 || port > 65535)
		return "destination port out of range";
	h->kind = kind;
	(void)str_copy(h->user, user, sizeof(h->user));
	(void)str_copy(h->pass, pass, sizeof(h->pass));
	(void)str_copy(h->host, host, sizeof(h->host));
	h->port = port;
	return NULL;
}

void
proxyhs_wipe(struct proxyhs *h)
{
	explicit_bzero(h->pass, sizeof(h->pass));
}

int
proxyhs_start(struct proxyhs *h, struct proxyhs_out *out)
{
	out->len = 0;
	out->secret = 0;
	if (h->state != PHS_NEW)
		return -1;
	if (h->kind == PROXY_SOCKS5) {
		h->state = PHS_S5_METHOD;
		return s5_greeting(h, out);
	}
	h->state = PHS_HTTP_STATUS;
	return http_connect(h, out);
}

static enum proxyhs_result
phs_fail(struct proxyhs *h, enum gw_fail *cls, enum gw_fail c, char *why,
    size_t wlen, const char *fmt, ...)
{
	va_list	 ap;

	h->state = PHS_FAILED;
	*cls = c;
	if (wlen > 0) {
		va_start(ap, fmt);
		(void)vsnprintf(why, wlen, fmt, ap);
		va_end(ap);
	}
	return PROXYHS_FAIL;
}

/* the methods we can do: username/password only with a login */
static int
s5_greeting(struct proxyhs *h, struct proxyhs_out *out)
{
	unsigned char	*b = out->buf;

	b[0] = S5_VER;
	if (h->user[0] != '\0') {
		b[1] = 2;
		b[2] = S5_NOAUTH;
		b[3] = S5_USERPASS;
		out->len = 4;
	} else {
		b[1] = 1;
		b[2] = S5_NOAUTH;
		out->len = 3;
	}
	return 0;
}

/* RFC 1929: VER 1, ULEN, UNAME, PLEN, PASSWD */
static int
s5_auth(struct proxyhs *h, struct proxyhs_out *out)
{
	size_t	 ul = strlen(h->user), pl = strlen(h->pass);

	out->buf[0] = 0x01;
	out->buf[1] = (unsigned char)ul;
	memcpy(out->buf + 2, h->user, ul);
	out->buf[2 + ul] = (unsigned char)pl;
	memcpy(out->buf + 3 + ul, h->pass, pl);
	out->len = 3 + ul + pl;
	out->secret = 1;
	return 0;
}

/* CONNECT: an IP literal as an address, anything else as a name */
static int
s5_connect(struct proxyhs *h, struct proxyhs_out *out)
{
	unsigned char	*b = out->buf;
	size_t		 n, hl;

	b[0] = S5_VER;
	b[1] = 0x01;		/* CONNECT */
	b[2] = 0x00;
	if (inet_pton(AF_INET, h->host, b + 4) == 1) {
		b[3] = 0x01;
		n = 4 + 4;
	} else if (inet_pton(AF_INET6, h->host, b + 4) == 1) {
		b[3] = 0x04;
		n = 4 + 16;
	} else {
		hl = strlen(h->host);
		b[3] = 0x03;
		b[4] = (unsigned char)hl;
		memcpy(b + 5, h->host, hl);
		n = 5 + hl;
	}
	b[n++] = (unsigned char)(h->port >> 8);
	b[n++] = (unsigned char)(h->port & 0xff);
	out->len = n;
	out->secret = 0;
	return 0;
}

/* CONNECT host:port HTTP/1.1, Host, and Basic credentials with a login */
static int
http_connect(struct proxyhs *h, struct proxyhs_out *out)
{
	char		 auth[PROXY_USER_MAX + PROXYHS_SECRET_MAX + 1];
	char		 b64[((sizeof(auth) + 2) / 3) * 4 + 1];
	char		 hp[PROXY_HOST_MAX + 16];
	ssize_t		 bl = 0;
	int		 n, v6 = strchr(h->host, ':') != NULL;

	(void)snprintf(hp, sizeof(hp), "%s%s%s:%u", v6 ? "[" : "", h->host,
	    v6 ? "]" : "", h->port);
	if (h->user[0] != '\0') {
		n = snprintf(auth, sizeof(auth), "%s:%s", h->user, h->pass);
		if (n < 0 || (size_t)n >= sizeof(auth))
			return -1;
		bl = base64_encode(auth, (size_t)n, b64, sizeof(b64));
		explicit_bzero(auth, sizeof(auth));
		if (bl < 0)
			return -1;
	}
	n = snprintf((char *)out->buf, sizeof(out->buf),
	    "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s%.*s%s\r\n", hp, hp,
	    bl > 0 ? "Proxy-Authorization: Basic " : "", (int)bl, b64,
	    bl > 0 ? "\r\n" : "");
	explicit_bzero(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= sizeof(out->buf)) {
		explicit_bzero(out->buf, sizeof(out->buf));
		return -1;
	}
	out->len = (size_t)n;
	out->secret = bl > 0;
	return 0;
}

enum proxyhs_result
proxyhs_input(struct proxyhs *h, const unsigned char *in, size_t len,
    size_t *used, struct proxyhs_out *out, enum gw_fail *cls, char *why,
    size_t wlen)
{
	*used = 0;
	out->len = 0;
	out->secret = 0;
	*cls = FAIL_NONE;
	switch (h->state) {
	case PHS_S5_METHOD:
	case PHS_S5_AUTH:
	case PHS_S5_CONNECT:
		return s5_input(h, in, len, used, out, cls, why, wlen);
	case PHS_HTTP_STATUS:
	case PHS_HTTP_HEADERS:
		return http_input(h, in, len, used, cls, why, wlen);
	case PHS_DONE:
		return PROXYHS_DONE;
	default:
		return phs_fail(h, cls, FAIL_INTERNAL, why, wlen,
		    "proxy handshake not running");
	}
}

/*
 * SOCKS5 is lockstep: a reply comes only after our request, so octets
 * behind a method or login reply are refused; behind the CONNECT reply
 * they are the destination's (a banner sent at once).
 */
static enum proxyhs_result
s5_input(struct proxyhs *h, const unsigned char *in, size_t len, size_t *used,
    struct proxyhs_out *out, enum gw_fail *cls, char *why, size_t wlen)
{
	if (len < 2)
		return PROXYHS_MORE;
	switch (h->state) {
	case PHS_S5_METHOD:
		if (in[0] != S5_VER)
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "not a SOCKS5 proxy (version %u)", in[0]);
		if (len > 2)
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "SOCKS5 proxy sent data out of turn");
		*used = 2;
		if (in[1] == S5_NOAUTH) {
			h->state = PHS_S5_CONNECT;
			(void)s5_connect(h, out);
			return PROXYHS_MORE;
		}
		if (in[1] == S5_USERPASS && h->user[0] != '\0') {
			h->state = PHS_S5_AUTH;
			(void)s5_auth(h, out);
			return PROXYHS_MORE;
		}
		return phs_fail(h, cls, FAIL_PROXY_AUTH, why, wlen,
		    "SOCKS5 proxy accepts none of our authentication "
		    "methods (%s; it answered 0x%02x)", h->user[0] != '\0' ?
		    "none, username/password" : "none", in[1]);
	case PHS_S5_AUTH:
		/* RFC 1929 says version 1; some proxies answer 5 */
		if (in[0] != 0x01 && in[0] != S5_VER)
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "bad SOCKS5 login reply (version %u)", in[0]);
		if (in[1] != 0x00)
			return phs_fail(h, cls, FAIL_PROXY_AUTH, why, wlen,
			    "SOCKS5 proxy refused the login of user %s "
			    "(status %u)", h->user, in[1]);
		if (len > 2)
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "SOCKS5 proxy sent data out of turn");
		*used = 2;
		h->state = PHS_S5_CONNECT;
		(void)s5_connect(h, out);
		return PROXYHS_MORE;
	default:
		return s5_reply(h, in, len, used, cls, why, wlen);
	}
}

/* the CONNECT reply: VER REP RSV ATYP BND.ADDR BND.PORT */
static enum proxyhs_result
s5_reply(struct proxyhs *h, const unsigned char *in, size_t len, size_t *used,
    enum gw_fail *cls, char *why, size_t wlen)
{
	size_t	 need;

	if (in[0] != S5_VER)
		return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
		    "bad SOCKS5 reply (version %u)", in[0]);
	if (in[1] != 0x00)
		return phs_fail(h, cls, FAIL_PROXY_REFUSED, why, wlen,
		    "SOCKS5 proxy refused to connect to %s:%u: %s (%u)",
		    h->host, h->port, in[1] < 9 ? s5_reply_text[in[1]] :
		    "unknown reply code", in[1]);
	if (len < 5)
		return PROXYHS_MORE;
	switch (in[3]) {
	case 0x01:
		need = 4 + 4 + 2;
		break;
	case 0x04:
		need = 4 + 16 + 2;
		break;
	case 0x03:
		need = 4 + 1 + (size_t)in[4] + 2;
		break;
	default:
		return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
		    "bad SOCKS5 reply (address type %u)", in[3]);
	}
	if (in[2] != 0x00)
		return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
		    "bad SOCKS5 reply (reserved octet %u)", in[2]);
	if (len < need)
		return PROXYHS_MORE;
	*used = need;
	h->state = PHS_DONE;
	proxyhs_wipe(h);
	return PROXYHS_DONE;
}

/* one line at a time, each consumed when whole: any input buffer will do */
static enum proxyhs_result
http_input(struct proxyhs *h, const unsigned char *in, size_t len,
    size_t *used, enum gw_fail *cls, char *why, size_t wlen)
{
	const unsigned char	*nl;
	enum proxyhs_result	 r;
	size_t			 off = 0, n;

	while (off < len) {
		n = len - off;
		nl = memchr(in + off, '\n', n > PROXYHS_LINE_MAX ?
		    PROXYHS_LINE_MAX : n);
		if (nl == NULL) {
			if (n >= PROXYHS_LINE_MAX)
				return phs_fail(h, cls, FAIL_PROTOCOL, why,
				    wlen, "HTTP proxy reply line longer than "
				    "%d octets", PROXYHS_LINE_MAX);
			break;
		}
		n = (size_t)(nl - (in + off));
		if (++h->lines > PROXYHS_LINES_MAX)
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "HTTP proxy reply longer than %d lines",
			    PROXYHS_LINES_MAX);
		r = http_line(h, (const char *)in + off,
		    n > 0 && in[off + n - 1] == '\r' ? n - 1 : n, cls, why,
		    wlen);
		off += n + 1;
		*used = off;
		if (r != PROXYHS_MORE)
			return r;
	}
	return PROXYHS_MORE;
}

/* the status line, then header lines (not needed: read and dropped) */
static enum proxyhs_result
http_line(struct proxyhs *h, const char *l, size_t n, enum gw_fail *cls,
    char *why, size_t wlen)
{
	size_t	 i, r;

	for (i = 0; i < n; i++)
		if ((l[i] < ' ' || l[i] > '~') && l[i] != '\t')
			return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
			    "HTTP proxy reply with a control octet");
	if (h->state == PHS_HTTP_HEADERS) {
		if (n > 0)
			return PROXYHS_MORE;
		h->state = PHS_DONE;
		proxyhs_wipe(h);
		return PROXYHS_DONE;
	}
	/* HTTP/1.x SP 3DIGIT [SP reason] */
	if (n < 12 || strncmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' ||
	    l[7] > '9' || l[8] != ' ' || l[9] < '1' || l[9] > '5' ||
	    l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
	    (n > 12 && l[12] != ' '))
		return phs_fail(h, cls, FAIL_PROTOCOL, why, wlen,
		    "not an HTTP proxy status line");
	h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	r = n > 13 ? n - 13 : 0;
	if (r >= sizeof(h->reason))
		r = sizeof(h->reason) - 1;
	if (r > 0)
		memcpy(h->reason, l + 13, r);
	h->reason[r] = '\0';
	if (h->status / 100 == 2) {
		h->state = PHS_HTTP_HEADERS;
		return PROXYHS_MORE;
	}
	/* tinyproxy answers wrong Basic credentials with 401, not 407 */
	return phs_fail(h, cls, h->status == 407 || h->status == 401 ?
	    FAIL_PROXY_AUTH :
	    FAIL_PROXY_REFUSED, why, wlen, "HTTP proxy answered CONNECT %s%s%s:%u "
	    "with %d%s%s", strchr(h->host, ':') ? "[" : "", h->host,
	    strchr(h->host, ':') ? "]" : "", h->port, h->status,
	    h->reason[0] != '\0' ? " " : "", h->reason);
}
