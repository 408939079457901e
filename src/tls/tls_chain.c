/*
 * tls_chain.c - the verify callback of every client session: the policy's
 * verdict on what wolfSSL reports for each certificate of the chain, and
 * the checks smtpgate makes itself on each certificate's own DER (host
 * name, RSA key size, signature hash; tls_cert.c, tls_name.c), plus the
 * deferred CRLs (tls_crl.c).
 *
 * The callback records the first problem with its depth and subject,
 * because after a failed handshake wolfSSL_get_error() often says only
 * -188 ("no signer") whatever the real problem was.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <string.h>
#include <time.h>

#include "tls/tls.h"
#include "tls/tls_cert.h"
#include "util/log.h"
#include "util/str.h"

static int	tio_lib_error(struct tls_conn *, int *, int, WOLFSSL_X509 *);
static void	tio_verdict(struct tls_conn *, int, int, int, WOLFSSL_X509 *);
static int	tio_own_checks(struct tls_conn *, WOLFSSL_X509 *, int);
static int	tio_cert_dates(WOLFSSL_X509 *);
static void	tio_learn_ca(struct tls_conn *, WOLFSSL *, WOLFSSL_X509 *);

/* tls_verify_cb - decide on each certificate; record the first problem */
/*
 * With no certificate from the client wolfSSL still passes an (empty)
 * X509; the chain it received is what tells.  Should that chain only
 * be filled later, the leaf goes unchecked and tls_srv.c fails closed.
 */
static int
tls_srv_no_peer_cert(WOLFSSL *ssl)
{
	WOLFSSL_X509_CHAIN	*ch;

	ch = wolfSSL_get_peer_chain(ssl);
	return ch == NULL || wolfSSL_get_chain_count(ch) <= 0;
}

int
tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL		*ssl;
	WOLFSSL_X509	*cert;
	struct tls_conn	*tc = NULL;
	const unsigned char *der;
	int		 err, err0, depth, ok, len = 0;

	err = wolfSSL_X509_STORE_CTX_get_error(store);
	depth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
	/* current_cert is owned by the store: never freed here */
	cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
	ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store,
	    wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl != NULL)
		tc = wolfSSL_get_ex_data(ssl, tls_ex_index());
	if (tc != NULL && tc->magic != TLS_CONN_MAGIC)
		tc = NULL;
	/*
	 * Without our session state there is no policy and none of our own
	 * checks (name, key size, hash) can run: fail closed.
	 */
	if (tc == NULL)
		return 0;
	/*
	 * A listener asked for a certificate the client did not send: the
	 * callback still runs, with none.  verify_client = required fails
	 * in wolfSSL (no peer certificate); optional goes on without one.
	 */
	if (tc->srv && (cert == NULL || tls_srv_no_peer_cert(ssl)))
		return preverify;
	/* called top of the chain first, for every certificate (notes 3) */
	if (tc->topdepth < 0)
		tc->topdepth = depth;
	/*
	 * preverify alone is not enough: with some host-check paths wolfSSL
	 * passes preverify=1 together with err=-322 (notes section 3).
	 */
	if (!preverify && err == 0)
		err = -329;	/* VERIFY_CERT_ERROR: failed without a reason */
	/*
	 * A certificate wolfSSL chained to a trust anchor (a missing CRL
	 * is no trust problem) may vouch for a deferred CRL one level
	 * down (tls_crl.c).
	 */
	if (tc->crls != NULL && (err == 0 || err == -362) && cert != NULL &&
	    (der = wolfSSL_X509_get_der(cert, &len)) != NULL && len > 0)
		tls_crl_note(&tc->crlchain, depth, der, (size_t)len);
	err0 = err;
	ok = err == 0 || tio_lib_error(tc, &err, depth, cert);
	if (ok && err0 == -362 && depth > 0 && cert != NULL)
		tio_learn_ca(tc, ssl, cert);
	/* the probe goes on: it wants every check, and sends no mail */
	if (!ok && !tc->probe)
		return 0;
	/* wolfSSL's checks passed or were let through: now ours */
	if (!tio_own_checks(tc, cert, depth))
		ok = 0;
	return tc->probe ? 1 : ok;
}

