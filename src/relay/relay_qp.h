/*
 * relay_qp - long_lines = encode: a spooled message with lines over 998
 * octets rewritten with a quoted-printable body, or with quoted-printable
 * parts where parts of a multipart have them (smtp/mime_qp,
 * smtp/mime_walk), into a new spool and a new DKIM state, before the
 * message is signed and sent.
 *
 * Contract: reads the spool from the start; on success the spool and the
 * DKIM state are replaced (the old ones freed) and the new spool is
 * rewound; when the message is not re-encoded (*why says why: already
 * encoded, signed by the sender, ...) nothing changes but the spool is
 * rewound; -1 is a spool failure.
 *
 * relay_qp_8bit is the same for a message with 8-bit octets, before it
 * goes to an upstream without 8BITMIME (eight_bit = convert, relay_8bit):
 * the body of each leaf entity that holds one becomes quoted-printable or
 * base64 (mime_8bit_choose), even under a DKIM-Signature of the sender.
 * 8-bit octets in header fields, and inside a message/rfc822 part or one
 * already encoded, stay as they are.
 */
#ifndef GW_RELAY_QP_H
#define GW_RELAY_QP_H

#include <stddef.h>

struct spool;
struct dkim_msg;

/*
 * relay_qp_encode - skip: octets at the start of the spool that are ours
 * (the Received header): copied, not re-encoded, not fed to DKIM.
 * canons: body canonicalisations for the new DKIM state, 0 for none.
 * *dmsg_full is set when the new header block is too large to sign.
 * Returns 1 re-encoded, 0 left as it is, -1 error.
 */
int	relay_qp_encode(struct spool **, size_t skip, size_t memthresh,
	    struct dkim_msg **, unsigned canons, int *dmsg_full,
	    const char **why);
/* relay_qp_8bit - the same arguments; 1 converted, 0 not (why), -1 error */
int	relay_qp_8bit(struct spool **, size_t skip, size_t memthresh,
	    struct dkim_msg **, unsigned canons, int *dmsg_full,
	    const char **why);

#endif
