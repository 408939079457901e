/*
 * test_conf_route - the keys of failover, routing and store and forward
 * (issue 15) through conf_load(): upstream lists on listeners and
 * [route NAME] sections, delivery, the [gateway] failover and queue keys;
 * their defaults, bounds and cross-checks, each error with its exact
 * "FILE:LINE: key:" message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"

#define MAXERR		16
#define MAXTMP		64

static struct {
	char	*msg[MAXERR];
	int	 n;
} errs;

static char	*tmpfiles[MAXTMP];
static int	 ntmp;

static void
collect(void *arg, const char *msg)
{
	(void)arg;
	if (errs.n < MAXERR)
		errs.msg[errs.n] = strdup(msg);
	errs.n++;
}

static void
errs_clear(void)
{
	int	 i;

	for (i = 0; i < errs.n && i < MAXERR; i++)
		free(errs.msg[i]);
	memset(&errs, 0, sizeof(errs));
}

static int
teardown(void **state)
{
	int	 i;

	(void)state;
	errs_clear();
	for (i = 0; i < ntmp; i++) {
		(void)unlink(tmpfiles[i]);
		free(tmpfiles[i]);
	}
	ntmp = 0;
	return 0;
}

/* a new temporary file holding text, mode 0600; returns its path */
static const char *
write_tmp(const char *text)
{
	char	 path[] = "/tmp/test_conf_route.XXXXXX";
	size_t	 len = strlen(text);
	int	 fd;

	assert_true(ntmp < MAXTMP);
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_non_null(tmpfiles[ntmp] = strdup(path));
	return tmpfiles[ntmp++];
}

/* load text; *pathp is the file's name (for messages) */
static int
load_text(const char *text, struct gw_conf **out, const char **pathp)
{
	const char	*path;
	int		 n;

	errs_clear();
	path = write_tmp(text);
	if (pathp != NULL)
		*pathp = path;
	n = conf_load(path, out, collect, NULL);
	assert_int_equal(n, errs.n);
	if (n != 0)
		assert_null(*out);
	else
		assert_non_null(*out);
	return n;
}

static void
print_errs(void)
{
	int	 i;

	for (i = 0; i < errs.n && i < MAXERR; i++)
		print_message("  got: %s\n", errs.msg[i]);
}

static void
assert_no_errors(int n)
{
	if (n != 0) {
		print_errs();
		fail_msg("%d unexpected errors", n);
	}
}

/* message i is "PATH:" followed by want (a prefix) */
static void
assert_err(int i, const char *path, const char *want)
{
	size_t	 plen = strlen(path);

	if (i >= errs.n || i >= MAXERR ||
	    strncmp(errs.msg[i], path, plen) != 0 ||
	    errs.msg[i][plen] != ':' ||
	    strncmp(errs.msg[i] + plen + 1, want, strlen(want)) != 0) {
		print_message("error %d: want \"%s:%s...\"\n", i, path, want);
		print_errs();
		fail();
	}
}

#define MINIMAL \
	"[listener l]\n" \
	"listen = 127.0.0.1:2525\n" \
	"upstream = u\n" \
	"[upstream u]\n" \
	"host = mail.example.com\n"

/* nothing set: the documented defaults, one upstream in the list */
static void
test_defaults(void **state)
{
	struct gw_conf			*c;
	const struct conf_listener	*l;

	(void)state;
	assert_no_errors(load_text(MINIMAL, &c, NULL));
	assert_int_equal(c->upstream_down_time, 30);
	assert_int_equal(c->upstream_down_time_max, 600);
	assert_int_equal(c->failover_timeout, 120);
	assert_string_equal(c->queue_dir, "");
	assert_int_equal(c->queue_max_messages, 10000);
	assert_true(c->queue_max_size == 1024ULL * 1024 * 1024);
	assert_int_equal(c->queue_lifetime, 5 * 86400);
	assert_int_equal(c->queue_retry, 300);
	assert_int_equal(c->queue_retry_max, 3600);
	assert_int_equal(c->queue_parallel, 4);
	assert_int_equal(c->nroutes, 0);
	l = &c->listeners[0];
	assert_int_equal(l->delivery, DELIVERY_LOCKSTEP);
	assert_int_equal(l->upstreams.n, 1);
	assert_string_equal(l->upstreams.names[0], "u");
	assert_ptr_equal(l->upstreams.up[0], &c->upstreams[0]);
	assert_ptr_equal(l->upstream, &c->upstreams[0]);
	assert_string_equal(l->upstream_name, "u");
	conf_unref(c);
}

