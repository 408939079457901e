/*
 * tls_local.h - what the three files of the tls module share; not part of
 * the module's public surface (include only from the tls_*.c files).
 */
#ifndef GW_TLS_LOCAL_H
#define GW_TLS_LOCAL_H

#include <wolfssl/options.h>	/* must precede every other wolfSSL header */
#include <wolfssl/ssl.h>

#include "conf/conf.h"
#include "tls/tls.h"

/*
 * One per upstream per configuration snapshot; immutable once built.  The
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
};

/* tls_ex_index - the WOLFSSL ex_data slot holding the session state */
int	tls_ex_index(void);
/* tls_verify_cb - the verify callback installed on every client CTX */
int	tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
/* tls_cert_cb - notes that the server asked for a client certificate */
int	tls_cert_cb(WOLFSSL *ssl, void *arg);

#endif
