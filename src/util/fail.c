/*
 * fail - the classes of upstream failure and their stable names.
 */
#include <stddef.h>

#include "util/fail.h"

/* operators grep logs for these: never rename one */
static const char *const fail_names[] = {
	[FAIL_NONE] = "none",
	[FAIL_DNS] = "dns",
	[FAIL_CONNECT] = "connect",
	[FAIL_TIMEOUT] = "timeout",
	[FAIL_CLOSED] = "closed",
	[FAIL_TLS_PROTOCOL] = "tls-protocol",
	[FAIL_CERT_UNTRUSTED] = "cert-untrusted",
	[FAIL_CERT_EXPIRED] = "cert-expired",
	[FAIL_CERT_NOT_YET_VALID] = "cert-not-yet-valid",
	[FAIL_CERT_NAME_MISMATCH] = "cert-name-mismatch",
	[FAIL_CERT_REVOKED] = "cert-revoked",
	[FAIL_REVOCATION_UNKNOWN] = "revocation-unknown",
	[FAIL_PIN_MISMATCH] = "pin-mismatch",
	[FAIL_STARTTLS_UNAVAILABLE] = "starttls-unavailable",
	[FAIL_CLIENT_CERT_REJECTED] = "client-cert-rejected",
	[FAIL_AUTH] = "auth-failed",
	[FAIL_PROTOCOL] = "protocol",
	[FAIL_REJECTED] = "rejected",
	[FAIL_INTERNAL] = "internal",
	[FAIL_PROXY_CONNECT] = "proxy-connect",
	[FAIL_PROXY_REFUSED] = "proxy-refused",
	[FAIL_PROXY_AUTH] = "proxy-auth",
};

_Static_assert(sizeof(fail_names) / sizeof(fail_names[0]) == FAIL_MAX,
    "fail_names[] must name every enum gw_fail class");

/* fail_name - stable short name of a class ("tls-protocol") */
const char *
fail_name(enum gw_fail f)
{
	/* a corrupted value must not index past the table */
	if ((unsigned)f >= FAIL_MAX || fail_names[f] == NULL)
		return "unknown";
	return fail_names[f];
}
