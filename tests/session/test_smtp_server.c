/*
 * test_smtp_server.c - the client-facing SMTP session over a socketpair
 * with a real event_base.  The test plays the client on one end and a fake
 * owner (the relay's role) behind the smtp_server_cb callbacks.  The owner
 * answers either from inside the callback or later from a timer, as the
 * real relay does both; the tests marked "both" run in each mode.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "smtp/smtp_server.h"
#include "util/log.h"

#define HOST	"gw.test"

struct owner {
	struct event_base	*base;
	struct smtp_server	*srv;
	struct conf_listener	 conf;
	int			 cfd;		/* the client's end */
	int			 sfd;		/* the server's end */
	struct event		*rev;		/* reads the server's replies */
	struct event		*guard;		/* bounds every wait */
	int			 guard_fired;
	char			 in[65536];	/* bytes from the server */
	size_t			 inlen;
	int			 eof;
	char			 reply[8192];	/* the reply last taken */

	/* behaviour */
	int			 async;		/* answer from a timer */
	int			 begin_ret;	/* data_begin() result */
	int			 write_ret;	/* data_write() result */
	int			 pending;	/* an answer is scheduled */
	int			 pcode;
	char			 penh[16];
	char			 ptext[8192];

	/* what the session did */
	int			 nmail, nrcpt, nrset, nbegin, nwrite;
	int			 requiretls;	/* the last MAIL had it */
	int			 nend, nabort, nclosed, nauth;
	char			 auth_mech[16];
	char			 auth_user[300];
	char			 calls[1024];	/* "M R B E" ... */
	char			 from[SMTP_PATH_MAX];
	char			 body[262144];
	size_t			 bodylen;
	char			 reason[64];
};

static const int	 mode_sync = 0;
static const int	 mode_async = 1;

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
static void
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

static int
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

static int
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
static void
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

static int
have_reply(struct owner *o)
{
	size_t	 end;

	return reply_end(o, &end);
}

static int
have_closed(struct owner *o)
{
	return o->nclosed > 0;
}

static int
have_pending(struct owner *o)
{
	return o->pending;
}

static int
have_eof(struct owner *o)
{
	return o->eof;
}

static void
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
static void
run_for(struct owner *o, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(o->base, &tv);
	event_base_dispatch(o->base);
}

static void
client_write(struct owner *o, const char *p, size_t len)
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

static void
client_send(struct owner *o, const char *s)
{
	client_write(o, s, strlen(s));
}

/* the next complete reply, CRLF between lines, none at the end */
static const char *
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

static void
expect(struct owner *o, const char *want)
{
	const char	*got = take_reply(o);

	if (strcmp(got, want) != 0)
		fail_msg("got \"%s\", want \"%s\"", got, want);
}

static void
expect_prefix(struct owner *o, const char *want)
{
	const char	*got = take_reply(o);

	if (strncmp(got, want, strlen(want)) != 0)
		fail_msg("got \"%s\", want \"%s...\"", got, want);
}

static void
greet(struct owner *o)
{
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	client_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-" HOST " Hello client.test");
}

static void
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
static int
log_level_default(void)
{
	return getenv("SMTP_TEST_QUIET") != NULL ? GW_LOG_ERROR : GW_LOG_DEBUG;
}

static void
test_greeting(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	assert_string_equal(smtp_server_info(o->srv)->peer, "127.0.0.1");
	assert_int_equal(smtp_server_info(o->srv)->id, 0x1234);
}

static void
test_greeting_banner(void **state)
{
	struct owner	*o = *state;

	snprintf(o->conf.banner, sizeof(o->conf.banner), "mx ready\x07");
	start(o);
	expect(o, "220 mx ready?");
}

static void
test_ehlo_capabilities(void **state)
{
	struct owner			*o = *state;
	const struct smtp_server_info	*info;

	start(o);
	expect_prefix(o, "220 ");
	client_send(o, "EHLO client.test\r\n");
	expect(o, "250-" HOST " Hello client.test [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n"
	    "250-DSN\r\n"
	    "250 SMTPUTF8");
	info = smtp_server_info(o->srv);
	assert_string_equal(info->helo, "client.test");
	assert_int_equal(info->esmtp, 1);

	client_send(o, "HELO other.test\r\n");
	expect(o, "250 " HOST);
	assert_string_equal(info->helo, "other.test");
	assert_int_equal(info->esmtp, 0);

	client_send(o, "EHLO\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "HELO bad..name\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_string_equal(info->helo, "other.test");
}

static void
test_mail_before_ehlo(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	client_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "503 5.5.1 ");
	assert_int_equal(o->nmail, 0);
	assert_int_equal(o->nrcpt, 0);
	assert_int_equal(o->nbegin, 0);
}

