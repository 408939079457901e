/*
 * smtp_probe - "smtpgate probe": connect to one upstream exactly as the
 * relay would and explain what happens.
 *
 * Contract: smtp_probe() runs the relay's own smtp_client (banner, EHLO,
 * STARTTLS or implicit TLS, EHLO again) with a TLS context in probe mode,
 * prints the dialogue, the negotiated TLS parameters, the certificate
 * chain, the result of every check under the upstream's policy, the AUTH
 * mechanisms offered and a verdict, then says QUIT.  It never sends MAIL.
 * Returns 0 only when a relay would go ahead with this upstream.
 */
#ifndef GW_SMTP_PROBE_H
#define GW_SMTP_PROBE_H

#include <stdio.h>

struct event_base;
struct evdns_base;
struct conf_upstream;
struct tls_client_ctx;

/* smtp_probe - 0: a relay would go ahead; 1: it would refuse */
int	smtp_probe(struct event_base *, struct evdns_base *,
	    const struct conf_upstream *, const char *helo_name,
	    struct tls_client_ctx *, FILE *out);

#endif
