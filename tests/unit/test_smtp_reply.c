/*
 * test_smtp_reply - the failure class to client reply mapping.
 *
 * The expected table is written out here again on purpose: a change to
 * what a legacy client sees must be made twice, knowingly.  docs/replies.md
 * is checked against the code too when the source tree is at hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp_reply.h"
#include "smtp/smtp_parse.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define CHECK(bad, cond, ...) do {					\
	if (!(cond)) {							\
		print_error(__VA_ARGS__);				\
		(bad)++;						\
	}								\
} while (0)

static const struct {
	enum gw_fail	 cls;
	const char	*enh;
	const char	*reply;
} want[] = {
	{ FAIL_NONE, "4.3.0", "451 4.3.0 Temporary failure (none)" },
	{ FAIL_DNS, "4.4.3", "451 4.4.3 Upstream name lookup failed (dns)" },
	{ FAIL_CONNECT, "4.4.1", "451 4.4.1 Upstream unreachable (connect)" },
	{ FAIL_TIMEOUT, "4.4.2", "451 4.4.2 Upstream timed out (timeout)" },
	{ FAIL_CLOSED, "4.4.2", "451 4.4.2 Upstream connection lost (closed)" },
	{ FAIL_TLS_PROTOCOL, "4.7.5",
	    "451 4.7.5 Upstream TLS handshake failed (tls-protocol)" },
	{ FAIL_CERT_UNTRUSTED, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (cert-untrusted)" },
	{ FAIL_CERT_EXPIRED, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (cert-expired)" },
	{ FAIL_CERT_NOT_YET_VALID, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (cert-not-yet-valid)" },
	{ FAIL_CERT_NAME_MISMATCH, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (cert-name-mismatch)" },
	{ FAIL_CERT_REVOKED, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (cert-revoked)" },
	{ FAIL_REVOCATION_UNKNOWN, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected "
	    "(revocation-unknown)" },
	{ FAIL_PIN_MISMATCH, "4.7.5",
	    "451 4.7.5 Upstream TLS certificate rejected (pin-mismatch)" },
	{ FAIL_STARTTLS_UNAVAILABLE, "4.7.4",
	    "451 4.7.4 Upstream does not offer TLS (starttls-unavailable)" },
	{ FAIL_CLIENT_CERT_REJECTED, "4.7.5",
	    "451 4.7.5 Upstream refused the gateway's TLS client certificate "
	    "(client-cert-rejected)" },
	{ FAIL_AUTH, "4.7.0",
	    "451 4.7.0 Upstream authentication failed (auth-failed)" },
	{ FAIL_PROTOCOL, "4.5.0", "451 4.5.0 Upstream protocol error (protocol)" },
	{ FAIL_REJECTED, "4.4.0",
	    "451 4.4.0 Upstream refused the session (rejected)" },
	{ FAIL_INTERNAL, "4.3.0",
	    "451 4.3.0 Local error in processing (internal)" },
	{ FAIL_PROXY_CONNECT, "4.4.1",
	    "451 4.4.1 Proxy to the upstream unreachable (proxy-connect)" },
	{ FAIL_PROXY_REFUSED, "4.4.0",
	    "451 4.4.0 Proxy refused to reach the upstream (proxy-refused)" },
	{ FAIL_PROXY_AUTH, "4.7.0",
	    "451 4.7.0 Proxy authentication failed (proxy-auth)" },
};

static void
test_every_class(void **state)
{
	const struct smtp_reply_map	*m;
	char				 buf[256];
	size_t				 i;
	int				 bad = 0, n, seen[FAIL_MAX] = { 0 };

	(void)state;
	for (i = 0; i < NELEM(want); i++) {
		seen[want[i].cls] = 1;
		m = smtp_reply_fail_map(want[i].cls);
		CHECK(bad, m != NULL, "%s: map is NULL\n", fail_name(want[i].cls));
		if (m == NULL)
			continue;
		CHECK(bad, m->code == 451, "%s: got code %d, want 451\n",
		    fail_name(want[i].cls), m->code);
		CHECK(bad, strcmp(m->enh, want[i].enh) == 0, "%s: got enh %s, "
		    "want %s\n", fail_name(want[i].cls), m->enh, want[i].enh);
		n = smtp_reply_for_fail(want[i].cls, buf, sizeof(buf));
		CHECK(bad, n == (int)strlen(want[i].reply) &&
		    strcmp(buf, want[i].reply) == 0, "%s: got \"%s\" (%d), "
		    "want \"%s\"\n", fail_name(want[i].cls), buf, n,
		    want[i].reply);
	}
	/* the expected table above must cover every class too */
	for (i = 0; i < FAIL_MAX; i++)
		CHECK(bad, seen[i], "class %zu (%s) missing from the test "
		    "table\n", i, fail_name((enum gw_fail)i));
	assert_int_equal(bad, 0);
}

