/*
 * fdutil - small helpers on file descriptors shared by the files that
 * write their own (the spool, the queue store).
 */
#ifndef GW_FDUTIL_H
#define GW_FDUTIL_H

#include <stddef.h>

/* fd_write_all - all len bytes of p to fd (EINTR retried): 0, or -1 */
int	fd_write_all(int fd, const void *p, size_t len);

#endif
