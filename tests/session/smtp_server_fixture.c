/*
 * smtp_server_fixture.c - the fake owner, the client's end and the waits
 * of the client-facing SMTP session's tests (smtp_server_fixture.h).
 */
#include "smtp_server_fixture.h"

const int	 mode_sync = 0;
const int	 mode_async = 1;

static void
note(struct owner *o, const char *what)
{
	strncat(o->calls, what, sizeof(o->calls) - strlen(o->calls) - 1);
}

static void
answer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct owner	*o = arg;

	o->pending = 0;
	if (o->srv != NULL)
		smtp_server_reply(o->srv, o->pcode, o->penh, o->ptext);
}

/* answer from a timer ms later, whatever the mode (a slow upstream) */
static void
answer_later(struct owner *o, int ms, int code, const char *enh,
    const char *text)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	assert_int_equal(o->pending, 0);
	o->pending = 1;
	o->pcode = code;
	snprintf(o->penh, sizeof(o->penh), "%s", enh);
	snprintf(o->ptext, sizeof(o->ptext), "%s", text);
	assert_int_equal(event_base_once(o->base, -1, EV_TIMEOUT, answer_cb,
	    o, &tv), 0);
}

/* answer now, from inside the callback, or from a timer 20 ms later */
void
answer(struct owner *o, int code, const char *enh, const char *text)
{
	struct timeval	 tv = { 0, 20000 };

	if (!o->async) {
		smtp_server_reply(o->srv, code, enh, text);
		return;
	}
	/* the contract: one command in flight, so one answer at a time */
	assert_int_equal(o->pending, 0);
	o->pending = 1;
	o->pcode = code;
	snprintf(o->penh, sizeof(o->penh), "%s", enh);
	snprintf(o->ptext, sizeof(o->ptext), "%s", text);
	assert_int_equal(event_base_once(o->base, -1, EV_TIMEOUT, answer_cb,
	    o, &tv), 0);
}

static void
cb_mail(void *arg, const struct smtp_path *from)
{
	struct owner	*o = arg;

	o->nmail++;
	note(o, "M");
	snprintf(o->from, sizeof(o->from), "%s", from->addr);
	o->requiretls = smtp_find_param(from, "REQUIRETLS") != NULL;
	if (strncmp(from->addr, "reject", 6) == 0)
		answer(o, 550, "5.7.1", "Sender rejected");
	else if (strncmp(from->addr, "shutdown", 8) == 0)
		answer(o, 421, "4.3.2", "Upstream going away");
	else if (strncmp(from->addr, "slow", 4) == 0)
		answer_later(o, 1500, 250, "2.1.0", "Ok");
	else
		answer(o, 250, "2.1.0", "Ok");
}

/* 40 lines, the first one 700 octets long */
static const char *
huge_text(void)
{
	static char	 text[4096];
	size_t		 n;
	int		 i;

	memset(text, 'y', 700);
	n = 700;
	for (i = 1; i < 40; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "\nline%d", i);
	return text;
}

static void
cb_rcpt(void *arg, const struct smtp_path *to)
{
	struct owner	*o = arg;

	o->nrcpt++;
	note(o, "R");
	if (strncmp(to->addr, "bad", 3) == 0)
		answer(o, 550, "5.1.1", "User unknown");
	else if (strncmp(to->addr, "multi", 5) == 0)
		answer(o, 550, "5.1.1", "first line\nsecond\rline\x01\xff");
	else if (strncmp(to->addr, "huge", 4) == 0)
		answer(o, 550, "2.1.5", huge_text());
	else if (strncmp(to->addr, "weird", 5) == 0)
		answer(o, 999, "9.9.9", "what");
	else
		answer(o, 250, "2.1.5", "Ok");
}

static void
cb_rset(void *arg)
{
	struct owner	*o = arg;

	o->nrset++;
	note(o, "S");
	answer(o, 250, "2.0.0", "Ok");
}

