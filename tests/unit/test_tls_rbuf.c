/*
 * test_tls_rbuf.c - wolfSSL's receive callback with a read-ahead, over a
 * socketpair: octets come out in order however wolfSSL splits its asks
 * (header, then body); a short recv() marks the socket drained and an
 * empty read-ahead then says "want read" until the loop reports the fd
 * readable; big bodies bypass the read-ahead; EOF and a reset map to
 * the codes wolfSSL's own callback gives.
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

#include "tls/tls_local.h"
#include "tls/tls_rbuf.h"

struct pair {
	int		 fd[2];		/* [0] read by the rbuf, [1] the peer */
	struct tls_rbuf	 rb;
};

static void
pair_open(struct pair *p)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
	assert_int_not_equal(fcntl(p->fd[0], F_SETFL, O_NONBLOCK), -1);
	tls_rbuf_init(&p->rb, p->fd[0]);
}

static void
pair_close(struct pair *p)
{
	if (p->fd[0] != -1)
		(void)close(p->fd[0]);
	if (p->fd[1] != -1)
		(void)close(p->fd[1]);
}

static void
put(struct pair *p, const void *b, size_t n)
{
	assert_int_equal(write(p->fd[1], b, n), (ssize_t)n);
}

/* a record's header then its body, as wolfSSL asks: one recv() for both */
static void
test_header_then_body(void **state)
{
	struct pair	 p;
	char		 b[64];

	(void)state;
	pair_open(&p);
	put(&p, "HDR01body of the record", 23);
	assert_int_equal(tls_rbuf_recv(NULL, b, 5, &p.rb), 5);
	assert_memory_equal(b, "HDR01", 5);
	/* the socket is empty now: the rest comes from the read-ahead */
	assert_int_equal(tls_rbuf_held(&p.rb), 18);
	assert_int_equal(tls_rbuf_recv(NULL, b, 18, &p.rb), 18);
	assert_memory_equal(b, "body of the record", 18);
	assert_int_equal(tls_rbuf_held(&p.rb), 0);
	/* drained: no system call, want read */
	put(&p, "later", 5);
	assert_int_equal(tls_rbuf_recv(NULL, b, 5, &p.rb),
	    WOLFSSL_CBIO_ERR_WANT_READ);
	/* the loop saw the fd readable */
	tls_rbuf_readable(&p.rb);
	assert_int_equal(tls_rbuf_recv(NULL, b, 5, &p.rb), 5);
	assert_memory_equal(b, "later", 5);
	pair_close(&p);
}

/* asks smaller than what was read ahead are served in order */
static void
test_split_asks(void **state)
{
	struct pair	 p;
	char		 src[300], got[300];
	size_t		 i, off = 0;
	int		 n;

	(void)state;
	pair_open(&p);
	for (i = 0; i < sizeof(src); i++)
		src[i] = (char)(i * 7 + 1);
	put(&p, src, sizeof(src));
	for (i = 1; off < sizeof(src); i++) {
		n = tls_rbuf_recv(NULL, got + off, (int)(i % 13 + 1), &p.rb);
		assert_true(n > 0);
		off += (size_t)n;
	}
	assert_memory_equal(got, src, sizeof(src));
	pair_close(&p);
}

/* an empty socket: EAGAIN is want read, and marks it drained */
static void
test_empty_socket(void **state)
{
	struct pair	 p;
	char		 b[8];

	(void)state;
	pair_open(&p);
	assert_int_equal(tls_rbuf_recv(NULL, b, 5, &p.rb),
	    WOLFSSL_CBIO_ERR_WANT_READ);
	assert_int_equal(p.rb.drained, 1);
	tls_rbuf_readable(&p.rb);
	assert_int_equal(p.rb.drained, 0);
	pair_close(&p);
}

/* a body of TLS_RBUF_SIZE and more goes straight to wolfSSL's buffer */
static void
test_big_body(void **state)
{
	struct pair	 p;
	size_t		 n = TLS_RBUF_SIZE * 3, off = 0;
	char		*src, *got;
	int		 r;

	(void)state;
	src = malloc(n + 5);
	got = malloc(n);
	assert_non_null(src);
	assert_non_null(got);
	memcpy(src, "HDR01", 5);
	for (off = 0; off < n; off++)
		src[5 + off] = (char)(off % 251);
	pair_open(&p);
	put(&p, src, n + 5);
	assert_int_equal(tls_rbuf_recv(NULL, got, 5, &p.rb), 5);
	/* the read-ahead holds the first part of the body */
	assert_int_equal(tls_rbuf_held(&p.rb), TLS_RBUF_SIZE - 5);
	off = 0;
	while (off < n) {
		r = tls_rbuf_recv(NULL, got + off, (int)(n - off), &p.rb);
		assert_true(r > 0);
		off += (size_t)r;
	}
	assert_memory_equal(got, src + 5, n);
	assert_int_equal(tls_rbuf_held(&p.rb), 0);
	free(src);
	free(got);
	pair_close(&p);
}

/* EOF: connection closed, after what was read ahead */
static void
test_eof(void **state)
{
	struct pair	 p;
	char		 b[8];

	(void)state;
	pair_open(&p);
	put(&p, "abc", 3);
	(void)close(p.fd[1]);
	p.fd[1] = -1;
	assert_int_equal(tls_rbuf_recv(NULL, b, 2, &p.rb), 2);
	assert_int_equal(tls_rbuf_recv(NULL, b, 2, &p.rb), 1);
	/* the short read marked it drained; the loop reports EOF readable */
	tls_rbuf_readable(&p.rb);
	assert_int_equal(tls_rbuf_recv(NULL, b, 2, &p.rb),
	    WOLFSSL_CBIO_ERR_CONN_CLOSE);
	pair_close(&p);
}

/* a bad descriptor is a general error, not want read */
static void
test_error(void **state)
{
	struct tls_rbuf	 rb;
	char		 b[8];

	(void)state;
	tls_rbuf_init(&rb, -1);
	assert_int_equal(tls_rbuf_recv(NULL, b, 5, &rb),
	    WOLFSSL_CBIO_ERR_GENERAL);
	assert_int_equal(rb.drained, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_then_body),
		cmocka_unit_test(test_split_asks),
		cmocka_unit_test(test_empty_socket),
		cmocka_unit_test(test_big_body),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
