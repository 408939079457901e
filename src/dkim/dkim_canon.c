/*
 * dkim_canon - body and header canonicalisation (RFC 6376 §3.4), and the
 * From address parser.  Pure: no keys, no I/O, no allocation.
 */
#include <string.h>

#include "dkim/dkim_canon.h"

static void	body_put(struct dkim_body *, const char *, size_t);
static void	body_flush(struct dkim_body *);
static void	body_content(struct dkim_body *, char);
static void	body_eol(struct dkim_body *);
static int	is_wsp(char);
static char	lower(char);
static const char *from_domain(const char *, size_t, size_t, char *, size_t);

static int
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static char
lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

void
dkim_body_init(struct dkim_body *b, enum dkim_canon c, dkim_sink_fn sink,
    void *arg)
{
	memset(b, 0, sizeof *b);
	b->canon = c;
	b->sink = sink;
	b->arg = arg;
}

static void
body_flush(struct dkim_body *b)
{
	if (b->outlen > 0) {
		b->sink(b->arg, b->out, b->outlen);
		b->outlen = 0;
	}
}

static void
body_put(struct dkim_body *b, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = sizeof b->out - b->outlen;
		size_t k = n < room ? n : room;

		memcpy(b->out + b->outlen, p, k);
		b->outlen += k;
		b->total += k;
		p += k;
		n -= k;
		if (b->outlen == sizeof b->out)
			body_flush(b);
	}
}

/* One content byte: the held-back empty lines and blanks come first. */
static void
body_content(struct dkim_body *b, char c)
{
	/* empty lines are only trailing if nothing follows them */
	while (b->pending_crlf > 0) {
		body_put(b, "\r\n", 2);
		b->pending_crlf--;
	}
	if (b->wsp) {
		body_put(b, " ", 1);
		b->wsp = 0;
	}
	body_put(b, &c, 1);
	b->any = 1;
}

/*
 * A CRLF: the line ends.  Its CRLF is held back with those of the empty
 * lines after it, until content shows they are not at the end.
 */
static void
body_eol(struct dkim_body *b)
{
	b->wsp = 0;	/* relaxed: blanks at the end of a line go */
	b->pending_crlf++;
}

void
dkim_body_update(struct dkim_body *b, const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char c = p[i];

		/* fast path: a run of plain bytes with nothing held back */
		if (!b->cr && !b->wsp && b->pending_crlf == 0) {
			size_t j = i;

			while (j < n && p[j] != '\r' &&
			    (b->canon == DKIM_CANON_SIMPLE || !is_wsp(p[j])))
				j++;
			if (j > i) {
				body_put(b, p + i, j - i);
				b->any = 1;
				i = j - 1;
				continue;
			}
		}
		if (b->cr) {
			b->cr = 0;
			if (c == '\n') {
				body_eol(b);
				continue;
			}
			/* a bare CR is content like any other byte */
			body_content(b, '\r');
		}
		if (c == '\r') {
			b->cr = 1;
			continue;
		}
		if (b->canon == DKIM_CANON_RELAXED && is_wsp(c)) {
			b->wsp = 1;
			continue;
		}
		body_content(b, c);
	}
}

void
dkim_body_final(struct dkim_body *b)
{
	if (b->cr) {
		b->cr = 0;
		body_content(b, '\r');
	}
	b->wsp = 0;
	if (b->any) {
		/*
		 * The last content line's CRLF (present, or added because
		 * the body did not end in one); trailing empty lines go.
		 */
		body_put(b, "\r\n", 2);
	} else if (b->canon == DKIM_CANON_SIMPLE) {
		/* §3.4.3: an empty simple body is one CRLF */
		body_put(b, "\r\n", 2);
	}
	/* §3.4.4: an empty relaxed body stays empty */
	b->pending_crlf = 0;
	body_flush(b);
}

