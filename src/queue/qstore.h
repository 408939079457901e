/*
 * qstore - the queue directory on disk: the crash-safe writes of
 * docs/queue.md ("Acceptance", "Delivery") and the recovery at start.
 *
 * Layout: DIR/ID.msg (the message as sent, then its envelope as
 * accepted and a tail giving the envelope's length, qenv.h; never
 * changed), DIR/ID.env (the envelope rewritten, once a recipient's state
 * changed; it then stands for the one in ID.msg), DIR/incoming/ (files
 * being written), DIR/spare/ (files of removed messages, to be written
 * over), DIR/control (the control socket, qctl.h; not qstore's).  ID is
 * 16 lowercase hex digits.  Every change is a new file in incoming/ (or
 * a spare overwritten), fsync'd, renamed into DIR, and DIR fsync'd; the
 * commit point of a new message is the rename of its ID.msg.
 *
 * Synchronous, blocking file I/O (the caller runs it on qwork's threads
 * or the loop; the spare list is the only state shared, under a mutex);
 * no events, no configuration: the caller passes what it needs.  Every
 * function returns 0 or -1 with why set (the file and the system's
 * reason), and never leaves a half-written file under its final name.
 */
#ifndef GW_QSTORE_H
#define GW_QSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue/qenv.h"

#define QSTORE_WHY_MAX	256

struct qstore;
struct qstore_msg;

/*
 * qstore_open - the queue directory dir: created (mode 0700) if missing
 * with incoming/ and spare/; refused if it is not a directory, not owned
 * by this user, or open to group or others.  Recovery: everything in
 * incoming/ and spare/ is removed (never acknowledged), and so is an
 * ID.env without its ID.msg (a removal cut short); the count (spares
 * not counted) is logged by the caller from *removed (may be NULL).
 */
struct qstore	*qstore_open(const char *dir, unsigned *removed, char *why,
		    size_t whylen);
void		 qstore_close(struct qstore *);
/*
 * qstore_check - for -t: what qstore_open() would refuse about dir when
 * the gateway runs as uid (not a directory, another owner, open to group
 * or others, the same of incoming/ and spare/, no parent to make it
 * in); nothing is made or changed.  0, or -1 with why.
 */
int		 qstore_check(const char *dir, uid_t uid, char *why,
		    size_t whylen);
const char	*qstore_dir(const struct qstore *);

/*
 * qstore_scan - every committed message's envelope (ID.env, else the
 * one in ID.msg), parsed, to fn with the message's length (fn may keep
 * nothing of e past the call: it is freed after).  An ID.msg that is not
 * a regular file, has no envelope (no ID.env, no tail), or whose
 * envelope does not parse, names another id or (in ID.msg) another
 * length is moved aside to DIR/corrupt/ (with its ID.env) and reported
 * to bad (why), never deleted.  fn returning -1 stops the scan, and qstore_scan returns -1
 * (the scan is not complete).  Returns the number of envelopes given to
 * fn, or -1.
 */
int	qstore_scan(struct qstore *,
	    int (*fn)(void *arg, const struct qenv *e, unsigned long long
	    msgsize),
	    void (*bad)(void *arg, uint64_t id, const char *why), void *arg,
	    char *why, size_t whylen);

/*
 * qstore_new_id - a fresh random id, not probed (qstore_msg_begin and
 * the commit refuse one in use); 0 (refused by qstore_msg_begin) if the
 * random source failed
 */
uint64_t qstore_new_id(void);

/*
 * Writing a new message: qstore_msg_begin() takes a spare or creates
 * incoming/ID.msg;
 * qstore_msg_write() appends (buffered); qstore_msg_commit() appends
 * the envelope e (e->id must be id; e->size is set from what was
 * written) and its tail, fsyncs the file, renames it to ID.msg and
 * fsyncs the directory: only on 0 may the client be told 250.  The
 * rename does not replace a file: an id that came into use meanwhile
 * fails the commit (EEXIST).  On -1 nothing of the message is left, and nothing that was
 * there is touched.  qstore_msg_abort() drops it.  Commit and abort
 * free m.
 */
struct qstore_msg *qstore_msg_begin(struct qstore *, uint64_t id, char *why,
		    size_t whylen);
int	qstore_msg_write(struct qstore_msg *, const void *, size_t, char *why,
	    size_t whylen);
unsigned long long qstore_msg_size(const struct qstore_msg *);
int	qstore_msg_commit(struct qstore_msg *, struct qenv *e, char *why,
	    size_t whylen);
void	qstore_msg_abort(struct qstore_msg *);

/*
 * qstore_env_save - rewrite ID.env whole from e (new file, fsync,
 * rename, directory fsync).
 */
int	qstore_env_save(struct qstore *, const struct qenv *e, char *why,
	    size_t whylen);
/*
 * qstore_env_load - the envelope (ID.env, else the one in ID.msg) parsed
 * into *e (qenv_free it)
 */
int	qstore_env_load(struct qstore *, uint64_t id, struct qenv *e,
	    char *why, size_t whylen);
/*
 * qstore_remove - the message is done: ID.msg out now, its ID.env (if
 * the envelope was rewritten) at the next qstore_sync, after the fsync
 * that makes the first durable (a crash between leaves an ID.env alone,
 * removed at the next start).  Both are renamed into DIR/spare/ to be
 * overwritten by later messages (bounded; else as trash, qstore_trim's
 * to unlink).  No fsync: a process crash cannot undo a rename, a power
 * loss can until the next directory fsync (a commit's, or qstore_sync),
 * which the spares wait for (qstore.c).
 */
int	qstore_remove(struct qstore *, uint64_t id, char *why, size_t whylen);
/*
 * qstore_trash - files put aside in spare/ to be unlinked (a removal
 * with no spare to take it); qstore_trim - at most max of them
 * unlinked, on a thread where waiting for the disk holds up nothing:
 * how many, or -1 with why (a file it could not unlink is left to the
 * next start)
 */
size_t	qstore_trash(struct qstore *);
int	qstore_trim(struct qstore *, size_t max, char *why, size_t whylen);
/* qstore_trash_limit - the trash's octets at most (64 MiB until set) */
void	qstore_trash_limit(struct qstore *, unsigned long long bytes);
/* qstore_unsynced - 1 if a removal is not durable, or an ID.env waits */
int	qstore_unsynced(struct qstore *);
/*
 * qstore_sync - the removals made durable and the waiting ID.envs
 * removed: 1 after a directory fsync, 0 if none was needed (a commit's
 * covered them), -1 with why (what is not done waits for the next call)
 */
int	qstore_sync(struct qstore *, char *why, size_t whylen);
/*
 * qstore_msg_fd - ID.msg open for reading (O_CLOEXEC), or -1; the
 * message is its first e->size octets (its envelope follows)
 */
int	qstore_msg_fd(struct qstore *, uint64_t id, char *why, size_t whylen);

/* qstore_spares - keep at most max spare files of each kind (tests) */
void	qstore_spares(struct qstore *, unsigned max);
/* qstore_spare_count - spares of ID.msg (msg 1) or ID.env, *ready usable */
unsigned qstore_spare_count(struct qstore *, int msg, unsigned *ready);

/* qstore_id_parse - "3f2a9c0d11e84b27" to *id: 0, or -1 if not 16 hex */
int	qstore_id_parse(const char *s, uint64_t *id);

#endif
