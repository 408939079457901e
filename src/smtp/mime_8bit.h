/*
 * mime_8bit - what an 8-bit body becomes for an upstream without
 * 8BITMIME (RFC 6152 3): the choice between quoted-printable and base64
 * from the body's octets, and the streaming base64 body encoder.
 *
 * Contract: pure (no I/O, no allocation).  The caller adds a leaf
 * entity's body octets to a struct mime_stats, asks mime_8bit_choose()
 * for the encoding (MIME_CTE_NONE: nothing to do, the body is 7-bit), and
 * encodes with mime_qp (quoted-printable) or mime_b64 below.  Base64
 * output lines are at most 76 octets (RFC 2045 6.8) and decode to the
 * body's octets exactly, CRLFs included.
 */
#ifndef GW_MIME_8BIT_H
#define GW_MIME_8BIT_H

#include <stddef.h>

#define MIME_B64_LINE		76	/* RFC 2045 6.8, CRLF excluded */
#define MIME_B64_OUT_ROOM	8	/* output room one input octet may need */

enum mime_cte {
	MIME_CTE_NONE = 0,	/* 7-bit: left as it is */
	MIME_CTE_QP,		/* quoted-printable */
	MIME_CTE_BASE64
};

/* what a body holds, counted as it streams past */
struct mime_stats {
	unsigned long long	 octets;	/* all, CRLFs included */
	unsigned long long	 high;		/* over 127: 8-bit */
	unsigned long long	 ctl;		/* controls but tab, CR, LF; DEL */
};

void	mime_stats_add(struct mime_stats *, const char *p, size_t n);
/*
 * mime_8bit_choose - the encoding for a body with these counts: none
 * without an 8-bit octet; else quoted-printable, unless more than a
 * quarter of the octets would be escaped (as "=XX", three for one, where
 * base64 writes four for three): mostly non-ASCII text or binary data.
 */
enum mime_cte mime_8bit_choose(const struct mime_stats *);

struct mime_b64 {
	unsigned char	 in[3];	/* octets not yet encoded */
	size_t		 nin;
	size_t		 col;	/* octets on the current output line */
};

void	mime_b64_init(struct mime_b64 *);
/*
 * mime_b64_body - encode body octets; stops while fewer than
 * MIME_B64_OUT_ROOM octets of out are left.  Returns octets consumed;
 * *outlen octets were written.
 */
size_t	mime_b64_body(struct mime_b64 *, const char *in, size_t inlen,
	    char *out, size_t outmax, size_t *outlen);
/*
 * mime_b64_body_end - the held octets with padding and a last CRLF;
 * outmax >= MIME_B64_OUT_ROOM; octets written.
 */
size_t	mime_b64_body_end(struct mime_b64 *, char *out, size_t outmax);

#endif