/* both: the whole dialogue, one command at a time */
static void
test_transaction(void **state)
{
	struct owner	*o = *state;
	const char	*want =
	    "Subject: t\r\n\r\n.leading dot\r\n..two\r\nend\r\n";

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test> SIZE=100 BODY=8BITMIME\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_string_equal(o->from, "a@b.test");
	client_send(o, "RCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect(o, "354 End data with <CR><LF>.<CR><LF>");
	client_send(o, "Subject: t\r\n\r\n..leading dot\r\n...two\r\nend\r\n");
	client_send(o, ".\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, strlen(want));
	assert_memory_equal(o->body, want, strlen(want));
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->nabort, 0);

	/* a second transaction on the same session */
	o->bodylen = 0;
	client_send(o, "MAIL FROM:<>\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_string_equal(o->from, "");
	client_send(o, "RCPT TO:<Postmaster>\r\n");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, ".\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 0);

	client_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_string_equal(o->calls, "MRBEMRBEC");
}

/* both: a pipelined group gets its replies in order, one per command */
static void
test_pipelined(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "RCPT TO:<bad@d.test>\r\nRCPT TO:<e@d.test>\r\nDATA\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	expect(o, "550 5.1.1 User unknown");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	client_send(o, "hello\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_string_equal(o->calls, "MRRRBE");
	assert_memory_equal(o->body, "hello\r\n", 7);
}

/*
 * both: everything in one write, body and QUIT included, then a
 * half-close: bytes after DATA are the body, the rest is answered.
 */
static void
test_pipelined_with_body_and_eof(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n"
	    "DATA\r\nline 1\r\n.\r\nQUIT\r\n");
	assert_int_equal(shutdown(o->cfd, SHUT_WR), 0);
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	expect(o, "250 2.0.0 Ok: queued");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_memory_equal(o->body, "line 1\r\n", 8);
	assert_string_equal(o->calls, "MRBEC");
}

/* both: a rejected RCPT passes through; DATA then has no recipient */
static void
test_rcpt_rejected(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "DATA\r\n");
	expect(o, "503 5.5.1 Error: need RCPT command");
	client_send(o, "RCPT TO:<bad@d.test>\r\n");
	expect(o, "550 5.1.1 User unknown");
	client_send(o, "DATA\r\n");
	expect(o, "554 5.5.1 No valid recipients");
	assert_int_equal(o->nbegin, 0);
	/* the owner's multi-line text is made safe for the client */
	client_send(o, "RCPT TO:<multi@d.test>\r\n");
	expect(o, "550-5.1.1 first line\r\n550 5.1.1 second?line??");
}

/* both: the owner's reply is bounded in lines and length, and checked */
static void
test_owner_reply_bounds(void **state)
{
	struct owner	*o = *state;
	char		 want[8192], y[511];
	size_t		 n;
	int		 i;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<huge@d.test>\r\n");
	/* a mismatched enhanced code is dropped; 510 octets per line */
	memset(y, 'y', 506);
	y[506] = '\0';
	n = (size_t)snprintf(want, sizeof(want), "550-%s", y);
	for (i = 1; i < 31; i++)
		n += (size_t)snprintf(want + n, sizeof(want) - n,
		    "\r\n550-line%d", i);
	(void)snprintf(want + n, sizeof(want) - n, "\r\n550 line31");
	expect(o, want);
	client_send(o, "RCPT TO:<weird@d.test>\r\n");
	expect(o, "451 4.3.0 Local error in processing");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
}

/* both: a rejected MAIL opens no transaction */
static void
test_mail_rejected(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<reject@b.test>\r\n");
	expect(o, "550 5.7.1 Sender rejected");
	client_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "503 5.5.1 Error: nested MAIL command");
	assert_int_equal(o->nmail, 2);
}

/* both: 421 from the owner closes the session after it is sent */
static void
test_owner_421(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<shutdown@b.test>\r\nNOOP\r\n");
	expect(o, "421 4.3.2 Upstream going away");
	expect_closed(o, "owner closed");
	assert_int_equal(o->inlen, 0);
}

static void
test_mail_params(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test> SIZE=20000\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	client_send(o, "MAIL FROM:<a@b.test> SIZE=99999999999999999999999\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	client_send(o, "MAIL FROM:<a@b.test> SIZE=12x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> FOO=BAR\r\n");
	expect_prefix(o, "555 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> SMTPUTF8=1\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nmail, 0);

	client_send(o, "MAIL FROM:<a@b.test> SIZE=10240 BODY=7bit\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<c@d.test> FOO=BAR\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nrcpt, 0);
}

/*
 * RFC 8689: REQUIRETLS offered on TLS sessions only by default, so a
 * plaintext session neither sees it nor may use it (530 5.7.10);
 * "always" offers it in plaintext too, "no" never
 */
static void
test_requiretls(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	client_send(o, "EHLO client.test\r\n");
	assert_null(strstr(take_reply(o), "REQUIRETLS"));
	client_send(o, "MAIL FROM:<a@b.test> REQUIRETLS\r\n");
	expect(o, "530 5.7.10 REQUIRETLS needs a TLS session");
	assert_int_equal(o->nmail, 0);
}

static void
test_requiretls_no(void **state)
{
	struct owner	*o = *state;

	o->conf.requiretls = REQUIRETLS_NO;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test> REQUIRETLS\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nmail, 0);
}

static void
test_requiretls_always(void **state)
{
	struct owner	*o = *state;

	o->conf.requiretls = REQUIRETLS_ALWAYS;
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	client_send(o, "EHLO client.test\r\n");
	assert_non_null(strstr(take_reply(o), "\r\n250-REQUIRETLS\r\n"));
	client_send(o, "MAIL FROM:<a@b.test> REQUIRETLS=yes\r\n");
	expect(o, "501 5.5.4 REQUIRETLS takes no value");
	client_send(o, "MAIL FROM:<a@b.test> requiretls BODY=8BITMIME\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_int_equal(o->nmail, 1);
	assert_int_equal(o->requiretls, 1);
	/* RCPT knows no REQUIRETLS */
	client_send(o, "RCPT TO:<c@d.test> REQUIRETLS\r\n");
	expect_prefix(o, "555 5.5.4 ");
}

/* RFC 3461: RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT */
static void
test_dsn_params(void **state)
{
	struct owner	*o = *state;
	char		 line[SMTP_MAILRCPT_LINE_MAX + 16];
	size_t		 n;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test> RET=HEADERS\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> ENVID=x+0D+0Ay\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> NOTIFY=NEVER\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nmail, 0);
	client_send(o, "MAIL FROM:<a@b.test> RET=HDRS ENVID=QQ+2B1\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<c@d.test> NOTIFY=NEVER,DELAY\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "RCPT TO:<c@d.test> ORCPT=c@d.test\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "RCPT TO:<c@d.test> RET=FULL\r\n");
	expect_prefix(o, "555 5.5.4 ");
	assert_int_equal(o->nrcpt, 0);
	client_send(o, "RCPT TO:<c@d.test> NOTIFY=SUCCESS,FAILURE "
	    "ORCPT=rfc822;c@d.test\r\n");
	expect(o, "250 2.1.5 Ok");
	assert_int_equal(o->nrcpt, 1);

	/* RFC 3461 4: a RCPT line may be 500 octets longer than 512 */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> "
	    "NOTIFY=DELAY ORCPT=rfc822;");
	memset(line + n, 'o', SMTP_MAILRCPT_LINE_MAX - 2 - n - 4);
	memcpy(line + SMTP_MAILRCPT_LINE_MAX - 2 - 4, "@d.t\r\n", 7);
	assert_int_equal(strlen(line), SMTP_MAILRCPT_LINE_MAX);
	client_send(o, line);
	expect_prefix(o, "501 5.5.4 ");	/* ORCPT value over 500 octets */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> "
	    "ORCPT=rfc822;");
	memset(line + n, 'o', 480);
	memcpy(line + n + 480, "@d.test\r\n", 10);
	assert_true(strlen(line) > SMTP_CMD_LINE_MAX);
	client_send(o, line);
	expect(o, "250 2.1.5 Ok");
	assert_int_equal(o->nrcpt, 2);
	/* one octet more than the bound: too long, whatever it holds */
	n = (size_t)snprintf(line, sizeof(line), "RCPT TO:<e@d.test> X=");
	memset(line + n, 'o', SMTP_MAILRCPT_LINE_MAX - 2 - n + 1);
	memcpy(line + SMTP_MAILRCPT_LINE_MAX - 1, "\r\n", 3);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	/* other commands keep the 512 of RFC 5321 */
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'n', 600);
	memcpy(line + 605, "\r\n", 3);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
}

