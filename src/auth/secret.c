/*
 * secret.c - the credentials of auth = inject, fetched afresh for each
 * upstream connection (see secret.h).
 *
 * Files are read synchronously (small, local) and answered from a
 * zero-delay event so the caller is never re-entered.  token_command runs
 * as /bin/sh -c in its own process group, stdout into a non-blocking
 * pipe, stdin on /dev/null, stderr into a second pipe of which only the
 * first line is kept (ERR_LINE_MAX), and shown, escaped, only when the
 * command failed: a helper that worked may have printed the token there
 * too, one that failed says why ("invalid_grant", "not found").  The
 * fetch ends at EOF plus the child's exit, or at
 * token_timeout, when the whole group is killed.  There is no SIGCHLD
 * handler in smtpgate: the child is reaped here, by pid, polling briefly
 * after EOF and once more, blocking, after SIGKILL.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/secret.h"
#include "conf/conf.h"
#include "util/log.h"
#include "util/str.h"

#define SECRET_FILE_MAX		(SECRET_CMD_OUT_MAX + 1)
#define REAP_POLL_USEC		10000	/* after EOF, until the child exits */
#define ERR_LINE_MAX		200	/* token_command's stderr kept */
#define ERR_READS_MAX		64	/* reads of stderr per event */

enum fetch_state {
	FS_DONE,		/* result ready, callback pending */
	FS_RUNNING,		/* command: reading its stdout */
	FS_REAPING		/* command: EOF seen, waiting for its exit */
};

struct secret_fetch {
	enum fetch_state	 state;
	struct event_base	*base;
	secret_fn		 cb;
	void			*arg;
	uint64_t		 id;
	char			 user[CONF_TEXT_MAX];
	int			 is_token;
	char			 keytab[PATH_MAX];	/* "": none */
	char			 principal[CONF_TEXT_MAX];
	int			 ok;
	char			 why[PATH_MAX + 128];
	char			 buf[SECRET_FILE_MAX + 1];
	size_t			 len;
	pid_t			 pid;
	int			 fd;
	int			 efd;		/* the command's stderr */
	char			 errline[ERR_LINE_MAX + 1];
	size_t			 errlen;
	int			 errdone;	/* first line complete */
	unsigned		 timeout;
	struct timeval		 deadline;
	struct event		*ev_read;
	struct event		*ev_err;
	struct event		*ev_timer;
};

static void	fetch_finish(struct secret_fetch *, int, const char *, ...)
		    GW_PRINTF(3, 4);
static void	fetch_deliver(evutil_socket_t, short, void *);
static int	cmd_start(struct secret_fetch *, const char *);
static void	cmd_read(evutil_socket_t, short, void *);
static void	cmd_err_read(evutil_socket_t, short, void *);
static void	cmd_fail(struct secret_fetch *, const char *, ...)
		    GW_PRINTF(2, 3);
static void	cmd_timer(evutil_socket_t, short, void *);
static void	cmd_kill(struct secret_fetch *);
static int	cmd_reaped(struct secret_fetch *, int *);
static void	cmd_result(struct secret_fetch *, int);
static void	fetch_free(struct secret_fetch *);
static int	trim_token(char *, size_t *);
static int	is_space(char);

