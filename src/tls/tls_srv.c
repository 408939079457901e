/*
 * tls_srv.c - TLS on a listener: the gateway as the TLS server.
 *
 * A listener's context is built like an upstream's (tls_ctx.c's steps for
 * versions, ciphers, curves, CAs and CRLs) with the server method, its own
 * certificate and key, and the client-certificate policy.  A session is a
 * struct tls_conn like a client one, so the verify callback (tls_chain.c),
 * the pins and the info facts are the same code; only the handshake and
 * its log line are the server's own.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/io.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

struct tls_server_ctx {
	struct tls_client_ctx	*tc;		/* srv = 1; host: listener name */
	enum verify_client	 verify;
};

static int	tsrv_handshake(void *);
static int	tsrv_cert(struct tls_client_ctx *, const struct conf_listener *,
		    char *, size_t);
static void	tsrv_failed(struct tls_conn *, int);

static const struct io_transport tsrv_transport = {
	tsrv_handshake, tio_read, tio_write, tio_pending, tio_shutdown,
	tio_free, tio_readable
};

/* the listener's certificate (leaf, then intermediates) and its key */
static int
tsrv_cert(struct tls_client_ctx *tc, const struct conf_listener *l,
    char *err, size_t errlen)
{
	/* errno for a missing file: wolfSSL's code says only "bad file" */
	if (access(l->tls_cert, R_OK) == -1) {
		(void)snprintf(err, errlen, "tls_cert %s: %s", l->tls_cert,
		    strerror(errno));
		return -1;
	}
	if (wolfSSL_CTX_use_certificate_chain_file(tc->ctx, l->tls_cert) !=
	    WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "tls_cert %s: no PEM certificate "
		    "could be loaded", l->tls_cert);
		return -1;
	}
	if (access(l->tls_key, R_OK) == -1) {
		(void)snprintf(err, errlen, "tls_key %s: %s", l->tls_key,
		    strerror(errno));
		return -1;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(tc->ctx, l->tls_key,
	    WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "tls_key %s: cannot load the key "
		    "(not an unencrypted PEM private key?)", l->tls_key);
		return -1;
	}
	if (wolfSSL_CTX_check_private_key(tc->ctx) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "tls_key %s does not belong to "
		    "tls_cert %s", l->tls_key, l->tls_cert);
		return -1;
	}
	/* wolfSSL's check passes any key of the same curve */
	return tls_key_matches(l->tls_cert, "tls_cert", l->tls_key, "tls_key",
	    NULL, err, errlen);
}

/*
 * tls_server_ctx_new - the context of one listener with tls = starttls or
 * implicit; built at start, on SIGHUP (a bad file keeps the old snapshot)
 * and by -t.
 */
