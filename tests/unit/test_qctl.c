/*
 * test_qctl - the queue's control socket: qctl_parse's table (every
 * command, ids, extra words, bounds), then the real server on an event
 * loop with ops of the test's own (they record each request and answer
 * what the test says), driven by qctl_client in a forked child or by a
 * raw socket: answers and exit codes, "error:" lines, the socket's mode,
 * a stale socket, the busy limit, the deadline of a silent client.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "queue/qctl.h"
#include "queue/qctl_int.h"
#include "util/buf.h"

#define ID1		"3f2a9c0d11e84b27"
#define ID1_VAL		0x3f2a9c0d11e84b27ULL
#define PUMP_MAX	5000	/* loop turns of about 2 ms: 10 s at most */
#define CONN_MAX	4	/* qctl.c's QCTL_CONN_MAX */

static void
test_parse_table(void **state)
{
	static const struct {
		const char	*line;
		const char	*err;	/* a part of the reason, or NULL */
		enum qctl_cmd	 cmd;
		uint64_t	 id;
	} cases[] = {
		{ "list", NULL, QCTL_LIST, 0 },
		{ "show " ID1, NULL, QCTL_SHOW, ID1_VAL },
		{ "flush", NULL, QCTL_FLUSH, 0 },
		{ "flush " ID1, NULL, QCTL_FLUSH, ID1_VAL },
		{ "delete " ID1, NULL, QCTL_DELETE, ID1_VAL },
		{ "hold " ID1, NULL, QCTL_HOLD, ID1_VAL },
		{ "release " ID1, NULL, QCTL_RELEASE, ID1_VAL },
		{ "delete 3F2A9C0D11E84B27", NULL, QCTL_DELETE, ID1_VAL },
		{ "show ffffffffffffffff", NULL, QCTL_SHOW, UINT64_MAX },
		{ "show 0000000000000001", NULL, QCTL_SHOW, 1 },
		{ "  list\t ", NULL, QCTL_LIST, 0 },
		{ "hold \t " ID1 " ", NULL, QCTL_HOLD, ID1_VAL },
		{ "", "empty command", 0, 0 },
		{ " \t ", "empty command", 0, 0 },
		{ "LIST", "unknown command", 0, 0 },
		{ "lis", "unknown command", 0, 0 },
		{ "listx", "unknown command", 0, 0 },
		{ "flushall", "unknown command", 0, 0 },
		{ "list " ID1, "list takes no argument", 0, 0 },
		{ "show", "show needs a message id", 0, 0 },
		{ "delete", "delete needs a message id", 0, 0 },
		{ "hold", "hold needs a message id", 0, 0 },
		{ "release ", "release needs a message id", 0, 0 },
		{ "show 3f2a9c0d11e84b2", "16 hex digits", 0, 0 },
		{ "show 3f2a9c0d11e84b277", "16 hex digits", 0, 0 },
		{ "show 3f2a9c0d11e84b2g", "16 hex digits", 0, 0 },
		{ "show +f2a9c0d11e84b27", "16 hex digits", 0, 0 },
		{ "show 0x2a9c0d11e84b27", "16 hex digits", 0, 0 },
		{ "flush 12", "16 hex digits", 0, 0 },
		{ "show 0000000000000000", "not a message id", 0, 0 },
		{ "flush 0000000000000000", "not a message id", 0, 0 },
		{ "show " ID1 " " ID1, "too many arguments", 0, 0 },
		{ "flush " ID1 " now", "too many arguments", 0, 0 },
		{ "list a b", "too many arguments", 0, 0 },
		{ "list\r", "control", 0, 0 },
		{ "list\n", "control", 0, 0 },
		{ "show\x01" ID1, "control", 0, 0 },
		{ "list\x7f", "non-ASCII", 0, 0 },
		{ "list \xc3\xa9", "non-ASCII", 0, 0 },
	};
	struct qctl_req	 req;
	const char	*e;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e = qctl_parse(cases[i].line, strlen(cases[i].line), &req);
		if (cases[i].err == NULL && e != NULL)
			fail_msg("\"%s\": got \"%s\", want ok", cases[i].line, e);
		if (cases[i].err != NULL && (e == NULL ||
		    strstr(e, cases[i].err) == NULL))
			fail_msg("\"%s\": got \"%s\", want \"%s\"", cases[i].line,
			    e ? e : "ok", cases[i].err);
		if (e == NULL && (req.cmd != cases[i].cmd ||
		    req.id != cases[i].id))
			fail_msg("\"%s\": got cmd %d id %016llx", cases[i].line,
			    req.cmd, (unsigned long long)req.id);
	}
}

