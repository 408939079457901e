/*
 * tls_local.h - what the files of the tls module share; not part of
 * the module's public surface (include only from the tls_*.c files).
 */
#ifndef GW_TLS_LOCAL_H
#define GW_TLS_LOCAL_H

#include <wolfssl/options.h>	/* must precede every other wolfSSL header */
#include <wolfssl/ssl.h>

#include "conf/conf.h"
#include "tls/tls.h"
#include "tls/tls_rbuf.h"

struct tls_crlset;
struct tls_sesscache;

/*
 * One per upstream per configuration snapshot; immutable once built but
 * for the session cache its connections fill (tls_sess.c).  The
 * verification policy travels with it because the verify callback decides
 * per session, never by swapping in a laxer WOLFSSL_CTX.
 */
struct tls_client_ctx {
	WOLFSSL_CTX	*ctx;
	char		 host[CONF_HOST_MAX];	/* for logs: upstream=host:port */
	unsigned	 port;
	char		 name[CONF_HOST_MAX];	/* tls_name: SNI and the name checked */
	int		 verify_hostname;
	int		 name_is_ip;		/* no SNI for address literals */
	struct tls_vpolicy vp;
	unsigned char	 pins[CONF_MAX_PINS][CONF_PIN_LEN];
	size_t		 npins;
	int		 warn_no_chain;		/* verify_chain = no, no pins */
	int		 probe;			/* record, do not stop */
	int		 ocsp;			/* enum ocsp_mode */
	int		 ocsp_chain;
	unsigned	 ocsp_timeout;		/* seconds */
	int		 stapling;		/* enum ocsp_stapling */
	struct tls_crlset *crls;		/* deferred CRLs (tls_crl.c) */
	struct tls_sesscache *sess;		/* tls_resume = yes, else NULL */
	int		 srv;			/* a listener's (tls_srv.c) */
};

/* tls_ctx.c's steps that a listener's context (tls_srv.c) shares */
int	tls_ctx_versions(struct tls_client_ctx *, const struct conf_tls *,
	    char *, size_t);
int	tls_ctx_algorithms(struct tls_client_ctx *, const struct conf_tls *,
	    char *, size_t);
int	tls_ctx_load_ca(struct tls_client_ctx *, const char *, char *, size_t);
int	tls_ctx_load_crls(struct tls_client_ctx *, const struct conf_tls *,
	    char *, size_t);
/*
 * tls_key_matches - 0 if the PEM key in key_file (password or NULL) is the
 * private half of cert_file's first certificate (or of a type it cannot
 * judge); -1 with "key_key FILE does not belong to cert_key FILE" or why
 * a file could not be read (tls_keymatch.c)
 */
int	tls_key_matches(const char *cert_file, const char *cert_key,
	    const char *key_file, const char *key_key, const char *password,
	    char *err, size_t errlen);

/*
 * OCSP state of one session (tls_ocsp.c): the requests wolfSSL built
 * during the handshake, fetched after it.
 */
#define TLS_OCSP_MAXREQ		4	/* leaf and up to 3 intermediates */
#define TLS_OCSP_REQ_MAX	1024	/* a request without nonce is ~70 */

/*
 * The verify callback's code for "ocsp_stapling = require and the server
 * stapled nothing" (wolfSSL's own -407 says only "OCSP status invalid").
 */
#define TLS_VERR_NO_STAPLE	(-10407)

/*
 * Our own checks' codes (tio_own_checks), in the verify callback's
 * numbering; tls_verify.c has their class and text.
 */
#define TLS_VERR_WEAK_RSA	(-10501)	/* RSA key under 2048 bits */
#define TLS_VERR_SHA1		(-10502)	/* SHA-1 signature */
#define TLS_VERR_MD		(-10503)	/* MD5, MD4 or MD2 signature */
#define TLS_VERR_UNPARSABLE	(-10504)	/* our DER reader refused it */
#define TLS_RSA_MIN_BITS	2048

/* deferred CRLs: the chain the verify callback saw, by depth */
#define TLS_CRL_DEPTH		10
struct tls_crlchain {
	unsigned char	*der[TLS_CRL_DEPTH];
	size_t		 len[TLS_CRL_DEPTH];
};
int	tls_crlset_add(struct tls_crlset **, const unsigned char *, size_t,
	    int);
struct tls_crlset *tls_crlset_ref(struct tls_crlset *);
void	tls_crlset_unref(struct tls_crlset *);
size_t	tls_crlset_count(const struct tls_crlset *);
void	tls_crl_note(struct tls_crlchain *, int, const unsigned char *,
	    size_t);
void	tls_crlchain_clear(struct tls_crlchain *);
int	tls_crl_check(struct tls_crlset *, struct tls_crlchain *, int,
	    WOLFSSL_X509 *);

/*
 * url and req are allocated when a request is recorded: most sessions
 * (every listener's, every upstream's without OCSP) record none, and
 * four fixed items cost 5 KB in each.
 */
struct tls_ocsp_item {
	char		*url;			/* < CONF_URL_MAX */
	unsigned char	*req;			/* <= TLS_OCSP_REQ_MAX */
	int		 reqlen;
	unsigned char	*resp;			/* fetched DER, or NULL */
	int		 resplen;
};

struct tls_ocsp_state {
	int		 mode;			/* enum ocsp_mode */
	int		 chain;			/* ocsp_check = chain */
	int		 stapling;		/* enum ocsp_stapling */
	unsigned	 timeout;
	struct tls_ocsp_item items[TLS_OCSP_MAXREQ];
	size_t		 nitems;
	int		 overflow;		/* a request did not fit */
	int		 pending;		/* fetch before going on */
	int		 result;		/* TLS_OCSP_* */
};