static int
cb_data_begin(void *arg)
{
	struct owner	*o = arg;

	o->nbegin++;
	note(o, "B");
	return o->begin_ret;
}

static int
cb_data_write(void *arg, const char *p, size_t len)
{
	struct owner	*o = arg;

	o->nwrite++;
	assert_true(o->bodylen + len <= sizeof(o->body));
	memcpy(o->body + o->bodylen, p, len);
	o->bodylen += len;
	return o->write_ret;
}

static void
cb_data_end(void *arg)
{
	struct owner	*o = arg;

	o->nend++;
	note(o, "E");
	answer(o, 250, "2.0.0", "Ok: queued");
}

static void
cb_data_abort(void *arg)
{
	struct owner	*o = arg;

	o->nabort++;
	note(o, "A");
}

static void
cb_closed(void *arg, const char *reason)
{
	struct owner	*o = arg;

	o->nclosed++;
	note(o, "C");
	snprintf(o->reason, sizeof(o->reason), "%s", reason);
	/* the relay frees the session here; the free is deferred */
	smtp_server_free(o->srv);
	o->srv = NULL;
}

/* the fake account: good / secret; "down" stands for an unreachable upstream */
static void
cb_auth(void *arg, const char *mech, const char *user, const char *pass)
{
	struct owner	*o = arg;

	o->nauth++;
	note(o, "U");
	snprintf(o->auth_mech, sizeof(o->auth_mech), "%s", mech);
	snprintf(o->auth_user, sizeof(o->auth_user), "%s", user);
	if (strcmp(user, "down") == 0)
		answer(o, 454, "4.7.0", "Temporary authentication failure");
	else if (strcmp(user, "good") == 0 && strcmp(pass, "secret") == 0)
		answer(o, 235, "2.7.0", "Authentication successful");
	else
		answer(o, 535, "5.7.8", "Authentication credentials invalid");
}

static const struct smtp_server_cb owner_cb = {
	cb_mail, cb_rcpt, cb_rset, cb_data_begin, cb_data_write, cb_data_end,
	cb_data_abort, cb_closed, cb_auth
};

static void
client_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct owner	*o = arg;
	ssize_t		 n;

	for (;;) {
		/* full: take_reply() makes room, the event fires again */
		if (o->inlen == sizeof(o->in))
			return;
		n = read(o->cfd, o->in + o->inlen, sizeof(o->in) - o->inlen);
		if (n > 0) {
			o->inlen += (size_t)n;
			continue;
		}
		if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			o->eof = 1;
			event_del(o->rev);
		}
		return;
	}
}

static void
guard_cb(evutil_socket_t fd, short what, void *arg)
{
	struct owner	*o = arg;

	o->guard_fired = 1;
}

