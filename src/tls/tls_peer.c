/*
 * tls_peer.c - what a finished handshake showed of the peer: the facts of
 * the info line (version, cipher, subject, issuer, serial, fingerprint,
 * revocation), the pins, and the probe's report of the chain and checks.
 * Split from tls_io.c, which keeps the session and its I/O.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */
#include <wolfssl/openssl/evp.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "net/io.h"
#include "tls/tls.h"
#include "tls/tls_cert.h"
#include "util/base64.h"
#include "util/str.h"

static void	tio_hex(const unsigned char *, size_t, int, char *, size_t);
static int	tio_spki_sha256(struct tls_conn *, unsigned char *);
static void	tio_time(WOLFSSL_ASN1_TIME *, char *, size_t);

/* tls_x509_name - a certificate name as escaped one-line text */
void
tls_x509_name(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
{
	char	 raw[512];

	if (name == NULL ||
	    wolfSSL_X509_NAME_oneline(name, raw, sizeof(raw)) == NULL) {
		(void)str_copy(out, "-", outlen);
		return;
	}
	/* names come from the peer: hostile text in our logs otherwise */
	(void)str_vis(out, outlen, raw, strnlen(raw, sizeof(raw)));
}

static void
tio_hex(const unsigned char *p, size_t n, int colons, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789ABCDEF";
	size_t			 i, o = 0;

	if (outlen == 0)
		return;
	for (i = 0; i < n; i++) {
		if (o + 3 + (colons && i > 0) > outlen)
			break;
		if (colons && i > 0)
			out[o++] = ':';
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 0x0f];
	}
	out[o] = '\0';
}

/* tio_collect - fill tc->info from the finished handshake */
void
tio_collect(struct tls_conn *tc)
{
	struct tls_info	*ti = &tc->info;
	WOLFSSL_X509	*x;
	WOLFSSL_ASN1_TIME *t;
	unsigned char	 md[WC_SHA256_DIGEST_SIZE], serial[64];
	unsigned int	 mdlen = sizeof(md);
	int		 slen = sizeof(serial);
	const char	*s;
	struct tm	 tm;

	s = wolfSSL_get_version(tc->ssl);
	(void)str_copy(ti->version, s != NULL ? s : "-", sizeof(ti->version));
	s = wolfSSL_get_cipher_name(tc->ssl);
	(void)str_copy(ti->cipher, s != NULL ? s : "-", sizeof(ti->cipher));
	s = wolfSSL_get_curve_name(tc->ssl);
	(void)str_copy(ti->group, s != NULL ? s : "(none)", sizeof(ti->group));
	ti->resumed = wolfSSL_session_reused(tc->ssl) ? 1 : 0;
	/* no verify callback ran: what the session's full handshake let pass */
	if (ti->resumed)
		tc->used = tc->sess_used;
	tls_verify_describe(tc->used, tc->name_checked, ti->verify,
	    sizeof(ti->verify));
	if (!tc->vp.crl_on)
		(void)str_copy(ti->revocation, "not-checked",
		    sizeof(ti->revocation));
	else if (ti->resumed)
		/* nothing was checked now; the first handshake did */
		(void)str_copy(ti->revocation, "crl:resumed",
		    sizeof(ti->revocation));
	else
		(void)str_copy(ti->revocation, tc->used & TLS_USED_CRL_MISSING ?
		    "crl:missing" : "crl:good", sizeof(ti->revocation));
	if (tc->ocsp.mode != OCSP_OFF || tc->ocsp.stapling != STAPLING_OFF) {
		if (tc->ocsp.pending)
			tc->ocsp.result = TLS_OCSP_PENDING;
		else if (tc->ocsp.result == TLS_OCSP_NONE && !ti->resumed)
			/* no error reached the callback: a cached "good" */
			tc->ocsp.result = TLS_OCSP_GOOD;
		tio_revocation(tc);
	}
	(void)str_copy(ti->pin, tc->npins > 0 ? "ok" : "none", sizeof(ti->pin));

	(void)str_copy(ti->subject, "-", sizeof(ti->subject));
	(void)str_copy(ti->issuer, "-", sizeof(ti->issuer));
	(void)str_copy(ti->fingerprint, "-", sizeof(ti->fingerprint));
	(void)str_copy(ti->not_after, "-", sizeof(ti->not_after));
	(void)str_copy(ti->serial, "-", sizeof(ti->serial));
	if ((x = tio_peer_cert(tc)) == NULL)
		return;
	tls_x509_name(wolfSSL_X509_get_subject_name(x), ti->subject,
	    sizeof(ti->subject));
	tls_x509_name(wolfSSL_X509_get_issuer_name(x), ti->issuer,
	    sizeof(ti->issuer));
	if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS &&
	    slen > 0 && (size_t)slen <= sizeof(serial))
		tio_hex(serial, (size_t)slen, 0, ti->serial, sizeof(ti->serial));
	if (wolfSSL_X509_digest(x, wolfSSL_EVP_sha256(), md, &mdlen) ==
	    WOLFSSL_SUCCESS && mdlen == sizeof(md))
		tio_hex(md, mdlen, 1, ti->fingerprint, sizeof(ti->fingerprint));
	if ((t = wolfSSL_X509_get_notAfter(x)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS)
		(void)strftime(ti->not_after, sizeof(ti->not_after),
		    "%Y-%m-%dT%H:%M:%SZ", &tm);
	wolfSSL_X509_free(x);
}

