/*
 * io.c - one non-blocking connection: events, bounded buffers, timeout,
 * optional transport.  See io.h for the contract.
 *
 * The io keeps its libevent events pending only while it needs them:
 * io_reload() recomputes that after every change, so a paused reader or a
 * full input buffer costs no wakeups.  Every callback into the owner runs
 * inside a frame (held > 0); io_free() during a frame only marks the io,
 * and the outermost frame destroys it on the way out.
 *
 * Output written to another io from inside a frame (a relay answering the
 * client from the upstream's callback) waits on a per-thread "later" list
 * until the outermost frame of the loop callback ends: three pipelined
 * replies read in one record then leave in one send, not three.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/io.h"
#include "util/log.h"
#include "util/str.h"

#define IO_READ_CHUNK	16384	/* the most read at once */
#define IO_READ_FIRST	1024	/* the first read: replies and commands are short */
#define IO_WRITE_CHUNK	16384

#define IO_F_READ	0x0001	/* owner wants input */
#define IO_F_CONNECTING	0x0002
#define IO_F_HANDSHAKE	0x0004	/* transport handshake running */
#define IO_F_TSTART	0x0008	/* transport waits for output to drain */
#define IO_F_EOF	0x0010	/* peer closed; no more reads */
#define IO_F_ERROR	0x0020	/* failed; no more I/O */
#define IO_F_FREE	0x0040	/* io_free() called inside a frame */
#define IO_F_HS_WREAD	0x0080	/* handshake waits for readable */
#define IO_F_HS_WWRITE	0x0100	/* handshake waits for writable */
#define IO_F_R_WWRITE	0x0200	/* transport read needs writable */
#define IO_F_W_WREAD	0x0400	/* transport write needs readable */
#define IO_F_ABOVE_LOW	0x0800	/* output was above low water */
#define IO_F_RADDED	0x1000	/* rev is registered with the loop */
#define IO_F_ERRPEND	0x2000	/* IO_ERROR recorded outside the loop */
#define IO_F_WACTIVE	0x4000	/* wev activated by us: do not event_del */
#define IO_F_WIPE	0x8000	/* a credential is queued: wipe what is sent */
#define IO_F_CORK	0x10000	/* io_cork(): writes wait for the flush event */
#define IO_F_LATER	0x20000	/* on io_later: sent when the frames end */

struct gw_io {
	struct event_base		*base;
	int				 fd;
	struct event			*rev;
	struct event			*wev;
	struct event			*tev;
	struct buf			 in;
	struct buf			 out;
	io_callback			 cb;
	void				*arg;
	unsigned			 timeout_ms;
	size_t				 lowat;
	unsigned			 flags;
	int				 held;
	const struct io_transport	*t;
	void				*tctx;
	size_t				 twlen;	/* length of a write to repeat */
	size_t				 rdchunk; /* doubles when a read fills it */
	enum gw_fail			 errclass;
	char				 errtext[256];
	struct gw_io			*later_next;	/* io_later list */
	struct gw_io			**later_prev;
};

/* io callbacks running on this thread, and the ios whose output waits */
static __thread int		 io_frames;
static __thread struct gw_io	*io_later;

static void	io_on_fd(evutil_socket_t, short, void *);
static void	io_on_timer(evutil_socket_t, short, void *);
static int	io_deliver(struct gw_io *, enum io_event);
static void	io_reload(struct gw_io *);
static int	io_wants_read(const struct gw_io *);
static void	io_destroy(struct gw_io *);
static int	io_do_read(struct gw_io *);
static int	io_do_write(struct gw_io *);
static int	io_flush(struct gw_io *);
static void	io_write_now(struct gw_io *);
static int	io_do_handshake(struct gw_io *);
static void	io_progress(struct gw_io *);
static void	io_frame_enter(void);
static void	io_frame_logs(void);
static void	io_frame_leave(void);
static void	io_later_del(struct gw_io *);
static int	io_unhold(struct gw_io *);

static const char *io_event_names[] = {
	"IO_CONNECTED", "IO_TLSREADY", "IO_DATAIN", "IO_LOWAT", "IO_TIMEOUT",
	"IO_CLOSED", "IO_ERROR"
};

/* io_event_name - printable event name */
const char *
io_event_name(enum io_event ev)
{
	if ((unsigned)ev >= sizeof(io_event_names) / sizeof(io_event_names[0]))
		return "IO_?";
	return io_event_names[ev];
}

