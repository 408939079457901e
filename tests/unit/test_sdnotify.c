/*
 * test_sdnotify - $NOTIFY_SOCKET values, the datagram's text, and real
 * sends to an AF_UNIX datagram socket the test binds (a path and an
 * abstract name), as systemd's would receive them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/sdnotify.h"

static const struct {
	const char	*value;
	int		 ok;
	int		 abstract;
} addrs[] = {
	{ "/run/systemd/notify", 1, 0 },
	{ "@/org/freedesktop/systemd1/notify/123", 1, 1 },
	{ "relative/path", 0, 0 },
	{ "vsock:2:1234", 0, 0 },
	{ "@", 0, 0 },
	{ "/", 0, 0 },
	{ "", 0, 0 },
};

static void
test_addr(void **state)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 why[128], big[200];
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		why[0] = '\0';
		if (sdnotify_addr(addrs[i].value, &sun, &len, why,
		    sizeof(why)) != (addrs[i].ok ? 0 : -1))
			fail_msg("%s: got %s (%s)", addrs[i].value,
			    addrs[i].ok ? "error" : "ok", why);
		if (!addrs[i].ok) {
			assert_non_null(strstr(why, "NOTIFY_SOCKET"));
			continue;
		}
		n = strlen(addrs[i].value);
		assert_int_equal(sun.sun_family, AF_UNIX);
		if (addrs[i].abstract) {
			/* no NUL counted: the name is exactly its bytes */
			assert_int_equal(sun.sun_path[0], '\0');
			assert_memory_equal(sun.sun_path + 1,
			    addrs[i].value + 1, n - 1);
			assert_int_equal(len,
			    offsetof(struct sockaddr_un, sun_path) + n);
		} else {
			assert_string_equal(sun.sun_path, addrs[i].value);
			assert_int_equal(len,
			    offsetof(struct sockaddr_un, sun_path) + n + 1);
		}
	}
	/* the longest path that fits, and one more */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	big[sizeof(sun.sun_path) - 1] = '\0';
	assert_int_equal(sdnotify_addr(big, &sun, &len, why, sizeof(why)), 0);
	big[sizeof(sun.sun_path) - 1] = 'a';
	big[sizeof(sun.sun_path)] = '\0';
	assert_int_equal(sdnotify_addr(big, &sun, &len, why, sizeof(why)), -1);
	/* an abstract name may use every byte of sun_path */
	big[0] = '@';
	assert_int_equal(sdnotify_addr(big, &sun, &len, why, sizeof(why)), 0);
}

static void
test_format(void **state)
{
	char	 buf[SDNOTIFY_MSG_MAX], small[24], status[1000];
	int	 n;

	(void)state;
	n = sdnotify_format(buf, sizeof(buf), "READY=1", NULL);
	assert_int_equal(n, 7);
	assert_string_equal(buf, "READY=1");
	n = sdnotify_format(buf, sizeof(buf), "READY=1", "ready: 2 listeners");
	assert_string_equal(buf, "READY=1\nSTATUS=ready: 2 listeners");
	assert_int_equal(n, (int)strlen(buf));
	n = sdnotify_format(buf, sizeof(buf), NULL, "only a status");
	assert_string_equal(buf, "STATUS=only a status");
	/* a status with a newline must not add a field of its own */
	(void)sdnotify_format(buf, sizeof(buf), "READY=1",
	    "reload failed\nSTOPPING=1\r\x7f!");
	assert_string_equal(buf, "READY=1\nSTATUS=reload failed STOPPING=1  !");
	/* a long status is cut, with "..." */
	memset(status, 'x', sizeof(status) - 1);
	status[sizeof(status) - 1] = '\0';
	n = sdnotify_format(buf, sizeof(buf), "READY=1", status);
	assert_int_equal(n, 7 + 8 + SDNOTIFY_STATUS_MAX);
	assert_string_equal(buf + n - 4, "x...");
	/* a small buffer: the fields whole, the status cut to fit */
	n = sdnotify_format(small, sizeof(small), "READY=1", status);
	assert_int_equal(n, (int)sizeof(small) - 1);
	assert_string_equal(small, "READY=1\nSTATUS=xxxxx...");
	/* fields that do not fit are an error, not a cut */
	assert_int_equal(sdnotify_format(small, 4, "READY=1", NULL), -1);
}

/* a datagram socket bound where the gateway's supervisor would be */
struct peer {
	int		 fd;
	char		 name[108];	/* NOTIFY_SOCKET's value */
	char		 dir[64];
};