/*
 * tio_learn_ca - wolfSSL adds an intermediate of the peer's chain to the
 * context's store, where the certificate below it finds its issuer, only
 * when nothing at all was reported for it.  One whose only problem is a
 * missing CRL (a root-only store, crl_check = chain, no CRL from the
 * root, and a policy that lets that through) is left out, and the leaf
 * then fails "unable to get local issuer" (tested, both sides).  Its
 * signature and dates did check against a trust anchor (wolfSSL looks
 * for a CRL only after those), so add it as wolfSSL would have.
 *
 * Only a CA, as wolfSSL adds only those: the store takes what it is
 * given as a trust anchor whatever its basicConstraints, and a leaf the
 * root issued directly (whose CRL is missing just the same) would then
 * sign certificates forged with its key, verified as good.
 */
static void
tio_learn_ca(struct tls_conn *tc, WOLFSSL *ssl, WOLFSSL_X509 *cert)
{
	const unsigned char	*der;
	WOLFSSL_CTX		*ctx;
	unsigned int		 ku;
	int			 len = 0;

	/* keyUsage absent reads 0 (or all bits): any use */
	ku = wolfSSL_X509_get_keyUsage(cert);
	if (wolfSSL_X509_get_isCA(cert) != 1 ||
	    (ku != 0 && (ku & KEYUSE_KEY_CERT_SIGN) == 0)) {
		log_trace(LOGF_TLS, "%016llx tls %s:%u: depth>0 certificate "
		    "with no CRL is not a CA: not added to the trust store",
		    (unsigned long long)tc->id, tc->host, tc->port);
		return;
	}
	if ((der = wolfSSL_X509_get_der(cert, &len)) == NULL || len <= 0 ||
	    (ctx = wolfSSL_get_SSL_CTX(ssl)) == NULL)
		return;
	if (wolfSSL_CTX_load_verify_buffer(ctx, der, len,
	    WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS)
		log_trace(LOGF_TLS, "%016llx tls %s:%u: an intermediate with "
		    "no CRL could not be added to the trust store",
		    (unsigned long long)tc->id, tc->host, tc->port);
}

/*
 * tio_lib_error - the policy's verdict on an error wolfSSL reported for
 * the certificate at depth: 1 to go on (our own checks still follow), 0
 * to fail, recorded.
 */
static int
tio_lib_error(struct tls_conn *tc, int *errp, int depth, WOLFSSL_X509 *cert)
{
	int	 err = *errp, derr, ok;

	/*
	 * Stapling: a good staple raises no error and a revoked one fails
	 * the handshake without asking us (-360).  An unknown status here
	 * means the server stapled nothing usable.
	 */
	if (tc->ocsp.stapling != STAPLING_OFF && tls_ocsp_is_unknown(err)) {
		if (tc->ocsp.stapling == STAPLING_REQUEST) {
			tc->ocsp.result = TLS_OCSP_NO_STAPLE;
			return 1;
		}
		err = TLS_VERR_NO_STAPLE;
	}
	/*
	 * OCSP: our callback answered "not cached" and recorded the
	 * request; the answer is fetched after the handshake and decides
	 * then (tls_ocsp.c).  A cached "unknown" is a gap that soft lets
	 * through; "revoked" never passes (tls_verify_decide).
	 */
	if (tc->ocsp.mode != OCSP_OFF && tls_ocsp_is_unknown(err)) {
		if (tc->ocsp.nitems > 0 || tc->ocsp.overflow) {
			tc->ocsp.pending = 1;
			return 1;
		}
		if (tc->ocsp.mode == OCSP_SOFT) {
			tc->ocsp.result = TLS_OCSP_UNKNOWN;
			return 1;
		}
	}
	/*
	 * A CRL issued by an intermediate that is not in ca_file could not
	 * be loaded into the context: wolfSSL finds no CRL for the issuer,
	 * and we check the deferred CRLs against the issuer the chain
	 * presented (tls_crl.c).
	 */
	if (err == -362 && tc->crls != NULL)
		err = tls_crl_check(tc->crls, &tc->crlchain, depth, cert);
	if (err == 0)
		return 1;
	ok = tls_verify_decide(&tc->vp, err, depth, tc->topdepth, &tc->used);
	/*
	 * wolfSSL reports one error per certificate: "unknown issuer" hides
	 * "expired" (tested).  Before any error is let through, the
	 * certificate's dates are checked here, under the same policy.
	 */
	if (ok && (derr = tio_cert_dates(cert)) != 0 && derr != err &&
	    !tls_verify_decide(&tc->vp, derr, depth, tc->topdepth,
	    &tc->used)) {
		ok = 0;
		err = derr;
	}
	*errp = err;
	tio_verdict(tc, depth, err, ok, cert);
	return ok;
}

/*
 * tio_verdict - one decided error: traced when let through, reported to
 * the probe, and kept as the session's reason when it is the first that
 * fails.
 */
static void
tio_verdict(struct tls_conn *tc, int depth, int err, int ok,
    WOLFSSL_X509 *cert)
{
	if (tc->probe)
		tls_report_check(tc, depth, err, ok);
	else if (ok)
		log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u depth=%d "
		    "error %d (%s) let through by policy",
		    (unsigned long long)tc->id, tc->host, tc->port, depth, err,
		    tls_verify_text(err));
	if (ok || tc->verr != 0)
		return;
	tc->verr = err;
	tc->vdepth = depth;
	if (cert != NULL)
		tls_x509_name(wolfSSL_X509_get_subject_name(cert), tc->vsubject,
		    sizeof(tc->vsubject));
	else
		(void)str_copy(tc->vsubject, "-", sizeof(tc->vsubject));
}

