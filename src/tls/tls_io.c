/*
 * tls_io.c - a wolfSSL client session layered over an io as its transport.
 *
 * wolfSSL does its own socket I/O on the raw non-blocking fd; the io keeps
 * the events, the buffers and the "same bytes again after WANT_WRITE" rule.
 * Nothing read in plaintext can reach the TLS parser: the session starts
 * only on an empty input buffer (STARTTLS injection, CVE-2011-0411 class).
 *
 * The verify callback records the first error it sees with its depth and
 * subject, because after a failed handshake wolfSSL_get_error() often says
 * only -188 ("no signer") whatever the real problem was.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */
#include <wolfssl/openssl/evp.h>

#include <sys/socket.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/io.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

#define TLS_CONN_MAGIC	0x544c5343u	/* "TLSC" */

struct tls_conn {
	uint32_t	 magic;
	WOLFSSL		*ssl;
	struct gw_io	*io;
	uint64_t	 id;
	char		 host[CONF_HOST_MAX];
	unsigned	 port;
	int		 name_checked;
	/* first verification problem seen by the callback */
	int		 verr;
	int		 vdepth;
	char		 vsubject[256];	/* escaped */
	int		 done;		/* handshake finished */
	struct tls_info	 info;
	char		 serial[80];
};

static int	tio_handshake(void *);
static ssize_t	tio_read(void *, void *, size_t);
static ssize_t	tio_write(void *, const void *, size_t);
static int	tio_pending(void *);
static void	tio_shutdown(void *);
static void	tio_free(void *);
static ssize_t	tio_ioerror(struct tls_conn *, int, const char *);
static void	tio_collect(struct tls_conn *);
static void	tio_name(WOLFSSL_X509_NAME *, char *, size_t);
static void	tio_hex(const unsigned char *, size_t, int, char *, size_t);
static void	tio_errstr(int, char *, size_t);

static const struct io_transport tls_transport = {
	tio_handshake, tio_read, tio_write, tio_pending, tio_shutdown, tio_free
};

