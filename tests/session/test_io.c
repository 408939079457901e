/*
 * test_io.c - the io layer over real sockets and a real event_base:
 * input bounds and backpressure, deferred free inside callbacks, timeouts,
 * EOF, output bounds and low water, connect, and the transport hook
 * (including its refusal to start over buffered plaintext).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/io.h"

struct probe {
	struct event_base	*base;
	int			 events[8];	/* count per io_event */
	int			 free_on;	/* io_free on this event (+1) */
	int			 consume;	/* consume input on DATAIN */
	size_t			 seen;		/* bytes consumed */
	char			 data[65536];
	int			 stop_on;	/* loopbreak on this event (+1) */
};

static void
probe_cb(struct gw_io *io, enum io_event ev, void *arg)
{
	struct probe	*p = arg;
	struct buf	*in = io_in(io);
	size_t		 n;

	p->events[ev]++;
	if (ev == IO_DATAIN && p->consume) {
		n = buf_len(in);
		if (p->seen + n <= sizeof(p->data))
			memcpy(p->data + p->seen, buf_data(in), n);
		p->seen += n;
		buf_consume(in, n);
	}
	if (p->free_on == (int)ev + 1)
		io_free(io);
	if (p->stop_on == (int)ev + 1)
		event_base_loopbreak(p->base);
}

static void
run_for(struct event_base *base, int ms)
{
	struct timeval	tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void
test_read_and_write(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1 };
	struct gw_io		*io;
	char			 buf[64];
	int			 sv[2];
	ssize_t			 n;

	pair(sv);
	io = io_new(base, sv[0], 1024, 1024, probe_cb, &p);
	assert_non_null(io);
	assert_int_equal(write(sv[1], "hello\r\n", 7), 7);
	p.stop_on = IO_DATAIN + 1;
	run_for(base, 2000);
	assert_int_equal(p.events[IO_DATAIN], 1);
	assert_int_equal(p.seen, 7);
	assert_memory_equal(p.data, "hello\r\n", 7);

	assert_int_equal(io_printf(io, "250 %s\r\n", "ok"), 0);
	p.stop_on = 0;
	run_for(base, 100);
	n = read(sv[1], buf, sizeof(buf));
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "250 ok\r\n", 8);
	assert_int_equal(io_queued(io), 0);
	io_free(io);
	close(sv[1]);
	event_base_free(base);
}

/*
 * Short input keeps the input storage small (a pooled connection only
 * ever reads replies); a burst still arrives whole in one delivery, the
 * reads growing as they fill; io_trim gives empty storage back.
 */
static void
test_read_sizing_and_trim(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1 };
	struct gw_io		*io;
	static char		 big[60000];
	size_t			 i;
	int			 sv[2], sz = 1 << 20;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	pair(sv);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz,
	    sizeof(sz)), 0);
	io = io_new(base, sv[0], 65536, 1024, probe_cb, &p);
	assert_non_null(io);
	assert_int_equal(write(sv[1], "250 ok\r\n", 8), 8);
	p.stop_on = IO_DATAIN + 1;
	run_for(base, 2000);
	assert_int_equal(p.seen, 8);
	assert_true(io_in(io)->cap > 0 && io_in(io)->cap <= 1024);

	p.seen = 0;
	p.events[IO_DATAIN] = 0;
	assert_int_equal(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
	run_for(base, 2000);
	assert_int_equal(p.seen, sizeof(big));
	assert_memory_equal(p.data, big, sizeof(big));
	assert_int_equal(p.events[IO_DATAIN], 1);	/* read whole */
	assert_true(io_in(io)->cap >= 16384);

	io_trim(io);
	assert_int_equal(io_in(io)->cap, 0);
	assert_null(io_in(io)->data);
	/* and it reads on as before */
	p.seen = 0;
	assert_int_equal(write(sv[1], "221 bye\r\n", 9), 9);
	run_for(base, 2000);
	assert_int_equal(p.seen, 9);
	assert_memory_equal(p.data, "221 bye\r\n", 9);
	io_free(io);
	close(sv[1]);
	event_base_free(base);
}

/*
 * io_cork: writes wait for the end of the loop turn and leave together;
 * without it the first write goes out at once (the optimistic write)
 */