/* every generated reply is a valid, single-line, transient SMTP reply */
static void
test_replies_are_valid_smtp(void **state)
{
	struct smtp_reply	 r;
	char			 buf[256];
	const char		*err;
	int			 i, n, bad = 0;

	(void)state;
	for (i = 0; i < FAIL_MAX; i++) {
		n = smtp_reply_for_fail((enum gw_fail)i, buf, sizeof(buf));
		CHECK(bad, n > 0, "class %d: no reply\n", i);
		if (n <= 0)
			continue;
		smtp_reply_reset(&r);
		err = smtp_reply_feed(&r, buf, (size_t)n);
		CHECK(bad, err == NULL, "class %d: \"%s\" does not parse: %s\n",
		    i, buf, err);
		if (err != NULL)
			continue;
		CHECK(bad, r.done && r.code / 100 == 4 && r.enh[0] == '4',
		    "class %d: \"%s\" is not a one-line 4xx with 4.x.x\n", i,
		    buf);
		CHECK(bad, strstr(r.text, fail_name((enum gw_fail)i)) != NULL,
		    "class %d: text \"%s\" lacks the class name\n", i, r.text);
		/* short enough to pass any client's line limit with room */
		CHECK(bad, n < 100, "class %d: \"%s\" is long\n", i, buf);
	}
	assert_int_equal(bad, 0);
}

/* all certificate classes look alike to the client */
static void
test_cert_classes_alike(void **state)
{
	static const enum gw_fail cert[] = {
		FAIL_CERT_UNTRUSTED, FAIL_CERT_EXPIRED, FAIL_CERT_NOT_YET_VALID,
		FAIL_CERT_NAME_MISMATCH, FAIL_CERT_REVOKED,
		FAIL_REVOCATION_UNKNOWN, FAIL_PIN_MISMATCH,
	};
	const struct smtp_reply_map	*first, *m;
	size_t				 i;

	(void)state;
	first = smtp_reply_fail_map(cert[0]);
	for (i = 1; i < NELEM(cert); i++) {
		m = smtp_reply_fail_map(cert[i]);
		assert_int_equal(m->code, first->code);
		assert_string_equal(m->enh, "4.7.5");
		assert_string_equal(m->text, first->text);
	}
}

/* a class value outside the enum still gives a 4xx, never NULL */
static void
test_out_of_range(void **state)
{
	const struct smtp_reply_map	*m;
	char				 buf[128];
	int				 vals[] = { FAIL_MAX, FAIL_MAX + 1, 1000, -1 };
	size_t				 i;

	(void)state;
	for (i = 0; i < NELEM(vals); i++) {
		m = smtp_reply_fail_map((enum gw_fail)vals[i]);
		assert_non_null(m);
		assert_int_equal(m->code, 451);
		assert_ptr_equal(m, smtp_reply_fail_map(FAIL_INTERNAL));
		assert_true(smtp_reply_for_fail((enum gw_fail)vals[i], buf,
		    sizeof(buf)) > 0);
		assert_memory_equal(buf, "451 4.3.0 ", 10);
	}
}

