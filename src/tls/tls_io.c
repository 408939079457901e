/*
 * tls_io.c - a wolfSSL client session layered over an io as its transport.
 *
 * wolfSSL does its own socket I/O on the raw non-blocking fd; the io keeps
 * the events, the buffers and the "same bytes again after WANT_WRITE" rule.
 * Nothing read in plaintext can reach the TLS parser: the session starts
 * only on an empty input buffer (STARTTLS injection, CVE-2011-0411 class).
 *
 * The verify callback (tls_chain.c) records the first error it sees with
 * its depth and subject, because after a failed handshake
 * wolfSSL_get_error() often says only -188 ("no signer") whatever the real
 * problem was; the pins and the info line's facts are made afterwards,
 * in tls_peer.c, and the line is logged here.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/io.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"


static int	tio_handshake(void *);
static ssize_t	tio_ioerror(struct tls_conn *, int, const char *);
static enum gw_fail tio_alert(struct tls_conn *, enum gw_fail, int *);
static const char *tio_ocsp_name(int);
static void	tio_store_session(struct tls_conn *);
static int	tio_ticket_cb(WOLFSSL *, const unsigned char *, int, void *);
static int	tio_not_after(struct tls_conn *, time_t *);
static void	tio_log_done(const struct tls_conn *);

static const struct io_transport tls_transport = {
	tio_handshake, tio_read, tio_write, tio_pending, tio_shutdown, tio_free,
	tio_readable
};

/* tls_cert_cb - the server asked for our certificate: remember it */
int
tls_cert_cb(WOLFSSL *ssl, void *arg)
{
	struct tls_conn	*tc;

	(void)arg;
	tc = wolfSSL_get_ex_data(ssl, tls_ex_index());
	if (tc != NULL && tc->magic == TLS_CONN_MAGIC)
		tc->cert_requested = 1;
	return 1;	/* go on with what the context has (or nothing) */
}

/* tio_conn_fill - a new connection's settings, from its context */
static int
tio_conn_fill(struct tls_conn *tc, const struct tls_client_ctx *ctx,
    struct gw_io *io, uint64_t id)
{
	tc->magic = TLS_CONN_MAGIC;
	tc->io = io;
	tc->id = id;
	tc->port = ctx->port;
	(void)str_copy(tc->host, ctx->host, sizeof(tc->host));
	tc->vp = ctx->vp;
	memcpy(tc->pins, ctx->pins, sizeof(tc->pins));
	tc->npins = ctx->npins;
	tc->warn_no_chain = ctx->warn_no_chain;
	tc->topdepth = -1;
	tc->ocsp.mode = ctx->ocsp;
	tc->ocsp.chain = ctx->ocsp_chain;
	tc->ocsp.timeout = ctx->ocsp_timeout;
	tc->ocsp.stapling = ctx->stapling;
	if (ctx->probe) {
		tc->probe = 1;
		if ((tc->report = calloc(1, sizeof(*tc->report))) == NULL) {
			io_set_error(io, FAIL_INTERNAL, "out of memory for TLS");
			return -1;
		}
	}
	return 0;
}

/* tio_ssl_new - the wolfSSL object on io's socket, stapling and SNI asked */
static int
tio_ssl_new(struct tls_conn *tc, const struct tls_client_ctx *ctx)
{
	if ((tc->ssl = wolfSSL_new(ctx->ctx)) == NULL) {
		io_set_error(tc->io, FAIL_INTERNAL, "wolfSSL_new failed");
		return -1;
	}
	if (tio_attach_fd(tc, io_fileno(tc->io)) == -1) {
		io_set_error(tc->io, FAIL_INTERNAL, "wolfSSL_set_fd failed");
		return -1;
	}
	if (ctx->stapling != STAPLING_OFF && wolfSSL_UseOCSPStapling(tc->ssl,
	    WOLFSSL_CSR_OCSP, 0) != WOLFSSL_SUCCESS) {
		io_set_error(tc->io, FAIL_INTERNAL,
		    "cannot ask for an OCSP staple");
		return -1;
	}
	/* RFC 6066: SNI carries host names only, never address literals */
	if (!ctx->name_is_ip && wolfSSL_UseSNI(tc->ssl, WOLFSSL_SNI_HOST_NAME,
	    ctx->name, (unsigned short)strlen(ctx->name)) != WOLFSSL_SUCCESS) {
		io_set_error(tc->io, FAIL_INTERNAL, "cannot set SNI");
		return -1;
	}
	return 0;
}

