/*
 * test_metrics - the registry and its exposition text (obs/metrics.c):
 * label escaping, counters by label, histogram buckets, bounds, slots.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "obs/metrics.h"
#include "util/buf.h"

static int
setup(void **state)
{
	(void)state;
	metrics_reset();
	return 0;
}

/* the exposition of the registry as it is, NUL-terminated */
static char *
format_all(size_t max)
{
	struct buf	 b;
	char		*s;

	buf_init(&b, max);
	if (metrics_format(&gw_metrics, &b) == -1) {
		buf_release(&b);
		return NULL;
	}
	s = calloc(1, buf_len(&b) + 1);
	assert_non_null(s);
	memcpy(s, buf_data(&b), buf_len(&b));
	buf_release(&b);
	return s;
}

/* want is one whole line of text */
static void
has_line(const char *text, const char *want)
{
	const char	*p = text;
	size_t		 n = strlen(want);

	while ((p = strstr(p, want)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == '\n')
			return;
		p += n;
	}
	fail_msg("line not found: %s", want);
}

static void
test_label(void **state)
{
	static const struct {
		const char	*in, *want;
	} t[] = {
		{ "up", "up" },
		{ "", "" },
		{ "a\"b", "a\\\"b" },
		{ "a\\b", "a\\\\b" },
		{ "a\nb", "a\\nb" },
		{ "\"\\\n", "\\\"\\\\\\n" },
	};
	char	 out[64];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(metrics_label(out, sizeof(out), t[i].in), 0);
		if (strcmp(out, t[i].want) != 0)
			fail_msg("label(%s): got %s, want %s", t[i].in, out,
			    t[i].want);
	}
	/* room for "ab" and its NUL is 3; the escape doubles it */
	assert_int_equal(metrics_label(out, 3, "ab"), 0);
	assert_int_equal(metrics_label(out, 2, "ab"), -1);
	assert_int_equal(metrics_label(out, 3, "a\""), -1);
	assert_int_equal(metrics_label(out, 0, ""), -1);
}

static void
test_counters(void **state)
{
	struct mx_up	*up = metrics_up("up");
	char		*s;

	(void)state;
	metrics_accepted();
	metrics_accepted();
	metrics_refused(MX_REF_NOT_ALLOWED);
	metrics_refused(MX_REF_MAX);	/* out of range: ignored */
	metrics_tx(MX_TX_RELAYED, FAIL_NONE, 0.2);
	metrics_tx(MX_TX_TEMPFAIL, FAIL_TIMEOUT, 30.5);
	metrics_tx(MX_TX_TEMPFAIL, MX_CLASS_SPOOL, 0.001);
	metrics_rcpt_refused(1);
	metrics_relayed(up, 1234);
	metrics_up_opened(up);
	metrics_up_ready(up, 0.03, 1);
	metrics_up_reused(up);
	metrics_up_ready(up, -1, 0);
	metrics_up_failed(up, FAIL_CERT_NAME_MISMATCH);
	metrics_up_failed(up, FAIL_AUTH);
	metrics_auth(MX_AUTH_LS_LOCKED);
	metrics_dkim(MX_DKIM_SIGNED);
	metrics_tls_listener();
	gw_metrics.sessions = 3;
	up->idle = 2;
	s = format_all(1 << 20);
	assert_non_null(s);
	has_line(s, "# TYPE smtpgate_sessions_accepted_total counter");
	has_line(s, "smtpgate_sessions_accepted_total 2");
	has_line(s, "smtpgate_sessions_refused_total{reason=\"not-allowed\"} 1");
	has_line(s, "smtpgate_sessions_refused_total{reason=\"enomem\"} 0");
	has_line(s, "smtpgate_sessions_active 3");
	has_line(s, "smtpgate_transactions_total{result=\"relayed\","
	    "class=\"none\"} 1");
	has_line(s, "smtpgate_transactions_total{result=\"refused\","
	    "class=\"upstream\"} 0");
	has_line(s, "smtpgate_transactions_total{result=\"tempfail\","
	    "class=\"timeout\"} 1");
	has_line(s, "smtpgate_transactions_total{result=\"tempfail\","
	    "class=\"spool\"} 1");
	assert_null(strstr(s, "class=\"dns\""));	/* unseen: not shown */
	/* cumulative buckets, +Inf, sum and count */
	has_line(s, "# TYPE smtpgate_transaction_seconds histogram");
	has_line(s, "smtpgate_transaction_seconds_bucket{le=\"0.01\"} 1");
	has_line(s, "smtpgate_transaction_seconds_bucket{le=\"0.25\"} 2");
	has_line(s, "smtpgate_transaction_seconds_bucket{le=\"30\"} 2");
	has_line(s, "smtpgate_transaction_seconds_bucket{le=\"60\"} 3");
	has_line(s, "smtpgate_transaction_seconds_bucket{le=\"+Inf\"} 3");
	has_line(s, "smtpgate_transaction_seconds_sum 30.701000");
	has_line(s, "smtpgate_transaction_seconds_count 3");
	has_line(s, "smtpgate_recipients_refused_total{by=\"upstream\"} 1");
	has_line(s, "smtpgate_upstream_messages_total{upstream=\"up\"} 1");
	has_line(s, "smtpgate_upstream_bytes_total{upstream=\"up\"} 1234");
	has_line(s, "smtpgate_upstream_connections_opened_total"
	    "{upstream=\"up\"} 1");
	has_line(s, "smtpgate_upstream_connections_reused_total"
	    "{upstream=\"up\"} 1");
	has_line(s, "smtpgate_upstream_tls_resumed_total{upstream=\"up\"} 1");
	has_line(s, "smtpgate_upstream_idle_connections{upstream=\"up\"} 2");
	has_line(s, "smtpgate_upstream_setup_seconds_bucket{upstream=\"up\","
	    "le=\"0.025\"} 0");
	has_line(s, "smtpgate_upstream_setup_seconds_bucket{upstream=\"up\","
	    "le=\"0.05\"} 1");
	has_line(s, "smtpgate_upstream_setup_seconds_count{upstream=\"up\"} 1");
	has_line(s, "smtpgate_tls_failures_total{side=\"upstream\","
	    "class=\"cert-name-mismatch\"} 1");
	has_line(s, "smtpgate_tls_failures_total{side=\"listener\","
	    "class=\"handshake\"} 1");
	has_line(s, "smtpgate_auth_failures_total{side=\"upstream\","
	    "class=\"refused\"} 1");
	has_line(s, "smtpgate_auth_failures_total{side=\"listener\","
	    "class=\"locked\"} 1");
	has_line(s, "smtpgate_dkim_messages_total{result=\"signed\"} 1");
	/* only TLS classes in the TLS family */
	assert_null(strstr(s, "smtpgate_tls_failures_total{side=\"upstream\","
	    "class=\"auth-failed\"}"));
	assert_int_equal(s[strlen(s) - 1], '\n');
	free(s);
}