/* every key set, none to its default; lists resolved in their order */
static void
test_full(void **state)
{
	struct gw_conf			*c;
	const struct conf_listener	*l;
	const struct conf_route		*r;

	(void)state;
	assert_no_errors(load_text("[gateway]\n"
	    "upstream_down_time = 1m\nupstream_down_time_max = 1d\n"
	    "failover_timeout = 45s\nqueue_dir = /var/spool/not-yet-made\n"
	    "queue_max_messages = 500\nqueue_max_size = 1T\n"
	    "queue_lifetime = 60d\nqueue_retry = 1d\nqueue_retry_max = 1d\n"
	    "queue_parallel = 100\n"
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = v, u, w\n"
	    "delivery = QUEUE\n"
	    "[upstream u]\nhost = mail.example.com\n"
	    "[upstream v]\nhost = v.example.com\n"
	    "[upstream w]\nhost = w.example.com\n"
	    "[upstream x]\nhost = x.example.com\n"
	    "[route r1]\nsender = Bills@Example.com, @.example.org, <>\n"
	    "upstream = x\n"
	    "[route r2]\nsender = @example.com\nupstream = w, x\n",
	    &c, NULL));
	assert_int_equal(c->upstream_down_time, 60);
	assert_int_equal(c->upstream_down_time_max, 86400);
	assert_int_equal(c->failover_timeout, 45);
	assert_string_equal(c->queue_dir, "/var/spool/not-yet-made");
	assert_int_equal(c->queue_max_messages, 500);
	assert_true(c->queue_max_size == 1ULL << 40);
	assert_int_equal(c->queue_lifetime, 60 * 86400);
	assert_int_equal(c->queue_retry, 86400);
	assert_int_equal(c->queue_retry_max, 86400);
	assert_int_equal(c->queue_parallel, 100);
	l = &c->listeners[0];
	assert_int_equal(l->delivery, DELIVERY_QUEUE);
	assert_int_equal(l->upstreams.n, 3);
	assert_string_equal(l->upstream_name, "v");
	assert_ptr_equal(l->upstream, &c->upstreams[1]);
	assert_ptr_equal(l->upstreams.up[0], &c->upstreams[1]);
	assert_ptr_equal(l->upstreams.up[1], &c->upstreams[0]);
	assert_ptr_equal(l->upstreams.up[2], &c->upstreams[2]);
	assert_int_equal(c->nroutes, 2);
	r = &c->routes[0];
	assert_string_equal(r->name, "r1");
	assert_int_equal(r->line, 24);
	assert_int_equal(r->nsenders, 3);
	assert_string_equal(r->senders[0], "Bills@Example.com");
	assert_string_equal(r->senders[1], "@.example.org");
	assert_string_equal(r->senders[2], "<>");
	assert_int_equal(r->upstreams.n, 1);
	assert_ptr_equal(r->upstreams.up[0], &c->upstreams[3]);
	r = &c->routes[1];
	assert_int_equal(r->upstreams.n, 2);
	assert_ptr_equal(r->upstreams.up[0], &c->upstreams[2]);
	assert_ptr_equal(r->upstreams.up[1], &c->upstreams[3]);
	conf_unref(c);
}

/*
 * Error cases on a valid base.  Extra lines: [gateway] line 2, [listener
 * l] line 6, [upstream u] line 9, [upstream v] line 12, then sections of
 * their own from line 13.  Every message, and nothing else.
 */
#define BASE \
	"[gateway]\n"				/* 1 */ \
	"%s\n"					/* 2 */ \
	"[listener l]\n"			/* 3 */ \
	"listen = 127.0.0.1:2525\n"		/* 4 */ \
	"upstream = u, v\n"			/* 5 */ \
	"%s\n"					/* 6 */ \
	"[upstream u]\n"			/* 7 */ \
	"host = mail.example.com\n"		/* 8 */ \
	"%s\n"					/* 9 */ \
	"[upstream v]\n"			/* 10 */ \
	"host = backup.example.com\n"		/* 11 */ \
	"%s\n"					/* 12 */ \
	"%s\n"					/* 13 */

/* a queue listener of its own, on line 13 */
#define QL	"[listener q]\nlisten = 127.0.0.1:2526\ndelivery = queue\n"

struct errcase {
	const char	*name;
	const char	*g, *l, *u, *v, *tail;	/* NULL for none */
	const char	*want[3];
};