/* io_new - wrap fd (or -1, for io_connect) */
struct gw_io *
io_new(struct event_base *base, int fd, size_t inmax, size_t outmax,
    io_callback cb, void *arg)
{
	struct gw_io	*io;

	if ((io = calloc(1, sizeof(*io))) == NULL)
		return NULL;
	io->base = base;
	io->fd = -1;
	io->cb = cb;
	io->arg = arg;
	io->flags = IO_F_READ;
	io->rdchunk = IO_READ_FIRST;
	buf_init(&io->in, inmax);
	buf_init(&io->out, outmax);
	io->tev = evtimer_new(base, io_on_timer, io);
	if (io->tev == NULL) {
		free(io);
		return NULL;
	}
	if (fd != -1) {
		io->fd = fd;
		io->rev = event_new(base, fd, EV_READ | EV_PERSIST, io_on_fd, io);
		io->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, io_on_fd, io);
		if (io->rev == NULL || io->wev == NULL) {
			io->fd = -1;	/* the caller still owns fd on failure */
			io_destroy(io);
			return NULL;
		}
		if (evutil_make_socket_nonblocking(fd) == -1) {
			io->fd = -1;
			io_destroy(io);
			return NULL;
		}
		io_reload(io);
	}
	return io;
}

/* io_connect - start a non-blocking connect */
int
io_connect(struct gw_io *io, const struct sockaddr *sa, socklen_t salen)
{
	int	fd;

	if (io->fd != -1)
		fatalx("io_connect: io already has a socket");
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		io_set_error(io, FAIL_CONNECT, "socket: %s", strerror(errno));
		return -1;
	}
	io->fd = fd;
	io->rev = event_new(io->base, fd, EV_READ | EV_PERSIST, io_on_fd, io);
	io->wev = event_new(io->base, fd, EV_WRITE | EV_PERSIST, io_on_fd, io);
	if (io->rev == NULL || io->wev == NULL) {
		io_set_error(io, FAIL_INTERNAL, "event_new failed");
		return -1;
	}
	/* SMTP is request and reply: never let a command wait for an ACK */
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
		    sizeof(int));
	if (connect(fd, sa, salen) == -1 && errno != EINPROGRESS) {
		io_set_error(io, FAIL_CONNECT, "connect: %s", strerror(errno));
		return -1;
	}
	/* even an immediate success is reported from the loop, never inline */
	io->flags |= IO_F_CONNECTING;
	io_reload(io);
	return 0;
}

/* io_free - close and free; deferred while a callback is running */
void
io_free(struct gw_io *io)
{
	if (io == NULL)
		return;
	if (io->held > 0) {
		io->flags |= IO_F_FREE;
		io->cb = NULL;
		return;
	}
	io_destroy(io);
}

static void
io_destroy(struct gw_io *io)
{
	/* output deferred to the end of the frames still goes, as it would have */
	if (io->flags & IO_F_LATER) {
		io_later_del(io);
		io->flags &= ~IO_F_FREE;
		log_flush();	/* the lines first, as at the end of a frame */
		io_write_now(io);
	}
	if (io->t != NULL) {
		/* close_notify only on a healthy session; one try, no waiting */
		if ((io->flags & (IO_F_ERROR | IO_F_HANDSHAKE)) == 0 &&
		    io->t->shutdown != NULL)
			io->t->shutdown(io->tctx);
		io->t->free(io->tctx);
	}
	if (io->rev != NULL)
		event_free(io->rev);
	if (io->wev != NULL)
		event_free(io->wev);
	if (io->tev != NULL)
		event_free(io->tev);
	if (io->fd != -1)
		close(io->fd);
	/* buf_release wipes what was never read or sent (credentials too) */
	buf_release(&io->in);
	buf_release(&io->out);
	free(io);
}

/* io_set_timeout - inactivity timeout in milliseconds, 0 for none */
void
io_set_timeout(struct gw_io *io, unsigned ms)
{
	io->timeout_ms = ms;
	event_del(io->tev);
	io_reload(io);
}

/* io_set_read - pause or resume reading */
void
io_set_read(struct gw_io *io, int on)
{
	if (on)
		io->flags |= IO_F_READ;
	else
		io->flags &= ~IO_F_READ;
	io_reload(io);
}