/* tls_client_start - layer a new client session over io */
int
tls_client_start(struct gw_io *io, struct tls_client_ctx *ctx, uint64_t id)
{
	struct tls_conn	*tc;

	/*
	 * Bytes already buffered arrived in plaintext; starting TLS now
	 * would let them pass as protected (STARTTLS injection).  This is an
	 * attack or a broken peer, never something to discard quietly.
	 */
	if (buf_len(io_in(io)) != 0) {
		io_set_error(io, FAIL_PROTOCOL,
		    "%zu bytes of plaintext received before the TLS handshake",
		    buf_len(io_in(io)));
		log_warnx("%016llx tls upstream=%s:%u refused to start TLS: "
		    "%zu bytes of plaintext pending", (unsigned long long)id,
		    ctx->host, ctx->port, buf_len(io_in(io)));
		return -1;
	}
	if ((tc = calloc(1, sizeof(*tc))) == NULL) {
		io_set_error(io, FAIL_INTERNAL, "out of memory for TLS");
		return -1;
	}
	if (tio_conn_fill(tc, ctx, io, id) == -1 ||
	    tio_ssl_new(tc, ctx) == -1)
		goto fail;
	/*
	 * The host name is ours to check (tls_name.c, RFC 6125), in the
	 * verify callback on the leaf: wolfSSL's own check accepted "*.com"
	 * and names for addresses, and its -322 replaced a date or trust
	 * error found on the same certificate.
	 */
	if (ctx->verify_hostname) {
		tc->name_checked = 1;
		(void)str_copy(tc->name, ctx->name, sizeof(tc->name));
	}
	if (ctx->crls != NULL)
		tc->crls = tls_crlset_ref(ctx->crls);
	tc->ocsp_chain = ctx->ocsp_chain;
	/* the probe shows a full handshake's checks: it never resumes */
	if (ctx->sess != NULL && !ctx->probe) {
		tc->sess = tls_sesscache_ref(ctx->sess);
		/* only a new ticket makes a resumed session worth keeping */
		(void)wolfSSL_set_SessionTicket_cb(tc->ssl, tio_ticket_cb, tc);
		if (tls_sesscache_offer(tc->sess, tc->ssl, id, &tc->sess_ocsp,
		    &tc->sess_used, &tc->sess_not_after, &tc->sess_gen))
			log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u "
			    "offering the last session", (unsigned long long)id,
			    tc->host, tc->port);
	}
	if (wolfSSL_set_ex_data(tc->ssl, tls_ex_index(), tc) != WOLFSSL_SUCCESS) {
		io_set_error(io, FAIL_INTERNAL, "cannot attach TLS session state");
		goto fail;
	}
	if (io_start_transport(io, &tls_transport, tc) == -1)
		goto fail;	/* the io recorded why */
	log_trace(LOGF_TLS, "%016llx tls handshake started upstream=%s:%u "
	    "name=%s sni=%s verify_hostname=%s", (unsigned long long)id,
	    tc->host, tc->port, ctx->name, ctx->name_is_ip ? "no" : "yes",
	    ctx->verify_hostname ? "yes" : "no");
	return 0;
fail:
	tio_free(tc);
	return -1;
}

/* tls_get_info - the negotiated parameters of a finished handshake */
int
tls_get_info(const struct gw_io *io, struct tls_info *info)
{
	const struct tls_conn	*tc;

	if (io == NULL || (tc = io_transport_ctx(io)) == NULL)
		return -1;
	/* the only transport is ours, but a foreign ctx must not be misread */
	if (tc->magic != TLS_CONN_MAGIC || !tc->done)
		return -1;
	*info = tc->info;
	return 0;
}

static const char *const ocsp_names[] = {
	"ocsp:not-checked", "ocsp:good", "ocsp:unknown", "ocsp:revoked",
	"ocsp:pending", "ocsp:no-staple"
};

