/*
 * mime_qp - quoted-printable re-encoding of a message body or of one
 * part's body (long_lines = encode).
 *
 * Why quoted-printable: it is the one encoding that keeps a text body
 * readable, bounds every line (76 octets, RFC 2045 6.7) and decodes to
 * exactly the octets that were sent, so a message with lines over 998
 * octets becomes valid RFC 5322 without losing anything, and a later hop
 * has no reason to fold (and so break a DKIM signature over) its lines.
 *
 * Only the body of a leaf entity is re-encoded (the message, or a part
 * that mime_walk found).  A multipart or message body must not carry a
 * Content-Transfer-Encoding other than 7bit, 8bit or binary (RFC 2045
 * 6.4), so its parts are re-encoded one by one instead; a body that is
 * already quoted-printable or base64 would decode to its encoded form if
 * encoded again; a message the sender signed with DKIM would no longer
 * verify.  These cases are refused with a reason, and the caller passes
 * the entity on unchanged.
 *
 * The encoder (RFC 2045 6.7): printable ASCII except "=" as it is; "=",
 * control octets, octets over 126, a CR or LF not part of a CRLF, and a
 * space or tab right before a line end as "=XX"; a CRLF as a line break;
 * a soft line break "=" CRLF before an output line would pass 76 octets.
 * A space or tab is held back one octet to learn whether a line end
 * follows, and a CR to learn whether an LF does: that is the whole state.
 */
#include <stddef.h>
#include <string.h>

#include "smtp/mime_qp.h"

#define HDR_VALUE_MAX	256	/* the start of a field's value we look at */

static const char	 hexdig[] = "0123456789ABCDEF";
static const char	 add_mime[] = "MIME-Version: 1.0\r\n";
static const char	 add_cte[] =
    "Content-Transfer-Encoding: quoted-printable\r\n";
static const char	 add_b64[] = "Content-Transfer-Encoding: base64\r\n";

_Static_assert(sizeof(add_mime) - 1 + sizeof(add_cte) - 1 <=
    MIME_QP_HDR_EXTRA, "MIME_QP_HDR_EXTRA");

static int	field_is(const char *, size_t, const char *);
static size_t	field_value(const char *, size_t, size_t, char *, size_t);
static const char *value_token(const char *, char *, size_t);
static int	ieq(const char *, const char *);
static void	put(struct mime_qp *, char *, size_t *, const char *, size_t);
static void	put_octet(struct mime_qp *, char *, size_t *, unsigned char,
		    int);

/* mime_header_end - length of the header block with its empty line, or 0 */
size_t
mime_header_end(const char *p, size_t len)
{
	const char	*e;

	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;
	if ((e = memmem(p, len, "\r\n\r\n", 4)) == NULL)
		return 0;
	return (size_t)(e - p) + 4;
}

/* ASCII case-insensitive equality, independent of the locale */
static int
ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char	 x = *a, y = *b;

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return 0;
	}
	return *a == *b;
}

/* the field at f[0..flen) (name, colon, value) is named name */
static int
field_is(const char *f, size_t flen, const char *name)
{
	size_t	 n = strlen(name), i;

	if (flen <= n || f[n] != ':')
		return 0;
	for (i = 0; i < n; i++) {
		char	 c = f[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != name[i])
			return 0;
	}
	return 1;
}

/*
 * The start of the field's value, unfolded (CR and LF dropped), into
 * v[0..vmax) with a NUL; name is namelen octets before the colon.
 */
static size_t
field_value(const char *f, size_t flen, size_t namelen, char *v,
    size_t vmax)
{
	size_t	 i, n = 0;

	for (i = namelen + 1; i < flen && n + 1 < vmax; i++)
		if (f[i] != '\r' && f[i] != '\n' && f[i] != '\0')
			v[n++] = f[i];
	v[n] = '\0';
	return n;
}

/*
 * The first token of a value, lower-cased into tok, after white space
 * and comments (RFC 5322 CFWS); it ends at white space, ";", "/", "(".
 * Returns what follows the token.
 */
static const char *
value_token(const char *v, char *tok, size_t tmax)
{
	size_t	 n = 0;
	int	 depth;

	for (;;) {
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '(')
			break;
		for (depth = 0; *v != '\0'; v++) {
			if (*v == '\\' && v[1] != '\0')
				v++;
			else if (*v == '(')
				depth++;
			else if (*v == ')' && --depth == 0) {
				v++;
				break;
			}
		}
	}
	while (*v != '\0' && *v != ' ' && *v != '\t' && *v != ';' &&
	    *v != '/' && *v != '(') {
		if (n + 1 < tmax) {
			char	 c = *v;

			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			tok[n++] = c;
		}
		v++;
	}
	tok[n] = '\0';
	return v;
}