/* io_read_bulk - a body follows: read in IO_READ_CHUNK from the start */
void
io_read_bulk(struct gw_io *io)
{
	io->rdchunk = IO_READ_CHUNK;
}

/* io_set_lowat - low-water mark for IO_LOWAT */
void
io_set_lowat(struct gw_io *io, size_t lowat)
{
	io->lowat = lowat;
}

/* io_in - the input buffer */
struct buf *
io_in(struct gw_io *io)
{
	return &io->in;
}

/* io_write - queue bytes */
/* io_write_secret - io_write for a credential: see io.h */
int
io_write_secret(struct gw_io *io, const void *p, size_t len)
{
	if (io->flags & IO_F_ERROR)
		return 0;
	io->flags |= IO_F_WIPE;
	return io_write(io, p, len);
}

int
io_write(struct gw_io *io, const void *p, size_t len)
{
	/*
	 * The connection is dead and IO_ERROR is on its way (or was
	 * delivered): drop the bytes.  Failing here would make the owner
	 * report its own error instead of the connection's.
	 */
	if (io->flags & IO_F_ERROR)
		return 0;
	if (buf_append(&io->out, p, len) == -1)
		return -1;
	if (buf_len(&io->out) > io->lowat)
		io->flags |= IO_F_ABOVE_LOW;
	/*
	 * Optimistic write: a socket is almost always writable, so send now
	 * rather than register for EV_WRITE and wait a loop turn (two
	 * epoll_ctl calls and a wakeup per reply).  Nothing is delivered to
	 * the owner from here: an error or the low-water event is passed to
	 * the loop with event_active() and reported from there.
	 *
	 * Inside the io's own callback the owner often writes several pieces
	 * (a body chunk, then the final dot): they are sent together when the
	 * frame ends.  Sent one by one, a small last piece would wait for the
	 * peer's delayed ACK (Nagle), 40 ms a message.
	 */
	if (io->held == 0 && buf_len(&io->out) == len &&
	    !(io->flags & IO_F_CORK)) {
		if (io_frames == 0)
			io_write_now(io);
		else if (!(io->flags & IO_F_LATER)) {
			/* another io's callback is running: send when it ends */
			io->flags |= IO_F_LATER;
			io->later_next = io_later;
			if (io_later != NULL)
				io_later->later_prev = &io->later_next;
			io->later_prev = &io_later;
			io_later = io;
		}
	}
	io_reload(io);
	return 0;
}

static void
io_later_del(struct gw_io *io)
{
	if (io->later_next != NULL)
		io->later_next->later_prev = io->later_prev;
	*io->later_prev = io->later_next;
	io->later_next = NULL;
	io->later_prev = NULL;
	io->flags &= ~IO_F_LATER;
}

/* io_frame_enter - a loop callback of an io starts: log lines wait too */
static void
io_frame_enter(void)
{
	if (io_frames++ == 0)
		log_hold();
}

/*
 * io_frame_logs - the owner's callback is over: the log lines it wrote go
 * out in one write, before the bytes they speak of (a test, or a person,
 * who got the reply finds its line in the log)
 */
static void
io_frame_logs(void)
{
	if (io_frames == 1)
		log_release();
}

/*
 * io_frame_leave - a loop callback of an io ends; the outermost one sends
 * what was written to other ios meanwhile, one write each.  No owner
 * callback runs here.
 */
static void
io_frame_leave(void)
{
	struct gw_io	*io;

	if (--io_frames > 0)
		return;
	while ((io = io_later) != NULL) {
		io_later_del(io);
		/* corked since: the write event sends it with what follows */
		if (!(io->flags & IO_F_CORK))
			io_write_now(io);
		io_reload(io);
	}
}

/*
 * io_cork - what the owner writes until the end of this loop turn goes
 * out in one send (one TLS record): a pipelined batch of commands given
 * one by one from other callbacks.  The optimistic write is skipped and
 * the write event is activated; it runs once the current callbacks are
 * done, in the same turn of the loop.
 */
void
io_cork(struct gw_io *io)
{
	if (io->flags & (IO_F_FREE | IO_F_ERROR))
		return;
	io->flags |= IO_F_CORK;
	if (!(io->flags & IO_F_WACTIVE)) {
		io->flags |= IO_F_WACTIVE;
		event_active(io->wev, EV_WRITE, 0);
	}
}

void
io_batch_begin(struct gw_io *io)
{
	io->held++;
}

