/*
 * upcred - which credentials an upstream connection authenticates with,
 * and as whom.  Pure: the facts are gathered by the caller (the inject
 * secret fetched by secret_fetch, the POP login run by relay, the
 * users_file entry or the client's own AUTH); upcred only chooses.
 *
 * The identity names the account a connection is authenticated as, so
 * that a pool can give a connection only to a transaction of the same
 * account: "none", "pop:<username>" (no SMTP AUTH, the relay opened by
 * a POP login), "inject:<user>", "map:<upstream user>",
 * "pass:<user>:<proof>".  Two different accounts never have the same
 * identity: a name that does not fit is refused, never cut.  The proof of
 * passthrough is HMAC-SHA256 of user and password under a key made at
 * random when the process starts: only a client that gives the same
 * password again gets a connection that password opened, and the
 * identity (kept in the pool) says nothing about the password.  Still,
 * no log carries the proof: upcred_id_log() leaves it out.
 */
#ifndef GW_UPCRED_H
#define GW_UPCRED_H

#include "conf/conf.h"
#include "smtp/smtp_client.h"

struct secret_cred;
struct users_entry;

#define UPCRED_ID_MAX	1024

/* what is known when the upstream connection is about to open */
struct upcred_facts {
	enum auth_mode			 mode;	/* the [upstream]'s auth */
	/* pop_before_smtp's username, NULL without pop_before_smtp */
	const char			*pop_user;
	const struct secret_cred	*inject;	/* inject: fetched */
	const struct users_entry	*map;	/* map: the client's entry */
	/* passthrough: the client's own AUTH */
	const char			*user;
	const char			*secret;
	/* inject: the account it will be (up->username), before the fetch */
	const char			*inject_user;
	/*
	 * passthrough: upcred_identity()'s answer for these same facts when
	 * the caller has it already (looking for an idle connection), so
	 * that upcred_select() does not compute the HMAC again; NULL: it is
	 * computed.  Other modes ignore it.
	 */
	const char			*identity;
};

struct upcred {
	/* points into the facts: valid as long as they are */
	struct smtp_client_auth	 auth;
	int			 has_auth;	/* 0: no AUTH upstream */
	char			 identity[UPCRED_ID_MAX];
};

/*
 * upcred_select - the AUTH to send for facts, and its identity.  0, or
 * -1 with why set when the facts lack what the mode needs (inject without
 * its secret, map without an entry, passthrough without the client's
 * credentials) or the identity would not fit.
 */
int	upcred_select(const struct upcred_facts *, struct upcred *,
	    const char **why);
/*
 * upcred_identity - the identity upcred_select() would give, from what is
 * known before the secrets are fetched (inject_user for inject): the key
 * to look for an idle connection with.  0, or -1 with why.
 */
int	upcred_identity(const struct upcred_facts *, char *id, size_t len,
	    const char **why);
/*
 * upcred_id_log - id as a log line may show it, escaped (str_vis) into
 * out: passthrough's proof is left out ("pass:<user>:***"), since it is
 * derived from the password; the other identities are shown whole.  The
 * only way an identity reaches a log.  Returns out.
 */
#define UPCRED_ID_LOG_MAX	(UPCRED_ID_MAX * 4 + 1)
const char *upcred_id_log(const char *id, char *out, size_t len);
/* upcred_auth - what smtp_client_params.auth takes: NULL for no AUTH */
const struct smtp_client_auth *upcred_auth(const struct upcred *);

#endif