/*
 * tio_own_checks - what smtpgate checks itself on every certificate the
 * server sent, from the certificate's own DER: RSA keys of 2048 bits or
 * more, no SHA-1 or MD5 signature (a self-signed certificate's own
 * signature proves nothing and is not judged), and for the leaf the host
 * name (RFC 6125, tls_name.c).  1 if all pass or the policy lets them
 * through, else 0 with the first problem recorded.
 */
static int
tio_own_checks(struct tls_conn *tc, WOLFSSL_X509 *cert, int depth)
{
	struct tls_cert_facts	 f;
	const unsigned char	*der = NULL;
	int			 errs[4], n = 0, i, len = 0, ok = 1, m;

	if (cert != NULL)
		der = wolfSSL_X509_get_der(cert, &len);
	if (der == NULL || len <= 0 ||
	    tls_cert_parse(der, (size_t)len, &f) != NULL) {
		errs[n++] = TLS_VERR_UNPARSABLE;
	} else {
		if (f.key == TLS_KEY_RSA && f.rsa_bits < TLS_RSA_MIN_BITS)
			errs[n++] = TLS_VERR_WEAK_RSA;
		if (f.issuer.len != f.subject.len ||
		    memcmp(f.issuer.p, f.subject.p, f.issuer.len) != 0) {
			if (f.sighash == TLS_SIG_SHA1)
				errs[n++] = TLS_VERR_SHA1;
			else if (f.sighash == TLS_SIG_MD)
				errs[n++] = TLS_VERR_MD;
		}
		if (depth == 0 && tc->name_checked) {
			m = tls_name_match(tc->name, &f);
			if (m == TLS_NAME_NONE)
				errs[n++] = -322;
			else
				log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u "
				    "name %s matched by %s", (unsigned long long)
				    tc->id, tc->host, tc->port, tc->name,
				    m == TLS_NAME_IP ? "an iPAddress" :
				    m == TLS_NAME_WILDCARD ? "a wildcard" :
				    m == TLS_NAME_CN ? "the commonName (no "
				    "dNSName in the certificate)" : "a dNSName");
		}
	}
	if (depth == 0)
		tc->leaf_checked = 1;
	for (i = 0; i < n; i++) {
		if (tls_verify_decide(&tc->vp, errs[i], depth, tc->topdepth,
		    &tc->used)) {
			tio_verdict(tc, depth, errs[i], 1, cert);
			continue;
		}
		tio_verdict(tc, depth, errs[i], 0, cert);
		ok = 0;
		if (!tc->probe)
			break;
	}
	return ok;
}

/*
 * tio_cert_dates - 13 (not yet valid), 14 (expired) or 0 for cert now,
 * in the callback's numbering; 0 when the dates cannot be read (wolfSSL
 * checked them then, or the parse failed and was reported).
 */
static int
tio_cert_dates(WOLFSSL_X509 *cert)
{
	WOLFSSL_ASN1_TIME *t;
	struct tm	 tm;
	time_t		 now = time(NULL);

	if (cert == NULL)
		return 0;
	if ((t = wolfSSL_X509_get_notBefore(cert)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS &&
	    timegm(&tm) > now)
		return 13;
	if ((t = wolfSSL_X509_get_notAfter(cert)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS &&
	    timegm(&tm) < now)
		return 14;
	return 0;
}