int
io_batch_end(struct gw_io *io)
{
	return io_unhold(io);
}

/*
 * io_unhold - a frame of io ends: the outermost destroys an io freed in
 * it, or sends what was written in it.  -1 if the io is gone.
 */
static int
io_unhold(struct gw_io *io)
{
	io->held--;
	if (io->flags & IO_F_FREE) {
		if (io->held == 0)
			io_destroy(io);
		return -1;
	}
	if (io->held == 0)
		io_write_now(io);
	io_reload(io);
	return 0;
}

/* io_printf - formatted io_write; lines longer than 1 KiB are refused */
int
io_printf(struct gw_io *io, const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		errno = EMSGSIZE;
		return -1;
	}
	return io_write(io, line, (size_t)n);
}

/* io_queued - bytes waiting to be sent */
void
io_trim(struct gw_io *io)
{
	/*
	 * A read buffer grows to IO_READ_CHUNK at the first reply and an
	 * output buffer to the largest write; an idle pooled connection has
	 * no use for either (about 16 kB of its 110).  Safe between
	 * callbacks: nothing holds a pointer into the storage.
	 */
	if (buf_len(&io->in) == 0)
		buf_release(&io->in);
	if (buf_len(&io->out) == 0)
		buf_release(&io->out);
}

size_t
io_queued(const struct gw_io *io)
{
	return buf_len(&io->out);
}

/* io_outroom - room left in the output buffer */
size_t
io_outroom(const struct gw_io *io)
{
	return buf_room(&io->out);
}

/* io_fileno - the socket */
int
io_fileno(const struct gw_io *io)
{
	return io->fd;
}

/* io_start_transport - layer a transport (TLS) over the fd */
int
io_start_transport(struct gw_io *io, const struct io_transport *t, void *ctx)
{
	/*
	 * Plaintext already read must never be taken for protected data
	 * (CVE-2011-0411 class): refuse, and let the owner fail the session.
	 */
	if (buf_len(&io->in) != 0) {
		io_set_error(io, FAIL_PROTOCOL,
		    "%zu bytes of plaintext buffered before the TLS handshake",
		    buf_len(&io->in));
		return -1;
	}
	if (io->t != NULL)
		fatalx("io_start_transport: transport already set");
	io->t = t;
	io->tctx = ctx;
	if (buf_len(&io->out) != 0)
		io->flags |= IO_F_TSTART;
	else
		io->flags |= IO_F_HANDSHAKE | IO_F_HS_WWRITE;
	io_reload(io);
	return 0;
}

/* io_transport_ctx - the transport context or NULL */
void *
io_transport_ctx(const struct gw_io *io)
{
	return io->t != NULL ? io->tctx : NULL;
}

/* io_set_error - remember why the connection failed (first one wins) */
void
io_set_error(struct gw_io *io, enum gw_fail cls, const char *fmt, ...)
{
	va_list	ap;

	if (io->errclass != FAIL_NONE)
		return;
	io->errclass = cls;
	va_start(ap, fmt);
	(void)vsnprintf(io->errtext, sizeof(io->errtext), fmt, ap);
	va_end(ap);
}

/* io_error_class - class of the recorded failure */
enum gw_fail
io_error_class(const struct gw_io *io)
{
	return io->errclass;
}

/* io_error - text of the recorded failure */
const char *
io_error(const struct gw_io *io)
{
	return io->errclass != FAIL_NONE ? io->errtext : "no error";
}

/*
 * io_deliver - run the owner's callback inside a frame.  Returns -1 if the
 * owner freed the io (the caller must not touch it any more).
 */
static int
io_deliver(struct gw_io *io, enum io_event ev)
{
	if (io->cb == NULL || (io->flags & IO_F_FREE))
		return -1;
	io->held++;
	io->cb(io, ev, io->arg);
	io->held--;
	if (io->flags & IO_F_FREE) {
		if (io->held == 0)
			io_destroy(io);
		return -1;
	}
	return 0;
}

static void
io_fail(struct gw_io *io, enum gw_fail cls, const char *what, int err)
{
	io_set_error(io, cls, "%s: %s", what, strerror(err));
	io->flags |= IO_F_ERROR;
}

/* io_progress - bytes moved: restart the inactivity timer */
static void
io_progress(struct gw_io *io)
{
	struct timeval	tv;

	if (io->timeout_ms == 0)
		return;
	tv.tv_sec = io->timeout_ms / 1000;
	tv.tv_usec = (io->timeout_ms % 1000) * 1000;
	event_add(io->tev, &tv);
}

