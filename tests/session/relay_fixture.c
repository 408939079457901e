/*
 * relay_fixture.c - the scripted upstream and the client fixture of the
 * relay's session tests (relay_fixture.h).  Nothing here knows relay.c's
 * internals: the tests are what show a restructuring of relay.c changed
 * nothing.
 */
#include "relay_fixture.h"

const char HOLD[] = "(held)";
const char CLOSE[] = "(close)";

void
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

void
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
void
up_release(struct ups *u, int i, const char *reply)
{
	struct fconn	*c = &u->conns[i];

	assert_int_equal(c->held, 1);
	c->held = 0;
	up_send(c, reply);
	up_run(c);
}

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
int
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

void
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
int
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
void
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
void
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

void
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
void
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
int
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
int
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
struct t *
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

int
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
void
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
void
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
void
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
void
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
void
cmd_prefix(struct t *t, const char *line, const char *want)
{
	char	 got[4096];

	cl_send(t, line);
	cl_reply(t, got, sizeof(got));
	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("%.*s: got '%s', want '%s...'",
		    (int)strcspn(line, "\r"), line, got, want);
}

int
upstream_quit(struct t *t)
{
	return t->up.conns[0].closed;
}

/* raw - what upstream connection i received, as a string */
const char *
raw(struct t *t, int i)
{
	struct fconn	*c = &t->up.conns[i];

	assert_true(c->rawlen < sizeof(c->raw));
	c->raw[c->rawlen] = '\0';
	return c->raw;
}

void
assert_raw(struct t *t, int i, const char *want)
{
	if (strcmp(raw(t, i), want) != 0)
		fail_msg("upstream conn %d saw:\n'%s'\nwant:\n'%s'", i,
		    raw(t, i), want);
}

void
ehlo(struct t *t)
{
	char	 got[4096];

	cl_send(t, "EHLO client.test\r\n");
	cl_reply(t, got, sizeof(got));
	assert_true(strncmp(got, "250-", 4) == 0);
}

void
one_message(struct t *t, const char *ok)
{
	cmd(t, "MAIL FROM:<a@src.test>\r\n", "250 2.1.0 Sender ok\r\n");
	cmd(t, "RCPT TO:<b@dst.test>\r\n", "250 2.1.5 Recipient ok\r\n");
	cmd_prefix(t, "DATA\r\n", "354 ");
	cmd(t, MSG ".\r\n", ok);
}

int
upstream_holds(struct t *t)
{
	return t->up.conns[0].held || t->up.mismatch[0] != '\0';
}

static int
raw_arrived(struct t *t)
{
	const struct fconn	*c = &t->up.conns[t->wconn];

	return c->rawlen >= strlen(t->wraw) || c->closed ||
	    t->up.mismatch[0] != '\0';
}

/* wait_raw - until upstream conn i has received as much as want: exactly it */
void
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
void
wait_closed(struct t *t, int i)
{
	t->wconn = i;
	if (!run_until(t, conn_closed))
		fail_msg("upstream conn %d still open", i);
}

static int
sessions_ended(struct t *t)
{
	return t->done == t->nsessions;
}

/* t_end - the client says QUIT; wait until the relay is done with it */
void
t_end(struct t *t)
{
	cmd_prefix(t, "QUIT\r\n", "221 ");
	if (!run_until(t, sessions_ended))
		fail_msg("session %d did not end", t->nsessions);
}

static int
only_idle(struct t *t)
{
	return relay_session_count() == t->base_count + t->widle;
}

/* wait_count - until the relay keeps n upstream connections, no session */
void
wait_count(struct t *t, unsigned n)
{
	t->widle = n;
	if (!run_until(t, only_idle))
		fail_msg("relay_session_count() is %u, want %u",
		    relay_session_count(), t->base_count + n);
}
