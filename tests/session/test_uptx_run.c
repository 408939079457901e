/*
 * test_uptx_run.c - the upstream transaction object driven on its own, with
 * no client session and no relay: what a queue runner will do.  A small
 * scripted upstream on a loopback listener (plaintext, one connection)
 * answers each command line with the next reply of its script.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "upstream/uptx.h"
#include "util/str.h"

/* one exchange: the command line expected (prefix; "." = body and dot) */
struct exch {
	const char	*expect;
	const char	*reply;
};

struct fake {
	int			 lfd, fd;
	struct event		*lev, *rev;
	const struct exch	*script;
	size_t			 pc;
	char			 in[65536];
	size_t			 inlen;
	char			 body[4096];
	char			 mismatch[256];
	int			 closed;
};

/* the driver: what a queue runner would be */
struct drv {
	struct uptx		*tx;
	struct smtp_path	 from, to[3];
	int			 step;
	char			 log[1024];	/* "MAIL 250\n..." */
	int			 done, released;
	enum gw_fail		 failcls, lost;
	enum uptx_state		 failstate;
	const char		*body;
	size_t			 bodyoff;
	int			 scenario;
};

static void
fake_send(struct fake *f, const char *s)
{
	assert_int_equal(send(f->fd, s, strlen(s), MSG_NOSIGNAL),
	    (ssize_t)strlen(s));
}

static void
fake_close(struct fake *f)
{
	if (f->fd == -1)
		return;
	event_free(f->rev);
	close(f->fd);
	f->fd = -1;
	f->closed = 1;
}

/* fake_step - answer whatever complete lines (or body) have arrived */
static void
fake_step(struct fake *f)
{
	const struct exch	*e;
	char			*nl;
	size_t			 ll;

	while (f->fd != -1 && (e = &f->script[f->pc])->expect != NULL) {
		if (strcmp(e->expect, ".") == 0) {
			if ((nl = memmem(f->in, f->inlen, "\r\n.\r\n", 5)) ==
			    NULL)
				return;
			ll = (size_t)(nl - f->in) + 2;
			assert_true(ll < sizeof(f->body));
			memcpy(f->body, f->in, ll);
			f->body[ll] = '\0';
			ll += 3;
		} else {
			if ((nl = memmem(f->in, f->inlen, "\r\n", 2)) == NULL)
				return;
			ll = (size_t)(nl - f->in);
			if (ll < strlen(e->expect) ||
			    memcmp(f->in, e->expect, strlen(e->expect)) != 0) {
				(void)snprintf(f->mismatch, sizeof(f->mismatch),
				    "step %zu: expected '%s', got '%.*s'",
				    f->pc, e->expect, (int)ll, f->in);
				fake_close(f);
				return;
			}
			ll += 2;
		}
		memmove(f->in, f->in + ll, f->inlen - ll);
		f->inlen -= ll;
		f->pc++;
		if (e->reply == NULL) {
			fake_close(f);
			return;
		}
		fake_send(f, e->reply);
	}
}

static void
fake_read(evutil_socket_t fd, short what, void *arg)
{
	struct fake	*f = arg;
	ssize_t		 n;

	n = recv(fd, f->in + f->inlen, sizeof(f->in) - f->inlen, 0);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		fake_close(f);
		return;
	}
	f->inlen += (size_t)n;
	fake_step(f);
}

static void
fake_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct fake	*f = arg;
	int		 fd;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	assert_int_equal(f->fd, -1);
	assert_int_equal(evutil_make_socket_nonblocking(fd), 0);
	f->fd = fd;
	f->rev = event_new(event_get_base(f->lev), fd, EV_READ | EV_PERSIST,
	    fake_read, f);
	event_add(f->rev, NULL);
	fake_send(f, f->script[0].reply);	/* the banner */
	f->pc = 1;
}

static unsigned short
fake_init(struct fake *f, struct event_base *base, const struct exch *script)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->script = script;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	assert_int_equal(evutil_make_socket_nonblocking(f->lfd), 0);
	f->lev = event_new(base, f->lfd, EV_READ | EV_PERSIST, fake_accept, f);
	event_add(f->lev, NULL);
	return ntohs(sin.sin_port);
}

static void
drv_log(struct drv *d, const char *what, int code)
{
	size_t	 l = strlen(d->log);

	(void)snprintf(d->log + l, sizeof(d->log) - l, "%s %d\n", what, code);
}

static ssize_t
drv_body(void *arg, char *buf, size_t len)
{
	struct drv	*d = arg;
	size_t		 n = strlen(d->body + d->bodyoff);

	if (n > len)
		n = len;
	memcpy(buf, d->body + d->bodyoff, n);
	d->bodyoff += n;
	return (ssize_t)n;
}