static void
test_parse_bounds(void **state)
{
	char		 line[QCTL_LINE_MAX + 8];
	struct qctl_req	 req;

	(void)state;
	/* the longest line is QCTL_LINE_MAX - 1 octets (its LF is the last) */
	memset(line, ' ', sizeof(line));
	memcpy(line, "list", 4);
	assert_null(qctl_parse(line, QCTL_LINE_MAX - 1, &req));
	assert_int_equal(req.cmd, QCTL_LIST);
	assert_non_null(strstr(qctl_parse(line, QCTL_LINE_MAX, &req),
	    "too long"));
	assert_non_null(strstr(qctl_parse(line, sizeof(line), &req),
	    "too long"));
	/* a NUL inside the given length is a control character, not an end */
	assert_non_null(strstr(qctl_parse("list\0x", 6, &req), "control"));
	assert_null(qctl_parse("list\0x", 4, &req));
	/* only len octets are read: "show ID" cut to "show" */
	assert_non_null(strstr(qctl_parse("show " ID1, 4, &req),
	    "needs a message id"));
}

static void
test_cmd_names(void **state)
{
	(void)state;
	assert_string_equal(qctl_cmd_name(QCTL_LIST), "list");
	assert_string_equal(qctl_cmd_name(QCTL_SHOW), "show");
	assert_string_equal(qctl_cmd_name(QCTL_FLUSH), "flush");
	assert_string_equal(qctl_cmd_name(QCTL_DELETE), "delete");
	assert_string_equal(qctl_cmd_name(QCTL_HOLD), "hold");
	assert_string_equal(qctl_cmd_name(QCTL_RELEASE), "release");
	assert_string_equal(qctl_cmd_name((enum qctl_cmd)99), "unknown");
}

/* the server's side: a loop, a socket in a fresh directory, our ops */
struct fix {
	struct event_base	*base;
	struct qctl		*q;
	char			 dir[64];
	char			 path[128];
	char			 out[160], err[160];	/* the child's stdout, stderr */
	/* what the ops saw and do */
	int			 calls;
	struct qctl_req		 last;
	int			 fail;		/* answer "error: no such message" */
	const char		*answer;	/* appended to out */
	size_t			 big;		/* or this many octets of lines */
};

static int
ops_run(void *arg, const struct qctl_req *req, struct buf *out, char *why,
    size_t whylen)
{
	struct fix	*f = arg;
	char		 line[64];
	size_t		 n;

	f->calls++;
	f->last = *req;
	if (f->fail) {
		(void)snprintf(why, whylen, "no such message %016llx",
		    (unsigned long long)req->id);
		return -1;
	}
	if (f->answer != NULL && buf_append(out, f->answer,
	    strlen(f->answer)) == -1)
		return -1;
	/* numbered lines, so that a lost or doubled piece shows */
	for (n = 0; n < f->big; n += strlen(line)) {
		(void)snprintf(line, sizeof(line), "%016zx line\n", n);
		if (buf_append(out, line, strlen(line)) == -1)
			return -1;
	}
	return 0;
}

static int
setup(void **state)
{
	struct fix	*f;
	struct qctl_ops	 ops;
	char		 why[256];

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/test_qctl.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->path, sizeof(f->path), "%s/control", f->dir);
	(void)snprintf(f->out, sizeof(f->out), "%s/out", f->dir);
	(void)snprintf(f->err, sizeof(f->err), "%s/err", f->dir);
	assert_non_null(f->base = event_base_new());
	ops.run = ops_run;
	ops.arg = f;
	f->q = qctl_listen(f->base, f->path, &ops, why, sizeof(why));
	if (f->q == NULL)
		fail_msg("qctl_listen: %s", why);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix	*f = *state;

	qctl_free(f->q);
	event_base_free(f->base);
	(void)unlink(f->out);
	(void)unlink(f->err);
	(void)unlink(f->path);
	(void)rmdir(f->dir);
	free(f);
	return 0;
}