/*
 * io_reload - make the pending events match what the io needs now.
 */
static void
io_reload(struct gw_io *io)
{
	int	want_r = 0, want_w = 0;

	if (io->fd == -1)
		return;
	if (io->flags & (IO_F_ERROR | IO_F_FREE)) {
		event_del(io->rev);
		io->flags &= ~IO_F_RADDED;
		/* event_del would also cancel an IO_ERROR we still owe */
		if (!(io->flags & IO_F_WACTIVE) || (io->flags & IO_F_FREE))
			event_del(io->wev);
		event_del(io->tev);
		return;
	}
	if (io->flags & IO_F_CONNECTING)
		want_w = 1;
	else if (io->flags & IO_F_HANDSHAKE)
		want_w = (io->flags & IO_F_HS_WWRITE) != 0;
	else {
		/*
		 * Records already decrypted inside the transport do not make
		 * the socket readable again: poke ourselves.
		 */
		if ((io->flags & IO_F_READ) && !(io->flags & IO_F_EOF) &&
		    buf_room(&io->in) > 0 && io->t != NULL &&
		    io->t->pending(io->tctx) > 0)
			event_active(io->rev, EV_READ, 0);
		/*
		 * Output queued inside a frame goes out when the frame ends
		 * (io_write_now): the write event would cost two epoll_ctl
		 * calls for a reply that almost always leaves at once.
		 */
		if ((buf_len(&io->out) > 0 && ((io->held == 0 &&
		    !(io->flags & IO_F_LATER)) || (io->flags &
		    (IO_F_TSTART | IO_F_W_WREAD | IO_F_CORK)))) ||
		    (io->flags & IO_F_R_WWRITE))
			want_w = 1;
	}
	want_r = io_wants_read(io);
	/*
	 * Reading is paused around every command while the relay works; the
	 * peer rarely sends meanwhile, so the read event stays registered and
	 * is removed only if it fires while unwanted (io_on_fd).  That saves
	 * two epoll_ctl calls per command.
	 */
	if (want_r && !(io->flags & IO_F_RADDED)) {
		event_add(io->rev, NULL);
		io->flags |= IO_F_RADDED;
	}
	if (want_w)
		event_add(io->wev, NULL);
	else if (!(io->flags & IO_F_WACTIVE))
		event_del(io->wev);
	if (io->timeout_ms == 0 || (!want_r && !want_w))
		event_del(io->tev);
	else if (!evtimer_pending(io->tev, NULL))
		io_progress(io);
}

/*
 * io_do_handshake - one step of the transport handshake.  Returns -1 if the
 * io was freed by the owner, 0 otherwise.
 */
static int
io_do_handshake(struct gw_io *io)
{
	int	r;

	io->flags &= ~(IO_F_HS_WREAD | IO_F_HS_WWRITE);
	r = io->t->handshake(io->tctx);
	if (r == 0) {
		io->flags &= ~IO_F_HANDSHAKE;
		io_progress(io);
		return io_deliver(io, IO_TLSREADY);
	}
	if (r == IO_T_WANT_READ) {
		io->flags |= IO_F_HS_WREAD;
		return 0;
	}
	if (r == IO_T_WANT_WRITE) {
		io->flags |= IO_F_HS_WWRITE;
		return 0;
	}
	io_set_error(io, FAIL_TLS_PROTOCOL, "TLS handshake failed");
	io->flags |= IO_F_ERROR;
	return io_deliver(io, IO_ERROR);
}

/*
 * io_do_read - read what is there (up to the buffer's bound) and tell the
 * owner.  Returns -1 if the io was freed.
 */
