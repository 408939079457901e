/*
 * tls_verify.c - the verdict on a certificate verification error: a failure
 * class and a short text.
 *
 * This wolfSSL build (OPENSSL_COMPATIBLE_DEFAULTS) hands the verify callback
 * a mix of numbers: a few errors arrive as OpenSSL X509_V_ERR_* values
 * (positive), all others as negative wolfSSL codes, and wolfSSL_get_error()
 * after a failed handshake reports yet other values for the same problem
 * (shared/docs/wolfssl-notes.md section 3).  One table covers all of them,
 * so it does not matter which of the three sources an error came from.
 * Pure: no wolfSSL calls, no I/O; the numbers are spelled out so that the
 * table reads the same as the notes and cannot drift with a header.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "tls/tls.h"
#include "util/str.h"

struct verify_entry {
	int		 err;
	enum gw_fail	 cls;
	const char	*text;
};

static const struct verify_entry *verify_find(int);

static const struct verify_entry verify_table[] = {
	/* OpenSSL X509_V_ERR_* numbers, as the callback or verify_result give them */
	{ 2,	FAIL_CERT_UNTRUSTED,	"unable to get issuer certificate" },
	{ 3,	FAIL_REVOCATION_UNKNOWN, "unable to get certificate CRL" },
	{ 4,	FAIL_CERT_UNTRUSTED,	"unable to decrypt certificate signature" },
	{ 6,	FAIL_CERT_UNTRUSTED,	"unable to decode issuer public key" },
	{ 7,	FAIL_CERT_UNTRUSTED,	"certificate signature failure" },
	{ 8,	FAIL_REVOCATION_UNKNOWN, "CRL signature failure" },
	{ 9,	FAIL_CERT_NOT_YET_VALID, "certificate is not yet valid" },
	{ 10,	FAIL_CERT_EXPIRED,	"certificate has expired" },
	{ 11,	FAIL_REVOCATION_UNKNOWN, "CRL is not yet valid" },
	{ 12,	FAIL_REVOCATION_UNKNOWN, "CRL has expired" },
	/* this build reports 13/14 where OpenSSL would say 9/10 */
	{ 13,	FAIL_CERT_NOT_YET_VALID, "certificate is not yet valid" },
	{ 14,	FAIL_CERT_EXPIRED,	"certificate has expired" },
	{ 18,	FAIL_CERT_UNTRUSTED,	"self-signed certificate" },
	{ 19,	FAIL_CERT_UNTRUSTED,	"self-signed certificate in chain" },
	{ 20,	FAIL_CERT_UNTRUSTED,	"unable to get local issuer certificate" },
	{ 21,	FAIL_CERT_UNTRUSTED,	"unable to verify the first certificate" },
	{ 22,	FAIL_CERT_UNTRUSTED,	"certificate chain too long" },
	{ 23,	FAIL_CERT_REVOKED,	"certificate revoked" },
	{ 24,	FAIL_CERT_UNTRUSTED,	"invalid CA certificate" },
	{ 25,	FAIL_CERT_UNTRUSTED,	"path length constraint exceeded" },
	{ 26,	FAIL_CERT_UNTRUSTED,	"unsupported certificate purpose" },
	{ 27,	FAIL_CERT_UNTRUSTED,	"certificate not trusted" },
	/*
	 * wolfSSL_get_verify_result() gives 28 for every "revocation status
	 * could not be established" case (missing CRL, OCSP unreachable or
	 * unusable), not OpenSSL's "certificate rejected".
	 */
	{ 28,	FAIL_REVOCATION_UNKNOWN, "revocation status unknown" },
	{ 29,	FAIL_CERT_UNTRUSTED,	"subject issuer mismatch" },
	{ 30,	FAIL_CERT_UNTRUSTED,	"authority and subject key identifier mismatch" },
	{ 32,	FAIL_CERT_UNTRUSTED,	"key usage does not include certificate signing" },
	{ 33,	FAIL_REVOCATION_UNKNOWN, "unable to get CRL issuer certificate" },
	{ 34,	FAIL_CERT_UNTRUSTED,	"unhandled critical extension" },
	{ 37,	FAIL_CERT_UNTRUSTED,	"invalid non-CA certificate" },
	{ 47,	FAIL_CERT_UNTRUSTED,	"permitted subtree violation" },
	{ 48,	FAIL_CERT_UNTRUSTED,	"excluded subtree violation" },
	{ 62,	FAIL_CERT_NAME_MISMATCH, "hostname mismatch" },
	{ 64,	FAIL_CERT_NAME_MISMATCH, "IP address mismatch" },

	/* wolfCrypt ASN errors */
	{ -150,	FAIL_CERT_NOT_YET_VALID, "certificate is not yet valid" },
	{ -151,	FAIL_CERT_EXPIRED,	"certificate has expired" },
	{ -152,	FAIL_CERT_UNTRUSTED,	"certificate signature algorithm mismatch" },
	{ -155,	FAIL_CERT_UNTRUSTED,	"certificate signature does not verify" },
	{ -156,	FAIL_CERT_UNTRUSTED,	"unsupported certificate signature hash" },
	{ -157,	FAIL_CERT_UNTRUSTED,	"unsupported certificate signature key" },
	{ -178,	FAIL_REVOCATION_UNKNOWN, "OCSP responder not authorised" },
	{ -179,	FAIL_REVOCATION_UNKNOWN, "CRL date error" },
	{ -188,	FAIL_CERT_UNTRUSTED,	"no trusted signer for the certificate" },
	{ -189,	FAIL_REVOCATION_UNKNOWN, "CRL signature does not verify" },
	{ -190,	FAIL_REVOCATION_UNKNOWN, "no trusted signer for the CRL" },
	/* an OCSP answer that fails its signature check is never "good" */
	{ -191,	FAIL_REVOCATION_UNKNOWN, "OCSP response signature does not verify" },
	{ -198,	FAIL_CERT_UNTRUSTED,	"name constraint violation" },
	{ -237,	FAIL_CERT_UNTRUSTED,	"CA path length too large" },
	{ -238,	FAIL_CERT_UNTRUSTED,	"CA path length inversion" },
	{ -275,	FAIL_CERT_UNTRUSTED,	"self-signed certificate" },

	/* wolfSSL TLS-layer certificate errors */
	{ -322,	FAIL_CERT_NAME_MISMATCH, "certificate name does not match" },
	{ -329,	FAIL_CERT_UNTRUSTED,	"certificate verification failed" },
	{ -345,	FAIL_CERT_UNTRUSTED,	"no certificate from the peer" },
	{ -357,	FAIL_CERT_UNTRUSTED,	"issuer is not a CA" },
	{ -360,	FAIL_CERT_REVOKED,	"certificate revoked (OCSP)" },
	{ -361,	FAIL_CERT_REVOKED,	"certificate revoked (CRL)" },
	{ -362,	FAIL_REVOCATION_UNKNOWN, "no CRL for the issuer" },
	{ -363,	FAIL_REVOCATION_UNKNOWN, "CRL monitor setup error" },
	{ -364,	FAIL_REVOCATION_UNKNOWN, "CRL thread error" },
	{ -365,	FAIL_REVOCATION_UNKNOWN, "no OCSP URL for the lookup" },
	{ -366,	FAIL_REVOCATION_UNKNOWN, "OCSP responder does not know the certificate" },
	{ -367,	FAIL_REVOCATION_UNKNOWN, "OCSP lookup failed" },
	{ -368,	FAIL_CERT_UNTRUSTED,	"certificate chain too long" },
	{ -406,	FAIL_REVOCATION_UNKNOWN, "bad certificate status message" },
	{ -407,	FAIL_REVOCATION_UNKNOWN, "OCSP status invalid or responder unreachable" },
	{ -408,	FAIL_REVOCATION_UNKNOWN, "OCSP lookup would block" },
	/* TLS_VERR_NO_STAPLE (tls_local.h) */
	{ -10407, FAIL_REVOCATION_UNKNOWN, "no OCSP staple from the server (ocsp_stapling = require)" },
	/* TLS_VERR_*: smtpgate's own checks (tls_io.c tio_own_checks) */
	{ -10501, FAIL_CERT_UNTRUSTED,	"RSA key shorter than 2048 bits" },
	{ -10502, FAIL_CERT_UNTRUSTED,	"certificate signed with SHA-1" },
	{ -10503, FAIL_CERT_UNTRUSTED,	"certificate signed with MD5, MD4 or MD2" },
	{ -10504, FAIL_CERT_UNTRUSTED,	"certificate cannot be parsed" },
};