long
dkim_canon_header(enum dkim_canon c, const char *h, size_t len, char *out,
    size_t outlen)
{
	size_t i, o = 0, colon, vstart;
	int wsp = 0;

	if (c == DKIM_CANON_SIMPLE) {
		int crlf = len >= 2 && h[len - 2] == '\r' && h[len - 1] == '\n';

		if (len + (crlf ? 0 : 2) > outlen)
			return -1;
		memcpy(out, h, len);
		o = len;
		if (!crlf) {
			out[o++] = '\r';
			out[o++] = '\n';
		}
		return (long)o;
	}

	if (len + 2 > outlen)
		return -1;
	/* relaxed: name lowercased, blanks before the colon dropped */
	for (colon = 0; colon < len && h[colon] != ':'; colon++)
		;
	for (i = 0; i < colon; i++)
		out[o++] = lower(h[i]);
	while (o > 0 && (is_wsp(out[o - 1]) || out[o - 1] == '\r' ||
	    out[o - 1] == '\n'))
		o--;
	if (colon == len)
		goto done;	/* no colon: a malformed line, name only */
	out[o++] = ':';
	vstart = o;
	/* value: unfolded, runs of blanks to one SP, no leading or trailing */
	for (i = colon + 1; i < len; i++) {
		char ch = h[i];

		if (ch == '\r' || ch == '\n' || is_wsp(ch)) {
			wsp = 1;
			continue;
		}
		if (wsp && o > vstart)
			out[o++] = ' ';
		wsp = 0;
		out[o++] = ch;
	}
done:
	out[o++] = '\r';
	out[o++] = '\n';
	return (long)o;
}

/*
 * from_domain - the domain of the From address (the n bytes of addr, its
 * last '@' outside quotes at at - 1), checked and lower-cased
 */
static const char *
from_domain(const char *addr, size_t n, size_t at, char *domain,
    size_t domainlen)
{
	size_t	i, d;

	if (n == 0)
		return "no address in From";
	if (at <= 1)
		return "no domain in From address";
	d = n - at;
	if (d == 0 || d >= domainlen)
		return "bad domain in From address";
	for (i = 0; i < d; i++) {
		char c = lower(addr[at + i]);

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || (unsigned char)c >= 0x80))
			return "bad domain in From address";
		domain[i] = c;
	}
	domain[d] = '\0';
	if (domain[0] == '.' || strstr(domain, "..") != NULL)
		return "bad domain in From address";
	if (domain[d - 1] == '.')
		domain[d - 1] = '\0';	/* a root dot: same domain */
	if (domain[0] == '\0')
		return "bad domain in From address";
	return NULL;
}

/*
 * From: the value is reduced to its address outside comments; one mailbox,
 * either "addr-spec" or "[phrase] <addr-spec>".  Quoted strings are kept
 * (a quoted local part may hold '@'); the domain follows the last '@'
 * outside quotes.
 */
const char *
dkim_from_parse(const char *v, size_t len, char *domain, size_t domainlen)
{
	char addr[512];
	size_t i, n = 0, at = 0;
	int depth = 0, quoted = 0, angle = 0, angles = 0, done = 0;
	int gap = 0, spaced = 0;

	for (i = 0; i < len; i++) {
		char c = v[i];

		if (depth > 0) {
			/* a comment: skipped, but it separates words */
			if (c == '\\' && i + 1 < len)
				i++;
			else if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			gap = n > 0;
			continue;
		}
		if (!quoted) {
			switch (c) {
			case ' ': case '\t': case '\r': case '\n':
				gap = n > 0;
				continue;
			case '(':
				depth = 1;
				continue;
			case '<':
				if (angles)
					return "unparseable From address";
				angle = angles = 1;
				n = at = 0;	/* what came before was a phrase */
				gap = 0;
				continue;
			case '>':
				if (!angle)
					return "unparseable From address";
				angle = 0;
				done = 1;
				continue;
			case ',':
				return "several From addresses";
			case ':': case ';':
				return "group syntax in From";
			case '"':
				quoted = 1;
				break;
			case '@':
				at = n + 1;
				break;
			default:
				break;
			}
		} else if (c == '"') {
			quoted = 0;
		} else if (c == '\\' && i + 1 < len) {
			/* a quoted pair: both kept, neither ends the string */
			if (n + 2 > sizeof addr)
				return "From address too long";
			addr[n++] = c;
			c = v[++i];
		}
		if (done)
			return "text after the From address";
		if (gap && !angle)
			spaced = 1;	/* words apart: a phrase without <> */
		gap = 0;
		if (n >= sizeof addr)
			return "From address too long";
		addr[n++] = c;
	}
	if (quoted || depth > 0 || angle)
		return "unparseable From address";
	if (!angles && spaced)
		return "unparseable From address";
	return from_domain(addr, n, at, domain, domainlen);
}