static const struct errcase errcases[] = {
	{ "down time 0", "upstream_down_time = 0", NULL, NULL, NULL, NULL,
	    { "2: upstream_down_time: \"0\": must be between 1s and 1h" } },
	{ "down time 2h", "upstream_down_time = 2h", NULL, NULL, NULL, NULL,
	    { "2: upstream_down_time: \"2h\": must be between 1s and 1h" } },
	{ "down time max 2d", "upstream_down_time_max = 2d", NULL, NULL, NULL,
	    NULL, { "2: upstream_down_time_max: \"2d\": must be between 1s "
	    "and 1d" } },
	{ "down time max below", "upstream_down_time_max = 20s", NULL, NULL,
	    NULL, NULL, { "2: [gateway]: upstream_down_time_max: 20s is less "
	    "than upstream_down_time 30s" } },
	{ "failover 0", "failover_timeout = 0", NULL, NULL, NULL, NULL,
	    { "2: failover_timeout: \"0\": must be between 1s and 1h" } },
	{ "failover 61m", "failover_timeout = 61m", NULL, NULL, NULL, NULL,
	    { "2: failover_timeout: \"61m\": must be between 1s and 1h" } },
	{ "queue_dir relative", "queue_dir = var/spool", NULL, NULL, NULL,
	    NULL, { "2: queue_dir: \"var/spool\": must be an absolute path" } },
	{ "queue_dir too long", "queue_dir = /qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", NULL, NULL, NULL,
	    NULL, { "2: queue_dir: \"/qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq...\": too long: DIR/control must fit a "
	    "socket's 107 octets" } },
	{ "queue_max_messages 0", "queue_max_messages = 0", NULL, NULL, NULL,
	    NULL, { "2: queue_max_messages: \"0\": must be between 1 and "
	    "10000000" } },
	{ "queue_max_messages big", "queue_max_messages = 10000001", NULL,
	    NULL, NULL, NULL, { "2: queue_max_messages: \"10000001\": must be "
	    "between 1 and 10000000" } },
	{ "queue_max_size small", "queue_max_size = 512K", NULL, NULL, NULL,
	    NULL, { "2: queue_max_size: \"512K\": must be between 1M and 1T" } },
	{ "queue_max_size big", "queue_max_size = 1025G", NULL, NULL, NULL,
	    NULL, { "2: queue_max_size: \"1025G\": must be between 1M and 1T" } },
	{ "queue_lifetime 61d", "queue_lifetime = 61d", NULL, NULL, NULL, NULL,
	    { "2: queue_lifetime: \"61d\": must be between 1s and 60d" } },
	{ "queue_retry 0", "queue_retry = 0s", NULL, NULL, NULL, NULL,
	    { "2: queue_retry: \"0s\": must be between 1s and 1d" } },
	{ "queue_retry_max below", "queue_retry_max = 4m", NULL, NULL, NULL,
	    NULL, { "2: [gateway]: queue_retry_max: 4m is less than "
	    "queue_retry 5m" } },
	{ "queue_parallel 0", "queue_parallel = 0", NULL, NULL, NULL, NULL,
	    { "2: queue_parallel: \"0\": must be between 1 and 100" } },
	{ "queue_parallel 101", "queue_parallel = 101", NULL, NULL, NULL,
	    NULL, { "2: queue_parallel: \"101\": must be between 1 and 100" } },
	{ "delivery word", NULL, "delivery = later", NULL, NULL, NULL,
	    { "6: delivery: \"later\": must be one of lockstep, queue" } },
	{ "list twice", NULL, NULL, NULL, NULL,
	    "[listener m]\nlisten = 127.0.0.1:2526\nupstream = u, U",
	    { "15: upstream: \"u, U\": \"U\": listed twice" } },
	{ "list too long", NULL, NULL, NULL, NULL,
	    "[listener m]\nlisten = 127.0.0.1:2526\nupstream = u, v, a, b, c",
	    { "15: upstream: \"u, v, a, b, c\": more than 4 items" } },
	{ "list unknown", NULL, NULL, NULL, NULL,
	    "[listener m]\nlisten = 127.0.0.1:2526\nupstream = v, nope",
	    { "13: [listener m]: upstream: no [upstream nope] section" } },
	{ "list with map", NULL, NULL, NULL, "auth = map\nusers_file = %s",
	    NULL, { "3: [listener l]: upstream: [upstream v] has auth = map" } },
	{ "list with passthrough", NULL, NULL, "auth = passthrough", NULL,
	    NULL, { "3: [listener l]: upstream: [upstream u] has auth = "
	    "passthrough" } },
	{ "route without keys", NULL, NULL, NULL, NULL, "[route r]",
	    { "13: [route r]: sender: required key missing",
	      "13: [route r]: upstream: required key missing" } },
	{ "route without name", NULL, NULL, NULL, NULL, "[route]",
	    { "13: [route]: a name is required, as in [route NAME]" } },
	{ "route bad pattern", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = billing\nupstream = u",
	    { "14: sender: \"billing\": \"billing\": want user@domain" } },
	{ "route pattern twice", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = @a.example, @A.example\nupstream = u",
	    { "14: sender: \"@a.example, @A.example\": \"@A.example\": listed "
	    "twice" } },
	{ "pattern in two routes", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = <>, @a.example\nupstream = u\n"
	    "[route s]\nsender = @b.example, @A.EXAMPLE\nupstream = v",
	    { "16: [route s]: sender: \"@A.EXAMPLE\" is also in [route r] "
	    "(line 13)" } },
	{ "route unknown upstream", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = <>\nupstream = u, w",
	    { "13: [route r]: upstream: no [upstream w] section" } },
	{ "route with map", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = <>\nupstream = m\n[upstream m]\nhost = m.example"
	    "\nauth = map\nusers_file = %s",
	    { "13: [route r]: upstream: [upstream m] has auth = map, which ties "
	    "the client's login to its own accounts; a route goes only" } },
	{ "queue without queue_dir", NULL, "delivery = queue", NULL, NULL, NULL,
	    { "3: [listener l]: delivery: queue needs [gateway] queue_dir" } },
	{ "queue with pop", "queue_dir = /q", "delivery = queue", NULL,
	    "username = a\npassword_file = %s\npop_before_smtp = pop.example:995",
	    NULL, { "3: [listener l]: delivery: queue cannot deliver through "
	    "[upstream v], which uses pop_before_smtp" } },
	{ "queue with passthrough", "queue_dir = /q", NULL, NULL, NULL,
	    QL "upstream = p\n[upstream p]\nhost = p.example\n"
	    "auth = passthrough",
	    { "13: [listener q]: delivery: queue cannot deliver through "
	    "[upstream p], which uses auth = passthrough" } },
	{ "queue routed to pop", "queue_dir = /q", NULL, NULL,
	    "username = a\npassword_file = %s\npop_before_smtp = pop.example:995",
	    QL "upstream = u\n[route r]\nsender = <>\nupstream = v",
	    { "15: [listener q]: delivery: queue cannot deliver through "
	    "[upstream v] of [route r] (line 19), which uses pop_before_smtp" } },
	{ "sender with a blank", NULL, NULL, NULL, NULL,
	    "[route r]\nsender = a b@example.com\nupstream = u",
	    { "14: sender: \"a b@example.com\": \"a b@example.com\": only "
	    "printable ASCII" } },
};

