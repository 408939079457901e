/*
 * spool.c - one message between the client and the upstream.
 *
 * Small messages stay in memory; past the threshold everything moves to a
 * temporary file that is unlinked at once, so a crash leaves nothing
 * behind and no other process can open it by name.
 */
#include <sys/types.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/fdutil.h"
#include "relay/spool.h"
#include "util/str.h"

struct spool {
	char			*mem;
	size_t			 memlen;
	size_t			 memcap;
	size_t			 memthresh;
	int			 fd;		/* -1 while in memory */
	unsigned long long	 size;
	unsigned long long	 max;
	unsigned long long	 rpos;
	int			 failed;
	char			 tmpdir[PATH_MAX];
};

/* spool_new - empty spool */
struct spool *
spool_new(size_t memthresh, unsigned long long max, const char *tmpdir)
{
	struct spool	*sp;
	const char	*dir = tmpdir;

	if (dir == NULL && (dir = getenv("TMPDIR")) == NULL)
		dir = "/tmp";
	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	if (str_copy(sp->tmpdir, dir, sizeof(sp->tmpdir)) == -1) {
		free(sp);
		errno = ENAMETOOLONG;
		return NULL;
	}
	sp->memthresh = memthresh;
	sp->max = max;
	sp->fd = -1;
	return sp;
}

/* spool_free - drop the message */
void
spool_free(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd != -1)
		close(sp->fd);
	free(sp->mem);
	free(sp);
}

/* spool_to_disk - move the in-memory part into an unlinked temp file */
static int
spool_to_disk(struct spool *sp)
{
	char	path[PATH_MAX];
	int	fd;

	if (snprintf(path, sizeof(path), "%s/smtpgate.XXXXXX", sp->tmpdir) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = mkostemp(path, O_CLOEXEC)) == -1)
		return -1;
	(void)unlink(path);
	if (fd_write_all(fd, sp->mem, sp->memlen) == -1) {
		close(fd);
		return -1;
	}
	free(sp->mem);
	sp->mem = NULL;
	sp->memlen = sp->memcap = 0;
	sp->fd = fd;
	return 0;
}

/* spool_write - append message bytes */
int
spool_write(struct spool *sp, const void *p, size_t len)
{
	char	*n;

	if (sp->failed) {
		errno = EIO;
		return -1;
	}
	/* nothing to store; and no buffer yet to memcpy zero bytes into */
	if (len == 0)
		return 0;
	/* the session enforces the size limit too; this is the backstop */
	if (len > sp->max - sp->size) {
		sp->failed = 1;
		errno = EFBIG;
		return -1;
	}
	if (sp->fd == -1 && sp->memlen + len > sp->memthresh &&
	    spool_to_disk(sp) == -1) {
		sp->failed = 1;
		return -1;
	}
	if (sp->fd != -1) {
		if (fd_write_all(sp->fd, p, len) == -1) {
			sp->failed = 1;
			return -1;
		}
	} else {
		if (sp->memlen + len > sp->memcap) {
			size_t cap = sp->memcap ? sp->memcap : 4096;

			while (cap < sp->memlen + len)
				cap *= 2;
			if (cap > sp->memthresh)
				cap = sp->memthresh;
			if ((n = realloc(sp->mem, cap)) == NULL) {
				sp->failed = 1;
				return -1;
			}
			sp->mem = n;
			sp->memcap = cap;
		}
		memcpy(sp->mem + sp->memlen, p, len);
		sp->memlen += len;
	}
	sp->size += len;
	return 0;
}

/* spool_size - bytes written */
unsigned long long
spool_size(const struct spool *sp)
{
	return sp->size;
}

/* spool_rewind - read from the start */
int
spool_rewind(struct spool *sp)
{
	sp->rpos = 0;
	if (sp->fd != -1 && lseek(sp->fd, 0, SEEK_SET) == -1)
		return -1;
	return 0;
}

/* spool_read - next bytes of the message */
ssize_t
spool_read(struct spool *sp, void *p, size_t len)
{
	ssize_t	n;

	if (sp->failed) {
		errno = EIO;
		return -1;
	}
	if (sp->fd == -1) {
		if (sp->rpos >= sp->memlen)
			return 0;
		if (len > sp->memlen - sp->rpos)
			len = sp->memlen - sp->rpos;
		memcpy(p, sp->mem + sp->rpos, len);
		sp->rpos += len;
		return (ssize_t)len;
	}
	do {
		n = read(sp->fd, p, len);
	} while (n == -1 && errno == EINTR);
	if (n > 0)
		sp->rpos += (unsigned long long)n;
	return n;
}

/* spool_on_disk - 1 once the message went to a file */
int
spool_on_disk(const struct spool *sp)
{
	return sp->fd != -1;
}
