/*
 * smtpload.c - a small SMTP load generator for bench/run.sh.
 *
 * One thread, epoll, C sessions at once, one command in flight per session
 * (no pipelining, like Postfix's smtp-source), or with -P a pipelined
 * envelope.  Each session connects, reads the greeting, sends EHLO, then
 * sends M messages (MAIL, RCPT, DATA, body, ".") and QUIT; a new session
 * starts while messages remain.  It
 * records, per message, the time from sending MAIL to the final 250, and
 * per session the time from connect() to the final 250 of its last
 * message (what a program sending one message per connection waits).
 *
 *   smtpload -p PORT [-a ADDR] [TLS] -n MESSAGES -c SESSIONS
 *            -m MSGS_PER_SESSION -s SIZE [-P] [-R PID] [-t SECONDS]
 *            [-l LABEL]
 *   smtpload -p PORT [-a ADDR] [TLS] -I COUNT [-M] [-t SECONDS]
 *
 * TLS: -T speaks implicit TLS (as on port 465: the handshake comes first,
 * then the greeting), with wolfSSL, a full handshake per session (no
 * resumption), TLS 1.2 or 1.3.  -C CAFILE verifies the server's chain
 * against CAFILE and its name against -H NAME (default localhost);
 * without -C the certificate is not checked.
 *
 * -P (pipelining load, RFC 2920, as msmtp and Postfix's smtp client do):
 * when the EHLO reply lists PIPELINING, MAIL FROM, RCPT TO and DATA go
 * out in one write and their replies are read in order (250, 250, 354;
 * anything else fails the session's remaining messages, as in lockstep);
 * then the body and the dot.  The dot's reply is read before the next
 * batch of the same session: the dot is not grouped with the next MAIL.
 * RFC 2920 3.1 would allow that grouping, but Postfix's client does not do
 * it (in a cached connection its sender waits after the dot; only a final
 * QUIT may follow the dot unread), and msmtp sends one message per
 * session, so the load stays what real clients send.  A session whose
 * server does not list PIPELINING falls back to lockstep; those sessions
 * are counted (lockstep=) and a warning goes to standard error.
 *
 * -R PID samples the VmRSS of process PID (from /proc) at the start and
 * then every 20 ms while the load runs; the report adds rss_start_kb,
 * rss_max_kb and rss_samples.
 *
 * Load mode prints one line of key=value pairs: ok, failed, secs,
 * msg_per_s, mail_p50_ms, mail_p99_ms, sess_p50_ms, sess_p99_ms and
 * cpu_s (the CPU time smtpload itself used, to show that it was not the
 * bottleneck); with -T also tls= (version/cipher/group of the first
 * handshake); with -P also pipelined= and lockstep= (sessions that
 * batched, and that fell back); with -R the RSS keys above.  Idle mode (-I) opens COUNT sessions (at most 50 opening
 * at a time), does the TLS handshake with -T, reads each greeting (with -M
 * also EHLO and MAIL, so that a gateway that connects upstream only at
 * MAIL has done so), prints "held N secs=S" (S: the time to open them)
 * and keeps them open until standard input reaches end of file or the time
 * limit passes; then it closes them all.
 *
 * Every loop is bounded: by the message or session count and by the time
 * limit (-t, default 120 s), after which it stops and reports what it has.
 * Exit status: 0 if every message got 250 (idle mode: every session was
 * held), 1 otherwise, 2 on usage errors.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>	/* first: the library's build options */
#include <wolfssl/ssl.h>

enum st {
	S_FREE, S_CONNECT, S_HANDSHAKE, S_GREET, S_EHLO, S_MAIL, S_RCPT,
	S_DATA, S_BODY, S_QUIT, S_HELD
};

struct sess {
	int		fd;
	enum st		st;
	WOLFSSL	       *ssl;		/* NULL without -T */
	char		in[4096];
	size_t		inlen;
	const char     *out;		/* what is left to send */
	size_t		outlen;
	int		msgs_left;
	double		t_conn, t_mail;
	int		pipe;		/* -P and the server lists PIPELINING */
};

