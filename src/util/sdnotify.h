/*
 * sdnotify - the service manager's notification protocol (sd_notify(3))
 * without libsystemd: one datagram of "KEY=VALUE" lines, separated by
 * newlines, to the AF_UNIX socket that $NOTIFY_SOCKET names (a path, or
 * the abstract namespace when it starts with '@').
 *
 * Contract: sdnotify_open() reads $NOTIFY_SOCKET once, at start, and
 * removes it from the environment so that children (token_command) cannot
 * notify in the gateway's name.  Without it every send is a no-op that
 * returns 0.  Errors are returned, never fatal: a supervisor that went
 * away must not stop the mail.  sdnotify_addr() and sdnotify_format() are
 * pure, for the unit test.
 */
#ifndef GW_SDNOTIFY_H
#define GW_SDNOTIFY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SDNOTIFY_ENV		"NOTIFY_SOCKET"
/* one STATUS= text; longer ones are cut with "..." */
#define SDNOTIFY_STATUS_MAX	400
/* the whole datagram: a few fixed fields and one STATUS= */
#define SDNOTIFY_MSG_MAX	(SDNOTIFY_STATUS_MAX + 128)

/*
 * sdnotify_addr - the socket address of a $NOTIFY_SOCKET value: an
 * absolute path, or "@name" for the abstract namespace.  0, or -1 with
 * why set.
 */
int	sdnotify_addr(const char *value, struct sockaddr_un *sun,
	    socklen_t *len, char *why, size_t wlen);
/*
 * sdnotify_format - "fields" (the fixed KEY=VALUE lines, or NULL) and
 * STATUS=<status> (NULL: none) into buf.  The status is one line: control
 * characters become spaces, and it is cut to SDNOTIFY_STATUS_MAX.
 * Returns the length, or -1 if buf is too small for fields.
 */
int	sdnotify_format(char *buf, size_t len, const char *fields,
	    const char *status);
/*
 * sdnotify_open - take $NOTIFY_SOCKET (and unset it).  0 when it is not
 * set or the socket is ready; -1 with why set when it is set but unusable
 * (then sends are no-ops).
 */
int	sdnotify_open(char *why, size_t wlen);
/* sdnotify_enabled - 1 if a socket was opened */
int	sdnotify_enabled(void);
/*
 * sdnotify_send - fields ("READY=1") and a status (NULL: none) in one
 * datagram.  0 (also when no socket is open), or -1 with errno set.
 */
int	sdnotify_send(const char *fields, const char *status);
/* sdnotify_reloading - RELOADING=1 with MONOTONIC_USEC= (systemd 253+) */
int	sdnotify_reloading(void);
/* sdnotify_close - close the socket; later sends are no-ops */
void	sdnotify_close(void);

#endif