int	tls_ocsp_ctx_setup(WOLFSSL_CTX *, const struct conf_tls *,
	    char *, size_t);
/* tls_ocsp_begin / end - around every wolfSSL_connect() of a session */
void	tls_ocsp_begin(struct tls_ocsp_state *);
void	tls_ocsp_end(void);
void	tls_ocsp_state_clear(struct tls_ocsp_state *);
int	tls_ocsp_is_unknown(int);
/* tls_io_ocsp - the session on io and its OCSP state; -1 if none */
int	tls_io_ocsp(struct gw_io *, WOLFSSL **, struct tls_ocsp_state **);
/* tls_io_ocsp_result - record the fetched verdict for logs and info */
void	tls_io_ocsp_result(struct gw_io *, int, const char *);

/*
 * One client session (tls_io.c); the verify callback (tls_chain.c) fills
 * the verification part.
 */
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
	/* the policy, copied: a reload may free the context under us */
	struct tls_vpolicy vp;
	unsigned char	 pins[CONF_MAX_PINS][CONF_PIN_LEN];
	size_t		 npins;
	int		 warn_no_chain;
	unsigned	 used;		/* TLS_USED_* and CONF_ACCEPT_* bits */
	int		 topdepth;	/* first depth the callback saw */
	int		 cert_requested; /* the server sent CertificateRequest */
	int		 got_data;	/* a record was read after the handshake */
	int		 probe;
	struct tls_report *report;	/* probe mode only */
	char		 name[CONF_HOST_MAX];	/* checked when name_checked */
	int		 leaf_checked;	/* tio_own_checks ran on the leaf */
	struct tls_ocsp_state ocsp;
	struct tls_crlset *crls;	/* deferred CRLs (a reference), or NULL */
	struct tls_crlchain crlchain;	/* the chain as the callback saw it */
	struct tls_sesscache *sess;	/* a reference, or NULL (no resume) */
	int		 sess_ocsp;	/* the offered session's verdict has OCSP */
	unsigned	 sess_used;	/* and what its full handshake let through */
	time_t		 sess_not_after; /* and its leaf's notAfter (0: waived) */
	int		 sess_stored;	/* stored (or tried): once per session */
	unsigned long	 sess_gen;	/* the offered entry's gen; 0: none */
	int		 new_ticket;	/* a NewSessionTicket came on this one */
	int		 ocsp_chain;	/* ocsp_check = chain */
	int		 srv;		/* our side is the server (tls_srv.c) */
	struct tls_rbuf	 rb;		/* wolfSSL reads through it */
};

/*
 * The parts of a client session that a server session (tls_srv.c) shares:
 * the transport's I/O (tls_io.c), the info line's facts and the pins
 * (tio_collect, tio_check_pins: tls_peer.c).
 */
ssize_t	tio_read(void *, void *, size_t);
ssize_t	tio_write(void *, const void *, size_t);
int	tio_pending(void *);
void	tio_readable(void *);
int	tio_attach_fd(struct tls_conn *, int);
void	tio_shutdown(void *);
void	tio_free(void *);
void	tio_collect(struct tls_conn *);
void	tio_errstr(int, char *, size_t);
int	tio_check_pins(struct tls_conn *);

/*
 * Between tls_io.c and tls_peer.c only: the peer's certificate and the
 * probe's chain report (tls_peer.c), the revocation= text with the OCSP
 * result added (tls_io.c).
 */
WOLFSSL_X509 *tio_peer_cert(struct tls_conn *);
void	tio_probe_chain(struct tls_conn *);
void	tio_revocation(struct tls_conn *);

/*
 * The session cache of one upstream per snapshot (tls_sess.c): the last
 * session that passed every check.  Its memory: the WOLFSSL_SESSION
 * (with SESSION_CERTS, the server's chain as sent) and, when the verdict
 * rests on OCSP, a copy of the certificates to re-check.
 */
struct tls_sesscache {
	unsigned	 refs;
	WOLFSSL_SESSION	*sess;		/* NULL: nothing to offer */
	unsigned long	 gen;		/* bumped at each store */
	int		 ocsp;		/* re-check OCSP before offering */
	unsigned	 used;		/* TLS_USED_* of its full handshake */
	time_t		 not_after;	/* its leaf's notAfter, 0: dates waived */
	unsigned char	*der[TLS_OCSP_MAXREQ];
	size_t		 derlen[TLS_OCSP_MAXREQ];
	size_t		 ncerts;
};
struct tls_sesscache *tls_sesscache_new(void);
struct tls_sesscache *tls_sesscache_ref(struct tls_sesscache *);
void	tls_sesscache_unref(struct tls_sesscache *);
int	tls_sesscache_offer(struct tls_sesscache *, WOLFSSL *, uint64_t,
	    int *, unsigned *, time_t *, unsigned long *);
void	tls_sesscache_forget(struct tls_sesscache *, unsigned long, uint64_t);
int	tls_sesscache_store(struct tls_sesscache *, WOLFSSL *, int, int,
	    unsigned, time_t);

/* tls_x509_name - a certificate name as escaped one-line text */
void	tls_x509_name(WOLFSSL_X509_NAME *, char *, size_t);
/* tls_report_check - one check and its verdict into the probe's report */
void	tls_report_check(struct tls_conn *, int, int, int);

/* tls_ex_index - the WOLFSSL ex_data slot holding the session state */
int	tls_ex_index(void);
/* tls_verify_cb - the verify callback installed on every client CTX */
int	tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
/* tls_cert_cb - notes that the server asked for a client certificate */
int	tls_cert_cb(WOLFSSL *ssl, void *arg);

#endif
