/*
 * relay - the only module that knows both sides.  It pairs one client-facing
 * smtp_server with at most one upstream smtp_client and runs the client's
 * transactions on the upstream in lockstep.
 *
 * Contract: the client is told 2xx only for what the upstream accepted:
 * MAIL and RCPT get the upstream's replies, the message is spooled and then
 * sent, and the final reply is the upstream's.  Upstream failures become
 * 4xx replies (smtp_reply's mapping) so the legacy program keeps the
 * message.  The upstream connection opens at the first MAIL and is reused
 * for the session's later transactions.
 *
 * A relay_env is what sessions share: the configuration snapshot and the
 * TLS contexts built from it.  It is reference-counted: SIGHUP builds a new
 * one, new sessions take it, old sessions keep theirs until they end.
 */
#ifndef GW_RELAY_H
#define GW_RELAY_H

#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct evdns_base;
struct gw_conf;
struct conf_listener;
struct relay_env;

/* relay_env_new - TLS contexts for every upstream; NULL with err set */
struct relay_env *relay_env_new(struct event_base *, struct evdns_base *,
	    struct gw_conf *, char *err, size_t errlen);
void	relay_env_unref(struct relay_env *);
/* relay_env_warm - start pre-warming its pools (pool_min_idle) */
void	relay_env_warm(struct relay_env *);
/* relay_env_retire - SIGHUP: its idle connections QUIT, none kept again */
void	relay_env_retire(struct relay_env *);
/* relay_env_shutdown - SIGTERM: the same, before draining */
void	relay_env_shutdown(struct relay_env *);
struct gw_conf *relay_env_conf(const struct relay_env *);
/*
 * relay_env_ready - /readyz: 1 when every upstream of env was reached
 * within ready_window and not failed since (relay_probe.c); else 0 with
 * the first one that is not, in why
 */
int	relay_env_ready(struct relay_env *, char *why, size_t len);
/* relay_env_gauges - set the metrics' gauges (sessions, idle) from env */
void	relay_env_gauges(struct relay_env *);

/*
 * relay_check_conf - load what relay_env_new() loads beyond the conf
 * (users_file), for -t: every error to err as "FILE:LINE: why".  Returns
 * the number of files that failed.
 */
/*
 * Store and forward (docs/queue.md; relay_qrun.c).  relay_queue_start -
 * open queue_dir (if set) and start delivering, after the privilege
 * drop; relay_queue_check - -1 if a reload to nc cannot keep the queue
 * (queue_dir changed); relay_queue_use - deliveries start under env
 * from now on; relay_queue_drain - none starts any more;
 * relay_queue_active - deliveries running; relay_queue_gauges - depth,
 * octets, the oldest's arrival (unix seconds, 0 if empty);
 * relay_queue_stop - at exit.
 */
int	relay_queue_start(struct relay_env *, char *err, size_t errlen);
int	relay_queue_check(const struct gw_conf *nc, char *err, size_t errlen);
void	relay_queue_use(struct relay_env *);
void	relay_queue_drain(void);
unsigned relay_queue_active(void);
void	relay_queue_gauges(unsigned *count, unsigned long long *bytes,
	    int64_t *oldest);
void	relay_queue_stop(void);

int	relay_check_conf(const struct gw_conf *, void (*err)(void *,
	    const char *), void *arg);

/* called when a session ends, for the listener's accounting */
typedef void (*relay_done_fn)(void *arg, const struct sockaddr *peer);

/*
 * relay_session_start - run a session on an accepted fd (the listener has
 * checked the ACL and the limits).  peer is the client (the address a
 * PROXY header carried), proxy the balancer or NULL.  Returns -1 on
 * ENOMEM (fd is closed).
 */
int	relay_session_start(struct relay_env *, const struct conf_listener *,
	    int fd, const struct sockaddr *peer, socklen_t peerlen,
	    const struct sockaddr *proxy, relay_done_fn done, void *done_arg);
/* relay_drain_all - SIGTERM: every session ends after its transaction */
void	relay_drain_all(void);
/* relay_session_count - client sessions alive plus upstream sessions still closing */
unsigned relay_session_count(void);
/* relay_sessions_active - client sessions open (no upstreams counted) */
unsigned relay_sessions_active(void);

#endif
