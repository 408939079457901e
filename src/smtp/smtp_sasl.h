/*
 * smtp_sasl - decoding the client's side of AUTH PLAIN and AUTH LOGIN on
 * the listener (RFC 4954, RFC 4616, draft-murchison-sasl-login).
 *
 * Contract: pure.  Input is one base64 line without its CRLF (a SASL
 * response, or the initial response of the AUTH command); output goes into
 * caller buffers, which are left zeroed on every error so that no partial
 * credential survives.  Decoded identities and passwords never hold NUL,
 * CR, LF or other control characters: they end up on the upstream's wire
 * (passthrough) and in log lines (the user name).  Returns NULL or a static
 * error string fit for a 501 reply.
 */
#ifndef GW_SMTP_SASL_H
#define GW_SMTP_SASL_H

#include <stddef.h>

#define SMTP_SASL_LINE_MAX	12288	/* RFC 4954 4: a SASL line, CRLF incl. */
#define SMTP_SASL_ID_MAX	255	/* user name or password, octets */

struct smtp_sasl_creds {
	char	user[SMTP_SASL_ID_MAX + 1];
	char	pass[SMTP_SASL_ID_MAX + 1];
};

/*
 * smtp_sasl_plain_decode - "authzid NUL authcid NUL passwd", base64.  An authzid
 * other than empty or the authcid itself (acting for someone else) is
 * refused: nothing downstream could honour it.
 */
const char *smtp_sasl_plain_decode(const char *b64, size_t len,
	    struct smtp_sasl_creds *);
/* smtp_sasl_login_decode - one LOGIN step (user name or password), base64 */
const char *smtp_sasl_login_decode(const char *b64, size_t len, char *out,
	    size_t outlen);
/* smtp_sasl_cancel - the client's "*" that aborts the exchange (RFC 4954 4) */
int	smtp_sasl_cancel(const char *line, size_t len);
/* smtp_sasl_wipe - forget credentials (not optimised away) */
void	smtp_sasl_wipe(struct smtp_sasl_creds *);

#endif