/* a row's text: "%s" in a slot becomes a mode-0600 file's path */
static void
errcase_text(const struct errcase *ec, const char *file, char *text,
    size_t len)
{
	const char	*slot[5] = { ec->g, ec->l, ec->u, ec->v, ec->tail };
	const char	*pc;
	char		 fill[5][512];
	int		 i;

	for (i = 0; i < 5; i++) {
		if (slot[i] == NULL)
			fill[i][0] = '\0';
		else if ((pc = strstr(slot[i], "%s")) == NULL)
			(void)snprintf(fill[i], sizeof(fill[i]), "%s", slot[i]);
		else
			(void)snprintf(fill[i], sizeof(fill[i]), "%.*s%s%s",
			    (int)(pc - slot[i]), slot[i], file, pc + 2);
	}
	(void)snprintf(text, len, BASE, fill[0], fill[1], fill[2], fill[3],
	    fill[4]);
}

static void
test_errors(void **state)
{
	struct gw_conf	*c;
	const char	*path, *file;
	char		 text[4096];
	size_t		 i;
	int		 j, nwant;

	(void)state;
	file = write_tmp("secret\n");
	for (i = 0; i < sizeof(errcases) / sizeof(errcases[0]); i++) {
		errcase_text(&errcases[i], file, text, sizeof(text));
		print_message("case: %s\n", errcases[i].name);
		(void)load_text(text, &c, &path);
		for (nwant = 0; nwant < 3 && errcases[i].want[nwant] != NULL;)
			nwant++;
		for (j = 0; j < nwant; j++)
			assert_err(j, path, errcases[i].want[j]);
		if (errs.n != nwant) {
			print_errs();
			fail_msg("case %s: %d errors, want %d", errcases[i].name,
			    errs.n, nwant);
		}
	}
}

