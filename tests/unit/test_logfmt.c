/*
 * test_logfmt - the two forms of a log event (log_format = text | json):
 * exact text lines, exact JSON objects, hostile values (CR, LF, quotes,
 * backslashes, control bytes, invalid UTF-8), and well-formed JSON at
 * every buffer size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util/logfmt.h"
#include "jsoncheck.h"

#define ID	0x5f3c2a1e9b7d0c11ULL

static const struct logfmt_head head = {
	"2026-12-05T20:21:51.123Z", 42, "info", NULL
};

#define EXPECT_STR(got, want, what) do {				\
	if (strcmp((got), (want)) != 0)					\
		fail_msg("%s:\n got: %s\nwant: %s", (what), (got), (want)); \
} while (0)

/* a transaction line's fields, one of each type */
static size_t
tx_fields(struct log_field *f, const char *from, const char *reply)
{
	size_t	 n = 0;

	f[n++] = LOGK_WORD("client", "127.0.0.1");
	f[n++] = LOGK_WORD("proxy", NULL);		/* left out */
	f[n++] = LOGK_ADDR("from", from);
	f[n++] = LOGK_UINT("rcpts", 2);
	f[n++] = LOGK_UINT("size", 18234);
	f[n++] = LOGK_STR("tls", "TLSv1.3 TLS13-AES128-GCM-SHA256");
	f[n++] = LOGK_BOOL("resumed", 0);
	f[n++] = LOGK_FLAG("failed", 0);		/* left out */
	f[n++] = LOGK_FLAG("listener_tls", 1);
	f[n++] = LOGK_STRV("subject", "/CN=a\\\"b");
	f[n++] = LOGK_STR("reply", reply);
	f[n++] = LOGK_SECS("duration", 0.4125);
	return n;
}

static void
test_text(void **state)
{
	struct log_field	 f[16];
	char			 buf[1024];
	size_t			 n, len;

	(void)state;
	n = tx_fields(f, "app@example.com", "250 2.0.0 Ok");
	len = logfmt_text(buf, sizeof(buf), ID, "relay", f, n);
	EXPECT_STR(buf, "5f3c2a1e9b7d0c11 relay client=127.0.0.1 "
	    "from=<app@example.com> rcpts=2 size=18234 "
	    "tls=\"TLSv1.3 TLS13-AES128-GCM-SHA256\" resumed=no listener_tls "
	    "subject=\"/CN=a\\\"b\" reply=\"250 2.0.0 Ok\" duration=0.412s",
	    "text line");
	assert_int_equal(len, strlen(buf));
	/* no id; hostile values escaped as str_vis does */
	n = tx_fields(f, "a\"b\r\nc\\d@x", "550 5.1.1 no\nsuch");
	(void)logfmt_text(buf, sizeof(buf), 0, "smtp rcpt refused", f, 4);
	EXPECT_STR(buf, "smtp rcpt refused client=127.0.0.1 "
	    "from=<a\\\"b\\x0d\\x0ac\\\\d@x> rcpts=2", "escaped text");
	/* cut: "..." at the end, terminated, within the buffer */
	memset(buf, 'Z', sizeof(buf));
	len = logfmt_text(buf, 40, ID, "relay", f, n);
	assert_int_equal(len, 39);
	assert_int_equal(buf[39], '\0');
	assert_memory_equal(buf + 36, "...", 3);
}

static void
test_json(void **state)
{
	struct log_field	 f[16];
	struct logfmt_head	 h = head;
	char			 buf[2048];
	size_t			 n, len;

	(void)state;
	n = tx_fields(f, "app@example.com", "250 2.0.0 Ok");
	len = logfmt_json(buf, sizeof(buf), &head, ID, "relay", f, n);
	EXPECT_STR(buf, "{\"time\":\"2026-12-05T20:21:51.123Z\","
	    "\"level\":\"info\",\"pid\":42,\"session\":\"5f3c2a1e9b7d0c11\","
	    "\"event\":\"relay\",\"client\":\"127.0.0.1\","
	    "\"from\":\"app@example.com\",\"rcpts\":2,\"size\":18234,"
	    "\"tls\":\"TLSv1.3 TLS13-AES128-GCM-SHA256\",\"resumed\":false,"
	    "\"listener_tls\":true,\"subject\":\"/CN=a\\\\\\\"b\","
	    "\"reply\":\"250 2.0.0 Ok\",\"duration\":0.412}", "json line");
	assert_int_equal(len, strlen(buf));
	assert_true(json_object_ok(buf, len));
	/* a debug trace: level and facility apart; no id */
	h.level = "debug";
	h.facility = "protocol";
	(void)logfmt_json(buf, sizeof(buf), &h, 0, "x", NULL, 0);
	EXPECT_STR(buf, "{\"time\":\"2026-12-05T20:21:51.123Z\","
	    "\"level\":\"debug\",\"pid\":42,\"facility\":\"protocol\","
	    "\"event\":\"x\"}", "facility");
}

struct esc_case {
	const char	*name;
	const char	*in;
	const char	*want;	/* the JSON string, quotes included */
};

