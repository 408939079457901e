/*
 * pop3_client - one POP3 login for POP-before-SMTP: connect, greeting,
 * TLS (implicit, STLS or none), APOP when the greeting offers a timestamp
 * or else USER/PASS, then QUIT.
 *
 * Contract: parameters in, one callback out.  done(arg, FAIL_NONE, ...)
 * after the server accepted the login and the QUIT was answered (or the
 * connection closed after it); done(arg, class, why) on any failure.  The
 * whole login is bounded by one timeout.  done() is called exactly once,
 * always from the event loop (never from inside pop3_client_new), and the
 * owner may call pop3_client_free() inside it; after pop3_client_free()
 * no callback is made.
 *
 * Security rules the client enforces:
 * - USER/PASS is never sent before TLS is up unless allow_cleartext is
 *   set (logged at warning level); APOP may go in cleartext, as the
 *   password does not travel.
 * - STLS and implicit TLS verify the server's certificate with the given
 *   context (built for the POP host name); no fallback to cleartext.
 * - Plaintext buffered after the +OK to STLS fails the login (injection).
 * - The secret is copied into the client, wiped once sent and on free;
 *   the debug trace shows "PASS <redacted>" and "APOP user <redacted>".
 */
#ifndef GW_POP3_CLIENT_H
#define GW_POP3_CLIENT_H

#include <stdint.h>
#include "conf/conf.h"
#include "util/fail.h"

struct event_base;
struct evdns_base;
struct tls_client_ctx;
struct pop3_client;

struct pop3_client_params {
	struct event_base	*base;
	struct evdns_base	*dns;
	const char		*host;
	unsigned		 port;
	enum pop_tls_mode	 tls;
	struct tls_client_ctx	*tlsctx;	/* NULL only for POP_TLS_NONE */
	const char		*user;
	const char		*secret;	/* copied; the caller wipes its own */
	int			 allow_cleartext;	/* USER/PASS without TLS */
	unsigned		 timeout;	/* seconds for the whole login */
	/* the upstream's proxy (tls/upconn.h): NULL or kind none, direct */
	const struct proxy_url	*proxy;
	const char		*proxy_password;	/* copied */
	uint64_t		 id;		/* session id for logs */
};

/* room for a secret the client accepts, NUL included (pop3_arg_ok) */
#define POP3_SECRET_MAX		256

typedef void (*pop3_done_fn)(void *arg, enum gw_fail, const char *why);

/* pop3_client_new - start a login; NULL on ENOMEM or unusable arguments */
struct pop3_client *pop3_client_new(const struct pop3_client_params *,
	    pop3_done_fn, void *arg);
/* pop3_client_free - stop and free; no callback after this */
void	pop3_client_free(struct pop3_client *);
/* pop3_tls_name - "implicit", "stls", "none" */
const char *pop3_tls_name(enum pop_tls_mode);

#endif
