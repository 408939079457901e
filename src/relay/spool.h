/*
 * spool - where one message waits between the client and the upstream:
 * memory up to a threshold, then an unlinked temporary file.
 *
 * Contract: bounded by the max given at creation (writes past it fail);
 * read back from the start any number of times with spool_rewind().
 * A write error is sticky and reported once.
 */
#ifndef GW_SPOOL_H
#define GW_SPOOL_H

#include <stddef.h>
#include <sys/types.h>

struct spool;

/* spool_new - memthresh bytes in memory, then a file in tmpdir (NULL: $TMPDIR or /tmp) */
struct spool *spool_new(size_t memthresh, unsigned long long max, const char *tmpdir);
void	spool_free(struct spool *);
/* spool_write - append; -1 on error (errno set), the spool is then failed */
int	spool_write(struct spool *, const void *, size_t);
unsigned long long spool_size(const struct spool *);
/* spool_rewind - next read starts at the beginning */
int	spool_rewind(struct spool *);
/* spool_read - up to len bytes; 0 at the end; -1 on error */
ssize_t	spool_read(struct spool *, void *, size_t);
/* spool_on_disk - 1 if the message went to a file */
int	spool_on_disk(const struct spool *);

#endif
