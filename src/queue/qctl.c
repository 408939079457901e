/*
 * qctl.c - the control socket's command parser and its server on the
 * event loop (qctl.h).
 *
 * A connection lives in one of a few fixed slots: it reads one line (the
 * whole request within the deadline), hands the command to the ops, and
 * writes the answer and its last line, then it is closed.  A connection
 * that finds every slot taken gets "error: busy" and is closed, so that
 * hung scripts cannot make the gateway hold more than QCTL_CONN_MAX.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "queue/qctl.h"
#include "queue/qctl_int.h"
#include "util/buf.h"
#include "util/log.h"

#define QCTL_CONN_MAX		4	/* connections served at once */
#define QCTL_BACKLOG		8
#define QCTL_ACCEPT_MAX		16	/* accepts per event: the loop stays fair */

#define nitems(a)	(sizeof(a) / sizeof((a)[0]))

enum qarg {
	QARG_NONE,
	QARG_ID,
	QARG_OPT_ID
};

/* the commands: name, value, argument, and what to say when it is missing */
static const struct qctl_cmdtab {
	const char	*name;
	enum qctl_cmd	 cmd;
	enum qarg	 arg;
	const char	*argerr;
} qctl_cmds[] = {
	{ "list",	QCTL_LIST,	QARG_NONE,	"list takes no argument" },
	{ "show",	QCTL_SHOW,	QARG_ID,	"show needs a message id" },
	{ "flush",	QCTL_FLUSH,	QARG_OPT_ID,	NULL },
	{ "delete",	QCTL_DELETE,	QARG_ID,	"delete needs a message id" },
	{ "hold",	QCTL_HOLD,	QARG_ID,	"hold needs a message id" },
	{ "release",	QCTL_RELEASE,	QARG_ID,	"release needs a message id" },
};

enum qphase {
	QC_FREE = 0,
	QC_READ,	/* reading the command line */
	QC_WRITE	/* writing the answer, then close */
};

struct qconn {
	struct qctl	*q;
	enum qphase	 phase;
	int		 fd;
	struct event	*io;
	struct event	*deadline;
	char		 line[QCTL_LINE_MAX];
	size_t		 len;
	struct buf	 out;			/* the ops' lines */
	char		 tail[QCTL_TAIL_MAX];	/* "ok" or "error: why" */
	size_t		 tlen, toff;
	long		 uid;			/* the peer's, for the log */
};

struct qctl {
	struct event_base	*base;
	struct event		*lev;
	struct event		*pause_ev;	/* after EMFILE */
	int			 fd;
	dev_t			 dev;		/* the socket file we made */
	ino_t			 ino;
	char			 path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct qctl_ops		 ops;
	struct timeval		 timeout;
	struct qconn		 conns[QCTL_CONN_MAX];
};

static void	conn_read(evutil_socket_t, short, void *);
static void	conn_write(evutil_socket_t, short, void *);

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* the next word of line from *off: its length (0: none), *w its start */
static size_t
next_word(const char *line, size_t len, size_t *off, const char **w)
{
	size_t	i = *off, n = 0;

	while (i < len && is_blank(line[i]))
		i++;
	*w = line + i;
	while (i + n < len && !is_blank(line[i + n]))
		n++;
	*off = i + n;
	return n;
}

/* 16 hex digits (either case: an operator may type them) to *id */
static int
parse_id(const char *s, size_t n, uint64_t *id)
{
	uint64_t	 v = 0;
	size_t		 i;
	int		 d;

	if (n != 16)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			d = s[i] - '0';
		else if (s[i] >= 'a' && s[i] <= 'f')
			d = s[i] - 'a' + 10;
		else if (s[i] >= 'A' && s[i] <= 'F')
			d = s[i] - 'A' + 10;
		else
			return -1;
		v = v << 4 | (uint64_t)d;
	}
	*id = v;
	return 0;
}

