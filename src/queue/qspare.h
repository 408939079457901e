/*
 * qspare - the bookkeeping of qstore's spare files (DIR/spare/): the
 * files of removed messages, kept to be overwritten by new ones, so
 * that the file system neither frees nor allocates an inode per file
 * (on an ext4 without a journal, allocating one scans the recently
 * freed ones: docs/performance.md).
 *
 * The rule it keeps (the crash safety, qstore.c): a spare is handed out
 * only after a directory fsync that began after the spare was put, that
 * is after the fsync that made the removal of its old name durable.
 * The caller numbers each fsync of DIR: qspare_sync_begin() before it,
 * qspare_sync_end() after it succeeded.  The same numbers tell whether
 * a removal is durable yet (qspare_dirty, qspare_unsynced).  A spare is
 * named by a number (qspare_seq), unique while the store is open; its
 * file's name is the caller's business.  Thread-safe (one mutex); no I/O.
 */
#ifndef GW_QSPARE_H
#define GW_QSPARE_H

#include <stdint.h>

#define QSPARE_MAX	256	/* the most spares of one kind */

enum qspare_kind {
	QSPARE_MSG,
	QSPARE_ENV,
	QSPARE_KINDS
};

struct qspare;

/* qspare_new - at most max spares of each kind (0: none kept) */
struct qspare	*qspare_new(unsigned max);
void		 qspare_free(struct qspare *);
/* qspare_set_max - a new bound; spares beyond it are used, not added */
void		 qspare_set_max(struct qspare *, unsigned max);
/* qspare_seq - a new spare number, or 0 if kind is full (a hint only) */
uint64_t	 qspare_seq(struct qspare *, enum qspare_kind);
/* qspare_put - seq's file now a spare: 0, or -1 if full (drop the file) */
int		 qspare_put(struct qspare *, enum qspare_kind, uint64_t seq);
/* qspare_take - the oldest reusable spare into *seq: 0, or -1 if none */
int		 qspare_take(struct qspare *, enum qspare_kind, uint64_t *seq);
/* qspare_sync_begin - a ticket for the directory fsync about to start */
uint64_t	 qspare_sync_begin(struct qspare *);
/* qspare_sync_end - that fsync succeeded: what it covers is reusable */
void		 qspare_sync_end(struct qspare *, uint64_t ticket);
/*
 * qspare_dirty - a name just left DIR (a removal) without an fsync: the
 * next one to begin covers it
 */
void		 qspare_dirty(struct qspare *);
/* qspare_unsynced - 1 if a name left DIR that no finished fsync covers */
int		 qspare_unsynced(struct qspare *);
/* qspare_count - spares of kind, *ready of them reusable now (tests) */
unsigned	 qspare_count(struct qspare *, enum qspare_kind,
		    unsigned *ready);

#endif
