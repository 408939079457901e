/*
 * qstore.c - the queue directory on disk (qstore.h).
 *
 * All file access goes through two directory fds held from qstore_open
 * (DIR and DIR/incoming), so a rename of the queue directory's parent
 * cannot redirect a write, and every name is one component.  Every new
 * file is written in incoming/, fsync'd, renamed into DIR and DIR
 * fsync'd: the rename is atomic, so a crash leaves the old file or the
 * new one under the final name, never half of one.  incoming/ itself is
 * not fsync'd: whatever is left there (even a name that a crash kept in
 * both directories) is removed at the next start.  A new message is one
 * file, ID.msg: the message, its envelope and the envelope's length
 * (qenv.h), so its commit is one file fsync'd, one rename and one
 * directory fsync.  That rename does not replace a file
 * (RENAME_NOREPLACE): an id that came into use meanwhile fails the
 * commit.  ID.env exists only once the envelope has been rewritten, and
 * then stands for the one in ID.msg: a removal takes ID.msg out first,
 * and an ID.env without its ID.msg (a crash between) is removed at start.
 *
 * A removal (qstore_remove.c) is not fsync'd by itself: a process
 * crash cannot undo a rename, and the next directory fsync (a commit's,
 * or the caller's qstore_sync a moment later) makes it durable against
 * a power loss, for many removals at once.  Until then a power loss may
 * bring a delivered message back (delivered again: the window of any
 * removal, as long as the caller waits before qstore_sync).  A rewritten
 * envelope (ID.env) is removed only after that fsync (qstore_remove).
 *
 * Spare files (DIR/spare/, qspare.h).  A removed message's ID.msg (and
 * ID.env, if any) are renamed into spare/ instead of unlinked, and a new file
 * is written over a spare (then cut to its length, fsync'd) and renamed
 * from spare/ into DIR; without a spare ready, incoming/ as above.  An
 * unjournaled ext4 pays a scan of recently freed inodes for every new
 * one.  Why it is safe: a spare is overwritten only after a fsync of
 * DIR that began after its rename out of DIR (qspare's tickets), so
 * once its bytes change, no crash can bring its old name back to point
 * at them: the old ID.msg or ID.env is gone for good, and a new
 * message's bytes are never delivered to an old one's recipients.
 * Before that fsync the spare keeps its old bytes, and a crash that
 * undoes the removal leaves the old message whole (delivered again:
 * the window of any removal).  An ID.env rewritten over a spare swaps
 * names with the old one (RENAME_EXCHANGE), which becomes the spare,
 * under the same rule.  At start, spare/ is emptied like incoming/ (a
 * crash may have left a name there that DIR holds too, as in incoming/;
 * a file system left inconsistent by a crash is fsck's first).
 */
#include <sys/types.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fdutil.h"
#include "queue/qspare.h"
#include "queue/qstore.h"
#include "queue/qstore_int.h"
#include "util/str.h"

#define QSTORE_BUF	(64u * 1024)	/* qstore_msg_write's buffer */
#define QSTORE_ID_TRIES	16		/* qstore_new_id's bound */
#define QSTORE_SPARES	128		/* spare files kept, of each kind */
/* a larger message is not kept as a spare: spares hold disk space */
#define QSTORE_SPARE_SIZE (256ull * 1024)

struct qstore_msg {
	struct qstore		*qs;
	uint64_t		 id;
	int			 fd;		/* the file being written */
	int			 tfd;		/* its directory: ifd or sfd */
	int			 err;		/* sticky errno of a write */
	unsigned long long	 size;
	size_t			 buflen;
	char			 name[QSTORE_NAME];	/* ID.msg */
	char			 tmp[QSTORE_NAME];	/* its name in tfd */
	char			 buf[QSTORE_BUF];
};

static int	dir_check(int, const char *, char *, size_t);
static int	recover(struct qstore *, unsigned *, char *, size_t);
static int	spare_clear(struct qstore *, char *, size_t);
static void	spare_name(char *, enum qspare_kind, uint64_t);
static int	spare_open(struct qstore *, enum qspare_kind, char *);
static int	write_env(struct qstore *, const char *, const char *, size_t,
		    int, char *, size_t);