const char *
qctl_parse(const char *line, size_t len, struct qctl_req *req)
{
	const struct qctl_cmdtab	*t = NULL;
	const char			*w, *a, *x;
	size_t				 wn, an, off = 0, i;
	uint64_t			 id = 0;

	memset(req, 0, sizeof(*req));
	if (len >= QCTL_LINE_MAX)
		return "command line too long";
	for (i = 0; i < len; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    (unsigned char)line[i] >= 0x7f)
			return "control or non-ASCII character in the command";
	if ((wn = next_word(line, len, &off, &w)) == 0)
		return "empty command";
	for (i = 0; i < nitems(qctl_cmds); i++)
		if (strlen(qctl_cmds[i].name) == wn &&
		    memcmp(qctl_cmds[i].name, w, wn) == 0)
			t = &qctl_cmds[i];
	if (t == NULL)
		return "unknown command (list, show, flush, delete, hold, "
		    "release)";
	an = next_word(line, len, &off, &a);
	if (next_word(line, len, &off, &x) != 0)
		return "too many arguments";
	if ((t->arg == QARG_NONE && an != 0) || (t->arg == QARG_ID && an == 0))
		return t->argerr;
	if (an != 0 && parse_id(a, an, &id) == -1)
		return "a message id is 16 hex digits";
	/* id 0 means "none" in a request, and qstore never hands it out */
	if (an != 0 && id == 0)
		return "0000000000000000 is not a message id";
	req->cmd = t->cmd;
	req->id = id;
	return NULL;
}

const char *
qctl_cmd_name(enum qctl_cmd cmd)
{
	size_t	i;

	for (i = 0; i < nitems(qctl_cmds); i++)
		if (qctl_cmds[i].cmd == cmd)
			return qctl_cmds[i].name;
	return "unknown";
}

void
qctl_set_timeout_ms(struct qctl *q, unsigned ms)
{
	q->timeout.tv_sec = ms / 1000;
	q->timeout.tv_usec = (ms % 1000) * 1000;
}

static void
conn_close(struct qconn *c)
{
	if (c->io != NULL)
		event_free(c->io);
	if (c->deadline != NULL)
		event_free(c->deadline);
	c->io = c->deadline = NULL;
	if (c->fd != -1)
		(void)close(c->fd);
	c->fd = -1;
	buf_release(&c->out);
	c->phase = QC_FREE;
}

/*
 * conn_reply - the answer is complete: last is its final line.  From
 * here the connection only writes; the deadline starts again so that a
 * long answer has its own time.
 */
static void
conn_reply(struct qconn *c, const char *last)
{
	const char	*nl = "";
	int		 n;

	/* the ops' last line lacks its LF: the final line must stand alone */
	if (buf_len(&c->out) > 0 && buf_data(&c->out)[buf_len(&c->out) - 1] !=
	    '\n')
		nl = "\n";
	n = snprintf(c->tail, sizeof(c->tail), "%s%s\n", nl, last);
	if (n < 0 || (size_t)n >= sizeof(c->tail))
		fatalx("qctl: final line over %d octets", QCTL_TAIL_MAX);
	c->tlen = (size_t)n;
	c->toff = 0;
	c->phase = QC_WRITE;
	event_free(c->io);
	if ((c->io = event_new(c->q->base, c->fd, EV_WRITE | EV_PERSIST,
	    conn_write, c)) == NULL || event_add(c->io, NULL) == -1 ||
	    event_add(c->deadline, &c->q->timeout) == -1) {
		log_warnx("queue control: cannot answer: out of memory");
		conn_close(c);
	}
}