static void
test_cork(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1 };
	struct gw_io		*io;
	char			 buf[64];
	int			 sv[2];

	pair(sv);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	io = io_new(base, sv[0], 65536, 1024, probe_cb, &p);
	assert_non_null(io);
	/* not corked: on the wire before the loop runs */
	assert_int_equal(io_write(io, "NOOP\r\n", 6), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 6);
	io_cork(io);
	assert_int_equal(io_write(io, "MAIL FROM:<a@b>\r\n", 17), 0);
	assert_int_equal(io_write(io, "RCPT TO:<c@d>\r\n", 15), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), -1);	/* held */
	assert_int_equal(errno, EAGAIN);
	run_for(base, 200);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 32);
	assert_memory_equal(buf, "MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n", 32);
	/* the cork is gone after its flush */
	assert_int_equal(io_write(io, "DATA\r\n", 6), 0);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 6);
	io_free(io);
	close(sv[1]);
	event_base_free(base);
}

/* a full input buffer stops reading; consuming resumes it; nothing is lost */
static void
test_input_bound_backpressure(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 0 };
	struct gw_io		*io;
	char			 big[1000];
	int			 sv[2], i;

	for (i = 0; i < (int)sizeof(big); i++)
		big[i] = (char)('a' + i % 26);
	pair(sv);
	io = io_new(base, sv[0], 100, 100, probe_cb, &p);
	assert_non_null(io);
	assert_int_equal(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
	run_for(base, 100);
	assert_int_equal(buf_len(io_in(io)), 100);
	assert_true(p.events[IO_DATAIN] >= 1);

	/* now take everything as it comes */
	p.consume = 1;
	memcpy(p.data, buf_data(io_in(io)), 100);
	p.seen = 100;
	buf_consume(io_in(io), 100);
	io_set_read(io, 1);
	run_for(base, 200);
	assert_int_equal(p.seen, sizeof(big));
	assert_memory_equal(p.data, big, sizeof(big));
	io_free(io);
	close(sv[1]);
	event_base_free(base);
}

/* the owner frees the io from inside its own callback */
static void
test_free_inside_callback(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1,
				    .free_on = IO_DATAIN + 1 };
	struct gw_io		*io;
	int			 sv[2];
	char			 c;

	pair(sv);
	io = io_new(base, sv[0], 64, 64, probe_cb, &p);
	assert_non_null(io);
	assert_int_equal(write(sv[1], "x", 1), 1);
	run_for(base, 100);
	assert_int_equal(p.events[IO_DATAIN], 1);
	/* the io closed its socket: the peer sees EOF; no more callbacks */
	assert_int_equal(read(sv[1], &c, 1), 0);
	assert_int_equal(write(sv[1], "y", 1), -1);
	run_for(base, 50);
	assert_int_equal(p.events[IO_DATAIN], 1);
	close(sv[1]);
	event_base_free(base);
}

static void
test_timeout_and_eof(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1,
				    .stop_on = IO_TIMEOUT + 1 };
	struct gw_io		*io;
	int			 sv[2];

	pair(sv);
	io = io_new(base, sv[0], 64, 64, probe_cb, &p);
	assert_non_null(io);
	io_set_timeout(io, 100);
	run_for(base, 2000);
	assert_int_equal(p.events[IO_TIMEOUT], 1);
	assert_int_equal(io_error_class(io), FAIL_NONE);	/* carried on */

	/* paused reading and no output: no timer runs */
	io_set_read(io, 0);
	run_for(base, 300);
	assert_int_equal(p.events[IO_TIMEOUT], 1);

	io_set_read(io, 1);
	io_set_timeout(io, 0);
	close(sv[1]);
	p.stop_on = IO_CLOSED + 1;
	run_for(base, 2000);
	assert_int_equal(p.events[IO_CLOSED], 1);
	io_free(io);
	event_base_free(base);
}

