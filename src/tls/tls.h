/*
 * tls - wolfSSL contexts built from an upstream's policy, the non-blocking
 * handshake over an io, certificate verification and what was negotiated.
 *
 * Contract: a tls_client_ctx is built once per upstream per configuration
 * snapshot (and rebuilt on reload); it is never changed after building.
 * tls_client_start() layers TLS over an io whose input buffer is empty,
 * sends SNI and checks the chain and the host name as the policy says; the
 * io then reports IO_TLSREADY, or IO_ERROR with a certificate or protocol
 * failure class.  Certificate names are escaped before they are logged.
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>
#include <stdint.h>
#include "util/fail.h"

struct gw_io;
struct conf_upstream;
struct tls_client_ctx;

/* tls_init / tls_cleanup - once per process */
void	tls_init(void);
void	tls_cleanup(void);

/* tls_client_ctx_new - NULL with a reason in err if the policy cannot be built */
struct tls_client_ctx *tls_client_ctx_new(const struct conf_upstream *,
	    char *err, size_t errlen);
void	tls_client_ctx_free(struct tls_client_ctx *);

/*
 * tls_client_start - begin the client handshake on io.  Returns -1 if
 * input is still buffered (STARTTLS injection) or on ENOMEM; the io's
 * error class is set then.
 */
int	tls_client_start(struct gw_io *, struct tls_client_ctx *, uint64_t id);

struct tls_info {
	char	version[16];		/* "TLSv1.3" */
	char	cipher[64];		/* wolfSSL suite name */
	char	group[32];		/* key exchange group or "(none)" */
	int	resumed;
	char	subject[256];		/* escaped */
	char	issuer[256];		/* escaped */
	char	fingerprint[100];	/* SHA-256, hex with colons */
	char	not_after[40];
	char	verify[64];		/* "verified" or what was accepted by policy */
};
/* tls_get_info - what the finished handshake on io negotiated; -1 if no TLS */
int	tls_get_info(const struct gw_io *, struct tls_info *);

/*
 * tls_verify_class - the failure class for a verification error as the
 * verify callback or wolfSSL_get_error() reports it (mixed OpenSSL X509_V_*
 * and negative wolfSSL codes; see shared/docs/wolfssl-notes.md section 3).
 * Pure; FAIL_TLS_PROTOCOL for anything that is not a certificate problem.
 */
enum gw_fail tls_verify_class(int err);
/* tls_verify_text - short text for such an error ("certificate has expired") */
const char *tls_verify_text(int err);

#endif
