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
#include <string.h>

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
	[FAIL_PROXY_CONNECT] = { 451, "4.4.1", "Proxy to the upstream unreachable" },
	[FAIL_PROXY_REFUSED] = { 451, "4.4.0",
	    "Proxy refused to reach the upstream" },
	[FAIL_PROXY_AUTH] = { 451, "4.7.0", "Proxy authentication failed" },
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

/*
 * Codes for upstream replies that came without one (Exim, aiosmtpd: "250
 * OK", "550 no such user here").  First match wins; code 0 is "any code
 * of class cls".  The specific subjects are used only where the command
 * or the reply code itself says what the status is about: 2.1.0 "sender
 * ok" and 2.1.5 "destination ok" (RFC 3463 as Postfix and Sendmail use
 * them), the X.5.x protocol status of 50x and 555 (RFC 5321 defines
 * those codes as syntax and sequence errors), and the codes RFC 4954
 * gives AUTH replies.  A refusal's cause is otherwise unknown here (a
 * 550 to RCPT may be an unknown user, a full mailbox or a policy), and
 * a wrong subject would mislead the client more than X.0.0 does.
 */
static const struct {
	enum smtp_reply_cmd	 cmd;	/* SMTP_RC_OTHER: any command */
	int			 code;	/* 0: any code of class cls */
	int			 cls;
	const char		*enh;
} enh_map[] = {
	{ SMTP_RC_MAIL, 0, 2, "2.1.0" },
	{ SMTP_RC_RCPT, 0, 2, "2.1.5" },
	{ SMTP_RC_AUTH, 235, 2, "2.7.0" },
	{ SMTP_RC_AUTH, 432, 4, "4.7.12" },
	{ SMTP_RC_AUTH, 454, 4, "4.7.0" },
	{ SMTP_RC_AUTH, 500, 5, "5.5.6" },
	{ SMTP_RC_AUTH, 530, 5, "5.7.0" },
	{ SMTP_RC_AUTH, 534, 5, "5.7.9" },
	{ SMTP_RC_AUTH, 535, 5, "5.7.8" },
	{ SMTP_RC_AUTH, 538, 5, "5.7.11" },
	{ SMTP_RC_OTHER, 500, 5, "5.5.2" },
	{ SMTP_RC_OTHER, 501, 5, "5.5.4" },
	{ SMTP_RC_OTHER, 502, 5, "5.5.1" },
	{ SMTP_RC_OTHER, 503, 5, "5.5.1" },
	{ SMTP_RC_OTHER, 504, 5, "5.5.4" },
	{ SMTP_RC_OTHER, 555, 5, "5.5.4" },
	{ SMTP_RC_OTHER, 0, 2, "2.0.0" },
	{ SMTP_RC_OTHER, 0, 4, "4.0.0" },
	{ SMTP_RC_OTHER, 0, 5, "5.0.0" },
};

/* "c.s.d": class equal to the reply's, subject and detail 1-3 digits */
static int
enh_valid(int code, const char *e)
{
	int	part, digits;

	if (e[0] != '0' + code / 100 || e[1] != '.')
		return 0;
	e += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; *e >= '0' && *e <= '9'; e++)
			digits++;
		if (digits < 1 || digits > 3)
			return 0;
		if (part == 0 && *e++ != '.')
			return 0;
	}
	return *e == '\0';
}

/* smtp_reply_enh - the upstream's enhanced code, or the one that fits */
const char *
smtp_reply_enh(enum smtp_reply_cmd cmd, int code, const char *given)
{
	size_t	i;
	int	cls = code / 100;

	if (code < 200 || code > 599 || cls == 3)
		return NULL;
	if (given != NULL && given[0] != '\0' && enh_valid(code, given))
		return given;
	for (i = 0; i < sizeof(enh_map) / sizeof(enh_map[0]); i++) {
		if (enh_map[i].cmd != SMTP_RC_OTHER && enh_map[i].cmd != cmd)
			continue;
		if (enh_map[i].cls != cls)
			continue;
		if (enh_map[i].code == 0 || enh_map[i].code == code)
			return enh_map[i].enh;
	}
	/* the last rows cover every class: not reached */
	return NULL;
}