static void
test_output_bound_and_lowat(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .stop_on = IO_LOWAT + 1 };
	struct gw_io		*io;
	char			 chunk[100], sink[65536];
	int			 sv[2], i, sndbuf = 4096;
	size_t			 sent = 0;
	ssize_t			 n;

	memset(chunk, 'z', sizeof(chunk));
	pair(sv);
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sndbuf, sizeof(sndbuf));
	io = io_new(base, sv[0], 64, 250, probe_cb, &p);
	assert_non_null(io);
	/* writes go straight to the socket until it is full */
	for (i = 0; i < 100000 && io_queued(io) == 0; i++) {
		assert_int_equal(io_write(io, chunk, 100), 0);
		sent += 100;
	}
	assert_true(io_queued(io) > 0);
	/* then they queue, up to the bound, and are refused, not truncated */
	while (io_write(io, chunk, 100) == 0)
		sent += 100;
	assert_int_equal(errno, ENOBUFS);
	assert_true(io_queued(io) <= 250);
	assert_true(io_queued(io) + io_outroom(io) == 250);
	/* the peer reads: the queue drains and IO_LOWAT comes once */
	(void)fcntl(sv[1], F_SETFL, O_NONBLOCK);
	for (i = 0; i < 1000 && p.events[IO_LOWAT] == 0; i++) {
		while ((n = read(sv[1], sink, sizeof(sink))) > 0)
			sent -= (size_t)n;
		run_for(base, 10);
	}
	assert_int_equal(p.events[IO_LOWAT], 1);
	assert_int_equal(io_queued(io), 0);
	while ((n = read(sv[1], sink, sizeof(sink))) > 0)
		sent -= (size_t)n;
	assert_int_equal(sent, 0);	/* every accepted byte arrived */
	io_free(io);
	close(sv[1]);
	event_base_free(base);
}

/*
 * An optimistic write that fails inside io_write() must not call the owner
 * from there: the error comes from the loop, and later writes are dropped.
 */
static void
test_write_error_reported_from_loop(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .stop_on = IO_ERROR + 1 };
	struct gw_io		*io;
	int			 sv[2], i;

	pair(sv);
	io = io_new(base, sv[0], 64, 256, probe_cb, &p);
	assert_non_null(io);
	io_set_read(io, 0);	/* so EOF is not what reports the close */
	close(sv[1]);
	assert_int_equal(io_write(io, "250 ok\r\n", 8), 0);
	for (i = 0; i < 8; i++)
		assert_int_equal(p.events[i], 0);	/* nothing inline */
	assert_int_equal(io_write(io, "more\r\n", 6), 0);	/* dropped */
	run_for(base, 2000);
	assert_int_equal(p.events[IO_ERROR], 1);
	assert_int_equal(io_error_class(io), FAIL_CLOSED);
	io_free(io);
	event_base_free(base);
}

static void
test_connect(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base };
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	struct gw_io		*io;
	int			 lfd;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(listen(lfd, 1), 0);

	io = io_new(base, -1, 64, 64, probe_cb, &p);
	assert_int_equal(io_connect(io, (struct sockaddr *)&sin, sizeof(sin)), 0);
	p.stop_on = IO_CONNECTED + 1;
	run_for(base, 2000);
	assert_int_equal(p.events[IO_CONNECTED], 1);
	io_free(io);

	/* nobody listens any more: IO_ERROR with class connect */
	close(lfd);
	io = io_new(base, -1, 64, 64, probe_cb, &p);
	assert_int_equal(io_connect(io, (struct sockaddr *)&sin, sizeof(sin)), 0);
	p.stop_on = IO_ERROR + 1;
	run_for(base, 2000);
	assert_int_equal(p.events[IO_ERROR], 1);
	assert_int_equal(io_error_class(io), FAIL_CONNECT);
	io_free(io);
	event_base_free(base);
}

/*
 * A toy transport: the handshake waits for one 'H' from the peer; data
 * then passes through with every byte xor 0x20.  Enough to drive the
 * handshake, read, write and free paths of the hook.
 */
struct toy {
	int	fd;
	int	freed;
	int	shut;
};

static int
toy_handshake(void *ctx)
{
	struct toy	*t = ctx;
	char		 c;
	ssize_t		 n = read(t->fd, &c, 1);

	if (n == 1 && c == 'H')
		return 0;
	if (n == -1 && errno == EAGAIN)
		return IO_T_WANT_READ;
	return IO_T_ERROR;
}

static ssize_t
toy_read(void *ctx, void *buf, size_t len)
{
	struct toy	*t = ctx;
	ssize_t		 n = read(t->fd, buf, len), i;

	if (n == -1)
		return errno == EAGAIN ? IO_T_WANT_READ : IO_T_ERROR;
	for (i = 0; i < n; i++)
		((char *)buf)[i] ^= 0x20;
	return n;
}

