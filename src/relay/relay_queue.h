/*
 * relay_queue.h - store and forward (docs/queue.md), private to
 * src/relay/.  Three files:
 *
 *	relay_queue.c	the client side: a listener with delivery = queue
 *			takes MAIL, RCPT and the message into the store
 *			and answers 250 once it is on disk;
 *	relay_qrun.c	the runner: the index of queued messages, which
 *			is due, how many deliveries run per upstream, the
 *			control socket's commands;
 *	relay_qjob.c	one delivery: the upstream transaction object
 *			(uptx) driven for one queued message, the
 *			recipients' new states, the bounce.
 *
 * The runner is one per process: the queue outlives configuration
 * snapshots.  Each delivery holds the snapshot it started under.
 */
#ifndef GW_RELAY_QUEUE_H
#define GW_RELAY_QUEUE_H

#include <stdint.h>

#include "queue/qenv.h"

struct relay;
struct relay_env;
struct smtp_path;
struct qstore;
struct qstore_msg;

/* relay_queue.c: the client session's side */
void	relay_q_mail(struct relay *);
void	relay_q_rcpt(struct relay *, const struct smtp_path *);
void	relay_q_rset(struct relay *);
void	relay_q_commit(struct relay *);
void	relay_q_free(struct relay *);

/* relay_qrun.c: the runner */
struct qstore	*qrun_store(void);
/* qrun_room - NULL, or why a new message (of size octets) does not fit */
const char	*qrun_room(unsigned long long size);
/* qrun_add - a message was committed: index it and wake the runner */
void		 qrun_add(const struct qenv *);
/* qrun_env - the snapshot deliveries start under now */
struct relay_env *qrun_env(void);

/* relay_qjob.c: one delivery, started by the runner */
struct qjob;
/* what became of a delivery, for the runner's index */
struct qjob_result {
	int	 removed;	/* the message is done and gone */
	int64_t	 next;		/* else: its next attempt (unix seconds) */
	size_t	 pending;	/* recipients still to deliver */
};
typedef void	(*qjob_done_fn)(void *arg, uint64_t id,
		    const struct qjob_result *);
/*
 * qjob_start - deliver message id under env now; done is called exactly
 * once (perhaps before qjob_start returns, then it returns NULL).
 */
struct qjob	*qjob_start(struct relay_env *, uint64_t id,
		    qjob_done_fn done, void *arg);
/* qjob_upstream - the upstream name a delivery of e would start with */
const char	*qjob_first_upstream(struct relay_env *, const char *listener,
		    const char *sender);
/*
 * qjob_bounce - queue the DSN for e's failed recipients (msgfd: its
 * ID.msg) and mark them done; 0, or -1 (e unchanged, tried again at the
 * next attempt).
 */
int		 qjob_bounce(struct relay_env *, struct qenv *e, int msgfd);

#endif
