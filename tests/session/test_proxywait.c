/*
 * test_proxywait.c - reading a PROXY header from a socket with a real
 * event_base: the octets after the header stay in the socket (the next
 * reader, TLS or SMTP, gets them), a header in pieces is assembled, a
 * slow one is cut at the deadline, a bad one closes the fd, and freeing
 * the set closes what still waits.
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
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/proxyproto.h"
#include "net/proxywait.h"
#include "util/addr.h"
#include "util/log.h"

#define BOTH	(PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2)

struct t {
	struct event_base	*base;
	struct proxywait_set	*set;
	int			 sv[2];	/* 0: the balancer, 1: ours */
	int			 ndone;
	int			 fd;
	struct proxy_hdr	 h;
	char			 peer[64];
};

static struct t	 T;

static void
on_done(void *arg, int fd, const struct sockaddr *peer, socklen_t peerlen,
    const struct proxy_hdr *h)
{
	struct t	*t = arg;

	(void)peerlen;
	t->ndone++;
	t->fd = fd;
	t->h = *h;
	(void)addr_ntop(peer, t->peer, sizeof(t->peer));
	event_base_loopbreak(t->base);
}

static int
setup(void **state)
{
	struct sockaddr_in	 sin;

	memset(&T, 0, sizeof(T));
	T.fd = -1;
	T.base = event_base_new();
	assert_non_null(T.base);
	T.set = proxywait_new(T.base, on_done);
	assert_non_null(T.set);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, T.sv), 0);
	assert_int_equal(fcntl(T.sv[1], F_SETFL, O_NONBLOCK), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(0x7f000001);
	*state = &T;
	return proxywait_add(T.set, T.sv[1], (struct sockaddr *)&sin,
	    sizeof(sin), BOTH, 1, &T);
}

static int
teardown(void **state)
{
	(void)state;
	proxywait_free(T.set);
	if (T.fd != -1)
		close(T.fd);
	close(T.sv[0]);
	event_base_free(T.base);
	return 0;
}

/* run the loop for at most ms */
static void
run(int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	(void)event_base_loopexit(T.base, &tv);
	(void)event_base_dispatch(T.base);
}

static void
send_all(const void *p, size_t n)
{
	assert_int_equal(send(T.sv[0], p, n, 0), (ssize_t)n);
}

/* the peer side sees the fd closed (reset, if our side left unread data) */
static void
assert_closed(void)
{
	char	 c;
	ssize_t	 n;

	n = recv(T.sv[0], &c, 1, 0);
	assert_true(n == 0 || (n == -1 && errno == ECONNRESET));
}

static void
test_data_after_header_stays(void **state)
{
	static const char	 msg[] =
	    "PROXY TCP4 192.0.2.7 127.0.0.1 40000 25\r\n\x16\x03\x01hello";
	char			 buf[64];
	ssize_t			 n;

	(void)state;
	send_all(msg, sizeof(msg) - 1);
	run(2000);
	assert_int_equal(T.ndone, 1);
	assert_int_equal(T.fd, T.sv[1]);
	assert_string_equal(T.peer, "127.0.0.1");
	assert_int_equal(T.h.len, 41);
	assert_int_equal(proxywait_count(T.set), 0);
	n = recv(T.fd, buf, sizeof(buf), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "\x16\x03\x01hello", 8);
}

static void
test_header_in_pieces(void **state)
{
	static const char	 msg[] = "PROXY TCP6 2001:db8::1 ::1 1 25\r\nEHLO";
	char			 buf[16];
	size_t			 i;

	(void)state;
	for (i = 0; i < 10; i++) {
		send_all(msg + i, 1);
		run(20);
	}
	assert_int_equal(T.ndone, 0);
	assert_int_equal(proxywait_count(T.set), 1);
	send_all(msg + 10, sizeof(msg) - 1 - 10);
	run(2000);
	assert_int_equal(T.ndone, 1);
	assert_int_equal(T.h.src.ss_family, AF_INET6);
	assert_int_equal(recv(T.fd, buf, sizeof(buf), 0), 4);
	assert_memory_equal(buf, "EHLO", 4);
}

static void
test_deadline(void **state)
{
	static const char	 msg[] = "PROXY TCP4 1.2.3.4 5.6.7.8 1 2";
	size_t			 i;

	(void)state;
	/* a byte every 100 ms does not move the 1 s deadline */
	for (i = 0; i < 15 && proxywait_count(T.set) == 1; i++) {
		(void)send(T.sv[0], msg + i, 1, MSG_NOSIGNAL);
		run(100);
	}
	assert_true(i < 15);
	assert_int_equal(T.ndone, 0);
	assert_int_equal(proxywait_count(T.set), 0);
	assert_closed();
}

static void
test_bad_header_closes(void **state)
{
	(void)state;
	send_all("EHLO x\r\n", 8);
	run(500);
	assert_int_equal(T.ndone, 0);
	assert_int_equal(proxywait_count(T.set), 0);
	assert_closed();
}

static void
test_free_closes_waiting(void **state)
{
	(void)state;
	send_all("PROXY ", 6);
	run(50);
	assert_int_equal(proxywait_count(T.set), 1);
	proxywait_free(T.set);
	T.set = NULL;
	assert_closed();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_data_after_header_stays,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_in_pieces, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_header_closes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_free_closes_waiting, setup,
		    teardown),
	};

	log_init(0, GW_LOG_INFO, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
