/*
 * mime_8bit - the encoding of an 8-bit body for a 7-bit upstream, and
 * base64 as a stream (see mime_8bit.h).
 *
 * Why the choice: quoted-printable keeps text with a few accented
 * letters readable and barely larger, but writes every 8-bit octet as
 * three; Cyrillic, Greek or CJK text in UTF-8, and binary data, are
 * mostly such octets and would nearly triple, where base64 adds a third.
 * Both decode to the very octets sent.  The sizes compared are estimates
 * (soft line breaks and line ends left out of both), which is enough to
 * tell the two kinds of body apart.
 */
#include <stddef.h>
#include <string.h>

#include "smtp/mime_8bit.h"

static const char	 b64dig[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void	b64_put(struct mime_b64 *, char *, size_t *, size_t);

/* mime_stats_add - count body octets */
void
mime_stats_add(struct mime_stats *st, const char *p, size_t n)
{
	size_t		 i;
	unsigned char	 c;

	st->octets += n;
	for (i = 0; i < n; i++) {
		c = (unsigned char)p[i];
		if (c > 127)
			st->high++;
		else if ((c < 32 && c != '\t' && c != '\r' && c != '\n') ||
		    c == 127)
			st->ctl++;
	}
}

/* mime_8bit_choose - none, quoted-printable or base64 */
enum mime_cte
mime_8bit_choose(const struct mime_stats *st)
{
	unsigned long long	 esc;

	if (st->high == 0)
		return MIME_CTE_NONE;
	/*
	 * QP: the octets + 2 per escape; base64: 4/3 of them.  Past one
	 * escape in six base64 is smaller; QP is kept up to one in four, as
	 * it leaves the ASCII around the escapes readable
	 */
	esc = st->high + st->ctl;
	if (4 * esc > st->octets)
		return MIME_CTE_BASE64;
	return MIME_CTE_QP;
}

void
mime_b64_init(struct mime_b64 *b)
{
	memset(b, 0, sizeof(*b));
}

/* the held group of three (or fewer, padded, at the end) as four */
static void
b64_put(struct mime_b64 *b, char *out, size_t *n, size_t k)
{
	unsigned long	 v;

	if (b->col + 4 > MIME_B64_LINE) {
		memcpy(out + *n, "\r\n", 2);
		*n += 2;
		b->col = 0;
	}
	v = (unsigned long)b->in[0] << 16 | (unsigned long)b->in[1] << 8 |
	    b->in[2];
	out[*n] = b64dig[(v >> 18) & 0x3f];
	out[*n + 1] = b64dig[(v >> 12) & 0x3f];
	out[*n + 2] = k > 1 ? b64dig[(v >> 6) & 0x3f] : '=';
	out[*n + 3] = k > 2 ? b64dig[v & 0x3f] : '=';
	*n += 4;
	b->col += 4;
	memset(b->in, 0, sizeof(b->in));
	b->nin = 0;
}

/* mime_b64_body - encode body octets while the output has room */
size_t
mime_b64_body(struct mime_b64 *b, const char *in, size_t inlen, char *out,
    size_t outmax, size_t *outlen)
{
	size_t	 i, n = 0;

	for (i = 0; i < inlen && outmax - n >= MIME_B64_OUT_ROOM; i++) {
		b->in[b->nin++] = (unsigned char)in[i];
		if (b->nin == 3)
			b64_put(b, out, &n, 3);
	}
	*outlen = n;
	return i;
}

/* mime_b64_body_end - the rest, padded, and the last line's end */
size_t
mime_b64_body_end(struct mime_b64 *b, char *out, size_t outmax)
{
	size_t	 n = 0;

	if (outmax < MIME_B64_OUT_ROOM)
		return 0;
	if (b->nin > 0)
		b64_put(b, out, &n, b->nin);
	if (b->col > 0) {
		memcpy(out + n, "\r\n", 2);
		n += 2;
	}
	b->col = 0;
	return n;
}
