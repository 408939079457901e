/*
 * ratecheck - the listener's rate limits (issue 12, section 3):
 * rate_connections, rate_messages and rate_recipients per client
 * address (IPv6 by /64), rate_user_messages per logged-in user.
 *
 * Contract: one util/ratelimit table per listener name, process-wide and
 * outside the configuration snapshot, so that SIGHUP keeps the counters;
 * the limits are read from the listener passed in at each check, so a
 * reload's new limits apply at once to the counters kept.  The clock is
 * CLOCK_MONOTONIC.  Only decisions here: the caller answers the client
 * and logs.  A table that cannot be allocated lets everything in (logged
 * once): a rate limit is a brake, not an access control.
 */
#ifndef GW_RATECHECK_H
#define GW_RATECHECK_H

#include <stddef.h>

struct conf_listener;
struct sockaddr;

/*
 * ratecheck_connection - 1 if a connection from peer is within
 * rate_connections (it is then counted), 0 if it is over.
 */
int		 ratecheck_connection(const struct conf_listener *,
		    const struct sockaddr *peer);
/*
 * ratecheck_mail - NULL if a MAIL from peer, logged in as user ("" or
 * NULL: no listener login), is within rate_messages and
 * rate_user_messages: it is then counted under both.  Else the name of
 * the limit it is over, and nothing is counted.
 */
const char	*ratecheck_mail(const struct conf_listener *,
		    const struct sockaddr *peer, const char *user);
/* ratecheck_rcpt - as ratecheck_mail for RCPT and rate_recipients */
const char	*ratecheck_rcpt(const struct conf_listener *,
		    const struct sockaddr *peer);
/* ratecheck_text - "2/3s": the limit named, as set on l, for log lines */
const char	*ratecheck_text(const struct conf_listener *l,
		    const char *limit, char *buf, size_t len);

#endif
