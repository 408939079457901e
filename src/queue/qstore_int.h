/*
 * qstore_int - what the files of qstore share (internal to src/queue):
 * qstore.c writes, qstore_remove.c removes, qstore_scan.c reads the
 * queue at start (qstore_scan) and checks it for -t (qstore_check).
 */
#ifndef GW_QSTORE_INT_H
#define GW_QSTORE_INT_H

#include <sys/types.h>
#include <sys/stat.h>
#include <limits.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/qspare.h"

#define QSTORE_NAME	32		/* "0123456789abcdef.msg" and NUL */
/*
 * the trash's bounds (files, and octets unless qstore_trash_limit says
 * otherwise): past them a file is unlinked where it is removed, as when
 * there was no trash, so that a trash thread that falls behind never
 * holds more than that of delivered mail
 */
#define QSTORE_TRASH_MAX	65536
#define QSTORE_TRASH_BYTES	(64ull * 1024 * 1024)

struct qs_trash {
	uint64_t		seq;
	unsigned long long	size;
};

struct qstore {
	int		 dfd;		/* DIR */
	int		 ifd;		/* DIR/incoming */
	int		 sfd;		/* DIR/spare */
	struct qspare	*sp;
	/*
	 * ids whose ID.msg was removed and whose ID.env waits for a fsync
	 * of DIR (qstore_remove, qstore_sync), under mu
	 */
	pthread_mutex_t	 mu;
	uint64_t	*envq;
	size_t		 nenvq, capenvq;
	/*
	 * files put into spare/ as trash ("tN") instead of unlinked, for
	 * qstore_trim to unlink off the caller's path (ntrash queued, nres
	 * being renamed there), their octets and the bound, under mu
	 */
	struct qs_trash	*trashq;
	size_t		 ntrash, captrash, nres;
	uint64_t	 trash_seq;
	unsigned long long trash_bytes, trash_max;
	char		 dir[PATH_MAX];
};

/* qs_why - "DIR/what: strerror(err)" into why, or "DIR/what" for err 0 */
void	qs_why(const struct qstore *, char *, size_t, int, const char *, ...)
	    __attribute__((format(printf, 5, 6)));
/* qs_id_name - "ID" followed by ext into name (QSTORE_NAME) */
void	qs_id_name(char *name, uint64_t id, const char *ext);
/* qs_name_id - "ID.ext" (16 hex digits) to *id: 0, or -1 */
int	qs_name_id(const char *name, const char *ext, uint64_t *id);
/* qs_st_check - a directory of uid's, closed to group and others */
int	qs_st_check(const struct stat *, uid_t, const char *path, char *why,
	    size_t whylen);
/* qs_sub_open - DIR/name made (0700) if missing, opened, checked */
int	qs_sub_open(int dfd, const char *name, const char *path, char *why,
	    size_t whylen);
/*
 * qs_spare_keep - DIR/name (done with) out of DIR: into spare/ as a
 * spare of kind k, or as trash (qs_trash); unlinked if it is not a
 * regular file.  0, or -1 with errno (ENOENT: not there)
 */
int	qs_spare_keep(struct qstore *, enum qspare_kind, const char *name);
/*
 * qs_trash - fromfd/name (done with, size octets) into spare/ as trash,
 * for qstore_trim to unlink; unlinked now if the trash is full, the
 * rename fails or there is no memory to remember it.  0, or -1 with
 * errno (ENOENT: not there)
 */
int	qs_trash(struct qstore *, int fromfd, const char *name,
	    unsigned long long size);
/* qs_dir_sync - fsync DIR; what it covers becomes reusable (qspare) */
int	qs_dir_sync(struct qstore *);

#endif
