/*
 * test_pop3_client.c - the POP3 login client against a scripted fake POP3
 * server on a loopback listener, run in a thread with blocking sockets.
 *
 * These are the dialogues Dovecot (tests/integration) cannot be made to
 * produce: RFC 1939's APOP example byte for byte, plaintext injected after
 * the +OK to STLS, a CAPA without STLS, bare LF, over-long lines, a -ERR
 * greeting, a server that closes instead of answering QUIT.  Every case
 * runs with the debug trace on and redirected to a file, which must not
 * hold the secret nor the APOP digest.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/time.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "pop/pop3_client.h"
#include "tls/tls.h"
#include "util/log.h"

#define SECRET		"tanstaaf"
#define DIGEST		"c4c9334bac560ecc979e58001b3e22fb"
#define RFC_GREETING	"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n"

enum step_kind {
	ST_END = 0,
	ST_SEND,	/* send text */
	ST_EXPECT,	/* the next line must equal text */
	ST_CLOSE	/* close the connection */
};

struct step {
	enum step_kind	 kind;
	const char	*text;
};

struct fake {
	int			 lfd;
	unsigned short		 port;
	const struct step	*script;
	char			 got[4096];	/* every line received, '\n'-joined */
	int			 failed_step;	/* -1 or the step that failed */
	pthread_t		 thread;
};

struct run {
	struct event_base	*base;
	struct pop3_client	*pc;
	int			 called;
	enum gw_fail		 cls;
	char			 why[512];
};

static int	 read_line(int, char *, size_t);
static void	*fake_main(void *);
static void	 fake_start(struct fake *, const struct step *);
static void	 on_done(void *, enum gw_fail, const char *);
static void	 run_login(const struct step *, enum pop_tls_mode, int,
		    struct run *, struct fake *);

/* one line without its CRLF; -1 on EOF, timeout or a line too long */
static int
read_line(int fd, char *buf, size_t len)
{
	size_t	 n = 0;
	char	 c;

	while (n + 1 < len) {
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n' && n > 0 && buf[n - 1] == '\r') {
			buf[n - 1] = '\0';
			return 0;
		}
		buf[n++] = c;
	}
	return -1;
}

static void *
fake_main(void *arg)
{
	struct fake	*f = arg;
	struct timeval	 tv = { 5, 0 };
	char		 line[1024];
	size_t		 i;
	int		 fd;

	if ((fd = accept(f->lfd, NULL, NULL)) == -1) {
		f->failed_step = 0;
		return NULL;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	for (i = 0; f->script[i].kind != ST_END; i++) {
		const struct step *s = &f->script[i];

		if (s->kind == ST_SEND) {
			if (write(fd, s->text, strlen(s->text)) !=
			    (ssize_t)strlen(s->text))
				break;
		} else if (s->kind == ST_EXPECT) {
			if (read_line(fd, line, sizeof(line)) == -1)
				break;
			(void)snprintf(f->got + strlen(f->got),
			    sizeof(f->got) - strlen(f->got), "%s\n", line);
			if (strcmp(line, s->text) != 0)
				break;
		} else if (s->kind == ST_CLOSE)
			break;
	}
	if (f->script[i].kind != ST_END && f->script[i].kind != ST_CLOSE)
		f->failed_step = (int)i;
	/* let the client see the end of what it was sent, then EOF */
	(void)shutdown(fd, SHUT_WR);
	while (read(fd, line, sizeof(line)) > 0)
		;
	close(fd);
	return NULL;
}

static void
fake_start(struct fake *f, const struct step *script)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);

	memset(f, 0, sizeof(*f));
	f->script = script;
	f->failed_step = -1;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

/* the owner's callback: record, free the client inside it (as relay does) */
static void
on_done(void *arg, enum gw_fail cls, const char *why)
{
	struct run	*r = arg;

	r->called++;
	r->cls = cls;
	(void)snprintf(r->why, sizeof(r->why), "%s", why);
	pop3_client_free(r->pc);
	r->pc = NULL;
	event_base_loopbreak(r->base);
}

/*
 * run_login - one login against the script with the trace in a file;
 * the trace must not hold the secret or the digest.
 */
static void
run_login(const struct step *script, enum pop_tls_mode mode, int cleartext,
    struct run *r, struct fake *f)
{
	struct pop3_client_params	 p;
	struct conf_upstream		*up;
	struct tls_client_ctx		*ctx = NULL;
	struct evdns_base		*dns;
	struct timeval			 tv = { 10, 0 };
	char				 err[256], tpath[] = "/tmp/pop3-trace-XXXXXX";
	char				 trace[65536];
	int				 tfd, saved;
	ssize_t				 n;

