/*
 * smime_mime - the MIME structure of an S/MIME message (RFC 8551): which
 * header fields stay on the outer message and which describe the signed
 * entity, the multipart/signed entity, the application/pkcs7-mime
 * entity, and the message put together.
 *
 * Contract: pure (no I/O, no logging, no randomness: the caller gives the
 * boundary).  Input is a message as spooled: header fields, an empty
 * line, the body, CRLF line ends.  Outputs go into caller-initialised
 * bounded buffers (util/buf.h), sized by the smime_*_max() helpers;
 * each function returns NULL or a static reason.
 *
 * Header fields: every Content-* field goes inside, into the signed
 * entity (it describes the content); MIME-Version is dropped (the outer
 * message has its own); every other field (From, To, Subject, Date,
 * Message-ID, Received, ...) stays outside, in its order, untouched.  A
 * message without Content-Type gets RFC 2045's default written out
 * (text/plain; charset=us-ascii) inside.
 */
#ifndef GW_SMIME_MIME_H
#define GW_SMIME_MIME_H

#include <stddef.h>

#include "util/buf.h"

#define SMIME_BOUNDARY_MAX	70	/* RFC 2046 5.1.1 */
#define SMIME_B64_LINE		76	/* base64 characters per line */

/*
 * smime_split - msg[0..len) into outer (the outer header fields, each
 * with its CRLF) and inner (the entity to sign: the Content-* fields,
 * an empty line, the body).
 */
const char *smime_split(const char *msg, size_t len, struct buf *outer,
	    struct buf *inner);
/* smime_split_max - bound for inner (and outer) of a len-octet message */
size_t	smime_split_max(size_t len);

/*
 * smime_signed - the multipart/signed entity (its Content-Type field,
 * an empty line, the body): inner as the first part, exactly as given
 * (it is what sig was computed over), the detached signature (DER) as
 * the second, application/pkcs7-signature, base64.  The boundary must
 * not occur in inner (checked).
 */
const char *smime_signed(const char *inner, size_t ilen,
	    const unsigned char *sig, size_t siglen, const char *boundary,
	    struct buf *out);
size_t	smime_signed_max(size_t ilen, size_t siglen);

/*
 * smime_enveloped - the application/pkcs7-mime entity (smime-type=
 * enveloped-data, name=smime.p7m) with der in base64 as its body
 */
const char *smime_enveloped(const unsigned char *der, size_t len,
	    struct buf *out);
size_t	smime_enveloped_max(size_t len);

/*
 * smime_message - the outer header fields, "MIME-Version: 1.0", then the
 * entity (its header fields, the empty line, its body)
 */
const char *smime_message(const char *outer, size_t olen, const char *entity,
	    size_t elen, struct buf *out);
size_t	smime_message_max(size_t olen, size_t elen);

/* smime_boundary_ok - NULL, or why b is not a boundary we write */
const char *smime_boundary_ok(const char *b);

#endif
