/*
 * test_io_frames.c - the io's send points over socketpairs and a real libevent
 * loop: what one io's callback writes to another io leaves in one send
 * when the callback ends (SOCK_SEQPACKET keeps each send a packet of its
 * own, so a count of packets is a count of sends); an io freed with such
 * output still sends it; outside callbacks a write leaves at once; log
 * lines written inside a callback leave in one write before it returns
 * and before the reply (also from an io freed there), a warning flushes
 * them first, and at debug level nothing is held.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/io.h"
#include "util/log.h"

struct rig {
	struct event_base	*base;
	int			 a[2];	/* [0] under io A, [1] its peer */
	int			 b[2];	/* [0] under io B, [1] its peer */
	struct gw_io		*ioa;
	struct gw_io		*iob;
	int			 free_b;	/* A's callback frees B */
	int			 log_lines;	/* A's callback logs */
	int			 warn;		/* ... then warns */
	ssize_t			 seen_inside;	/* B's peer, inside A's callback */
	int			 wrote;		/* io_write's results, summed */
	int			 calls;
};

static void
on_a(struct gw_io *io, enum io_event ev, void *arg)
{
	struct rig	*r = arg;
	char		 c;

	if (ev != IO_DATAIN)
		return;
	r->calls++;
	buf_consume(io_in(io), buf_len(io_in(io)));
	/* no assert in here: a failure would leave the loop mid-frame */
	if (r->log_lines) {
		log_info("line one");
		log_info("line two");
		if (r->warn)
			log_warnx("a warning");
	}
	r->wrote += io_write(r->iob, "250 one\r\n", 9);
	r->wrote += io_write(r->iob, "250 two\r\n", 9);
	r->wrote += io_write(r->iob, "354 go\r\n", 8);
	r->seen_inside = recv(r->b[1], &c, 1, MSG_DONTWAIT | MSG_PEEK);
	if (r->free_b) {
		io_free(r->iob);
		r->iob = NULL;
	}
}

static void
on_b(struct gw_io *io, enum io_event ev, void *arg)
{
	(void)io;
	(void)ev;
	(void)arg;
}

static void
rig_open(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	assert_non_null(r->base = event_base_new());
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, r->a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, r->b), 0);
	assert_int_not_equal(fcntl(r->b[1], F_SETFL, O_NONBLOCK), -1);
	assert_non_null(r->ioa = io_new(r->base, r->a[0], 4096, 4096, on_a, r));
	assert_non_null(r->iob = io_new(r->base, r->b[0], 4096, 4096, on_b, r));
	io_set_read(r->iob, 0);
}

static void
rig_close(struct rig *r)
{
	io_free(r->ioa);
	io_free(r->iob);
	(void)close(r->a[1]);
	(void)close(r->b[1]);
	event_base_free(r->base);
}

/* run the loop until A's callback ran once */
static void
rig_kick(struct rig *r)
{
	int	i;

	assert_int_equal(write(r->a[1], "MAIL\r\n", 6), 6);
	for (i = 0; i < 100 && r->calls == 0; i++)
		assert_int_not_equal(event_base_loop(r->base, EVLOOP_ONCE), -1);
	assert_int_equal(r->calls, 1);
	assert_int_equal(r->wrote, 0);
}

static void
test_other_io_one_send(void **state)
{
	struct rig	 r;
	char		 pkt[64];

	(void)state;
	rig_open(&r);
	rig_kick(&r);
	/* nothing had left while the callback ran ... */
	assert_int_equal(r.seen_inside, -1);
	/* ... then all three replies in one send */
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 26);
	assert_memory_equal(pkt, "250 one\r\n250 two\r\n354 go\r\n", 26);
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), -1);
	rig_close(&r);
}

static void
test_freed_io_still_sends(void **state)
{
	struct rig	 r;
	char		 pkt[64];

	(void)state;
	rig_open(&r);
	r.free_b = 1;
	rig_kick(&r);
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 26);
	assert_memory_equal(pkt, "250 one\r\n", 9);
	/* then the close */
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 0);
	rig_close(&r);
}

