/*
 * test_upconn.c - the connection plumbing under smtp_client and
 * pop3_client on loopback with a real event_base: a refused port, a
 * connect that never completes (a listener whose queue is full), input
 * handed on after connecting, and the owner freeing the upconn inside its
 * callbacks (run under ASan in build-*-asan).  TLS and OCSP through upconn
 * are covered by test_smtp_client, test_pop3_client and the integration
 * tests against real servers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "net/io.h"
#include "tls/upconn.h"
#include "util/buf.h"
#include "util/fail.h"

struct owner {
	struct event_base *base;
	struct upconn	*u;
	struct gw_io	*io;		/* handed over by connected() */
	int		 free_in;	/* 1: free in connected(), 2: in io() */
	int		 resolved;
	int		 connected;
	int		 datain;
	int		 failed;
	int		 ended;		/* the owner let go of the upconn */
	int		 after_end;	/* callbacks after that: must stay 0 */
	enum gw_fail	 cls;
	char		 why[512];
	char		 peer[64];
	char		 got[64];
};

static void
o_end(struct owner *o)
{
	upconn_free(o->u);
	o->u = NULL;
	o->io = NULL;
	o->ended = 1;
	event_base_loopbreak(o->base);
}

static void
o_event(void *arg, enum upconn_event ev, enum gw_fail cls, const char *text)
{
	struct owner	*o = arg;
	struct buf	*in;

	o->after_end += o->ended;
	switch (ev) {
	case UPCONN_RESOLVED:
		o->resolved++;
		/* not connected yet: no io */
		assert_null(upconn_io(o->u));
		break;
	case UPCONN_CONNECTED:
		o->connected++;
		o->io = upconn_io(o->u);
		assert_non_null(o->io);
		(void)snprintf(o->peer, sizeof(o->peer), "%s", text);
		if (o->free_in == 1)
			o_end(o);
		break;
	case UPCONN_TLS_UP:
	case UPCONN_OCSP_WAIT:
	case UPCONN_TLS_VERIFIED:
		fail_msg("TLS event without upconn_tls_start");
		break;
	case UPCONN_DATAIN:
		o->datain++;
		in = io_in(o->io);
		(void)snprintf(o->got, sizeof(o->got), "%.*s",
		    (int)buf_len(in), (const char *)buf_data(in));
		if (o->free_in == 2)
			o_end(o);
		break;
	case UPCONN_LOWAT:
	case UPCONN_TIMEOUT:
	case UPCONN_CLOSED:
	case UPCONN_ERROR:
		break;
	case UPCONN_FAILED:
		o->failed++;
		o->cls = cls;
		(void)snprintf(o->why, sizeof(o->why), "%s", text);
		/* the owner frees inside the callback, as both clients do */
		o_end(o);
		break;
	}
}

/* listener - a loopback TCP listener with the given backlog; its port */
static int
listener(int backlog, unsigned short *port)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, backlog), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* run - one upconn to 127.0.0.1:port until the owner lets go (or 10 s) */
static void
run(struct owner *o, unsigned short port, unsigned connect_timeout,
    void (*on_accept)(evutil_socket_t, short, void *), int lfd)
{
	struct upconn_params	 p;
	struct evdns_base	*dns;
	struct event		*ev = NULL;
	struct timeval		 tv = { 10, 0 };

	o->base = event_base_new();
	assert_non_null(o->base);
	dns = evdns_base_new(o->base, 0);
	assert_non_null(dns);
	if (on_accept != NULL) {
		ev = event_new(o->base, lfd, EV_READ | EV_PERSIST, on_accept,
		    NULL);
		assert_non_null(ev);
		assert_int_equal(event_add(ev, NULL), 0);
	}
	memset(&p, 0, sizeof(p));
	p.base = o->base;
	p.dns = dns;
	p.host = "127.0.0.1";
	p.port = port;
	p.inmax = 1024;
	p.outmax = 1024;
	p.connect_timeout = connect_timeout;
	p.tag = "test upstream";
	p.id = 0x42;
	o->u = upconn_new(&p, o_event, o);
	assert_non_null(o->u);
	/* nothing is reported from inside upconn_new() */
	assert_int_equal(o->resolved + o->connected + o->failed, 0);
	(void)event_base_loopexit(o->base, &tv);
	(void)event_base_dispatch(o->base);
	upconn_free(o->u);	/* only if the owner never let go */
	o->u = NULL;
	if (ev != NULL)
		event_free(ev);
	evdns_base_free(dns, 0);
	event_base_free(o->base);
	assert_int_equal(o->after_end, 0);
}

