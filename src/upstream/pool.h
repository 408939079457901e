/*
 * pool.h: idle upstream connections of one upstream runtime (issue 11).
 *
 * One pool belongs to one upstream runtime, which is built from one
 * configuration snapshot: the snapshot half of the key (generation,
 * identity) is the pool itself, and a reload retires the old pool.
 * The pool never looks inside a connection: it holds a void * and calls
 * the ops table, so it is tested without sockets (tests/unit/test_pool.c).
 *
 * Identity: the account a connection is authenticated as, e.g.
 * "none", "inject:user@example.com", "map:alice".  pool_get() hands out
 * a connection only for exactly the same string (one account's mail
 * never leaves on another account's connection).  Passthrough: the
 * caller asks only after the client proved the same credentials again.
 *
 * Lifetime: the pool must outlive every connection taken from it (a
 * retired pool still takes back the ones in use, to close them) and
 * every pre-warm the opener has in flight (answer each with
 * pool_opened or pool_open_failed, even after retire or shutdown,
 * before pool_free).  Not thread-safe: one event loop.
 */
#ifndef GW_UPSTREAM_POOL_H
#define GW_UPSTREAM_POOL_H

#include <stddef.h>

struct event_base;
struct pool;

#define POOL_IDENT_MAX	320

struct pool_limits {
	int		 enabled;	/* pool = yes */
	unsigned	 max_idle;	/* idle connections kept */
	unsigned	 idle_timeout;	/* seconds */
	unsigned	 max_messages;	/* per connection, then QUIT */
	unsigned	 min_idle;	/* pre-warmed, 0 off */
	unsigned	 backoff_min;	/* seconds, pre-warm retry after a failure; 0: 1 */
	unsigned	 backoff_max;	/* seconds, doubling up to this; 0: 60 */
	unsigned	 surplus_ms;	/* past max_idle, kept this long; 0: 2000 */
};

enum pool_close {
	POOL_CLOSE_MAXMSG,	/* pool_max_messages reached */
	POOL_CLOSE_FULL,	/* over pool_max_idle after the grace, oldest QUIT */
	POOL_CLOSE_TIMEOUT,	/* pool_idle_timeout */
	POOL_CLOSE_DEAD,	/* pool_remove: idle watcher saw it die */
	POOL_CLOSE_RETIRED,	/* reload */
	POOL_CLOSE_SHUTDOWN,	/* SIGTERM */
	POOL_CLOSE_DISABLED,	/* pool = no */
	POOL_CLOSE_NREASONS
};

struct pool_ops {
	/* close politely (QUIT, then free); conn may be freed here */
	void	(*quit)(void *conn, enum pool_close why, void *arg);
	/* close at once, no QUIT (dead connection) */
	void	(*drop)(void *conn, enum pool_close why, void *arg);
	/*
	 * Pre-warm: start opening one connection; answer later with
	 * pool_opened() or pool_open_failed().  Returns 0 when started,
	 * -1 when it cannot start (counted as a failure, backs off).
	 * May be NULL: no pre-warm (passthrough has no identity to use).
	 */
	int	(*open)(struct pool *p, void *arg);
};


struct pool_stats {
	unsigned long	 hits;		/* pool_get found one */
	unsigned long	 misses;	/* pool_get found none */
	unsigned long	 kept;		/* pool_put kept one */
	unsigned long	 opened;	/* pre-warm connections that arrived */
	unsigned long	 open_failed;	/* pre-warm failures */
	unsigned long	 closed[POOL_CLOSE_NREASONS];
};

struct pool	*pool_new(struct event_base *, const struct pool_limits *,
		    const struct pool_ops *, void *arg);
/* an idle connection for exactly this identity, or NULL; *messages gets
 * how many it carried (for the transaction log) */
void		*pool_get(struct pool *, const char *identity,
		    unsigned *messages);
/* the caller is done: returns 1 kept, 0 closed (conn may be freed here) */
int		 pool_put(struct pool *, void *conn, const char *identity,
		    unsigned messages);
/*
 * idle watcher: conn died (readable, 421, reset); drop it, 0 if unknown.
 * With pre-warm the next opening waits the back-off, which only use
 * (pool_get) or a whole idle life (pool_idle_timeout) resets.
 */
int		 pool_remove(struct pool *, void *conn);
/* pre-warm results */
void		 pool_opened(struct pool *, void *conn, const char *identity);
void		 pool_open_failed(struct pool *);
/* start pre-warming (after start-up, when the loop runs) */
void		 pool_warm(struct pool *);
void		 pool_retire(struct pool *);	/* SIGHUP */
void		 pool_shutdown(struct pool *);	/* SIGTERM */
void		 pool_free(struct pool *);	/* drops whatever is idle */
/* retired or shut down: nothing given back is kept (*why: which) */
int		 pool_closing(const struct pool *, enum pool_close *why);
size_t		 pool_nidle(const struct pool *);
unsigned	 pool_nopening(const struct pool *);
const struct pool_stats *pool_stats(const struct pool *);
const char	*pool_close_name(enum pool_close);

#endif