	memset(r, 0, sizeof(*r));
	fake_start(f, script);
	r->base = event_base_new();
	dns = evdns_base_new(r->base, 0);
	assert_non_null(dns);
	if (mode != POP_TLS_NONE) {
		up = calloc(1, sizeof(*up));
		assert_non_null(up);
		(void)snprintf(up->host, sizeof(up->host), "127.0.0.1");
		(void)snprintf(up->tlsset.tls_name, sizeof(up->tlsset.tls_name), "127.0.0.1");
		(void)snprintf(up->tlsset.ca_file, sizeof(up->tlsset.ca_file), "system");
		up->port = f->port;
		up->tlsset.verify_hostname = 1;
		up->tlsset.tls_min_version = CONF_TLS_V12;
		up->tlsset.tls_max_version = CONF_TLS_V13;
		ctx = tls_upstream_ctx_new(up, err, sizeof(err));
		free(up);
		assert_non_null(ctx);
	}

	/* the trace goes to a file for the whole login */
	tfd = mkstemp(tpath);
	assert_true(tfd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(dup2(tfd, 2) == 2);

	memset(&p, 0, sizeof(p));
	p.base = r->base;
	p.dns = dns;
	p.host = "127.0.0.1";
	p.port = f->port;
	p.tls = mode;
	p.tlsctx = ctx;
	p.user = "mrose";
	p.secret = SECRET;
	p.allow_cleartext = cleartext;
	p.timeout = 5;
	p.id = 0x1234;
	r->pc = pop3_client_new(&p, on_done, r);
	if (r->pc != NULL) {
		event_base_loopexit(r->base, &tv);
		(void)event_base_dispatch(r->base);
	}
	pop3_client_free(r->pc);	/* only if done never came */

	fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	close(saved);
	(void)lseek(tfd, 0, SEEK_SET);
	n = read(tfd, trace, sizeof(trace) - 1);
	close(tfd);
	(void)unlink(tpath);
	trace[n > 0 ? n : 0] = '\0';
	if (getenv("SMTPGATE_TEST_DEBUG") != NULL)
		fprintf(stderr, "%s", trace);
	assert_null(strstr(trace, SECRET));
	assert_null(strstr(trace, DIGEST));

	/* a thread still in accept() returns (EINVAL) */
	(void)shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	tls_client_ctx_free(ctx);
	evdns_base_free(dns, 0);
	event_base_free(r->base);
	assert_int_equal(r->called, 1);
}

/* RFC 1939 section 7's example, byte for byte, then QUIT */
static void
test_apop_rfc1939(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, RFC_GREETING },
		{ ST_EXPECT, "APOP mrose " DIGEST },
		{ ST_SEND, "+OK mrose's maildrop has 2 messages\r\n" },
		{ ST_EXPECT, "QUIT" },
		{ ST_SEND, "+OK dewey POP3 server signing off\r\n" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_NONE, 0, &r, &f);
	assert_int_equal(f.failed_step, -1);
	assert_int_equal(r.cls, FAIL_NONE);
}

/* USER/PASS in cleartext only with allow_cleartext; QUIT unanswered is ok */
static void
test_user_pass_cleartext_allowed(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, "+OK ready\r\n" },
		{ ST_EXPECT, "USER mrose" },
		{ ST_SEND, "+OK\r\n" },
		{ ST_EXPECT, "PASS " SECRET },
		{ ST_SEND, "+OK Logged in.\r\n" },
		{ ST_EXPECT, "QUIT" },
		{ ST_CLOSE, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_NONE, 1, &r, &f);
	assert_int_equal(f.failed_step, -1);
	assert_int_equal(r.cls, FAIL_NONE);
}

static void
test_user_pass_cleartext_refused(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, "+OK ready\r\n" },
		{ ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_NONE, 0, &r, &f);
	assert_int_equal(r.cls, FAIL_STARTTLS_UNAVAILABLE);
	assert_string_equal(f.got, "");
}

/* bytes after the +OK to STLS would be read as if they came over TLS */
static void
test_stls_injection(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, "+OK ready\r\n" },
		{ ST_EXPECT, "CAPA" },
		{ ST_SEND, "+OK\r\nUSER\r\nSTLS\r\n.\r\n" },
		{ ST_EXPECT, "STLS" },
		{ ST_SEND, "+OK Begin TLS\r\n+OK injected\r\n" },
		{ ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_STLS, 0, &r, &f);
	assert_int_equal(r.cls, FAIL_PROTOCOL);
	assert_string_equal(f.got, "CAPA\nSTLS\n");
}

static void
test_stls_not_offered(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, "+OK ready\r\n" },
		{ ST_EXPECT, "CAPA" },
		{ ST_SEND, "+OK\r\nUSER\r\n.\r\n" },
		{ ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_STLS, 0, &r, &f);
	assert_int_equal(r.cls, FAIL_STARTTLS_UNAVAILABLE);
	assert_string_equal(f.got, "CAPA\n");
}

