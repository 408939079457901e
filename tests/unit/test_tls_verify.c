/*
 * test_tls_verify.c - the verdict table: every number that this wolfSSL
 * build was seen to report (shared/docs/wolfssl-notes.md section 3), from
 * the verify callback, wolfSSL_get_error() and wolfSSL_get_verify_result(),
 * maps to the right failure class, and unknown numbers are protocol errors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "tls/tls.h"

struct vcase {
	int		 err;
	enum gw_fail	 want;
	const char	*why;	/* where the number comes from */
};

static const struct vcase cases[] = {
	/* expired leaf: callback 14, get_error -151, verify_result 10 */
	{ 14,	FAIL_CERT_EXPIRED,		"expired, callback" },
	{ -151,	FAIL_CERT_EXPIRED,		"expired, get_error" },
	{ 10,	FAIL_CERT_EXPIRED,		"expired, verify_result" },
	/* not yet valid: 13 / -150 / 9 */
	{ 13,	FAIL_CERT_NOT_YET_VALID,	"not yet valid, callback" },
	{ -150,	FAIL_CERT_NOT_YET_VALID,	"not yet valid, get_error" },
	{ 9,	FAIL_CERT_NOT_YET_VALID,	"not yet valid, verify_result" },
	/* self-signed leaf: 18 / -275 / 21 */
	{ 18,	FAIL_CERT_UNTRUSTED,		"self-signed, callback" },
	{ -275,	FAIL_CERT_UNTRUSTED,		"self-signed, get_error" },
	{ 21,	FAIL_CERT_UNTRUSTED,		"self-signed, verify_result" },
	/* unknown root / no CA: 20 / -188 */
	{ 20,	FAIL_CERT_UNTRUSTED,		"unknown root, callback" },
	{ -188,	FAIL_CERT_UNTRUSTED,		"unknown root, get_error" },
	{ 19,	FAIL_CERT_UNTRUSTED,		"self-signed in chain" },
	{ 2,	FAIL_CERT_UNTRUSTED,		"no issuer certificate" },
	{ -155,	FAIL_CERT_UNTRUSTED,		"ASN_SIG_CONFIRM_E" },
	{ -152,	FAIL_CERT_UNTRUSTED,		"ASN_SIG_OID_E" },
	{ -357,	FAIL_CERT_UNTRUSTED,		"NOT_CA_ERROR" },
	{ -368,	FAIL_CERT_UNTRUSTED,		"MAX_CHAIN_ERROR" },
	{ -329,	FAIL_CERT_UNTRUSTED,		"VERIFY_CERT_ERROR" },
	/* name mismatch: -322 everywhere */
	{ -322,	FAIL_CERT_NAME_MISMATCH,	"DOMAIN_NAME_MISMATCH" },
	{ 62,	FAIL_CERT_NAME_MISMATCH,	"X509_V_ERR_HOSTNAME_MISMATCH" },
	{ 64,	FAIL_CERT_NAME_MISMATCH,	"X509_V_ERR_IP_ADDRESS_MISMATCH" },
	/* revocation */
	{ -361,	FAIL_CERT_REVOKED,		"CRL revoked" },
	{ -360,	FAIL_CERT_REVOKED,		"OCSP revoked (lookup or staple)" },
	{ 23,	FAIL_CERT_REVOKED,		"revoked, verify_result" },
	{ -362,	FAIL_REVOCATION_UNKNOWN,	"CRL missing" },
	{ -365,	FAIL_REVOCATION_UNKNOWN,	"OCSP needs URL" },
	{ -366,	FAIL_REVOCATION_UNKNOWN,	"must-staple, no staple" },
	{ -367,	FAIL_REVOCATION_UNKNOWN,	"OCSP response unusable" },
	{ -407,	FAIL_REVOCATION_UNKNOWN,	"OCSP responder unreachable" },
	{ 28,	FAIL_REVOCATION_UNKNOWN,	"revocation unknown, verify_result" },
	{ -191,	FAIL_REVOCATION_UNKNOWN,	"OCSP signature bad: never good" },
	/* not certificate problems: protocol */
	{ -313,	FAIL_TLS_PROTOCOL,		"received fatal alert" },
	{ -326,	FAIL_TLS_PROTOCOL,		"record layer version error" },
	{ -501,	FAIL_TLS_PROTOCOL,		"no matching cipher suite" },
	{ -308,	FAIL_TLS_PROTOCOL,		"socket error" },
	{ -173,	FAIL_TLS_PROTOCOL,		"BAD_FUNC_ARG" },
	{ 1,	FAIL_TLS_PROTOCOL,		"unknown positive" },
	{ 9999,	FAIL_TLS_PROTOCOL,		"unknown large" },
	{ -99999, FAIL_TLS_PROTOCOL,		"unknown negative" },
	/* smtpgate's own checks (TLS_VERR_* in tls_local.h) */
	{ -10501, FAIL_CERT_UNTRUSTED,		"RSA key under 2048 bits" },
	{ -10502, FAIL_CERT_UNTRUSTED,		"SHA-1 signature" },
	{ -10503, FAIL_CERT_UNTRUSTED,		"MD5 signature" },
	{ -10504, FAIL_CERT_UNTRUSTED,		"certificate not parsable" },
};