static void
test_params_after_helo(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	client_send(o, "HELO client.test\r\n");
	expect(o, "250 " HOST);
	client_send(o, "MAIL FROM:<a@b.test> SIZE=10\r\n");
	expect_prefix(o, "555 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
}

static void
test_bad_addresses(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a b@c>\r\n");
	expect_prefix(o, "501 5.1.7 ");
	client_send(o, "MAIL TO:<a@b.test>\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<a@b.test> =x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	client_send(o, "MAIL FROM:<\xc3\xbc@b.test>\r\n");
	expect_prefix(o, "553 5.6.7 ");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<\xc3\xa9@d.test>\r\n");
	expect_prefix(o, "553 5.6.7 ");
	client_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	client_send(o, "MAIL FROM:<\xc3\xbc@b.test> SMTPUTF8\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<\xc3\xa9@d.test>\r\n");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "RCPT TO:<>\r\n");
	expect_prefix(o, "501 5.1.3 ");
	client_send(o, "RCPT TO:<c@d.test\r\n");
	expect_prefix(o, "501 5.1.3 ");
	assert_int_equal(o->nmail, 2);
	assert_int_equal(o->nrcpt, 1);
}

static void
test_too_many_recipients(void **state)
{
	struct owner	*o = *state;

	o->conf.max_recipients = 2;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<bad@d.test>\r\n"
	    "RCPT TO:<c1@d.test>\r\nRCPT TO:<c2@d.test>\r\n"
	    "RCPT TO:<c3@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	/* only accepted recipients count */
	expect(o, "550 5.1.1 User unknown");
	expect(o, "250 2.1.5 Ok");
	expect(o, "250 2.1.5 Ok");
	expect(o, "452 4.5.3 Too many recipients");
	assert_int_equal(o->nrcpt, 3);
}

static void
test_body_too_big(void **state)
{
	struct owner	*o = *state;
	char		 line[101];
	int		 i;

	o->conf.max_message_size = 1024;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	memset(line, 'x', 98);
	memcpy(line + 98, "\r\n", 3);
	for (i = 0; i < 30; i++)
		client_send(o, line);
	client_send(o, ".\r\nNOOP\r\n");
	expect(o, "552 5.3.4 Message size exceeds fixed limit");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_true(o->bodylen <= 1024);
}

static void
test_body_bare_lf(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	/* the smuggling shape: a bare-LF "end of data" and a second message */
	client_send(o, "a\r\n\n.\nMAIL FROM:<evil@x.test>\r\nmore\r\n.\r\n");
	expect(o, "550 5.6.0 Message contains bare CR or LF");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_int_equal(o->nmail, 1);
	/* in sync again: the transaction is over */
	client_send(o, "RCPT TO:<c@d.test>\r\n");
	expect_prefix(o, "503 5.5.1 ");
	run_for(o, 50);
	assert_int_equal(o->nabort, 1);
}

static void
test_body_bare_lf_normalized(void **state)
{
	struct owner	*o = *state;

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "a\nb\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 6);
	assert_memory_equal(o->body, "a\r\nb\r\n", 6);
}

static void
test_data_write_fails(void **state)
{
	struct owner	*o = *state;

	o->write_ret = -1;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "one\r\n");
	run_for(o, 30);
	client_send(o, "two\r\n.\r\n");
	expect(o, "452 4.3.1 Insufficient system storage");
	assert_int_equal(o->nwrite, 1);
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
}

static void
test_data_begin_refused(void **state)
{
	struct owner	*o = *state;

	o->begin_ret = -1;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "451 4.3.0 ");
	client_send(o, "DATA x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nbegin, 1);
}

static void
test_command_bare_lf(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "NOOP\nRSET\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
	assert_int_equal(o->nrset, 0);
	assert_int_equal(o->inlen, 0);
}