/* mime_qp_headers - the header block for a quoted-printable body */
const char *
mime_qp_headers(const char *hdr, size_t hlen, unsigned flags, char *out,
    size_t outmax, size_t *outlen)
{
	char		 v[HDR_VALUE_MAX], tok[32];
	const char	*f, *e, *cte;
	size_t		 off = 0, flen, n = 0, ctelen;
	int		 mime = 0, top = (flags & MIME_HDR_TOP) != 0;

	*outlen = 0;
	if (hlen < 2 || hdr[hlen - 2] != '\r' || hdr[hlen - 1] != '\n' ||
	    (hlen > 2 && (hlen < 4 || hdr[hlen - 4] != '\r' ||
	    hdr[hlen - 3] != '\n')))
		return "no header block";
	if (outmax < hlen + MIME_QP_HDR_EXTRA)
		return "no room";
	/* the fields: a line, then its continuation lines */
	while (off < hlen - 2) {
		f = hdr + off;
		if (*f == ' ' || *f == '\t')
			return "malformed header";
		for (e = f;;) {
			e = memmem(e, (size_t)(hdr + hlen - e), "\r\n", 2);
			if (e == NULL)
				return "malformed header";
			e += 2;
			if (e >= hdr + hlen - 2 || (*e != ' ' && *e != '\t'))
				break;
		}
		flen = (size_t)(e - f);
		if (memchr(f, ':', flen) == NULL)
			return "malformed header";
		if (field_is(f, flen, "content-type")) {
			(void)field_value(f, flen, 12, v, sizeof(v));
			(void)value_token(v, tok, sizeof(tok));
			if (ieq(tok, "multipart"))
				return "multipart";
			if (ieq(tok, "message"))
				return "message type";
		}
		if (field_is(f, flen, "mime-version"))
			mime = 1;
		/* re-encoding would break the sender's own signature */
		if (top && !(flags & MIME_HDR_SIGNED_OK) &&
		    field_is(f, flen, "dkim-signature"))
			return "signed by the sender";
		if (field_is(f, flen, "content-transfer-encoding")) {
			(void)field_value(f, flen, 25, v, sizeof(v));
			(void)value_token(v, tok, sizeof(tok));
			if (!ieq(tok, "7bit") && !ieq(tok, "8bit") &&
			    !ieq(tok, "binary"))
				return "body already encoded";
			/* dropped: ours replaces it */
		} else {
			memcpy(out + n, f, flen);
			n += flen;
		}
		off += flen;
	}
	if (top && !mime) {
		memcpy(out + n, add_mime, sizeof(add_mime) - 1);
		n += sizeof(add_mime) - 1;
	}
	cte = flags & MIME_HDR_BASE64 ? add_b64 : add_cte;
	ctelen = flags & MIME_HDR_BASE64 ? sizeof(add_b64) - 1 :
	    sizeof(add_cte) - 1;
	memcpy(out + n, cte, ctelen);
	n += ctelen;
	memcpy(out + n, "\r\n", 2);
	n += 2;
	*outlen = n;
	return NULL;
}

void
mime_qp_init(struct mime_qp *q)
{
	memset(q, 0, sizeof(*q));
}

/* one output token; a soft line break first if the line would be too long */
static void
put(struct mime_qp *q, char *out, size_t *n, const char *p, size_t len)
{
	if (q->col + len > MIME_QP_LINE - 1) {
		memcpy(out + *n, "=\r\n", 3);
		*n += 3;
		q->col = 0;
	}
	memcpy(out + *n, p, len);
	*n += len;
	q->col += len;
}

/* an octet, literal when it may be (and lit is set), else =XX */
static void
put_octet(struct mime_qp *q, char *out, size_t *n, unsigned char c, int lit)
{
	char	 enc[3];

	if (lit && ((c >= 33 && c <= 126 && c != '=') || c == ' ' ||
	    c == '\t')) {
		enc[0] = (char)c;
		put(q, out, n, enc, 1);
		return;
	}
	enc[0] = '=';
	enc[1] = hexdig[c >> 4];
	enc[2] = hexdig[c & 0x0f];
	put(q, out, n, enc, 3);
}

/* mime_qp_body - encode body octets while the output has room */
size_t
mime_qp_body(struct mime_qp *q, const char *in, size_t inlen, char *out,
    size_t outmax, size_t *outlen)
{
	size_t		 i, n = 0;
	unsigned char	 c;

	for (i = 0; i < inlen && outmax - n >= MIME_QP_OUT_ROOM; i++) {
		c = (unsigned char)in[i];
		if (q->cr) {
			q->cr = 0;
			if (c == '\n') {
				/* a line end: held white space is encoded */
				if (q->ws) {
					put_octet(q, out, &n,
					    (unsigned char)q->ws, 0);
					q->ws = 0;
				}
				memcpy(out + n, "\r\n", 2);
				n += 2;
				q->col = 0;
				continue;
			}
			/* a bare CR is data: the white space before is not trailing */
			if (q->ws) {
				put_octet(q, out, &n, (unsigned char)q->ws, 1);
				q->ws = 0;
			}
			put_octet(q, out, &n, '\r', 0);
		}
		if (c == '\r') {
			q->cr = 1;
			continue;
		}
		if (q->ws) {
			put_octet(q, out, &n, (unsigned char)q->ws, 1);
			q->ws = 0;
		}
		if (c == ' ' || c == '\t') {
			q->ws = c;
			continue;
		}
		put_octet(q, out, &n, c, 1);
	}
	*outlen = n;
	return i;
}

/* mime_qp_body_end - the held octets, at the end of the body */
size_t
mime_qp_body_end(struct mime_qp *q, char *out, size_t outmax)
{
	size_t	 n = 0;

	if (outmax < MIME_QP_OUT_ROOM)
		return 0;
	/* white space at the very end is trailing too */
	if (q->ws)
		put_octet(q, out, &n, (unsigned char)q->ws, 0);
	if (q->cr)
		put_octet(q, out, &n, '\r', 0);
	q->ws = 0;
	q->cr = 0;
	return n;
}
