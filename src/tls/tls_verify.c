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

#include "tls/tls.h"

struct verify_entry {
	int		 err;
	enum gw_fail	 cls;
	const char	*text;
};

static const struct verify_entry *verify_find(int);

static const struct verify_entry verify_table[] = {
	/* OpenSSL X509_V_ERR_* numbers, as the callback or verify_result give them */
	{ 2,	FAIL_CERT_UNTRUSTED,	"unable to get issuer certificate" },
	{ 3,	FAIL_CERT_REVOCATION_UNKNOWN, "unable to get certificate CRL" },
	{ 4,	FAIL_CERT_UNTRUSTED,	"unable to decrypt certificate signature" },
	{ 6,	FAIL_CERT_UNTRUSTED,	"unable to decode issuer public key" },
	{ 7,	FAIL_CERT_UNTRUSTED,	"certificate signature failure" },
	{ 8,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL signature failure" },
	{ 9,	FAIL_CERT_NOT_YET_VALID, "certificate is not yet valid" },
	{ 10,	FAIL_CERT_EXPIRED,	"certificate has expired" },
	{ 11,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL is not yet valid" },
	{ 12,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL has expired" },
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
	{ 28,	FAIL_CERT_REVOCATION_UNKNOWN, "revocation status unknown" },
	{ 29,	FAIL_CERT_UNTRUSTED,	"subject issuer mismatch" },
	{ 30,	FAIL_CERT_UNTRUSTED,	"authority and subject key identifier mismatch" },
	{ 32,	FAIL_CERT_UNTRUSTED,	"key usage does not include certificate signing" },
	{ 33,	FAIL_CERT_REVOCATION_UNKNOWN, "unable to get CRL issuer certificate" },
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
	{ -178,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP responder not authorised" },
	{ -179,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL date error" },
	{ -188,	FAIL_CERT_UNTRUSTED,	"no trusted signer for the certificate" },
	{ -189,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL signature does not verify" },
	{ -190,	FAIL_CERT_REVOCATION_UNKNOWN, "no trusted signer for the CRL" },
	/* an OCSP answer that fails its signature check is never "good" */
	{ -191,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP response signature does not verify" },
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
	{ -362,	FAIL_CERT_REVOCATION_UNKNOWN, "no CRL for the issuer" },
	{ -363,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL monitor setup error" },
	{ -364,	FAIL_CERT_REVOCATION_UNKNOWN, "CRL thread error" },
	{ -365,	FAIL_CERT_REVOCATION_UNKNOWN, "no OCSP URL for the lookup" },
	{ -366,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP responder does not know the certificate" },
	{ -367,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP lookup failed" },
	{ -368,	FAIL_CERT_UNTRUSTED,	"certificate chain too long" },
	{ -406,	FAIL_CERT_REVOCATION_UNKNOWN, "bad certificate status message" },
	{ -407,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP status invalid or responder unreachable" },
	{ -408,	FAIL_CERT_REVOCATION_UNKNOWN, "OCSP lookup would block" },
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