/* bare_newline = normalize: a command may end in a bare LF (Postfix's normalize) */
static void
test_command_bare_lf_normalized(void **state)
{
	struct owner	*o = *state;
	char		 line[700];

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	start(o);
	expect(o, "220 " HOST " ESMTP smtpgate");
	client_send(o, "EHLO client.test\n");
	expect_prefix(o, "250-" HOST " Hello client.test");
	client_send(o, "NOOP\nRSET\r\nMAIL FROM:<a@b.test>\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "RCPT TO:<c@d.test>\nDATA\n");
	expect(o, "250 2.1.5 Ok");
	expect_prefix(o, "354 ");
	/* the body's lines are normalised; only CRLF.CRLF ends it */
	client_send(o, "a\nb\n.\nc\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->bodylen, 12);
	assert_memory_equal(o->body, "a\r\nb\r\n.\r\nc\r\n", 12);

	/* a line too long, ended by a bare LF, is skipped up to that LF */
	memset(line, 'X', 600);
	memcpy(line + 600, "\nNOOP\n", 7);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");
	/* 511 octets and LF: over the 512 bound as with CRLF */
	memcpy(line, "NOOP ", 5);
	memset(line + 5, 'x', 506);
	memcpy(line + 511, "\nNOOP\n", 7);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");
	/* 510 and LF fits, as 510 and CRLF does */
	memcpy(line + 510, "\nNOOP\n", 7);
	client_send(o, line);
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");

	/* a bare CR is still no line end: answered and closed */
	client_send(o, "NOOP\rRSET\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
	assert_int_equal(o->nrset, 1);
}

/* a NUL in the body is refused under reject, dropped under normalize */
static void
test_body_nul(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	/* the published probe: CRLF NUL "." CRLF is no end of data */
	client_write(o, "a\r\n\0.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n",
	    35);
	expect(o, "550 5.6.0 Message contains NUL octet");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_int_equal(o->nmail, 1);
	assert_null(memchr(o->body, '\0', o->bodylen));
}

static void
test_body_nul_normalized(void **state)
{
	struct owner	*o = *state;

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_write(o, "a\r\n\0.\r\nMAIL FROM:<evil@x.test>\r\n.\r\n",
	    35);
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->nend, 1);
	assert_int_equal(o->nmail, 1);
	assert_int_equal(o->bodylen, 31);
	assert_memory_equal(o->body, "a\r\n.\r\nMAIL FROM:<evil@x.test>\r\n",
	    31);
}

/* max_junk_commands: NOOP, RSET, VRFY... without a message, then 421 */
static void
test_junk_commands(void **state)
{
	struct owner	*o = *state;

	o->conf.max_junk_commands = 4;
	greet(o);			/* EHLO is the first */
	client_send(o, "NOOP\r\nVRFY x\r\nRSET\r\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "252 2.5.2 Cannot VRFY user");
	expect(o, "250 2.0.0 Ok");
	/* an accepted message is progress: the count starts again */
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "x\r\n.\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	client_send(o, "NOOP\r\nNOOP\r\nHELP\r\nRSET\r\nNOOP\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect_prefix(o, "214 ");
	expect(o, "250 2.0.0 Ok");
	expect(o, "421 4.7.0 " HOST " Too many commands without a message, "
	    "closing connection");
	expect_closed(o, "junk-commands");
	assert_int_equal(o->nrset, 2);
}

/* max_session_time: the session ends at the bound, whatever it does */
static void
test_session_time(void **state)
{
	struct owner	*o = *state;
	struct timespec	 t0, t1;

	o->conf.max_session_time = 1;
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "421 4.7.0 " HOST " Session time limit exceeded, "
	    "closing connection");
	expect_closed(o, "session-time");
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec <= 3);
}

/* the session time ends while the owner works: its answer comes first */
static void
test_session_time_owner_busy(void **state)
{
	struct owner	*o = *state;

	o->conf.max_session_time = 1;
	greet(o);
	client_send(o, "MAIL FROM:<slow@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "421 4.7.0 " HOST " Session time limit exceeded, "
	    "closing connection");
	expect_closed(o, "session-time");
	assert_int_equal(o->nmail, 1);
}

/* long_lines = pass: a 5,000-octet line reaches the owner as it is */
static void
test_long_line_pass(void **state)
{
	struct owner	*o = *state;
	char		 msg[5100];

	o->conf.long_lines = LONG_LINES_PASS;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	memset(msg, 'h', 5000);
	memcpy(msg + 5000, "\r\n.\r\n", 6);
	client_send(o, msg);
	expect(o, "250 2.0.0 Ok: queued");
	assert_int_equal(o->bodylen, 5002);
	assert_memory_equal(o->body, msg, 5002);
	assert_int_equal(o->nend, 1);
}

/* min_data_rate: a body dripping a byte at a time is cut off */
static void
test_data_drip(void **state)
{
	struct owner	*o = *state;
	struct timespec	 t0, t1;
	long		 ms;
	int		 i;

	o->conf.data_timeout = 1;
	o->conf.min_data_rate = 1000;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	/*
	 * 100 ms apart: never silent for data_timeout, but far too slow.  The
	 * session may close between two bytes, before the 421 is read here:
	 * a write that fails then is expected.
	 */
	for (i = 0; i < 40 && !have_reply(o); i++) {
		ssize_t	 n = write(o->cfd, "x", 1);

		(void)n;
		run_for(o, 100);
	}
	expect(o, "421 4.7.0 " HOST " Message data too slow, closing "
	    "connection");
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	expect_closed(o, "min-data-rate");
	/* data_timeout (1 s) plus 1 ms per octet sent, and not much more */
	ms = (t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 950 && ms <= 3000);
	assert_true(i < 40);
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
}

static void
test_command_bare_cr(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "NOOP\rRSET\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");
}