static void
test_stls_refused(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, "+OK ready\r\n" },
		{ ST_EXPECT, "CAPA" },
		{ ST_SEND, "-ERR no CAPA here\r\n" },
		{ ST_EXPECT, "STLS" },
		{ ST_SEND, "-ERR no TLS either\r\n" },
		{ ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_STLS, 0, &r, &f);
	assert_int_equal(r.cls, FAIL_STARTTLS_UNAVAILABLE);
	assert_string_equal(f.got, "CAPA\nSTLS\n");
}

static void
test_wrong_password(void **state)
{
	static const struct step s[] = {
		{ ST_SEND, RFC_GREETING },
		{ ST_EXPECT, "APOP mrose " DIGEST },
		{ ST_SEND, "-ERR [AUTH] Authentication failed.\r\n" },
		{ ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	struct run	r;
	struct fake	f;

	(void)state;
	run_login(s, POP_TLS_NONE, 0, &r, &f);
	assert_int_equal(r.cls, FAIL_AUTH);
	assert_non_null(strstr(r.why, "[AUTH] Authentication failed."));
}

/* broken servers: each a protocol failure before any credential is sent */
static void
test_broken_servers(void **state)
{
	static const struct step err_greeting[] = {
		{ ST_SEND, "-ERR go away\r\n" }, { ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	static const struct step bare_lf[] = {
		{ ST_SEND, "+OK ready\n" }, { ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	static const struct step garbage[] = {
		{ ST_SEND, "220 smtp.example ESMTP\r\n" }, { ST_EXPECT, "never" },
		{ ST_END, NULL }
	};
	static const struct step pipelined[] = {
		{ ST_SEND, "+OK ready\r\n+OK extra\r\n" },
		{ ST_EXPECT, "never" }, { ST_END, NULL }
	};
	static const struct step closed[] = {
		{ ST_SEND, "+OK ready\r\n" }, { ST_EXPECT, "USER mrose" },
		{ ST_CLOSE, NULL }
	};
	static char		 longline[700];
	static struct step	 toolong[] = {
		{ ST_SEND, longline }, { ST_EXPECT, "never" }, { ST_END, NULL }
	};
	static const struct {
		const struct step	*script;
		enum gw_fail		 cls;
	} cases[] = {
		{ err_greeting, FAIL_REJECTED },
		{ bare_lf, FAIL_PROTOCOL },
		{ garbage, FAIL_PROTOCOL },
		{ pipelined, FAIL_PROTOCOL },
		{ closed, FAIL_CLOSED },
		{ toolong, FAIL_PROTOCOL },
	};
	struct run	r;
	struct fake	f;
	size_t		i;
	int		bad = 0;

	(void)state;
	memset(longline, 'x', sizeof(longline) - 3);
	memcpy(longline, "+OK ", 4);
	memcpy(longline + sizeof(longline) - 3, "\r\n", 3);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		run_login(cases[i].script, POP_TLS_NONE, 1, &r, &f);
		if (r.cls != cases[i].cls) {
			print_error("case %zu: got %s (%s), want %s\n", i,
			    fail_name(r.cls), r.why, fail_name(cases[i].cls));
			bad++;
		}
		if (strstr(f.got, "PASS") != NULL) {
			print_error("case %zu: PASS was sent\n", i);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* arguments that would inject a command are refused up front */
static void
test_injection_in_arguments(void **state)
{
	struct pop3_client_params	 p;
	struct event_base		*base = event_base_new();

	(void)state;
	memset(&p, 0, sizeof(p));
	p.base = base;
	p.host = "127.0.0.1";
	p.port = 110;
	p.tls = POP_TLS_NONE;
	p.user = "mrose\r\nDELE 1";
	p.secret = SECRET;
	p.timeout = 5;
	assert_null(pop3_client_new(&p, on_done, NULL));
	p.user = "mrose";
	p.secret = "pw\nDELE 1";
	assert_null(pop3_client_new(&p, on_done, NULL));
	p.user = "two words";
	p.secret = SECRET;
	assert_null(pop3_client_new(&p, on_done, NULL));
	event_base_free(base);
}

static int
setup(void **state)
{
	(void)state;
	signal(SIGPIPE, SIG_IGN);
	log_init(0, GW_LOG_DEBUG, LOGF_ALL);
	tls_init();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tls_cleanup();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apop_rfc1939),
		cmocka_unit_test(test_user_pass_cleartext_allowed),
		cmocka_unit_test(test_user_pass_cleartext_refused),
		cmocka_unit_test(test_stls_injection),
		cmocka_unit_test(test_stls_not_offered),
		cmocka_unit_test(test_stls_refused),
		cmocka_unit_test(test_wrong_password),
		cmocka_unit_test(test_broken_servers),
		cmocka_unit_test(test_injection_in_arguments),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
