/*
 * smtp_reply - the mapping from an upstream failure class to the reply
 * the legacy client sees.
 *
 * Every class maps to 451: the client keeps the message and retries, and
 * nothing the upstream did not accept is ever acknowledged.  The enhanced
 * codes follow RFC 3463: X.4.x for reaching the upstream, X.7.x for TLS
 * and authentication (as Postfix gives each TLS failure a 4.7.x), X.5.0
 * for an upstream that broke the protocol, X.3.0 for our own trouble.
 * docs/replies.md lists the same table for operators; keep them in step.
 */
#include <stdio.h>

#include "smtp/smtp_reply.h"

static const struct smtp_reply_map fail_map[] = {
	[FAIL_NONE] = { 451, "4.3.0", "Temporary failure" },
	[FAIL_DNS] = { 451, "4.4.3", "Upstream name lookup failed" },
	[FAIL_CONNECT] = { 451, "4.4.1", "Upstream unreachable" },
	[FAIL_TIMEOUT] = { 451, "4.4.2", "Upstream timed out" },
	[FAIL_CLOSED] = { 451, "4.4.2", "Upstream connection lost" },
	[FAIL_TLS_PROTOCOL] = { 451, "4.7.5", "Upstream TLS handshake failed" },
	[FAIL_CERT_UNTRUSTED] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_CERT_EXPIRED] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_CERT_NOT_YET_VALID] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_CERT_NAME_MISMATCH] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_CERT_REVOKED] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_REVOCATION_UNKNOWN] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_PIN_MISMATCH] = { 451, "4.7.5",
	    "Upstream TLS certificate rejected" },
	[FAIL_STARTTLS_UNAVAILABLE] = { 451, "4.7.4",
	    "Upstream does not offer TLS" },
	/* our own certificate: the fix is on this side, not the upstream's */
	[FAIL_CLIENT_CERT_REJECTED] = { 451, "4.7.5",
	    "Upstream refused the gateway's TLS client certificate" },
	[FAIL_AUTH] = { 451, "4.7.0", "Upstream authentication failed" },
	[FAIL_PROTOCOL] = { 451, "4.5.0", "Upstream protocol error" },
	[FAIL_REJECTED] = { 451, "4.4.0", "Upstream refused the session" },
	[FAIL_INTERNAL] = { 451, "4.3.0", "Local error in processing" },
};

_Static_assert(sizeof(fail_map) / sizeof(fail_map[0]) == FAIL_MAX,
    "fail_map[] must map every enum gw_fail class");

/* smtp_reply_fail_map - the fixed mapping for a class (never NULL) */
const struct smtp_reply_map *
smtp_reply_fail_map(enum gw_fail cls)
{
	/*
	 * A value past the table (a corrupted or newer class) or a hole left
	 * by a class added without a row must still give a 4xx, never a
	 * NULL the caller would dereference.
	 */
	if ((unsigned)cls >= FAIL_MAX || fail_map[cls].text == NULL)
		return &fail_map[FAIL_INTERNAL];
	return &fail_map[cls];
}

/* smtp_reply_for_fail - "451 4.4.1 Upstream unreachable (connect)" */
int
smtp_reply_for_fail(enum gw_fail cls, char *buf, size_t len)
{
	const struct smtp_reply_map	*m = smtp_reply_fail_map(cls);
	int				 n;

	if (len == 0)
		return -1;
	n = snprintf(buf, len, "%03d %s %s (%s)", m->code, m->enh, m->text,
	    fail_name(cls));
	/* a cut reply would be sent as if whole: report it and leave "" */
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return -1;
	}
	return n;
}
