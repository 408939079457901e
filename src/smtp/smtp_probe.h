/*
 * smtp_probe - "smtpgate probe": connect to one upstream exactly as the
 * relay would and explain what happens.
 *
 * Contract: smtp_probe() runs the relay's own smtp_client (banner, EHLO,
 * STARTTLS or implicit TLS, EHLO again) with a TLS context in probe mode,
 * prints the dialogue, the negotiated TLS parameters, the certificate
 * chain, the result of every check under the upstream's policy, the AUTH
 * mechanisms offered, then says QUIT.  With auth = inject, if the relay
 * would go ahead, it then logs in on a second session exactly as the
 * relay would (its TLS checks enforced, the credentials fetched as the
 * relay fetches them), reports whether the credentials work, and says
 * QUIT.  It never sends MAIL, and prints SASL lines only redacted.
 * Returns 0 only when a relay would go ahead with this upstream (and,
 * with inject, the upstream accepted the credentials).
 */
#ifndef GW_SMTP_PROBE_H
#define GW_SMTP_PROBE_H

#include <stdio.h>

struct event_base;
struct evdns_base;
struct conf_upstream;
struct tls_client_ctx;

/* smtp_probe - 0: a relay would go ahead; 1: it would refuse (or AUTH fails) */
int	smtp_probe(struct event_base *, struct evdns_base *,
	    const struct conf_upstream *, const char *helo_name,
	    struct tls_client_ctx *, FILE *out);

#endif