/* tio_ocsp_name - "ocsp:good" etc. for a TLS_OCSP_* result */
static const char *
tio_ocsp_name(int result)
{
	if (result < 0 ||
	    (size_t)result >= sizeof(ocsp_names) / sizeof(ocsp_names[0]))
		return "ocsp:?";
	return ocsp_names[result];
}

/* tio_revocation - the revocation= text with the OCSP result added */
void
tio_revocation(struct tls_conn *tc)
{
	struct tls_info	*ti = &tc->info;
	const char	*o;
	char		 buf[sizeof(ti->revocation)];

	o = tio_ocsp_name(tc->ocsp.result);
	if (ti->resumed)
		o = "ocsp:resumed";	/* the first handshake checked */
	/* "crl:missing,ocsp:not-checked" is the longest: it fits */
	buf[0] = '\0';
	if (tc->vp.crl_on && strncmp(ti->revocation, "crl:", 4) == 0 &&
	    (str_copy(buf, ti->revocation, sizeof(buf)) == -1 ||
	    str_copy(buf + strlen(buf), ",", sizeof(buf) - strlen(buf)) == -1))
		buf[0] = '\0';
	(void)str_copy(buf + strlen(buf), o, sizeof(buf) - strlen(buf));
	(void)str_copy(ti->revocation, buf, sizeof(ti->revocation));
}

/* tls_ocsp_pending - the session on io waits for an OCSP answer */
int
tls_ocsp_pending(const struct gw_io *io)
{
	const struct tls_conn	*tc;

	if (io == NULL || (tc = io_transport_ctx(io)) == NULL ||
	    tc->magic != TLS_CONN_MAGIC || !tc->done)
		return 0;
	return tc->ocsp.pending;
}

/* tls_io_ocsp - for tls_ocsp.c: the session and its OCSP state */
int
tls_io_ocsp(struct gw_io *io, WOLFSSL **ssl, struct tls_ocsp_state **st)
{
	struct tls_conn	*tc;

	if (io == NULL || (tc = io_transport_ctx(io)) == NULL ||
	    tc->magic != TLS_CONN_MAGIC || !tc->done)
		return -1;
	*ssl = tc->ssl;
	*st = &tc->ocsp;
	return 0;
}

/* tls_io_ocsp_result - the fetched verdict, logged and kept for info */
void
tls_io_ocsp_result(struct gw_io *io, int result, const char *why)
{
	struct tls_conn	*tc;
	char		 crl[sizeof(tc->info.revocation)];
	char		*comma;

	if (io == NULL || (tc = io_transport_ctx(io)) == NULL ||
	    tc->magic != TLS_CONN_MAGIC)
		return;
	tc->ocsp.pending = 0;
	tc->ocsp.result = result;
	/* keep the CRL part of the handshake's text, redo the OCSP part */
	(void)str_copy(crl, tc->info.revocation, sizeof(crl));
	if ((comma = strchr(crl, ',')) != NULL)
		*comma = '\0';
	(void)str_copy(tc->info.revocation, crl, sizeof(tc->info.revocation));
	tio_revocation(tc);
	log_info("%016llx tls upstream=%s:%u ocsp=%s revocation=%s%s%s",
	    (unsigned long long)tc->id, tc->host, tc->port,
	    tio_ocsp_name(result) + 5,
	    tc->info.revocation, why[0] != '\0' ? " " : "", why);
	/* the verdict is in: a session that already read data may be kept */
	if (tc->got_data && !tc->sess_stored && tc->sess != NULL)
		tio_store_session(tc);
}

/* tio_ticket_cb - wolfSSL got a NewSessionTicket on this connection */
static int
tio_ticket_cb(WOLFSSL *ssl, const unsigned char *ticket, int len, void *arg)
{
	struct tls_conn	*tc = arg;

	(void)ssl;
	(void)ticket;
	(void)len;
	tc->new_ticket = 1;
	return 0;
}