/* a closed port: connect class, the address and the count in the text */
static void
test_refused(void **state)
{
	struct owner	 o;
	unsigned short	 port;
	char		 want[128];

	(void)state;
	memset(&o, 0, sizeof(o));
	close(listener(1, &port));
	run(&o, port, 5, NULL, -1);
	assert_int_equal(o.resolved, 1);
	assert_int_equal(o.connected, 0);
	assert_int_equal(o.failed, 1);
	assert_int_equal(o.cls, FAIL_CONNECT);
	(void)snprintf(want, sizeof(want), "cannot connect to 127.0.0.1:%u "
	    "(1 address tried): 127.0.0.1:%u: ", port, port);
	if (strncmp(o.why, want, strlen(want)) != 0)
		fail_msg("got '%s', want '%s...'", o.why, want);
}

/*
 * A listener whose accept queue is full drops the SYN: the connect never
 * completes, and connect_timeout ends the attempt as a timeout.
 */
static void
test_connect_timeout(void **state)
{
	struct owner		 o;
	struct sockaddr_in	 sin;
	unsigned short		 port;
	int			 lfd, fill[4], i, nfill = 0;

	(void)state;
	memset(&o, 0, sizeof(o));
	lfd = listener(0, &port);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(port);
	for (i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		assert_true(fill[i] >= 0);
		(void)connect(fill[i], (struct sockaddr *)&sin, sizeof(sin));
		nfill++;
	}
	usleep(100000);
	run(&o, port, 1, NULL, -1);
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	close(lfd);
	assert_int_equal(o.connected, 0);
	assert_int_equal(o.failed, 1);
	/* a kernel set to reset on overflow (tcp_abort_on_overflow) refuses */
	if (o.cls == FAIL_CONNECT && strstr(o.why, "refused") != NULL)
		skip();
	if (o.cls != FAIL_TIMEOUT || strstr(o.why, "connect timed out after "
	    "1s") == NULL)
		fail_msg("got %s '%s'", fail_name(o.cls), o.why);
}

static int	accepted_fd = -1;

static void
accept_and_greet(evutil_socket_t lfd, short what, void *arg)
{
	(void)what;
	(void)arg;
	accepted_fd = accept(lfd, NULL, NULL);
	assert_true(accepted_fd >= 0);
	assert_int_equal(write(accepted_fd, "hello\r\n", 7), 7);
}

/* connected hands over the io; input then arrives through io(IO_DATAIN) */
static void
test_connected_then_data(void **state)
{
	struct owner	 o;
	unsigned short	 port;
	char		 want[128];
	int		 lfd;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.free_in = 2;
	lfd = listener(4, &port);
	run(&o, port, 5, accept_and_greet, lfd);
	close(lfd);
	if (accepted_fd >= 0)
		close(accepted_fd);
	accepted_fd = -1;
	assert_int_equal(o.connected, 1);
	assert_int_equal(o.failed, 0);
	assert_int_equal(o.datain, 1);
	assert_string_equal(o.got, "hello\r\n");
	(void)snprintf(want, sizeof(want), "127.0.0.1:%u", port);
	assert_string_equal(o.peer, want);
}

/* the owner frees the upconn inside connected(): nothing follows */
static void
test_free_in_connected(void **state)
{
	struct owner	 o;
	unsigned short	 port;
	int		 lfd;

	(void)state;
	memset(&o, 0, sizeof(o));
	o.free_in = 1;
	lfd = listener(4, &port);
	run(&o, port, 5, NULL, -1);
	close(lfd);
	assert_int_equal(o.connected, 1);
	assert_int_equal(o.failed, 0);
	assert_int_equal(o.ended, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_connect_timeout),
		cmocka_unit_test(test_connected_then_data),
		cmocka_unit_test(test_free_in_connected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