static void
test_long_line(void **state)
{
	struct owner	*o = *state;
	char		 line[700];

	greet(o);
	memset(line, 'X', 600);
	memcpy(line + 600, "\r\nNOOP\r\n", 9);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	expect(o, "250 2.0.0 Ok");

	/* the rest of the long line arrives later, its CR and LF split */
	memcpy(line, "NOOP ", 5);
	line[599] = '\r';
	line[600] = '\0';
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	run_for(o, 30);
	client_send(o, "\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	run_for(o, 30);
	assert_int_equal(o->inlen, 0);
	assert_non_null(o->srv);
}

static void
test_misc_commands(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	client_send(o, "help\r\n");
	expect_prefix(o, "214 2.0.0 ");
	client_send(o, "VRFY postmaster\r\n");
	expect(o, "252 2.5.2 Cannot VRFY user");
	client_send(o, "EXPN list\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	client_send(o, "STARTTLS\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	client_send(o, "AUTH PLAIN AGZvbwBiYXI=\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	client_send(o, "BDAT 10 LAST\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	client_send(o, "XYZZY\r\n");
	expect(o, "500 5.5.2 Command unrecognized");
	client_send(o, "RSET x\r\n");
	expect_prefix(o, "501 5.5.4 ");
	assert_int_equal(o->nrset, 0);
	assert_non_null(o->srv);
}

/* the protocol trace never shows AUTH arguments, whatever the line's shape */
static void
test_auth_redacted(void **state)
{
	struct owner	*o = *state;
	char		 line[700], logbuf[65536];
	FILE		*f;
	size_t		 n;
	int		 saved;

	f = tmpfile();
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	log_setlevel(GW_LOG_DEBUG, LOGF_ALL);

	greet(o);
	client_send(o, "AUTH PLAIN c2VjcmV0\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	client_send(o, "AUTH c2VjcmV0\r\n");
	expect(o, "502 5.5.1 Command not implemented");
	memcpy(line, "auth login ", 11);
	memset(line + 11, 'Z', 600);
	memcpy(line + 611, "\r\n", 3);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	client_send(o, "AuTh x\ry\r\n");
	expect(o, "500 5.5.2 Bare CR or LF not allowed");
	expect_closed(o, "bare newline");

	fflush(stderr);
	log_setlevel(log_level_default(), LOGF_ALL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(logbuf, "AUTH PLAIN <redacted>"));
	assert_non_null(strstr(logbuf, "AUTH <redacted>"));
	assert_null(strstr(logbuf, "c2VjcmV0"));
	assert_null(strstr(logbuf, "ZZZZ"));
	assert_null(strstr(logbuf, "x\\x0dy"));
}


/* a session whose owner asked for AUTH */
static void
greet_auth(struct owner *o)
{
	start(o);
	smtp_server_require_auth(o->srv);
	expect(o, "220 " HOST " ESMTP smtpgate");
	client_send(o, "EHLO client.test\r\n");
	expect(o, "250-" HOST " Hello client.test [127.0.0.1]\r\n"
	    "250-PIPELINING\r\n"
	    "250-SIZE 10240\r\n"
	    "250-ENHANCEDSTATUSCODES\r\n"
	    "250-8BITMIME\r\n"
	    "250-DSN\r\n"
	    "250-AUTH PLAIN LOGIN\r\n"
	    "250 SMTPUTF8");
}

/* MAIL needs a successful AUTH first; the owner never sees it before */
static void
test_auth_required(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "530 5.7.0 Authentication required");
	client_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "530 5.7.0 Authentication required");
	assert_int_equal(o->nmail, 0);
	assert_string_equal(smtp_server_info(o->srv)->auth_user, "");
	client_send(o, "HELP\r\n");
	expect_prefix(o, "214 2.0.0 Commands: HELO EHLO AUTH ");
}

/* both: PLAIN with an initial response, then mail; a second AUTH is refused */
static void
test_auth_plain_initial(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_mech, "PLAIN");
	assert_string_equal(o->auth_user, "good");
	assert_string_equal(smtp_server_info(o->srv)->auth_user, "good");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: already authenticated");
	client_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	/* RSET and EHLO keep the authentication (RFC 4954 4) */
	client_send(o, "EHLO again.test\r\n");
	expect_prefix(o, "250-");
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	assert_int_equal(o->nauth, 1);
	assert_string_equal(o->calls, "UMSM");
}

/* PLAIN without an initial response; authzid equal to the user is fine */
static void
test_auth_plain_challenge(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "auth plain\r\n");
	expect(o, "334 ");
	client_send(o, "Z29vZABnb29kAHNlY3JldA==\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_user, "good");
}

/* both: LOGIN, a wrong password, then the right one on a second try */
static void
test_auth_login(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "d3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	/* LOGIN with the user name as initial response */
	client_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "c2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
	assert_string_equal(o->auth_mech, "LOGIN");
	assert_int_equal(o->nauth, 2);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	expect(o, "250 2.1.0 Ok");
}

/* the owner's temporary failure passes through; the client may retry */
static void
test_auth_temporary(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH PLAIN AGRvd24AeA==\r\n");
	expect(o, "454 4.7.0 Temporary authentication failure");
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "235 2.7.0 Authentication successful");
}