static void
peer_bind(struct peer *p, int abstract)
{
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 why[128];

	memset(p, 0, sizeof(*p));
	if (abstract)
		(void)snprintf(p->name, sizeof(p->name),
		    "@smtpgate-test-sdnotify-%ld", (long)getpid());
	else {
		(void)snprintf(p->dir, sizeof(p->dir), "/tmp/sdnotify.XXXXXX");
		assert_non_null(mkdtemp(p->dir));
		(void)snprintf(p->name, sizeof(p->name), "%s/notify", p->dir);
	}
	assert_int_equal(sdnotify_addr(p->name, &sun, &len, why, sizeof(why)),
	    0);
	p->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(p->fd != -1);
	assert_int_equal(bind(p->fd, (struct sockaddr *)&sun, len), 0);
}

static void
peer_close(struct peer *p)
{
	char	 path[128];

	(void)close(p->fd);
	if (p->dir[0] != '\0') {
		(void)snprintf(path, sizeof(path), "%s/notify", p->dir);
		(void)unlink(path);
		(void)rmdir(p->dir);
	}
}

/* one datagram within 2 s, as text */
static void
peer_recv(struct peer *p, char *buf, size_t len)
{
	struct pollfd	 pfd = { p->fd, POLLIN, 0 };
	ssize_t		 n;

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	n = recv(p->fd, buf, len - 1, 0);
	assert_true(n > 0);
	buf[n] = '\0';
}

static void
send_and_receive(int abstract)
{
	struct peer	 p;
	char		 why[128], got[SDNOTIFY_MSG_MAX + 1];
	unsigned long long usec;

	peer_bind(&p, abstract);
	assert_int_equal(setenv("NOTIFY_SOCKET", p.name, 1), 0);
	assert_int_equal(sdnotify_open(why, sizeof(why)), 0);
	/* taken away from children (token_command) */
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_true(sdnotify_enabled());

	assert_int_equal(sdnotify_send("READY=1", "ready"), 0);
	peer_recv(&p, got, sizeof(got));
	assert_string_equal(got, "READY=1\nSTATUS=ready");

	assert_int_equal(sdnotify_reloading(), 0);
	peer_recv(&p, got, sizeof(got));
	assert_int_equal(sscanf(got, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    &usec), 1);
	assert_true(usec > 0);

	assert_int_equal(sdnotify_send("STOPPING=1", NULL), 0);
	peer_recv(&p, got, sizeof(got));
	assert_string_equal(got, "STOPPING=1");

	sdnotify_close();
	assert_false(sdnotify_enabled());
	/* closed: a no-op, and nothing arrives */
	assert_int_equal(sdnotify_send("READY=1", NULL), 0);
	assert_int_equal(recv(p.fd, got, sizeof(got), MSG_DONTWAIT), -1);
	peer_close(&p);
}

static void
test_send_path(void **state)
{
	(void)state;
	send_and_receive(0);
}

static void
test_send_abstract(void **state)
{
	(void)state;
	send_and_receive(1);
}

/* no NOTIFY_SOCKET: nothing to do, no error */
static void
test_unset(void **state)
{
	char	 why[128];

	(void)state;
	assert_int_equal(unsetenv("NOTIFY_SOCKET"), 0);
	assert_int_equal(sdnotify_open(why, sizeof(why)), 0);
	assert_false(sdnotify_enabled());
	assert_int_equal(sdnotify_send("READY=1", "x"), 0);
	/* set but unusable: an error to log, sends stay no-ops */
	assert_int_equal(setenv("NOTIFY_SOCKET", "not/absolute", 1), 0);
	assert_int_equal(sdnotify_open(why, sizeof(why)), -1);
	assert_null(getenv("NOTIFY_SOCKET"));
	assert_false(sdnotify_enabled());
	assert_int_equal(sdnotify_send("READY=1", NULL), 0);
}

/* the supervisor went away: an error returned, never a crash or a block */
static void
test_peer_gone(void **state)
{
	struct peer	 p;
	char		 why[128];

	(void)state;
	peer_bind(&p, 0);
	assert_int_equal(setenv("NOTIFY_SOCKET", p.name, 1), 0);
	assert_int_equal(sdnotify_open(why, sizeof(why)), 0);
	peer_close(&p);
	errno = 0;
	assert_int_equal(sdnotify_send("STOPPING=1", NULL), -1);
	assert_true(errno == ENOENT || errno == ECONNREFUSED);
	sdnotify_close();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addr),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_send_path),
		cmocka_unit_test(test_send_abstract),
		cmocka_unit_test(test_unset),
		cmocka_unit_test(test_peer_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