static int
io_do_read(struct gw_io *io)
{
	char	*p;
	size_t	 got, total = 0;
	ssize_t	 n;
	int	 eof = 0, err = 0, bare = io->in.cap == 0;

	io->flags &= ~(IO_F_W_WREAD | IO_F_R_WWRITE);
	for (;;) {
		if ((p = buf_reserve(&io->in, io->rdchunk, &got)) == NULL)
			break;	/* full: resumes when the owner consumes */
		if (io->t == NULL) {
			n = read(io->fd, p, got);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno != EAGAIN && errno != EWOULDBLOCK) {
					io_fail(io, FAIL_CLOSED, "read", errno);
					err = 1;
				}
				break;
			}
		} else {
			n = io->t->read(io->tctx, p, got);
			if (n == IO_T_WANT_READ)
				break;
			if (n == IO_T_WANT_WRITE) {
				io->flags |= IO_F_R_WWRITE;
				break;
			}
			if (n < 0) {
				io_set_error(io, FAIL_TLS_PROTOCOL, "TLS read failed");
				io->flags |= IO_F_ERROR;
				err = 1;
				break;
			}
		}
		if (n == 0) {
			eof = 1;
			break;
		}
		buf_commit(&io->in, (size_t)n);
		total += (size_t)n;
		/*
		 * Start small and grow while reads fill the room: an SMTP
		 * connection that only ever sees replies (an idle pooled one)
		 * keeps 1 kB, not 16; a body grows it in a few reads.
		 */
		if ((size_t)n == got && io->rdchunk < IO_READ_CHUNK)
			io->rdchunk *= 2;
		/* plaintext: one short read means the socket is drained */
		if (io->t == NULL && (size_t)n < got)
			break;
	}
	if (total > 0) {
		io_progress(io);
		if (io_deliver(io, IO_DATAIN) == -1)
			return -1;
	} else if (bare && buf_len(&io->in) == 0)
		buf_release(&io->in);	/* trimmed, and still idle (a TLS ticket) */
	if (err)
		return io_deliver(io, IO_ERROR);
	if (eof && !(io->flags & IO_F_EOF)) {
		io->flags |= IO_F_EOF;
		return io_deliver(io, IO_CLOSED);
	}
	return 0;
}

/*
 * io_flush - send what the socket takes now.  No callback is made: returns
 * -1 with IO_F_ERROR set and the error recorded, else 0.
 */
static int
io_flush(struct gw_io *io)
{
	size_t	 len;
	ssize_t	 n;
	int	 moved = 0;

	io->flags &= ~(IO_F_R_WWRITE | IO_F_W_WREAD);
	while ((len = buf_len(&io->out)) > 0) {
		/* before the handshake (TSTART) the queue is plaintext: a 220 */
		if (io->t == NULL || (io->flags & IO_F_TSTART)) {
			n = send(io->fd, buf_data(&io->out), len, MSG_NOSIGNAL);
			if (n == -1) {
				if (errno == EINTR)
					continue;
				if (errno == EAGAIN || errno == EWOULDBLOCK)
					break;
				io_fail(io, FAIL_CLOSED, "write", errno);
				return -1;
			}
		} else {
			/* after WANT_WRITE the same length must be offered again */
			if (io->twlen == 0)
				io->twlen = len < IO_WRITE_CHUNK ? len : IO_WRITE_CHUNK;
			n = io->t->write(io->tctx, buf_data(&io->out), io->twlen);
			if (n == IO_T_WANT_WRITE)
				break;
			if (n == IO_T_WANT_READ) {
				io->flags |= IO_F_W_WREAD;
				break;
			}
			if (n < 0) {
				io_set_error(io, FAIL_TLS_PROTOCOL, "TLS write failed");
				io->flags |= IO_F_ERROR;
				return -1;
			}
			io->twlen = 0;
		}
		/*
		 * A queued credential (io_write_secret) leaves no copy: the
		 * output is wiped as it goes until the queue has drained.
		 * Other output (message bodies) is not touched per byte.
		 */
		if (io->flags & IO_F_WIPE) {
			buf_consume_wipe(&io->out, (size_t)n);
			if (buf_len(&io->out) == 0)
				io->flags &= ~IO_F_WIPE;
		} else
			buf_consume(&io->out, (size_t)n);
		moved = 1;
	}
	if (moved)
		io_progress(io);
	return 0;
}

/*
 * io_write_now - send queued output from outside the loop's write event.
 * What follows for the owner (an error, low water) is passed to the loop
 * with event_active(), never delivered from here.
 */
static void
io_write_now(struct gw_io *io)
{
	if (io->fd == -1 || buf_len(&io->out) == 0 || (io->flags &
	    (IO_F_CONNECTING | IO_F_HANDSHAKE | IO_F_TSTART | IO_F_FREE |
	    IO_F_ERROR | IO_F_R_WWRITE | IO_F_W_WREAD)) != 0)
		return;
	if (io_flush(io) == -1)
		io->flags |= IO_F_ERRPEND;
	if ((io->flags & IO_F_ERRPEND) || ((io->flags & IO_F_ABOVE_LOW) &&
	    buf_len(&io->out) <= io->lowat)) {
		io->flags |= IO_F_WACTIVE;
		event_active(io->wev, EV_WRITE, 0);
	}
}

