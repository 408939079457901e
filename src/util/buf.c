/*
 * buf - bounded byte buffer.
 *
 * Storage is one contiguous block: [consumed | unread data | free tail].
 * It grows geometrically, never past the buffer's maximum, and the
 * consumed front is reclaimed by moving the unread data down only when
 * that is cheaper than growing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/log.h"

/* first allocation: one SMTP command line fits without a regrow */
#define BUF_MINCAP	1024

static int	buf_make_room(struct buf *, size_t);
static void	buf_compact(struct buf *);
static void	buf_mark(struct buf *);
static void	buf_free_block(struct buf *);

/* buf_init - empty buffer that will hold at most max bytes */
void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->off = 0;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->used = 0;
	b->plain = 0;
}

void
buf_plain(struct buf *b)
{
	b->plain = 1;
}

/* buf_release - free the storage; the buffer stays usable */
void
buf_release(struct buf *b)
{
	/*
	 * freed memory is not cleared: it may have held a credential.  Only
	 * what was ever written needs it (a 16 kB read buffer that saw a
	 * 10 kB message: zeroing the whole block cost 5 % of the CPU)
	 */
	buf_free_block(b);
	b->data = NULL;
	b->off = 0;
	b->len = 0;
	b->cap = 0;
	b->used = 0;
}

/* buf_free_block - the storage freed, what was written wiped first */
static void
buf_free_block(struct buf *b)
{
	if (b->data != NULL && !b->plain)
		explicit_bzero(b->data, b->used);
	free(b->data);
}

/* buf_mark - the data now ends at off + len: the extent a free wipes */
static void
buf_mark(struct buf *b)
{
	if (b->off + b->len > b->used)
		b->used = b->off + b->len;
}

static void
buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	if (b->len > 0)
		memmove(b->data, b->data + b->off, b->len);
	/* the old copy of the moved bytes may hold a credential */
	explicit_bzero(b->data + b->len, b->off);
	b->off = 0;
}

/*
 * buf_make_room - make n contiguous free bytes after the unread data.
 * The caller has checked len + n <= max.  On failure nothing changes.
 */
static int
buf_make_room(struct buf *b, size_t n)
{
	size_t	 want = b->len + n, ncap;
	char	*p;

	if (b->cap - b->off - b->len >= n)
		return 0;
	/*
	 * Moving the data down costs len bytes of copying; it pays off when
	 * at least as much space is reclaimed, or when the block may not
	 * grow any more.  Otherwise growing (which copies too) leaves more
	 * slack for the following appends.
	 */
	if (want <= b->cap && (b->off >= b->len || b->cap >= b->max)) {
		buf_compact(b);
		return 0;
	}
	ncap = b->cap > 0 ? b->cap : BUF_MINCAP;
	while (ncap < want) {
		if (ncap > b->max / 2) {
			ncap = b->max;
			break;
		}
		ncap *= 2;
	}
	if (ncap > b->max)
		ncap = b->max;
	if ((p = malloc(ncap)) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	if (b->len > 0)
		memcpy(p, b->data + b->off, b->len);
	buf_free_block(b);
	b->data = p;
	b->off = 0;
	b->cap = ncap;
	b->used = b->len;
	return 0;
}

/* buf_append - copy n bytes in, or fail whole with ENOBUFS/ENOMEM */
int
buf_append(struct buf *b, const void *p, size_t n)
{
	/*
	 * Refuse rather than truncate: the caller must turn an overflow
	 * into a protocol reply, and a silently shortened line or message
	 * would be relayed as something the client never sent.
	 */
	if (n > b->max - b->len) {
		errno = ENOBUFS;
		return -1;
	}
	if (n == 0)
		return 0;
	if (buf_make_room(b, n) == -1)
		return -1;
	memcpy(b->data + b->off + b->len, p, n);
	b->len += n;
	buf_mark(b);
	return 0;
}

/* buf_reserve - free room for a direct read of up to *got <= want bytes */
char *
buf_reserve(struct buf *b, size_t want, size_t *got)
{
	size_t	 n;

	/* a zero-length read(2) would look like EOF to the caller */
	if (want == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (b->len >= b->max) {
		errno = ENOBUFS;
		return NULL;
	}
	n = b->max - b->len;
	if (n > want)
		n = want;
	if (buf_make_room(b, n) == -1)
		return NULL;
	*got = n;
	return b->data + b->off + b->len;
}

/* buf_commit - account n bytes written into the reserved room */
void
buf_commit(struct buf *b, size_t n)
{
	if (n > b->cap - b->off - b->len)
		fatalx("buf_commit: %zu bytes exceed the reserved room", n);
	b->len += n;
	buf_mark(b);
}

/* buf_consume - drop n bytes from the front */
void
buf_consume(struct buf *b, size_t n)
{
	if (n > b->len)
		fatalx("buf_consume: %zu bytes but only %zu buffered",
		    n, b->len);
	b->len -= n;
	b->off = b->len == 0 ? 0 : b->off + n;
}

/*
 * buf_consume_wipe - buf_consume, but the bytes are zeroed first: a line
 * that held a credential must not stay readable in the storage.
 */
void
buf_consume_wipe(struct buf *b, size_t n)
{
	if (n > b->len)
		fatalx("buf_consume_wipe: %zu bytes but only %zu buffered",
		    n, b->len);
	if (n == 0)
		return;		/* data may be NULL: no pointer arithmetic */
	explicit_bzero(b->data + b->off, n);
	buf_consume(b, n);
}

/* buf_clear - drop everything, keep storage */
void
buf_clear(struct buf *b)
{
	b->off = 0;
	b->len = 0;
}

/* buf_findline - classify the first line: CRLF only, bounded by limit */
enum buf_line
buf_findline(const struct buf *b, size_t limit, size_t *linelen)
{
	const char	*d;
	size_t		 i, n;

	/* no pointer arithmetic on the NULL data of a fresh buffer */
	d = b->len > 0 ? buf_data(b) : NULL;

	n = b->len < limit ? b->len : limit;
	for (i = 0; i < n; i++) {
		if (d[i] == '\n') {
			/* an LF that ends a CRLF is handled at its CR */
			*linelen = i + 1;
			return BUF_LINE_BARE;
		}
		if (d[i] != '\r')
			continue;
		/*
		 * A CR in the last octet of the limit cannot start a CRLF
		 * that fits, whatever follows; calling it too long (not
		 * bare) keeps the verdict independent of how the input
		 * was split into reads.
		 */
		if (i + 1 >= limit)
			break;
		/* CR at the end of the data: the LF may be in the next read */
		if (i + 1 >= b->len) {
			*linelen = 0;
			return BUF_LINE_NONE;
		}
		/*
		 * Only CRLF ends a line.  Treating a lone CR (or a lone LF
		 * above) as a line end, as some servers do, is what SMTP
		 * smuggling exploits: two hops disagreeing on where the
		 * message ends.
		 */
		if (d[i + 1] != '\n') {
			*linelen = i + 1;
			return BUF_LINE_BARE;
		}
		*linelen = i;
		return BUF_LINE_OK;
	}
	if (b->len >= limit) {
		*linelen = limit;
		return BUF_LINE_TOOLONG;
	}
	*linelen = 0;
	return BUF_LINE_NONE;
}