/* tls_verify_cb - record the first verification problem of the session */
int
tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	WOLFSSL		*ssl;
	WOLFSSL_X509	*cert;
	struct tls_conn	*tc = NULL;
	int		 err;

	err = wolfSSL_X509_STORE_CTX_get_error(store);
	/*
	 * preverify alone is not enough: with some host-check paths wolfSSL
	 * passes preverify=1 together with err=-322 (notes section 3).
	 */
	if (preverify && err == 0)
		return 1;
	if (err == 0)
		err = -329;	/* VERIFY_CERT_ERROR: failed without a reason */
	ssl = wolfSSL_X509_STORE_CTX_get_ex_data(store,
	    wolfSSL_get_ex_data_X509_STORE_CTX_idx());
	if (ssl != NULL)
		tc = wolfSSL_get_ex_data(ssl, tls_ex_index());
	if (tc != NULL && tc->magic == TLS_CONN_MAGIC && tc->verr == 0) {
		tc->verr = err;
		tc->vdepth = wolfSSL_X509_STORE_CTX_get_error_depth(store);
		cert = wolfSSL_X509_STORE_CTX_get_current_cert(store);
		/* current_cert is owned by the store: not freed here */
		if (cert != NULL)
			tio_name(wolfSSL_X509_get_subject_name(cert),
			    tc->vsubject, sizeof(tc->vsubject));
		else
			(void)str_copy(tc->vsubject, "-", sizeof(tc->vsubject));
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
	tc->magic = TLS_CONN_MAGIC;
	tc->io = io;
	tc->id = id;
	tc->port = ctx->port;
	(void)str_copy(tc->host, ctx->host, sizeof(tc->host));
	if ((tc->ssl = wolfSSL_new(ctx->ctx)) == NULL) {
		io_set_error(io, FAIL_INTERNAL, "wolfSSL_new failed");
		goto fail;
	}
	if (wolfSSL_set_fd(tc->ssl, io_fileno(io)) != WOLFSSL_SUCCESS) {
		io_set_error(io, FAIL_INTERNAL, "wolfSSL_set_fd failed");
		goto fail;
	}
	/* a peer reset during a write must not raise SIGPIPE */
	wolfSSL_SetIOWriteFlags(tc->ssl, MSG_NOSIGNAL);
	/* RFC 6066: SNI carries host names only, never address literals */
	if (!ctx->name_is_ip && wolfSSL_UseSNI(tc->ssl, WOLFSSL_SNI_HOST_NAME,
	    ctx->name, (unsigned short)strlen(ctx->name)) != WOLFSSL_SUCCESS) {
		io_set_error(io, FAIL_INTERNAL, "cannot set SNI");
		goto fail;
	}
	if (ctx->verify_hostname) {
		if (wolfSSL_check_domain_name(tc->ssl, ctx->name) !=
		    WOLFSSL_SUCCESS) {
			io_set_error(io, FAIL_INTERNAL, "cannot set the name to check");
			goto fail;
		}
		tc->name_checked = 1;
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

static void
tio_errstr(int err, char *buf, size_t len)
{
	char	 tmp[WOLFSSL_MAX_ERROR_SZ];

	wolfSSL_ERR_error_string_n((unsigned long)(long)err, tmp, sizeof(tmp));
	(void)str_copy(buf, tmp, len);
}

static int
tio_handshake(void *arg)
{
	struct tls_conn	*tc = arg;
	char		 wtext[WOLFSSL_MAX_ERROR_SZ];
	int		 r, err;

	r = wolfSSL_connect(tc->ssl);
	if (r == WOLFSSL_SUCCESS) {
		tc->done = 1;
		tio_collect(tc);
		log_info("%016llx tls upstream=%s:%u version=%s cipher=%s "
		    "group=%s resumed=%s subject=%s issuer=%s serial=%s "
		    "sha256=%s not_after=%s verify=%s",
		    (unsigned long long)tc->id, tc->host, tc->port,
		    tc->info.version, tc->info.cipher, tc->info.group,
		    tc->info.resumed ? "yes" : "no", tc->info.subject,
		    tc->info.issuer, tc->serial, tc->info.fingerprint,
		    tc->info.not_after, tc->info.verify);
		return 0;
	}
	err = wolfSSL_get_error(tc->ssl, r);
	if (err == WOLFSSL_ERROR_WANT_READ)
		return IO_T_WANT_READ;
	if (err == WOLFSSL_ERROR_WANT_WRITE)
		return IO_T_WANT_WRITE;
	tio_errstr(err, wtext, sizeof(wtext));
	if (tc->verr != 0) {
		io_set_error(tc->io, tls_verify_class(tc->verr),
		    "certificate verification failed: %s (%d) depth=%d "
		    "subject=%s; wolfSSL: %s (%d)", tls_verify_text(tc->verr),
		    tc->verr, tc->vdepth, tc->vsubject, wtext, err);
	} else if (tls_verify_class(err) != FAIL_TLS_PROTOCOL) {
		/* e.g. a revoked staple: the callback is not consulted */
		io_set_error(tc->io, tls_verify_class(err),
		    "certificate rejected: %s; wolfSSL: %s (%d)",
		    tls_verify_text(err), wtext, err);
	} else {
		io_set_error(tc->io, FAIL_TLS_PROTOCOL,
		    "TLS handshake failed: %s (%d)", wtext, err);
	}
	/* the session logs the failure with this text; here only a trace */
	log_trace(LOGF_TLS, "%016llx tls upstream=%s:%u handshake failed "
	    "class=%s: %s", (unsigned long long)tc->id, tc->host, tc->port,
	    fail_name(io_error_class(tc->io)), io_error(tc->io));
	return IO_T_ERROR;
}

/* tio_ioerror - classify a failed read or write and tell the io */
static ssize_t
tio_ioerror(struct tls_conn *tc, int err, const char *what)
{
	char	 wtext[WOLFSSL_MAX_ERROR_SZ];

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

static ssize_t
tio_read(void *arg, void *buf, size_t len)
{
	struct tls_conn	*tc = arg;
	int		 n, err, want;

	want = len > INT32_MAX ? INT32_MAX : (int)len;
	n = wolfSSL_read(tc->ssl, buf, want);
	if (n > 0)
		return n;
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

static ssize_t
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

static int
tio_pending(void *arg)
{
	struct tls_conn	*tc = arg;

	return wolfSSL_pending(tc->ssl);
}

static void
tio_shutdown(void *arg)
{
	struct tls_conn	*tc = arg;

	/* one close_notify; SMTP never needs to wait for the peer's */
	(void)wolfSSL_shutdown(tc->ssl);
}

static void
tio_free(void *arg)
{
	struct tls_conn	*tc = arg;

	if (tc == NULL)
		return;
	if (tc->ssl != NULL)
		wolfSSL_free(tc->ssl);
	tc->magic = 0;
	free(tc);
}

/* tio_name - a certificate name as escaped one-line text */
static void
tio_name(WOLFSSL_X509_NAME *name, char *out, size_t outlen)
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
static void
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
	(void)str_copy(ti->verify, tc->name_checked ? "verified" :
	    "verified-chain-only", sizeof(ti->verify));

	(void)str_copy(ti->subject, "-", sizeof(ti->subject));
	(void)str_copy(ti->issuer, "-", sizeof(ti->issuer));
	(void)str_copy(ti->fingerprint, "-", sizeof(ti->fingerprint));
	(void)str_copy(ti->not_after, "-", sizeof(ti->not_after));
	(void)str_copy(tc->serial, "-", sizeof(tc->serial));
	/* a duplicate that we own (wolfSSL_X509_dup inside) */
	if ((x = wolfSSL_get_peer_certificate(tc->ssl)) == NULL)
		return;
	tio_name(wolfSSL_X509_get_subject_name(x), ti->subject,
	    sizeof(ti->subject));
	tio_name(wolfSSL_X509_get_issuer_name(x), ti->issuer,
	    sizeof(ti->issuer));
	if (wolfSSL_X509_get_serial_number(x, serial, &slen) == WOLFSSL_SUCCESS &&
	    slen > 0 && (size_t)slen <= sizeof(serial))
		tio_hex(serial, (size_t)slen, 0, tc->serial, sizeof(tc->serial));
	if (wolfSSL_X509_digest(x, wolfSSL_EVP_sha256(), md, &mdlen) ==
	    WOLFSSL_SUCCESS && mdlen == sizeof(md))
		tio_hex(md, mdlen, 1, ti->fingerprint, sizeof(ti->fingerprint));
	if ((t = wolfSSL_X509_get_notAfter(x)) != NULL &&
	    wolfSSL_ASN1_TIME_to_tm(t, &tm) == WOLFSSL_SUCCESS)
		(void)strftime(ti->not_after, sizeof(ti->not_after),
		    "%Y-%m-%dT%H:%M:%SZ", &tm);
	wolfSSL_X509_free(x);
}