/*
 * tio_store_session - keep this session for the next connection once it
 * passed every check: the handshake (chain, name, pins: done is set only
 * after them) and revocation (no OCSP answer pending; only a good one, or
 * none asked for).  Called after a read, because a TLS 1.3 ticket comes
 * after the handshake and wolfSSL takes it in while reading.  A session
 * without a usable verdict ("unknown", "no staple") is not kept: the next
 * connection runs a full handshake and asks again.  A resumed session
 * carries the verdict of the one it resumed.
 */
static void
tio_store_session(struct tls_conn *tc)
{
	int	 ocsp;
	time_t	 not_after;

	if (!tc->done || tc->probe || tc->ocsp.pending)
		return;
	/*
	 * A resumed TLS 1.3 handshake makes wolfSSL derive a new resumption
	 * secret into the session, which keeps the old ticket and nonce: only
	 * a NewSessionTicket on this connection makes them agree again.  A
	 * server that renews no ticket on resumption (Postfix 3.7 with
	 * OpenSSL 3, tested) refuses such a session ("binder does not
	 * verify"), so keep the one that was offered until a ticket comes.
	 * (A TLS 1.2 resumption keeps its master secret; keeping the entry
	 * offered is right for it too.)
	 */
	if (tc->info.resumed && !tc->new_ticket)
		return;		/* asked again at the next read */
	tc->sess_stored = 1;	/* decided: not asked again, unless below */
	/*
	 * A stapled answer's nextUpdate cannot be known afterwards: wolfSSL
	 * 5.5.4 keeps neither the staple on a client session
	 * (get_tlsext_status_ocsp_resp gives nothing, tested) nor the answer
	 * in the context's OCSP cache, so the re-check before offering would
	 * always fail.  Such a session is not kept: every connection is a
	 * full handshake with a fresh staple.
	 */
	if (tc->ocsp.stapling != STAPLING_OFF) {
		log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u session not "
		    "kept for resumption: ocsp_stapling (the staple's "
		    "nextUpdate is not kept)", (unsigned long long)tc->id,
		    tc->host, tc->port);
		return;
	}
	if (tc->info.resumed)
		ocsp = tc->sess_ocsp;
	else if (tc->ocsp.mode == OCSP_OFF)
		ocsp = 0;
	else if (tc->ocsp.result == TLS_OCSP_GOOD)
		ocsp = 1;
	else {
		log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u session not "
		    "kept for resumption: %s", (unsigned long long)tc->id,
		    tc->host, tc->port, tio_ocsp_name(tc->ocsp.result));
		return;
	}
	/* a resumed session keeps the dates of the one it resumed */
	if (tc->info.resumed)
		not_after = tc->sess_not_after;
	else if (tio_not_after(tc, &not_after) == -1) {
		log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u session not "
		    "kept for resumption: no notAfter of the server "
		    "certificate", (unsigned long long)tc->id, tc->host,
		    tc->port);
		return;
	}
	if (tls_sesscache_store(tc->sess, tc->ssl, ocsp, tc->ocsp_chain,
	    tc->used, not_after) == -1) {
		/* no ticket yet (one may follow the data): try at the next read */
		tc->sess_stored = 0;
		return;
	}
	log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u session kept "
	    "for resumption%s", (unsigned long long)tc->id, tc->host,
	    tc->port, ocsp ? " while its OCSP answer is good" : "");
}

/*
 * tio_not_after - the time past which a session of this full handshake
 * must not be resumed: the leaf's notAfter, or 0 (none) when the policy
 * waives dates.  -1 if it cannot be read.
 */