/* a reply that does not fit is refused whole, never cut */
static void
test_small_buffer(void **state)
{
	const char	*full = "451 4.4.1 Upstream unreachable (connect)";
	char		 buf[64];
	size_t		 len = strlen(full);

	(void)state;
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(smtp_reply_for_fail(FAIL_CONNECT, buf, len), -1);
	assert_string_equal(buf, "");
	assert_int_equal(smtp_reply_for_fail(FAIL_CONNECT, buf, 1), -1);
	assert_string_equal(buf, "");
	buf[0] = 'x';
	assert_int_equal(smtp_reply_for_fail(FAIL_CONNECT, buf, 0), -1);
	assert_int_equal(buf[0], 'x');
	assert_int_equal(smtp_reply_for_fail(FAIL_CONNECT, buf, len + 1),
	    (int)len);
	assert_string_equal(buf, full);
}

/* enhanced codes added to upstream replies that came without one */
static const struct {
	enum smtp_reply_cmd	 cmd;
	int			 code;
	const char		*given;
	const char		*want;	/* NULL: none */
} enh_cases[] = {
	{ SMTP_RC_MAIL, 250, NULL, "2.1.0" },
	{ SMTP_RC_MAIL, 250, "", "2.1.0" },
	{ SMTP_RC_RCPT, 250, NULL, "2.1.5" },
	{ SMTP_RC_RCPT, 251, NULL, "2.1.5" },
	{ SMTP_RC_DOT, 250, NULL, "2.0.0" },
	{ SMTP_RC_RSET, 250, NULL, "2.0.0" },
	{ SMTP_RC_DATA, 354, NULL, NULL },
	{ SMTP_RC_AUTH, 334, NULL, NULL },
	{ SMTP_RC_MAIL, 354, NULL, NULL },
	{ SMTP_RC_RCPT, 550, NULL, "5.0.0" },
	{ SMTP_RC_RCPT, 551, NULL, "5.0.0" },
	{ SMTP_RC_RCPT, 553, NULL, "5.0.0" },
	{ SMTP_RC_RCPT, 450, NULL, "4.0.0" },
	{ SMTP_RC_RCPT, 452, NULL, "4.0.0" },
	{ SMTP_RC_MAIL, 421, NULL, "4.0.0" },
	{ SMTP_RC_MAIL, 550, NULL, "5.0.0" },
	{ SMTP_RC_DOT, 554, NULL, "5.0.0" },
	{ SMTP_RC_DOT, 552, NULL, "5.0.0" },
	{ SMTP_RC_DOT, 451, NULL, "4.0.0" },
	{ SMTP_RC_MAIL, 500, NULL, "5.5.2" },
	{ SMTP_RC_RCPT, 501, NULL, "5.5.4" },
	{ SMTP_RC_DOT, 502, NULL, "5.5.1" },
	{ SMTP_RC_RCPT, 503, NULL, "5.5.1" },
	{ SMTP_RC_MAIL, 504, NULL, "5.5.4" },
	{ SMTP_RC_MAIL, 555, NULL, "5.5.4" },
	{ SMTP_RC_AUTH, 235, NULL, "2.7.0" },
	{ SMTP_RC_AUTH, 432, NULL, "4.7.12" },
	{ SMTP_RC_AUTH, 454, NULL, "4.7.0" },
	{ SMTP_RC_AUTH, 500, NULL, "5.5.6" },
	{ SMTP_RC_AUTH, 530, NULL, "5.7.0" },
	{ SMTP_RC_AUTH, 534, NULL, "5.7.9" },
	{ SMTP_RC_AUTH, 535, NULL, "5.7.8" },
	{ SMTP_RC_AUTH, 538, NULL, "5.7.11" },
	{ SMTP_RC_AUTH, 501, NULL, "5.5.4" },
	{ SMTP_RC_AUTH, 550, NULL, "5.0.0" },
	{ SMTP_RC_OTHER, 221, NULL, "2.0.0" },
	/* the upstream's own code is kept when it is valid for the reply */
	{ SMTP_RC_RCPT, 550, "5.1.1", "5.1.1" },
	{ SMTP_RC_MAIL, 250, "2.1.0", "2.1.0" },
	{ SMTP_RC_DOT, 250, "2.6.0", "2.6.0" },
	{ SMTP_RC_RCPT, 452, "4.5.3", "4.5.3" },
	{ SMTP_RC_RCPT, 550, "5.123.999", "5.123.999" },
	/* ... and replaced when it is not */
	{ SMTP_RC_RCPT, 550, "4.1.1", "5.0.0" },
	{ SMTP_RC_RCPT, 550, "5.1", "5.0.0" },
	{ SMTP_RC_RCPT, 550, "5.1.1x", "5.0.0" },
	{ SMTP_RC_RCPT, 550, "5.1234.1", "5.0.0" },
	{ SMTP_RC_RCPT, 550, "5..1", "5.0.0" },
	{ SMTP_RC_RCPT, 250, "5.1.1", "2.1.5" },
	/* codes outside 2xx-5xx get none */
	{ SMTP_RC_MAIL, 199, NULL, NULL },
	{ SMTP_RC_MAIL, 600, NULL, NULL },
	{ SMTP_RC_MAIL, 0, NULL, NULL },
	{ SMTP_RC_MAIL, -250, NULL, NULL },
};