/*
 * What is allowed: an upstream used only by a route or second in a list
 * is in use; a map listener of one upstream is never routed, so routes
 * it would refuse do not concern it; queue and lockstep side by side.
 */
static void
test_allowed(void **state)
{
	struct gw_conf	*c;
	const char	*file;
	char		 text[2048];

	(void)state;
	file = write_tmp("secret\n");
	(void)snprintf(text, sizeof(text), "[gateway]\nqueue_dir = /q\n"
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = m\n"
	    "delivery = queue\n"
	    "[listener k]\nlisten = 127.0.0.1:2526\nupstream = u, v\n"
	    "[upstream m]\nhost = m.example\nauth = map\nusers_file = %s\n"
	    "[upstream u]\nhost = u.example\nauth = inject\nusername = a\n"
	    "password_file = %s\n"
	    "[upstream v]\nhost = v.example\n"
	    "[upstream p]\nhost = p.example\nusername = a\n"
	    "password_file = %s\npop_before_smtp = pop.example:995\n"
	    "[route r]\nsender = @example.com\nupstream = p\n",
	    file, file, file);
	assert_no_errors(load_text(text, &c, NULL));
	assert_int_equal(c->listeners[0].delivery, DELIVERY_QUEUE);
	assert_int_equal(c->listeners[1].delivery, DELIVERY_LOCKSTEP);
	assert_int_equal(c->nroutes, 1);
	assert_ptr_equal(c->routes[0].upstreams.up[0], &c->upstreams[3]);
	conf_unref(c);
}

/* the bounds on counts: routes, senders per route */
static void
test_limits(void **state)
{
	struct gw_conf	*c;
	const char	*path;
	char		 text[16384], want[128];
	size_t		 off;
	int		 i;

	(void)state;
	off = (size_t)snprintf(text, sizeof(text), MINIMAL);
	for (i = 0; i <= CONF_MAX_ROUTES; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "[route r%d]\nsender = @r%d.example\nupstream = u\n", i, i);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	(void)snprintf(want, sizeof(want), "%d: [route r%d]: too many routes "
	    "(at most %d)", 6 + 3 * CONF_MAX_ROUTES, CONF_MAX_ROUTES,
	    CONF_MAX_ROUTES);
	assert_err(0, path, want);

	/* 33 short patterns, to stay within the line length */
	off = (size_t)snprintf(text, sizeof(text), MINIMAL "[route r]\n"
	    "sender = 0@x");
	for (i = 1; i <= CONF_ROUTE_SENDERS; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    ",%d@x", i);
	(void)snprintf(text + off, sizeof(text) - off, "\nupstream = u\n");
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], ": more than 32 items"));
}

/*
 * the pools of the upstreams queue deliveries use (a queue listener's,
 * and the routes') keep at least queue_parallel idle; a lockstep
 * listener's keep pool_max_idle, and 0 stays off
 */
static void
test_queue_pools(void **state)
{
	struct gw_conf	*c;

	(void)state;
	assert_no_errors(load_text("[gateway]\nqueue_dir = /var/spool/q\n"
	    "queue_parallel = 8\n"
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n"
	    "[listener q]\nlisten = 127.0.0.1:2526\nupstream = v\n"
	    "delivery = queue\n"
	    "[upstream u]\nhost = u.example.com\n"
	    "[upstream v]\nhost = v.example.com\npool_max_idle = 2\n"
	    "[upstream w]\nhost = w.example.com\npool_max_idle = 0\n"
	    "[upstream x]\nhost = x.example.com\npool_max_idle = 10\n"
	    "[route r]\nsender = @example.com\nupstream = w, x\n",
	    &c, NULL));
	assert_int_equal(conf_pool_max_idle(&c->upstreams[0]), 4);
	assert_int_equal(conf_pool_max_idle(&c->upstreams[1]), 8);
	assert_int_equal(c->upstreams[1].pool_max_idle, 2);
	assert_int_equal(conf_pool_max_idle(&c->upstreams[2]), 0);
	assert_int_equal(conf_pool_max_idle(&c->upstreams[3]), 10);
	conf_unref(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_defaults, teardown),
		cmocka_unit_test_teardown(test_full, teardown),
		cmocka_unit_test_teardown(test_errors, teardown),
		cmocka_unit_test_teardown(test_allowed, teardown),
		cmocka_unit_test_teardown(test_limits, teardown),
		cmocka_unit_test_teardown(test_queue_pools, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
