/*
 * base64 - RFC 4648 encode/decode with explicit output sizes.
 *
 * Decoding is strict: whitespace, characters outside the standard
 * alphabet, missing or misplaced '=' are refused.  SASL (RFC 4954)
 * sends exactly one encoded blob per line, so there is nothing to be
 * lenient about, and a lenient decoder lets two parties read the same
 * text differently.
 */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "util/base64.h"

static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int	b64value(unsigned char);

/* b64value - the 6-bit value of an alphabet character, or -1 */
static int
b64value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* base64_encode - padded text plus NUL in out; length or -1 */
ssize_t
base64_encode(const void *in, size_t inlen, char *out, size_t outlen)
{
	const unsigned char	*p = in;
	size_t			 groups, need, i, o = 0;
	uint32_t		 v;

	groups = inlen / 3 + (inlen % 3 != 0);
	/* 4 * groups + 1 must neither wrap nor exceed what ssize_t holds */
	if (groups > ((size_t)SSIZE_MAX - 1) / 4)
		return -1;
	need = groups * 4;
	if (outlen < need + 1)
		return -1;
	for (i = 0; i + 3 <= inlen; i += 3) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
		out[o++] = b64chars[v >> 18 & 0x3f];
		out[o++] = b64chars[v >> 12 & 0x3f];
		out[o++] = b64chars[v >> 6 & 0x3f];
		out[o++] = b64chars[v & 0x3f];
	}
	if (inlen - i == 1) {
		v = (uint32_t)p[i] << 16;
		out[o++] = b64chars[v >> 18 & 0x3f];
		out[o++] = b64chars[v >> 12 & 0x3f];
		out[o++] = '=';
		out[o++] = '=';
	} else if (inlen - i == 2) {
		v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64chars[v >> 18 & 0x3f];
		out[o++] = b64chars[v >> 12 & 0x3f];
		out[o++] = b64chars[v >> 6 & 0x3f];
		out[o++] = '=';
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* base64_decode - bytes in out; length, or -1 on bad input or overflow */
ssize_t
base64_decode(const char *in, size_t inlen, void *out, size_t outlen)
{
	unsigned char	*q = out;
	size_t		 i, j, pad = 0, need, o = 0;
	uint32_t	 v;
	int		 c;

	/* padding is mandatory, so the text is whole quanta */
	if (inlen % 4 != 0)
		return -1;
	if (inlen == 0)
		return 0;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	need = inlen / 4 * 3 - pad;
	/*
	 * Check the room before writing anything, so that an overflow
	 * never leaves a partial credential in the caller's buffer.
	 */
	if (need > outlen || need > (size_t)SSIZE_MAX)
		return -1;
	for (i = 0; i < inlen; i += 4) {
		v = 0;
		for (j = 0; j < 4; j++) {
			/*
			 * The padding positions were checked above; an '='
			 * anywhere else is not in the alphabet and fails.
			 */
			if (i + j >= inlen - pad) {
				v <<= 6;
				continue;
			}
			if ((c = b64value((unsigned char)in[i + j])) == -1)
				return -1;
			v = v << 6 | (uint32_t)c;
		}
		q[o++] = (unsigned char)(v >> 16);
		if (o < need)
			q[o++] = (unsigned char)(v >> 8);
		if (o < need)
			q[o++] = (unsigned char)v;
	}
	return (ssize_t)o;
}
