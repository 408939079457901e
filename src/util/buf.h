/*
 * buf - bounded byte buffer.
 *
 * Contract: a buffer never grows beyond the maximum given to buf_init();
 * buf_append() refuses (returns -1, errno ENOBUFS) instead of truncating,
 * so the caller decides the SMTP reply.  Line search knows only CRLF as a
 * line end and reports bare CR/LF and over-long lines explicitly.
 * The struct is public only so that it can be embedded; use the functions.
 */
#ifndef GW_BUF_H
#define GW_BUF_H

#include <stddef.h>

struct buf {
	char	*data;
	size_t	 off;		/* start of unread data */
	size_t	 len;		/* bytes of unread data */
	size_t	 cap;		/* allocated size of data */
	size_t	 max;		/* hard bound on len */
	size_t	 used;		/* bytes of data ever written: a free wipes these */
	int	 plain;		/* never holds a credential: no wipe (buf_plain) */
};

enum buf_line {
	BUF_LINE_NONE = 0,	/* no complete line yet: read more */
	BUF_LINE_OK,		/* *linelen octets, then CRLF */
	BUF_LINE_TOOLONG,	/* no CRLF within the limit */
	BUF_LINE_BARE		/* bare LF, or CR not followed by LF */
};

/* buf_init - empty buffer that will hold at most max bytes */
void	 buf_init(struct buf *, size_t max);
/*
 * buf_plain - this buffer carries message data, never a credential: its
 * storage is freed without being zeroed first (the default wipes)
 */
void	buf_plain(struct buf *);
/* buf_release - free the storage; the buffer is empty and reusable */
void	 buf_release(struct buf *);
/* buf_append - copy in; -1 (ENOBUFS over max, ENOMEM) and no change */
int	 buf_append(struct buf *, const void *, size_t);
/* buf_reserve - room for a direct read of up to *got bytes, NULL if full/ENOMEM */
char	*buf_reserve(struct buf *, size_t want, size_t *got);
/* buf_commit - account n bytes written into the reserved room */
void	 buf_commit(struct buf *, size_t n);
/* buf_consume - drop n bytes from the front (n <= len) */
void	 buf_consume(struct buf *, size_t n);
/* buf_consume_wipe - buf_consume, zeroing the bytes first (credentials) */
void	 buf_consume_wipe(struct buf *, size_t n);
/* buf_clear - drop everything, keep storage */
void	 buf_clear(struct buf *);
static inline const char *buf_data(const struct buf *b) { return b->data + b->off; }
static inline size_t buf_len(const struct buf *b) { return b->len; }
static inline size_t buf_room(const struct buf *b) { return b->max - b->len; }
/*
 * buf_findline - look for the first line.  limit counts the CRLF too
 * (512 for SMTP commands).  BUF_LINE_OK: *linelen bytes precede CRLF,
 * consume *linelen + 2.  BUF_LINE_BARE: *linelen is the offset just past
 * the offending LF or CR, so the caller can skip it.  BUF_LINE_TOOLONG:
 * limit octets without CRLF (and no bare newline before).  A CR at the very
 * end of the data is not yet bare: more input may bring the LF.
 */
enum buf_line buf_findline(const struct buf *, size_t limit, size_t *linelen);

#endif