struct tls_server_ctx *
tls_server_ctx_new(const struct conf_listener *l, char *err, size_t errlen)
{
	struct tls_server_ctx	*sc;
	struct tls_client_ctx	*tc;
	const struct conf_tls	*ts = &l->tlsset;
	WOLFSSL_METHOD		*method;
	int			 mode;

	(void)tls_ex_index();	/* fatalx if tls_init() was forgotten */
	if ((sc = calloc(1, sizeof(*sc))) == NULL ||
	    (tc = calloc(1, sizeof(*tc))) == NULL) {
		free(sc);
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sc->tc = tc;
	sc->verify = l->verify_client;
	tc->srv = 1;
	(void)str_copy(tc->host, l->name, sizeof(tc->host));
	/* pins alone: known devices, whatever signed their certificates */
	tc->vp.verify_chain = ts->ca_file[0] != '\0';
	tc->vp.crl_on = ts->crl_file[0] != '\0' || ts->crl_path[0] != '\0';
	tc->vp.crl_missing_fail = ts->crl_missing_fail;
	tc->vp.crl_except_root = ts->crl_check == CRL_CHECK_CHAIN_EXCEPT_ROOT;
	if (ts->npins > CONF_MAX_PINS) {
		(void)snprintf(err, errlen, "too many client_cert_pins");
		goto fail;
	}
	memcpy(tc->pins, ts->pins, sizeof(tc->pins));
	tc->npins = ts->npins;
	if ((method = wolfSSLv23_server_method()) == NULL ||
	    (tc->ctx = wolfSSL_CTX_new(method)) == NULL) {
		(void)snprintf(err, errlen, "wolfSSL_CTX_new failed");
		goto fail;
	}
	if (tls_ctx_versions(tc, ts, err, errlen) == -1 ||
	    tls_ctx_algorithms(tc, ts, err, errlen) == -1 ||
	    tsrv_cert(tc, l, err, errlen) == -1)
		goto fail;
	if (sc->verify == VERIFY_CLIENT_NONE) {
		wolfSSL_CTX_set_verify(tc->ctx, WOLFSSL_VERIFY_NONE, NULL);
		return sc;
	}
	/* CAs before CRLs: a CRL loads only once its issuer is trusted */
	if (ts->ca_file[0] != '\0' &&
	    (tls_ctx_load_ca(tc, ts->ca_file, err, errlen) == -1 ||
	    tls_ctx_load_crls(tc, ts, err, errlen) == -1))
		goto fail;
	mode = WOLFSSL_VERIFY_PEER;
	if (sc->verify == VERIFY_CLIENT_REQUIRED)
		mode |= WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
	wolfSSL_CTX_set_verify(tc->ctx, mode, tls_verify_cb);
	/*
	 * No resumption where clients show certificates: a resumed session
	 * runs no verification (a CRL loaded since would not apply) and
	 * carries no peer chain (no subject, fingerprint or pin for the
	 * logs).  Full handshakes only; listeners without client
	 * certificates keep wolfSSL's session cache and tickets.
	 */
	/* returns the previous mode, as OpenSSL's */
	(void)wolfSSL_CTX_set_session_cache_mode(tc->ctx,
	    WOLFSSL_SESS_CACHE_OFF);
	if (wolfSSL_CTX_NoTicketTLSv12(tc->ctx) != WOLFSSL_SUCCESS ||
	    wolfSSL_CTX_no_ticket_TLSv13(tc->ctx) != 0) {	/* 0: done */
		(void)snprintf(err, errlen, "cannot turn session resumption "
		    "off");
		goto fail;
	}
	return sc;
fail:
	tls_server_ctx_free(sc);
	return NULL;
}

/* tls_server_ctx_free - sessions still running keep their own reference */
void
tls_server_ctx_free(struct tls_server_ctx *sc)
{
	if (sc == NULL)
		return;
	tls_client_ctx_free(sc->tc);
	free(sc);
}

/*
 * tls_server_start - the server handshake on io, whose input buffer must
 * be empty: bytes that came before it came in plaintext.
 */
int
tls_server_start(struct gw_io *io, struct tls_server_ctx *sc, uint64_t id,
    const char *peer)
{
	struct tls_client_ctx	*ctx = sc->tc;
	struct tls_conn		*tc;

	if (buf_len(io_in(io)) != 0) {
		io_set_error(io, FAIL_PROTOCOL, "%zu bytes of plaintext "
		    "received before the TLS handshake", buf_len(io_in(io)));
		return -1;
	}
	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		io_set_error(io, FAIL_INTERNAL, "out of memory for TLS");
		return -1;
	}
	tc->magic = TLS_CONN_MAGIC;
	tc->srv = 1;
	tc->io = io;
	tc->id = id;
	(void)str_copy(tc->host, peer, sizeof(tc->host));
	tc->vp = ctx->vp;
	memcpy(tc->pins, ctx->pins, sizeof(tc->pins));
	tc->npins = ctx->npins;
	tc->topdepth = -1;
	tc->cert_requested = sc->verify != VERIFY_CLIENT_NONE;
	if (ctx->crls != NULL)
		tc->crls = tls_crlset_ref(ctx->crls);
	if ((tc->ssl = wolfSSL_new(ctx->ctx)) == NULL) {
		io_set_error(io, FAIL_INTERNAL, "wolfSSL_new failed");
		goto fail;
	}
	if (tio_attach_fd(tc, io_fileno(io)) == -1 ||
	    wolfSSL_set_ex_data(tc->ssl, tls_ex_index(), tc) !=
	    WOLFSSL_SUCCESS) {
		io_set_error(io, FAIL_INTERNAL, "cannot set up the TLS session");
		goto fail;
	}
	if (io_start_transport(io, &tsrv_transport, tc) == -1)
		goto fail;	/* the io recorded why */
	return 0;
fail:
	tio_free(tc);
	return -1;
}

static int
tsrv_peer_sent_cert(struct tls_conn *tc)
{
	WOLFSSL_X509_CHAIN	*ch;

	ch = wolfSSL_get_peer_chain(tc->ssl);
	return ch != NULL && wolfSSL_get_chain_count(ch) > 0;
}

