/*
 * mime_qp - re-encode a message body as quoted-printable, for a message
 * with lines over 998 octets (long_lines = encode) or with 8-bit octets
 * (eight_bit = convert; the header block then may say base64 instead,
 * see mime_8bit).
 *
 * Contract: pure (no I/O, no allocation), streaming for the body.  The
 * caller finds the header block with mime_header_end(), asks
 * mime_qp_headers() whether the message can be re-encoded and for the new
 * header block, then passes the body through mime_qp_body() and ends with
 * mime_qp_body_end().  Decoding the result as RFC 2045 6.7 says gives the
 * original body octets back; every output line is at most 76 octets.
 * A multipart or message type, a body already encoded, or (top, unless
 * MIME_HDR_SIGNED_OK) a message with a DKIM-Signature of its own is left
 * alone (the reason is returned); the parts of a multipart are found
 * with mime_walk.
 */
#ifndef GW_MIME_QP_H
#define GW_MIME_QP_H

#include <stddef.h>

#define MIME_QP_LINE		76	/* RFC 2045 6.7 (5), CRLF excluded */
#define MIME_QP_OUT_ROOM	24	/* output room one input octet may need */
/* what mime_qp_headers() adds at most to the header block */
#define MIME_QP_HDR_EXTRA	64

/* mime_qp_headers() flags */
#define MIME_HDR_TOP		0x01	/* the message's own header block */
#define MIME_HDR_SIGNED_OK	0x02	/* its DKIM-Signature does not stop it */
#define MIME_HDR_BASE64		0x04	/* the body becomes base64 instead */

/*
 * mime_header_end - the length of the header block, its empty line
 * included, in p[0..len); 0 if no empty line is there yet.  A message that
 * starts with CRLF has an empty header block (2).
 */
size_t	mime_header_end(const char *p, size_t len);

/*
 * mime_qp_headers - the header block hdr[0..hlen) (as mime_header_end()
 * measured it) rewritten for a quoted-printable body: every
 * Content-Transfer-Encoding field dropped, and "MIME-Version: 1.0" (if
 * missing, and MIME_HDR_TOP is set) and "Content-Transfer-Encoding:
 * quoted-printable" (base64 with MIME_HDR_BASE64) added before the empty
 * line.  MIME_HDR_TOP: the message's own header block (else one of a
 * part of a multipart, see mime_walk); a DKIM-Signature there refuses
 * it unless MIME_HDR_SIGNED_OK.  out needs hlen + MIME_QP_HDR_EXTRA
 * octets.  Returns NULL, or why the entity is left as it is (then out is
 * not valid).
 */
const char *mime_qp_headers(const char *hdr, size_t hlen, unsigned flags,
	    char *out, size_t outmax, size_t *outlen);

struct mime_qp {
	size_t	col;	/* octets on the current output line */
	int	ws;	/* a space or tab not yet written, or 0 */
	int	cr;	/* a CR not yet written (CRLF or not) */
};

void	mime_qp_init(struct mime_qp *);
/*
 * mime_qp_body - encode body octets; stops while fewer than
 * MIME_QP_OUT_ROOM octets of out are left.  Returns octets consumed;
 * *outlen octets were written.
 */
size_t	mime_qp_body(struct mime_qp *, const char *in, size_t inlen,
	    char *out, size_t outmax, size_t *outlen);
/* mime_qp_body_end - what is held; outmax >= MIME_QP_OUT_ROOM; octets written */
size_t	mime_qp_body_end(struct mime_qp *, char *out, size_t outmax);

#endif
