/*
 * qstore_remove.c - qstore's removals (qstore.h): a delivered message's
 * ID.msg out of DIR at once, its ID.env (if the envelope was rewritten)
 * only after a directory fsync that makes the first durable, and that
 * fsync shared by the removals of a moment (qstore_sync); the files no
 * spare can take put aside as trash and unlinked later (qstore_trim);
 * the writes are qstore.c's, the reads qstore_scan.c's.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/qspare.h"
#include "queue/qstore.h"
#include "queue/qstore_int.h"

/*
 * env_later - id's ID.env to be removed by the next qstore_sync, after
 * the fsync that makes its ID.msg's removal durable.  -1 (ENOMEM): the
 * caller removes it now.
 */
static int
env_later(struct qstore *qs, uint64_t id)
{
	uint64_t	*q;
	size_t		 cap;
	int		 r = 0;

	(void)pthread_mutex_lock(&qs->mu);
	if (qs->nenvq == qs->capenvq) {
		cap = qs->capenvq == 0 ? 64 : qs->capenvq * 2;
		if ((q = reallocarray(qs->envq, cap, sizeof(*q))) == NULL)
			r = -1;
		else {
			qs->envq = q;
			qs->capenvq = cap;
		}
	}
	if (r == 0)
		qs->envq[qs->nenvq++] = id;
	(void)pthread_mutex_unlock(&qs->mu);
	return r;
}

/*
 * qs_trash - the unlink of a file done with, moved off the caller's
 * path: on a file system mounted with "discard" the last unlink of a
 * file waits for the device to discard its blocks (docs/performance.md,
 * "The trash"), and the caller is a worker whose delivery holds its
 * connection meanwhile.  A rename into spare/ does not free the inode;
 * qstore_trim unlinks the trash later, on a thread of its own.  Nothing
 * reads the trash, and spare/ is emptied at start.  Bounded
 * (QSTORE_TRASH_MAX files, qstore_trash_limit octets): past it, the
 * file is unlinked here, and the caller waits as before.
 */
int
qs_trash(struct qstore *qs, int fromfd, const char *name,
    unsigned long long size)
{
	char		 to[QSTORE_NAME];
	struct qs_trash	*q;
	uint64_t	 seq = 0;
	size_t		 cap;
	int		 err;

	/*
	 * room taken before the rename, so that removers at once cannot
	 * all pass the bound
	 */
	(void)pthread_mutex_lock(&qs->mu);
	if (qs->ntrash + qs->nres < QSTORE_TRASH_MAX &&
	    qs->trash_bytes + size <= qs->trash_max) {
		seq = ++qs->trash_seq;
		qs->nres++;
		qs->trash_bytes += size;
	}
	(void)pthread_mutex_unlock(&qs->mu);
	if (seq == 0)
		return unlinkat(fromfd, name, 0);
	(void)snprintf(to, sizeof(to), "t%016" PRIx64, seq);
	if (renameat(fromfd, name, qs->sfd, to) == -1) {
		err = errno;
		(void)pthread_mutex_lock(&qs->mu);
		qs->nres--;
		qs->trash_bytes -= size;
		(void)pthread_mutex_unlock(&qs->mu);
		if (err == ENOENT) {
			errno = err;
			return -1;
		}
		return unlinkat(fromfd, name, 0);
	}
	(void)pthread_mutex_lock(&qs->mu);
	qs->nres--;
	if (qs->ntrash == qs->captrash) {
		cap = qs->captrash == 0 ? 64 : qs->captrash * 2;
		if ((q = reallocarray(qs->trashq, cap, sizeof(*q))) != NULL) {
			qs->trashq = q;
			qs->captrash = cap;
		}
	}
	if (qs->ntrash < qs->captrash) {
		qs->trashq[qs->ntrash].seq = seq;
		qs->trashq[qs->ntrash++].size = size;
		seq = 0;
	} else
		qs->trash_bytes -= size;
	(void)pthread_mutex_unlock(&qs->mu);
	/* no memory to remember it: unlinked now, as without the trash */
	if (seq != 0)
		(void)unlinkat(qs->sfd, to, 0);
	return 0;
}

