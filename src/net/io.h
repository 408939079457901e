/*
 * io - one non-blocking connection over libevent: fd, read/write events,
 * bounded input and output buffers, an inactivity timeout, and an optional
 * transport (TLS) layered over the raw fd.
 *
 * Contract: the owner gets one callback with an event.  Within a callback
 * the owner may call io_free(): the free is deferred until the io's own
 * frame unwinds, and no further callback is made.  Input is appended to
 * io_in() (never beyond its bound: reading pauses while it is full) and the
 * owner consumes it.  Output is queued with io_write() and is refused, not
 * truncated, past its bound.  A transport is started only on an empty input
 * buffer, so plaintext received before TLS can never be read as if it had
 * come over TLS (STARTTLS injection).
 *
 * Output and log lines are sent when the loop callback ends, not at once:
 * what the owner writes to its own io, or to another io from any io's
 * callback, goes out in one send per io as the callback returns (before
 * control goes back to the loop), and log lines below warning in one
 * write just before.  Outside io callbacks a write is sent at once.  An
 * io freed with output still waiting sends it first.  The state is per
 * thread; a forked child must exec or exit, not run a loop.
 */
#ifndef GW_IO_H
#define GW_IO_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include "util/buf.h"
#include "util/fail.h"
#include "util/log.h"

struct event_base;
struct gw_io;

enum io_event {
	IO_CONNECTED,	/* io_connect() finished */
	IO_TLSREADY,	/* transport handshake finished */
	IO_DATAIN,	/* new input in io_in() */
	IO_LOWAT,	/* output fell to the low-water mark (default: empty) */
	IO_TIMEOUT,	/* no progress for the timeout while waiting for input */
	IO_CLOSED,	/* peer closed cleanly (EOF / close_notify) */
	IO_ERROR	/* see io_error_class() and io_error() */
};

typedef void (*io_callback)(struct gw_io *, enum io_event, void *arg);

/* return codes of transport functions besides byte counts */
#define IO_T_WANT_READ	(-1)
#define IO_T_WANT_WRITE	(-2)
#define IO_T_ERROR	(-3)

/*
 * A transport moves bytes over the fd itself (wolfSSL does its own socket
 * I/O).  handshake returns 0 when done, or one of IO_T_*; read returns >0
 * bytes, 0 on a clean close, or IO_T_*; write returns >0 bytes or IO_T_*;
 * on IO_T_WANT_WRITE after a write the io calls write again with the same
 * bytes.  pending: bytes held inside the transport (decrypted, or read
 * ahead from the socket) that a read would return without the fd.  On
 * IO_T_ERROR the transport has already called io_set_error().
 */
struct io_transport {
	int	(*handshake)(void *ctx);
	ssize_t	(*read)(void *ctx, void *buf, size_t len);
	ssize_t	(*write)(void *ctx, const void *buf, size_t len);
	int	(*pending)(void *ctx);
	void	(*shutdown)(void *ctx);	/* best effort, non-blocking */
	void	(*free)(void *ctx);
	/* optional: the loop saw the fd readable (a read-ahead may recv) */
	void	(*readable)(void *ctx);
};

/* io_new - wrap a connected (or -1 for io_connect) fd; NULL on ENOMEM */
struct gw_io *io_new(struct event_base *, int fd, size_t inmax, size_t outmax,
	    io_callback, void *arg);
/* io_connect - non-blocking connect on a new socket; IO_CONNECTED or IO_ERROR later */
int	io_connect(struct gw_io *, const struct sockaddr *, socklen_t);
/* io_free - close and free (deferred when called inside a callback) */
void	io_free(struct gw_io *);
/* io_set_timeout - inactivity timeout in milliseconds, 0 = none */
void	io_set_timeout(struct gw_io *, unsigned ms);
/* io_set_read - pause (0) or resume (1) reading, for backpressure (default on) */
void	io_set_read(struct gw_io *, int on);
/* io_read_bulk - a message body follows: read it in the largest chunks */
void	io_read_bulk(struct gw_io *);
/* io_set_lowat - IO_LOWAT when queued output drops to <= this */
void	io_set_lowat(struct gw_io *, size_t);
/* io_in - the input buffer (consume with buf_consume) */
struct buf *io_in(struct gw_io *);
/*
 * io_write - queue output (sent at once when the socket takes it); -1
 * (ENOBUFS) if over the bound, nothing queued.  On a failed connection the
 * bytes are dropped and 0 returned: IO_ERROR reports the failure.
 */
int	io_write(struct gw_io *, const void *, size_t);
/*
 * io_write_secret - io_write for a line holding a credential (AUTH, PASS):
 * the output storage is wiped as it is sent, until the queue drains, and
 * on free.  Plain io_write leaves sent bytes alone (no per-byte cost).
 */
int	io_write_secret(struct gw_io *, const void *, size_t);
/* io_printf - formatted io_write */
int	io_printf(struct gw_io *, const char *, ...) GW_PRINTF(2, 3);
/*
 * io_batch_begin/io_batch_end - what is written between the two goes out
 * in one send at the end (a body chunk and the final dot), as inside the
 * io's own callback.  io_batch_end returns -1 if the io was freed
 * meanwhile (it is gone then).
 */
void	io_batch_begin(struct gw_io *);
int	io_batch_end(struct gw_io *);
/* io_cork - writes until the end of this loop turn go out in one send */
void	io_cork(struct gw_io *);
/* io_trim - free the storage of empty buffers: an idle connection keeps none */
void	io_trim(struct gw_io *);
/* io_queued - output bytes not yet sent */
size_t	io_queued(const struct gw_io *);
/* io_outroom - how many more bytes io_write would accept */
size_t	io_outroom(const struct gw_io *);
int	io_fileno(const struct gw_io *);
/*
 * io_start_transport - layer a transport over the fd.  Queued plaintext
 * output is flushed first.  Returns -1 (and changes nothing) if unread
 * input is buffered: the caller fails the session as a protocol error.
 * IO_TLSREADY or IO_ERROR follows.
 */
int	io_start_transport(struct gw_io *, const struct io_transport *, void *ctx);
/* io_transport_ctx - the transport's ctx, or NULL in plaintext */
void	*io_transport_ctx(const struct gw_io *);
/* io_set_error - record the failure class and text (transports, owners) */
void	io_set_error(struct gw_io *, enum gw_fail, const char *, ...) GW_PRINTF(3, 4);
enum gw_fail io_error_class(const struct gw_io *);
const char *io_error(const struct gw_io *);
/* io_event_name - "IO_DATAIN" etc., for traces */
const char *io_event_name(enum io_event);

#endif