static void
pump(struct fix *f)
{
	(void)event_base_loop(f->base, EVLOOP_NONBLOCK);
	(void)poll(NULL, 0, 2);
}

/* a whole file (NUL-terminated, freed by the caller) */
static char *
slurp(const char *path, size_t *lenp)
{
	struct stat	 st;
	char		*s;
	int		 fd;
	ssize_t		 n;

	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_int_equal(fstat(fd, &st), 0);
	s = malloc((size_t)st.st_size + 1);
	assert_non_null(s);
	n = read(fd, s, (size_t)st.st_size);
	assert_int_equal(n, st.st_size);
	s[n] = '\0';
	(void)close(fd);
	if (lenp != NULL)
		*lenp = (size_t)n;
	return s;
}

/*
 * client - qctl_client(path, line) in a child, stdout and stderr into
 * files, while the loop serves it here; its exit code
 */
static int
client(struct fix *f, const char *path, const char *line)
{
	pid_t	 pid;
	int	 status, i, fd;

	assert_true((pid = fork()) != -1);
	if (pid == 0) {
		if ((fd = open(f->out, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
		    -1 || dup2(fd, 1) == -1 || close(fd) == -1)
			_exit(99);
		if ((fd = open(f->err, O_WRONLY | O_CREAT | O_TRUNC, 0600)) ==
		    -1 || dup2(fd, 2) == -1 || close(fd) == -1)
			_exit(99);
		_exit(qctl_client(path, line));
	}
	for (i = 0; i < PUMP_MAX; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		pump(f);
	}
	if (i == PUMP_MAX) {
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, &status, 0);
		fail_msg("the client did not finish in time");
	}
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
assert_file(const char *path, const char *want)
{
	char	*s = slurp(path, NULL);

	if (strcmp(s, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", path, s, want);
	free(s);
}

static void
test_list(void **state)
{
	struct fix	*f = *state;

	f->answer = ID1 " held a@example.org\n" ID1 " queued b@example.org\n";
	assert_int_equal(client(f, f->path, "list"), 0);
	assert_file(f->out, f->answer);
	assert_file(f->err, "");
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->last.cmd, QCTL_LIST);
	assert_true(f->last.id == 0);
}

static void
test_commands_reach_ops(void **state)
{
	static const struct {
		const char	*line;
		enum qctl_cmd	 cmd;
		uint64_t	 id;
	} cases[] = {
		{ "show " ID1, QCTL_SHOW, ID1_VAL },
		{ "flush", QCTL_FLUSH, 0 },
		{ "flush " ID1, QCTL_FLUSH, ID1_VAL },
		{ "delete " ID1, QCTL_DELETE, ID1_VAL },
		{ "hold " ID1, QCTL_HOLD, ID1_VAL },
		{ "release " ID1, QCTL_RELEASE, ID1_VAL },
	};
	struct fix	*f = *state;
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(client(f, f->path, cases[i].line), 0);
		assert_int_equal(f->calls, (int)i + 1);
		assert_int_equal(f->last.cmd, cases[i].cmd);
		assert_true(f->last.id == cases[i].id);
		/* nothing but the status line, which is not printed */
		assert_file(f->out, "");
		assert_file(f->err, "");
	}
}

static void
test_error_answer(void **state)
{
	struct fix	*f = *state;

	f->fail = 1;
	assert_int_equal(client(f, f->path, "delete " ID1), 1);
	assert_file(f->out, "");
	assert_file(f->err, "error: no such message " ID1 "\n");
}

/* a refused command never reaches the ops */
static void
test_bad_command(void **state)
{
	struct fix	*f = *state;

	assert_int_equal(client(f, f->path, "show 12"), 1);
	assert_file(f->err, "error: a message id is 16 hex digits\n");
	assert_int_equal(client(f, f->path, "frobnicate"), 1);
	assert_int_equal(f->calls, 0);
}

/* an answer whose last line lacks its LF: the status stays a line */
static void
test_answer_without_lf(void **state)
{
	struct fix	*f = *state;

	f->answer = "one\ntwo";
	assert_int_equal(client(f, f->path, "list"), 0);
	assert_file(f->out, "one\ntwo\n");
}

/* a long answer goes out in many writes, whole and in order */
static void
test_big_answer(void **state)
{
	struct fix	*f = *state;
	char		*s, line[64];
	size_t		 len, n;

	f->big = 4u << 20;
	assert_int_equal(client(f, f->path, "list"), 0);
	s = slurp(f->out, &len);
	for (n = 0; n < f->big; n += strlen(line)) {
		(void)snprintf(line, sizeof(line), "%016zx line\n", n);
		if (n + strlen(line) > len || memcmp(s + n, line,
		    strlen(line)) != 0)
			fail_msg("answer differs at %zu", n);
	}
	assert_int_equal(n, len);
	free(s);
}

/* a socket file nobody listens on, as a crash leaves it */
static void
stale_socket(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) != -1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	(void)close(fd);
}

static void
test_unreachable(void **state)
{
	struct fix	*f = *state;
	char		 path[160], *s;

	(void)snprintf(path, sizeof(path), "%s/nothing", f->dir);
	assert_int_equal(client(f, path, "list"), 2);
	s = slurp(f->err, NULL);
	assert_non_null(strstr(s, "is the gateway running"));
	free(s);
	/* the socket goes with the server */
	qctl_free(f->q);
	f->q = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
	/* a socket nobody listens on any more */
	stale_socket(f->path);
	assert_int_equal(client(f, f->path, "list"), 2);
	s = slurp(f->err, NULL);
	assert_non_null(strstr(s, "Connection refused"));
	free(s);
}

/* 0600 even when the process's umask would allow more */
static void
test_socket_mode(void **state)
{
	struct fix	*f = *state;
	struct qctl_ops	 ops = { ops_run, f };
	struct stat	 st;
	mode_t		 old;
	char		 why[256];

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	qctl_free(f->q);
	assert_int_equal(stat(f->path, &st), -1);
	old = umask(0);
	f->q = qctl_listen(f->base, f->path, &ops, why, sizeof(why));
	(void)umask(old);
	assert_non_null(f->q);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_uid, geteuid());
}

