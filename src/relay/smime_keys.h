/*
 * smime_keys - the S/MIME keys and certificates of one configuration
 * snapshot ([smime NAME] sections), loaded and checked, and the choice
 * of section for one message.
 *
 * Contract: smime_keys_load() reads every section's certificate, key,
 * chain and recipients' directory and reports each problem as
 * "FILE:LINE: [smime NAME]: KEY: why" through err; it returns a set only
 * if everything loaded, so a bad file on SIGHUP keeps the running
 * configuration.  A set is read-only afterwards and lives as long as the
 * relay_env that holds it.
 */
#ifndef GW_SMIME_KEYS_H
#define GW_SMIME_KEYS_H

#include <stddef.h>

#include "conf/conf.h"

struct smime_keys;
struct smime_signer;
struct smime_cert;

#define SMIME_CERTS_MAX	100000	/* certificates in one recipient_certs */

/* smime_keys_load - see above; the number of errors, on 0 *out is set */
int	smime_keys_load(const struct gw_conf *, struct smime_keys **out,
	    conf_error_fn err, void *arg);
void	smime_keys_free(struct smime_keys *);
/* smime_keys_count - how many [smime] sections */
size_t	smime_keys_count(const struct smime_keys *);
/*
 * smime_keys_pick - the section index for a message from listener l with
 * envelope sender (without <>, "" for the null sender): among the
 * listener's smime list (every section when it is empty) the one with the
 * most specific matching pattern (relay/route.h rules); -1 for none.
 */
int	smime_keys_pick(const struct smime_keys *,
	    const struct conf_listener *l, const char *sender);
const struct conf_smime *smime_keys_conf(const struct smime_keys *, int);
/* smime_keys_signer - section i's signer, NULL with sign = no */
const struct smime_signer *smime_keys_signer(const struct smime_keys *, int);
/* smime_keys_cert - the certificate for addr (any case), or NULL */
const struct smime_cert *smime_keys_cert(const struct smime_keys *, int,
	    const char *addr);
/*
 * smime_cert_name - the address a file name of recipient_certs stands
 * for ("user@example.org.pem" -> "user@example.org") into out; 1 for an
 * address, 0 for a file that is no certificate of ours (not .pem, hidden),
 * -1 with *why when the name is a mistake (upper case, no '@').  Pure.
 */
int	smime_cert_name(const char *file, char *out, size_t outlen,
	    const char **why);

#endif
