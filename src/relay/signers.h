/*
 * signers - the DKIM keys of one configuration snapshot, loaded and
 * checked, and the choice of signers for one message.
 *
 * Contract: signers_load() loads the key of every [dkim NAME] section and
 * reports each problem as "FILE:LINE: key_file: why" through err; it
 * returns a set only if every key loaded, so a bad key on SIGHUP keeps the
 * running configuration.  A set is read-only afterwards and lives as long
 * as the relay_env that holds it.  signers_pick() is pure policy: which
 * sections sign a message from a listener with a given From domain.
 */
#ifndef GW_SIGNERS_H
#define GW_SIGNERS_H

#include <stddef.h>

#include "conf/conf.h"
#include "dkim/dkim.h"

struct signers;

/*
 * signers_load - keys for conf's [dkim] sections.  Errors go to err, and
 * warnings (RSA keys under 2048 bits) to warn, both as FILE:LINE: text.
 * Returns the number of errors; on 0, *out is the set (maybe empty).
 */
int	signers_load(const struct gw_conf *, struct signers **out,
	    conf_error_fn err, conf_error_fn warn, void *arg);
void	signers_free(struct signers *);
/* signers_count - how many [dkim] sections the set holds */
size_t	signers_count(const struct signers *);
/*
 * signers_pick - the signers for a message from listener l whose From
 * domain is from_domain: the listener's dkim list if it has one, else every
 * section; either way only those whose domain matches (subdomains rule).
 * Fills out (at most max) and returns the count.
 */
size_t	signers_pick(const struct signers *, const struct conf_listener *l,
	    const char *from_domain, const struct dkim_signer **out,
	    size_t max);
/*
 * signers_body_canons - DKIM_BODY_* bits of the body canonicalisations the
 * candidate signers of listener l use (before From is known): hashing only
 * those saves a third of the CPU on large bodies.
 */
unsigned signers_body_canons(const struct signers *,
	    const struct conf_listener *l);
/* signers_alg_name - "rsa-sha256" or "ed25519-sha256" */
const char *signers_alg_name(const struct dkim_signer *);

#endif
