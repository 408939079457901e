/*
 * sockbind.c - a listening socket on a numeric address (sockbind.h).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/sockbind.h"

int
sock_bind_listen(const char *host, unsigned port, int backlog,
    const char *what, char *err, size_t errlen)
{
	struct addrinfo	 hints, *res, *ai;
	char		 pstr[8];
	int		 fd = -1, on = 1, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	/* addresses are literals (conf checks it): no DNS at start-up */
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	(void)snprintf(pstr, sizeof(pstr), "%u", port);
	if ((rc = getaddrinfo(host, pstr, &hints, &res)) != 0) {
		(void)snprintf(err, errlen, "%s %s:%u: %s", what, host, port,
		    gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			    sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, backlog) == 0)
			break;
		(void)snprintf(err, errlen, "%s %s:%u: %s", what, host, port,
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}
