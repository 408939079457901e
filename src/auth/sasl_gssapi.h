/*
 * sasl_gssapi - the client side of SASL GSSAPI (RFC 4752) with Kerberos
 * 5, through the system's GSS-API library (MIT krb5).
 *
 * NOT pure, unlike the rest of sasl: it calls the GSS-API library, which
 * reads the client keytab, keeps tickets in a private in-memory
 * credential cache ("MEMORY:smtpgate/<principal>", one per principal
 * and process: nothing is written to /tmp) and may contact the KDC
 * synchronously (an AS and a TGS exchange when the cache has no valid
 * ticket): smtp_client runs that first step on a thread (gssjob).
 * No logging here; errors are returned as text with the library's own
 * words (gss_display_status), in a per-thread buffer valid until the next
 * call on that thread.  The context lives in st->gss and is freed by
 * sasl_gssapi_free() (called by sasl_state_clear()).
 *
 * Mutual authentication is required: sasl_start sets st->need_proof,
 * and st->proved is set only once the context is established with
 * GSS_C_MUTUAL_FLAG and the server's security layer offer unwrapped
 * with its key.
 */
#ifndef GW_SASL_GSSAPI_H
#define GW_SASL_GSSAPI_H

#include "auth/sasl.h"

/*
 * sasl_gssapi_start - "AUTH GSSAPI <first token>" (or "AUTH GSSAPI"
 * alone when the token would not fit the line: it then answers the
 * first, empty, 334).  NULL or an error string.
 */
const char	*sasl_gssapi_start(const struct sasl_cred *, struct sasl_state *,
		    char *out, size_t outlen);
/* sasl_gssapi_step - the answer to a 334; NULL or an error string */
const char	*sasl_gssapi_step(int step, const struct sasl_cred *,
		    struct sasl_state *, const char *challenge, size_t len,
		    char *out, size_t outlen);
/* sasl_gssapi_free - the context, names and credentials; st->gss NULL */
void		 sasl_gssapi_free(struct sasl_state *);
/*
 * sasl_gssapi_peer - "client -> target" as the library names them once
 * the context is established (for the log: names, no secret), or NULL.
 */
const char	*sasl_gssapi_peer(const struct sasl_state *);

#endif
