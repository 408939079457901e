/*
 * tls - wolfSSL contexts built from an upstream's policy, the non-blocking
 * handshake over an io, certificate verification and what was negotiated.
 *
 * Contract: a tls_client_ctx is built once per upstream per configuration
 * snapshot (and rebuilt on reload); it is never changed after building,
 * except for its session cache (tls_resume: the last good session, which
 * each new connection offers; tls_sess.c).
 * tls_client_start() layers TLS over an io whose input buffer is empty,
 * sends SNI and checks the chain and the host name as the policy says; the
 * io then reports IO_TLSREADY, or IO_ERROR with a certificate or protocol
 * failure class.  Certificate names are escaped before they are logged.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "conf/conf.h"
#include "util/fail.h"

struct gw_io;
struct conf_tls;
struct conf_upstream;
struct tls_client_ctx;
struct tls_server_ctx;
struct conf_listener;

/* tls_init / tls_cleanup - once per process */
void	tls_init(void);
void	tls_cleanup(void);
/* tls_aes_hw - AES-GCM on AES instructions (library and CPU); else ChaCha first */
int	tls_aes_hw(void);
/* tls_preference - the default AEAD order and why, for the start log */
const char *tls_preference(void);

/* tls_client_ctx_new - NULL with a reason in err if the policy cannot be built */
struct tls_client_ctx *tls_client_ctx_new(const struct conf_tls *,
	    const char *host, unsigned port, const char *verify_name,
	    char *err, size_t errlen);
/* tls_upstream_ctx_new - the same from an [upstream]'s block, host and tls_name */
struct tls_client_ctx *tls_upstream_ctx_new(const struct conf_upstream *,
	    char *err, size_t errlen);
void	tls_client_ctx_free(struct tls_client_ctx *);

/*
 * tls_client_start - begin the client handshake on io.  Returns -1 if
 * input is still buffered (STARTTLS injection) or on ENOMEM; the io's
 * error class is set then.
 */
int	tls_client_start(struct gw_io *, struct tls_client_ctx *, uint64_t id);

/*
 * The listener side (tls_srv.c).  tls_server_ctx_new builds a listener's
 * context (tls = starttls or implicit): its certificate and key, versions,
 * ciphers, curves and verify_client with client_ca_file, CRLs and
 * client_cert_pins; NULL with "key file: why" in err.  tls_server_start
 * layers the server handshake over io (input must be empty: -1 then, as
 * on ENOMEM, with the io's error set); IO_TLSREADY or IO_ERROR follows,
 * and a failed handshake is logged with its class.  peer names the
 * client in the log lines.
 */
struct tls_server_ctx *tls_server_ctx_new(const struct conf_listener *,
	    char *err, size_t errlen);
void	tls_server_ctx_free(struct tls_server_ctx *);
int	tls_server_start(struct gw_io *, struct tls_server_ctx *, uint64_t id,
	    const char *peer);

struct tls_info {
	char	version[16];		/* "TLSv1.3" */
	char	cipher[64];		/* wolfSSL suite name */
	char	group[32];		/* key exchange group or "(none)" */
	int	resumed;
	char	subject[256];		/* escaped */
	char	issuer[256];		/* escaped */
	char	serial[80];		/* hex */
	char	fingerprint[100];	/* SHA-256, hex with colons */
	char	not_after[40];
	char	verify[128];		/* "verified" or what was accepted by policy */
	char	revocation[48];		/* "crl:good", "ocsp:good", "not-checked" */
	char	pin[16];		/* "ok" or "none" */
};
/* tls_get_info - what the finished handshake on io negotiated; -1 if no TLS */
int	tls_get_info(const struct gw_io *, struct tls_info *);

/*
 * OCSP (ocsp = soft | hard).  The handshake never waits for a responder:
 * when an answer is not cached, it finishes with the session marked
 * pending, and the caller must run tls_ocsp_fetch_start() and wait for
 * its done callback before sending anything over the session.  done gets
 * FAIL_NONE to go on, or the class to fail with (cert-revoked;
 * revocation-unknown under hard) and a reason.  It is called from the
 * event loop, never from inside tls_ocsp_fetch_start().
 */
#define TLS_OCSP_NONE		0	/* not checked */
#define TLS_OCSP_GOOD		1
#define TLS_OCSP_UNKNOWN	2	/* no usable answer (let through: soft) */
#define TLS_OCSP_REVOKED	3
#define TLS_OCSP_PENDING	4	/* answer being fetched */
#define TLS_OCSP_NO_STAPLE	5	/* stapling asked for, nothing sent */