static void
test_outside_callback_at_once(void **state)
{
	struct rig	 r;
	char		 pkt[64];

	(void)state;
	rig_open(&r);
	assert_int_equal(io_write(r.iob, "220 hi\r\n", 8), 0);
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 8);
	assert_int_equal(io_write(r.iob, "250 a\r\n", 7), 0);
	assert_int_equal(io_write(r.iob, "250 b\r\n", 7), 0);
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 7);
	assert_memory_equal(pkt, "250 a\r\n", 7);
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 7);
	assert_memory_equal(pkt, "250 b\r\n", 7);
	rig_close(&r);
}

/*
 * A callback that logs, with stderr on a SEQPACKET socket (each write()
 * of the logger is a packet): the packets, each as a string, in pkts.
 */
static int
logged(int level, int warn, char pkts[][1024], int max)
{
	struct rig	 r;
	ssize_t		 n;
	int		 sp[2], saved, i;

	log_init(0, level, 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	assert_int_not_equal(saved = dup(2), -1);
	assert_int_equal(dup2(sp[0], 2), 2);
	(void)close(sp[0]);
	rig_open(&r);
	r.log_lines = 1;
	r.warn = warn;
	rig_kick(&r);
	/* outside a callback: at once */
	log_info("line three");
	assert_int_equal(dup2(saved, 2), 2);
	(void)close(saved);
	for (i = 0; i < max; i++) {
		n = recv(sp[1], pkts[i], 1023, MSG_DONTWAIT);
		if (n <= 0)
			break;
		pkts[i][n] = '\0';
	}
	(void)close(sp[1]);
	rig_close(&r);
	log_init(0, GW_LOG_INFO, 0);
	return i;
}

static void
test_log_lines_one_write(void **state)
{
	char	pkts[4][1024];

	(void)state;
	assert_int_equal(logged(GW_LOG_INFO, 0, pkts, 4), 2);
	assert_non_null(strstr(pkts[0], "line one\n"));
	assert_non_null(strstr(pkts[0], "line two\n"));
	assert_non_null(strstr(pkts[1], "line three\n"));
}

static void
test_log_warning_flushes_first(void **state)
{
	char	pkts[4][1024];

	(void)state;
	assert_int_equal(logged(GW_LOG_INFO, 1, pkts, 4), 3);
	assert_non_null(strstr(pkts[0], "line two\n"));
	assert_null(strstr(pkts[0], "a warning"));
	assert_non_null(strstr(pkts[1], "a warning\n"));
}

/* at debug level nothing is held: each line is its own write */
static void
test_log_debug_not_held(void **state)
{
	char	pkts[4][1024];

	(void)state;
	assert_int_equal(logged(GW_LOG_DEBUG, 0, pkts, 4), 3);
	assert_non_null(strstr(pkts[0], "line one\n"));
	assert_null(strstr(pkts[0], "line two"));
}

/*
 * The log lines before the reply they speak of, also when the io is
 * freed inside the callback: stderr is B's own socket here, so its peer
 * sees both in the order they were written.
 */
static void
log_then_reply(int free_b)
{
	struct rig	 r;
	char		 pkt[1024];
	ssize_t		 n;
	int		 saved;

	log_init(0, GW_LOG_INFO, 0);
	rig_open(&r);
	assert_int_not_equal(saved = dup(2), -1);
	assert_int_equal(dup2(r.b[0], 2), 2);
	r.log_lines = 1;
	r.free_b = free_b;
	rig_kick(&r);
	assert_int_equal(dup2(saved, 2), 2);
	(void)close(saved);
	n = recv(r.b[1], pkt, sizeof(pkt) - 1, MSG_DONTWAIT);
	assert_true(n > 0);
	pkt[n] = '\0';
	assert_non_null(strstr(pkt, "line two\n"));
	assert_int_equal(recv(r.b[1], pkt, sizeof(pkt), MSG_DONTWAIT), 26);
	assert_memory_equal(pkt, "250 one\r\n", 9);
	rig_close(&r);
}

static void
test_log_before_reply(void **state)
{
	(void)state;
	log_then_reply(0);
}

static void
test_log_before_reply_freed(void **state)
{
	(void)state;
	log_then_reply(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_other_io_one_send),
		cmocka_unit_test(test_freed_io_still_sends),
		cmocka_unit_test(test_outside_callback_at_once),
		cmocka_unit_test(test_log_lines_one_write),
		cmocka_unit_test(test_log_warning_flushes_first),
		cmocka_unit_test(test_log_before_reply),
		cmocka_unit_test(test_log_before_reply_freed),
		cmocka_unit_test(test_log_debug_not_held),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
