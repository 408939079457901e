/*
 * test_relay.c - the relay (src/relay/relay.c) end to end, in process,
 * through relay.h's public API only: a configuration loaded with
 * conf_load() from a small INI file, a client on one end of a socketpair
 * handed to relay_session_start(), and a scripted upstream SMTP server on
 * a loopback listener inside the same event_base.  The upstream records
 * every byte it received, so the tests assert what the upstream saw, not
 * only what the client was told.  Nothing here knows relay.c's internals:
 * the test is what shows a restructuring of relay.c changed nothing.
 *
 * No sleeps: every wait drives the loop until a condition holds or a
 * deadline passes (then the test fails, naming what it waited for).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "relay/relay.h"
#include "util/log.h"

#define WAIT_SECONDS	10	/* per wait; generous for valgrind */
#define MAX_CONNS	4
#define RAW_MAX		65536

/* ------------------------------------------------------------------ */
/* the scripted upstream */

/*
 * One step: wait for a line starting with expect, then send reply.
 *   expect NULL	the greeting, sent on accept (first step only)
 *   expect "."		the message body: everything up to CRLF.CRLF
 *   reply NULL		close the connection instead of answering
 *   reply HOLD		answer nothing until the test calls up_release()
 *   THEN_CLOSE		(a step of its own) close right after the reply
 *			of the step before it, unasked: a server dropping
 *			an idle client
 * After the last step a QUIT gets 221 and the connection closes; any
 * other line is a mismatch.
 */
struct step {
	const char	*expect;
	const char	*reply;
};
#define END	{ NULL, NULL }
static const char HOLD[] = "(held)";
static const char CLOSE[] = "(close)";
#define THEN_CLOSE { NULL, CLOSE }

struct ups;

struct fconn {
	struct ups		*u;
	int			 fd;
	struct event		*ev;
	const struct step	*script;
	size_t			 pc;
	int			 done;		/* script ended */
	char			 in[RAW_MAX];
	size_t			 inlen;
	char			 raw[RAW_MAX];	/* every byte received */
	size_t			 rawlen;
	char			 body[RAW_MAX];	/* the last body, no dot */
	size_t			 bodylen;
	int			 quit;		/* got QUIT */
	int			 held;		/* a HOLD step waits */
	int			 closed;
};

struct ups {
	struct event_base	*base;
	int			 lfd;
	struct event		*lev;
	unsigned short		 port;
	const struct step	*scripts[MAX_CONNS];
	struct fconn		 conns[MAX_CONNS];
	int			 accepts;
	char			 mismatch[512];
};

static void
up_send(struct fconn *c, const char *s)
{
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;

	/* replies are small: the socket buffer takes them whole */
	while (off < len) {
		n = send(c->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			return;	/* the relay went away: its test says */
		off += (size_t)n;
	}
}

static void
up_close(struct fconn *c)
{
	if (c->fd == -1)
		return;
	event_free(c->ev);
	c->ev = NULL;
	close(c->fd);
	c->fd = -1;
	c->closed = 1;
}

static void
up_consume(struct fconn *c, size_t n)
{
	memmove(c->in, c->in + n, c->inlen - n);
	c->inlen -= n;
}

static void
up_mismatch(struct fconn *c, const char *want, const char *got,
    size_t gotlen)
{
	struct ups	*u = c->u;

	if (u->mismatch[0] == '\0')
		(void)snprintf(u->mismatch, sizeof(u->mismatch),
		    "conn %d step %zu: expected '%s', got '%.*s'",
		    (int)(c - u->conns), c->pc, want, (int)gotlen, got);
}

/* up_answer - the reply of a matched step (or close) */
static void
up_answer(struct fconn *c, const struct step *s)
{
	c->pc++;
	if (c->script[c->pc].expect == NULL &&
	    c->script[c->pc].reply == NULL)
		c->done = 1;
	if (s->reply == NULL)
		up_close(c);
	else if (s->reply == HOLD)
		c->held = 1;
	else
		up_send(c, s->reply);
	if (c->script[c->pc].expect == NULL &&
	    c->script[c->pc].reply == CLOSE) {
		c->pc++;
		c->done = 1;
		up_close(c);
	}
}

/* up_run - match what has arrived against the script */
static void
up_run(struct fconn *c)
{
	const struct step	*s;
	char			*nl, *end;
	size_t			 ll;

	while (c->fd != -1 && c->inlen > 0 && !c->held) {
		s = &c->script[c->pc];
		if (!c->done && s->expect != NULL &&
		    strcmp(s->expect, ".") == 0) {
			if (c->inlen >= 3 && memcmp(c->in, ".\r\n", 3) == 0)
				end = c->in - 2;	/* an empty body */
			else if ((end = memmem(c->in, c->inlen, "\r\n.\r\n",
			    5)) == NULL)
				return;
			ll = (size_t)(end - c->in) + 2;
			memcpy(c->body, c->in, ll);
			c->bodylen = ll;
			up_consume(c, ll + 3);
			up_answer(c, s);
			continue;
		}
		if ((nl = memmem(c->in, c->inlen, "\r\n", 2)) == NULL)
			return;
		ll = (size_t)(nl - c->in);
		if (c->done) {
			if (ll == 4 && strncasecmp(c->in, "QUIT", 4) == 0) {
				c->quit = 1;
				up_consume(c, ll + 2);
				up_send(c, "221 2.0.0 up says bye\r\n");
				up_close(c);
				return;
			}
			up_mismatch(c, "(end of script)", c->in, ll);
			up_consume(c, ll + 2);
			up_send(c, "500 5.5.1 not in the script\r\n");
			continue;
		}
		if (ll < strlen(s->expect) ||
		    strncmp(c->in, s->expect, strlen(s->expect)) != 0) {
			up_mismatch(c, s->expect, c->in, ll);
			up_consume(c, ll + 2);
			up_send(c, "500 5.5.1 not in the script\r\n");
			continue;
		}
		up_consume(c, ll + 2);
		up_answer(c, s);
	}
}

static void
up_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct fconn	*c = arg;
	ssize_t		 n;

	(void)what;
	n = recv(fd, c->in + c->inlen, sizeof(c->in) - c->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		up_close(c);
		return;
	}
	assert_true(c->rawlen + (size_t)n <= sizeof(c->raw));
	memcpy(c->raw + c->rawlen, c->in + c->inlen, (size_t)n);
	c->rawlen += (size_t)n;
	c->inlen += (size_t)n;
	up_run(c);
}

static void
up_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ups	*u = arg;
	struct fconn	*c;
	int		 fd;

	(void)what;
	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	if (u->accepts >= MAX_CONNS || u->scripts[u->accepts] == NULL) {
		/* more connections than the test planned: count, refuse */
		u->accepts++;
		(void)send(fd, "421 4.3.2 no script\r\n", 21, MSG_NOSIGNAL);
		close(fd);
		return;
	}
	c = &u->conns[u->accepts];
	c->script = u->scripts[u->accepts];
	u->accepts++;
	c->u = u;
	c->fd = fd;
	assert_int_equal(evutil_make_socket_nonblocking(fd), 0);
	c->ev = event_new(u->base, fd, EV_READ | EV_PERSIST, up_on_read, c);
	assert_non_null(c->ev);
	assert_int_equal(event_add(c->ev, NULL), 0);
	if (c->script[0].expect == NULL && c->script[0].reply != NULL) {
		c->pc = 1;
		up_send(c, c->script[0].reply);
	}
}