/* readiness: reachability only; a refused login and our own do not count */
static void
test_readiness_fields(void **state)
{
	struct mx_up	*up = metrics_up("r");

	(void)state;
	assert_int_equal(up->last_ok, 0);
	metrics_up_failed(up, FAIL_AUTH);
	metrics_up_failed(up, FAIL_INTERNAL);
	assert_int_equal(up->last_fail, 0);
	metrics_up_probe(up, FAIL_NONE);
	assert_true(up->last_ok > 0);
	assert_int_equal(up->probes_ok, 1);
	metrics_up_probe(up, FAIL_CONNECT);
	assert_true(up->last_fail >= up->last_ok);
	assert_int_equal(up->last_class, FAIL_CONNECT);
	assert_int_equal(up->probes_failed, 1);
	/* a failed probe is no TLS failure of the traffic */
	metrics_up_probe(up, FAIL_CERT_UNTRUSTED);
	assert_int_equal(gw_metrics.tls_up[FAIL_CERT_UNTRUSTED], 0);
}

static void
test_slots(void **state)
{
	struct mx_up	*a = metrics_up("a"), *spill;
	char		 name[16], *s;
	int		 i;

	(void)state;
	/* by name, kept: a reload finds the same counters */
	assert_ptr_equal(metrics_up("a"), a);
	assert_ptr_not_equal(metrics_up("b"), a);
	for (i = 0; i < MX_UP_MAX; i++) {
		(void)snprintf(name, sizeof(name), "u%d", i);
		spill = metrics_up(name);
	}
	assert_int_equal(gw_metrics.nup, MX_UP_MAX);
	assert_ptr_equal(spill, &gw_metrics.spill);
	metrics_relayed(spill, 1);	/* counted, never shown */
	/* a name that needs escaping */
	metrics_reset();
	(void)metrics_up("we\"ird");
	s = format_all(1 << 20);
	assert_non_null(s);
	has_line(s, "smtpgate_upstream_messages_total{upstream=\"we\\\"ird\"} 0");
	free(s);
}

/* a full buffer is an error, never a cut exposition */
static void
test_bound(void **state)
{
	char	*s;

	(void)state;
	(void)metrics_up("up");
	assert_null(format_all(100));
	s = format_all(1 << 20);
	assert_non_null(s);
	free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_label, setup),
		cmocka_unit_test_setup(test_counters, setup),
		cmocka_unit_test_setup(test_readiness_fields, setup),
		cmocka_unit_test_setup(test_slots, setup),
		cmocka_unit_test_setup(test_bound, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
