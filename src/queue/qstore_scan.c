/*
 * qstore_scan.c - qstore's reading side: a message's envelope (ID.env
 * if it was rewritten, else the one at the end of ID.msg), the message
 * itself, the queue read at start (qstore_scan: every envelope to the
 * caller, the unusable ones moved aside to corrupt/) and checked for -t
 * (qstore_check); the writes are qstore.c's (qstore.h).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue/qstore.h"
#include "queue/qstore_int.h"
#include "util/str.h"

static int	read_at(int, off_t, size_t, char **, size_t *);
static int	env_file(struct qstore *, const char *, char **, size_t *,
		    int *);
static int	env_tail(struct qstore *, const char *, char **, size_t *,
		    unsigned long long *, int *);
static int	env_get(struct qstore *, uint64_t, struct qenv *,
		    unsigned long long *, int *, char *, size_t);
static int	move_aside(struct qstore *, uint64_t, char *, size_t);
static int	scan_one(struct qstore *, uint64_t, struct qenv *,
		    unsigned long long *, int *, char *, size_t);

/*
 * read_at - len octets of fd from off into a new NUL-ended buffer; *got
 * is less than len when the file ends first.  -1 with errno.
 */
static int
read_at(int fd, off_t off, size_t len, char **out, size_t *got)
{
	char	*buf;
	size_t	 n = 0;
	ssize_t	 r;
	int	 err;

	if ((buf = malloc(len + 1)) == NULL)
		return -1;
	while (n < len) {
		if ((r = pread(fd, buf + n, len - n, off + (off_t)n)) == -1) {
			if (errno == EINTR)
				continue;
			err = errno;
			free(buf);
			errno = err;
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*got = n;
	return 0;
}

/* open_reg - DIR/name for reading, a regular file (else *bad, EINVAL) */
static int
open_reg(struct qstore *qs, const char *name, struct stat *st, int *bad)
{
	int	fd, err;

	*bad = 0;
	if ((fd = openat(qs->dfd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1) {
		*bad = errno == ELOOP;
		return -1;
	}
	if (fstat(fd, st) == -1)
		err = errno;
	else if (!S_ISREG(st->st_mode)) {
		err = EINVAL;
		*bad = 1;
	} else
		return fd;
	(void)close(fd);
	errno = err;
	return -1;
}

/*
 * env_file - DIR/name (an ID.env) whole into a new buffer.  *bad when
 * the file cannot be an envelope (over QENV_FILE_MAX, not a regular
 * file): the file's fault, not the disk's.  A file that shrinks while
 * read is cut short, and its parse refuses it.  -1 with errno.
 */
static int
env_file(struct qstore *qs, const char *name, char **out, size_t *outlen,
    int *bad)
{
	struct stat	 st;
	int		 fd, r, err;

	memset(&st, 0, sizeof(st));
	if ((fd = open_reg(qs, name, &st, bad)) == -1)
		return -1;
	if (st.st_size > (off_t)QENV_FILE_MAX) {
		(void)close(fd);
		*bad = 1;
		errno = EFBIG;
		return -1;
	}
	r = read_at(fd, 0, (size_t)st.st_size, out, outlen);
	err = errno;
	(void)close(fd);
	errno = err;
	return r;
}

/*
 * env_tail - the envelope at the end of DIR/name (an ID.msg, qenv.h's
 * tail) into a new buffer, and the message's length before it.  *bad
 * when the file has no whole envelope there.  -1 with errno.
 */
static int
env_tail(struct qstore *qs, const char *name, char **out, size_t *outlen,
    unsigned long long *msglen, int *bad)
{
	struct stat	 st;
	char		*tail = NULL;
	size_t		 got, len;
	off_t		 at;
	int		 fd, err = 0;

	memset(&st, 0, sizeof(st));
	if ((fd = open_reg(qs, name, &st, bad)) == -1)
		return -1;
	*out = NULL;
	if (st.st_size < (off_t)QENV_TAIL_LEN)
		err = EINVAL;
	else if (read_at(fd, st.st_size - QENV_TAIL_LEN, QENV_TAIL_LEN,
	    &tail, &got) == -1)
		err = errno;
	else if (qenv_tail_parse(tail, got, &len) == -1 ||
	    (off_t)len > st.st_size - QENV_TAIL_LEN)
		err = EINVAL;
	else {
		at = st.st_size - QENV_TAIL_LEN - (off_t)len;
		if (read_at(fd, at, len, out, outlen) == -1)
			err = errno;
		else if (*outlen != len)
			err = EINVAL;	/* cut short meanwhile */
		*msglen = (unsigned long long)at;
	}
	free(tail);
	(void)close(fd);
	if (err == 0)
		return 0;
	*bad = err == EINVAL;
	if (*out != NULL) {
		free(*out);
		*out = NULL;
	}
	errno = err;
	return -1;
}

/*
 * env_get - id's envelope: ID.env if there is one (a rewrite), else the
 * one at the end of ID.msg, parsed into *e; its id must be its name's,
 * and one from ID.msg must give the length its message has (*msglen).
 * On -1 *bad says whether the file is at fault (unfit, unparsable,
 * another id) rather than the disk.
 */
static int
env_get(struct qstore *qs, uint64_t id, struct qenv *e,
    unsigned long long *msglen, int *bad, char *why, size_t whylen)
{
	char	name[QSTORE_NAME], *text = NULL, ewhy[QSTORE_WHY_MAX];
	size_t	len = 0;
	int	r, tail = 0;

	memset(e, 0, sizeof(*e));
	*msglen = 0;
	qs_id_name(name, id, ".env");
	if ((r = env_file(qs, name, &text, &len, bad)) == -1 &&
	    errno == ENOENT) {
		tail = 1;
		qs_id_name(name, id, ".msg");
		r = env_tail(qs, name, &text, &len, msglen, bad);
	}
	if (r == -1) {
		qs_why(qs, why, whylen, errno, "%s%s", name, tail && *bad ?
		    ": no envelope at its end" : "");
		return -1;
	}
	r = qenv_parse(text, len, e, ewhy, sizeof(ewhy));
	free(text);
	if (r == 0 && e->id != id) {
		(void)snprintf(ewhy, sizeof(ewhy), "the id record is %016"
		    PRIx64, e->id);
		r = -1;
	} else if (r == 0 && tail && e->size != *msglen) {
		(void)snprintf(ewhy, sizeof(ewhy), "the size record is %llu, "
		    "the message %llu", e->size, *msglen);
		r = -1;
	}
	if (r == -1) {
		*bad = 1;
		qs_why(qs, why, whylen, 0, "%s: %s", name, ewhy);
	}
	return r;
}

/* qstore_env_load - see qstore.h */
int
qstore_env_load(struct qstore *qs, uint64_t id, struct qenv *e, char *why,
    size_t whylen)
{
	unsigned long long	msglen;
	int			bad;

	return env_get(qs, id, e, &msglen, &bad, why, whylen);
}

/* qstore_msg_fd - ID.msg for reading */
int
qstore_msg_fd(struct qstore *qs, uint64_t id, char *why, size_t whylen)
{
	char	name[QSTORE_NAME];
	int	fd;

	qs_id_name(name, id, ".msg");
	if ((fd = openat(qs->dfd, name, O_RDONLY | O_CLOEXEC |
	    O_NOFOLLOW)) == -1)
		qs_why(qs, why, whylen, errno, "%s", name);
	return fd;
}

/*
 * move_aside - ID.msg, then ID.env if any, into DIR/corrupt/ for the
 * operator: never deleted, since it may be the only copy of someone's
 * mail.  The .msg goes first: the other order, and a crash between,
 * would leave an ID.msg whose own envelope sends it again to every
 * recipient; this one leaves an ID.env alone, removed at the next start
 * (the message in corrupt/ keeps the envelope it was accepted with).
 * A name already in corrupt/ is not replaced; the files then stay where
 * they are, skipped and reported.
 */
static int
move_aside(struct qstore *qs, uint64_t id, char *why, size_t whylen)
{
	struct stat	 st;
	char		 name[QSTORE_NAME], to[QSTORE_NAME + 16];
	char		 path[PATH_MAX + 16];
	int		 i, fd;

	(void)snprintf(path, sizeof(path), "%s/corrupt", qs->dir);
	if ((fd = qs_sub_open(qs->dfd, "corrupt", path, why, whylen)) == -1)
		return -1;
	/* both checked first: a half move would be reported every start */
	for (i = 0; i < 2; i++) {
		qs_id_name(name, id, i == 0 ? ".msg" : ".env");
		(void)snprintf(to, sizeof(to), "corrupt/%s", name);
		if (fstatat(qs->dfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			qs_why(qs, why, whylen, EEXIST, "%s", to);
			(void)close(fd);
			return -1;
		}
	}
	for (i = 0; i < 2; i++) {
		qs_id_name(name, id, i == 0 ? ".msg" : ".env");
		(void)snprintf(to, sizeof(to), "corrupt/%s", name);
		if (renameat(qs->dfd, name, fd, name) == -1 &&
		    (errno != ENOENT || i == 0)) {
			qs_why(qs, why, whylen, errno, "%s: rename to %s",
			    name, to);
			(void)close(fd);
			return -1;
		}
	}
	(void)fsync(fd);
	(void)close(fd);
	(void)qs_dir_sync(qs);
	return 0;
}

/*
 * scan_one - id's envelope into *e and its message's length.  *corrupt
 * set (and why) when it is unusable as it is: ID.msg is not a file, the
 * envelope does not parse, names another id or (the one at the end of
 * ID.msg) another length.  -1 without *corrupt: the disk failed.
 */
static int
scan_one(struct qstore *qs, uint64_t id, struct qenv *e,
    unsigned long long *msgsize, int *corrupt, char *why, size_t whylen)
{
	struct stat		st;
	char			name[QSTORE_NAME];
	unsigned long long	msglen;

	*corrupt = 0;
	memset(e, 0, sizeof(*e));
	/* env_get does not open ID.msg when there is an ID.env */
	qs_id_name(name, id, ".msg");
	if (fstatat(qs->dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		*corrupt = errno == ENOENT;
		qs_why(qs, why, whylen, errno, "%s", name);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*corrupt = 1;
		qs_why(qs, why, whylen, EINVAL, "%s: not a file", name);
		return -1;
	}
	if (env_get(qs, id, e, &msglen, corrupt, why, whylen) == -1)
		return -1;
	*msgsize = e->size;
	return 0;
}

/* qstore_scan - every committed envelope; the corrupt ones moved aside */
int
qstore_scan(struct qstore *qs,
    int (*fn)(void *arg, const struct qenv *e, unsigned long long msgsize),
    void (*bad)(void *arg, uint64_t id, const char *why), void *arg,
    char *why, size_t whylen)
{
	DIR			*d;
	struct dirent		*de;
	struct qenv		 e;
	char			 bwhy[QSTORE_WHY_MAX + 64], mwhy[QSTORE_WHY_MAX];
	unsigned long long	 msgsize = 0;
	uint64_t		 id;
	int			 fd, n = 0, corrupt, r = 0;

	if ((fd = openat(qs->dfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1 || (d = fdopendir(fd)) == NULL) {
		qs_why(qs, why, whylen, errno, ".");
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	while (r == 0 && (errno = 0, de = readdir(d)) != NULL) {
		if (qs_name_id(de->d_name, ".msg", &id) == -1)
			continue;
		if (scan_one(qs, id, &e, &msgsize, &corrupt, bwhy,
		    sizeof(bwhy)) == 0) {
			r = fn(arg, &e, msgsize);
			if (r == 0)
				n++;
			else
				(void)snprintf(why, whylen, "scan stopped at "
				    "%016" PRIx64, id);
		} else if (!corrupt) {
			(void)snprintf(why, whylen, "%s", bwhy);
			r = -1;
		} else {
			if (move_aside(qs, id, mwhy, sizeof(mwhy)) == 0)
				gw_strlcat(bwhy, " (moved to corrupt/)",
				    sizeof(bwhy));
			else {
				gw_strlcat(bwhy, "; not moved aside: ",
				    sizeof(bwhy));
				gw_strlcat(bwhy, mwhy, sizeof(bwhy));
			}
			if (bad != NULL)
				bad(arg, id, bwhy);
		}
		qenv_free(&e);
	}
	if (r == 0 && de == NULL && errno != 0) {
		qs_why(qs, why, whylen, errno, "readdir");
		r = -1;
	}
	(void)closedir(d);
	return r == 0 ? n : -1;
}

/* qstore_check - see qstore.h: nothing made or changed */
int
qstore_check(const char *dir, uid_t uid, char *why, size_t whylen)
{
	struct stat	 st;
	char		 path[PATH_MAX + 16], *slash;
	int		 i;

	if (stat(dir, &st) == -1) {
		if (errno != ENOENT) {
			(void)snprintf(why, whylen, "%s: %s", dir,
			    strerror(errno));
			return -1;
		}
		/* made at start: only its last component */
		(void)snprintf(path, sizeof(path), "%s", dir);
		if ((slash = strrchr(path, '/')) != NULL && slash != path)
			*slash = '\0';
		else
			(void)snprintf(path, sizeof(path), "/");
		if (stat(path, &st) == -1 || !S_ISDIR(st.st_mode)) {
			(void)snprintf(why, whylen, "%s: its parent %s is not "
			    "a directory", dir, path);
			return -1;
		}
		return 0;
	}
	if (qs_st_check(&st, uid, dir, why, whylen) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		(void)snprintf(path, sizeof(path), "%s/%s", dir, i == 0 ?
		    "incoming" : "spare");
		if (lstat(path, &st) == -1) {
			if (errno == ENOENT)
				continue;
			(void)snprintf(why, whylen, "%s: %s", path,
			    strerror(errno));
			return -1;
		}
		if (qs_st_check(&st, uid, path, why, whylen) == -1)
			return -1;
	}
	return 0;
}