static const struct esc_case esc_cases[] = {
	{ "plain", "a@b.example", "\"a@b.example\"" },
	{ "CR LF TAB", "a\r\nb\tc", "\"a\\r\\nb\\tc\"" },
	{ "quote and backslash", "\"x\\y\"", "\"\\\"x\\\\y\\\"\"" },
	{ "controls and DEL", "\x01\x1b\x7f", "\"\\u0001\\u001b\\u007f\"" },
	{ "valid UTF-8 kept", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7",
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7\"" },
	{ "lone byte", "a\xff" "b", "\"a\\ufffdb\"" },
	{ "overlong slash", "\xc0\xaf", "\"\\ufffd\\ufffd\"" },
	{ "surrogate", "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },
	{ "cut sequence", "x\xe2\x82", "\"x\\ufffd\\ufffd\"" },
	{ "past U+10FFFF", "\xf4\x90\x80\x80",
	    "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
	{ "line separators", "\xe2\x80\xa8\xe2\x80\xa9",
	    "\"\\u2028\\u2029\"" },
};

static void
test_json_escape(void **state)
{
	struct log_field	 f[1];
	char			 buf[512], want[256];
	size_t			 i, len;

	(void)state;
	for (i = 0; i < sizeof(esc_cases) / sizeof(esc_cases[0]); i++) {
		const struct esc_case	*c = &esc_cases[i];

		f[0] = LOGK_ADDR("to", c->in);
		len = logfmt_json(buf, sizeof(buf), &head, 0, "e", f, 1);
		(void)snprintf(want, sizeof(want), ",\"to\":%s}", c->want);
		if (len < strlen(want) ||
		    strcmp(buf + len - strlen(want), want) != 0)
			fail_msg("%s: got %s, want ...%s", c->name, buf, want);
		if (!json_object_ok(buf, len))
			fail_msg("%s: not JSON: %s", c->name, buf);
	}
}

static void
test_json_msg(void **state)
{
	char	 buf[512];
	size_t	 len;

	(void)state;
	len = logfmt_json_msg(buf, sizeof(buf), &head,
	    "5f3c2a1e9b7d0c11 connect from=127.0.0.1", 39);
	EXPECT_STR(buf, "{\"time\":\"2026-12-05T20:21:51.123Z\","
	    "\"level\":\"info\",\"pid\":42,\"session\":\"5f3c2a1e9b7d0c11\","
	    "\"msg\":\"connect from=127.0.0.1\"}", "msg with id");
	assert_true(json_object_ok(buf, len));
	/* not an id: upper case, too short, no space after, zero */
	(void)logfmt_json_msg(buf, sizeof(buf), &head, "5F3C2A1E9B7D0C11 x",
	    18);
	assert_null(strstr(buf, "\"session\""));
	(void)logfmt_json_msg(buf, sizeof(buf), &head, "5f3c2a1e9b7d0c1", 15);
	assert_null(strstr(buf, "\"session\""));
	(void)logfmt_json_msg(buf, sizeof(buf), &head, "5f3c2a1e9b7d0c11x",
	    17);
	assert_null(strstr(buf, "\"session\""));
	(void)logfmt_json_msg(buf, sizeof(buf), &head, "0000000000000000 x",
	    18);
	assert_null(strstr(buf, "\"session\""));
	/* an id alone; a NUL and a newline inside the text */
	(void)logfmt_json_msg(buf, sizeof(buf), &head, "5f3c2a1e9b7d0c11", 16);
	assert_non_null(strstr(buf, "\"session\":\"5f3c2a1e9b7d0c11\","
	    "\"msg\":\"\"}"));
	len = logfmt_json_msg(buf, sizeof(buf), &head, "a\0b\nc", 5);
	assert_non_null(strstr(buf, "\"msg\":\"a\\u0000b\\nc\"}"));
	assert_true(json_object_ok(buf, len));
}

/* every buffer size: well-formed, within the buffer, cut marked */
static void
test_json_sizes(void **state)
{
	struct log_field	 f[16];
	char			 full[4096], buf[4096], reply[600];
	size_t			 n, len, flen, sz;

	(void)state;
	memset(reply, '\n', sizeof(reply) - 1);
	reply[sizeof(reply) - 1] = '\0';
	memcpy(reply, "550 \xe2\x82\xac\xff\"", 9);
	n = tx_fields(f, "a\"b\xc3\xa9\r\n", reply);
	flen = logfmt_json(full, sizeof(full), &head, ID, "relay", f, n);
	assert_true(json_object_ok(full, flen));
	assert_null(strstr(full, "truncated"));
	assert_int_equal(logfmt_json(buf, LOGFMT_JSON_MIN - 1, &head, ID,
	    "relay", f, n), 0);
	assert_int_equal(buf[0], '\0');
	for (sz = LOGFMT_JSON_MIN; sz <= flen + 1; sz++) {
		memset(buf, 'Z', sizeof(buf));
		len = logfmt_json(buf, sz, &head, ID, "relay", f, n);
		if (len >= sz || buf[len] != '\0')
			fail_msg("size %zu: length %zu", sz, len);
		if (!json_object_ok(buf, len))
			fail_msg("size %zu: not JSON: %s", sz, buf);
		if (sz <= flen && strstr(buf, "\"truncated\":true}") == NULL)
			fail_msg("size %zu: cut but not marked: %s", sz, buf);
		len = logfmt_json_msg(buf, sz, &head, reply, strlen(reply));
		if (len >= sz || !json_object_ok(buf, len))
			fail_msg("size %zu: msg not JSON: %s", sz, buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_json_msg),
		cmocka_unit_test(test_json_sizes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
