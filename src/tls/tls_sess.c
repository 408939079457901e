/*
 * tls_sess.c - the TLS session cache of one upstream under one
 * configuration snapshot: the last session that passed every check (chain,
 * name, pins, revocation), offered to every new connection so that it can
 * resume (TLS 1.3 tickets, TLS 1.2 tickets or session IDs).
 *
 * One entry, like Postfix's tlsmgr keeps one session per server: a newer
 * good session replaces the older.  The cache hangs off the context
 * (tls_client_ctx), so a reload starts with an empty one; each connection
 * holds a reference, because a reload may free the context while the
 * connection still runs and later stores its session (the old cache then
 * takes it and is freed with its last connection: nothing of an old
 * snapshot is ever offered under a new one).
 *
 * What a resumed handshake does not check again, and why that holds:
 * - the verify callback does not run (no Certificate message), so chain,
 *   name, key size and hash are those of the full handshake that made the
 *   session, under this snapshot's policy (the cache is per snapshot);
 * - dates: nor are they checked, and each resumption brings a new ticket
 *   that is kept in turn, so without a limit a session would outlive its
 *   certificate.  The leaf's notAfter travels with the session (from the
 *   full handshake through every resumption) and a session is not offered
 *   from then on, unless the policy waives dates (accept = expired,
 *   verify_chain = no); a full handshake then checks the certificate the
 *   server has now (often a renewed one);
 * - pins: checked again on every handshake (tls_io.c) against the server
 *   chain wolfSSL keeps in the session (SESSION_CERTS), and a session is
 *   stored only after the pins passed, under the same pins;
 * - CRLs: loaded once per snapshot, so the same CRLs said "good";
 * - OCSP: the answer is valid until its nextUpdate.  A session whose
 *   verdict rests on an OCSP answer keeps the certificates it was about,
 *   and before it is offered the context's certificate manager is asked
 *   again for them without any I/O (tls_ocsp.c's callback answers nothing
 *   outside a handshake): it says good only while it still holds a good
 *   answer that has not passed its nextUpdate.  Otherwise the session is
 *   dropped and a full handshake checks (and fetches) again.
 * - OCSP stapling: no session is kept (tls_io.c says why).
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"

/* tls_sesscache_new - an empty cache; NULL on ENOMEM */
struct tls_sesscache *
tls_sesscache_new(void)
{
	struct tls_sesscache	*sc;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->refs = 1;
	return sc;
}

struct tls_sesscache *
tls_sesscache_ref(struct tls_sesscache *sc)
{
	if (sc != NULL)
		sc->refs++;
	return sc;
}

/* sc_clear - drop the entry */
static void
sc_clear(struct tls_sesscache *sc)
{
	size_t	 i;

	if (sc->sess != NULL)
		wolfSSL_SESSION_free(sc->sess);
	sc->sess = NULL;
	for (i = 0; i < sc->ncerts; i++)
		free(sc->der[i]);
	memset(sc->der, 0, sizeof(sc->der));
	memset(sc->derlen, 0, sizeof(sc->derlen));
	sc->ncerts = 0;
	sc->ocsp = 0;
	sc->used = 0;
	sc->not_after = 0;
}

void
tls_sesscache_unref(struct tls_sesscache *sc)
{
	if (sc == NULL || --sc->refs > 0)
		return;
	sc_clear(sc);
	free(sc);
}

/*
 * sc_ocsp_still_good - 1 if the certificate manager of ssl's context still
 * holds a good OCSP answer, within its dates, for every certificate the
 * stored verdict rests on.  No I/O: outside a handshake the OCSP callback
 * answers nothing, so an expired or missing answer is simply not good.
 */
static int
sc_ocsp_still_good(struct tls_sesscache *sc, WOLFSSL *ssl)
{
	WOLFSSL_CERT_MANAGER	*cm;
	size_t			 i;
	int			 r;

	if (sc->ncerts == 0)
		return 0;
	if ((cm = wolfSSL_CTX_GetCertManager(wolfSSL_get_SSL_CTX(ssl))) ==
	    NULL)
		return 0;
	for (i = 0; i < sc->ncerts; i++) {
		if (sc->derlen[i] > INT32_MAX)
			return 0;
		r = wolfSSL_CertManagerCheckOCSP(cm, sc->der[i],
		    (int)sc->derlen[i]);
		if (r != WOLFSSL_SUCCESS)
			return 0;
	}
	return 1;
}

