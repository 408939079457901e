/*
 * uprt - the runtime of one configured upstream under one configuration
 * snapshot: what relay_env_new() builds from a [upstream] section and
 * every session to that upstream shares.  One uprt per conf_upstream per
 * snapshot; it lives exactly as long as the relay_env that owns it, and
 * SIGHUP builds new ones beside the old.
 *
 * What must outlive a snapshot (the last POP-before-SMTP login) is not
 * kept here but in a table of uprt.c's own, see uprt_pop_ok().
 */
#ifndef GW_UPRT_H
#define GW_UPRT_H

#include <stddef.h>
#include <time.h>

struct conf_upstream;
struct tls_client_ctx;
struct users;
struct uppool;
struct mx_up;

struct uprt {
	/* the section in the snapshot this was built from */
	const struct conf_upstream *up;
	struct tls_client_ctx	*tls;		/* NULL for tls = none */
	/*
	 * POP-before-SMTP: the upstream's trust, checked against the POP
	 * host (uprt_pop_ctx_new); NULL without pop_before_smtp or with
	 * pop_tls = none.
	 */
	struct tls_client_ctx	*pop_tls;
	struct users		*users;		/* auth = map, else NULL */
	/*
	 * The idle connections of this snapshot (uppool.h), never handed
	 * to another snapshot's transactions; set by the owner after
	 * uprt_new() (it needs the event loop), freed by uprt_free().  The
	 * TLS sessions to resume are in tls's own cache (tls_sess.c).
	 */
	struct uppool		*pool;
	/* its counters (obs/metrics.h), kept by name across snapshots */
	struct mx_up		*mx;
	/* what the POP-before-SMTP login vouches for, uprt_pop_ok()'s key */
	char			*keepkey;
};

/* every error of users_file is sent here; the first also ends up in why */
typedef void	(*uprt_error_fn)(void *arg, const char *msg);

/*
 * uprt_new - the runtime of up: its TLS context, its POP context, its
 * users_file.  NULL with the reason in why (prefixed "pop_before_smtp: "
 * for the POP context); users_file errors go to err one by one.
 */
struct uprt	*uprt_new(const struct conf_upstream *up, uprt_error_fn err,
		    void *arg, char *why, size_t whylen);
void		 uprt_free(struct uprt *);

/*
 * uprt_find - the uprt built from up (the same pointer into the same
 * snapshot), or NULL.  uprt_find_name - by the section's name.
 */
struct uprt	*uprt_find(struct uprt *const *, size_t n,
		    const struct conf_upstream *up);
struct uprt	*uprt_find_name(struct uprt *const *, size_t n,
		    const char *name);

/*
 * For -t: what uprt_new() would refuse, each error to err as "upstream
 * NAME: why".  uprt_check_users: users_file; uprt_check_tls: the TLS and
 * POP contexts (tls_init() first).  Return the number of errors.
 */
int		 uprt_check_users(const struct conf_upstream *,
		    void (*err)(void *, const char *), void *arg);
int		 uprt_check_tls(const struct conf_upstream *,
		    void (*err)(void *, const char *), void *arg);

/*
 * uprt_pop_ok - when the last POP-before-SMTP login for this upstream
 * succeeded (CLOCK_MONOTONIC; tv_sec 0 if none is known), in this
 * snapshot or an earlier one with the same upstream name, host, POP
 * server and username.  uprt_pop_ok_set - a login just succeeded.
 */
struct timespec	 uprt_pop_ok(const struct uprt *);
void		 uprt_pop_ok_set(struct uprt *, const struct timespec *);

/*
 * uprt_pop_ctx_new - the POP server's TLS context: the upstream's policy
 * (CA, CRL, pins, versions, exceptions) against the POP host's name.
 */
struct tls_client_ctx *uprt_pop_ctx_new(const struct conf_upstream *,
		    char *err, size_t errlen);

#endif