/* conn_fail - answer "error: why", why made one line of printable text */
static void
conn_fail(struct qconn *c, const char *why)
{
	char	 line[QCTL_TAIL_MAX - 8];
	size_t	 i;

	buf_clear(&c->out);
	(void)snprintf(line, sizeof(line), "error: %s", why);
	for (i = 0; line[i] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			line[i] = '?';
	conn_reply(c, line);
}

/* conn_run - line[0..len) is the command: parse it, run it, answer */
static void
conn_run(struct qconn *c, size_t len)
{
	struct qctl	*q = c->q;
	struct qctl_req	 req;
	const char	*e;
	char		 why[QCTL_TAIL_MAX - 16], id[20];

	if ((e = qctl_parse(c->line, len, &req)) != NULL) {
		conn_fail(c, e);
		return;
	}
	/* list and show change nothing: a monitor polling them is no news */
	if (req.cmd == QCTL_LIST || req.cmd == QCTL_SHOW)
		log_debug("queue control: %s by uid %ld", qctl_cmd_name(req.cmd),
		    c->uid);
	else {
		if (req.id == 0)
			(void)snprintf(id, sizeof(id), "all");
		else
			(void)snprintf(id, sizeof(id), "%016llx",
			    (unsigned long long)req.id);
		log_info("queue control: %s %s by uid %ld",
		    qctl_cmd_name(req.cmd), id, c->uid);
	}
	why[0] = '\0';
	if (q->ops.run(q->ops.arg, &req, &c->out, why, sizeof(why)) == -1) {
		conn_fail(c, why[0] != '\0' ? why : "failed");
		return;
	}
	conn_reply(c, "ok");
}

static void
conn_read(evutil_socket_t fd, short ev, void *arg)
{
	struct qconn	*c = arg;
	const char	*lf;
	ssize_t		 n;
	size_t		 start, len;

	n = read(fd, c->line + c->len, sizeof(c->line) - c->len);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c);
		return;
	}
	if (n == 0) {
		/* gone without a word: nothing to answer */
		if (c->len == 0)
			conn_close(c);
		else
			conn_fail(c, "incomplete command line (no line end)");
		return;
	}
	start = c->len;
	c->len += (size_t)n;
	if ((lf = memchr(c->line + start, '\n', (size_t)n)) == NULL) {
		if (c->len == sizeof(c->line))
			conn_fail(c, "command line too long");
		return;
	}
	len = (size_t)(lf - c->line);
	/* one command per connection: a second one would go unanswered */
	if (len + 1 < c->len) {
		conn_fail(c, "one command per connection");
		return;
	}
	if (len > 0 && c->line[len - 1] == '\r')
		len--;
	conn_run(c, len);
}

static void
conn_write(evutil_socket_t fd, short ev, void *arg)
{
	struct qconn	*c = arg;
	struct iovec	 iov[2];
	struct msghdr	 m;
	ssize_t		 n;
	size_t		 k;

	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	if (buf_len(&c->out) > 0) {
		iov[m.msg_iovlen].iov_base = (void *)buf_data(&c->out);
		iov[m.msg_iovlen++].iov_len = buf_len(&c->out);
	}
	iov[m.msg_iovlen].iov_base = c->tail + c->toff;
	iov[m.msg_iovlen++].iov_len = c->tlen - c->toff;
	/* MSG_NOSIGNAL: a client gone away is no reason to die */
	if ((n = sendmsg(fd, &m, MSG_NOSIGNAL)) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_close(c);
		return;
	}
	k = (size_t)n < buf_len(&c->out) ? (size_t)n : buf_len(&c->out);
	buf_consume(&c->out, k);
	c->toff += (size_t)n - k;
	if (c->toff == c->tlen)
		conn_close(c);
}

static void
conn_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct qconn	*c = arg;

	if (c->phase == QC_READ) {
		conn_fail(c, "timeout: no complete command line in time");
		return;
	}
	log_warnx("queue control: answer not taken in time; closed");
	conn_close(c);
}

/* the peer's uid, for the log line of a command that changes something */
static long
peer_uid(int fd)
{
	struct ucred	 cr;
	socklen_t	 len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return -1;
	return (long)cr.uid;
}

static void
conn_start(struct qctl *q, int fd)
{
	static const char	 busy[] = "error: busy\n";
	struct qconn		*c = NULL;
	size_t			 i;

	for (i = 0; i < QCTL_CONN_MAX && c == NULL; i++)
		if (q->conns[i].phase == QC_FREE)
			c = &q->conns[i];
	if (c == NULL) {
		/* a fresh socket's buffer is empty: this cannot block */
		(void)send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL |
		    MSG_DONTWAIT);
		(void)close(fd);
		log_warnx("queue control: %d connections busy; one refused",
		    QCTL_CONN_MAX);
		return;
	}
	memset(c, 0, sizeof(*c));
	c->q = q;
	c->fd = fd;
	c->phase = QC_READ;
	c->uid = peer_uid(fd);
	buf_init(&c->out, QCTL_OUT_MAX);
	if ((c->io = event_new(q->base, fd, EV_READ | EV_PERSIST, conn_read,
	    c)) == NULL || (c->deadline = evtimer_new(q->base, conn_timeout,
	    c)) == NULL || event_add(c->io, NULL) == -1 ||
	    event_add(c->deadline, &q->timeout) == -1) {
		log_warnx("queue control: out of memory; connection closed");
		conn_close(c);
	}
}