static int
tio_not_after(struct tls_conn *tc, time_t *out)
{
	WOLFSSL_X509		*x;
	WOLFSSL_ASN1_TIME	*t;
	struct tm		 tm;
	int			 rc = -1;

	*out = 0;
	if ((tc->vp.accept & CONF_ACCEPT_EXPIRED) || !tc->vp.verify_chain)
		return 0;
	if ((x = tio_peer_cert(tc)) == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if ((t = wolfSSL_X509_get_notAfter(x)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS &&
	    (*out = timegm(&tm)) > 0)
		rc = 0;
	wolfSSL_X509_free(x);
	return rc;
}

void
tio_errstr(int err, char *buf, size_t len)
{
	char	 tmp[WOLFSSL_MAX_ERROR_SZ];

	wolfSSL_ERR_error_string_n((unsigned long)(long)err, tmp, sizeof(tmp));
	(void)str_copy(buf, tmp, len);
}

/*
 * tio_handshake_done - a finished handshake held to what the verify
 * callback cannot check (a leaf it never saw, the pins); 0 or IO_T_ERROR
 */
static int
tio_handshake_done(struct tls_conn *tc)
{
	/*
	 * Our own checks run in the verify callback; a full handshake
	 * in which it never saw the leaf must not pass unchecked.
	 */
	if (!tc->leaf_checked && !wolfSSL_session_reused(tc->ssl)) {
		io_set_error(tc->io, FAIL_CERT_UNTRUSTED, "the server "
		    "certificate was not checked (no verify callback "
		    "for it)");
		return IO_T_ERROR;
	}
	tio_collect(tc);
	/*
	 * Pins are checked on every handshake, resumed or not: the
	 * verify callback does not run for a resumed session.
	 */
	if (tio_check_pins(tc) == -1 && !tc->probe)
		return IO_T_ERROR;
	tc->done = 1;
	if (tc->probe)
		tio_probe_chain(tc);
	tio_log_done(tc);
	if (tc->warn_no_chain)
		log_warnx("%016llx tls upstream=%s:%u verify_chain=no "
		    "without pin_sha256: the upstream's identity was "
		    "not verified", (unsigned long long)tc->id,
		    tc->host, tc->port);
	return 0;
}

/*
 * tio_handshake_failed - why, for the io's error, in the class it is;
 * the session offered forgotten, a trace line
 */
static void
tio_handshake_failed(struct tls_conn *tc, int err)
{
	char	 wtext[WOLFSSL_MAX_ERROR_SZ];
	int	 alert;

	tio_errstr(err, wtext, sizeof(wtext));
	if (tc->verr != 0) {
		/*
		 * wolfSSL does not take an intermediate as the leaf's issuer
		 * while its OCSP status is still to be fetched (tested): the
		 * leaf then has "no issuer".  Say what fixes it.
		 */
		io_set_error(tc->io, tls_verify_class(tc->verr),
		    "certificate verification failed: %s (%d) depth=%d "
		    "subject=%s; wolfSSL: %s (%d)%s", tls_verify_text(tc->verr),
		    tc->verr, tc->vdepth, tc->vsubject, wtext, err,
		    tc->ocsp.chain && tc->ocsp.nitems > 0 && tc->vdepth == 0 &&
		    tc->verr == 20 ? "; ocsp_check = chain needs the "
		    "intermediate CAs in ca_file or ca_path" : "");
	} else if (tls_verify_class(err) != FAIL_TLS_PROTOCOL) {
		/* e.g. a revoked staple: the callback is not consulted */
		io_set_error(tc->io, tls_verify_class(err),
		    "certificate rejected: %s; wolfSSL: %s (%d)",
		    tls_verify_text(err), wtext, err);
	} else if (tio_alert(tc, FAIL_TLS_PROTOCOL, &alert) ==
	    FAIL_CLIENT_CERT_REJECTED) {
		io_set_error(tc->io, FAIL_CLIENT_CERT_REJECTED,
		    "the upstream refused our client certificate (alert %d); "
		    "wolfSSL: %s (%d)", alert, wtext, err);
	} else if (tc->cert_requested && (err == SOCKET_ERROR_E ||
	    err == SOCKET_PEER_CLOSED_E || err == BUFFER_ERROR)) {
		/*
		 * It asked for our certificate, then hung up without a word
		 * (BUFFER_ERROR: the close cut wolfSSL's read of the record
		 * after our Finished, seen with TLS 1.3 and no certificate).
		 */
		io_set_error(tc->io, FAIL_CLIENT_CERT_REJECTED,
		    "the upstream asked for a client certificate and closed "
		    "the connection during the handshake; wolfSSL: %s (%d)",
		    wtext, err);
	} else {
		io_set_error(tc->io, FAIL_TLS_PROTOCOL,
		    "TLS handshake failed: %s (%d)", wtext, err);
	}
	/* the session offered may be what the server refused */
	tls_sesscache_forget(tc->sess, tc->sess_gen, tc->id);
	/* the session logs the failure with this text; here only a trace */
	log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u handshake failed "
	    "class=%s: %s", (unsigned long long)tc->id, tc->host, tc->port,
	    fail_name(io_error_class(tc->io)), io_error(tc->io));
}

/* tio_handshake - the io transport's handshake step */
static int
tio_handshake(void *arg)
{
	struct tls_conn	*tc = arg;
	int		 r, err;

	tls_ocsp_begin(&tc->ocsp);
	r = wolfSSL_connect(tc->ssl);
	tls_ocsp_end();
	if (r == WOLFSSL_SUCCESS)
		return tio_handshake_done(tc);
	err = wolfSSL_get_error(tc->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ)
		return IO_T_WANT_READ;
	if (err == WOLFSSL_ERROR_WANT_WRITE)
		return IO_T_WANT_WRITE;
	tio_handshake_failed(tc, err);
	return IO_T_ERROR;
}

/* tio_ioerror - classify a failed read or write and tell the io */
static ssize_t
tio_ioerror(struct tls_conn *tc, int err, const char *what)
{
	char	 wtext[WOLFSSL_MAX_ERROR_SZ];
	int	 alert;

	/*
	 * With TLS 1.3 a server that rejects our client certificate (or
	 * wanted one) says so after our handshake has finished: the alert
	 * arrives on the first read (notes section 2).
	 */
	if (!tc->srv && tio_alert(tc, FAIL_TLS_PROTOCOL, &alert) ==
	    FAIL_CLIENT_CERT_REJECTED) {
		io_set_error(tc->io, FAIL_CLIENT_CERT_REJECTED,
		    "TLS %s: the upstream refused our client certificate "
		    "(alert %d)", what, alert);
		return IO_T_ERROR;
	}
	/*
	 * Some servers just close instead of sending that alert.  A server
	 * that asked for a certificate and hung up before its first byte
	 * of SMTP did so over the certificate: nothing else was exchanged.
	 */
	if (!tc->srv && tc->cert_requested && !tc->got_data &&
	    (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E ||
	    err == WOLFSSL_ERROR_ZERO_RETURN)) {
		io_set_error(tc->io, FAIL_CLIENT_CERT_REJECTED,
		    "TLS %s: the upstream asked for a client certificate and "
		    "closed the connection after the handshake", what);
		return IO_T_ERROR;
	}
	/*
	 * A TCP close without close_notify: SMTP replies are self-delimiting,
	 * so for us it is the same as a close; the caller decides whether it
	 * came at a bad moment (after the final dot).
	 */
	if (err == SOCKET_PEER_CLOSED_E || err == SOCKET_ERROR_E) {
		io_set_error(tc->io, FAIL_CLOSED,
		    "TLS %s: connection closed without close_notify", what);
		return IO_T_ERROR;
	}
	tio_errstr(err, wtext, sizeof(wtext));
	io_set_error(tc->io, FAIL_TLS_PROTOCOL, "TLS %s failed: %s (%d)", what,
	    wtext, err);
	return IO_T_ERROR;
}

ssize_t
tio_read(void *arg, void *buf, size_t len)
{
	struct tls_conn	*tc = arg;
	int		 n, err, want;

	want = len > INT32_MAX ? INT32_MAX : (int)len;
	n = wolfSSL_read(tc->ssl, buf, want);
	if (n > 0) {
		tc->got_data = 1;
		if (!tc->sess_stored && tc->sess != NULL)
			tio_store_session(tc);
		return n;
	}
	err = wolfSSL_get_error(tc->ssl, n);
	switch (err) {
	case WOLFSSL_ERROR_WANT_READ:
		return IO_T_WANT_READ;
	case WOLFSSL_ERROR_WANT_WRITE:
		return IO_T_WANT_WRITE;
	case WOLFSSL_ERROR_ZERO_RETURN:
		return 0;	/* close_notify */
	default:
		return tio_ioerror(tc, err, "read");
	}
}

ssize_t
tio_write(void *arg, const void *buf, size_t len)
{
	struct tls_conn	*tc = arg;
	int		 n, err, want;

	want = len > INT32_MAX ? INT32_MAX : (int)len;
	n = wolfSSL_write(tc->ssl, buf, want);
	if (n > 0)
		return n;
	err = wolfSSL_get_error(tc->ssl, n);
	switch (err) {
	case WOLFSSL_ERROR_WANT_READ:
		return IO_T_WANT_READ;
	case WOLFSSL_ERROR_WANT_WRITE:
		return IO_T_WANT_WRITE;
	default:
		return tio_ioerror(tc, err, "write");
	}
}

/*
 * tio_attach_fd - wolfSSL writes to fd itself and reads through the
 * read-ahead (tls_rbuf.h)
 */
int
tio_attach_fd(struct tls_conn *tc, int fd)
{
	if (wolfSSL_set_fd(tc->ssl, fd) != WOLFSSL_SUCCESS)
		return -1;
	tls_rbuf_init(&tc->rb, fd);
	wolfSSL_SSLSetIORecv(tc->ssl, tls_rbuf_recv);
	wolfSSL_SetIOReadCtx(tc->ssl, &tc->rb);
	/* a peer reset during a write must not raise SIGPIPE */
	wolfSSL_SetIOWriteFlags(tc->ssl, MSG_NOSIGNAL);
	return 0;
}

/* tio_pending - decrypted octets, and raw ones read ahead */
int
tio_pending(void *arg)
{
	struct tls_conn	*tc = arg;
	size_t		 held = tls_rbuf_held(&tc->rb);

	return wolfSSL_pending(tc->ssl) + (held > 0);
}

void
tio_readable(void *arg)
{
	struct tls_conn	*tc = arg;

	tls_rbuf_readable(&tc->rb);
}

void
tio_shutdown(void *arg)
{
	struct tls_conn	*tc = arg;

	/* one close_notify; SMTP never needs to wait for the peer's */
	(void)wolfSSL_shutdown(tc->ssl);
}

void
tio_free(void *arg)
{
	struct tls_conn	*tc = arg;

	if (tc == NULL)
		return;
	if (tc->ssl != NULL)
		wolfSSL_free(tc->ssl);
	tls_ocsp_state_clear(&tc->ocsp);
	tls_crlchain_clear(&tc->crlchain);
	tls_crlset_unref(tc->crls);
	tls_sesscache_unref(tc->sess);
	free(tc->report);
	tc->magic = 0;
	free(tc);
}

/*
 * tio_alert - the class of the last alert the server sent us, or dflt if
 * there was none; *alertp gets its code.
 */
static enum gw_fail
tio_alert(struct tls_conn *tc, enum gw_fail dflt, int *alertp)
{
	WOLFSSL_ALERT_HISTORY	 h;

	*alertp = 0;
	memset(&h, 0, sizeof(h));
	if (wolfSSL_get_alert_history(tc->ssl, &h) != WOLFSSL_SUCCESS ||
	    h.last_rx.code <= 0)
		return dflt;
	*alertp = h.last_rx.code;
	return tls_alert_class(h.last_rx.code);
}

/*
 * tio_log_done - the info line of a finished upstream handshake: what
 * was negotiated and how the upstream's identity was checked.  Subject
 * and issuer were escaped when they were read.
 */
static void
tio_log_done(const struct tls_conn *tc)
{
	const struct tls_info	*ti = &tc->info;
	char			 up[300];

	(void)snprintf(up, sizeof(up), "%s:%u", tc->host, tc->port);
	log_kv(GW_LOG_INFO, tc->id, "tls", (struct log_field[]){
	    LOGK_WORD("upstream", up), LOGK_WORD("version", ti->version),
	    LOGK_WORD("cipher", ti->cipher), LOGK_WORD("group", ti->group),
	    LOGK_BOOL("resumed", ti->resumed),
	    LOGK_WORDV("subject", ti->subject),
	    LOGK_WORDV("issuer", ti->issuer), LOGK_WORD("serial", ti->serial),
	    LOGK_WORD("sha256", ti->fingerprint),
	    LOGK_WORD("not_after", ti->not_after),
	    LOGK_WORD("verify", ti->verify), LOGK_WORD("pin", ti->pin),
	    LOGK_WORD("revocation", ti->revocation) }, 13);
}
