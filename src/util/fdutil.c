/* fdutil - see fdutil.h */
#include <errno.h>
#include <unistd.h>

#include "util/fdutil.h"

int
fd_write_all(int fd, const void *p, size_t len)
{
	const char	*c = p;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, c, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += (size_t)n;
		len -= (size_t)n;
	}
	return 0;
}