/* ups_listen - a loopback listener; 0 scripts means a closed port */
static void
ups_listen(struct ups *u, struct event_base *base)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 i;

	u->base = base;
	for (i = 0; i < MAX_CONNS; i++)
		u->conns[i].fd = -1;
	u->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(u->lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(u->lfd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	assert_int_equal(listen(u->lfd, 8), 0);
	assert_int_equal(getsockname(u->lfd, (struct sockaddr *)&sin, &sl), 0);
	u->port = ntohs(sin.sin_port);
	if (u->scripts[0] == NULL) {
		/* nobody listens there any more: connect is refused */
		close(u->lfd);
		u->lfd = -1;
		return;
	}
	assert_int_equal(evutil_make_socket_nonblocking(u->lfd), 0);
	u->lev = event_new(base, u->lfd, EV_READ | EV_PERSIST, up_on_accept,
	    u);
	assert_non_null(u->lev);
	assert_int_equal(event_add(u->lev, NULL), 0);
}

static void
ups_free(struct ups *u)
{
	int	i;

	for (i = 0; i < MAX_CONNS; i++)
		up_close(&u->conns[i]);
	if (u->lev != NULL)
		event_free(u->lev);
	if (u->lfd != -1)
		close(u->lfd);
}

/* up_release - the held reply of connection i, then go on */
static void
up_release(struct ups *u, int i, const char *reply)
{
	struct fconn	*c = &u->conns[i];

	assert_int_equal(c->held, 1);
	c->held = 0;
	up_send(c, reply);
	up_run(c);
}

/* ------------------------------------------------------------------ */
/* the fixture: conf, env, session, the client end */

struct t {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gw_conf		*conf;
	struct relay_env	*env;
	struct ups		 up;
	char			 dir[64];
	int			 cfd;		/* the client's end */
	struct event		*cev;
	char			 cin[RAW_MAX];
	size_t			 cinlen;
	int			 ceof;
	int			 done;		/* relay_done_fn calls */
	int			 nsessions;	/* t_session calls */
	int			 wconn;		/* what wait_*() wait for */
	const char		*wraw;
	unsigned		 widle;
	int			 timed_out;
	unsigned		 base_count;	/* left by a failed test */
	struct event		*timer;
	char			 conferr[1024];
	char			 sections[512];	/* more sections for t_conf */
};

static void
cl_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct t	*t = arg;
	ssize_t		 n;

	(void)what;
	assert_true(t->cinlen < sizeof(t->cin));
	n = recv(fd, t->cin + t->cinlen, sizeof(t->cin) - t->cinlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		t->ceof = 1;
		event_del(t->cev);
		return;
	}
	t->cinlen += (size_t)n;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct t	*t = arg;

	(void)fd;
	(void)what;
	t->timed_out = 1;
}

/* run_until - drive the loop until pred(t) or WAIT_SECONDS pass */
static int
run_until(struct t *t, int (*pred)(struct t *))
{
	struct timeval	 tv = { WAIT_SECONDS, 0 };

	t->timed_out = 0;
	assert_int_equal(evtimer_add(t->timer, &tv), 0);
	while (!pred(t) && !t->timed_out)
		(void)event_base_loop(t->base, EVLOOP_ONCE);
	evtimer_del(t->timer);
	return pred(t);
}

static void
on_done(void *arg, const struct sockaddr *peer)
{
	struct t	*t = arg;

	assert_non_null(peer);
	t->done++;
}

static void
conf_err(void *arg, const char *msg)
{
	struct t	*t = arg;

	if (t->conferr[0] == '\0')
		(void)snprintf(t->conferr, sizeof(t->conferr), "%s", msg);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE	*f;

	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/*
 * t_conf - load the configuration: one listener "test" relaying to
 * upstream "up" at the scripted server over tls = none; listener_extra
 * and upstream_extra are added lines ("key = value\n"), t->sections
 * more sections at the end.  Returns
 * conf_load()'s error count (the first error in t->conferr).
 */
static int
t_conf(struct t *t, const char *listener_extra, const char *upstream_extra)
{
	char	 path[128], text[2048];
	int	 n;

	(void)snprintf(path, sizeof(path), "%s/smtpgate.ini", t->dir);
	n = snprintf(text, sizeof(text),
	    "[gateway]\n"
	    "hostname = gw.test\n"
	    /* a refused AUTH answers at once (the delay is not tested) */
	    "auth_fail_delay_max = 0s\n"
	    "[listener test]\n"
	    "listen = 127.0.0.1:2525\n"
	    "allow = 127.0.0.0/8\n"
	    "upstream = up\n"
	    "%s"
	    "[upstream up]\n"
	    "host = 127.0.0.1\n"
	    "port = %u\n"
	    "tls = none\n"
	    "helo_name = gw.test\n"
	    "connect_timeout = 5\n"
	    "%s"
	    "%s"
	    "%s"
	    "%s",
	    listener_extra ? listener_extra : "", t->up.port,
	    upstream_extra != NULL && strstr(upstream_extra,
	    "command_timeout") != NULL ? "" : "command_timeout = 10\n",
	    /*
	     * One upstream connection per session, ended by QUIT, unless a
	     * test is about the pool: the scripts are per connection.
	     */
	    upstream_extra != NULL && strstr(upstream_extra, "pool") != NULL ?
	    "" : "pool = no\n",
	    upstream_extra ? upstream_extra : "", t->sections);
	assert_true(n > 0 && (size_t)n < sizeof(text));
	write_file(path, text, 0600);
	return conf_load(path, &t->conf, conf_err, t);
}

static int
got_banner(struct t *t)
{
	return memmem(t->cin, t->cinlen, "\r\n", 2) != NULL || t->ceof;
}

/* t_env - the relay_env of t->conf */
static void
t_env(struct t *t)
{
	char			 err[512];

	err[0] = '\0';
	t->env = relay_env_new(t->base, t->dns, t->conf, err, sizeof(err));
	if (t->env == NULL)
		fail_msg("relay_env_new: %s", err);
}

/*
 * t_session - a client session on a socketpair, to its banner.  A session
 * before it (on the same env) must have ended: its client end is closed
 * here.  Idle pooled connections count in relay_session_count().
 */
static void
t_session(struct t *t)
{
	struct sockaddr_in	 peer;
	unsigned		 before;
	int			 sv[2];

	if (t->cfd != -1) {
		event_free(t->cev);
		t->cev = NULL;
		close(t->cfd);
		t->cfd = -1;
	}
	t->cinlen = 0;
	t->ceof = 0;
	before = relay_session_count();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[0]), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[1]), 0);
	t->cfd = sv[1];
	t->cev = event_new(t->base, t->cfd, EV_READ | EV_PERSIST, cl_on_read,
	    t);
	assert_non_null(t->cev);
	assert_int_equal(event_add(t->cev, NULL), 0);
	memset(&peer, 0, sizeof(peer));
	peer.sin_family = AF_INET;
	peer.sin_port = htons(40000);
	peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(relay_session_start(t->env, &t->conf->listeners[0],
	    sv[0], (struct sockaddr *)&peer, sizeof(peer), NULL, on_done, t),
	    0);
	t->nsessions++;
	assert_int_equal(relay_session_count(), before + 1);
	if (!run_until(t, got_banner))
		fail_msg("no banner from the relay");
	assert_true(t->cinlen >= 4 && memcmp(t->cin, "220 ", 4) == 0);
	t->cinlen = 0;
}

/* t_start - the relay_env and its first session */
static void
t_start(struct t *t)
{
	t_env(t);
	t_session(t);
}

/* the fixture of the running test, for teardown() after a failure */
static struct t	*cur;

/*
 * Log capture: while a test looks at the relay's log lines, stderr goes
 * into a file of its directory at level info; log_collect() (or the
 * teardown of a failed test) puts stderr and the level back.
 */
static int	saved_stderr = -1;