/* qstore_trash_limit - the trash's bound in octets (default 64 MiB) */
void
qstore_trash_limit(struct qstore *qs, unsigned long long bytes)
{
	(void)pthread_mutex_lock(&qs->mu);
	qs->trash_max = bytes;
	(void)pthread_mutex_unlock(&qs->mu);
}

/* qstore_trash - files waiting for qstore_trim */
size_t
qstore_trash(struct qstore *qs)
{
	size_t	n;

	(void)pthread_mutex_lock(&qs->mu);
	n = qs->ntrash;
	(void)pthread_mutex_unlock(&qs->mu);
	return n;
}

/*
 * qstore_trim - at most max of the trash unlinked, the newest first (the
 * order does not matter).  The count unlinked, or -1 with why (the
 * first failure; a file that cannot be unlinked is left to the next
 * start's emptying of spare/, and the others are still unlinked).
 */
int
qstore_trim(struct qstore *qs, size_t max, char *why, size_t whylen)
{
	char		 name[QSTORE_NAME];
	struct qs_trash	 t;
	int		 n = 0, err = 0;

	while (max-- > 0) {
		(void)pthread_mutex_lock(&qs->mu);
		if (qs->ntrash == 0) {
			(void)pthread_mutex_unlock(&qs->mu);
			break;
		}
		t = qs->trashq[--qs->ntrash];
		qs->trash_bytes -= t.size;
		(void)pthread_mutex_unlock(&qs->mu);
		(void)snprintf(name, sizeof(name), "t%016" PRIx64, t.seq);
		if (unlinkat(qs->sfd, name, 0) == 0)
			n++;
		else if (errno != ENOENT && err == 0)
			qs_why(qs, why, whylen, (err = errno),
			    "spare/%s: unlink", name);
	}
	return err != 0 ? -1 : n;
}

/*
 * qstore_remove - ID.msg out of DIR (into spare/, or its trash); its
 * ID.env, if the envelope was rewritten, goes only after a fsync of DIR
 * (qstore_sync): were the two renames made together, a power loss
 * could keep the second and lose the first, and ID.msg would be back
 * with the envelope it was accepted with (every recipient again).  An
 * ID.env left alone by a crash is removed at the next start.  No fsync
 * here: the next one (a commit's, or qstore_sync) makes the removal
 * durable and the spares reusable.
 */
int
qstore_remove(struct qstore *qs, uint64_t id, char *why, size_t whylen)
{
	struct stat	 st;
	char		 msg[QSTORE_NAME], env[QSTORE_NAME];
	int		 gone = 0;

	qs_id_name(msg, id, ".msg");
	qs_id_name(env, id, ".env");
	if (qs_spare_keep(qs, QSPARE_MSG, msg) == -1) {
		if (errno != ENOENT) {
			qs_why(qs, why, whylen, errno, "%s: remove", msg);
			return -1;
		}
		gone = 1;	/* half done by an earlier call */
	}
	if (fstatat(qs->dfd, env, &st, AT_SYMLINK_NOFOLLOW) == -1 &&
	    errno == ENOENT) {
		if (gone) {
			qs_why(qs, why, whylen, ENOENT, "%016" PRIx64, id);
			return -1;
		}
		qspare_dirty(qs->sp);
		return 0;
	}
	/*
	 * An ID.env (or one that could not be looked at: qstore_sync takes
	 * ENOENT).  Dirty before queued: qstore_sync takes the queue, then
	 * looks.  Also when ID.msg was gone already: its removal may not be
	 * durable yet.
	 */
	qspare_dirty(qs->sp);
	if (env_later(qs, id) == 0)
		return 0;
	/* no memory to wait: the fsync now, then ID.env */
	if (qs_dir_sync(qs) == -1) {
		qs_why(qs, why, whylen, errno, ".: fsync");
		return -1;	/* ID.env stays: removed at the next start */
	}
	if (qs_spare_keep(qs, QSPARE_ENV, env) == -1 && errno != ENOENT) {
		qs_why(qs, why, whylen, errno, "%s: remove", env);
		return -1;
	}
	qspare_dirty(qs->sp);
	return 0;
}

