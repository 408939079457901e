/*
 * tls_rbuf - wolfSSL's receive callback with a small read-ahead.
 *
 * wolfSSL reads a record in two recv() calls (the 5-octet header, then the
 * body) and the io asks once more to learn that the socket is empty: three
 * system calls for every SMTP reply.  Here one recv() of up to
 * TLS_RBUF_SIZE octets feeds both parts, and a recv() that returned less
 * than it asked for marks the socket drained: until the loop reports the
 * fd readable again (tls_rbuf_readable), an empty read-ahead answers
 * "want read" without a system call.  The io's read event is level
 * triggered, so octets that arrive after that short read still wake it.
 *
 * Bodies of TLS_RBUF_SIZE octets and more are read straight into
 * wolfSSL's buffer, after what the read-ahead already holds.
 */
#ifndef GW_TLS_RBUF_H
#define GW_TLS_RBUF_H

#include <stddef.h>

struct WOLFSSL;

#define TLS_RBUF_SIZE	2048	/* replies, commands and handshake flights */

struct tls_rbuf {
	int		fd;
	int		drained;	/* the last recv() came back short */
	size_t		off;		/* next octet to hand out */
	size_t		len;		/* octets held */
	unsigned char	data[TLS_RBUF_SIZE];
};

/* tls_rbuf_init - empty, reading fd */
void	tls_rbuf_init(struct tls_rbuf *, int fd);
/*
 * tls_rbuf_recv - a wolfSSL CallbackIORecv (ctx: the struct tls_rbuf):
 * octets, or a WOLFSSL_CBIO_ERR_* code as wolfSSL's own callback gives
 */
int	tls_rbuf_recv(struct WOLFSSL *, char *buf, int sz, void *ctx);
/* tls_rbuf_readable - the loop saw the fd readable: recv() again */
void	tls_rbuf_readable(struct tls_rbuf *);
/* tls_rbuf_held - octets read from the socket and not yet handed out */
size_t	tls_rbuf_held(const struct tls_rbuf *);

#endif
