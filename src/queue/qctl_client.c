/*
 * qctl_client.c - the CLI's side of the control socket (qctl.h): connect,
 * send one line, read the whole answer, print it.
 *
 * The answer is read whole before anything is printed: its last line says
 * whether the command worked, and a pager on stdout must not hold the
 * gateway's connection (the gateway closes an answer not taken within its
 * deadline).  Blocking calls only behind poll() with a timeout, so that a
 * stuck gateway cannot hang a script.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "queue/qctl.h"
#include "queue/qctl_int.h"
#include "util/buf.h"

/* a full backlog (the gateway not accepting) is waited for this long */
#define QCLI_CONNECT_MS		3000
#define QCLI_RETRY_MS		50
/* no octet of the answer for this long: the gateway is stuck */
#define QCLI_ANSWER_MS		(QCTL_TIMEOUT * 3 * 1000)
#define QCLI_READ_CHUNK		65536

/* connect_to - a connected socket, or -1 with the reason on stderr */
static int
connect_to(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd, waited;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "smtpgate: %s: too long for a socket's path\n",
		    path);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		fprintf(stderr, "smtpgate: socket: %s\n", strerror(errno));
		return -1;
	}
	for (waited = 0; waited <= QCLI_CONNECT_MS; waited += QCLI_RETRY_MS) {
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		/* a Unix socket's full backlog says EAGAIN, not EINPROGRESS */
		if (errno != EAGAIN && errno != EINTR)
			break;
		(void)poll(NULL, 0, QCLI_RETRY_MS);
	}
	if (errno == EAGAIN)
		fprintf(stderr, "smtpgate: %s: the gateway accepts no "
		    "connection (waited %d ms)\n", path, QCLI_CONNECT_MS);
	else if (errno == ENOENT || errno == ECONNREFUSED)
		fprintf(stderr, "smtpgate: %s: %s (is the gateway running, "
		    "with a queue?)\n", path, strerror(errno));
	else
		fprintf(stderr, "smtpgate: %s: %s\n", path, strerror(errno));
	(void)close(fd);
	return -1;
}

/* wait_for - fd ready for events within the answer timeout: 0, or -1 */
static int
wait_for(int fd, short events)
{
	struct pollfd	 pfd;
	int		 n;

	pfd.fd = fd;
	pfd.events = events;
	do {
		n = poll(&pfd, 1, QCLI_ANSWER_MS);
	} while (n == -1 && errno == EINTR);
	if (n == 0) {
		fprintf(stderr, "smtpgate: no answer from the gateway within "
		    "%d s\n", QCLI_ANSWER_MS / 1000);
		return -1;
	}
	if (n == -1) {
		fprintf(stderr, "smtpgate: poll: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int
send_line(int fd, const char *line)
{
	char	 out[QCTL_LINE_MAX + 1];
	size_t	 len, off = 0;
	ssize_t	 n;

	len = strlen(line);
	if (len + 1 > QCTL_LINE_MAX) {
		fprintf(stderr, "smtpgate: command over %d octets\n",
		    QCTL_LINE_MAX - 1);
		return -1;
	}
	memcpy(out, line, len);
	out[len++] = '\n';
	while (off < len) {
		if ((n = send(fd, out + off, len - off, MSG_NOSIGNAL)) >= 0) {
			off += (size_t)n;
			continue;
		}
		if ((errno != EAGAIN && errno != EINTR) || wait_for(fd,
		    POLLOUT) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				fprintf(stderr, "smtpgate: send: %s\n",
				    strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* read_answer - everything up to the gateway's close into in */
static int
read_answer(int fd, struct buf *in)
{
	char	*p;
	size_t	 room;
	ssize_t	 n;

	for (;;) {
		if (wait_for(fd, POLLIN) == -1)
			return -1;
		if ((p = buf_reserve(in, QCLI_READ_CHUNK, &room)) == NULL) {
			if (errno == ENOBUFS)
				fprintf(stderr, "smtpgate: the gateway's answer "
				    "is over %u octets\n", QCTL_OUT_MAX);
			else
				fprintf(stderr, "smtpgate: %s\n",
				    strerror(errno));
			return -1;
		}
		if ((n = read(fd, p, room)) > 0) {
			buf_commit(in, (size_t)n);
			continue;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR) {
			fprintf(stderr, "smtpgate: read: %s\n", strerror(errno));
			return -1;
		}
	}
}

/* print_answer - the lines to stdout, an error line to stderr; exit code */
static int
print_answer(const char *a, size_t len)
{
	const char	*last;
	size_t		 body, lastlen;
	int		 rc;

	if (len == 0 || a[len - 1] != '\n') {
		fprintf(stderr, "smtpgate: the gateway's answer was cut short\n");
		return 2;
	}
	last = len > 1 ? memrchr(a, '\n', len - 1) : NULL;
	body = last == NULL ? 0 : (size_t)(last - a) + 1;
	lastlen = len - body - 1;
	/* a failed write shows in ferror() below */
	if (body > 0)
		(void)fwrite(a, 1, body, stdout);
	if (lastlen == 2 && memcmp(a + body, "ok", 2) == 0)
		rc = 0;
	else if (lastlen > 7 && memcmp(a + body, "error: ", 7) == 0) {
		(void)fwrite(a + body, 1, lastlen + 1, stderr);
		rc = 1;
	} else {
		fprintf(stderr, "smtpgate: the gateway's answer has no status "
		    "line\n");
		rc = 2;
	}
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "smtpgate: stdout: %s\n", strerror(errno));
		return 2;
	}
	return rc;
}

int
qctl_client(const char *path, const char *line)
{
	struct buf	 in;
	int		 fd, rc = 2;

	if ((fd = connect_to(path)) == -1)
		return 2;
	/* the answer's own bound, and room for its last line */
	buf_init(&in, QCTL_OUT_MAX + QCTL_TAIL_MAX);
	if (send_line(fd, line) == 0 && read_answer(fd, &in) == 0)
		rc = print_answer(buf_data(&in), buf_len(&in));
	(void)close(fd);
	buf_release(&in);
	return rc;
}