static void
qctl_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct qctl	*q = arg;
	struct timeval	 tv = { 1, 0 };
	int		 fd, i;

	for (i = 0; i < QCTL_ACCEPT_MAX; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd != -1) {
			conn_start(q, fd);
			continue;
		}
		/* out of descriptors: the socket would stay readable, so pause */
		if (errno == EMFILE || errno == ENFILE) {
			log_warnx("queue control: accept: %s; pausing",
			    strerror(errno));
			(void)event_del(q->lev);
			(void)event_add(q->pause_ev, &tv);
		}
		return;
	}
}

static void
qctl_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct qctl	*q = arg;

	(void)event_add(q->lev, NULL);
}

/*
 * bind_socket - a listening Unix socket at path, created 0600: the umask
 * makes it so from the start (no moment where others could connect),
 * chmod makes sure.  Only a socket is removed first, never a file that
 * someone else put there.
 */
static int
bind_socket(const char *path, struct stat *st, char *why, size_t whylen)
{
	struct sockaddr_un	 sun;
	mode_t			 old;
	int			 fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		(void)snprintf(why, whylen, "%s: too long for a socket's path "
		    "(at most %zu octets)", path, sizeof(sun.sun_path) - 1);
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, st) == 0 && !S_ISSOCK(st->st_mode)) {
		(void)snprintf(why, whylen, "%s: exists and is not a socket",
		    path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		(void)snprintf(why, whylen, "%s: cannot remove the old socket: "
		    "%s", path, strerror(errno));
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		(void)snprintf(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	(void)umask(old);
	if (rc == -1) {
		(void)snprintf(why, whylen, "%s: bind: %s", path,
		    strerror(errno));
		(void)close(fd);
		return -1;
	}
	if (chmod(path, 0600) == -1 || listen(fd, QCTL_BACKLOG) == -1 ||
	    stat(path, st) == -1) {
		(void)snprintf(why, whylen, "%s: %s", path, strerror(errno));
		(void)unlink(path);
		(void)close(fd);
		return -1;
	}
	return fd;
}

struct qctl *
qctl_listen(struct event_base *base, const char *path,
    const struct qctl_ops *ops, char *why, size_t whylen)
{
	struct qctl	*q;
	struct stat	 st;
	size_t		 i;

	if ((q = calloc(1, sizeof(*q))) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if ((q->fd = bind_socket(path, &st, why, whylen)) == -1) {
		free(q);
		return NULL;
	}
	memcpy(q->path, path, strlen(path) + 1);
	q->dev = st.st_dev;
	q->ino = st.st_ino;
	q->base = base;
	q->ops = *ops;
	q->timeout.tv_sec = QCTL_TIMEOUT;
	for (i = 0; i < QCTL_CONN_MAX; i++)
		q->conns[i].fd = -1;
	if ((q->lev = event_new(base, q->fd, EV_READ | EV_PERSIST,
	    qctl_accept, q)) == NULL || (q->pause_ev = evtimer_new(base,
	    qctl_resume, q)) == NULL || event_add(q->lev, NULL) == -1) {
		(void)snprintf(why, whylen, "%s: out of memory", path);
		qctl_free(q);
		return NULL;
	}
	return q;
}

void
qctl_free(struct qctl *q)
{
	struct stat	 st;
	size_t		 i;

	if (q == NULL)
		return;
	for (i = 0; i < QCTL_CONN_MAX; i++)
		if (q->conns[i].phase != QC_FREE)
			conn_close(&q->conns[i]);
	if (q->lev != NULL)
		event_free(q->lev);
	if (q->pause_ev != NULL)
		event_free(q->pause_ev);
	(void)close(q->fd);
	/* only our own socket: a newer one at the same path is left alone */
	if (lstat(q->path, &st) == 0 && st.st_dev == q->dev &&
	    st.st_ino == q->ino)
		(void)unlink(q->path);
	free(q);
}