static void
test_class_table(void **state)
{
	size_t		 i;
	enum gw_fail	 got;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = tls_verify_class(cases[i].err);
		if (got != cases[i].want) {
			fprintf(stderr, "err %d (%s): got %s, want %s\n",
			    cases[i].err, cases[i].why, fail_name(got),
			    fail_name(cases[i].want));
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_zero_is_no_failure(void **state)
{
	(void)state;
	assert_int_equal(tls_verify_class(0), FAIL_NONE);
	assert_string_equal(tls_verify_text(0), "ok");
}

static void
test_texts(void **state)
{
	size_t		 i;
	const char	*t;

	(void)state;
	/* every number has a non-empty, printable text */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		t = tls_verify_text(cases[i].err);
		assert_non_null(t);
		assert_true(strlen(t) > 0);
	}
	assert_string_equal(tls_verify_text(14), "certificate has expired");
	assert_string_equal(tls_verify_text(-151), "certificate has expired");
	assert_string_equal(tls_verify_text(20),
	    "unable to get local issuer certificate");
	assert_string_equal(tls_verify_text(-322),
	    "certificate name does not match");
	assert_string_equal(tls_verify_text(-12345), "TLS protocol error");
}

static void
test_class_names(void **state)
{
	(void)state;
	/* the names operators grep for */
	assert_string_equal(fail_name(tls_verify_class(-322)),
	    "cert-name-mismatch");
	assert_string_equal(fail_name(tls_verify_class(20)), "cert-untrusted");
	assert_string_equal(fail_name(tls_verify_class(14)), "cert-expired");
	assert_string_equal(fail_name(tls_verify_class(-407)),
	    "revocation-unknown");
	assert_string_equal(fail_name(tls_verify_class(-313)), "tls-protocol");
}

/*
 * The verify callback's verdict: one table of (policy, error, depth) ->
 * (accepted?, what it used).  Errors in the callback's numbering.
 */
struct dcase {
	const char	*name;
	struct tls_vpolicy p;
	int		 err, depth, top;
	int		 want;
	unsigned	 used;
};

#define STRICT		{ 0, 1, 0, 0, 0 }
#define ACC(bits)	{ (bits), 1, 0, 0, 0 }
#define NOCHAIN		{ 0, 0, 0, 0, 0 }
#define CRL(fail, xroot) { 0, 1, 1, (fail), (xroot) }

static const struct dcase dcases[] = {
	{ "ok", STRICT, 0, 0, 1, 1, 0 },
	{ "untrusted, strict", STRICT, 20, 0, 0, 0, 0 },
	{ "untrusted, accepted", ACC(CONF_ACCEPT_UNTRUSTED_ROOT), 20, 0, 0,
	    1, CONF_ACCEPT_UNTRUSTED_ROOT },
	{ "no signer, accepted", ACC(CONF_ACCEPT_UNTRUSTED_ROOT), -188, 0, 0,
	    1, CONF_ACCEPT_UNTRUSTED_ROOT },
	{ "untrusted-root does not cover self-signed",
	    ACC(CONF_ACCEPT_UNTRUSTED_ROOT), 18, 0, 0, 0, 0 },
	{ "self-signed accepted", ACC(CONF_ACCEPT_SELF_SIGNED), 18, 0, 0, 1,
	    CONF_ACCEPT_SELF_SIGNED },
	{ "self-signed does not cover unknown root",
	    ACC(CONF_ACCEPT_SELF_SIGNED), 20, 0, 0, 0, 0 },
	{ "untrusted-root does not cover expired",
	    ACC(CONF_ACCEPT_UNTRUSTED_ROOT), 14, 0, 0, 0, 0 },
	{ "expired accepted", ACC(CONF_ACCEPT_EXPIRED), 14, 1, 1, 1,
	    CONF_ACCEPT_EXPIRED },
	{ "expired does not cover not yet valid", ACC(CONF_ACCEPT_EXPIRED),
	    13, 0, 0, 0, 0 },
	{ "not yet valid accepted", ACC(CONF_ACCEPT_NOT_YET_VALID), -150, 0,
	    0, 1, CONF_ACCEPT_NOT_YET_VALID },
	{ "name mismatch strict", STRICT, -322, 0, 0, 0, 0 },
	{ "name mismatch accepted", ACC(CONF_ACCEPT_NAME_MISMATCH), -322, 0,
	    0, 1, CONF_ACCEPT_NAME_MISMATCH },
	{ "revoked never", ACC(0x1f), -361, 0, 0, 0, 0 },
	{ "revoked never, no chain", NOCHAIN, -361, 0, 0, 0, 0 },
	{ "revoked OCSP never", ACC(0x1f), -360, 0, 0, 0, 0 },
	{ "no chain: untrusted", NOCHAIN, 20, 0, 0, 1, TLS_USED_NO_CHAIN },
	{ "no chain: expired", NOCHAIN, 14, 0, 0, 1, TLS_USED_NO_CHAIN },
	{ "no chain: self-signed", NOCHAIN, 18, 0, 0, 1, TLS_USED_NO_CHAIN },
	{ "no chain: name still checked", NOCHAIN, -322, 0, 0, 0, 0 },
	{ "no chain: protocol error", NOCHAIN, -313, 0, 0, 0, 0 },
	{ "unknown error never", ACC(0x1f), -12345, 0, 0, 0, 0 },
	{ "crl missing ignored", CRL(0, 0), -362, 0, 1, 1,
	    TLS_USED_CRL_MISSING },
	{ "crl missing fail", CRL(1, 0), -362, 0, 1, 0, 0 },
	{ "crl missing at top, fail", CRL(1, 0), -362, 1, 1, 0, 0 },
	{ "chain-except-root: root CRL not needed", CRL(1, 1), -362, 1, 1, 1,
	    TLS_USED_CRL_ROOT },
	{ "chain-except-root: leaf CRL needed", CRL(1, 1), -362, 0, 1, 0, 0 },
	{ "chain-except-root: depth 0 is not the top", CRL(1, 1), -362, 0, 0,
	    0, 0 },
	{ "chain-except-root: mid-chain CRL needed", CRL(1, 1), -362, 1, 2, 0,
	    0 },
	{ "crl missing without CRLs configured", STRICT, -362, 0, 0, 0, 0 },
	/* smtpgate's own checks (tls_io.c), each with its own word only */
	{ "weak RSA key strict", STRICT, -10501, 0, 0, 0, 0 },
	{ "weak RSA key accepted", ACC(CONF_ACCEPT_WEAK_RSA_KEY), -10501, 0,
	    0, 1, CONF_ACCEPT_WEAK_RSA_KEY },
	{ "weak RSA key: other words do not cover it",
	    ACC(0x1f | CONF_ACCEPT_SHA1_SIGNATURE), -10501, 0, 0, 0, 0 },
	{ "weak RSA key: not waived by verify_chain = no", NOCHAIN, -10501,
	    0, 0, 0, 0 },
	{ "SHA-1 strict", STRICT, -10502, 1, 1, 0, 0 },
	{ "SHA-1 accepted", ACC(CONF_ACCEPT_SHA1_SIGNATURE), -10502, 1, 1, 1,
	    CONF_ACCEPT_SHA1_SIGNATURE },
	{ "SHA-1: other words do not cover it",
	    ACC(0x1f | CONF_ACCEPT_WEAK_RSA_KEY), -10502, 0, 0, 0, 0 },
	{ "SHA-1 with verify_chain = no", NOCHAIN, -10502, 0, 0, 1,
	    TLS_USED_NO_CHAIN },
	{ "MD5 never by a word", ACC(0x7f), -10503, 0, 0, 0, 0 },
	/* docs/configuration.md: "always refused" */
	{ "MD5, verify_chain = no", NOCHAIN, -10503, 0, 0, 0, 0 },
	{ "unparsable never", ACC(0x7f), -10504, 0, 0, 0, 0 },
	{ "unparsable, verify_chain = no", NOCHAIN, -10504, 0, 0, 0, 0 },
};

static void
test_decide(void **state)
{
	const struct dcase	*d;
	size_t			 i;
	unsigned		 used;
	int			 got, bad = 0;

	(void)state;
	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		d = &dcases[i];
		used = 0;
		got = tls_verify_decide(&d->p, d->err, d->depth, d->top, &used);
		if (got != d->want || used != d->used) {
			print_message("%s: got %d used %#x, want %d used %#x\n",
			    d->name, got, used, d->want, d->used);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_describe(void **state)
{
	char	 buf[128];

	(void)state;
	tls_verify_describe(0, 1, buf, sizeof(buf));
	assert_string_equal(buf, "verified");
	tls_verify_describe(TLS_USED_CRL_MISSING, 0, buf, sizeof(buf));
	assert_string_equal(buf, "verified-chain-only");
	tls_verify_describe(CONF_ACCEPT_UNTRUSTED_ROOT, 1, buf, sizeof(buf));
	assert_string_equal(buf, "accepted:untrusted-root");
	tls_verify_describe(CONF_ACCEPT_EXPIRED | CONF_ACCEPT_SELF_SIGNED, 0,
	    buf, sizeof(buf));
	assert_string_equal(buf, "accepted:self-signed,expired,name-not-checked");
	tls_verify_describe(TLS_USED_NO_CHAIN | CONF_ACCEPT_EXPIRED, 1, buf,
	    sizeof(buf));
	assert_string_equal(buf, "chain-not-verified");
	tls_verify_describe(CONF_ACCEPT_WEAK_RSA_KEY |
	    CONF_ACCEPT_SHA1_SIGNATURE, 1, buf, sizeof(buf));
	assert_string_equal(buf, "accepted:weak-rsa-key,sha1-signature");
	/* a short buffer never overflows */
	tls_verify_describe(0x1f, 0, buf, 8);
	assert_true(strlen(buf) < 8);
}

static void
test_pins_and_alerts(void **state)
{
	unsigned char	 pins[2][CONF_PIN_LEN], h[CONF_PIN_LEN];
	const unsigned char (*pp)[CONF_PIN_LEN] = pins;

	(void)state;
	memset(pins[0], 1, CONF_PIN_LEN);
	memset(pins[1], 2, CONF_PIN_LEN);
	memset(h, 2, sizeof(h));
	assert_int_equal(tls_pin_match(h, pp, 2), 1);
	assert_int_equal(tls_pin_match(h, pp, 1), 0);
	assert_int_equal(tls_pin_match(h, NULL, 0), 0);
	h[31] = 1;
	assert_int_equal(tls_pin_match(h, pp, 2), 0);

	assert_int_equal(tls_alert_class(116), FAIL_CLIENT_CERT_REJECTED);
	assert_int_equal(tls_alert_class(42), FAIL_CLIENT_CERT_REJECTED);
	assert_int_equal(tls_alert_class(48), FAIL_CLIENT_CERT_REJECTED);
	assert_int_equal(tls_alert_class(40), FAIL_TLS_PROTOCOL);
	assert_int_equal(tls_alert_class(70), FAIL_TLS_PROTOCOL);
	assert_int_equal(tls_alert_class(0), FAIL_TLS_PROTOCOL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_class_table),
		cmocka_unit_test(test_zero_is_no_failure),
		cmocka_unit_test(test_texts),
		cmocka_unit_test(test_class_names),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_pins_and_alerts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