/* a socket left by a crash is replaced; a file that is not one is not */
static void
test_stale_socket(void **state)
{
	struct fix		*f = *state;
	struct qctl_ops		 ops = { ops_run, f };
	struct stat		 st;
	char			 why[256];
	int			 fd;

	qctl_free(f->q);
	f->q = NULL;
	stale_socket(f->path);
	f->q = qctl_listen(f->base, f->path, &ops, why, sizeof(why));
	if (f->q == NULL)
		fail_msg("over a stale socket: %s", why);
	assert_int_equal(client(f, f->path, "list"), 0);
	qctl_free(f->q);
	f->q = NULL;

	assert_true((fd = open(f->path, O_WRONLY | O_CREAT | O_EXCL, 0600)) !=
	    -1);
	(void)close(fd);
	assert_null(qctl_listen(f->base, f->path, &ops, why, sizeof(why)));
	assert_non_null(strstr(why, "not a socket"));
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(unlink(f->path), 0);
}

static int
raw_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_true(strlen(path) < sizeof(sun.sun_path));
	memcpy(sun.sun_path, path, strlen(path) + 1);
	assert_true((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0)) !=
	    -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

/* everything the server says on fd up to its close, serving meanwhile */
static char *
raw_answer(struct fix *f, int fd)
{
	static char	 a[4096];
	size_t		 len = 0;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < PUMP_MAX; i++) {
		pump(f);
		n = read(fd, a + len, sizeof(a) - 1 - len);
		if (n == 0)
			break;
		if (n > 0)
			len += (size_t)n;
		else if (errno != EAGAIN)
			fail_msg("read: %s", strerror(errno));
	}
	if (i == PUMP_MAX)
		fail_msg("the server did not close in time");
	a[len] = '\0';
	return a;
}