static struct sockaddr_in dst;
static int	ep;
static int	per_sess = 1, idle_mail;
static long	total = 0, started = 0, done = 0, failed = 0;
static char    *body;
static size_t	bodylen;
static double  *lat_mail, *lat_sess;
static long	nlat_mail, nlat_sess;
static long	sess_max;
static WOLFSSL_CTX *tls_ctx;		/* -T */
static const char *tls_name = "localhost";
static char	tls_info[160];		/* the first handshake's parameters */
static int	tls_errors;
static const char *cmd_ehlo = "EHLO bench.test\r\n";
static const char *cmd_mail = "MAIL FROM:<sender@bench.test>\r\n";
static const char *cmd_rcpt = "RCPT TO:<rcpt@bench.test>\r\n";
static const char *cmd_data = "DATA\r\n";
static const char *cmd_quit = "QUIT\r\n";
static int	pipelining;		/* -P */
static char	cmd_batch[128];		/* MAIL, RCPT and DATA in one write */
static long	pipe_sess, lock_sess;	/* -P: sessions batched, fallen back */
static pid_t	rss_pid;		/* -R */
static long	rss_start, rss_max, rss_samples;
static double	t_rss;

static void	rss_tick(void);

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
usage(void)
{
	fprintf(stderr, "usage: smtpload -p PORT [-a ADDR] [TLS] -n MESSAGES"
	    " -c SESSIONS -m MSGS_PER_SESSION -s SIZE [-P] [-R PID]\n"
	    "                [-t SECONDS] [-l LABEL]\n"
	    "       smtpload -p PORT [-a ADDR] [TLS] -I COUNT [-M] [-t SECONDS]\n"
	    "TLS:   -T [-C CAFILE [-H NAME]]\n");
	exit(2);
}

static void
sess_close(struct sess *s)
{
	if (s->ssl != NULL) {
		/* one try at close_notify, so the server sees a clean end */
		if (s->st != S_CONNECT && s->st != S_HANDSHAKE)
			(void)wolfSSL_shutdown(s->ssl);
		wolfSSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, s->fd, NULL);
		close(s->fd);
	}
	s->fd = -1;
	s->st = S_FREE;
	s->inlen = 0;
	s->outlen = 0;
}

static void
sess_fail(struct sess *s)
{
	/* the messages this session had not finished count as failed */
	if (s->st != S_HELD && s->st != S_FREE)
		failed += s->msgs_left;
	sess_close(s);
}

static void
want(struct sess *s, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = s };

	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &e);
}

/*
 * Write up to N bytes, in plaintext or through TLS.  Returns the count
 * written, 0 if the socket must become ready first (*ev: for what), -1 on
 * error.  After 0 the caller retries with the same bytes, as wolfSSL
 * requires.
 */