/*
 * io_do_write - send queued output and tell the owner what follows from
 * it.  Returns -1 if the io was freed.
 */
static int
io_do_write(struct gw_io *io)
{
	if (io->flags & IO_F_ERRPEND) {
		io->flags &= ~IO_F_ERRPEND;
		return io_deliver(io, IO_ERROR);
	}
	if (io_flush(io) == -1)
		return io_deliver(io, IO_ERROR);
	if (buf_len(&io->out) == 0 && (io->flags & IO_F_TSTART)) {
		io->flags &= ~IO_F_TSTART;
		io->flags |= IO_F_HANDSHAKE;
		return io_do_handshake(io);
	}
	if ((io->flags & IO_F_ABOVE_LOW) && buf_len(&io->out) <= io->lowat) {
		io->flags &= ~IO_F_ABOVE_LOW;
		return io_deliver(io, IO_LOWAT);
	}
	return 0;
}

/*
 * io_wants_read - whether the read event is wanted now (io_reload adds
 * it; io_on_fd removes it when it fires while unwanted).
 */
static int
io_wants_read(const struct gw_io *io)
{
	if (io->flags & (IO_F_ERROR | IO_F_FREE | IO_F_CONNECTING))
		return 0;
	if (io->flags & IO_F_HANDSHAKE)
		return (io->flags & IO_F_HS_WREAD) != 0;
	if ((io->flags & IO_F_READ) && !(io->flags & IO_F_EOF) &&
	    buf_room(&io->in) > 0)
		return 1;
	return (io->flags & IO_F_W_WREAD) != 0;
}

static void
io_on_fd(evutil_socket_t fd, short what, void *arg)
{
	struct gw_io	*io = arg;
	int		 soerr = 0;
	socklen_t	 sl = sizeof(soerr);

	io_frame_enter();
	io->held++;
	if (what & EV_WRITE)
		io->flags &= ~(IO_F_WACTIVE | IO_F_CORK);
	if ((what & EV_READ) && io->t != NULL && io->t->readable != NULL)
		io->t->readable(io->tctx);
	/*
	 * The read event is left registered while paused (io_reload); a
	 * handshake that waits to write must not spin on readable input.
	 */
	if ((what & EV_READ) && !io_wants_read(io)) {
		event_del(io->rev);
		io->flags &= ~IO_F_RADDED;
	}
	if (io->flags & IO_F_CONNECTING) {
		io->flags &= ~IO_F_CONNECTING;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
			soerr = errno;
		if (soerr != 0) {
			io_fail(io, FAIL_CONNECT, "connect", soerr);
			(void)io_deliver(io, IO_ERROR);
		} else {
			io_progress(io);
			(void)io_deliver(io, IO_CONNECTED);
		}
		goto out;
	}
	if (io->flags & IO_F_HANDSHAKE) {
		(void)io_do_handshake(io);
		goto out;
	}
	if ((what & EV_WRITE) || (io->flags & IO_F_R_WWRITE)) {
		if (io_do_write(io) == -1 || (io->flags & (IO_F_ERROR | IO_F_FREE)))
			goto out;
		if (io->flags & IO_F_HANDSHAKE)
			goto out;
	}
	if ((what & EV_READ) && (io->flags & IO_F_READ) &&
	    !(io->flags & (IO_F_EOF | IO_F_ERROR)))
		(void)io_do_read(io);
out:
	io_frame_logs();
	/* what the owner wrote during the callback goes out in one send */
	(void)io_unhold(io);
	io_frame_leave();
}

static void
io_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct gw_io	*io = arg;

	io_frame_enter();
	io->held++;
	io_set_error(io, FAIL_TIMEOUT, "no progress for %u ms", io->timeout_ms);
	(void)io_deliver(io, IO_TIMEOUT);
	io_frame_logs();
	/* the owner chose to carry on: the recorded timeout is not an error */
	if (!(io->flags & (IO_F_FREE | IO_F_ERROR)) &&
	    io->errclass == FAIL_TIMEOUT)
		io->errclass = FAIL_NONE;
	(void)io_unhold(io);
	io_frame_leave();
}