static void
test_enh(void **state)
{
	const char	*got;
	size_t		 i;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(enh_cases); i++) {
		got = smtp_reply_enh(enh_cases[i].cmd, enh_cases[i].code,
		    enh_cases[i].given);
		CHECK(bad, (got == NULL && enh_cases[i].want == NULL) ||
		    (got != NULL && enh_cases[i].want != NULL &&
		    strcmp(got, enh_cases[i].want) == 0),
		    "row %zu: cmd %d code %d given %s: got %s, want %s\n", i,
		    (int)enh_cases[i].cmd, enh_cases[i].code,
		    enh_cases[i].given != NULL ? enh_cases[i].given : "(null)",
		    got != NULL ? got : "(none)",
		    enh_cases[i].want != NULL ? enh_cases[i].want : "(none)");
	}
	assert_int_equal(bad, 0);
}

/* every 2xx/4xx/5xx of every command gets a code of the reply's class */
static void
test_enh_total(void **state)
{
	const char	*got;
	int		 cmd, code, bad = 0;

	(void)state;
	for (cmd = SMTP_RC_MAIL; cmd <= SMTP_RC_OTHER; cmd++)
		for (code = 200; code <= 599; code++) {
			got = smtp_reply_enh((enum smtp_reply_cmd)cmd, code,
			    NULL);
			if (code / 100 == 3) {
				CHECK(bad, got == NULL, "%d: got %s\n", code,
				    got);
				continue;
			}
			CHECK(bad, got != NULL && got[0] == '0' + code / 100 &&
			    got[1] == '.', "cmd %d code %d: got %s\n", cmd,
			    code, got != NULL ? got : "(none)");
		}
	assert_int_equal(bad, 0);
}

/* docs/replies.md lists each class with the code's reply and text */
static void
test_docs_match(void **state)
{
	const struct smtp_reply_map	*m;
	const char			*srcdir;
	char				 path[1024], row[256], *doc;
	FILE				*f;
	long				 sz;
	int				 i, bad = 0;

	(void)state;
	if ((srcdir = getenv("SRCDIR")) == NULL)
		srcdir = ".";
	snprintf(path, sizeof(path), "%s/docs/replies.md", srcdir);
	if ((f = fopen(path, "r")) == NULL) {
		print_message("%s not found; set SRCDIR to check it\n", path);
		skip();
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz > 0);
	rewind(f);
	doc = calloc(1, (size_t)sz + 1);
	assert_non_null(doc);
	assert_int_equal(fread(doc, 1, (size_t)sz, f), (size_t)sz);
	fclose(f);
	for (i = 0; i < FAIL_MAX; i++) {
		m = smtp_reply_fail_map((enum gw_fail)i);
		snprintf(row, sizeof(row), "| `%s` | %d %s | %s |",
		    fail_name((enum gw_fail)i), m->code, m->enh, m->text);
		CHECK(bad, strstr(doc, row) != NULL, "docs/replies.md: no row "
		    "\"%s\"\n", row);
	}
	free(doc);
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_class),
		cmocka_unit_test(test_replies_are_valid_smtp),
		cmocka_unit_test(test_cert_classes_alike),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_small_buffer),
		cmocka_unit_test(test_docs_match),
		cmocka_unit_test(test_enh),
		cmocka_unit_test(test_enh_total),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
