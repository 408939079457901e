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
void	relay_q_commit(struct relay *);
void	relay_q_free(struct relay *);

/* relay_qrun.c: the runner and its index of queued messages */
#include <sys/queue.h>

struct qslot;
struct qent {
	TAILQ_ENTRY(qent)	 entry;
	uint64_t		 id;
	int64_t			 arrival;
	int64_t			 next;
	unsigned long long	 size;
	unsigned		 flags;		/* QF_* */
	unsigned		 attempts;
	size_t			 pending;	/* recipients not done */
	enum { QE_WAITING, QE_READY, QE_BUSY } where;
	struct qslot		*slot;		/* READY and BUSY: its upstream */
	struct qjob		*job;		/* BUSY */
	char			*listener;
	char			*sender;
	char			*route;		/* the sender it is routed as */
};

struct qstore	*qrun_store(void);
/* qrun_room - NULL, or why a new message (of size octets) does not fit */
const char	*qrun_room(unsigned long long size);
/* qrun_add - a message was committed: index it and wake the runner */
void		 qrun_add(const struct qenv *);
/* qrun_each - every message of the index, those being delivered too */
void		 qrun_each(void (*fn)(void *, const struct qent *), void *arg);
/* qrun_find - the message id if it is not being delivered, or NULL */
struct qent	*qrun_find(uint64_t id);
/* qrun_requeue - q's flags or next changed: onto the right list */
void		 qrun_requeue(struct qent *q);
/* qrun_forget - q was removed from the store: out of the index */
void		 qrun_forget(struct qent *q);
/* qrun_flush - every waiting message that is not held is due now */
void		 qrun_flush(void);
/* qrun_submit - a commit for the queue's worker threads (qwork.h) */
struct qwork_job;
int		 qrun_submit(const struct qwork_job *);
/*
 * qrun_removed - a message was removed from the store: its directory
 * fsync follows about QRUN_SYNC_MSEC later, shared with the removals
 * made meanwhile
 */
void		 qrun_removed(void);
/* qrun_njobs - deliveries running */
unsigned	 qrun_njobs(void);

/* relay_qctl.c: the control socket's commands (qctl.h) */
struct qctl_ops;
extern const struct qctl_ops qrun_ctl_ops;

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
/* qjob_cancel - at exit: stop a delivery, done is not called */
void		 qjob_cancel(struct qjob *);
/*
 * qjob_first_upstream - the upstream name a delivery of a message from
 * listener, routed as sender, would start with (NULL: none)
 */
const char	*qjob_first_upstream(struct relay_env *, const char *listener,
		    const char *sender);
/*
 * qjob_bounce - queue the DSN for e's failed recipients (msgfd: its
 * ID.msg) and mark them done; 0, or -1 (e unchanged, tried again at the
 * next attempt).
 */
int		 qjob_bounce(struct relay_env *, struct qenv *e, int msgfd);
/*
 * qjob_relayed - queue the "relayed" DSN (RFC 3461 6.2.2) for the
 * recipients relayed[i] marks; best effort
 */
void		 qjob_relayed(struct relay_env *, const struct qenv *e,
		    int msgfd, const unsigned char *relayed);

#endif
