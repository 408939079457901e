/*
 * tls_crl.c - CRLs whose issuer is not in ca_file: the usual corporate
 * layout, a CRL issued by an intermediate that the server presents in its
 * chain, with only the root trusted.
 *
 * wolfSSL checks a CRL's signature when it is loaded and refuses one
 * whose issuer is not a loaded CA (-190, shared/docs/wolfssl-notes.md
 * section 4), so such a CRL cannot go into the context.  We keep its bytes
 * instead ("deferred"), and when a handshake reports "no CRL for the
 * issuer" (-362) for a certificate, we check it ourselves, still with
 * wolfSSL's own CRL code:
 *
 *  1. the verify callback noted the DER of every certificate of the chain
 *     that wolfSSL validated (it runs from the top of the chain down);
 *  2. a throw-away certificate manager trusts only the certificate's
 *     issuer as presented and validated one level up, loads the deferred
 *     CRLs (wolfSSL verifies each CRL's signature with that issuer's key;
 *     CRLs of other issuers fail to load and are skipped), and verifies
 *     the certificate against it, which checks the certificate's
 *     signature by that issuer and its CRL status.
 *
 * So a deferred CRL counts only when signed by the key of the very
 * intermediate that signed the certificate and that chained to a trusted
 * root in this handshake; otherwise the certificate stays "no CRL" and
 * crl_missing decides.  Cost: one CRL parse per such check.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <stdlib.h>
#include <string.h>

#include "util/log.h"

struct crl_buf {
	unsigned char	*data;
	size_t		 len;
	int		 type;		/* WOLFSSL_FILETYPE_PEM or _ASN1 */
};

struct tls_crlset {
	int		 refs;
	struct crl_buf	*bufs;
	size_t		 n;
};

/* tls_crlset_add - keep one deferred CRL; -1 on ENOMEM */
int
tls_crlset_add(struct tls_crlset **setp, const unsigned char *data,
    size_t len, int type)
{
	struct tls_crlset	*set = *setp;
	struct crl_buf		*nb;

	if (set == NULL) {
		if ((set = calloc(1, sizeof(*set))) == NULL)
			return -1;
		set->refs = 1;
		*setp = set;
	}
	if ((nb = reallocarray(set->bufs, set->n + 1, sizeof(*nb))) == NULL)
		return -1;
	set->bufs = nb;
	if ((nb[set->n].data = malloc(len)) == NULL)
		return -1;
	memcpy(nb[set->n].data, data, len);
	nb[set->n].len = len;
	nb[set->n].type = type;
	set->n++;
	return 0;
}

/* tls_crlset_ref - one more holder (a session outlives its context) */
struct tls_crlset *
tls_crlset_ref(struct tls_crlset *set)
{
	if (set != NULL)
		set->refs++;
	return set;
}

/* tls_crlset_unref - the last holder frees */
void
tls_crlset_unref(struct tls_crlset *set)
{
	size_t	 i;

	if (set == NULL || --set->refs > 0)
		return;
	for (i = 0; i < set->n; i++)
		free(set->bufs[i].data);
	free(set->bufs);
	free(set);
}

/* tls_crlset_count - how many CRLs are deferred */
size_t
tls_crlset_count(const struct tls_crlset *set)
{
	return set == NULL ? 0 : set->n;
}

/* tls_crl_note - the validated certificate at depth, copied */
void
tls_crl_note(struct tls_crlchain *ch, int depth, const unsigned char *der,
    size_t len)
{
	if (depth < 0 || depth >= TLS_CRL_DEPTH || der == NULL || len == 0)
		return;
	free(ch->der[depth]);
	ch->len[depth] = 0;
	if ((ch->der[depth] = malloc(len)) == NULL)
		return;		/* unknown issuer: the CRL stays missing */
	memcpy(ch->der[depth], der, len);
	ch->len[depth] = len;
}

void
tls_crlchain_clear(struct tls_crlchain *ch)
{
	int	 i;

	for (i = 0; i < TLS_CRL_DEPTH; i++) {
		free(ch->der[i]);
		ch->der[i] = NULL;
		ch->len[i] = 0;
	}
}

/*
 * tls_crl_check - the CRL status of cert (at depth) from the deferred
 * CRLs: 0 good, -361 revoked, or -362 (or a CRL error) when none of them
 * is a CRL of its validated issuer.
 */
int
tls_crl_check(struct tls_crlset *set, struct tls_crlchain *ch, int depth,
    WOLFSSL_X509 *cert)
{
	WOLFSSL_CERT_MANAGER	*cm;
	const unsigned char	*der;
	size_t			 i, nloaded = 0;
	int			 len = 0, r;

	if (set == NULL || cert == NULL || depth < 0 ||
	    depth + 1 >= TLS_CRL_DEPTH || ch->der[depth + 1] == NULL)
		return -362;
	if ((der = wolfSSL_X509_get_der(cert, &len)) == NULL || len <= 0)
		return -362;
	if ((cm = wolfSSL_CertManagerNew()) == NULL)
		return -362;
	r = -362;
	if (wolfSSL_CertManagerLoadCABuffer(cm, ch->der[depth + 1],
	    (long)ch->len[depth + 1], WOLFSSL_FILETYPE_ASN1) != WOLFSSL_SUCCESS ||
	    wolfSSL_CertManagerEnableCRL(cm, 0) != WOLFSSL_SUCCESS)
		goto done;
	for (i = 0; i < set->n; i++)
		if (wolfSSL_CertManagerLoadCRLBuffer(cm, set->bufs[i].data,
		    (long)set->bufs[i].len, set->bufs[i].type) ==
		    WOLFSSL_SUCCESS)
			nloaded++;
	if (nloaded == 0)
		goto done;	/* none signed by this issuer */
	r = wolfSSL_CertManagerVerifyBuffer(cm, der, len,
	    WOLFSSL_FILETYPE_ASN1);
	if (r == WOLFSSL_SUCCESS)
		r = 0;
	else if (tls_verify_class(r) != FAIL_CERT_REVOKED &&
	    tls_verify_class(r) != FAIL_REVOCATION_UNKNOWN)
		r = -362;	/* not signed by that issuer: no CRL of ours */
done:
	wolfSSL_CertManagerFree(cm);
	return r;
}
