/*
 * sdnotify.c - readiness, reload and stop notifications to the service
 * manager (sdnotify.h).
 *
 * The socket is made once at start and kept: sending then needs no file
 * system access (ProtectSystem, a later privilege drop), and it is
 * non-blocking so that a supervisor that stops reading can never stall
 * the event loop; a notification that does not fit is dropped.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/sdnotify.h"

static int			 sd_fd = -1;
static struct sockaddr_un	 sd_sun;
static socklen_t		 sd_len;

/* sdnotify_addr - see sdnotify.h */
int
sdnotify_addr(const char *value, struct sockaddr_un *sun, socklen_t *len,
    char *why, size_t wlen)
{
	size_t	 n = strlen(value);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	/*
	 * Only the two forms systemd itself gives a service; "vsock:" (a
	 * VM's manager, systemd 254+) is not one a mail gateway runs under.
	 */
	if (value[0] != '/' && value[0] != '@') {
		(void)snprintf(why, wlen, "%s: neither an absolute path nor "
		    "@abstract", SDNOTIFY_ENV);
		return -1;
	}
	if (n < 2) {
		(void)snprintf(why, wlen, "%s: empty name", SDNOTIFY_ENV);
		return -1;
	}
	/* a path needs its NUL in sun_path; an abstract name does not */
	if (n > sizeof(sun->sun_path) - (value[0] == '/' ? 1 : 0)) {
		(void)snprintf(why, wlen, "%s: longer than %zu characters",
		    SDNOTIFY_ENV, sizeof(sun->sun_path) - 1);
		return -1;
	}
	memcpy(sun->sun_path, value, n);
	if (value[0] == '@')
		sun->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
	    (value[0] == '/' ? 1 : 0));
	return 0;
}

/* sdnotify_format - see sdnotify.h */
int
sdnotify_format(char *buf, size_t len, const char *fields, const char *status)
{
	size_t	 off = 0, room, i, n, slen;

	if (len == 0)
		return -1;
	buf[0] = '\0';
	if (fields != NULL) {
		if ((off = strlen(fields)) + 1 > len)
			return -1;
		memcpy(buf, fields, off + 1);
	}
	/* "\nSTATUS=" and room for "..." at least, else no status at all */
	if (status == NULL || off + 8 + 4 >= len)
		return (int)off;
	off += (size_t)snprintf(buf + off, len - off, "%sSTATUS=",
	    off > 0 ? "\n" : "");
	room = len - off - 1;
	if (room > SDNOTIFY_STATUS_MAX)
		room = SDNOTIFY_STATUS_MAX;
	if ((n = slen = strlen(status)) > room)
		n = room - 3;
	for (i = 0; i < n; i++)
		/* a newline would end the field and start a forged one */
		buf[off++] = ((unsigned char)status[i] < 0x20 ||
		    status[i] == 0x7f) ? ' ' : status[i];
	if (n < slen) {
		memcpy(buf + off, "...", 3);
		off += 3;
	}
	buf[off] = '\0';
	return (int)off;
}

/* sdnotify_open - see sdnotify.h */
int
sdnotify_open(char *why, size_t wlen)
{
	const char	*value;
	int		 r;

	if ((value = getenv(SDNOTIFY_ENV)) == NULL || *value == '\0')
		return 0;
	r = sdnotify_addr(value, &sd_sun, &sd_len, why, wlen);
	(void)unsetenv(SDNOTIFY_ENV);
	if (r == -1)
		return -1;
	sd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sd_fd == -1) {
		(void)snprintf(why, wlen, "%s: socket: %s", SDNOTIFY_ENV,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* sdnotify_enabled - see sdnotify.h */
int
sdnotify_enabled(void)
{
	return sd_fd != -1;
}

/* sdnotify_send - see sdnotify.h */
int
sdnotify_send(const char *fields, const char *status)
{
	char	 msg[SDNOTIFY_MSG_MAX];
	int	 n;

	if (sd_fd == -1)
		return 0;
	if ((n = sdnotify_format(msg, sizeof(msg), fields, status)) <= 0) {
		errno = EMSGSIZE;
		return -1;
	}
	if (sendto(sd_fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (const struct sockaddr *)&sd_sun, sd_len) == -1)
		return -1;
	return 0;
}

/*
 * sdnotify_reloading - systemd 253 and later match RELOADING=1 with the
 * reload they asked for by its MONOTONIC_USEC; 252 (Debian 12) ignores
 * the field and takes RELOADING=1 alone.
 */
int
sdnotify_reloading(void)
{
	struct timespec	 ts;
	char		 fields[64];

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return -1;
	(void)snprintf(fields, sizeof(fields), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	return sdnotify_send(fields, NULL);
}

/* sdnotify_close - see sdnotify.h */
void
sdnotify_close(void)
{
	if (sd_fd != -1)
		(void)close(sd_fd);
	sd_fd = -1;
}
