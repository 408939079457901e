/*
 * smime_mime.c - the MIME structure of an S/MIME message; see
 * smime_mime.h.  Pure: table tests in tests/unit/test_smime_mime.c, and
 * the header split is fuzzed (tests/fuzz/fuzz_smime_mime.c).
 *
 * The layout is what RFC 8551 3.4.3.2 (multipart/signed) and 3.3
 * (application/pkcs7-mime) show, and what Thunderbird and Outlook read:
 * the signed entity is the first part byte for byte, the signature the
 * second; the enveloped entity is base64 in lines of 76.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smime/smime_mime.h"
#include "util/base64.h"
#include "util/str.h"

#define CT_DEFAULT	"Content-Type: text/plain; charset=us-ascii\r\n"
#define MIME_VERSION	"MIME-Version: 1.0\r\n"
#define SIG_HEADERS \
	"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n" \
	"Content-Description: S/MIME Cryptographic Signature\r\n\r\n"
#define ENV_HEADERS \
	"Content-Type: application/pkcs7-mime; smime-type=enveloped-data;" \
	"\r\n name=\"smime.p7m\"\r\n" \
	"Content-Transfer-Encoding: base64\r\n" \
	"Content-Disposition: attachment; filename=\"smime.p7m\"\r\n" \
	"Content-Description: S/MIME Encrypted Message\r\n\r\n"
#define PREAMBLE	"This is an S/MIME signed message.\r\n"
/* the longest header text written around the signed body */
#define SIGNED_EXTRA	(512 + 4 * SMIME_BOUNDARY_MAX)

static size_t	field_end(const char *, size_t, size_t);
static int	field_inner(const char *, size_t);
static size_t	b64_max(size_t);
static const char *b64_lines(const unsigned char *, size_t, struct buf *);
static int	put(struct buf *, const char *);