static ssize_t
toy_write(void *ctx, const void *buf, size_t len)
{
	struct toy	*t = ctx;
	char		 tmp[256];
	size_t		 i;
	ssize_t		 n;

	if (len > sizeof(tmp))
		len = sizeof(tmp);
	for (i = 0; i < len; i++)
		tmp[i] = ((const char *)buf)[i] ^ 0x20;
	n = write(t->fd, tmp, len);
	if (n == -1)
		return errno == EAGAIN ? IO_T_WANT_WRITE : IO_T_ERROR;
	return n;
}

static int
toy_pending(void *ctx)
{
	return 0;
}

static void
toy_shutdown(void *ctx)
{
	((struct toy *)ctx)->shut = 1;
}

static void
toy_free(void *ctx)
{
	((struct toy *)ctx)->freed = 1;
}

static const struct io_transport toy_ops = {
	toy_handshake, toy_read, toy_write, toy_pending, toy_shutdown, toy_free,
	NULL
};

static void
test_transport(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 1 };
	struct toy		 t = { 0 };
	struct gw_io		*io;
	char			 buf[64];
	int			 sv[2];

	pair(sv);
	io = io_new(base, sv[0], 256, 256, probe_cb, &p);
	t.fd = sv[0];
	/* queued plaintext goes out before the handshake starts */
	assert_int_equal(io_write(io, "220 go\r\n", 8), 0);
	assert_int_equal(io_start_transport(io, &toy_ops, &t), 0);
	assert_ptr_equal(io_transport_ctx(io), &t);
	run_for(base, 100);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 8);
	assert_int_equal(p.events[IO_TLSREADY], 0);
	assert_int_equal(write(sv[1], "H", 1), 1);
	p.stop_on = IO_TLSREADY + 1;
	run_for(base, 2000);
	assert_int_equal(p.events[IO_TLSREADY], 1);

	/* 'a' ^ 0x20 == 'A': data now goes through the transport */
	assert_int_equal(write(sv[1], "AB", 2), 2);
	p.stop_on = IO_DATAIN + 1;
	run_for(base, 2000);
	assert_int_equal(p.seen, 2);
	assert_memory_equal(p.data, "ab", 2);
	assert_int_equal(io_write(io, "xy", 2), 0);
	p.stop_on = 0;
	run_for(base, 100);
	assert_int_equal(read(sv[1], buf, sizeof(buf)), 2);
	assert_memory_equal(buf, "XY", 2);
	io_free(io);
	assert_int_equal(t.shut, 1);
	assert_int_equal(t.freed, 1);
	close(sv[1]);
	event_base_free(base);
}

/* STARTTLS injection: plaintext already buffered blocks the transport */
static void
test_transport_refused_over_buffered_input(void **state)
{
	struct event_base	*base = event_base_new();
	struct probe		 p = { .base = base, .consume = 0,
				    .stop_on = IO_DATAIN + 1 };
	struct toy		 t = { 0 };
	struct gw_io		*io;
	int			 sv[2];

	pair(sv);
	io = io_new(base, sv[0], 256, 256, probe_cb, &p);
	t.fd = sv[0];
	assert_int_equal(write(sv[1], "250 INJECTED\r\n", 14), 14);
	run_for(base, 2000);
	assert_int_equal(buf_len(io_in(io)), 14);
	assert_int_equal(io_start_transport(io, &toy_ops, &t), -1);
	assert_int_equal(io_error_class(io), FAIL_PROTOCOL);
	assert_null(io_transport_ctx(io));
	io_free(io);
	assert_int_equal(t.freed, 0);	/* never adopted */
	close(sv[1]);
	event_base_free(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_and_write),
		cmocka_unit_test(test_input_bound_backpressure),
		cmocka_unit_test(test_read_sizing_and_trim),
		cmocka_unit_test(test_cork),
		cmocka_unit_test(test_free_inside_callback),
		cmocka_unit_test(test_timeout_and_eof),
		cmocka_unit_test(test_output_bound_and_lowat),
		cmocka_unit_test(test_write_error_reported_from_loop),
		cmocka_unit_test(test_connect),
		cmocka_unit_test(test_transport),
		cmocka_unit_test(test_transport_refused_over_buffered_input),
	};

	/* as in the daemon: a write to a closed peer is an error, not a signal */
	(void)signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