/*
 * tio_peer_cert - the server's certificate, a copy that the caller frees.
 * wolfSSL_get_peer_certificate() gave NULL for an Ed25519 leaf (tested:
 * its internal duplicate fails), so the leaf as sent is the fallback.
 */
WOLFSSL_X509 *
tio_peer_cert(struct tls_conn *tc)
{
	WOLFSSL_X509_CHAIN	*ch;
	WOLFSSL_X509		*x;

	if ((x = wolfSSL_get_peer_certificate(tc->ssl)) != NULL)
		return x;
	if ((ch = wolfSSL_get_peer_chain(tc->ssl)) == NULL ||
	    wolfSSL_get_chain_count(ch) <= 0)
		return NULL;
	return wolfSSL_get_chain_X509(ch, 0);
}

/*
 * tio_spki_sha256 - SHA-256 of the server certificate's
 * SubjectPublicKeyInfo as encoded in the certificate (RFC 7469): for every
 * key type the same bytes "openssl pkey -pubin -outform DER" gives.
 * wolfSSL_i2d_PUBKEY() is not used: for RSA it gives the PKCS#1 key
 * without the algorithm.  The leaf's DER as sent, from the peer chain.
 */
static int
tio_spki_sha256(struct tls_conn *tc, unsigned char *out)
{
	struct tls_cert_facts	 f;
	WOLFSSL_X509_CHAIN	*ch;
	const unsigned char	*der;
	int			 len;

	if ((ch = wolfSSL_get_peer_chain(tc->ssl)) == NULL ||
	    wolfSSL_get_chain_count(ch) <= 0 ||
	    (der = wolfSSL_get_chain_cert(ch, 0)) == NULL ||
	    (len = wolfSSL_get_chain_length(ch, 0)) <= 0 ||
	    tls_cert_parse(der, (size_t)len, &f) != NULL ||
	    f.spki.len > UINT32_MAX)
		return -1;
	return wc_Sha256Hash(f.spki.p, (word32)f.spki.len, out) == 0 ? 0 : -1;
}

/*
 * tio_check_pins - with pin_sha256 set, the server's key must be one of
 * the pinned ones; -1 (the io's error set) if not.
 */