static int	msg_flush(struct qstore_msg *);
static const char *msg_finish(struct qstore_msg *);

/*
 * qs_why - "DIR/what: strerror(err)" into why, or "DIR/what" for err 0.
 * A long DIR cuts the end off: the reason is still readable in logs.
 */
void
qs_why(const struct qstore *qs, char *why, size_t whylen, int err,
    const char *fmt, ...)
{
	char	what[QSTORE_WHY_MAX + 64];
	va_list	ap;
	int	n;

	if (why == NULL || whylen == 0)
		return;
	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (err != 0)
		n = snprintf(why, whylen, "%s/%s: %s", qs->dir, what,
		    strerror(err));
	else
		n = snprintf(why, whylen, "%s/%s", qs->dir, what);
	(void)n;
}

void
qs_id_name(char *name, uint64_t id, const char *ext)
{
	(void)snprintf(name, QSTORE_NAME, "%016" PRIx64 "%s", id, ext);
}

/* qs_name_id - "ID.ext" (16 hex digits) to *id: 0, or -1 */
int
qs_name_id(const char *name, const char *ext, uint64_t *id)
{
	char	hex[17];

	if (strlen(name) != 16 + strlen(ext) || strcmp(name + 16, ext) != 0)
		return -1;
	memcpy(hex, name, 16);
	hex[16] = '\0';
	return qstore_id_parse(hex, id);
}

/* qstore_id_parse - 16 lowercase hex digits (the file names' form) */
int
qstore_id_parse(const char *s, uint64_t *id)
{
	uint64_t	v;

	if (str_hex16(s, &v) == -1 || s[16] != '\0')
		return -1;
	*id = v;
	return 0;
}

/*
 * dir_check - fd is a directory of ours that nobody else can read: the
 * messages are other people's mail, and a group-writable queue would let
 * another user plant an envelope that we then deliver.
 */

static int
dir_check(int fd, const char *path, char *why, size_t whylen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		(void)snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return -1;
	}
	return qs_st_check(&st, geteuid(), path, why, whylen);
}