static void
log_level_default(void)
{
	log_setlevel(getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
}

static void
log_restore(void)
{
	if (saved_stderr == -1)
		return;
	(void)fflush(stderr);
	(void)dup2(saved_stderr, STDERR_FILENO);
	(void)close(saved_stderr);
	saved_stderr = -1;
	log_level_default();
}

static void
log_capture(const char *dir)
{
	char	 path[128];
	int	 fd;

	(void)snprintf(path, sizeof(path), "%s/log", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	(void)fflush(stderr);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	(void)close(fd);
	log_setlevel(GW_LOG_INFO, 0);
}

/* log_collect - end the capture; what was logged into buf */
static void
log_collect(const char *dir, char *buf, size_t len)
{
	char	 path[128];
	FILE	*f;
	size_t	 n;

	log_restore();
	(void)snprintf(path, sizeof(path), "%s/log", dir);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	(void)fclose(f);
}

/* log_has - the captured log has a line with every one of the strings */
static int
log_has(const char *log, const char *a, const char *b)
{
	const char	*p = log, *nl;
	size_t		 ll;
	char		 line[2048];

	for (; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p);
		ll = (size_t)(nl - p) < sizeof(line) - 1 ? (size_t)(nl - p) :
		    sizeof(line) - 1;
		memcpy(line, p, ll);
		line[ll] = '\0';
		if (strstr(line, a) != NULL && (b == NULL ||
		    strstr(line, b) != NULL))
			return 1;
	}
	return 0;
}

static void
rm_dir(const char *dir)
{
	char	 cmd[256];

	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/*
 * teardown - a failed test leaves its loop and session as they were
 * (freeing them could hang on what failed), but not its files in /tmp.
 */
static int
teardown(void **state)
{
	(void)state;
	log_restore();
	if (cur != NULL)
		rm_dir(cur->dir);
	cur = NULL;
	return 0;
}

/* t_new - the event base and the scripted upstream (scripts NULL-ended) */
static struct t *
t_new(const struct step *s0, const struct step *s1)
{
	struct t	*t;

	t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->cfd = -1;
	t->up.lfd = -1;
	t->base_count = relay_session_count();
	(void)snprintf(t->dir, sizeof(t->dir), "/tmp/test_relay.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	cur = t;
	t->base = event_base_new();
	assert_non_null(t->base);
	t->dns = evdns_base_new(t->base, 0);
	assert_non_null(t->dns);
	t->timer = evtimer_new(t->base, on_deadline, t);
	assert_non_null(t->timer);
	t->up.scripts[0] = s0;
	t->up.scripts[1] = s0 != NULL ? s1 : NULL;
	ups_listen(&t->up, t->base);
	return t;
}

static int
all_gone(struct t *t)
{
	return relay_session_count() == t->base_count;
}

/*
 * t_free - end the session (the client hangs up if it has not), wait until
 * the relay has let go of both sides, and free everything: under ASan and
 * valgrind a leak in the relay shows here.  Idle pooled connections hold
 * the env: relay_env_shutdown() makes them QUIT (as SIGTERM does), and a
 * connection given back after it is closed too.
 */
static void
t_free(struct t *t)
{
	if (t->cfd != -1) {
		event_free(t->cev);
		close(t->cfd);
	}
	if (t->env != NULL) {
		relay_env_shutdown(t->env);
		if (!run_until(t, all_gone))
			fail_msg("the relay kept %u sessions",
			    relay_session_count());
		relay_env_unref(t->env);
	}
	if (t->conf != NULL)
		conf_unref(t->conf);
	ups_free(&t->up);
	event_free(t->timer);
	evdns_base_free(t->dns, 0);
	event_base_free(t->base);
	rm_dir(t->dir);
	cur = NULL;
	free(t);
}

/* cl_send - the client writes a command (or body) */
static void
cl_send(struct t *t, const char *s)
{
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;

	while (off < len) {
		n = send(t->cfd, s + off, len - off, MSG_NOSIGNAL);
		assert_true(n > 0);
		off += (size_t)n;
	}
}

/* reply_end - length of the first complete reply in cin, or 0 */
static size_t
reply_end(const struct t *t)
{
	const char	*p = t->cin, *end = t->cin + t->cinlen, *nl;

	while (p < end && (nl = memmem(p, (size_t)(end - p), "\r\n", 2)) !=
	    NULL) {
		if (nl - p < 4 || p[3] != '-')
			return (size_t)(nl + 2 - t->cin);
		p = nl + 2;
	}
	return 0;
}

static int
got_reply(struct t *t)
{
	return reply_end(t) > 0 || t->ceof || t->up.mismatch[0] != '\0';
}

/*
 * cl_reply - wait for the relay's next reply; the whole reply (every line,
 * CRLFs kept) into out.  Fails on a timeout, on the relay hanging up, and
 * on a line the upstream's script did not expect.
 */
static void
cl_reply(struct t *t, char *out, size_t len)
{
	size_t	 n;

	if (!run_until(t, got_reply))
		fail_msg("no reply from the relay within %d s", WAIT_SECONDS);
	if (t->up.mismatch[0] != '\0')
		fail_msg("upstream: %s", t->up.mismatch);
	if ((n = reply_end(t)) == 0)
		fail_msg("the relay closed without a reply (got '%.*s')",
		    (int)t->cinlen, t->cin);
	assert_true(n < len);
	memcpy(out, t->cin, n);
	out[n] = '\0';
	memmove(t->cin, t->cin + n, t->cinlen - n);
	t->cinlen -= n;
}

/* cmd - send a command and check the reply is exactly want */
static void
cmd(struct t *t, const char *line, const char *want)
{
	char	 got[4096];

	cl_send(t, line);
	cl_reply(t, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("%.*s: got '%s', want '%s'", (int)strcspn(line, "\r"),
		    line, got, want);
}

/* cmd_prefix - the same, but only the reply's start is checked */
static void
cmd_prefix(struct t *t, const char *line, const char *want)
{
	char	 got[4096];

	cl_send(t, line);
	cl_reply(t, got, sizeof(got));
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("%.*s: got '%s', want '%s...'",
		    (int)strcspn(line, "\r"), line, got, want);
}

static int
upstream_quit(struct t *t)
{
	return t->up.conns[0].closed;
}

/* raw - what upstream connection i received, as a string */
static const char *
raw(struct t *t, int i)
{
	struct fconn	*c = &t->up.conns[i];

	assert_true(c->rawlen < sizeof(c->raw));
	c->raw[c->rawlen] = '\0';
	return c->raw;
}

static void
assert_raw(struct t *t, int i, const char *want)
{
	if (strcmp(raw(t, i), want) != 0)
		fail_msg("upstream conn %d saw:\n'%s'\nwant:\n'%s'", i,
		    raw(t, i), want);
}

/* ------------------------------------------------------------------ */
/* scripts and messages */

#define GREET	{ NULL, "220 up.test ESMTP scripted\r\n" }
#define EHLO	{ "EHLO gw.test", "250-up.test\r\n250-PIPELINING\r\n" \
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n" }
/* the pool's give-back RSET goes at once only without PIPELINING */
#define EHLO_NP	{ "EHLO gw.test", "250-up.test\r\n" \
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n" }
#define EHLO_DSN { "EHLO gw.test", "250-up.test\r\n250-SIZE 1000000\r\n" \
		    "250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n" }

#define MSG	"Subject: one\r\n" \
		"From: a@src.test\r\n" \
		"\r\n" \
		"line one\r\n" \
		"..a dot-stuffed line\r\n" \
		"\r\n" \
		"last line\r\n"
/* the same as the upstream sees it: still dot-stuffed on the wire */
#define MSG_UP	MSG

#define UP_OK	"250 2.0.0 Ok: queued as UP-4711\r\n"
#define CL_OK	"250 2.0.0 Ok: queued as UP-4711\r\n"

static void
ehlo(struct t *t)
{
	char	 got[4096];

	cl_send(t, "EHLO client.test\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "250-", 4) == 0);
}

static void
one_message(struct t *t, const char *ok)
{
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", ok);
}

/* ------------------------------------------------------------------ */
/* the cases */

static int
upstream_holds(struct t *t)
{
	return t->up.conns[0].held || t->up.mismatch[0] != '\0';
}

/*
 * One message: the upstream sees exactly the commands and the body the
 * client sent, and the client's final reply is the upstream's own text,
 * given only after the upstream answered the dot (lockstep: while the
 * upstream holds its answer, the client is told nothing).
 */
static void
test_one_message(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", HOLD },
		END
	};
	struct t	*t;
	char		 got[1024];
	int		 i;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	/* the upstream is not opened before MAIL */
	assert_int_equal(t->up.accepts, 0);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, 1);
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, MSG ".\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("the body never reached the upstream");
	assert_string_equal(t->up.mismatch, "");
	/* whatever is ready runs; the client still has no answer */
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);
	up_release(&t->up, 0, UP_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n"
	    MSG_UP ".\r\n");
	assert_int_equal(t->up.conns[0].bodylen, strlen(MSG_UP));
	assert_memory_equal(t->up.conns[0].body, MSG_UP, strlen(MSG_UP));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	/* the upstream session ends with QUIT, not a dropped connection */
	assert_true(run_until(t, upstream_quit));
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	t_free(t);
}

/* two transactions in one session: one upstream connection carries both */
static void
test_two_transactions_one_connection(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 2.0.0 first\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 2.0.0 second\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, s);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	/* no RSET after a completed transaction, no second EHLO */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a 550 to RCPT reaches the client with the upstream's enhanced code */
static void
test_rcpt_550_passed(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<nobody@dst.test>",
		    "550 5.1.1 <nobody@dst.test>: no such user here\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<nobody@dst.test>\r\n",
	    "550 5.1.1 <nobody@dst.test>: no such user here\r\n");
	/* the transaction goes on for the accepted recipient */
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A transient refusal of MAIL: the client gets a 4xx and no transaction
 * opens (RCPT then is out of sequence); nothing reaches RCPT or DATA
 * upstream.  The next MAIL is accepted: on the same connection after a
 * 452, on a new one after a 421 (which ends the upstream session).
 */
static void
mail_refused(const char *upreply, const char *want, int new_conn)
{
	const struct step s0[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", upreply },
		{ new_conn ? NULL : "MAIL FROM:<c@src.test>",
		    new_conn ? NULL : "250 2.1.0 Sender ok\r\n" },
		END
	};
	const struct step s1[] = {
		GREET, EHLO,
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	struct t	*t;

	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", want);
	cmd_prefix(t, "RCPT TO:<b@dst.test>\r\n", "503 ");
	cmd_prefix(t, "DATA\r\n", "503 ");
	assert_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, new_conn ? 2 : 1);
	if (new_conn)
		assert_int_equal(t->up.conns[0].closed, 1);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

static void
test_mail_452(void **state)
{
	(void)state;
	mail_refused("452 4.3.1 Insufficient system storage\r\n",
	    "452 4.3.1 Insufficient system storage\r\n", 0);
}

static void
test_mail_421(void **state)
{
	(void)state;
	/* 421 ends the upstream session: the failure class's 451 */
	mail_refused("421 4.3.2 Service shutting down\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n", 1);
}

/*
 * The upstream takes the body and closes before its final reply: the
 * message was not accepted, so the client gets 451 and never 250.
 */
static void
test_close_after_dot(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", NULL },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, MSG ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got,
	    "451 4.4.2 Upstream connection lost (closed)\r\n");
	/* the whole body did reach the upstream before it closed */
	assert_int_equal(t->up.conns[0].bodylen, strlen(MSG_UP));
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_null(memmem(t->cin, t->cinlen, "250 ", 4));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * An upstream without enhanced codes (aiosmtpd, Exim): we advertise
 * ENHANCEDSTATUSCODES, so each reply gets the code that fits, its text
 * kept.
 */
static void
test_bare_replies(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 sender fine\r\n" },
		{ "RCPT TO:<nobody@dst.test>", "550 no such user\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 rcpt fine\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", "250 queued as BARE1\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 sender fine\r\n");
	cmd(t, "RCPT TO:<nobody@dst.test>\r\n", "550 5.0.0 no such user\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 rcpt fine\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 queued as BARE1\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A 421 to RCPT ends the upstream session: the client gets a 4xx for
 * that recipient, nothing is acknowledged, and the next MAIL is carried
 * by a new connection.
 */
static void
test_rcpt_421(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "421 4.4.2 idle too long\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cl_send(t, "RCPT TO:<b@dst.test>\r\n");
	cl_reply(t, got, sizeof(got));
	if (got[0] != '4')
		fail_msg("RCPT: got '%s', want a 4xx", got);
	assert_string_equal(got, "451 4.4.0 Upstream refused the session "
	    "(rejected)\r\n");
	/* no recipient: DATA is refused by the gateway itself */
	cmd_prefix(t, "DATA\r\n", "5");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n");
	cmd_prefix(t, "RSET\r\n", "250 ");
	one_message(t, CL_OK);
	assert_int_equal(t->up.accepts, 2);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* nobody listens at the upstream's port: 451 4.4.1 at MAIL */
static void
test_unreachable(void **state)
{
	struct t	*t;

	(void)state;
	t = t_new(NULL, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.1 Upstream unreachable (connect)\r\n");
	cmd_prefix(t, "RCPT TO:<b@dst.test>\r\n", "503 ");
	/* the session goes on: the client may try again */
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.1 Upstream unreachable (connect)\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* SIZE and the DSN parameters go upstream when it offers them */
static void
test_params_offered(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_DSN,
		{ "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1",
		    "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
		    "ORCPT=rfc822;b@dst.test", "250 2.1.5 Recipient ok\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n",
	    "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n", "250 2.1.5 Recipient ok\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n"
	    "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* ... and are dropped when it does not (DSN as RFC 3461 4 says) */
static void
test_params_dropped(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test> SIZE=100 RET=HDRS ENVID=e1\r\n",
	    "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;b@dst.test\r\n", "250 2.1.5 Recipient ok\r\n");
	/* exact lines: no parameter at all, not even a trailing space */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a client RSET inside a transaction resets the upstream's too */
static void
test_rset_reaches_upstream(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "RSET", "250 2.0.0 reset\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<d@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "RSET\r\n", "250 ");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<d@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	assert_int_equal(t->up.accepts, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RSET\r\n"
	    "MAIL FROM:<c@src.test>\r\nRCPT TO:<d@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

static int
client_closed(struct t *t)
{
	return t->ceof;
}

/*
 * relay_drain_all in the middle of a transaction: the transaction ends
 * normally (the upstream's 250 reaches the client), then the session
 * ends with 421 and the upstream gets QUIT.
 */
static void
test_drain_after_transaction(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	relay_drain_all();
	assert_int_equal(t->done, 0);
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, client_closed));
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	assert_int_equal(t->up.conns[0].quit, 1);
	t_free(t);
}

/* relay_drain_all on an idle session: 421 at once, the session ends */
static void
test_drain_idle(void **state)
{
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(NULL, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	relay_drain_all();
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, client_closed));
	assert_true(run_until(t, all_gone));
	assert_int_equal(t->done, 1);
	t_free(t);
}

/*
 * A client that pipelines MAIL, RCPT and DATA in one write: the relay
 * still runs them one at a time upstream, and the replies come back in
 * order, each the upstream's own.
 */
static void
test_pipelined(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient b ok\r\n" },
		{ "RCPT TO:<x@dst.test>", "450 4.2.1 x is busy\r\n" },
		{ "RCPT TO:<c@dst.test>", "250 2.1.5 Recipient c ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nRCPT TO:<c@dst.test>\r\nDATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 Recipient b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "450 4.2.1 x is busy\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 Recipient c ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cmd(t, MSG ".\r\n", CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nRCPT TO:<c@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

static void	wait_raw(struct t *, int, const char *);
static void	wait_closed(struct t *, int);


/*
 * RFC 2920 towards the upstream: the client's batch goes upstream as one
 * batch.  The upstream answers nothing before DATA is in, so a relay
 * that sent one command at a time would stall here; every reply the
 * client gets is the upstream's, in order.
 */
static void
test_pipelined_upstream_batch(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "RCPT TO:<x@dst.test>", "" },
		{ "DATA", "250 2.1.0 Sender ok\r\n250 2.1.5 b ok\r\n"
		    "450 4.2.1 x is busy\r\n354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	/* RSET answered here: the upstream is opened by the MAIL below */
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "RCPT TO:<x@dst.test>\r\nDATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "450 4.2.1 x is busy\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * RFC 2920's rules: a refused MAIL with RCPT and DATA behind it.  Both
 * reached the upstream, which answers them 503; the client gets exactly
 * those, and its session is back outside a transaction.
 */
static void
test_pipelined_mail_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", "550 5.7.1 Sender refused\r\n"
		    "503 5.5.1 Error: need MAIL command\r\n"
		    "503 5.5.1 Error: need RCPT command\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.7.1 Sender refused\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "503 5.5.1 Error: need MAIL command\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "503 5.5.1 Error: need RCPT command\r\n");
	/* no transaction: a new MAIL is taken */
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* a 5xx to DATA after pipelined RCPTs: the client's DATA gets it */
static void
test_pipelined_data_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", "250 2.1.0 Sender ok\r\n250 2.1.5 b ok\r\n"
		    "554 5.7.1 No data today\r\n" },
		{ "RSET", "250 2.0.0 Ok\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.5 b ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.7.1 No data today\r\n");
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* the upstream goes away under a batch: every command gets a 4xx */
static void
test_pipelined_upstream_lost(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "" },
		{ "RCPT TO:<b@dst.test>", "" },
		{ "DATA", NULL },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cl_send(t, "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n"
	    "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	/* the session goes on */
	cmd(t, "NOOP\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The upstream refuses DATA itself.  Streamed (the default): the refusal
 * is the client's answer to DATA, and no body is sent at all.
 */
static void
test_data_refused(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd(t, "DATA\r\n", "554 5.5.1 No valid recipients\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * stream_data = no: the client, which already sent its body to the
 * gateway, gets the upstream's refusal of DATA after the dot, never a
 * 250, and the upstream never sees the body.
 */
static void
test_data_refused_spooled(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, "stream_data = no\n", NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	/* spooled: the upstream has not seen DATA yet */
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n");
	cl_send(t, MSG ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.5.1 No valid recipients\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The upstream refuses the DATA command itself: its MAIL and RCPT stand,
 * so the next MAIL of the session is preceded by RSET (else a Postfix
 * answers 503 nested MAIL).
 */
static void
test_data_refused_then_mail(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.5.1 No valid recipients\r\n" },
		{ "RSET", "250 2.0.0 reset\r\n" },
		{ "MAIL FROM:<c@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd(t, "DATA\r\n", "554 5.5.1 No valid recipients\r\n");
	/* the session's transaction stands too: MAIL needs RSET first */
	cmd_prefix(t, "MAIL FROM:<c@src.test>\r\n", "503 ");
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd(t, "MAIL FROM:<c@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "RSET\r\nMAIL FROM:<c@src.test>\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * Streamed DATA: the client's 354 waits for the upstream's, and the body
 * reaches the upstream while the client still sends it (before its dot).
 */
static void
test_stream_354_after_upstream(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];
	int		 i;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);	/* no 354 of our own */
	up_release(&t->up, 0, "354 go ahead\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	/* the first part of the body goes up before the client's dot */
	cl_send(t, "Subject: one\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n");
	cmd(t, "\r\n..dot\r\nbody\r\n.\r\n", CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\n..dot\r\nbody\r\n.\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A bare LF mid-stream under bare_newline = reject: the client gets the
 * same 550 as when spooled, and the upstream connection is closed before
 * any end of data (it got part of the body and no dot: nothing is
 * delivered).  The next message opens a new connection.
 */
static void
test_stream_bare_lf_aborts(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, s);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nfirst line\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\nfirst line\r\n");
	/* a bare LF, then the real end of data */
	cl_send(t, "smuggled\n.\r\nMAIL FROM:<x@evil.test>\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.6.0 Message contains bare CR or LF\r\n");
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "evil", 4));
	/* the session goes on; the next message on a new connection */
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	assert_int_equal(t->up.accepts, 2);
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* the client disconnects mid-body: the upstream is closed with no dot */
static void
test_stream_client_gone(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nhalf a body\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n\r\nhalf a body\r\n");
	event_free(t->cev);
	t->cev = NULL;
	close(t->cfd);
	t->cfd = -1;
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * The upstream goes away after its 354 while the client still sends: the
 * rest of the body is read and dropped, and the client's dot gets a 4xx
 * (the client keeps the message), never a 250.
 */
static void
test_stream_upstream_gone(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		THEN_CLOSE,
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	wait_closed(t, 0);
	cl_send(t, MSG);
	cl_send(t, ".\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "451 4.4.2 ", 10) == 0);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* run_for - drive the loop for ms milliseconds (a client that pauses) */
static int
never(struct t *t)
{
	(void)t;
	return 0;
}

static void
run_for(struct t *t, long ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	t->timed_out = 0;
	assert_int_equal(evtimer_add(t->timer, &tv), 0);
	while (!never(t) && !t->timed_out)
		(void)event_base_loop(t->base, EVLOOP_ONCE);
	evtimer_del(t->timer);
}

/*
 * A client that pauses mid-body for longer than the upstream's
 * command_timeout (but well within its own data_timeout): the upstream
 * connection is idle only because the client is, which the client's own
 * limits bound.  The message goes through.
 */
static void
test_stream_client_pause(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, "command_timeout = 1s\n"), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n");
	wait_raw(t, 0, "EHLO gw.test\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    "Subject: one\r\n");
	run_for(t, 2500);
	cmd(t, "\r\nbody\r\n.\r\n", CL_OK);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The client hangs up while the upstream's answer to DATA is awaited;
 * the 354 comes after the session is gone.  Nothing is left behind.
 */
static void
test_stream_gone_before_354(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n" MSG);
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	/* half-closed: the body so far is buffered, no dot */
	assert_int_equal(shutdown(t->cfd, SHUT_WR), 0);
	run_for(t, 200);
	up_release(&t->up, 0, "354 go ahead\r\n");
	wait_closed(t, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * SIGTERM (drain, and the pools shut) while the upstream's 354 is awaited
 * and again mid-body: the streamed message still goes through, then 421.
 */
static void
test_stream_drain_mid_body(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", HOLD },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, "pool = yes\n"), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n");
	if (!run_until(t, upstream_holds))
		fail_msg("DATA never reached the upstream");
	relay_drain_all();
	relay_env_shutdown(t->env);
	run_for(t, 100);
	up_release(&t->up, 0, "354 go ahead\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "354 ", 4) == 0);
	cl_send(t, "Subject: one\r\n");
	run_for(t, 100);
	relay_drain_all();
	cmd(t, "\r\nbody\r\n.\r\n", CL_OK);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "421 4.3.2 Service shutting down\r\n");
	assert_true(run_until(t, all_gone));
	t_free(t);
}

/*
 * A body the session refuses mid-stream (a bare LF under reject) while the
 * client goes on sending: the upstream connection is closed at once, not
 * held idle until the client's end of data (which a slow client may send
 * much later).  The client still gets its 550 at the end.
 */
static void
test_stream_refused_closes_early(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cl_send(t, "Subject: one\r\n\r\nbare\nmore body\r\n");
	/* no end of data yet: the client is still sending */
	wait_closed(t, 0);
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "\r\n.\r\n", 5));
	assert_int_equal(t->cinlen, 0);
	cl_send(t, "the rest\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "550 5.6.0 Message contains bare CR or LF\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A client that sends its body right behind DATA, not waiting for the 354
 * (RFC 2920 forbids it), and the upstream refuses DATA: what follows is
 * message text, never commands.  The refusal, then 421, and nothing of
 * the text reaches the upstream.
 */
static void
test_stream_refused_early_body(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "554 5.7.1 not from you\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\nRCPT TO:<victim@evil.test>\r\nDATA\r\n"
	    "Subject: spam\r\n\r\nspam\r\n.\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "554 5.7.1 not from you\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "421 ", 4) == 0);
	assert_true(run_until(t, all_gone));
	assert_null(memmem(t->up.conns[0].raw, t->up.conns[0].rawlen,
	    "evil", 4));
	t_free(t);
}

/* the upstream answers DATA with 250: no message went, the client's 451 */
static void
test_stream_data_250(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "250 2.0.0 sure\r\n" },
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, NULL), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cl_send(t, "DATA\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(got[0] == '4');
	cmd(t, "RSET\r\n", "250 2.0.0 Ok\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* received_header = yes: our Received is the first line upstream */
static void
test_received_first(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	const char	*body, *want;
	char		*end;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, "received_header = yes\n", NULL), 0);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	t->up.conns[0].body[t->up.conns[0].bodylen] = '\0';
	body = t->up.conns[0].body;
	want = "Received: from client.test ([127.0.0.1])\r\n"
	    "\tby gw.test (smtpgate) with ESMTP id ";
	if (strncmp(body, want, strlen(want)) != 0)
		fail_msg("body starts '%.120s'", body);
	/* one recipient: named; then the date; then the client's message */
	assert_non_null(strstr(body, "\r\n\tfor <b@dst.test>;\r\n\t"));
	end = strstr(body, "Subject: one\r\n");
	assert_non_null(end);
	assert_string_equal(end, MSG_UP);
	/* the header's own lines are all continuation lines */
	assert_null(memmem(body, (size_t)(end - body) - 2, "\r\nSubject", 9));
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * A listener with dkim and received_header: the upstream's body starts
 * with our DKIM-Signature (d= and s= of the [dkim] section), then our
 * Received, then the client's message unchanged.  (Whether the signature
 * verifies is tests/dkim's job.)
 */
static void
test_dkim_then_received(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 cmdline[512], keyp[128];
	const char	*body, *recv, *msg;

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(keyp, sizeof(keyp), "%s/dkim.pem", t->dir);
	(void)snprintf(cmdline, sizeof(cmdline), "openssl genpkey -algorithm "
	    "ed25519 -out '%s' 2>/dev/null && chmod 600 '%s'", keyp, keyp);
	if (system(cmdline) != 0)
		fail_msg("openssl could not make an ed25519 key");
	(void)snprintf(t->sections, sizeof(t->sections), "[dkim s1]\n"
	    "domain = src.test\nselector = sel1\nkey_file = %s\n", keyp);
	if (t_conf(t, "received_header = yes\ndkim = s1\n", NULL) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	t->up.conns[0].body[t->up.conns[0].bodylen] = '\0';
	body = t->up.conns[0].body;
	if (strncmp(body, "DKIM-Signature: ", 16) != 0)
		fail_msg("body starts '%.120s'", body);
	recv = strstr(body, "\r\nReceived: from client.test ([127.0.0.1])\r\n");
	msg = strstr(body, "\r\nSubject: one\r\n");
	assert_non_null(recv);
	assert_non_null(msg);
	assert_true(recv < msg);
	/* exactly one signature, and it is ours */
	assert_null(strstr(body + 1, "DKIM-Signature:"));
	assert_non_null(memmem(body, (size_t)(recv - body), "d=src.test;",
	    11));
	assert_non_null(memmem(body, (size_t)(recv - body), "s=sel1;", 7));
	assert_string_equal(msg + 2, MSG_UP);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* auth = inject: the password_file's secret goes upstream as AUTH PLAIN */
static void
test_auth_inject_cleartext_allowed(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN LOGIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		/* base64 of "\0user1\0s3cret" */
		{ "AUTH PLAIN AHVzZXIxAHMzY3JldA==",
		    "235 2.7.0 Authentication successful\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;
	char		 pw[128], extra[512];

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(pw, sizeof(pw), "%s/password", t->dir);
	write_file(pw, "s3cret\n", 0600);
	(void)snprintf(extra, sizeof(extra), "auth = inject\n"
	    "username = user1\npassword_file = %s\n"
	    "auth_allow_cleartext = yes\n", pw);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AHVzZXIxAHMzY3JldA==\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * The same without auth_allow_cleartext: the configuration loads (TLS
 * may be offered by another upstream), but the secret never goes out in
 * cleartext: the upstream sees EHLO and QUIT, never AUTH nor MAIL, and
 * the client gets a 4xx so it keeps the message.
 */
static void
test_auth_inject_cleartext_refused(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN LOGIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		END
	};
	struct t	*t;
	char		 pw[128], extra[512];

	(void)state;
	t = t_new(s, NULL);
	(void)snprintf(pw, sizeof(pw), "%s/password", t->dir);
	write_file(pw, "s3cret\n", 0600);
	(void)snprintf(extra, sizeof(extra), "auth = inject\n"
	    "username = user1\npassword_file = %s\n", pw);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.7.0 Upstream authentication failed (auth-failed)\r\n");
	assert_true(run_until(t, upstream_quit));
	assert_raw(t, 0, "EHLO gw.test\r\nQUIT\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* auth = map: a users_file line, "localuser:hash:upstream-user:secret" */
#define USERS	"# test users\n" \
		"scanner:$6$Zq3xK9tQ$DjTOBkAhf0a0onPwpCrM4dyLeyDv9OevP0wi1n9D3" \
		"xiFPjuIaKIPjRVTWENupfW2bmmyS1lC7R0IxUF.s374j.:up-user:" \
		"up:secret x\n"

static void
map_conf(struct t *t)
{
	char	 path[128], extra[512];

	(void)snprintf(path, sizeof(path), "%s/users", t->dir);
	write_file(path, USERS, 0600);
	(void)snprintf(extra, sizeof(extra), "auth = map\n"
	    "users_file = %s\nauth_allow_cleartext = yes\n", path);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
}

/*
 * auth = map: MAIL before AUTH is refused; the local user's password is
 * checked locally ("local pw"), and the upstream gets the mapped account
 * ("up-user", secret "up:secret x"), never the local credentials.
 */
static void
test_auth_map(void **state)
{
	static const struct step s[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		/* base64 of "\0up-user\0up:secret x" */
		{ "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg=",
		    "235 2.7.0 Authentication successful\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	map_conf(t);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	/* "\0scanner\0local pw" */
	cmd_prefix(t, "AUTH PLAIN AHNjYW5uZXIAbG9jYWwgcHc=\r\n", "235 2.7.0 ");
	/* the local check does not open the upstream */
	assert_int_equal(t->up.accepts, 0);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg=\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* auth = map, a wrong local password: 535 5.7.8, the upstream untouched */
static void
test_auth_map_wrong_password(void **state)
{
	static const struct step s[] = { GREET, END };
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	map_conf(t);
	t_start(t);
	ehlo(t);
	/* "\0scanner\0wrong" */
	cmd_prefix(t, "AUTH PLAIN AHNjYW5uZXIAd3Jvbmc=\r\n", "535 5.7.8 ");
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	assert_int_equal(t->up.accepts, 0);
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/*
 * auth = passthrough: the client's AUTH opens the upstream at once and
 * goes there unchanged; the upstream's verdict, text and all, is the
 * client's reply.  A refusal closes that upstream connection; the next
 * AUTH opens a new one.
 */
static void
test_auth_passthrough(void **state)
{
	static const struct step s0[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "535 5.7.8 alice: bad credentials at up.test\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "235 2.7.0 welcome alice\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		{ "DATA", "354 go ahead\r\n" },
		{ ".", UP_OK },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	if (t_conf(t, NULL, "auth = passthrough\n"
	    "auth_allow_cleartext = yes\n") != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, "MAIL FROM:<a@src.test>\r\n", "530 5.7.0 ");
	/* "\0alice\0alicepw" */
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "535 5.7.8 alice: bad credentials at up.test\r\n");
	assert_true(run_until(t, upstream_quit));
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	assert_int_equal(t->up.accepts, 2);
	one_message(t, CL_OK);
	assert_raw(t, 0, "EHLO gw.test\r\n"
	    "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\nQUIT\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n"
	    "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n"
	    "MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\nDATA\r\n"
	    MSG_UP ".\r\n");
	cmd_prefix(t, "QUIT\r\n", "221 ");
	t_free(t);
}

/* ------------------------------------------------------------------ */
/* the pool: sessions one after another on the same env */

/* one transaction as the scripts and the upstream see it */
#define TX(ok) \
	{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" }, \
	{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" }, \
	{ "DATA", "354 go ahead\r\n" }, \
	{ ".", ok }
#define TX_UP	"MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n" \
		"DATA\r\n" MSG_UP ".\r\n"
#define RSET_OK	{ "RSET", "250 2.0.0 Ok\r\n" }
#define POOL_ON	"pool = yes\n"

static int
sessions_ended(struct t *t)
{
	return t->done == t->nsessions;
}

/* t_end - the client says QUIT; wait until the relay is done with it */
static void
t_end(struct t *t)
{
	cmd_prefix(t, "QUIT\r\n", "221 ");
	if (!run_until(t, sessions_ended))
		fail_msg("session %d did not end", t->nsessions);
}

static int
raw_arrived(struct t *t)
{
	const struct fconn	*c = &t->up.conns[t->wconn];

	return c->rawlen >= strlen(t->wraw) || c->closed ||
	    t->up.mismatch[0] != '\0';
}

/* wait_raw - until upstream conn i has received as much as want: exactly it */
static void
wait_raw(struct t *t, int i, const char *want)
{
	t->wconn = i;
	t->wraw = want;
	(void)run_until(t, raw_arrived);
	if (t->up.mismatch[0] != '\0')
		fail_msg("upstream: %s", t->up.mismatch);
	assert_raw(t, i, want);
}

static int
conn_closed(struct t *t)
{
	return t->up.conns[t->wconn].closed;
}

/* wait_closed - until upstream conn i is closed (by either side) */
static void
wait_closed(struct t *t, int i)
{
	t->wconn = i;
	if (!run_until(t, conn_closed))
		fail_msg("upstream conn %d still open", i);
}

static int
only_idle(struct t *t)
{
	return relay_session_count() == t->base_count + t->widle;
}

/* wait_count - until the relay keeps n upstream connections, no session */
static void
wait_count(struct t *t, unsigned n)
{
	t->widle = n;
	if (!run_until(t, only_idle))
		fail_msg("relay_session_count() is %u, want %u",
		    relay_session_count(), t->base_count + n);
}

/*
 * Two one-message sessions with the pool on: one upstream connection
 * carries both; at the end of each session it is reset (RSET) and kept,
 * the second session starts with MAIL (no banner, no EHLO again), and
 * the idle connection says QUIT at shutdown.
 */
static void
test_pool_two_sessions(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 log[8192];

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	log_capture(t->dir);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	/* the client session is gone, the idle connection stays */
	wait_count(t, 1);
	assert_int_equal(t->up.conns[0].closed, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	log_collect(t->dir, log, sizeof(log));
	/* the transaction lines: new, then reused having carried one */
	if (!log_has(log, "reply=\"250 2.0.0 first\"",
	    " conn=new carried=0 ") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"",
	    " conn=reused carried=1 "))
		fail_msg("transaction lines not as expected:\n%s", log);

	relay_env_shutdown(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n"
	    "QUIT\r\n");
	wait_count(t, 0);
	assert_int_equal(t->up.accepts, 1);
	assert_int_equal(t->done, 2);
	t_free(t);
}

/*
 * Towards a pipelining upstream the give-back sends nothing: the RSET
 * leads the next MAIL in the same write, and its reply stays ours.
 */
static void
test_pool_rset_leads_mail(void **state)
{
	static const struct step s[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * That RSET refused: the connection is dropped with nothing of the
 * transaction accepted, the MAIL runs again on a new connection, and
 * the client sees only its 250.
 */
static void
test_pool_rset_refused_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", "554 5.5.1 Not today\r\n" },
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	t_free(t);
}

/*
 * A reused connection answers the RSET that leads MAIL with 421 and
 * closes: nothing of the transaction was accepted, so the MAIL runs
 * again on a new connection, the client sees only its 250, and the
 * dead connection gets no QUIT.
 */
static void
test_pool_rset_421_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, "421 4.3.2 shutting down") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * The upstream closes at the RSET that leads the next MAIL (sent in one
 * write with it): nothing of the transaction was accepted, so it runs
 * again on a new connection and the client sees only its 250.
 */
static void
test_pool_rset_closed_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", NULL },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, NULL) ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * The upstream never answers the RSET that leads the next MAIL: after
 * command_timeout the transaction runs on a new connection (nothing was
 * accepted on the silent one), and the client still gets its 250.
 */
static void
test_pool_rset_timeout_retried(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO,
		TX("250 2.0.0 first\r\n"),
		{ "RSET", HOLD },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO,
		TX("250 2.0.0 second\r\n"),
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "command_timeout = 1s\n"), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_count(t, 1);
	t_free(t);
}

/*
 * A reused connection answers MAIL with 421 and closes: the MAIL runs
 * again, once, on a new connection, and the client sees only its 250.
 */
static void
test_pool_retry_421_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 log[8192], want[64];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	log_capture(t->dir);
	one_message(t, "250 2.0.0 second\r\n");
	log_collect(t->dir, log, sizeof(log));
	(void)snprintf(want, sizeof(want),
	    " relay retry upstream=127.0.0.1:%u ", t->up.port);
	if (!log_has(log, want, "421 4.3.2 shutting down") ||
	    !log_has(log, "reply=\"250 2.0.0 second\"", " conn=new carried=0 "))
		fail_msg("retry not logged as expected:\n%s", log);
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].closed, 1);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	assert_int_equal(t->up.conns[1].bodylen, strlen(MSG_UP));
	assert_memory_equal(t->up.conns[1].body, MSG_UP, strlen(MSG_UP));
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	t_free(t);
	/* t_free's shutdown: the one kept says QUIT */
}

/*
 * The upstream drops the idle connection right after answering RSET:
 * the idle watch lets it go, and the next session gets a new connection
 * and its 250, no 4xx.
 */
static void
test_pool_idle_closed(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_closed(t, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	/* the relay noticed while idle: nothing is kept */
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * A 421 while idle, then the close, and the next session's MAIL comes
 * at once (the relay may or may not have seen the close yet): a new
 * connection, the client sees 250.
 */
static void
test_pool_idle_421(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	up_send(&t->up.conns[0], "421 4.4.2 idle too long\r\n");
	up_close(&t->up.conns[0]);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_int_equal(t->up.conns[0].quit, 0);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	t_free(t);
}

/*
 * The idle connection closes while the next session is already at EHLO:
 * the close and the client's MAIL arrive in the same turn of the loop,
 * so the lease may find it before the idle watch does (attach's check
 * then drops it) or after.  Either way: a new connection, 250.
 */
static void
test_pool_idle_closed_at_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 got[1024];

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);

	t_session(t);
	ehlo(t);
	/* the client's MAIL is ready first, then the upstream's close */
	cl_send(t, "MAIL FROM:<a@src.test>\r\n");
	up_close(&t->up.conns[0]);
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* pool_max_messages = 1: each connection carries one message, then QUIT */
static void
test_pool_max_messages(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	static const struct step s1[] = {
		GREET, EHLO, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_max_messages = 1\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_closed(t, 1);
	assert_int_equal(t->up.conns[1].quit, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* pool_max_messages within one client session: QUIT, then a new one */
static void
test_pool_max_messages_in_session(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	static const struct step s1[] = {
		GREET, EHLO, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_max_messages = 1\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	t_end(t);
	wait_closed(t, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* a reused connection closed at MAIL, unanswered: retried the same way */
static void
test_pool_retry_closed_at_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", NULL },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n"
	    "MAIL FROM:<a@src.test>\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* the retry's new connection fails too: a 4xx, and no third connection */
static void
test_pool_retry_once(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP,
		{ "MAIL FROM:<a@src.test>",
		    "421 4.3.2 still shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s2[] = {
		GREET, EHLO_NP, TX("250 2.0.0 third\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	t->up.scripts[2] = s2;
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n");
	t_end(t);
	assert_int_equal(t->up.accepts, 2);
	wait_count(t, 0);
	t_free(t);
}

/* a reused connection lost after MAIL's 250: no retry, the client is told */
static void
test_pool_no_retry_after_mail(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), RSET_OK,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "421 4.3.2 shutting down\r\n" },
		THEN_CLOSE,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n",
	    "451 4.4.0 Upstream refused the session (rejected)\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	assert_int_equal(t->up.accepts, 1);
	wait_count(t, 0);
	t_free(t);
}

/* pool_idle_timeout: an idle connection says QUIT after it */
static void
test_pool_idle_timeout(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON "pool_idle_timeout = 1s\n"),
	    0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\nQUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * The client leaves after RCPT, its transaction open upstream: the
 * give-back's RSET clears it, the connection is kept and the next
 * session's message goes on it.
 */
static void
test_pool_client_leaves_mid_tx(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" },
		{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" },
		RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\nRSET\r\n");
	wait_count(t, 1);
	assert_int_equal(t->up.conns[0].closed, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\nMAIL FROM:<a@src.test>\r\n"
	    "RCPT TO:<b@dst.test>\r\nRSET\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * auth = map with the pool: a connection is reused only for the same
 * upstream account.  scanner (up-user), then printer (up-two) on a new
 * connection of its own, then scanner again on scanner's idle one.
 */
#define USERS2	USERS \
		"printer:$6$Pr1nt3rSalt$70sz46hSzW/GCMFxVZGWJnUCAzGi9d87y1ra9" \
		"62LBs5bi1E.FqI70LvK7x0yxE1p.uttG6AWoy2eA7vb3JLlD1:up-two:" \
		"two secret\n"
#define EHLO_AUTH { "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n" \
		    "250 ENHANCEDSTATUSCODES\r\n" }
/* "\0up-user\0up:secret x", "\0up-two\0two secret" */
#define UP_AUTH1 "AUTH PLAIN AHVwLXVzZXIAdXA6c2VjcmV0IHg="
#define UP_AUTH2 "AUTH PLAIN AHVwLXR3bwB0d28gc2VjcmV0"
/* "\0scanner\0local pw", "\0printer\0print pw" */
#define CL_AUTH1 "AUTH PLAIN AHNjYW5uZXIAbG9jYWwgcHc=\r\n"
#define CL_AUTH2 "AUTH PLAIN AHByaW50ZXIAcHJpbnQgcHc=\r\n"

static void
test_pool_map_identity(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_AUTH,
		{ UP_AUTH1, "235 2.7.0 Authentication successful\r\n" },
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 third\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_AUTH,
		{ UP_AUTH2, "235 2.7.0 Authentication successful\r\n" },
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 path[128], extra[512];

	(void)state;
	t = t_new(s0, s1);
	(void)snprintf(path, sizeof(path), "%s/users", t->dir);
	write_file(path, USERS2, 0600);
	(void)snprintf(extra, sizeof(extra), POOL_ON "auth = map\n"
	    "users_file = %s\nauth_allow_cleartext = yes\n", path);
	if (t_conf(t, NULL, extra) != 0)
		fail_msg("conf: %s", t->conferr);
	t_start(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH1, "235 2.7.0 ");
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" UP_AUTH1 "\r\n" TX_UP "RSET\r\n");

	t_session(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH2, "235 2.7.0 ");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" UP_AUTH2 "\r\n" TX_UP "RSET\r\n");
	wait_count(t, 2);

	t_session(t);
	ehlo(t);
	cmd_prefix(t, CL_AUTH1, "235 2.7.0 ");
	one_message(t, "250 2.0.0 third\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" UP_AUTH1 "\r\n" TX_UP "RSET\r\n"
	    TX_UP "RSET\r\n");
	assert_raw(t, 1, "EHLO gw.test\r\n" UP_AUTH2 "\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/* SIGTERM (relay_env_shutdown): the idle connection says QUIT and goes */
static void
test_pool_shutdown(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	wait_count(t, 1);
	relay_env_shutdown(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\nQUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * SIGHUP (relay_env_retire): the idle connection says QUIT, and a
 * session still on the old env opens a new one and QUITs it at its end:
 * nothing is kept under a retired snapshot.
 */
static void
test_pool_retire(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"), RSET_OK, END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP, TX("250 2.0.0 second\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	relay_env_retire(t->env);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	wait_closed(t, 1);
	assert_int_equal(t->up.conns[1].quit, 1);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/*
 * SIGTERM while a session holds its connection: at the session's end the
 * connection says QUIT at once, no RSET first (it would not be kept).
 */
static void
test_pool_shutdown_in_use(void **state)
{
	static const struct step s[] = {
		GREET, EHLO, TX("250 2.0.0 first\r\n"), END
	};
	struct t	*t;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	relay_env_shutdown(t->env);
	assert_int_equal(t->up.conns[0].closed, 0);
	t_end(t);
	wait_closed(t, 0);
	assert_int_equal(t->up.conns[0].quit, 1);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "QUIT\r\n");
	wait_count(t, 0);
	t_free(t);
}

/* the give-back's RSET refused: the connection is dropped, not kept */
static void
test_pool_rset_refused(void **state)
{
	static const struct step s0[] = {
		GREET, EHLO_NP, TX("250 2.0.0 first\r\n"),
		{ "RSET", "500 5.5.1 no RSET here\r\n" },
		END
	};
	static const struct step s1[] = {
		GREET, EHLO_NP, TX("250 2.0.0 second\r\n"), RSET_OK, END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	wait_closed(t, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	assert_int_equal(t->up.conns[0].quit, 0);
	wait_count(t, 0);

	t_session(t);
	ehlo(t);
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	assert_raw(t, 1, "EHLO gw.test\r\n" TX_UP);
	t_end(t);
	wait_raw(t, 1, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

static int
rset_held(struct t *t)
{
	return t->up.conns[0].held || t->up.mismatch[0] != '\0';
}

/*
 * The next session's MAIL while the give-back's RSET is still
 * unanswered: the MAIL waits for it on the same connection, then goes.
 */
static void
test_pool_mail_during_rset(void **state)
{
	static const struct step s[] = {
		GREET, EHLO_NP,
		TX("250 2.0.0 first\r\n"), { "RSET", HOLD },
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	struct t	*t;
	char		 got[1024];
	int		 i;

	(void)state;
	t = t_new(s, NULL);
	assert_int_equal(t_conf(t, NULL, POOL_ON), 0);
	t_start(t);
	ehlo(t);
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	if (!run_until(t, rset_held))
		fail_msg("no RSET at the upstream");

	t_session(t);
	ehlo(t);
	cl_send(t, "MAIL FROM:<a@src.test>\r\n");
	for (i = 0; i < 20; i++)
		(void)event_base_loop(t->base, EVLOOP_NONBLOCK);
	assert_int_equal(t->cinlen, 0);
	assert_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n");
	up_release(&t->up, 0, "250 2.0.0 Ok\r\n");
	cl_reply(t, got, sizeof(got));
	assert_string_equal(got, "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 1);
	t_end(t);
	wait_raw(t, 0, "EHLO gw.test\r\n" TX_UP "RSET\r\n" TX_UP "RSET\r\n");
	t_free(t);
}

/*
 * Passthrough and the pool (review of issue 11): a wrong password never
 * gets the connection the right one opened (it is tried upstream on a
 * new connection and refused); the right one again gets it without a
 * new AUTH upstream.
 */
static void
test_pool_passthrough_proof(void **state)
{
	static const struct step s0[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=",
		    "235 2.7.0 welcome alice\r\n" },
		TX("250 2.0.0 first\r\n"), RSET_OK,
		TX("250 2.0.0 second\r\n"), RSET_OK,
		END
	};
	static const struct step s1[] = {
		GREET,
		{ "EHLO gw.test", "250-up.test\r\n250-AUTH PLAIN\r\n"
		    "250 ENHANCEDSTATUSCODES\r\n" },
		{ "AUTH PLAIN AGFsaWNlAHdyb25ncHc=",
		    "535 5.7.8 alice: bad credentials\r\n" },
		END
	};
	struct t	*t;

	(void)state;
	t = t_new(s0, s1);
	assert_int_equal(t_conf(t, NULL, "auth = passthrough\n"
	    "auth_allow_cleartext = yes\n" POOL_ON), 0);
	t_start(t);
	ehlo(t);
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	one_message(t, "250 2.0.0 first\r\n");
	t_end(t);
	t_session(t);
	ehlo(t);
	/* "\0alice\0wrongpw": asked upstream on a new connection */
	cmd(t, "AUTH PLAIN AGFsaWNlAHdyb25ncHc=\r\n",
	    "535 5.7.8 alice: bad credentials\r\n");
	assert_int_equal(t->up.accepts, 2);
	cmd(t, "AUTH PLAIN AGFsaWNlAGFsaWNlcHc=\r\n",
	    "235 2.7.0 welcome alice\r\n");
	one_message(t, "250 2.0.0 second\r\n");
	assert_int_equal(t->up.accepts, 2);
	t_end(t);
	t_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_one_message, teardown),
		cmocka_unit_test_teardown(test_two_transactions_one_connection, teardown),
		cmocka_unit_test_teardown(test_rcpt_550_passed, teardown),
		cmocka_unit_test_teardown(test_mail_452, teardown),
		cmocka_unit_test_teardown(test_mail_421, teardown),
		cmocka_unit_test_teardown(test_close_after_dot, teardown),
		cmocka_unit_test_teardown(test_bare_replies, teardown),
		cmocka_unit_test_teardown(test_rcpt_421, teardown),
		cmocka_unit_test_teardown(test_unreachable, teardown),
		cmocka_unit_test_teardown(test_params_offered, teardown),
		cmocka_unit_test_teardown(test_params_dropped, teardown),
		cmocka_unit_test_teardown(test_rset_reaches_upstream, teardown),
		cmocka_unit_test_teardown(test_drain_after_transaction, teardown),
		cmocka_unit_test_teardown(test_drain_idle, teardown),
		cmocka_unit_test_teardown(test_pipelined, teardown),
		cmocka_unit_test_teardown(test_pipelined_upstream_batch, teardown),
		cmocka_unit_test_teardown(test_pipelined_mail_refused, teardown),
		cmocka_unit_test_teardown(test_pipelined_data_refused, teardown),
		cmocka_unit_test_teardown(test_pipelined_upstream_lost, teardown),
		cmocka_unit_test_teardown(test_data_refused, teardown),
		cmocka_unit_test_teardown(test_data_refused_spooled, teardown),
		cmocka_unit_test_teardown(test_stream_354_after_upstream, teardown),
		cmocka_unit_test_teardown(test_stream_bare_lf_aborts, teardown),
		cmocka_unit_test_teardown(test_stream_client_gone, teardown),
		cmocka_unit_test_teardown(test_stream_upstream_gone, teardown),
		cmocka_unit_test_teardown(test_stream_client_pause, teardown),
		cmocka_unit_test_teardown(test_stream_gone_before_354, teardown),
		cmocka_unit_test_teardown(test_stream_data_250, teardown),
		cmocka_unit_test_teardown(test_stream_drain_mid_body, teardown),
		cmocka_unit_test_teardown(test_stream_refused_closes_early, teardown),
		cmocka_unit_test_teardown(test_stream_refused_early_body, teardown),
		cmocka_unit_test_teardown(test_data_refused_then_mail, teardown),
		cmocka_unit_test_teardown(test_received_first, teardown),
		cmocka_unit_test_teardown(test_dkim_then_received, teardown),
		cmocka_unit_test_teardown(test_auth_inject_cleartext_allowed, teardown),
		cmocka_unit_test_teardown(test_auth_inject_cleartext_refused, teardown),
		cmocka_unit_test_teardown(test_auth_map, teardown),
		cmocka_unit_test_teardown(test_auth_map_wrong_password, teardown),
		cmocka_unit_test_teardown(test_auth_passthrough, teardown),
		cmocka_unit_test_teardown(test_pool_two_sessions, teardown),
		cmocka_unit_test_teardown(test_pool_rset_leads_mail, teardown),
		cmocka_unit_test_teardown(test_pool_rset_refused_retried,
		    teardown),
		cmocka_unit_test_teardown(test_pool_rset_421_retried, teardown),
		cmocka_unit_test_teardown(test_pool_rset_closed_retried, teardown),
		cmocka_unit_test_teardown(test_pool_rset_timeout_retried, teardown),
		cmocka_unit_test_teardown(test_pool_retry_421_mail, teardown),
		cmocka_unit_test_teardown(test_pool_idle_closed, teardown),
		cmocka_unit_test_teardown(test_pool_idle_421, teardown),
		cmocka_unit_test_teardown(test_pool_idle_closed_at_mail, teardown),
		cmocka_unit_test_teardown(test_pool_retry_closed_at_mail, teardown),
		cmocka_unit_test_teardown(test_pool_retry_once, teardown),
		cmocka_unit_test_teardown(test_pool_no_retry_after_mail, teardown),
		cmocka_unit_test_teardown(test_pool_idle_timeout, teardown),
		cmocka_unit_test_teardown(test_pool_client_leaves_mid_tx, teardown),
		cmocka_unit_test_teardown(test_pool_map_identity, teardown),
		cmocka_unit_test_teardown(test_pool_max_messages, teardown),
		cmocka_unit_test_teardown(test_pool_max_messages_in_session, teardown),
		cmocka_unit_test_teardown(test_pool_shutdown, teardown),
		cmocka_unit_test_teardown(test_pool_retire, teardown),
		cmocka_unit_test_teardown(test_pool_shutdown_in_use, teardown),
		cmocka_unit_test_teardown(test_pool_rset_refused, teardown),
		cmocka_unit_test_teardown(test_pool_mail_during_rset, teardown),
		cmocka_unit_test_teardown(test_pool_passthrough_proof, teardown),
	};

	log_init(0, getenv("TEST_RELAY_DEBUG") ? GW_LOG_DEBUG : GW_LOG_ERROR,
	    getenv("TEST_RELAY_DEBUG") ? LOGF_ALL : 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