static void
drv_ready(void *arg)
{
	struct drv	*d = arg;

	drv_log(d, "READY", 0);
	if (d->scenario != 2)
		return;
	/* RFC 2920: MAIL, RCPT, RCPT, DATA before any reply */
	assert_int_equal(uptx_mail(d->tx, &d->from), 0);
	assert_int_equal(uptx_can_pipeline(d->tx), 1);
	assert_null(uptx_rcpt(d->tx, &d->to[0]));
	assert_null(uptx_rcpt(d->tx, &d->to[1]));
	assert_int_equal(uptx_can_pipeline(d->tx), 1);
	uptx_data(d->tx, drv_body, d);
	/* nothing after DATA until its reply */
	assert_int_equal(uptx_can_pipeline(d->tx), 0);
}

static void
drv_refused(void *arg, const char *why)
{
	fail_msg("MAIL refused: %s", why);
}

/* drv_reply - the runner's next move after each reply */
static void
drv_reply(void *arg, enum uptx_state s, const struct smtp_reply *rep)
{
	struct drv	*d = arg;

	drv_log(d, uptx_state_name(s), rep->code);
	if (d->scenario == 2) {
		if (s == UPTX_DATA) {
			uptx_close(d->tx);	/* QUIT */
			d->done = 1;
		}
		return;
	}
	switch (d->step++) {
	case 0:	/* MAIL */
		if (d->scenario == 1) {
			/* abandoned: the next MAIL resets it upstream first */
			assert_int_equal(uptx_mail(d->tx, &d->from), 0);
			return;
		}
		assert_null(uptx_rcpt(d->tx, &d->to[0]));
		return;
	case 1:
		assert_null(uptx_rcpt(d->tx, &d->to[1]));
		return;
	case 2:
		if (d->scenario == 1)
			fail_msg("RCPT after a 421 got a reply");
		uptx_data(d->tx, drv_body, d);
		return;
	case 3:
		uptx_close(d->tx);	/* QUIT */
		d->done = 1;
		return;
	}
}

static void
drv_failed(void *arg, enum uptx_state s, enum gw_fail cls, const char *why,
    const struct smtp_reply *authrep)
{
	struct drv	*d = arg;

	drv_log(d, "FAILED", (int)cls);
	d->failstate = s;
	d->failcls = cls;
	d->lost = uptx_lost(d->tx);
	d->done = 1;
}

static const struct uptx_cb drv_cb = {
	drv_ready, drv_reply, drv_refused, drv_failed
};

static void
drv_release(void *arg)
{
	((struct drv *)arg)->released++;
}

static void
tick(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopbreak(arg);
}

/* run - one transaction object against script, the runner's way */
static void
run(struct drv *d, struct fake *f, const struct exch *script, int scenario)
{
	struct event_base		*base = event_base_new();
	struct evdns_base		*dns = evdns_base_new(base, 0);
	struct conf_upstream		 up;
	struct smtp_client_params	 p;
	struct event			*tev;
	struct timeval			 tv = { 0, 10000 };
	int				 i;

	memset(d, 0, sizeof(*d));
	memset(&up, 0, sizeof(up));
	d->scenario = scenario;
	d->body = "Subject: t\r\n\r\nhello\r\n.dot\r\n";
	(void)str_copy(d->from.addr, "a@example.org", sizeof(d->from.addr));
	(void)str_copy(d->to[0].addr, "b@example.org", sizeof(d->to[0].addr));
	(void)str_copy(d->to[1].addr, "c@example.org", sizeof(d->to[1].addr));
	(void)str_copy(up.name, "test", sizeof(up.name));
	(void)str_copy(up.host, "127.0.0.1", sizeof(up.host));
	up.port = fake_init(f, base, script);
	up.tls = TLS_NONE;
	(void)str_copy(up.helo_name, "gw.test", sizeof(up.helo_name));
	up.connect_timeout = 5;
	up.command_timeout = 5;
	memset(&p, 0, sizeof(p));
	p.base = base;
	p.dns = dns;
	p.up = &up;
	p.helo_name = "gw.test";
	p.id = 0x77;
	p.release = drv_release;
	p.release_arg = d;
	d->tx = uptx_new(0x77, &up, &drv_cb, d);
	assert_non_null(d->tx);
	uptx_begin(d->tx);
	assert_int_equal(uptx_mail(d->tx, &d->from), -1);	/* no connection */
	assert_int_equal(uptx_open(d->tx, &uptx_conn_direct, &p, ""), 0);
	/* MAIL before ready: it waits for the connection */
	if (scenario != 2)
		assert_int_equal(uptx_mail(d->tx, &d->from), 0);
	tev = event_new(base, -1, EV_PERSIST, tick, base);
	event_add(tev, &tv);
	for (i = 0; i < 1000 && !(d->done && f->closed && d->released); i++)
		(void)event_base_dispatch(base);
	assert_true(i < 1000);
	assert_string_equal(f->mismatch, "");
	uptx_free(d->tx);
	event_free(tev);
	event_free(f->lev);
	close(f->lfd);
	evdns_base_free(dns, 0);
	event_base_free(base);
}