static const struct verify_entry *
verify_find(int err)
{
	size_t	 i;

	for (i = 0; i < sizeof(verify_table) / sizeof(verify_table[0]); i++)
		if (verify_table[i].err == err)
			return &verify_table[i];
	return NULL;
}

/* tls_verify_class - failure class of a verification or handshake error */
enum gw_fail
tls_verify_class(int err)
{
	const struct verify_entry	*e;

	if (err == 0)
		return FAIL_NONE;
	/*
	 * Anything we do not know as a certificate problem is a protocol
	 * failure: never guess "untrusted" for an alert or a record error.
	 */
	if ((e = verify_find(err)) == NULL)
		return FAIL_TLS_PROTOCOL;
	return e->cls;
}

/* tls_verify_text - short text for a verification or handshake error */
const char *
tls_verify_text(int err)
{
	const struct verify_entry	*e;

	if (err == 0)
		return "ok";
	if ((e = verify_find(err)) == NULL)
		return "TLS protocol error";
	return e->text;
}

/*
 * Which error numbers each accept word covers.  Narrow on purpose: a word
 * lets through only the numbers listed, in the three numberings this
 * build uses (callback, get_error, verify_result).
 */
static const struct {
	int		 err;
	unsigned	 bit;
} exception_table[] = {
	{ 18,	CONF_ACCEPT_SELF_SIGNED },	/* depth-zero self-signed */
	{ -275,	CONF_ACCEPT_SELF_SIGNED },
	{ 2,	CONF_ACCEPT_UNTRUSTED_ROOT },	/* issuer not found */
	{ 19,	CONF_ACCEPT_UNTRUSTED_ROOT },	/* self-signed root in chain */
	{ 20,	CONF_ACCEPT_UNTRUSTED_ROOT },	/* unknown local issuer */
	{ 21,	CONF_ACCEPT_UNTRUSTED_ROOT },
	{ -188,	CONF_ACCEPT_UNTRUSTED_ROOT },	/* no signer */
	{ 10,	CONF_ACCEPT_EXPIRED },
	{ 14,	CONF_ACCEPT_EXPIRED },
	{ -151,	CONF_ACCEPT_EXPIRED },
	{ 9,	CONF_ACCEPT_NOT_YET_VALID },
	{ 13,	CONF_ACCEPT_NOT_YET_VALID },
	{ -150,	CONF_ACCEPT_NOT_YET_VALID },
	{ -322,	CONF_ACCEPT_NAME_MISMATCH },
	{ 62,	CONF_ACCEPT_NAME_MISMATCH },
	{ 64,	CONF_ACCEPT_NAME_MISMATCH },
	{ -10501, CONF_ACCEPT_WEAK_RSA_KEY },
	{ -10502, CONF_ACCEPT_SHA1_SIGNATURE },
};

