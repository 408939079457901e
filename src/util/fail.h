/*
 * fail - the classes of upstream failure.
 *
 * Contract: one enum flows from net/tls through smtp_client and relay into
 * smtp_reply's mapping to the client's 4xx.  Names are stable: they appear
 * in logs and in reply texts, and operators grep for them.
 */
#ifndef GW_FAIL_H
#define GW_FAIL_H

enum gw_fail {
	FAIL_NONE = 0,
	FAIL_DNS,			/* "dns" */
	FAIL_CONNECT,			/* "connect" */
	FAIL_TIMEOUT,			/* "timeout" */
	FAIL_CLOSED,			/* "closed": peer went away */
	FAIL_TLS_PROTOCOL,		/* "tls-protocol" */
	FAIL_CERT_UNTRUSTED,		/* "cert-untrusted" */
	FAIL_CERT_EXPIRED,		/* "cert-expired" */
	FAIL_CERT_NOT_YET_VALID,	/* "cert-not-yet-valid" */
	FAIL_CERT_NAME_MISMATCH,	/* "cert-name-mismatch" */
	FAIL_CERT_REVOKED,		/* "cert-revoked" */
	FAIL_REVOCATION_UNKNOWN,	/* "revocation-unknown" */
	FAIL_PIN_MISMATCH,		/* "pin-mismatch" */
	FAIL_STARTTLS_UNAVAILABLE,	/* "starttls-unavailable" */
	FAIL_CLIENT_CERT_REJECTED,	/* "client-cert-rejected" */
	FAIL_AUTH,			/* "auth-failed" */
	FAIL_PROTOCOL,			/* "protocol": upstream broke SMTP */
	FAIL_REJECTED,			/* "rejected": banner/EHLO refused */
	FAIL_INTERNAL,			/* "internal": our resources */
	FAIL_PROXY_CONNECT,		/* "proxy-connect": proxy unreachable */
	FAIL_PROXY_REFUSED,		/* "proxy-refused": it would not connect */
	FAIL_PROXY_AUTH,		/* "proxy-auth": our proxy login refused */
	FAIL_MAX
};

/* fail_name - stable short name of a class ("tls-protocol") */
const char *fail_name(enum gw_fail);

#endif