/*
 * tls_sesscache_offer - set the cached session on ssl before its
 * handshake; 1 if one was offered, 0 if none (or its OCSP verdict has
 * expired: then it is dropped).
 */
int
tls_sesscache_offer(struct tls_sesscache *sc, WOLFSSL *ssl, uint64_t id,
    int *ocsp, unsigned *used, time_t *not_after, unsigned long *gen)
{
	*ocsp = 0;
	*used = 0;
	*not_after = 0;
	*gen = 0;
	if (sc == NULL || sc->sess == NULL)
		return 0;
	if (sc->not_after != 0 && time(NULL) >= sc->not_after) {
		log_debug("%016llx tls session not offered: its certificate "
		    "has expired since; full handshake", (unsigned long long)id);
		sc_clear(sc);
		return 0;
	}
	if (sc->ocsp && !sc_ocsp_still_good(sc, ssl)) {
		log_debug("%016llx tls session not offered: its OCSP answer "
		    "is no longer cached as good (past nextUpdate?); full "
		    "handshake", (unsigned long long)id);
		sc_clear(sc);
		return 0;
	}
	/* SUCCESS even for an expired session: session_reused() tells */
	if (wolfSSL_set_session(ssl, sc->sess) != WOLFSSL_SUCCESS)
		return 0;
	*ocsp = sc->ocsp;
	*used = sc->used;
	*not_after = sc->not_after;
	*gen = sc->gen;
	return 1;
}

/*
 * tls_sesscache_forget - a handshake that offered entry gen failed: drop
 * it (if it is still the one kept), so that one bad session costs one
 * connection, not every connection until a reload.
 */
void
tls_sesscache_forget(struct tls_sesscache *sc, unsigned long gen, uint64_t id)
{
	if (sc == NULL || gen == 0 || sc->sess == NULL || sc->gen != gen)
		return;
	log_info("%016llx tls session dropped: the handshake that offered "
	    "it failed; the next connection makes a full handshake",
	    (unsigned long long)id);
	sc_clear(sc);
}

/*
 * tls_sesscache_store - keep ssl's session as the last good one.  Only
 * called for a handshake that passed every check; ocsp says whether that
 * verdict rests on an OCSP answer (then the certificates it was about are
 * kept for the re-check before offering: the leaf, or the chain with
 * ocsp_check = chain).  used: what the policy let through in the full
 * handshake (TLS_USED_*), so that a resumed session's verify= says the
 * same.  not_after: past it the session is not offered (0: never).
 * 0 if stored, -1 if the session cannot resume.
 */
int
tls_sesscache_store(struct tls_sesscache *sc, WOLFSSL *ssl, int ocsp,
    int ocsp_chain, unsigned used, time_t not_after)
{
	WOLFSSL_SESSION		*s;
	WOLFSSL_X509_CHAIN	*ch;
	const unsigned char	*der;
	size_t			 i, n;
	int			 len;

	if (sc == NULL)
		return -1;
	if ((s = wolfSSL_get1_session(ssl)) == NULL)
		return -1;
	if (!wolfSSL_SESSION_is_resumable(s)) {
		wolfSSL_SESSION_free(s);
		return -1;
	}
	sc_clear(sc);
	sc->sess = s;
	sc->gen++;
	sc->used = used;
	sc->not_after = not_after;
	if (!ocsp)
		return 0;
	sc->ocsp = 1;
	if ((ch = wolfSSL_get_peer_chain(ssl)) == NULL ||
	    wolfSSL_get_chain_count(ch) <= 0) {
		sc_clear(sc);	/* nothing to re-check: never offer it */
		return -1;
	}
	n = ocsp_chain ? (size_t)wolfSSL_get_chain_count(ch) : 1;
	if (n > TLS_OCSP_MAXREQ)
		n = TLS_OCSP_MAXREQ;
	for (i = 0; i < n; i++) {
		if ((der = wolfSSL_get_chain_cert(ch, (int)i)) == NULL ||
		    (len = wolfSSL_get_chain_length(ch, (int)i)) <= 0 ||
		    (sc->der[i] = malloc((size_t)len)) == NULL) {
			sc_clear(sc);
			return -1;
		}
		memcpy(sc->der[i], der, (size_t)len);
		sc->derlen[i] = (size_t)len;
		sc->ncerts = i + 1;
	}
	return 0;
}