/* sender, two recipients (one refused), body, QUIT: every reply back */
static void
test_uptx_transaction(void **state)
{
	static const struct exch script[] = {
		{ NULL, "220 fake ESMTP\r\n" },
		{ "EHLO gw.test", "250-fake\r\n250 8BITMIME\r\n" },
		{ "MAIL FROM:<a@example.org>", "250 2.1.0 Ok\r\n" },
		{ "RCPT TO:<b@example.org>", "250 2.1.5 Ok\r\n" },
		{ "RCPT TO:<c@example.org>", "550 5.1.1 No such user\r\n" },
		{ "DATA", "354 go\r\n" },
		{ ".", "250 2.0.0 queued as X\r\n" },
		{ "QUIT", "221 bye\r\n" },
		{ NULL, NULL }
	};
	struct drv	d;
	struct fake	f;

	run(&d, &f, script, 0);
	assert_string_equal(d.log,
	    "READY 0\nMAIL 250\nRCPT 250\nRCPT 550\nDATA 250\n");
	assert_string_equal(f.body, "Subject: t\r\n\r\nhello\r\n..dot\r\n");
	assert_int_equal(d.released, 1);
}

/*
 * A transaction left open is reset before the next MAIL (PRE_RSET);
 * a 421 to RCPT is a failure in RCPT, and the transaction is lost.
 */
static void
test_uptx_reset_and_421(void **state)
{
	static const struct exch script[] = {
		{ NULL, "220 fake ESMTP\r\n" },
		{ "EHLO gw.test", "250 fake\r\n" },
		{ "MAIL FROM:<a@example.org>", "250 2.1.0 Ok\r\n" },
		{ "RSET", "250 2.0.0 Ok\r\n" },
		{ "MAIL FROM:<a@example.org>", "250 2.1.0 Ok\r\n" },
		{ "RCPT TO:<c@example.org>", "421 4.3.2 going down\r\n" },
		{ NULL, NULL }
	};
	struct drv	d;
	struct fake	f;

	run(&d, &f, script, 1);
	assert_int_equal(strncmp(d.log, "READY 0\nMAIL 250\nMAIL 250\nFAILED ",
	    strlen("READY 0\nMAIL 250\nMAIL 250\nFAILED ")), 0);
	assert_int_equal(d.failstate, UPTX_RCPT);
	assert_int_equal(d.failcls, FAIL_REJECTED);
	assert_int_equal(d.lost, FAIL_REJECTED);	/* lost mid-transaction */
	assert_int_equal(d.released, 1);
}

/*
 * Pipelined (RFC 2920): the upstream answers nothing before DATA is in,
 * so a lockstep uptx would stall here; the replies come back in order.
 */
static void
test_uptx_pipelined(void **state)
{
	static const struct exch script[] = {
		{ NULL, "220 fake ESMTP\r\n" },
		{ "EHLO gw.test", "250-fake\r\n250 PIPELINING\r\n" },
		{ "MAIL FROM:<a@example.org>", "" },
		{ "RCPT TO:<b@example.org>", "" },
		{ "RCPT TO:<c@example.org>", "" },
		{ "DATA", "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		    "550 5.1.1 No such user\r\n354 go\r\n" },
		{ ".", "250 2.0.0 queued as Y\r\n" },
		{ "QUIT", "221 bye\r\n" },
		{ NULL, NULL }
	};
	struct drv	d;
	struct fake	f;

	run(&d, &f, script, 2);
	assert_string_equal(d.log,
	    "READY 0\nMAIL 250\nRCPT 250\nRCPT 550\nDATA 250\n");
	assert_string_equal(f.body, "Subject: t\r\n\r\nhello\r\n..dot\r\n");
	assert_int_equal(d.released, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uptx_transaction),
		cmocka_unit_test(test_uptx_reset_and_421),
		cmocka_unit_test(test_uptx_pipelined),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
