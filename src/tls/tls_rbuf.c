/*
 * tls_rbuf.c - wolfSSL's receive callback with a small read-ahead
 * (tls_rbuf.h).  The error codes are those wolfSSL's built-in callback
 * returns for the same errno, so that a reset or a close without
 * close_notify is classified as before.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <string.h>

#include "tls/tls_rbuf.h"

static int	rbuf_error(int);

void
tls_rbuf_init(struct tls_rbuf *rb, int fd)
{
	rb->fd = fd;
	rb->drained = 0;
	rb->off = rb->len = 0;
}

void
tls_rbuf_readable(struct tls_rbuf *rb)
{
	rb->drained = 0;
}

size_t
tls_rbuf_held(const struct tls_rbuf *rb)
{
	return rb->len - rb->off;
}

/* rbuf_error - errno of a failed recv() as wolfSSL's callback maps it */
static int
rbuf_error(int err)
{
	switch (err) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return WOLFSSL_CBIO_ERR_WANT_READ;
	case ECONNRESET:
		return WOLFSSL_CBIO_ERR_CONN_RST;
	case EINTR:
		return WOLFSSL_CBIO_ERR_ISR;
	case EPIPE:
	case ECONNABORTED:
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	default:
		return WOLFSSL_CBIO_ERR_GENERAL;
	}
}

int
tls_rbuf_recv(struct WOLFSSL *ssl, char *buf, int sz, void *ctx)
{
	struct tls_rbuf	*rb = ctx;
	unsigned char	*dst;
	size_t		 want, n;
	ssize_t		 got;

	(void)ssl;
	if (sz <= 0)
		return 0;
	want = (size_t)sz;
	/* first what an earlier recv() read ahead */
	if (rb->off < rb->len) {
		n = rb->len - rb->off;
		if (n > want)
			n = want;
		memcpy(buf, rb->data + rb->off, n);
		rb->off += n;
		if (rb->off == rb->len)
			rb->off = rb->len = 0;
		return (int)n;
	}
	if (rb->drained)
		return WOLFSSL_CBIO_ERR_WANT_READ;
	/* a big record body goes straight where wolfSSL wants it */
	if (want >= sizeof(rb->data))
		dst = (unsigned char *)buf;
	else {
		dst = rb->data;
		want = sizeof(rb->data);
	}
	got = recv(rb->fd, dst, want, 0);
	if (got < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			rb->drained = 1;
		return rbuf_error(errno);
	}
	if (got == 0)
		return WOLFSSL_CBIO_ERR_CONN_CLOSE;
	if ((size_t)got < want)
		rb->drained = 1;
	if (dst == (unsigned char *)buf)
		return (int)got;
	rb->len = (size_t)got;
	n = (size_t)sz < rb->len ? (size_t)sz : rb->len;
	memcpy(buf, rb->data, n);
	rb->off = n;
	if (rb->off == rb->len)
		rb->off = rb->len = 0;
	return (int)n;
}