int
setup(void **state)
{
	struct owner	*o;
	int		 sv[2];

	o = calloc(1, sizeof(*o));
	assert_non_null(o);
	o->async = *state != NULL && *(const int *)*state == mode_async;
	o->base = event_base_new();
	assert_non_null(o->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(evutil_make_socket_nonblocking(sv[1]), 0);
	o->cfd = sv[1];
	o->conf.max_message_size = 10240;
	o->conf.max_recipients = 10;
	o->conf.command_timeout = 60;
	o->conf.data_timeout = 60;
	o->conf.bare_newline = BARE_NEWLINE_REJECT;
	o->rev = event_new(o->base, o->cfd, EV_READ | EV_PERSIST,
	    client_read_cb, o);
	o->guard = evtimer_new(o->base, guard_cb, o);
	assert_non_null(o->rev);
	assert_non_null(o->guard);
	assert_int_equal(event_add(o->rev, NULL), 0);
	o->sfd = sv[0];
	*state = o;
	return 0;
}

int
teardown(void **state)
{
	struct owner	*o = *state;

	if (o->srv != NULL)
		smtp_server_free(o->srv);
	if (o->sfd != -1)
		close(o->sfd);
	event_free(o->rev);
	event_free(o->guard);
	close(o->cfd);
	event_base_free(o->base);
	free(o);
	return 0;
}

/* create the session with o->conf as the test left it */
void
start(struct owner *o)
{
	struct sockaddr_in	 sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	o->srv = smtp_server_new(o->base, o->sfd, (struct sockaddr *)&sin,
	    sizeof(sin), NULL, &o->conf, HOST, 0x1234, NULL, &owner_cb, o);
	assert_non_null(o->srv);
	o->sfd = -1;	/* the session owns it now */
}

static int
reply_end(const struct owner *o, size_t *end)
{
	const char	*p;
	size_t		 off = 0, len;

	while (off < o->inlen) {
		p = memmem(o->in + off, o->inlen - off, "\r\n", 2);
		if (p == NULL)
			return 0;
		len = (size_t)(p - (o->in + off));
		if (len < 4 || o->in[off + 3] != '-') {
			*end = (size_t)(p - o->in) + 2;
			return 1;
		}
		off = (size_t)(p - o->in) + 2;
	}
	return 0;
}

int
have_reply(struct owner *o)
{
	size_t	 end;

	return reply_end(o, &end);
}

int
have_closed(struct owner *o)
{
	return o->nclosed > 0;
}

int
have_pending(struct owner *o)
{
	return o->pending;
}

int
have_eof(struct owner *o)
{
	return o->eof;
}

void
run_until(struct owner *o, int (*pred)(struct owner *), int secs)
{
	struct timeval	 tv = { secs, 0 };

	o->guard_fired = 0;
	evtimer_add(o->guard, &tv);
	while (!pred(o) && !o->guard_fired)
		event_base_loop(o->base, EVLOOP_ONCE);
	evtimer_del(o->guard);
	if (!pred(o))
		fail_msg("timed out; client has %zu bytes: %.*s", o->inlen,
		    (int)o->inlen, o->in);
}

/* let the loop run for ms, whatever happens */
void
run_for(struct owner *o, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(o->base, &tv);
	event_base_dispatch(o->base);
}

void
cl_write(struct owner *o, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		n = write(o->cfd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n == -1 && (errno == EAGAIN || errno == EINTR))
			event_base_loop(o->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		else
			fail_msg("client write: %s", strerror(errno));
	}
}

void
cl_send(struct owner *o, const char *s)
{
	cl_write(o, s, strlen(s));
}

/* the next complete reply, CRLF between lines, none at the end */
const char *
take_reply(struct owner *o)
{
	size_t	 end = 0;	/* cmocka's assert_true is not noreturn */

	run_until(o, have_reply, 5);
	assert_true(reply_end(o, &end));
	assert_true(end - 2 < sizeof(o->reply));
	memcpy(o->reply, o->in, end - 2);
	o->reply[end - 2] = '\0';
	memmove(o->in, o->in + end, o->inlen - end);
	o->inlen -= end;
	return o->reply;
}

void
expect(struct owner *o, const char *want)
{
	const char	*got = take_reply(o);

	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
}

void
expect_prefix(struct owner *o, const char *want)
{
	const char	*got = take_reply(o);

	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want \"%s...\"", got, want);
}

void
greet(struct owner *o)
{
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	cl_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-" HOST " Hello client.test");
}

void
expect_closed(struct owner *o, const char *reason)
{
	run_until(o, have_closed, 5);
	run_until(o, have_eof, 5);
	assert_int_equal(o->nclosed, 1);
	assert_string_equal(o->reason, reason);
	assert_null(o->srv);
	/* nothing more comes, and closed() is not called again */
	run_for(o, 50);
	assert_int_equal(o->nclosed, 1);
}

/* SMTP_TEST_QUIET=1 keeps the transcript out of the test output */
int
log_level_default(void)
{
	return getenv("SMTP_TEST_QUIET") != NULL ? GW_LOG_ERROR : GW_LOG_DEBUG;
}