static const struct {
	unsigned	 bit;
	const char	*name;
} exception_names[] = {
	{ CONF_ACCEPT_SELF_SIGNED,	"self-signed" },
	{ CONF_ACCEPT_UNTRUSTED_ROOT,	"untrusted-root" },
	{ CONF_ACCEPT_EXPIRED,		"expired" },
	{ CONF_ACCEPT_NOT_YET_VALID,	"not-yet-valid" },
	{ CONF_ACCEPT_NAME_MISMATCH,	"name-mismatch" },
	{ CONF_ACCEPT_WEAK_RSA_KEY,	"weak-rsa-key" },
	{ CONF_ACCEPT_SHA1_SIGNATURE,	"sha1-signature" },
};

/* tls_verify_exception - the accept word that covers err, as a bit */
unsigned
tls_verify_exception(int err)
{
	size_t	 i;

	for (i = 0; i < sizeof(exception_table) / sizeof(exception_table[0]);
	    i++)
		if (exception_table[i].err == err)
			return exception_table[i].bit;
	return 0;
}

/* tls_verify_decide - the verify callback's verdict on one error */
int
tls_verify_decide(const struct tls_vpolicy *p, int err, int depth, int top,
    unsigned *used)
{
	enum gw_fail	 cls;
	unsigned	 bit;

	if (err == 0)
		return 1;
	cls = tls_verify_class(err);
	/* "revoked" is an answer, not a gap: no setting overrides it */
	if (cls == FAIL_CERT_REVOKED)
		return 0;
	if (err == -362 && p->crl_on) {
		/*
		 * The certificate at the top of the chain was issued by the
		 * root, whose CRL chain-except-root does not require.
		 */
		if (p->crl_except_root && depth > 0 && depth == top) {
			*used |= TLS_USED_CRL_ROOT;
			return 1;
		}
		if (!p->crl_missing_fail) {
			*used |= TLS_USED_CRL_MISSING;
			return 1;
		}
		return 0;
	}
	bit = tls_verify_exception(err);
	if (bit != 0 && (p->accept & bit) != 0) {
		*used |= bit;
		return 1;
	}
	/*
	 * A short RSA key can be factored, and then a pin (the usual
	 * companion of verify_chain = no) proves nothing: only its own word
	 * lets it through.  A certificate we cannot read cannot be checked
	 * at all.  MD5, MD4 and MD2 are never accepted (docs/configuration.md),
	 * not even where verify_chain = no waives the rest of the chain.
	 */
	if (err == -10501 || err == -10503 || err == -10504)
		return 0;
	/*
	 * verify_chain = no waives trust and dates, never the name (that is
	 * verify_hostname's) nor a protocol-level certificate error.
	 */
	if (!p->verify_chain && (cls == FAIL_CERT_UNTRUSTED ||
	    cls == FAIL_CERT_EXPIRED || cls == FAIL_CERT_NOT_YET_VALID)) {
		*used |= TLS_USED_NO_CHAIN;
		return 1;
	}
	return 0;
}