/* secret_read_file - the first line of path; see secret.h */
int
secret_read_file(const char *path, char *buf, size_t len, char *why,
    size_t wlen)
{
	struct stat	 st;
	ssize_t		 n;
	size_t		 got = 0;
	char		*nl;
	int		 fd;

	/* O_NONBLOCK: a FIFO put there must not hang us in open(2) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		(void)snprintf(why, wlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* checked on the open file: a swap after -t must not slip through */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		(void)snprintf(why, wlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		(void)snprintf(why, wlen, "%s is accessible by group or others; "
		    "chmod 600 %s", path, path);
		goto fail;
	}
	while (got < len - 1) {
		n = read(fd, buf + got, len - 1 - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			(void)snprintf(why, wlen, "%s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (memchr(buf, '\n', got) != NULL)
			break;
	}
	(void)close(fd);
	buf[got] = '\0';
	if ((nl = memchr(buf, '\n', got)) != NULL)
		got = (size_t)(nl - buf);
	else if (got == len - 1) {
		explicit_bzero(buf, len);
		(void)snprintf(why, wlen, "%s: first line longer than %zu "
		    "bytes", path, len - 2);
		return -1;
	}
	buf[got] = '\0';
	/* a NUL inside the line would cut the secret short silently */
	if (strlen(buf) != got) {
		explicit_bzero(buf, len);
		(void)snprintf(why, wlen, "%s: NUL byte in the first line",
		    path);
		return -1;
	}
	if (got > 0 && buf[got - 1] == '\r')
		buf[--got] = '\0';
	if (got == 0) {
		explicit_bzero(buf, len);
		(void)snprintf(why, wlen, "%s: empty first line", path);
		return -1;
	}
	return 0;
fail:
	(void)close(fd);
	explicit_bzero(buf, len);
	return -1;
}

/* secret_check_keytab - see secret.h; checked on the open file */
int
secret_check_keytab(const char *path, char *why, size_t wlen)
{
	struct stat	 st;
	int		 fd, rc = -1;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		(void)snprintf(why, wlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode))
		(void)snprintf(why, wlen, "%s: not a regular file", path);
	else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		(void)snprintf(why, wlen, "%s is accessible by group or others; "
		    "chmod 600 %s", path, path);
	else if (st.st_size == 0)
		(void)snprintf(why, wlen, "%s: empty keytab", path);
	else
		rc = 0;
	(void)close(fd);
	return rc;
}

/* secret_fetch - start fetching up's inject credentials; see secret.h */
struct secret_fetch *
secret_fetch(struct event_base *base, const struct conf_upstream *up,
    uint64_t id, secret_fn cb, void *arg)
{
	struct secret_fetch	*f;
	struct timeval		 now = { 0, 0 };

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->base = base;
	f->cb = cb;
	f->arg = arg;
	f->id = id;
	f->pid = -1;
	f->fd = -1;
	f->efd = -1;
	f->timeout = up->token_timeout;
	(void)snprintf(f->user, sizeof(f->user), "%s", up->username);
	f->is_token = up->password_file[0] == '\0';
	if ((f->ev_timer = evtimer_new(base, cmd_timer, f)) == NULL) {
		free(f);
		return NULL;
	}
	if (up->gssapi_keytab[0] != '\0') {
		(void)str_copy(f->keytab, up->gssapi_keytab, sizeof(f->keytab));
		(void)str_copy(f->principal, up->gssapi_principal,
		    sizeof(f->principal));
		f->ok = secret_check_keytab(f->keytab, f->why,
		    sizeof(f->why)) == 0;
	} else if (up->token_command[0] != '\0') {
		if (cmd_start(f, up->token_command) == 0)
			return f;
		/* cmd_start set the failure; answer it from the loop */
	} else if (secret_read_file(up->password_file[0] != '\0' ?
	    up->password_file : up->token_file, f->buf, sizeof(f->buf),
	    f->why, sizeof(f->why)) == 0) {
		f->len = strlen(f->buf);
		f->ok = 1;
	}
	f->state = FS_DONE;
	evtimer_add(f->ev_timer, &now);
	return f;
}

/* secret_fetch_cancel - no callback; kills a running command */
void
secret_fetch_cancel(struct secret_fetch *f)
{
	if (f == NULL)
		return;
	if (f->pid > 0)
		cmd_kill(f);
	fetch_free(f);
}

static void
fetch_free(struct secret_fetch *f)
{
	if (f->ev_read != NULL)
		event_free(f->ev_read);
	if (f->ev_err != NULL)
		event_free(f->ev_err);
	if (f->ev_timer != NULL)
		event_free(f->ev_timer);
	if (f->fd != -1)
		(void)close(f->fd);
	if (f->efd != -1)
		(void)close(f->efd);
	explicit_bzero(f->buf, sizeof(f->buf));
	explicit_bzero(f->errline, sizeof(f->errline));
	free(f);
}

/* record the outcome and answer from the loop (the timer, at once) */
static void
fetch_finish(struct secret_fetch *f, int ok, const char *fmt, ...)
{
	struct timeval	 now = { 0, 0 };
	va_list		 ap;

	f->ok = ok;
	if (fmt != NULL) {
		va_start(ap, fmt);
		(void)vsnprintf(f->why, sizeof(f->why), fmt, ap);
		va_end(ap);
	}
	if (!ok)
		explicit_bzero(f->buf, sizeof(f->buf));
	if (f->ev_read != NULL)
		event_del(f->ev_read);
	if (f->ev_err != NULL)
		event_del(f->ev_err);
	f->state = FS_DONE;
	evtimer_del(f->ev_timer);
	evtimer_add(f->ev_timer, &now);
}

/* the one place the callback runs; the fetch is gone afterwards */
static void
fetch_deliver(evutil_socket_t fd, short what, void *arg)
{
	struct secret_fetch	*f = arg;
	struct secret_cred	 cred;

	(void)fd;
	(void)what;
	if (!f->ok) {
		f->cb(f->arg, NULL, f->why);
		fetch_free(f);
		return;
	}
	memset(&cred, 0, sizeof(cred));
	cred.user = f->user;
	if (f->keytab[0] != '\0') {
		cred.keytab = f->keytab;
		cred.principal = f->principal;
	} else if (f->is_token)
		cred.token = f->buf;
	else
		cred.password = f->buf;
	f->cb(f->arg, &cred, NULL);
	fetch_free(f);		/* wipes buf */
}

static int
cmd_start(struct secret_fetch *f, const char *cmd)
{
	struct timeval	 tv, now;
	int		 p[2], e[2], devnull;
	pid_t		 pid;

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		(void)snprintf(f->why, sizeof(f->why), "token_command: "
		    "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(e, O_CLOEXEC | O_NONBLOCK) == -1) {
		(void)snprintf(f->why, sizeof(f->why), "token_command: "
		    "pipe: %s", strerror(errno));
		(void)close(p[0]);
		(void)close(p[1]);
		return -1;
	}
	if ((pid = fork()) == -1) {
		(void)snprintf(f->why, sizeof(f->why), "token_command: "
		    "fork: %s", strerror(errno));
		(void)close(p[0]);
		(void)close(p[1]);
		(void)close(e[0]);
		(void)close(e[1]);
		return -1;
	}
	if (pid == 0) {
		/* child: its own group, so the timeout kills grandchildren */
		(void)setpgid(0, 0);
		(void)signal(SIGPIPE, SIG_DFL);
		(void)signal(SIGXFSZ, SIG_DFL);
		devnull = open("/dev/null", O_RDWR);
		if (devnull == -1 || dup2(devnull, 0) == -1 ||
		    dup2(p[1], 1) == -1 || dup2(e[1], 2) == -1)
			_exit(127);
		/* dup2 clears O_CLOEXEC; stdout and stderr must block */
		(void)fcntl(1, F_SETFL, 0);
		(void)fcntl(2, F_SETFL, 0);
		closefrom(3);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	(void)setpgid(pid, pid);	/* both sides: no race with kill */
	(void)close(p[1]);
	(void)close(e[1]);
	f->pid = pid;
	f->fd = p[0];
	f->efd = e[0];
	if ((f->ev_read = event_new(f->base, f->fd, EV_READ | EV_PERSIST,
	    cmd_read, f)) == NULL || (f->ev_err = event_new(f->base, f->efd,
	    EV_READ | EV_PERSIST, cmd_err_read, f)) == NULL) {
		cmd_kill(f);
		(void)snprintf(f->why, sizeof(f->why), "token_command: out "
		    "of memory");
		return -1;
	}
	f->state = FS_RUNNING;
	(void)gettimeofday(&now, NULL);
	tv.tv_sec = f->timeout;
	tv.tv_usec = 0;
	timeradd(&now, &tv, &f->deadline);
	event_add(f->ev_read, NULL);
	event_add(f->ev_err, NULL);
	evtimer_add(f->ev_timer, &tv);
	log_debug("%016" PRIx64 " auth token_command started pid=%ld",
	    f->id, (long)pid);
	return 0;
}

/* kill the command's whole group and reap it */
static void
cmd_kill(struct secret_fetch *f)
{
	int	 st;

	if (f->pid <= 0)
		return;
	(void)kill(-f->pid, SIGKILL);
	(void)kill(f->pid, SIGKILL);
	while (waitpid(f->pid, &st, 0) == -1 && errno == EINTR)
		;
	f->pid = -1;
}

/* 1 if the child has exited (status in *st), else 0 */
static int
cmd_reaped(struct secret_fetch *f, int *st)
{
	pid_t	 r;

	while ((r = waitpid(f->pid, st, WNOHANG)) == -1 && errno == EINTR)
		;
	if (r == 0)
		return 0;
	f->pid = -1;
	if (r == -1)
		*st = -1;
	return 1;
}

static void
cmd_read(evutil_socket_t fd, short what, void *arg)
{
	struct secret_fetch	*f = arg;
	char			 junk[512];
	ssize_t			 n;
	int			 st;

	(void)what;
	for (;;) {
		if (f->len < SECRET_CMD_OUT_MAX)
			n = read(fd, f->buf + f->len, SECRET_CMD_OUT_MAX -
			    f->len);
		else
			n = read(fd, junk, sizeof(junk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1) {
			cmd_kill(f);
			cmd_fail(f, "token_command: read: %s",
			    strerror(errno));
			return;
		}
		if (n == 0)
			break;
		if (f->len >= SECRET_CMD_OUT_MAX) {
			explicit_bzero(junk, sizeof(junk));
			cmd_kill(f);
			cmd_fail(f, "token_command: more than %d bytes "
			    "of output", SECRET_CMD_OUT_MAX);
			return;
		}
		f->len += (size_t)n;
	}
	/* EOF: the child has closed stdout; its exit follows shortly */
	event_del(f->ev_read);
	f->state = FS_REAPING;
	if (cmd_reaped(f, &st)) {
		cmd_result(f, st);
		return;
	}
	{
		struct timeval	 tv = { 0, REAP_POLL_USEC };

		evtimer_del(f->ev_timer);
		evtimer_add(f->ev_timer, &tv);
	}
}

/*
 * The command's stderr, read as it comes so that a chatty helper never
 * blocks on a full pipe: the first line is kept, the rest thrown away.
 */
static void
cmd_err_read(evutil_socket_t fd, short what, void *arg)
{
	struct secret_fetch	*f = arg;
	char			 chunk[512], *nl;
	size_t			 take;
	ssize_t			 n;
	int			 rounds;

	(void)what;
	/* bounded: a helper that floods stderr must not hold the loop */
	for (rounds = 0; rounds < ERR_READS_MAX; rounds++) {
		n = read(fd, chunk, sizeof(chunk));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n <= 0) {
			event_del(f->ev_err);
			return;
		}
		if (f->errdone)
			continue;
		take = (size_t)n;
		if ((nl = memchr(chunk, '\n', take)) != NULL) {
			take = (size_t)(nl - chunk);
			f->errdone = 1;
		}
		if (take > ERR_LINE_MAX - f->errlen) {
			take = ERR_LINE_MAX - f->errlen;
			f->errdone = 1;
		}
		memcpy(f->errline + f->errlen, chunk, take);
		f->errlen += take;
	}
}

/*
 * A failed command: the reason, and the first line of what it wrote to
 * stderr, escaped (it is the helper's text, not ours).
 */
static void
cmd_fail(struct secret_fetch *f, const char *fmt, ...)
{
	char	 vis[ERR_LINE_MAX * 4 + 4];
	size_t	 len;
	va_list	 ap;

	/* what the command wrote just before it ended is still in the pipe */
	if (f->efd != -1 && f->ev_err != NULL)
		cmd_err_read(f->efd, EV_READ, f);
	va_start(ap, fmt);
	(void)vsnprintf(f->why, sizeof(f->why), fmt, ap);
	va_end(ap);
	if (f->errlen > 0 && f->errline[f->errlen - 1] == '\r')
		f->errlen--;
	if (f->errlen > 0) {
		(void)str_vis(vis, sizeof(vis), f->errline, f->errlen);
		len = strlen(f->why);
		(void)snprintf(f->why + len, sizeof(f->why) - len,
		    "; stderr: %s", vis);
	}
	explicit_bzero(f->errline, sizeof(f->errline));
	fetch_finish(f, 0, NULL);
}

/* the exit status and output of a finished command */
static void
cmd_result(struct secret_fetch *f, int st)
{
	if (st == -1) {
		cmd_fail(f, "token_command: lost the child");
		return;
	}
	if (WIFSIGNALED(st)) {
		cmd_fail(f, "token_command: killed by signal %d",
		    WTERMSIG(st));
		return;
	}
	if (WEXITSTATUS(st) != 0) {
		cmd_fail(f, "token_command: exit status %d",
		    WEXITSTATUS(st));
		return;
	}
	if (trim_token(f->buf, &f->len) == -1) {
		cmd_fail(f, "token_command: output is not one line "
		    "with a token");
		return;
	}
	log_debug("%016" PRIx64 " auth token_command done", f->id);
	fetch_finish(f, 1, NULL);
}

/* timer: the answer is ready, a reap poll, or token_timeout */
static void
cmd_timer(evutil_socket_t fd, short what, void *arg)
{
	struct secret_fetch	*f = arg;
	struct timeval		 now, left;
	int			 st;

	if (f->state == FS_DONE) {
		fetch_deliver(fd, what, f);
		return;
	}
	(void)gettimeofday(&now, NULL);
	if (f->state == FS_REAPING && cmd_reaped(f, &st)) {
		cmd_result(f, st);
		return;
	}
	if (timercmp(&now, &f->deadline, <)) {
		/* still reaping within the deadline: poll again */
		timersub(&f->deadline, &now, &left);
		if (f->state == FS_REAPING && (left.tv_sec > 0 ||
		    left.tv_usec > REAP_POLL_USEC)) {
			left.tv_sec = 0;
			left.tv_usec = REAP_POLL_USEC;
		}
		evtimer_add(f->ev_timer, &left);
		return;
	}
	cmd_kill(f);
	cmd_fail(f, "token_command: no answer within %us, killed",
	    f->timeout);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The token is the output with surrounding blanks removed; anything that
 * is still more than one line is a broken helper, not a token.
 */
static int
trim_token(char *buf, size_t *len)
{
	size_t	 s = 0, e = *len;

	buf[e] = '\0';
	while (s < e && is_space(buf[s]))
		s++;
	while (e > s && is_space(buf[e - 1]))
		e--;
	if (e == s || memchr(buf + s, '\n', e - s) != NULL ||
	    memchr(buf + s, '\r', e - s) != NULL ||
	    memchr(buf + s, '\0', e - s) != NULL) {
		explicit_bzero(buf, *len);
		return -1;
	}
	memmove(buf, buf + s, e - s);
	explicit_bzero(buf + (e - s), *len - (e - s));
	buf[e - s] = '\0';
	*len = e - s;
	return 0;
}
