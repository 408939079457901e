/*
 * qstore_scan.c - the queue read at start (qstore_scan: every envelope
 * to the caller, the unusable ones moved aside to corrupt/) and checked
 * for -t (qstore_check); the writes are qstore.c's (qstore.h).
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

static int	move_aside(struct qstore *, uint64_t, char *, size_t);
static int	scan_one(struct qstore *, uint64_t, struct qenv *,
		    unsigned long long *, int *, char *, size_t);

/*
 * move_aside - ID.msg, then ID.env, into DIR/corrupt/ for the operator:
 * never deleted, since it may be the only copy of someone's mail.  The
 * .msg goes first: a crash between leaves an .env without .msg, which
 * the next scan moves aside too (the other order would leave an orphan
 * .msg that the next start deletes).  A name already in corrupt/ is not
 * replaced; the files then stay where they are, skipped and reported.
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
		    (errno != ENOENT || i == 1)) {
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
 * scan_one - ID.env into *e and its ID.msg's size.  *corrupt set (and
 * why) when the envelope is unusable as it is: it does not parse, names
 * another id, or has no message.  -1 without *corrupt: the disk failed.
 */
static int
scan_one(struct qstore *qs, uint64_t id, struct qenv *e,
    unsigned long long *msgsize, int *corrupt, char *why, size_t whylen)
{
	struct stat	 st;
	char		 name[QSTORE_NAME];

	*corrupt = 0;
	memset(e, 0, sizeof(*e));
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
	*msgsize = (unsigned long long)st.st_size;
	return qs_env_get(qs, id, e, corrupt, why, whylen);
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
		if (qs_name_id(de->d_name, ".env", &id) == -1)
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
