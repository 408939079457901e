/*
 * sockbind - a listening TCP socket on a numeric address (no DNS at
 * start-up): non-blocking, close-on-exec, SO_REUSEADDR, IPv6 only on an
 * IPv6 address.  Shared by the SMTP listeners and http_listen.
 */
#ifndef GW_SOCKBIND_H
#define GW_SOCKBIND_H

#include <stddef.h>

/*
 * sock_bind_listen - the fd, or -1 with err saying "WHAT HOST:PORT: why"
 * (what is the configuration key, for the message).
 */
int	sock_bind_listen(const char *host, unsigned port, int backlog,
	    const char *what, char *err, size_t errlen);

#endif
