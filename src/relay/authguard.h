/*
 * authguard - the listener's defence against password guessing: failed
 * AUTHs (auth = map and passthrough) counted per client address across
 * connections, a growing delay before each failure reply, and a lockout
 * once an address reaches auth_fail_limit (docs/auth.md).
 *
 * Contract: one process-wide table (authfail), kept across reloads; the
 * limits are read from the configuration passed in.  Only decisions and
 * log lines here; the caller holds the reply and answers.
 */
#ifndef GW_AUTHGUARD_H
#define GW_AUTHGUARD_H

#include <stdint.h>

struct gw_conf;
struct sockaddr;

/*
 * authguard_begin - 1 if AUTH from peer must be refused without being
 * tried (no hash, nothing forwarded upstream); logs why.  0: the attempt
 * is let through and counts as in flight (toward auth_fail_limit) until
 * authguard_end(), which the caller must call exactly once, at the
 * verdict or when the session ends first.
 */
int		 authguard_begin(const struct gw_conf *,
		    const struct sockaddr *peer, uint64_t id);
void		 authguard_end(const struct gw_conf *,
		    const struct sockaddr *peer);
/*
 * authguard_failed - one more failure of peer, logged; returns the
 * seconds to hold the failure reply.
 */
unsigned	 authguard_failed(const struct gw_conf *,
		    const struct sockaddr *peer, uint64_t id);

#endif