/* qs_st_check - a directory of uid's, closed to group and others */
int
qs_st_check(const struct stat *sp, uid_t uid, const char *path, char *why,
    size_t whylen)
{
	const struct stat	st = *sp;

	if (!S_ISDIR(st.st_mode)) {
		(void)snprintf(why, whylen, "%s: not a directory", path);
		return -1;
	}
	if (st.st_uid != uid) {
		(void)snprintf(why, whylen, "%s: owned by uid %lu, not by "
		    "the gateway's user (uid %lu)", path,
		    (unsigned long)st.st_uid, (unsigned long)uid);
		return -1;
	}
	if ((st.st_mode & 077) != 0) {
		(void)snprintf(why, whylen, "%s: mode %04o, open to group or "
		    "others (want 0700)", path, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* qs_sub_open - DIR/name (path for messages), created 0700, checked like DIR */
int
qs_sub_open(int dfd, const char *name, const char *path, char *why,
    size_t whylen)
{
	int	fd;

	if (mkdirat(dfd, name, 0700) == -1 && errno != EEXIST) {
		(void)snprintf(why, whylen, "%s: mkdir: %s", path,
		    strerror(errno));
		return -1;
	}
	/* O_NOFOLLOW: a symlink here would move our files elsewhere */
	if ((fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		(void)snprintf(why, whylen, "%s: %s", path, errno == ENOTDIR ||
		    errno == ELOOP ? "not a directory" : strerror(errno));
		return -1;
	}
	if (dir_check(fd, path, why, whylen) == -1) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* qstore_open - the queue directory, checked and recovered */
struct qstore *
qstore_open(const char *dir, unsigned *removed, char *why, size_t whylen)
{
	struct qstore	*qs;
	char		 path[PATH_MAX + 16];

	if (removed != NULL)
		*removed = 0;
	if ((qs = calloc(1, sizeof(*qs))) == NULL) {
		(void)snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		return NULL;
	}
	qs->dfd = qs->ifd = qs->sfd = -1;
	qs->trash_max = QSTORE_TRASH_BYTES;
	if ((errno = pthread_mutex_init(&qs->mu, NULL)) != 0) {
		(void)snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		free(qs);
		return NULL;
	}
	if ((qs->sp = qspare_new(QSTORE_SPARES)) == NULL) {
		(void)snprintf(why, whylen, "%s: %s", dir, strerror(errno));
		goto fail;
	}
	if (str_copy(qs->dir, dir, sizeof(qs->dir)) == -1) {
		(void)snprintf(why, whylen, "queue directory name too long");
		goto fail;
	}
	/* only the last component: a missing parent is a typo to report */
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		(void)snprintf(why, whylen, "%s: mkdir: %s", dir,
		    strerror(errno));
		goto fail;
	}
	/* DIR itself may be a symlink (an operator's choice): checked after */
	if ((qs->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		(void)snprintf(why, whylen, "%s: %s", dir, errno == ENOTDIR ?
		    "not a directory" : strerror(errno));
		goto fail;
	}
	/*
	 * one gateway per queue: a second one's recovery would remove the
	 * first one's files in the middle of a commit
	 */
	if (flock(qs->dfd, LOCK_EX | LOCK_NB) == -1) {
		(void)snprintf(why, whylen, "%s: %s", dir, errno ==
		    EWOULDBLOCK ? "in use by another smtpgate (locked)" :
		    strerror(errno));
		goto fail;
	}
	if (dir_check(qs->dfd, dir, why, whylen) == -1)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/incoming", dir);
	if ((qs->ifd = qs_sub_open(qs->dfd, "incoming", path, why,
	    whylen)) == -1)
		goto fail;
	(void)snprintf(path, sizeof(path), "%s/spare", dir);
	if ((qs->sfd = qs_sub_open(qs->dfd, "spare", path, why, whylen)) == -1)
		goto fail;
	if (spare_clear(qs, why, whylen) == -1 ||
	    recover(qs, removed, why, whylen) == -1)
		goto fail;
	return qs;
fail:
	qstore_close(qs);
	return NULL;
}

/* qstore_close - the fds; nothing on disk changes */
void
qstore_close(struct qstore *qs)
{
	if (qs == NULL)
		return;
	if (qs->ifd != -1)
		(void)close(qs->ifd);
	if (qs->sfd != -1)
		(void)close(qs->sfd);
	if (qs->dfd != -1)
		(void)close(qs->dfd);
	qspare_free(qs->sp);
	/* an ID.env still waiting, and the trash, go at the next start */
	free(qs->envq);
	free(qs->trashq);
	(void)pthread_mutex_destroy(&qs->mu);
	free(qs);
}

/* qstore_spares - keep at most max spares of each kind (tests) */
void
qstore_spares(struct qstore *qs, unsigned max)
{
	qspare_set_max(qs->sp, max);
}

/* qstore_spare_count - spares of ID.msg (msg) or ID.env, *ready reusable */
unsigned
qstore_spare_count(struct qstore *qs, int msg, unsigned *ready)
{
	return qspare_count(qs->sp, msg ? QSPARE_MSG : QSPARE_ENV, ready);
}

/* qstore_dir - the directory's name as given to qstore_open */
const char *
qstore_dir(const struct qstore *qs)
{
	return qs->dir;
}

/*
 * recover - remove what was never acknowledged or is half removed:
 * everything in incoming/, then every ID.env without its ID.msg (a
 * removal takes ID.msg first), after a fsync of DIR: the crash may have
 * left that ID.msg's rename out of DIR not yet on disk, and the ID.env
 * must not go first (qstore_remove).  An ID.msg that is not a whole
 * message (no ID.env, and no envelope at its end) is qstore_scan's to
 * move aside.
 */
static int
recover(struct qstore *qs, unsigned *removed, char *why, size_t whylen)
{
	DIR		*d;
	struct dirent	*de;
	struct stat	 st;
	char		 msg[QSTORE_NAME];
	uint64_t	 id;
	unsigned	 n = 0;
	int		 pass, fd, dfd, err = 0, synced = 0;

	for (pass = 0; pass < 2 && err == 0; pass++) {
		dfd = pass == 0 ? qs->ifd : qs->dfd;
		/* a new open file description: dfd's own offset stays put */
		if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
			err = errno;
			if (fd != -1)
				(void)close(fd);
			qs_why(qs, why, whylen, err, "%s", pass == 0 ?
			    "incoming" : ".");
			return -1;
		}
		while (err == 0 && (errno = 0, de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			if (pass == 1) {
				if (qs_name_id(de->d_name, ".env", &id) == -1)
					continue;
				qs_id_name(msg, id, ".msg");
				if (fstatat(dfd, msg, &st,
				    AT_SYMLINK_NOFOLLOW) == 0)
					continue;
				if (errno != ENOENT) {
					err = errno;
					qs_why(qs, why, whylen, err, "%s", msg);
					break;
				}
				if (!synced && qs_dir_sync(qs) == -1) {
					err = errno;
					qs_why(qs, why, whylen, err, ".: fsync");
					break;
				}
				synced = 1;
			}
			if (unlinkat(dfd, de->d_name, 0) == -1) {
				err = errno;
				qs_why(qs, why, whylen, err, "%s%s: unlink",
				    pass == 0 ? "incoming/" : "", de->d_name);
				break;
			}
			n++;
		}
		if (de == NULL && errno != 0 && err == 0) {
			err = errno;
			qs_why(qs, why, whylen, err, "readdir");
		}
		(void)closedir(d);
	}
	if (err == 0 && n > 0 && qs_dir_sync(qs) == -1) {
		err = errno;
		qs_why(qs, why, whylen, err, ".: fsync");
	}
	if (removed != NULL)
		*removed = n;
	return err == 0 ? 0 : -1;
}

/*
 * spare_clear - everything in spare/ removed: a spare left by the last
 * run is not known to be out of DIR for good (qstore.c, at the top)
 */
static int
spare_clear(struct qstore *qs, char *why, size_t whylen)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd, err = 0;

	if ((fd = openat(qs->sfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		err = errno;
		if (fd != -1)
			(void)close(fd);
		qs_why(qs, why, whylen, err, "spare");
		return -1;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(qs->sfd, de->d_name, 0) == -1) {
			err = errno;
			qs_why(qs, why, whylen, err, "spare/%s: unlink",
			    de->d_name);
			break;
		}
	}
	if (de == NULL && errno != 0 && err == 0) {
		err = errno;
		qs_why(qs, why, whylen, err, "spare: readdir");
	}
	(void)closedir(d);
	return err == 0 ? 0 : -1;
}

static void
spare_name(char *name, enum qspare_kind k, uint64_t seq)
{
	(void)snprintf(name, QSTORE_NAME, "%c%016" PRIx64, k == QSPARE_MSG ?
	    'm' : 'e', seq);
}

/*
 * spare_open - a reusable spare of kind k open for writing (at offset
 * 0; the caller cuts it to length), its name in spare/ into name; -1 if
 * none is ready or it cannot be opened (then it is dropped)
 */
static int
spare_open(struct qstore *qs, enum qspare_kind k, char *name)
{
	uint64_t	seq;
	int		fd;

	if (qspare_take(qs->sp, k, &seq) == -1)
		return -1;
	spare_name(name, k, seq);
	if ((fd = openat(qs->sfd, name, O_WRONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		(void)unlinkat(qs->sfd, name, 0);
	return fd;
}

/* qs_size - dfd/name's size, 0 if it cannot be looked at */
static unsigned long long
qs_size(int dfd, const char *name)
{
	struct stat	st;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return 0;
	return (unsigned long long)st.st_size;
}

/*
 * qs_spare_keep - DIR/name (done with) out of DIR: renamed into spare/ if
 * there is room and it is small enough to be worth its space, else into
 * spare/ as trash (qs_trash); a name that is not a regular file is
 * unlinked.  0, or -1 with errno (ENOENT: it was not there).
 */
int
qs_spare_keep(struct qstore *qs, enum qspare_kind k, const char *name)
{
	struct stat		 st;
	char			 to[QSTORE_NAME];
	uint64_t		 seq;
	unsigned long long	 size = 0;

	if (fstatat(qs->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		/* not a file of ours: no spare, no trash */
		if (!S_ISREG(st.st_mode))
			return unlinkat(qs->dfd, name, 0);
		size = (unsigned long long)st.st_size;
	}
	if ((seq = qspare_seq(qs->sp, k)) == 0 || (k == QSPARE_MSG &&
	    size > QSTORE_SPARE_SIZE))
		return qs_trash(qs, qs->dfd, name, size);
	spare_name(to, k, seq);
	if (renameat(qs->dfd, name, qs->sfd, to) == -1)
		return -1;
	/* full meanwhile: dropped; the name is out of DIR either way */
	if (qspare_put(qs->sp, k, seq) == -1)
		(void)qs_trash(qs, qs->sfd, to, size);
	return 0;
}

/* qs_dir_sync - fsync DIR; the spares it made safe become reusable */
int
qs_dir_sync(struct qstore *qs)
{
	uint64_t	t;

	t = qspare_sync_begin(qs->sp);
	if (fsync(qs->dfd) == -1)
		return -1;
	qspare_sync_end(qs->sp, t);
	return 0;
}

/*
 * qstore_new_id - random, so that ids do not repeat across restarts or
 * hosts sharing a log.  Not probed here (this runs on the loop, once per
 * message): qstore_msg_begin refuses an id in use, O_EXCL one being
 * written, and the commit's rename never replaces (qs_rename_new).
 */
uint64_t
qstore_new_id(void)
{
	uint64_t	 id;
	int		 t;

	for (t = 0; t < QSTORE_ID_TRIES; t++)
		if (getrandom(&id, sizeof(id), 0) == (ssize_t)sizeof(id) &&
		    id != 0)
			return id;
	/* qstore_msg_begin refuses 0 with a reason */
	return 0;
}

/*
 * qs_rename_new - from renamed to DIR/to, which must not exist (EEXIST):
 * two messages given the same id never replace one another.  A file
 * system without RENAME_NOREPLACE gets a check first; the race it leaves
 * needs two writers of one random 64-bit id at the same instant.
 */
static int
qs_rename_new(struct qstore *qs, int fromfd, const char *from,
    const char *to)
{
	struct stat	st;

	if (renameat2(fromfd, from, qs->dfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (fstatat(qs->dfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	return renameat(fromfd, from, qs->dfd, to);
}

/* qstore_msg_begin - incoming/ID.msg, new */
struct qstore_msg *
qstore_msg_begin(struct qstore *qs, uint64_t id, char *why, size_t whylen)
{
	struct qstore_msg	*m;
	struct stat		 st;
	char			 name[QSTORE_NAME];
	int			 i;

	qs_id_name(name, id, ".msg");
	if (id == 0) {
		qs_why(qs, why, whylen, EINVAL, "no id (qstore_new_id)");
		return NULL;
	}
	/* refused early: the commit would fail (EEXIST) after the writes */
	for (i = 0; i < 2; i++) {
		qs_id_name(name, id, i == 0 ? ".msg" : ".env");
		if (fstatat(qs->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			qs_why(qs, why, whylen, EEXIST, "%s", name);
			return NULL;
		}
		if (errno != ENOENT) {
			qs_why(qs, why, whylen, errno, "%s", name);
			return NULL;
		}
	}
	qs_id_name(name, id, ".msg");
	if ((m = malloc(sizeof(*m))) == NULL) {
		qs_why(qs, why, whylen, errno, "incoming/%s", name);
		return NULL;
	}
	m->qs = qs;
	m->id = id;
	m->err = 0;
	m->size = 0;
	m->buflen = 0;
	memcpy(m->name, name, sizeof(m->name));
	memcpy(m->tmp, name, sizeof(m->tmp));
	m->tfd = qs->sfd;
	if ((m->fd = spare_open(qs, QSPARE_MSG, m->tmp)) != -1)
		return m;
	memcpy(m->tmp, name, sizeof(m->tmp));
	m->tfd = qs->ifd;
	/* O_EXCL: another message being written under this id */
	if ((m->fd = openat(qs->ifd, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1) {
		qs_why(qs, why, whylen, errno, "incoming/%s", name);
		free(m);
		return NULL;
	}
	return m;
}

/* msg_where - "incoming/" or "spare/": where m is being written */
static const char *
msg_where(const struct qstore_msg *m)
{
	return m->tfd == m->qs->sfd ? "spare/" : "incoming/";
}

/* msg_flush - the buffer to the file; the first error sticks */
static int
msg_flush(struct qstore_msg *m)
{
	if (m->err == 0 && fd_write_all(m->fd, m->buf, m->buflen) == -1)
		m->err = errno;
	m->buflen = 0;
	return m->err == 0 ? 0 : -1;
}

/*
 * msg_finish - the rest of the buffer written, the file fsync'd and
 * closed: NULL, or the step that failed (errno set).
 */
static const char *
msg_finish(struct qstore_msg *m)
{
	int	r;

	if (msg_flush(m) == -1) {
		errno = m->err;
		return "write";
	}
	/* a spare may be longer than what it holds now */
	if (m->tfd == m->qs->sfd && ftruncate(m->fd, (off_t)m->size) == -1)
		return "ftruncate";
	if (fsync(m->fd) == -1)
		return "fsync";
	r = close(m->fd);
	m->fd = -1;
	return r == -1 ? "close" : NULL;
}

/* qstore_msg_write - append; buffered, as the relay writes in pieces */
int
qstore_msg_write(struct qstore_msg *m, const void *p, size_t len,
    char *why, size_t whylen)
{
	const char	*c = p;
	size_t		 n;

	while (m->err == 0 && len > 0) {
		if (m->buflen == sizeof(m->buf) && msg_flush(m) == -1)
			break;
		n = sizeof(m->buf) - m->buflen;
		if (n > len)
			n = len;
		memcpy(m->buf + m->buflen, c, n);
		m->buflen += n;
		m->size += n;
		c += n;
		len -= n;
	}
	if (m->err != 0) {
		qs_why(m->qs, why, whylen, m->err, "%s%s: write",
		    msg_where(m), m->tmp);
		return -1;
	}
	return 0;
}

/* qstore_msg_size - octets written so far */
unsigned long long
qstore_msg_size(const struct qstore_msg *m)
{
	return m->size;
}

/* qstore_msg_abort - drop the message being written */
void
qstore_msg_abort(struct qstore_msg *m)
{
	if (m == NULL)
		return;
	if (m->fd != -1)
		(void)close(m->fd);
	(void)unlinkat(m->tfd, m->tmp, 0);
	free(m);
}

/*
 * env_swap - spare/tmp and DIR/name exchanged: the old envelope is the
 * spare now, reusable after the caller's directory fsync.  0, or -1
 * with nothing changed (no DIR/name, or no RENAME_EXCHANGE here).
 */
static int
env_swap(struct qstore *qs, const char *tmp, const char *name)
{
	uint64_t	seq;

	if (qstore_id_parse(tmp + 1, &seq) == -1 ||
	    renameat2(qs->sfd, tmp, qs->dfd, name, RENAME_EXCHANGE) == -1)
		return -1;
	if (qspare_put(qs->sp, QSPARE_ENV, seq) == -1)
		(void)qs_trash(qs, qs->sfd, tmp, qs_size(qs->sfd, tmp));
	return 0;
}

/*
 * write_env - DIR/name from text: written over a spare (cut to length)
 * or as a new file in incoming/, fsync'd, renamed to DIR/name.  swap
 * (a rewrite): the old DIR/name is replaced, and becomes the spare
 * (env_swap) if it can; else DIR/name must not exist (EEXIST).  On -1
 * the new file is gone and DIR/name was not touched.
 */
static int
write_env(struct qstore *qs, const char *name, const char *text, size_t len,
    int swap, char *why, size_t whylen)
{
	const char	*op = "open";
	char		 tmp[QSTORE_NAME];
	int		 fd, tfd = qs->sfd, err;

	if ((fd = spare_open(qs, QSPARE_ENV, tmp)) == -1) {
		tfd = qs->ifd;
		(void)snprintf(tmp, sizeof(tmp), "%s", name);
		/* O_TRUNC, not O_EXCL: a leftover of a failed unlink is ours */
		if ((fd = openat(qs->ifd, name, O_WRONLY | O_CREAT | O_TRUNC |
		    O_CLOEXEC | O_NOFOLLOW, 0600)) == -1)
			goto fail;
	}
	if ((op = "write", fd_write_all(fd, text, len)) == -1 ||
	    (op = "ftruncate", tfd == qs->sfd &&
	    ftruncate(fd, (off_t)len) == -1) ||
	    (op = "fsync", fsync(fd)) == -1) {
		err = errno;
		(void)close(fd);
		errno = err;
		goto fail;
	}
	if ((op = "close", close(fd)) == -1)
		goto fail;
	op = "rename";
	if (swap && tfd == qs->sfd && env_swap(qs, tmp, name) == 0)
		return 0;
	if ((swap ? renameat(tfd, tmp, qs->dfd, name) :
	    qs_rename_new(qs, tfd, tmp, name)) == -1)
		goto fail;
	return 0;
fail:
	err = errno;
	if (fd != -1)
		(void)unlinkat(tfd, tmp, 0);
	qs_why(qs, why, whylen, err, "%s%s: %s", tfd == qs->sfd ? "spare/" :
	    "incoming/", tmp, op);
	return -1;
}

/*
 * qstore_msg_commit - the order of docs/queue.md "Acceptance": the
 * envelope and its tail appended to the message, the file fsync'd and
 * renamed to ID.msg (the commit point), DIR fsync'd.  The envelope is
 * formatted first, so that a value it refuses fails the commit before
 * anything reaches DIR; a failure after the rename takes ID.msg back
 * out, so that -1 (a 4xx to the client) never leaves a message that
 * would be delivered as well.
 */
int
qstore_msg_commit(struct qstore_msg *m, struct qenv *e, char *why,
    size_t whylen)
{
	struct qstore	*qs = m->qs;
	char		 tail[QENV_TAIL_LEN + 1], *text = NULL;
	char		 ewhy[QSTORE_WHY_MAX];
	const char	*op;
	size_t		 len;

	if (e->id != m->id) {
		qs_why(qs, why, whylen, EINVAL, "%s: the envelope's id is "
		    "%016" PRIx64, m->name, e->id);
		goto fail;
	}
	e->size = m->size;
	if (qenv_format(e, &text, &len, ewhy, sizeof(ewhy)) == -1) {
		qs_why(qs, why, whylen, 0, "%s: envelope: %s", m->name, ewhy);
		goto fail;
	}
	qenv_tail_format(tail, len);
	if (qstore_msg_write(m, text, len, why, whylen) == -1 ||
	    qstore_msg_write(m, tail, QENV_TAIL_LEN, why, whylen) == -1)
		goto fail;
	if ((op = msg_finish(m)) != NULL ||
	    qs_rename_new(qs, m->tfd, m->tmp, m->name) == -1) {
		qs_why(qs, why, whylen, errno, "%s%s: %s", msg_where(m),
		    m->tmp, op != NULL ? op : "rename");
		goto fail;
	}
	free(text);
	text = NULL;
	if (qs_dir_sync(qs) == -1) {
		qs_why(qs, why, whylen, errno, ".: fsync");
		(void)unlinkat(qs->dfd, m->name, 0);
		(void)qs_dir_sync(qs);
		free(m);
		return -1;
	}
	free(m);
	return 0;
fail:
	free(text);
	qstore_msg_abort(m);
	return -1;
}

/* qstore_env_save - ID.env rewritten whole */
int
qstore_env_save(struct qstore *qs, const struct qenv *e, char *why,
    size_t whylen)
{
	struct stat	 st;
	char		 name[QSTORE_NAME], *text, ewhy[QSTORE_WHY_MAX];
	size_t		 len;
	int		 r;

	/* an envelope without its message would be removed at the next start */
	qs_id_name(name, e->id, ".msg");
	if (fstatat(qs->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		qs_why(qs, why, whylen, errno, "%s", name);
		return -1;
	}
	qs_id_name(name, e->id, ".env");
	if (qenv_format(e, &text, &len, ewhy, sizeof(ewhy)) == -1) {
		qs_why(qs, why, whylen, 0, "%s: %s", name, ewhy);
		return -1;
	}
	r = write_env(qs, name, text, len, 1, why, whylen);
	free(text);
	if (r == 0 && qs_dir_sync(qs) == -1) {
		qs_why(qs, why, whylen, errno, ".: fsync");
		r = -1;
	}
	return r;
}