static ssize_t
io_send(struct sess *s, const char *p, size_t n, uint32_t *ev)
{
	ssize_t r;
	int e;

	*ev = EPOLLOUT;
	if (s->ssl == NULL) {
		r = send(s->fd, p, n, MSG_NOSIGNAL);
		if (r < 0)
			return errno == EAGAIN || errno == EINTR ? 0 : -1;
		return r;
	}
	r = wolfSSL_write(s->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
	if (r > 0)
		return r;
	e = wolfSSL_get_error(s->ssl, (int)r);
	if (e == WOLFSSL_ERROR_WANT_READ)
		*ev = EPOLLIN;
	return e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE ?
	    0 : -1;
}

/*
 * Read into the session's input buffer.  Returns the count read, 0 if
 * nothing is there yet (*ev: what to wait for), -1 on end of file or
 * error.
 */
static ssize_t
io_recv(struct sess *s, uint32_t *ev)
{
	size_t room = sizeof s->in - s->inlen;
	ssize_t r;
	int e;

	*ev = EPOLLIN;
	if (room == 0)
		return -1;	/* a reply line longer than the buffer */
	if (s->ssl == NULL) {
		r = recv(s->fd, s->in + s->inlen, room, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		return r > 0 ? r : -1;
	}
	r = wolfSSL_read(s->ssl, s->in + s->inlen, (int)room);
	if (r > 0)
		return r;
	e = wolfSSL_get_error(s->ssl, (int)r);
	if (e == WOLFSSL_ERROR_WANT_WRITE)
		*ev = EPOLLIN | EPOLLOUT;
	return e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE ?
	    0 : -1;
}

/*
 * Send what is pending; returns -1 on error.  At most 1 MiB per call to
 * io_send (a retry after "not now" asks for the same, as wolfSSL needs),
 * so that -R samples while a big body goes out: on loopback the loop
 * can run for the whole body without the socket ever filling up.
 */
static int
flush(struct sess *s)
{
	uint32_t ev = EPOLLIN;

	while (s->outlen > 0) {
		size_t k = s->outlen < 1048576 ? s->outlen : 1048576;
		ssize_t n = io_send(s, s->out, k, &ev);

		if (n < 0)
			return -1;
		if (n == 0)
			break;
		s->out += n;
		s->outlen -= (size_t)n;
		rss_tick();
	}
	want(s, s->outlen > 0 ? EPOLLIN | ev : EPOLLIN);
	return 0;
}

static int
sendcmd(struct sess *s, const char *c, enum st next)
{
	s->out = c;
	s->outlen = strlen(c);
	s->st = next;
	return flush(s);
}

static int
sess_open(struct sess *s)
{
	struct epoll_event e = { .events = EPOLLOUT, .data.ptr = s };
	int one = 1;

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return -1;
	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	s->t_conn = now();
	s->inlen = 0;
	s->outlen = 0;
	s->pipe = 0;
	if (connect(s->fd, (struct sockaddr *)&dst, sizeof dst) < 0 &&
	    errno != EINPROGRESS) {
		close(s->fd);
		s->fd = -1;
		return -1;
	}
	s->st = S_CONNECT;
	epoll_ctl(ep, EPOLL_CTL_ADD, s->fd, &e);
	return 0;
}

/* load mode: start a session if messages remain */
static void
sess_start(struct sess *s)
{
	long n = total - started;

	if (n <= 0)
		return;
	if (n > per_sess)
		n = per_sess;
	s->msgs_left = (int)n;
	started += n;
	if (sess_open(s) < 0) {
		failed += n;
		s->st = S_FREE;
	}
}

static int
next_message(struct sess *s)
{
	s->t_mail = now();
	if (s->pipe)		/* the replies are read in S_MAIL..S_DATA */
		return sendcmd(s, cmd_batch, S_MAIL);
	return sendcmd(s, cmd_mail, S_MAIL);
}

/*
 * -P: does this EHLO reply line ("250-KEYWORD ..." or "250 KEYWORD")
 * list PIPELINING?  n: the line's length with its line end.
 */
static int
ehlo_pipelining(const char *line, size_t n)
{
	static const char kw[] = "PIPELINING";
	size_t k = sizeof kw - 1;

	if (n < 4 + k || strncasecmp(line + 4, kw, k) != 0)
		return 0;
	return n == 4 + k || strchr(" \r\n", line[4 + k]) != NULL;
}

/* -P: the EHLO reply is complete: batch, or fall back and say so */
static void
pipe_decide(struct sess *s)
{
	if (!pipelining || sess_max > 0)
		return;
	if (s->pipe) {
		pipe_sess++;
		return;
	}
	if (lock_sess++ == 0)
		fprintf(stderr, "smtpload: warning: no PIPELINING in the EHLO"
		    " reply: lockstep for such sessions\n");
}

/* a complete reply arrived: code is its 3-digit code */
static int
on_reply(struct sess *s, int code)
{
	double t;

	switch (s->st) {
	case S_GREET:
		if (code != 220)
			return -1;
		if (sess_max > 0 && !idle_mail) {
			s->st = S_HELD;
			return 0;
		}
		return sendcmd(s, cmd_ehlo, S_EHLO);
	case S_EHLO:
		if (code != 250)
			return -1;
		pipe_decide(s);
		return next_message(s);
	case S_MAIL:
		if (code != 250)
			return -1;
		if (sess_max > 0) {
			s->st = S_HELD;
			return 0;
		}
		if (s->pipe) {		/* RCPT and DATA already sent */
			s->st = S_RCPT;
			return 0;
		}
		return sendcmd(s, cmd_rcpt, S_RCPT);
	case S_RCPT:
		if (code != 250)
			return -1;
		if (s->pipe) {
			s->st = S_DATA;
			return 0;
		}
		return sendcmd(s, cmd_data, S_DATA);
	case S_DATA:
		if (code != 354)
			return -1;
		s->out = body;
		s->outlen = bodylen;
		s->st = S_BODY;
		return flush(s);
	case S_BODY:
		if (code != 250)
			return -1;
		t = now();
		lat_mail[nlat_mail++] = t - s->t_mail;
		done++;
		if (--s->msgs_left > 0)
			return next_message(s);
		lat_sess[nlat_sess++] = t - s->t_conn;
		return sendcmd(s, cmd_quit, S_QUIT);
	case S_QUIT:
		sess_close(s);
		return 1;
	default:
		return -1;
	}
}

/* parse complete reply lines; returns -1 on failure, 1 if closed */
static int
on_input(struct sess *s)
{
	for (;;) {
		char *nl = memchr(s->in, '\n', s->inlen);
		size_t ll;
		int r, code, cont;

		if (nl == NULL) {
			if (s->inlen == sizeof s->in)
				return -1;
			return 0;
		}
		ll = (size_t)(nl - s->in) + 1;
		if (ll < 4 || s->in[0] < '2' || s->in[0] > '5')
			return -1;
		code = atoi(s->in);
		/* "250-..." continues; "250 ...", "250" and "250 " end */
		cont = ll > 4 && s->in[3] == '-';
		if (s->st == S_EHLO && pipelining && code == 250 &&
		    ehlo_pipelining(s->in, ll))
			s->pipe = 1;
		memmove(s->in, s->in + ll, s->inlen - ll);
		s->inlen -= ll;
		if (!cont) {
			r = on_reply(s, code);
			if (r != 0)
				return r;	/* failed, or closed */
		}
		if (s->st == S_HELD && s->inlen > 0)
			return -1;
	}
}

/* -R: one sample of the VmRSS of rss_pid, in kB (-1: gone or unreadable) */
static long
rss_read(void)
{
	char path[64], buf[4096], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)rss_pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return -1;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((p = strstr(buf, "\nVmRSS:")) == NULL)
		return -1;
	return strtol(p + 7, NULL, 10);
}

/* -R: sample if 20 ms have passed since the last sample */
static void
rss_tick(void)
{
	double t = now();
	long v;

	if (rss_pid <= 0 || t - t_rss < 0.020)
		return;
	t_rss = t;
	if ((v = rss_read()) < 0)
		return;
	if (rss_samples++ == 0)
		rss_start = v;
	if (v > rss_max)
		rss_max = v;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
pct(double *v, long n, double p)
{
	long i;

	if (n == 0)
		return 0;
	i = (long)(p * (double)n + 0.5) - 1;
	if (i < 0)
		i = 0;
	if (i >= n)
		i = n - 1;
	return v[i] * 1000.0;
}

/* note the first handshake's parameters, for the report */
static void
tls_note(struct sess *s)
{
	const char *g;

	if (tls_info[0] != '\0')
		return;
	g = wolfSSL_get_curve_name(s->ssl);
	snprintf(tls_info, sizeof tls_info, "%s/%s/%s",
	    wolfSSL_get_version(s->ssl), wolfSSL_get_cipher(s->ssl),
	    g != NULL ? g : "-");
}

/* one step of the client handshake; -1 on failure */
static int
handshake(struct sess *s)
{
	int r = wolfSSL_connect(s->ssl), e;

	if (r == WOLFSSL_SUCCESS) {
		tls_note(s);
		s->st = S_GREET;
		want(s, EPOLLIN);
		return 0;
	}
	e = wolfSSL_get_error(s->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ) {
		want(s, EPOLLIN);
		return 0;
	}
	if (e == WOLFSSL_ERROR_WANT_WRITE) {
		want(s, EPOLLIN | EPOLLOUT);
		return 0;
	}
	if (tls_errors++ < 5) {		/* a few, not one per session */
		char buf[WOLFSSL_MAX_ERROR_SZ];

		fprintf(stderr, "smtpload: TLS handshake: %d %s\n", e,
		    wolfSSL_ERR_error_string((unsigned long)e, buf));
	}
	return -1;
}

/* the TCP connection is up: start TLS or wait for the greeting */
static int
connected(struct sess *s, uint32_t ev)
{
	int err = 0;
	socklen_t el = sizeof err;

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0 ||
	    err != 0 || (ev & (EPOLLERR | EPOLLHUP)))
		return -1;
	if (tls_ctx == NULL) {
		s->st = S_GREET;
		want(s, EPOLLIN);
		return 0;
	}
	s->ssl = wolfSSL_new(tls_ctx);
	if (s->ssl == NULL || wolfSSL_set_fd(s->ssl, s->fd) != WOLFSSL_SUCCESS)
		return -1;
	if (wolfSSL_check_domain_name(s->ssl, tls_name) != WOLFSSL_SUCCESS ||
	    wolfSSL_UseSNI(s->ssl, WOLFSSL_SNI_HOST_NAME, tls_name,
	    (unsigned short)strlen(tls_name)) != WOLFSSL_SUCCESS)
		return -1;
	s->st = S_HANDSHAKE;
	return handshake(s);
}

static void
handle(struct sess *s, uint32_t ev)
{
	if (s->st == S_CONNECT) {
		if (connected(s, ev) < 0)
			sess_fail(s);
		return;
	}
	if (s->st == S_HANDSHAKE) {
		if (handshake(s) < 0) {
			sess_fail(s);
			return;
		}
		if (s->st == S_HANDSHAKE)
			return;
		/* the greeting may already be inside wolfSSL: read on */
	}
	if (s->outlen > 0 && (ev & EPOLLOUT || s->ssl != NULL)) {
		if (flush(s) < 0) {
			sess_fail(s);
			return;
		}
	}
	if (s->ssl == NULL && !(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return;
	/*
	 * Read until nothing is left: records wolfSSL has already taken off
	 * the socket do not make it readable again.  Bounded: each pass
	 * consumes input, and 64 passes are plenty for one event.
	 */
	for (int pass = 0; pass < 64; pass++) {
		uint32_t wev;
		ssize_t n = io_recv(s, &wev);
		int r;

		if (n < 0) {
			if (s->st == S_QUIT)	/* closed after QUIT: fine */
				sess_close(s);
			else
				sess_fail(s);
			return;
		}
		if (n == 0) {
			if (wev & EPOLLOUT)
				want(s, wev);
			return;
		}
		s->inlen += (size_t)n;
		r = on_input(s);
		if (r < 0) {
			sess_fail(s);
			return;
		}
		if (r > 0 || s->st == S_FREE)
			return;		/* closed after QUIT */
		if (s->ssl == NULL)
			return;		/* the socket stays readable if more */
	}
}

/* the client context for -T; verification only with a CA file */
static int
tls_setup(const char *cafile)
{
	if (wolfSSL_Init() != WOLFSSL_SUCCESS)
		return -1;
	tls_ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
	if (tls_ctx == NULL ||
	    wolfSSL_CTX_SetMinVersion(tls_ctx, WOLFSSL_TLSV1_2) !=
	    WOLFSSL_SUCCESS)
		return -1;
	if (cafile == NULL) {
		wolfSSL_CTX_set_verify(tls_ctx, WOLFSSL_VERIFY_NONE, NULL);
		return 0;
	}
	if (wolfSSL_CTX_load_verify_locations(tls_ctx, cafile, NULL) !=
	    WOLFSSL_SUCCESS) {
		fprintf(stderr, "smtpload: cannot load CA file %s\n", cafile);
		return -1;
	}
	wolfSSL_CTX_set_verify(tls_ctx, WOLFSSL_VERIFY_PEER, NULL);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *label = "load", *cafile = NULL;
	int port = 0, conc = 1, size = 1000, opt, i, tls = 0;
	double tlimit = 120, t0, t1;
	struct sess *ss;
	struct rlimit rl;
	struct rusage ru;
	struct epoll_event evs[256];

	while ((opt = getopt(argc, argv, "a:p:n:c:m:s:t:l:I:MTC:H:PR:")) != -1) {
		switch (opt) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': total = atol(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 'm': per_sess = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		case 't': tlimit = atof(optarg); break;
		case 'l': label = optarg; break;
		case 'I': sess_max = atol(optarg); break;
		case 'M': idle_mail = 1; break;
		case 'T': tls = 1; break;
		case 'C': cafile = optarg; break;
		case 'H': tls_name = optarg; break;
		case 'P': pipelining = 1; break;
		case 'R': rss_pid = (pid_t)atol(optarg); break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || conc < 1 || conc > 10000 ||
	    per_sess < 1 || size < 0 || size > 1024 * 1024 * 1024 ||
	    tlimit <= 0 || (sess_max == 0 && (total < 1 || total > 10000000)) ||
	    sess_max < 0 || sess_max > 100000 || (cafile != NULL && !tls) ||
	    strlen(tls_name) == 0 || strlen(tls_name) > 253 ||
	    rss_pid < 0 || (sess_max > 0 && (pipelining || rss_pid > 0)))
		usage();
	snprintf(cmd_batch, sizeof cmd_batch, "%s%s%s", cmd_mail, cmd_rcpt,
	    cmd_data);
	signal(SIGPIPE, SIG_IGN);	/* a peer gone: an error, not death */
	if (tls && tls_setup(cafile) < 0) {
		fprintf(stderr, "smtpload: TLS set-up failed\n");
		return 2;
	}
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1)
		usage();
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	/* the message: a few headers, then 76-character lines, then "." */
	body = malloc((size_t)size + 256);
	if (body == NULL)
		return 1;
	bodylen = (size_t)snprintf(body, 256, "From: <sender@bench.test>\r\n"
	    "To: <rcpt@bench.test>\r\nSubject: smtpgate bench\r\n\r\n");
	while (bodylen < (size_t)size) {
		size_t k = (size_t)size - bodylen;

		if (k > 76)
			k = 76;
		memset(body + bodylen, 'x', k);
		bodylen += k;
		memcpy(body + bodylen, "\r\n", 2);
		bodylen += 2;
	}
	memcpy(body + bodylen, ".\r\n", 3);
	bodylen += 3;

	if (sess_max > 0)
		conc = (int)sess_max;
	ss = calloc((size_t)conc, sizeof *ss);
	lat_mail = calloc((size_t)(total > 0 ? total : 1), sizeof(double));
	lat_sess = calloc((size_t)(total > 0 ? total : 1), sizeof(double));
	if (ss == NULL || lat_mail == NULL || lat_sess == NULL)
		return 1;
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < conc; i++)
		ss[i].fd = -1;

	t0 = now();
	if (sess_max > 0) {
		/* idle mode: open in waves of at most 50 opening at once */
		long opened = 0, held = 0, bad = 0;

		while (held + bad < sess_max && now() - t0 < tlimit) {
			long opening = 0;
			int n;

			for (i = 0; i < conc; i++)
				if (ss[i].st != S_FREE && ss[i].st != S_HELD)
					opening++;
			while (opening < 50 && opened < sess_max) {
				if (sess_open(&ss[opened]) < 0) {
					bad++;
					ss[opened].st = S_FREE;
				} else
					opening++;
				opened++;
			}
			n = epoll_wait(ep, evs, 256, 100);
			for (i = 0; i < n; i++)
				handle(evs[i].data.ptr, evs[i].events);
			held = bad = 0;
			for (i = 0; i < opened; i++) {
				if (ss[i].st == S_HELD)
					held++;
				else if (ss[i].st == S_FREE)
					bad++;
			}
		}
		printf("held %ld secs=%.2f%s%s\n", held, now() - t0,
		    tls ? " tls=" : "", !tls ? "" : tls_info[0] ? tls_info : "-");
		fflush(stdout);
		/* hold until stdin closes, or the time limit */
		{
			struct epoll_event e = { .events = EPOLLIN,
			    .data.ptr = NULL };
			char b[64];
			int stop = 0;

			epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
			while (!stop && now() - t0 < tlimit) {
				int n = epoll_wait(ep, evs, 256, 200);

				for (i = 0; i < n; i++) {
					if (evs[i].data.ptr == NULL) {
						if (read(0, b, sizeof b) <= 0)
							stop = 1;
					} else {
						/* a held session that talks or
						 * closes is lost */
						sess_close(evs[i].data.ptr);
						held--;
					}
				}
			}
			if (!stop)
				fprintf(stderr, "smtpload: time limit while"
				    " holding\n");
		}
		for (i = 0; i < conc; i++)
			sess_close(&ss[i]);
		printf("released %ld\n", held);
		return held == sess_max ? 0 : 1;
	}

	for (i = 0; i < conc; i++)
		sess_start(&ss[i]);
	rss_tick();
	while (done + failed < total) {
		int n;

		if (now() - t0 > tlimit) {
			fprintf(stderr, "smtpload: %s: time limit of %.0f s"
			    " reached\n", label, tlimit);
			break;
		}
		n = epoll_wait(ep, evs, 256, rss_pid > 0 ? 20 : 100);
		for (i = 0; i < n; i++)
			handle(evs[i].data.ptr, evs[i].events);
		for (i = 0; i < conc; i++)
			if (ss[i].st == S_FREE)
				sess_start(&ss[i]);
		rss_tick();
	}
	/* let the last QUITs finish (bounded), then close everything */
	t1 = now();
	while (now() - t1 < 2.0) {
		int busy = 0, n;

		for (i = 0; i < conc; i++)
			if (ss[i].st != S_FREE)
				busy = 1;
		if (!busy)
			break;
		n = epoll_wait(ep, evs, 256, 50);
		for (i = 0; i < n; i++)
			handle(evs[i].data.ptr, evs[i].events);
	}
	for (i = 0; i < conc; i++)
		sess_close(&ss[i]);

	getrusage(RUSAGE_SELF, &ru);
	qsort(lat_mail, (size_t)nlat_mail, sizeof(double), cmp);
	qsort(lat_sess, (size_t)nlat_sess, sizeof(double), cmp);
	printf("label=%s ok=%ld failed=%ld secs=%.3f msg_per_s=%.1f "
	    "mail_p50_ms=%.2f mail_p99_ms=%.2f sess_p50_ms=%.2f "
	    "sess_p99_ms=%.2f cpu_s=%.3f%s%s", label, done, total - done, t1 - t0,
	    done / (t1 - t0), pct(lat_mail, nlat_mail, 0.50),
	    pct(lat_mail, nlat_mail, 0.99), pct(lat_sess, nlat_sess, 0.50),
	    pct(lat_sess, nlat_sess, 0.99),
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	    tls ? " tls=" : "", !tls ? "" : tls_info[0] ? tls_info : "-");
	if (pipelining)
		printf(" pipelined=%ld lockstep=%ld", pipe_sess, lock_sess);
	if (rss_pid > 0)
		printf(" rss_start_kb=%ld rss_max_kb=%ld rss_samples=%ld",
		    rss_start, rss_max, rss_samples);
	printf("\n");
	if (lock_sess > 0)
		fprintf(stderr, "smtpload: %s: %ld of %ld sessions in lockstep"
		    " (no PIPELINING announced)\n", label, lock_sess,
		    lock_sess + pipe_sess);
	return done == total ? 0 : 1;
}