int
tio_check_pins(struct tls_conn *tc)
{
	unsigned char	 h[WC_SHA256_DIGEST_SIZE];
	char		 b64[64];

	/* the probe shows the server's pin even when none is configured */
	if (tc->npins == 0 && !tc->probe)
		return 0;
	if (tio_spki_sha256(tc, h) == -1) {
		io_set_error(tc->io, FAIL_PIN_MISMATCH, "no %s certificate "
		    "whose public key could be hashed for the pins",
		    tc->srv ? "client" : "server");
		return -1;
	}
	if (base64_encode(h, sizeof(h), b64, sizeof(b64)) == -1)
		(void)str_copy(b64, "?", sizeof(b64));
	if (tc->report != NULL)
		(void)str_copy(tc->report->spki_pin, b64,
		    sizeof(tc->report->spki_pin));
	if (tc->npins == 0)
		return 0;	/* the probe only shows it */
	if (tls_pin_match(h, (const unsigned char (*)[CONF_PIN_LEN])tc->pins,
	    tc->npins)) {
		if (tc->report != NULL)
			tc->report->pin = 1;
		return 0;
	}
	if (tc->report != NULL)
		tc->report->pin = -1;
	io_set_error(tc->io, FAIL_PIN_MISMATCH, "the %s's public key "
	    "matches no %s: its pin is %s, subject=%s",
	    tc->srv ? "client" : "server",
	    tc->srv ? "client_cert_pins" : "pin_sha256", b64,
	    tc->info.subject);
	return -1;
}

/* tio_time - a certificate time as ISO 8601 UTC, or "-" */
static void
tio_time(WOLFSSL_ASN1_TIME *t, char *out, size_t len)
{
	struct tm	 tm;

	(void)str_copy(out, "-", len);
	if (t != NULL && wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS)
		(void)strftime(out, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* tio_probe_chain - the chain as the server sent it, into the report */
void
tio_probe_chain(struct tls_conn *tc)
{
	struct tls_report	*rp = tc->report;
	WOLFSSL_X509_CHAIN	*ch;
	WOLFSSL_X509		*x;
	int			 i, n;

	rp->info = tc->info;
	rp->name_checked = tc->name_checked;
	rp->crl_on = tc->vp.crl_on;
	if ((ch = wolfSSL_get_peer_chain(tc->ssl)) != NULL &&
	    (n = wolfSSL_get_chain_count(ch)) > 0) {
		for (i = 0; i < n && i < TLS_REPORT_CHAIN; i++) {
			/* an allocated copy: freed here */
			if ((x = wolfSSL_get_chain_X509(ch, i)) == NULL)
				break;
			tls_x509_name(wolfSSL_X509_get_subject_name(x),
			    rp->chain[i].subject, sizeof(rp->chain[i].subject));
			tls_x509_name(wolfSSL_X509_get_issuer_name(x),
			    rp->chain[i].issuer, sizeof(rp->chain[i].issuer));
			tio_time(wolfSSL_X509_get_notBefore(x),
			    rp->chain[i].not_before,
			    sizeof(rp->chain[i].not_before));
			tio_time(wolfSSL_X509_get_notAfter(x),
			    rp->chain[i].not_after,
			    sizeof(rp->chain[i].not_after));
			wolfSSL_X509_free(x);
			rp->nchain++;
		}
	}
	/* the relay's verdict: the first refused check, then the pins */
	if (tc->verr != 0) {
		rp->verdict = tls_verify_class(tc->verr);
		(void)snprintf(rp->why, sizeof(rp->why), "%s (%d) at depth %d",
		    tls_verify_text(tc->verr), tc->verr, tc->vdepth);
	} else if (rp->pin == -1) {
		rp->verdict = FAIL_PIN_MISMATCH;
		(void)snprintf(rp->why, sizeof(rp->why), "the server's key "
		    "matches no pin_sha256");
	} else
		rp->verdict = FAIL_NONE;
}

/* tls_get_report - the probe's report of a finished handshake */
int
tls_get_report(const struct gw_io *io, struct tls_report *rp)
{
	const struct tls_conn	*tc;

	if (io == NULL || (tc = io_transport_ctx(io)) == NULL ||
	    tc->magic != TLS_CONN_MAGIC || !tc->done || tc->report == NULL)
		return -1;
	*rp = *tc->report;
	/* an OCSP answer fetched after the handshake updated tc->info */
	rp->info = tc->info;
	return 0;
}

/* tls_report_check - one check and its verdict into the probe's report */
void
tls_report_check(struct tls_conn *tc, int depth, int err, int accepted)
{
	struct tls_report	*rp = tc->report;

	if (rp == NULL || rp->nchecks >= TLS_REPORT_CHECKS)
		return;
	rp->checks[rp->nchecks].depth = depth;
	rp->checks[rp->nchecks].err = err;
	rp->checks[rp->nchecks].accepted = accepted;
	rp->nchecks++;
}