/* "*" cancels at any step, and the session goes on */
static void
test_auth_cancel(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	client_send(o, "*\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	client_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "*\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	client_send(o, "AUTH PLAIN *\r\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/*
 * A line sent behind one that ends the exchange (bad base64, "*", a
 * failed verdict) is the client's next secret: dropped, never a command.
 */
static void
test_auth_fail_drops_pipelined(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	client_send(o, "!!!\r\nAGdvb2QAc2VjcmV0\r\n");
	expect(o, "501 5.5.2 Invalid base64 data");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	client_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "*\r\nc2VjcmV0\r\nsecr");
	expect(o, "501 5.7.0 Authentication cancelled");
	/* the unfinished line is skipped up to its end too */
	client_send(o, "et\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	client_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "d3Jvbmc=\r\nc2VjcmV0\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 1);
}

/* syntax, mechanism and state errors; none reaches the owner */
static void
test_auth_errors(void **state)
{
	struct owner	*o = *state;
	static const struct {
		const char	*line;
		const char	*want;
	} cases[] = {
		{ "AUTH\r\n", "501 5.5.4 " },
		{ "AUTH \r\n", "501 5.5.4 " },
		{ "AUTH PLAIN \r\n", "501 5.5.4 " },
		{ "AUTH CRAM-MD5\r\n", "504 5.5.4 " },
		{ "AUTH PLAIN AGdvb2QAc2VjcmV0=\r\n", "501 5.5.2 Invalid base64" },
		{ "AUTH PLAIN !!!!\r\n", "501 5.5.2 Invalid base64" },
		{ "AUTH PLAIN Z29vZABzZWNyZXQ=\r\n", "501 5.5.2 Invalid PLAIN" },
	}, cases2[] = {
		{ "AUTH PLAINX AGdvb2QAc2VjcmV0\r\n", "504 5.5.4 " },
		{ "AUTH PLAIN =\r\n", "501 5.5.2 Invalid PLAIN" },
		{ "AUTH PLAIN AGdvCm9kAHNlY3JldA==\r\n", "501 5.5.2 Invalid char" },
		{ "AUTH PLAIN AGdvb2QAc2VjAHJldA==\r\n", "501 5.5.2 Invalid char" },
		{ "AUTH PLAIN b3RoZXIAZ29vZABzZWNyZXQ=\r\n",
		    "501 5.5.2 Authorization identity" },
		{ "AUTH LOGIN =\r\n", "501 5.5.2 Empty" },
	};
	size_t		 i;

	start(o);
	smtp_server_require_auth(o->srv);
	expect_prefix(o, "220 ");
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: send EHLO first");
	client_send(o, "HELO client.test\r\n");
	expect(o, "250 " HOST);
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\n");
	expect(o, "503 5.5.1 Error: send EHLO first");
	client_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-");
	/* 2 + 7 errors: under the limit of 10 */
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		client_send(o, cases[i].line);
		expect_prefix(o, cases[i].want);
	}
	assert_int_equal(o->nauth, 0);
	assert_non_null(o->srv);
	client_send(o, "QUIT\r\n");
	expect_prefix(o, "221 ");
	expect_closed(o, "quit");
	/* decoded credentials with NUL, CR, LF; an authzid; an empty one */
	teardown(state);
	*state = (void *)&mode_sync;
	setup(state);
	o = *state;
	greet_auth(o);
	for (i = 0; i < sizeof(cases2) / sizeof(cases2[0]); i++) {
		client_send(o, cases2[i].line);
		expect_prefix(o, cases2[i].want);
	}
	assert_int_equal(o->nauth, 0);
}

/* RFC 4954 4: AUTH ends a pipelined group; what follows is refused */
static void
test_auth_pipelined(void **state)
{
	struct owner	*o = *state;

	greet_auth(o);
	client_send(o, "AUTH PLAIN AGdvb2QAc2VjcmV0\r\nMAIL FROM:<a@b.test>\r\n");
	expect_prefix(o, "503 5.5.1 Error: AUTH must be the last");
	/*
	 * The input behind a refused AUTH is dropped, not run: here it is
	 * a MAIL, but it may be the SASL responses (credentials) that a
	 * command would trace.  The next reply is the NOOP's.
	 */
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	client_send(o, "AUTH PLAIN\r\nAGdvb2QAc2VjcmV0\r\n");
	expect_prefix(o, "503 5.5.1 Error: AUTH must be the last");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* the LOGIN steps may arrive together once the 334 was sent */
	client_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "Z29vZA==\r\nc2VjcmV0\r\nNOOP\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	expect(o, "235 2.7.0 Authentication successful");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nmail, 0);
}

/* lines of the exchange may reach 12288 octets, not more (RFC 4954 4) */
static void
test_auth_line_bounds(void **state)
{
	struct owner	*o = *state;
	static char	 line[13000];
	size_t		 n;

	greet_auth(o);
	/* an 1100-octet initial response is a line, not "Line too long" */
	n = (size_t)snprintf(line, sizeof(line), "AUTH PLAIN ");
	memset(line + n, 'A', 1100);
	memcpy(line + n + 1100, "\r\n", 3);
	client_send(o, line);
	expect(o, "501 5.5.2 Credentials too long");
	/* a 600-octet command other than AUTH is still too long */
	memset(line, 'N', 600);
	memcpy(line, "NOOP ", 5);
	memcpy(line + 600, "\r\n", 3);
	client_send(o, line);
	expect(o, "500 5.5.2 Line too long");
	client_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	memset(line, 'A', 12300);
	memcpy(line + 12300, "\r\n", 3);
	client_send(o, line);
	expect(o, "500 5.5.6 Authentication Exchange line is too long");
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/*
 * bare_newline = normalize: the line sent behind an over-long exchange
 * line (its password) is dropped as under reject, and a drop that ends
 * on a bare LF leaves no half line to swallow the next command.
 */
static void
test_auth_drop_normalized(void **state)
{
	struct owner	*o = *state;
	static char	 line[12400];

	o->conf.bare_newline = BARE_NEWLINE_NORMALIZE;
	greet_auth(o);
	client_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	memset(line, 'A', 12300);
	memcpy(line + 12300, "\r\nAGdvb2QAc2VjcmV0\r\n", 21);
	client_send(o, line);
	expect(o, "500 5.5.6 Authentication Exchange line is too long");
	/* the next reply is the NOOP's, not a 500 for the password line */
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* the flag is spent: a later line is a command again */
	client_send(o, "NOOP\r\n");
	expect(o, "250 2.0.0 Ok");
	/* a dropped line ending in a bare LF is a whole line */
	client_send(o, "AUTH LOGIN\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "*\nc2VjcmV0\n");
	expect(o, "501 5.7.0 Authentication cancelled");
	client_send(o, "NOOP\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nauth, 0);
}

/* password guessing counts against the error limit */
static void
test_auth_guessing(void **state)
{
	struct owner	*o = *state;
	int		 i;

	greet_auth(o);
	for (i = 0; i < 9; i++) {
		client_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
		expect(o, "535 5.7.8 Authentication credentials invalid");
	}
	client_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect(o, "535 5.7.8 Authentication credentials invalid");
	expect_prefix(o, "421 4.7.0 ");
	expect_closed(o, "too many errors");
}

/* the transcript shows neither the blobs nor the decoded secrets */
static void
test_auth_transcript(void **state)
{
	struct owner	*o = *state;
	char		 logbuf[65536];
	FILE		*f;
	size_t		 n;
	int		 saved;

	f = tmpfile();
	assert_non_null(f);
	saved = dup(STDERR_FILENO);
	assert_true(saved != -1);
	assert_int_equal(dup2(fileno(f), STDERR_FILENO), STDERR_FILENO);
	log_setlevel(GW_LOG_DEBUG, LOGF_ALL);

	greet_auth(o);
	client_send(o, "AUTH PLAIN AGdvb2QAd3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	client_send(o, "AUTH PLAIN\r\n");
	expect(o, "334 ");
	client_send(o, "AGdvb2QAd3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	client_send(o, "AUTH LOGIN Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "d3Jvbmc=\r\n");
	expect_prefix(o, "535 ");
	client_send(o, "AUTH LOGIN\r\n");
	expect(o, "334 VXNlcm5hbWU6");
	client_send(o, "Z29vZA==\r\n");
	expect(o, "334 UGFzc3dvcmQ6");
	client_send(o, "c2VjcmV0\r\n");
	expect_prefix(o, "235 ");
	client_send(o, "QUIT\r\n");
	expect_prefix(o, "221 ");
	expect_closed(o, "quit");

	fflush(stderr);
	log_setlevel(log_level_default(), LOGF_ALL);
	assert_int_equal(dup2(saved, STDERR_FILENO), STDERR_FILENO);
	close(saved);
	rewind(f);
	n = fread(logbuf, 1, sizeof(logbuf) - 1, f);
	logbuf[n] = '\0';
	fclose(f);
	assert_non_null(strstr(logbuf, "< AUTH PLAIN <redacted>"));
	assert_non_null(strstr(logbuf, "< AUTH LOGIN <redacted>"));
	assert_non_null(strstr(logbuf, "< <redacted>"));
	assert_non_null(strstr(logbuf, "user=\"good\" result=ok"));
	assert_null(strstr(logbuf, "AGdvb2QAd3Jvbmc"));
	assert_null(strstr(logbuf, "d3Jvbmc"));
	assert_null(strstr(logbuf, "c2VjcmV0"));
	assert_null(strstr(logbuf, "Z29vZA"));
	assert_null(strstr(logbuf, "wrong"));
	assert_null(strstr(logbuf, "secret"));
}

/* both: RSET always reaches the owner; EHLO inside a transaction too */
static void
test_rset_and_ehlo_reset(void **state)
{
	struct owner	*o = *state;

	start(o);
	expect_prefix(o, "220 ");
	client_send(o, "RSET\r\n");
	expect(o, "250 2.0.0 Ok");
	assert_int_equal(o->nrset, 1);
	client_send(o, "EHLO client.test\r\n");
	expect_prefix(o, "250-");
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "EHLO again.test\r\n");
	expect_prefix(o, "250-" HOST " Hello again.test");
	assert_int_equal(o->nrset, 2);
	client_send(o, "DATA\r\n");
	expect_prefix(o, "503 5.5.1 ");
	client_send(o, "MAIL FROM:<a@b.test>\r\nRSET\r\nDATA\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.0.0 Ok");
	expect_prefix(o, "503 5.5.1 ");
	assert_string_equal(o->calls, "SMRSMS");
}

static void
test_too_many_errors(void **state)
{
	struct owner	*o = *state;
	int		 i;

	greet(o);
	for (i = 0; i < 9; i++)
		client_send(o, "BOGUS\r\n");
	for (i = 0; i < 9; i++)
		expect(o, "500 5.5.2 Command unrecognized");
	client_send(o, "BOGUS\r\nNOOP\r\n");
	expect(o, "500 5.5.2 Command unrecognized");
	expect(o, "421 4.7.0 " HOST " Too many errors");
	expect_closed(o, "too many errors");
	assert_int_equal(o->inlen, 0);
}

static void
test_command_timeout(void **state)
{
	struct owner	*o = *state;

	o->conf.command_timeout = 1;
	greet(o);
	expect(o, "421 4.4.2 " HOST " Timeout, closing connection");
	expect_closed(o, "timeout");
}

static void
test_data_timeout(void **state)
{
	struct owner	*o = *state;

	o->conf.data_timeout = 1;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "partial\r\n");
	expect(o, "421 4.4.2 " HOST " Timeout, closing connection");
	expect_closed(o, "timeout");
	assert_int_equal(o->nabort, 1);
	assert_int_equal(o->nend, 0);
	assert_string_equal(o->calls, "MRBAC");
}

static void
test_client_gone_in_body(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "partial\r\n");
	assert_int_equal(shutdown(o->cfd, SHUT_WR), 0);
	run_until(o, have_closed, 5);
	assert_string_equal(o->reason, "client closed");
	assert_string_equal(o->calls, "MRBAC");
}

static void
test_quit(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
	assert_string_equal(o->calls, "C");
}

static void
test_drain_idle(void **state)
{
	struct owner	*o = *state;

	greet(o);
	smtp_server_drain(o->srv);
	/* nothing is sent from inside the owner's call */
	assert_int_equal(o->inlen, 0);
	assert_int_equal(o->nclosed, 0);
	expect(o, "421 4.3.2 Service shutting down");
	expect_closed(o, "drain");
}

/* both: draining waits for the transaction's final reply */
static void
test_drain_in_transaction(void **state)
{
	struct owner	*o = *state;

	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\nRCPT TO:<c@d.test>\r\n");
	expect(o, "250 2.1.0 Ok");
	expect(o, "250 2.1.5 Ok");
	smtp_server_drain(o->srv);
	run_for(o, 50);
	assert_int_equal(o->inlen, 0);
	client_send(o, "DATA\r\n");
	expect_prefix(o, "354 ");
	client_send(o, "body\r\n.\r\nNOOP\r\n");
	expect(o, "250 2.0.0 Ok: queued");
	expect(o, "421 4.3.2 Service shutting down");
	expect_closed(o, "drain");
	assert_string_equal(o->calls, "MRBEC");
}

/* many pipelined commands: all answered, in order, across loop turns */
static void
test_many_pipelined(void **state)
{
	struct owner	*o = *state;
	char		 want[32];
	int		 i;

	greet(o);
	for (i = 0; i < 300; i++)
		client_send(o, i % 2 ? "NOOP\r\n" : "VRFY x\r\n");
	for (i = 0; i < 300; i++) {
		snprintf(want, sizeof(want), "%s", i % 2 ? "250 2.0.0 Ok" :
		    "252 2.5.2 Cannot VRFY user");
		expect(o, want);
	}
	assert_non_null(o->srv);
}

/*
 * A client that pipelines thousands of commands without reading: the
 * session stops at its output bound and resumes as the client reads;
 * every reply arrives, in order.
 */
static void
test_output_backpressure(void **state)
{
	struct owner	*o = *state;
	static char	 flood[6 * 40000];
	size_t		 sent, ncmd, i;
	ssize_t		 n;
	int		 idle, small = 4096;

	for (i = 0; i < sizeof(flood); i += 6)
		memcpy(flood + i, "NOOP\r\n", 6);

	assert_int_equal(setsockopt(o->sfd, SOL_SOCKET, SO_SNDBUF, &small,
	    sizeof(small)), 0);
	assert_int_equal(setsockopt(o->cfd, SOL_SOCKET, SO_RCVBUF, &small,
	    sizeof(small)), 0);
	greet(o);
	event_del(o->rev);
	/* write until neither side can take more */
	for (sent = 0, idle = 0; sent < sizeof(flood) && idle < 20; ) {
		n = write(o->cfd, flood + sent, sizeof(flood) - sent);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			assert_true(errno == EAGAIN);
			run_for(o, 5);
			idle++;
		}
	}
	/* well past what the output bound alone can hold */
	ncmd = (sent + 5) / 6;
	assert_true(ncmd * 14 > 64 * 1024);
	assert_int_equal(event_add(o->rev, NULL), 0);
	if (sent % 6 != 0)
		client_write(o, flood + sent, 6 - sent % 6);
	for (i = 0; i < ncmd; i++)
		expect(o, "250 2.0.0 Ok");
	client_send(o, "QUIT\r\n");
	expect(o, "221 2.0.0 Bye");
	expect_closed(o, "quit");
}

/* the owner frees the session outside closed(): no further callback */
static void
test_free_while_waiting(void **state)
{
	struct owner	*o = *state;

	o->async = 1;
	greet(o);
	client_send(o, "MAIL FROM:<a@b.test>\r\n");
	run_until(o, have_pending, 5);
	smtp_server_free(o->srv);
	o->srv = NULL;
	run_until(o, have_eof, 5);
	assert_int_equal(o->nclosed, 0);
}

#define BOTH(t)								\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_sync),					\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_async)
#define ONE(t)								\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_sync)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		ONE(test_greeting),
		ONE(test_greeting_banner),
		ONE(test_ehlo_capabilities),
		ONE(test_mail_before_ehlo),
		BOTH(test_transaction),
		BOTH(test_pipelined),
		BOTH(test_pipelined_with_body_and_eof),
		BOTH(test_rcpt_rejected),
		BOTH(test_mail_rejected),
		BOTH(test_owner_reply_bounds),
		BOTH(test_owner_421),
		ONE(test_mail_params),
		ONE(test_dsn_params),
		ONE(test_requiretls),
		ONE(test_requiretls_always),
		ONE(test_requiretls_no),
		ONE(test_params_after_helo),
		ONE(test_bad_addresses),
		BOTH(test_too_many_recipients),
		BOTH(test_body_too_big),
		BOTH(test_body_bare_lf),
		ONE(test_body_bare_lf_normalized),
		ONE(test_data_write_fails),
		ONE(test_data_begin_refused),
		ONE(test_command_bare_lf),
		ONE(test_command_bare_lf_normalized),
		BOTH(test_body_nul),
		ONE(test_body_nul_normalized),
		BOTH(test_junk_commands),
		ONE(test_session_time),
		ONE(test_data_drip),
		ONE(test_session_time_owner_busy),
		ONE(test_long_line_pass),
		ONE(test_command_bare_cr),
		ONE(test_long_line),
		ONE(test_misc_commands),
		ONE(test_auth_redacted),
		ONE(test_auth_required),
		BOTH(test_auth_plain_initial),
		ONE(test_auth_plain_challenge),
		BOTH(test_auth_login),
		ONE(test_auth_temporary),
		ONE(test_auth_cancel),
		ONE(test_auth_fail_drops_pipelined),
		ONE(test_auth_errors),
		ONE(test_auth_pipelined),
		ONE(test_auth_line_bounds),
		ONE(test_auth_drop_normalized),
		ONE(test_auth_guessing),
		ONE(test_auth_transcript),
		BOTH(test_rset_and_ehlo_reset),
		ONE(test_too_many_errors),
		ONE(test_command_timeout),
		BOTH(test_data_timeout),
		ONE(test_client_gone_in_body),
		ONE(test_quit),
		ONE(test_drain_idle),
		BOTH(test_drain_in_transaction),
		ONE(test_many_pipelined),
		ONE(test_output_backpressure),
		ONE(test_free_while_waiting),
	};

	/* as in the daemon: a write to a closed peer is an error */
	signal(SIGPIPE, SIG_IGN);
	log_init(0, log_level_default(), LOGF_ALL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