static int
put(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

/*
 * The end of the header field that starts at off (its continuation
 * lines included, CRLF included); len if the block has no end.
 */
static size_t
field_end(const char *m, size_t len, size_t off)
{
	const char	*nl;

	for (;;) {
		nl = memchr(m + off, '\n', len - off);
		if (nl == NULL)
			return len;
		off = (size_t)(nl - m) + 1;
		/* folded: the next line starts with a blank */
		if (off >= len || (m[off] != ' ' && m[off] != '\t'))
			return off;
	}
}

/* 1 if the field name of m[0..n) is Content-*: it describes the content */
static int
field_inner(const char *m, size_t n)
{
	static const char	 pfx[] = "content-";

	return n > sizeof(pfx) - 1 && strncasecmp(m, pfx, sizeof(pfx) - 1) == 0;
}

size_t
smime_split_max(size_t len)
{
	return len + sizeof(CT_DEFAULT) + 8;
}

/* smime_split - see smime_mime.h */
const char *
smime_split(const char *m, size_t len, struct buf *outer, struct buf *inner)
{
	const char	*colon;
	size_t		 off = 0, end, name, i;
	int		 ct = 0, mv;

	/* the fields, up to the empty line (or the end: no body) */
	while (off < len && !(m[off] == '\r' && off + 1 < len &&
	    m[off + 1] == '\n')) {
		if (m[off] == ' ' || m[off] == '\t')
			return "the header block starts with a folded line";
		end = field_end(m, len, off);
		colon = memchr(m + off, ':', end - off);
		if (colon == NULL)
			return "a header line without a colon";
		name = (size_t)(colon - (m + off));
		while (name > 0 && (m[off + name - 1] == ' ' ||
		    m[off + name - 1] == '\t'))
			name--;
		if (name == 0)
			return "a header field without a name";
		for (i = 0; i < name; i++)
			if (m[off + i] < 33 || m[off + i] > 126)
				return "a header field name with a character "
				    "outside RFC 5322's";
		if (end == len && (end - off < 2 || m[end - 1] != '\n'))
			return "the message ends inside a header field";
		mv = name == 12 && strncasecmp(m + off, "MIME-Version", 12) == 0;
		if (field_inner(m + off, name)) {
			ct |= name == 12 &&
			    strncasecmp(m + off, "Content-Type", 12) == 0;
			if (buf_append(inner, m + off, end - off) == -1)
				return "out of room";
		} else if (!mv && buf_append(outer, m + off, end - off) == -1)
			return "out of room";
		off = end;
	}
	if (!ct && put(inner, CT_DEFAULT) == -1)
		return "out of room";
	if (put(inner, "\r\n") == -1)
		return "out of room";
	/* the body, after the empty line, as it is */
	if (off < len && buf_append(inner, m + off + 2, len - off - 2) == -1)
		return "out of room";
	return NULL;
}

/* base64 of len octets in lines of 76, each with CRLF */
static size_t
b64_max(size_t len)
{
	size_t	 chars = (len + 2) / 3 * 4;

	return chars + (chars / SMIME_B64_LINE + 1) * 2 + 4;
}

static const char *
b64_lines(const unsigned char *p, size_t len, struct buf *out)
{
	/* 57 octets are one 76-character line */
	char	 line[SMIME_B64_LINE + 4];
	size_t	 n;

	while (len > 0) {
		n = len < 57 ? len : 57;
		if (base64_encode(p, n, line, sizeof(line)) == -1)
			return "base64 failed";
		if (put(out, line) == -1 || put(out, "\r\n") == -1)
			return "out of room";
		p += n;
		len -= n;
	}
	return NULL;
}

const char *
smime_boundary_ok(const char *b)
{
	size_t	 i, n = strlen(b);

	if (n == 0 || n > SMIME_BOUNDARY_MAX)
		return "boundary of 1 to 70 characters expected";
	/* RFC 2046 bcharsnospace, minus what would need quoting care */
	for (i = 0; i < n; i++)
		if (!((b[i] >= 'a' && b[i] <= 'z') || (b[i] >= 'A' &&
		    b[i] <= 'Z') || (b[i] >= '0' && b[i] <= '9') ||
		    strchr("'()+_,-./:=?", b[i]) != NULL))
			return "boundary with a character outside RFC 2046's";
	return NULL;
}

size_t
smime_signed_max(size_t ilen, size_t siglen)
{
	return ilen + b64_max(siglen) + SIGNED_EXTRA;
}

/* smime_signed - see smime_mime.h */
const char *
smime_signed(const char *inner, size_t ilen, const unsigned char *sig,
    size_t siglen, const char *boundary, struct buf *out)
{
	char		 delim[SMIME_BOUNDARY_MAX + 8];
	const char	*why;

	if ((why = smime_boundary_ok(boundary)) != NULL)
		return why;
	(void)snprintf(delim, sizeof(delim), "--%s", boundary);
	if (memmem(inner, ilen, delim, strlen(delim)) != NULL)
		return "the boundary occurs in the content";
	if (put(out, "Content-Type: multipart/signed;\r\n"
	    " protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n"
	    " boundary=\"") == -1 || put(out, boundary) == -1 ||
	    put(out, "\"\r\n\r\n" PREAMBLE "\r\n") == -1 ||
	    put(out, delim) == -1 || put(out, "\r\n") == -1 ||
	    buf_append(out, inner, ilen) == -1 ||
	    put(out, "\r\n") == -1 || put(out, delim) == -1 ||
	    put(out, "\r\n" SIG_HEADERS) == -1)
		return "out of room";
	if ((why = b64_lines(sig, siglen, out)) != NULL)
		return why;
	if (put(out, "\r\n") == -1 || put(out, delim) == -1 ||
	    put(out, "--\r\n") == -1)
		return "out of room";
	return NULL;
}

size_t
smime_enveloped_max(size_t len)
{
	return b64_max(len) + sizeof(ENV_HEADERS);
}

/* smime_enveloped - see smime_mime.h */
const char *
smime_enveloped(const unsigned char *der, size_t len, struct buf *out)
{
	if (put(out, ENV_HEADERS) == -1)
		return "out of room";
	return b64_lines(der, len, out);
}

size_t
smime_message_max(size_t olen, size_t elen)
{
	return olen + elen + sizeof(MIME_VERSION);
}

/* smime_message - see smime_mime.h */
const char *
smime_message(const char *outer, size_t olen, const char *entity,
    size_t elen, struct buf *out)
{
	if (buf_append(out, outer, olen) == -1 || put(out, MIME_VERSION) == -1 ||
	    buf_append(out, entity, elen) == -1)
		return "out of room";
	return NULL;
}