static int
tsrv_handshake(void *arg)
{
	struct tls_conn	*tc = arg;
	struct tls_info	*ti = &tc->info;
	int		 r, err, cert;

	r = wolfSSL_accept(tc->ssl);
	if (r != WOLFSSL_SUCCESS) {
		err = wolfSSL_get_error(tc->ssl, r);
		if (err == WOLFSSL_ERROR_WANT_READ)
			return IO_T_WANT_READ;
		if (err == WOLFSSL_ERROR_WANT_WRITE)
			return IO_T_WANT_WRITE;
		tsrv_failed(tc, err);
		return IO_T_ERROR;
	}
	cert = tsrv_peer_sent_cert(tc);
	/* a full handshake in which the callback never saw the leaf */
	if (cert && tc->cert_requested && !tc->leaf_checked &&
	    !wolfSSL_session_reused(tc->ssl)) {
		io_set_error(tc->io, FAIL_CERT_UNTRUSTED, "the client "
		    "certificate was not checked (no verify callback for it)");
		tsrv_failed(tc, 0);
		return IO_T_ERROR;
	}
	tio_collect(tc);
	/* no name to check on a client certificate */
	if (!tc->cert_requested)
		(void)str_copy(ti->verify, "not-requested", sizeof(ti->verify));
	else if (!cert)
		(void)str_copy(ti->verify, "no-certificate", sizeof(ti->verify));
	else
		tls_verify_describe(tc->used, 1, ti->verify,
		    sizeof(ti->verify));
	if (!cert)
		(void)str_copy(ti->pin, "none", sizeof(ti->pin));
	/*
	 * client_cert_pins: an allow-list of the devices' keys, checked on
	 * every handshake (a resumed one runs no verify callback).  Under
	 * optional, a client without a certificate is not a device.
	 */
	if (cert && tc->npins > 0 && tio_check_pins(tc) == -1) {
		tsrv_failed(tc, 0);
		return IO_T_ERROR;
	}
	tc->done = 1;
	log_kv(GW_LOG_INFO, tc->id, "tls", (struct log_field[]){
	    LOGK_WORD("client", tc->host), LOGK_FLAG("listener_tls", 1),
	    LOGK_WORD("version", ti->version), LOGK_WORD("cipher", ti->cipher),
	    LOGK_WORD("group", ti->group), LOGK_BOOL("resumed", ti->resumed),
	    LOGK_BOOL("client_cert", cert), LOGK_STRV("subject", ti->subject),
	    LOGK_STRV("issuer", ti->issuer), LOGK_WORD("sha256",
	    ti->fingerprint), LOGK_WORD("verify", ti->verify),
	    LOGK_WORD("pin", ti->pin), LOGK_WORD("revocation", cert ?
	    ti->revocation : "-") }, 13);
	return 0;
}

/*
 * A failed handshake: the class (a certificate problem of the client, or
 * the protocol) and a clear line, at info: a refused device is an
 * operator's question, not a debug detail.  err 0: the io's error is set.
 */
static void
tsrv_failed(struct tls_conn *tc, int err)
{
	char	 wtext[WOLFSSL_MAX_ERROR_SZ];

	if (err != 0) {
		tio_errstr(err, wtext, sizeof(wtext));
		if (tc->verr != 0)
			io_set_error(tc->io, tls_verify_class(tc->verr),
			    "client certificate verification failed: %s (%d) "
			    "depth=%d subject=%s; wolfSSL: %s (%d)",
			    tls_verify_text(tc->verr), tc->verr, tc->vdepth,
			    tc->vsubject, wtext, err);
		else if (tc->cert_requested && err == NO_PEER_CERT)
			io_set_error(tc->io, FAIL_CLIENT_CERT_REJECTED,
			    "no client certificate (verify_client = "
			    "required)");
		else if (tls_verify_class(err) != FAIL_TLS_PROTOCOL)
			io_set_error(tc->io, tls_verify_class(err),
			    "client certificate rejected: %s; wolfSSL: %s "
			    "(%d)", tls_verify_text(err), wtext, err);
		else if (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E)
			io_set_error(tc->io, FAIL_CLOSED, "the client closed "
			    "the connection during the TLS handshake");
		else
			io_set_error(tc->io, FAIL_TLS_PROTOCOL,
			    "TLS handshake failed: %s (%d)", wtext, err);
	}
	log_kv(GW_LOG_INFO, tc->id, "tls handshake failed", (struct log_field[]){
	    LOGK_WORD("class", fail_name(io_error_class(tc->io))),
	    LOGK_WORD("client", tc->host),
	    LOGK_STR("reason", io_error(tc->io)) }, 3);
}