static void
raw_send(int fd, const char *s, size_t len)
{
	assert_int_equal(send(fd, s, len, MSG_NOSIGNAL), (ssize_t)len);
}

static void
test_protocol_errors(void **state)
{
	static const struct {
		const char	*send;
		size_t		 len;
		int		 shut;	/* the client's end of writing */
		const char	*want;
	} cases[] = {
		{ "list\r\n", 6, 0, "ok\n" },
		{ "list\n", 5, 0, "ok\n" },
		{ "list\nlist\n", 10, 0, "error: one command per connection\n" },
		{ "list", 4, 1, "error: incomplete command line (no line end)\n" },
		{ "list\0\n", 6, 0,
		    "error: control or non-ASCII character in the command\n" },
		{ "\n", 1, 0, "error: empty command\n" },
	};
	struct fix	*f = *state;
	char		 big[QCTL_LINE_MAX + 64];
	size_t		 i;
	int		 fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = raw_connect(f->path);
		raw_send(fd, cases[i].send, cases[i].len);
		if (cases[i].shut)
			assert_int_equal(shutdown(fd, SHUT_WR), 0);
		assert_string_equal(raw_answer(f, fd), cases[i].want);
		(void)close(fd);
	}
	assert_int_equal(f->calls, 2);
	/* too long: answered as soon as QCTL_LINE_MAX octets hold no LF */
	memset(big, 'a', sizeof(big));
	fd = raw_connect(f->path);
	raw_send(fd, big, QCTL_LINE_MAX);
	assert_string_equal(raw_answer(f, fd), "error: command line too long\n");
	(void)close(fd);
	/* the longest line there is, with its LF, still fits */
	memset(big, ' ', sizeof(big));
	memcpy(big, "list", 4);
	big[QCTL_LINE_MAX - 1] = '\n';
	fd = raw_connect(f->path);
	raw_send(fd, big, QCTL_LINE_MAX);
	assert_string_equal(raw_answer(f, fd), "ok\n");
	(void)close(fd);
}

/* a silent client gets "error: timeout" at the deadline, not before */
static void
test_timeout(void **state)
{
	struct fix	*f = *state;
	struct timespec	 t0, t1;
	double		 dt;
	int		 fd;

	qctl_set_timeout_ms(f->q, 300);
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t0), 0);
	fd = raw_connect(f->path);
	raw_send(fd, "li", 2);
	assert_non_null(strstr(raw_answer(f, fd), "error: timeout"));
	assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &t1), 0);
	dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (dt < 0.29 || dt > 5)
		fail_msg("answered after %.3f s, want 0.3 s", dt);
	(void)close(fd);
	assert_int_equal(f->calls, 0);
}

/* more than CONN_MAX at once: the next one is told "busy" and closed */
static void
test_busy(void **state)
{
	struct fix	*f = *state;
	int		 fds[CONN_MAX], fd, i;

	for (i = 0; i < CONN_MAX; i++)
		fds[i] = raw_connect(f->path);
	for (i = 0; i < 20; i++)
		pump(f);
	fd = raw_connect(f->path);
	assert_string_equal(raw_answer(f, fd), "error: busy\n");
	(void)close(fd);
	/* the held ones are still served */
	raw_send(fds[0], "list\n", 5);
	assert_string_equal(raw_answer(f, fds[0]), "ok\n");
	for (i = 0; i < CONN_MAX; i++)
		(void)close(fds[i]);
	/* slots free again once their clients are gone */
	for (i = 0; i < 20; i++)
		pump(f);
	assert_int_equal(client(f, f->path, "list"), 0);
	assert_int_equal(f->calls, 2);
}

int
main(void)
{
	const struct CMUnitTest	 tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test(test_cmd_names),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commands_reach_ops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_error_answer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_command, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_answer_without_lf, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_big_answer, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_unreachable, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_socket_mode, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_protocol_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