/* tls_verify_describe - the verify= value of the info line */
void
tls_verify_describe(unsigned used, int name_checked, char *buf, size_t len)
{
	size_t	 i, n;
	int	 any = 0;

	if (len == 0)
		return;
	if (used & TLS_USED_NO_CHAIN)
		(void)str_copy(buf, "chain-not-verified", len);
	else if (used & (CONF_ACCEPT_SELF_SIGNED | CONF_ACCEPT_UNTRUSTED_ROOT |
	    CONF_ACCEPT_EXPIRED | CONF_ACCEPT_NOT_YET_VALID |
	    CONF_ACCEPT_NAME_MISMATCH | CONF_ACCEPT_WEAK_RSA_KEY |
	    CONF_ACCEPT_SHA1_SIGNATURE)) {
		(void)str_copy(buf, "accepted:", len);
		for (i = 0; i < sizeof(exception_names) /
		    sizeof(exception_names[0]); i++) {
			if (!(used & exception_names[i].bit))
				continue;
			n = strlen(buf);
			(void)snprintf(buf + n, len - n, "%s%s", any ? "," : "",
			    exception_names[i].name);
			any = 1;
		}
	} else {
		(void)str_copy(buf, name_checked ? "verified" :
		    "verified-chain-only", len);
		return;
	}
	if (!name_checked) {
		n = strlen(buf);
		(void)snprintf(buf + n, len - n, ",name-not-checked");
	}
}

/* tls_pin_match - one of the pins equals hash */
int
tls_pin_match(const unsigned char *hash,
    const unsigned char (*pins)[CONF_PIN_LEN], size_t npins)
{
	size_t	 i;

	for (i = 0; i < npins; i++)
		if (memcmp(hash, pins[i], CONF_PIN_LEN) == 0)
			return 1;
	return 0;
}

/* tls_alert_class - class of a fatal alert the server sent */
enum gw_fail
tls_alert_class(int alert)
{
	switch (alert) {
	case 42:	/* bad_certificate */
	case 43:	/* unsupported_certificate */
	case 44:	/* certificate_revoked */
	case 45:	/* certificate_expired */
	case 46:	/* certificate_unknown */
	case 48:	/* unknown_ca */
	case 49:	/* access_denied */
	case 116:	/* certificate_required (TLS 1.3) */
		return FAIL_CLIENT_CERT_REJECTED;
	default:
		return FAIL_TLS_PROTOCOL;
	}
}