struct event_base;
struct evdns_base;
struct tls_ocsp_fetch;
typedef void	tls_ocsp_done_fn(void *, enum gw_fail, const char *);

/* tls_ocsp_pending - 1 if the session on io waits for an OCSP fetch */
int	tls_ocsp_pending(const struct gw_io *);
/* tls_ocsp_fetch_start - NULL on ENOMEM (the caller fails the session) */
struct tls_ocsp_fetch *tls_ocsp_fetch_start(struct gw_io *,
	    struct event_base *, struct evdns_base *, uint64_t id,
	    tls_ocsp_done_fn *, void *);
/* tls_ocsp_fetch_cancel - before the io is freed; done is not called */
void	tls_ocsp_fetch_cancel(struct tls_ocsp_fetch *);

/*
 * Probe mode (smtpgate probe): the context's sessions record every
 * verification error and the pin result instead of stopping at the
 * first, so that one connection can show every check; the verdict a relay
 * would reach is in the report.  Never set on a relaying context.
 */
void	tls_client_ctx_set_probe(struct tls_client_ctx *);

#define TLS_REPORT_CHECKS	16
#define TLS_REPORT_CHAIN	8

struct tls_report {
	struct tls_info	 info;
	struct {
		int	 depth;
		int	 err;
		int	 accepted;	/* by this upstream's policy */
	}		 checks[TLS_REPORT_CHECKS];
	size_t		 nchecks;
	struct {
		char	 subject[256];
		char	 issuer[256];
		char	 not_before[40];
		char	 not_after[40];
	}		 chain[TLS_REPORT_CHAIN];	/* as the server sent it */
	size_t		 nchain;
	int		 name_checked;
	int		 crl_on;
	int		 pin;		/* 0 no pins, 1 matched, -1 no match */
	char		 spki_pin[48];	/* the server key's pin_sha256 */
	enum gw_fail	 verdict;	/* FAIL_NONE: a relay would go ahead */
	char		 why[256];
};
/* tls_get_report - the probe's report for io; -1 if none */
int	tls_get_report(const struct gw_io *, struct tls_report *);

/*
 * tls_verify_class - the failure class for a verification error as the
 * verify callback or wolfSSL_get_error() reports it (mixed OpenSSL X509_V_*
 * and negative wolfSSL codes; see shared/docs/wolfssl-notes.md section 3).
 * Pure; FAIL_TLS_PROTOCOL for anything that is not a certificate problem.
 */
enum gw_fail tls_verify_class(int err);
/* tls_verify_text - short text for such an error ("certificate has expired") */
const char *tls_verify_text(int err);

/*
 * The part of an upstream's policy the verify callback applies, per error
 * and depth.  Pure data, so that the decision can be tested without TLS.
 */
struct tls_vpolicy {
	unsigned	 accept;		/* CONF_ACCEPT_* */
	int		 verify_chain;
	int		 crl_on;		/* crl_file or crl_path set */
	int		 crl_missing_fail;
	int		 crl_except_root;	/* crl_check = chain-except-root */
};

/* what a session's verification used, besides CONF_ACCEPT_* bits */
#define TLS_USED_NO_CHAIN	0x100	/* verify_chain = no let an error pass */
#define TLS_USED_CRL_MISSING	0x200	/* no CRL for an issuer, ignored */
#define TLS_USED_CRL_ROOT	0x400	/* chain-except-root skipped the root CRL */

/* tls_verify_exception - the CONF_ACCEPT_* bit that covers err, or 0 */
unsigned tls_verify_exception(int err);
/*
 * tls_verify_decide - 1 if the policy lets the error err, reported at depth
 * (top: the highest depth of this chain, the certificate the root issued)
 * through, with the reason OR-ed into *used; 0 to fail the handshake.
 * A revoked certificate is never let through.
 */
int	tls_verify_decide(const struct tls_vpolicy *, int err, int depth,
	    int top, unsigned *used);
/*
 * tls_verify_describe - the verify= text of the info line: "verified",
 * "verified-chain-only" (no name check), "accepted:untrusted-root,expired",
 * "chain-not-verified"; ",name-not-checked" is added where it applies.
 */
void	tls_verify_describe(unsigned used, int name_checked, char *buf,
	    size_t len);
/* tls_pin_match - 1 if hash (32 bytes) equals one of the pins */
int	tls_pin_match(const unsigned char *hash,
	    const unsigned char (*pins)[CONF_PIN_LEN], size_t npins);
/*
 * tls_alert_class - the class of a fatal alert received from the server:
 * alerts about a certificate can only be about ours (the server checks no
 * other), so they are client-cert-rejected; everything else tls-protocol.
 */
enum gw_fail tls_alert_class(int alert);

#endif
