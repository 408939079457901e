/*
 * dsn - the delivery status notification (RFC 3464) that tells a sender
 * which recipients of a queued message failed for good.
 *
 * A multipart/report (RFC 6522) with three parts: a plain-text
 * explanation, the message/delivery-status fields (one block per failed
 * recipient: Final-Recipient, Action, Status, Diagnostic-Code, and
 * Original-Recipient when the client gave ORCPT), and the original's
 * header block (text/rfc822-headers), or the whole original
 * (message/rfc822) when the client asked for RET=FULL and it is at most
 * DSN_FULL_MAX octets, as Postfix's bounce_size_limit does.
 *
 * Who gets one is the caller's business (never for the null sender,
 * never for a message that is itself a DSN: QF_BOUNCE); which recipients
 * are in it is decided here: those FAILED whose NOTIFY did not leave
 * FAILURE out (no NOTIFY means failures are reported, RFC 3461 4.1).
 * Pure: the time and the host name are passed in.  Every text from
 * outside (addresses, the upstream's reply) has control octets replaced,
 * so it cannot start a header or a part of its own.
 */
#ifndef GW_DSN_H
#define GW_DSN_H

#include <stddef.h>
#include <stdint.h>

#include "queue/qenv.h"

#define DSN_FULL_MAX	(256u * 1024)	/* RET=FULL returns at most this */
#define DSN_DIAG_MAX	900		/* octets of one Diagnostic-Code */

/* dsn_wanted - does rcpt r go into the DSN? */
int	dsn_wanted(const struct qrcpt *r);

/*
 * dsn_build - the DSN for envelope e, from reporting host mta, at now
 * (unix seconds), about the original message msg[0..msglen) (CRLF
 * lines); msg NULL: redacted (RFC 8689 5, a REQUIRETLS message's report
 * sent without REQUIRETLS): two parts, nothing of the original.  Returns
 * the number of recipients reported; 0 means none is wanted and *out is
 * NULL.  -1 on ENOMEM.  *out is malloc'd, CRLF lines,
 * NUL-terminated, ready to be sent as a message body (not dot-stuffed).
 */
int	dsn_build(const struct qenv *e, const char *mta, int64_t now,
	    const char *msg, size_t msglen, char **out, size_t *outlen);

/*
 * dsn_build_relayed - the "relayed" report (RFC 3461 4.1, 6.2.2): the
 * recipients relayed[i] marks (they asked NOTIFY=SUCCESS and the message
 * went on to a server that does not offer DSN, so no later report will
 * come), Action: relayed, Status: 2.0.0, the upstream's reply as the
 * Diagnostic-Code, the original's header block.  Same return as
 * dsn_build.
 */
int	dsn_build_relayed(const struct qenv *e, const unsigned char *relayed,
	    const char *mta, int64_t now, const char *msg, size_t msglen,
	    char **out, size_t *outlen);

#endif