/* qstore_unsynced - 1 if a removal is not durable (or not done) yet */
int
qstore_unsynced(struct qstore *qs)
{
	size_t	n;

	(void)pthread_mutex_lock(&qs->mu);
	n = qs->nenvq;
	(void)pthread_mutex_unlock(&qs->mu);
	return n > 0 || qspare_unsynced(qs->sp);
}

/*
 * env_requeue - ids (n of them, maybe none, in q, which is taken) back
 * into the queue, without allocating when the queue is empty; on ENOMEM
 * they are left to the next start (recover), which removes them safely
 */
static void
env_requeue(struct qstore *qs, uint64_t *q, size_t n, size_t cap)
{
	uint64_t	*m;

	if (n == 0) {
		free(q);
		return;
	}
	(void)pthread_mutex_lock(&qs->mu);
	if (qs->nenvq == 0) {
		free(qs->envq);
		qs->envq = q;
		qs->nenvq = n;
		qs->capenvq = cap;
		q = NULL;
	} else if ((m = reallocarray(qs->envq, qs->nenvq + n,
	    sizeof(*m))) != NULL) {
		memcpy(m + qs->nenvq, q, n * sizeof(*m));
		qs->envq = m;
		qs->nenvq += n;
		qs->capenvq = qs->nenvq;
	}
	(void)pthread_mutex_unlock(&qs->mu);
	free(q);
}

/*
 * qstore_sync - the removals made durable, and the ID.envs they left
 * removed: a fsync of DIR unless a commit's covered them (the ID.msgs of
 * the queued ids were renamed before qspare_dirty, and that before they
 * were queued, so a clean store covers them), then the ID.envs out, and
 * one more fsync for those.  1 after a fsync, 0 if none was needed, -1
 * with why: the ids not done stay queued for the next call.
 */
int
qstore_sync(struct qstore *qs, char *why, size_t whylen)
{
	char		 env[QSTORE_NAME];
	uint64_t	*q;
	size_t		 n, cap, i, left = 0;
	int		 r = 0, err = 0, moved = 0;

	(void)pthread_mutex_lock(&qs->mu);
	q = qs->envq;
	n = qs->nenvq;
	cap = qs->capenvq;
	qs->envq = NULL;
	qs->nenvq = qs->capenvq = 0;
	(void)pthread_mutex_unlock(&qs->mu);
	if (qspare_unsynced(qs->sp)) {
		if (qs_dir_sync(qs) == -1) {
			qs_why(qs, why, whylen, errno, ".: fsync");
			env_requeue(qs, q, n, cap);
			return -1;
		}
		r = 1;
	}
	/* each ID.env out; one that fails stays queued, the rest go on */
	for (i = 0; i < n; i++) {
		qs_id_name(env, q[i], ".env");
		if (qs_spare_keep(qs, QSPARE_ENV, env) == 0)
			moved = 1;
		else if (errno != ENOENT) {
			if (err == 0)
				qs_why(qs, why, whylen, (err = errno),
				    "%s: remove", env);
			q[left++] = q[i];
		}
	}
	if (moved) {
		qspare_dirty(qs->sp);
		if (qs_dir_sync(qs) == -1) {
			if (err == 0)
				qs_why(qs, why, whylen, (err = errno),
				    ".: fsync");
		} else
			r = 1;
	}
	env_requeue(qs, q, left, cap);
	return err != 0 ? -1 : r;
}
