/*
 * test_gssjob - GSSAPI's first step on a thread with the result on a
 * real event_base: the error and the state handed back on the loop, a
 * job cancelled while its thread runs (done never called, the thread
 * frees it), and one cancelled after its thread finished (freed at
 * once).  The step fails fast here (a keytab that does not exist), so
 * no KDC is needed; test_auth_gssapi.py has the dead-KDC cases.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/gssjob.h"
#include "auth/sasl.h"

struct run {
	struct event_base	*base;
	int			 calls;
	char			 err[1024];
	int			 had_line;
	int			 had_gss;
};

static const struct sasl_cred	 cred = {
	.user = "",
	.keytab = "/nonexistent/smtpgate-test.keytab",
	.principal = "smtpgate@NOWHERE.TEST",
	.service = "smtp@localhost",
	.host = "localhost",
	.port = 25,
};

static void
done(void *arg, struct sasl_state *st, const char *line, const char *err,
    long ms)
{
	struct run	*r = arg;

	(void)ms;
	r->calls++;
	r->had_line = line != NULL;
	r->had_gss = st != NULL && st->gss != NULL;
	(void)snprintf(r->err, sizeof(r->err), "%s", err != NULL ? err : "");
	if (st != NULL) {
		sasl_state_clear(st);
		free(st);
	}
	(void)event_base_loopbreak(r->base);
}

static struct sasl_state *
state_new(void)
{
	struct sasl_state	*st;

	assert_non_null(st = calloc(1, sizeof(*st)));
	return st;
}

/* wait_alive - bounded: until no job is alive (10 s) */
static int
wait_alive(unsigned want)
{
	struct timespec	 ts = { 0, 10 * 1000 * 1000 };
	int		 i;

	for (i = 0; i < 1000 && gssjob_alive() != want; i++)
		(void)nanosleep(&ts, NULL);
	return gssjob_alive() == want;
}

static void
test_result_on_loop(void **state)
{
	struct run	 r;
	struct timeval	 tv = { 10, 0 };
	struct gssjob	*j;
	const char	*why;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	j = gssjob_start(r.base, &cred, state_new(), done, &r, &why);
	assert_non_null(j);
	(void)event_base_loopexit(r.base, &tv);	/* bounded */
	(void)event_base_dispatch(r.base);
	assert_int_equal(r.calls, 1);
	assert_false(r.had_line);
	assert_true(r.had_gss);		/* the state came back, context too */
	assert_non_null(strstr(r.err, "keytab"));
	assert_int_equal(gssjob_alive(), 0);
	event_base_free(r.base);
}

static void
test_cancel_running(void **state)
{
	struct run	 r;
	struct gssjob	*j;
	const char	*why;

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	j = gssjob_start(r.base, &cred, state_new(), done, &r, &why);
	assert_non_null(j);
	gssjob_cancel(j);		/* most likely before the thread ends */
	assert_true(wait_alive(0));	/* the thread freed it */
	(void)event_base_loop(r.base, EVLOOP_NONBLOCK);
	assert_int_equal(r.calls, 0);
	event_base_free(r.base);
}

static void
test_cancel_finished(void **state)
{
	struct run		 r;
	struct gssjob		*j;
	const char		*why;
	struct timespec		 ts = { 0, 300 * 1000 * 1000 };

	(void)state;
	memset(&r, 0, sizeof(r));
	assert_non_null(r.base = event_base_new());
	j = gssjob_start(r.base, &cred, state_new(), done, &r, &why);
	assert_non_null(j);
	(void)nanosleep(&ts, NULL);	/* the thread is done by now, likely */
	assert_int_equal(gssjob_alive(), 1);	/* the loop has not taken it */
	gssjob_cancel(j);
	assert_true(wait_alive(0));
	(void)event_base_loop(r.base, EVLOOP_NONBLOCK);
	assert_int_equal(r.calls, 0);
	event_base_free(r.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_result_on_loop),
		cmocka_unit_test(test_cancel_running),
		cmocka_unit_test(test_cancel_finished),
	};

	/* no krb5.conf of the machine's: the step fails on the keytab */
	(void)setenv("KRB5_CONFIG", "/dev/null", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
