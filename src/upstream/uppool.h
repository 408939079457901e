/*
 * uppool - the connection pool of one upstream runtime on real
 * connections: pool.c's idle list (which never looks inside a
 * connection) joined to smtp_client's attach/detach and idle watch, the
 * uptx_conn seam a transaction leases through, and the pre-warm opener.
 *
 * The snapshot half of the key is the uppool itself: one per uprt, and a
 * reload builds new ones beside the old (uppool_retire on the old).  The
 * identity half is upcred's identity string.
 *
 * Lifetime: every connection, pooled or leased, holds a reference on
 * whatever its smtp_client_params.release gives back (the relay's
 * snapshot), so the uppool outlives them all; the caller frees it with
 * the snapshot.  Pre-warm connections are made with the caller's
 * params() hook, which takes that reference the same way.
 */
#ifndef GW_UPPOOL_H
#define GW_UPPOOL_H

#include <stddef.h>

struct event_base;
struct conf_upstream;
struct smtp_client_params;
struct pool;
struct uppool;
struct uptx_conn;

struct uppool_hooks {
	/*
	 * params: fill p for a connection the pool opens itself (pre-warm):
	 * everything but auth, with release set.  -1: cannot now.
	 * unhold: what params() took, given back when no client was made
	 * from p (release() is called only by a client).
	 */
	int	(*params)(void *arg, const struct conf_upstream *,
		    struct smtp_client_params *p);
	void	(*unhold)(void *arg, const struct smtp_client_params *p);
	void	*arg;
};

/* uppool_new - the pool of up; NULL when out of memory */
struct uppool	*uppool_new(struct event_base *, const struct conf_upstream *,
		    const struct uppool_hooks *);
/* uppool_free - drops whatever is idle (no QUIT: see uppool_shutdown) */
void		 uppool_free(struct uppool *);
/* uppool_conn - the seam for uptx_open(): idle ones first, see uptx.h */
const struct uptx_conn *uppool_conn(struct uppool *);
/* uppool_nidle - idle connections now */
size_t		 uppool_nidle(const struct uppool *);
/* uppool_warm - start pre-warming (pool_min_idle), once the loop runs */
void		 uppool_warm(struct uppool *);
/* uppool_retire - SIGHUP: QUIT the idle ones, close the rest when back */
void		 uppool_retire(struct uppool *);
/* uppool_shutdown - SIGTERM: the same, and the reason logged is shutdown */
void		 uppool_shutdown(struct uppool *);

#endif
