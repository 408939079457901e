/*
 * test_conf - conf_load() on INI text written to temporary files: a full
 * file, defaults, every kind of error with its exact "FILE:LINE: key:"
 * message, cross-checks, the shipped example, and the defaults printed in
 * docs/configuration.md against the ones in the key table.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "util/log.h"

#define MAXERR		128
#define MAXTMP		64

/* what one conf_load() reported */
static struct {
	char	*msg[MAXERR];
	int	 n;
} errs;

/* temporary files of the current test, removed in teardown */
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
setup(void **state)
{
	(void)state;
	errs_clear();
	ntmp = 0;
	return 0;
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

/* write len bytes to a new temporary file; returns its path */
static const char *
write_tmp(const char *data, size_t len)
{
	char	 path[] = "/tmp/test_conf.XXXXXX";
	int	 fd;

	assert_true(ntmp < MAXTMP);
	fd = mkstemp(path);
	assert_true(fd != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	tmpfiles[ntmp] = strdup(path);
	assert_non_null(tmpfiles[ntmp]);
	return tmpfiles[ntmp++];
}

/* load text; the number of errors is also in errs.n */
static int
load_text(const char *text, struct gw_conf **out, const char **pathp)
{
	const char	*path;
	int		 n;

	errs_clear();
	path = write_tmp(text, strlen(text));
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

/* message i must be "PATH:" followed by want (a prefix) */
static void
assert_err(int i, const char *path, const char *want)
{
	size_t	 plen = strlen(path);

	if (i >= errs.n || strncmp(errs.msg[i], path, plen) != 0 ||
	    errs.msg[i][plen] != ':' ||
	    strncmp(errs.msg[i] + plen + 1, want, strlen(want)) != 0) {
		print_message("error %d: want \"%s:%s...\"\n", i, path, want);
		print_errs();
		fail();
	}
}

static void
assert_no_errors(int n)
{
	if (n != 0) {
		print_errs();
		fail_msg("%d unexpected errors", n);
	}
}

#define MINIMAL \
	"[listener l]\n" \
	"listen = 127.0.0.1:2525\n" \
	"upstream = u\n" \
	"[upstream u]\n" \
	"host = mail.example.com\n"

/* every key set, none to its default */
static void
test_full(void **state)
{
	struct gw_conf			*c;
	const struct conf_listener	*l;
	const struct conf_upstream	*u;
	const char			*ca, *path;
	char				 text[4096];
	unsigned char			 a[16];

	(void)state;
	ca = write_tmp("-----BEGIN CERTIFICATE-----\n", 28);
	(void)snprintf(text, sizeof(text),
	    "; a full file\n"
	    "[gateway]\n"
	    "hostname = gw.example.lan\n"
	    "user = smtpgate\n"
	    "log_level = debug\n"
	    "log_facilities = protocol, tls\n"
	    "log_target = syslog\n"
	    "max_sessions = 200\n"
	    "\n"
	    "[listener lan]\n"
	    "listen = 192.0.2.1:25, [2001:db8::1]:2525\n"
	    "allow = 192.0.2.0/24, 2001:db8::/32, 10.1.2.3\n"
	    "upstream = smarthost\n"
	    "max_message_size = 10M\n"
	    "max_recipients = 20\n"
	    "banner = gw.example.lan ESMTP relay;ready\n"
	    "command_timeout = 2m\n"
	    "data_timeout = 1h\n"
	    "max_sessions_per_client = 5\n"
	    "bare_newline = normalize\n"
	    "received_header = yes\n"
	    "rate_connections = 100/1h\n"
	    "rate_messages = 30/90\n"
	    "rate_recipients = OFF\n"
	    "rate_user_messages = 1000/1d\n"
	    "\n"
	    "[upstream smarthost]\n"
	    "host = smtp.example.com\n"
	    "port = 2465\n"
	    "tls = implicit\n"
	    "ca_file = %s\n"
	    "verify_hostname = off\n"
	    "tls_name = mx.example.com\n"
	    "tls_min_version = 1.3\n"
	    "helo_name = relay.example.lan\n"
	    "connect_timeout = 45\n"
	    "command_timeout = 90s ; inline comment\n", ca);
	assert_no_errors(load_text(text, &c, &path));

	assert_string_equal(c->path, path);
	assert_string_equal(c->hostname, "gw.example.lan");
	assert_string_equal(c->user, "smtpgate");
	assert_int_equal(c->log_level, GW_LOG_DEBUG);
	assert_int_equal(c->log_facilities, LOGF_PROTOCOL | LOGF_TLS);
	assert_int_equal(c->log_syslog, 1);
	assert_int_equal(c->max_sessions, 200);
	assert_int_equal(c->nlisteners, 1);
	assert_int_equal(c->nupstreams, 1);
	assert_int_equal(c->refcnt, 1);

	l = &c->listeners[0];
	assert_string_equal(l->name, "lan");
	assert_int_equal(l->line, 10);
	assert_int_equal(l->nlisten, 2);
	assert_string_equal(l->listen[0].host, "192.0.2.1");
	assert_int_equal(l->listen[0].port, 25);
	assert_string_equal(l->listen[1].host, "2001:db8::1");
	assert_int_equal(l->listen[1].port, 2525);
	assert_int_equal(l->nallow, 3);
	assert_int_equal(l->allow[0].family, AF_INET);
	assert_int_equal(l->allow[0].prefix, 24);
	assert_int_equal(inet_pton(AF_INET, "192.0.2.0", a), 1);
	assert_memory_equal(l->allow[0].addr, a, 4);
	assert_int_equal(l->allow[1].family, AF_INET6);
	assert_int_equal(l->allow[1].prefix, 32);
	assert_int_equal(l->allow[2].prefix, 32);
	assert_string_equal(l->upstream_name, "smarthost");
	assert_ptr_equal(l->upstream, &c->upstreams[0]);
	assert_int_equal(l->max_message_size, 10ULL * 1024 * 1024);
	assert_int_equal(l->max_recipients, 20);
	assert_string_equal(l->banner, "gw.example.lan ESMTP relay;ready");
	assert_int_equal(l->command_timeout, 120);
	assert_int_equal(l->data_timeout, 3600);
	assert_int_equal(l->max_sessions_per_client, 5);
	assert_int_equal(l->bare_newline, BARE_NEWLINE_NORMALIZE);
	assert_int_equal(l->received_header, 1);
	assert_int_equal(l->rate_connections.count, 100);
	assert_int_equal(l->rate_connections.period, 3600);
	assert_int_equal(l->rate_messages.count, 30);
	assert_int_equal(l->rate_messages.period, 90);
	assert_int_equal(l->rate_recipients.count, 0);
	assert_int_equal(l->rate_user_messages.count, 1000);
	assert_int_equal(l->rate_user_messages.period, 86400);

	u = &c->upstreams[0];
	assert_string_equal(u->name, "smarthost");
	assert_int_equal(u->line, 27);
	assert_string_equal(u->host, "smtp.example.com");
	assert_int_equal(u->port, 2465);
	assert_int_equal(u->tls, TLS_IMPLICIT);
	assert_string_equal(u->tlsset.ca_file, ca);
	assert_int_equal(u->tlsset.verify_hostname, 0);
	assert_string_equal(u->tlsset.tls_name, "mx.example.com");
	assert_int_equal(u->tlsset.tls_min_version, CONF_TLS_V13);
	assert_string_equal(u->helo_name, "relay.example.lan");
	assert_int_equal(u->connect_timeout, 45);
	assert_int_equal(u->command_timeout, 90);

	assert_ptr_equal(conf_find_upstream(c, "smarthost"), u);
	assert_null(conf_find_upstream(c, "other"));
	conf_unref(c);
}

/* the TLS policy keys of an upstream, each set away from its default */
static void
test_tls_keys(void **state)
{
	static const unsigned char empty_sha256[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
		0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55
	};
	struct gw_conf			*c;
	const struct conf_upstream	*u;
	const char			*f;
	char				 text[4096];

	(void)state;
	f = write_tmp("x\n", 2);
	(void)snprintf(text, sizeof(text), MINIMAL
	    "tls_max_version = 1.2\n"
	    "ca_file = none\n"
	    "ca_path = /tmp\n"
	    "verify_chain = no\n"
	    "accept = untrusted-root, Expired, name-mismatch\n"
	    "pin_sha256 = 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=, "
	    "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	    "ciphers = ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305\n"
	    "ciphersuites = TLS13-CHACHA20-POLY1305-SHA256:TLS_AES_128_GCM_SHA256\n"
	    "curves = x25519, secp384r1, P-256\n"
	    "client_cert = %s\nclient_key = %s\n"
	    "client_key_password_file = %s\n"
	    "crl_file = %s\ncrl_path = /tmp\n"
	    "crl_check = chain-except-root\ncrl_missing = fail\n"
	    "ocsp = hard\nocsp_url = http://ocsp.example:8080/x\n"
	    "ocsp_check = chain\nocsp_timeout = 2s\n",
	    f, f, f, f);
	assert_no_errors(load_text(text, &c, NULL));
	u = &c->upstreams[0];
	assert_int_equal(u->tlsset.tls_max_version, CONF_TLS_V12);
	assert_string_equal(u->tlsset.ca_file, "none");
	assert_string_equal(u->tlsset.ca_path, "/tmp");
	assert_int_equal(u->tlsset.ocsp, OCSP_HARD);
	assert_string_equal(u->tlsset.ocsp_url, "http://ocsp.example:8080/x");
	assert_int_equal(u->tlsset.ocsp_chain, 1);
	assert_int_equal(u->tlsset.ocsp_timeout, 2);
	assert_int_equal(u->tlsset.ocsp_nonce, 0);
	assert_int_equal(u->tlsset.no_verify_chain, 1);
	assert_int_equal(u->tlsset.accept, CONF_ACCEPT_UNTRUSTED_ROOT |
	    CONF_ACCEPT_EXPIRED | CONF_ACCEPT_NAME_MISMATCH);
	assert_int_equal(u->tlsset.npins, 2);
	assert_memory_equal(u->tlsset.pins[0], empty_sha256, 32);
	assert_memory_equal(u->tlsset.pins[1], empty_sha256, 32);
	assert_string_equal(u->tlsset.ciphers,
	    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-CHACHA20-POLY1305");
	assert_string_equal(u->tlsset.ciphersuites,
	    "TLS13-CHACHA20-POLY1305-SHA256:TLS_AES_128_GCM_SHA256");
	assert_int_equal(u->tlsset.ncurves, 3);
	assert_int_equal(u->tlsset.curves[0], CONF_CURVE_X25519);
	assert_int_equal(u->tlsset.curves[1], CONF_CURVE_P384);
	assert_int_equal(u->tlsset.curves[2], CONF_CURVE_P256);
	assert_string_equal(u->tlsset.client_cert, f);
	assert_string_equal(u->tlsset.client_key, f);
	assert_string_equal(u->tlsset.client_key_password_file, f);
	assert_string_equal(u->tlsset.crl_file, f);
	assert_string_equal(u->tlsset.crl_path, "/tmp");
	assert_int_equal(u->tlsset.crl_check, CRL_CHECK_CHAIN_EXCEPT_ROOT);
	assert_int_equal(u->tlsset.crl_missing_fail, 1);
	conf_unref(c);

	/* and the defaults */
	assert_no_errors(load_text(MINIMAL, &c, NULL));
	u = &c->upstreams[0];
	assert_int_equal(u->tlsset.tls_max_version, CONF_TLS_V13);
	assert_int_equal(u->tlsset.no_verify_chain, 0);
	assert_int_equal(u->tlsset.accept, 0);
	assert_int_equal(u->tlsset.npins, 0);
	assert_int_equal(u->tlsset.ncurves, 0);
	assert_string_equal(u->tlsset.ciphers, "");
	assert_string_equal(u->tlsset.crl_file, "");
	assert_int_equal(u->tlsset.crl_check, CRL_CHECK_CHAIN);
	assert_int_equal(u->tlsset.crl_missing_fail, 0);
	conf_unref(c);
}

/* only the required keys: everything else from the table */
static void
test_defaults(void **state)
{
	struct gw_conf			*c;
	const struct conf_listener	*l;
	const struct conf_upstream	*u;
	char				 host[256], banner[300];
	unsigned char			 lo[4] = { 127, 0, 0, 0 };
	unsigned char			 v6lo[16] = { [15] = 1 };

	(void)state;
	assert_no_errors(load_text(MINIMAL, &c, NULL));
	assert_int_equal(gethostname(host, sizeof(host)), 0);
	host[sizeof(host) - 1] = '\0';

	assert_string_equal(c->hostname, host);
	assert_string_equal(c->user, "");
	assert_int_equal(c->log_level, GW_LOG_INFO);
	assert_int_equal(c->log_facilities, LOGF_ALL);
	assert_int_equal(c->log_syslog, 0);
	assert_int_equal(c->max_sessions, 1000);

	l = &c->listeners[0];
	assert_int_equal(l->line, 1);
	assert_int_equal(l->nallow, 2);
	assert_int_equal(l->allow[0].family, AF_INET);
	assert_int_equal(l->allow[0].prefix, 8);
	assert_memory_equal(l->allow[0].addr, lo, 4);
	assert_int_equal(l->allow[1].family, AF_INET6);
	assert_int_equal(l->allow[1].prefix, 128);
	assert_memory_equal(l->allow[1].addr, v6lo, 16);
	assert_int_equal(l->max_message_size, 50ULL * 1024 * 1024);
	assert_int_equal(l->max_recipients, 100);
	(void)snprintf(banner, sizeof(banner), "%s ESMTP smtpgate", host);
	assert_string_equal(l->banner, banner);
	assert_int_equal(l->command_timeout, 300);
	assert_int_equal(l->data_timeout, 600);
	assert_int_equal(l->max_sessions_per_client, 50);
	assert_int_equal(l->bare_newline, BARE_NEWLINE_REJECT);
	assert_int_equal(l->received_header, 0);
	/* the rate limits are off */
	assert_int_equal(l->rate_connections.count, 0);
	assert_int_equal(l->rate_messages.count, 0);
	assert_int_equal(l->rate_recipients.count, 0);
	assert_int_equal(l->rate_user_messages.count, 0);

	u = &c->upstreams[0];
	assert_int_equal(u->line, 4);
	assert_int_equal(u->port, 587);
	assert_int_equal(u->tls, TLS_STARTTLS);
	assert_string_equal(u->tlsset.ca_file, "system");
	assert_int_equal(u->tlsset.verify_hostname, 1);
	assert_string_equal(u->tlsset.tls_name, "mail.example.com");
	assert_int_equal(u->tlsset.tls_min_version, CONF_TLS_V12);
	assert_string_equal(u->helo_name, host);
	assert_int_equal(u->connect_timeout, 30);
	assert_int_equal(u->command_timeout, 300);
	assert_int_equal(u->slow_reply_warning, 25);
	conf_unref(c);
}

/* helo_name and banner follow [gateway] hostname even if it comes last */
static void
test_derived_defaults(void **state)
{
	struct gw_conf	*c;

	(void)state;
	assert_no_errors(load_text(MINIMAL
	    "[gateway]\n"
	    "hostname = gw.example.lan\n", &c, NULL));
	assert_string_equal(c->upstreams[0].helo_name, "gw.example.lan");
	assert_string_equal(c->listeners[0].banner,
	    "gw.example.lan ESMTP smtpgate");
	conf_unref(c);
}

static void
test_tls_auto(void **state)
{
	static const struct {
		const char	*lines;
		enum tls_mode	 want;
	} cases[] = {
		{ "port = 465\n", TLS_IMPLICIT },
		{ "port = 587\n", TLS_STARTTLS },
		{ "", TLS_STARTTLS },
		{ "port = 25\n", TLS_STARTTLS },
		{ "tls = auto\nport = 465\n", TLS_IMPLICIT },
		{ "tls = AUTO\nport = 25\n", TLS_STARTTLS },
		{ "port = 465\ntls = starttls\n", TLS_STARTTLS },
		{ "port = 25\ntls = none\n", TLS_NONE },
		{ "tls = starttls-optional\n", TLS_STARTTLS_OPTIONAL },
		{ "port = 587\ntls = implicit\n", TLS_IMPLICIT },
	};
	struct gw_conf	*c;
	char		 text[1024];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text), MINIMAL "%s",
		    cases[i].lines);
		assert_no_errors(load_text(text, &c, NULL));
		if (c->upstreams[0].tls != cases[i].want)
			fail_msg("case %zu: got %s, want %s", i,
			    tls_mode_name(c->upstreams[0].tls),
			    tls_mode_name(cases[i].want));
		conf_unref(c);
	}
}

/*
 * Error cases on a valid base file.  The extra line for [gateway] is line
 * 2, for [listener l] line 6, for [upstream u] line 9.  Each want is the
 * message after "PATH:"; all of them, and nothing else, must be reported.
 */
#define BASE \
	"[gateway]\n"				/* 1 */ \
	"%s\n"					/* 2 */ \
	"[listener l]\n"			/* 3 */ \
	"listen = 127.0.0.1:2525\n"		/* 4 */ \
	"upstream = u\n"			/* 5 */ \
	"%s\n"					/* 6 */ \
	"[upstream u]\n"			/* 7 */ \
	"host = mail.example.com\n"		/* 8 */ \
	"%s\n"					/* 9 */

struct errcase {
	const char	*name;
	const char	*g, *l, *u;	/* extra lines, NULL for none */
	const char	*want[4];
};

static const struct errcase errcases[] = {
	{ "uint range", NULL, NULL, "port = 70000",
	    { "9: port: \"70000\": must be between 1 and 65535" } },
	{ "uint zero", NULL, "max_recipients = 0",  NULL,
	    { "6: max_recipients: \"0\": must be between 1 and 10000" } },
	{ "uint negative", "max_sessions = -1", NULL, NULL,
	    { "2: max_sessions: \"-1\": negative number not allowed" } },
	{ "uint garbage", "max_sessions = 10x", NULL, NULL,
	    { "2: max_sessions: \"10x\": " } },
	{ "size too small", NULL, "max_message_size = 100", NULL,
	    { "6: max_message_size: \"100\": must be between 1K and 2G" } },
	{ "size too large", NULL, "max_message_size = 3G", NULL,
	    { "6: max_message_size: \"3G\": must be between 1K and 2G" } },
	{ "size suffix", NULL, "max_message_size = 5X", NULL,
	    { "6: max_message_size: \"5X\": bad size suffix" } },
	{ "duration suffix", NULL, "command_timeout = 2w", NULL,
	    { "6: command_timeout: \"2w\": bad duration suffix" } },
	{ "duration zero", NULL, NULL, "connect_timeout = 0",
	    { "9: connect_timeout: \"0\": must be between 1s and 1h" } },
	{ "duration too long", NULL, "data_timeout = 2h", NULL,
	    { "6: data_timeout: \"2h\": must be between 1s and 1h" } },
	{ "rate form", NULL, "rate_connections = 100", NULL,
	    { "6: rate_connections: \"100\": must be COUNT/PERIOD, as "
	    "100/1h, or off" } },
	{ "rate count", NULL, "rate_messages = 0/1h", NULL,
	    { "6: rate_messages: \"0/1h\": COUNT must be a number from 1 "
	    "to 1000000" } },
	{ "rate period", NULL, "rate_recipients = 10/8d", NULL,
	    { "6: rate_recipients: \"10/8d\": PERIOD must be at most 7d" } },
	{ "rate suffix", NULL, "rate_user_messages = 10/1w", NULL,
	    { "6: rate_user_messages: \"10/1w\": bad PERIOD suffix (use s, "
	    "m, h or d)" } },
	{ "rate zero period", NULL, "rate_messages = 10/0s", NULL,
	    { "6: rate_messages: \"10/0s\": PERIOD must be at least 1s" } },
	{ "bool", NULL, "received_header = maybe", NULL,
	    { "6: received_header: \"maybe\": not a boolean" } },
	{ "enum", NULL, "bare_newline = fix", NULL,
	    { "6: bare_newline: \"fix\": must be one of reject, normalize" } },
	{ "tls enum", NULL, NULL, "tls = ssl",
	    { "9: tls: \"ssl\": must be one of auto, none, starttls, "
	    "starttls-optional, implicit" } },
	{ "log_target", "log_target = file", NULL, NULL,
	    { "2: log_target: \"file\": must be one of stderr, syslog" } },
	{ "log_format", "log_format = xml", NULL, NULL,
	    { "2: log_format: \"xml\": must be one of text, json" } },
	{ "log_level", "log_level = verbose", NULL, NULL,
	    { "2: log_level: \"verbose\": must be one of error, warning, "
	    "info, debug" } },
	{ "log_facilities", "log_facilities = protocol, smtp", NULL, NULL,
	    { "2: log_facilities: \"protocol, smtp\": " } },
	{ "tls 1.0", NULL, NULL, "tls_min_version = 1.0",
	    { "9: tls_min_version: \"1.0\": TLS versions before 1.2 are "
	    "not supported" } },
	{ "tls 1.1", NULL, NULL, "tls_min_version = TLSv1.1",
	    { "9: tls_min_version: \"TLSv1.1\": TLS versions before 1.2 are "
	    "not supported" } },
	{ "tls 1.4", NULL, NULL, "tls_min_version = 1.4",
	    { "9: tls_min_version: \"1.4\": must be 1.2 or 1.3" } },
	{ "banner control", NULL, "banner = a\tb", NULL,
	    { "6: banner: \"a\\x09b\": control characters are not allowed" } },
	{ "banner utf-8", NULL, "banner = gr\xc3\xbc\xc3\x9f", NULL,
	    { "6: banner: \"gr\\xc3\\xbc\\xc3\\x9f\": only printable ASCII" } },
	{ "banner too long", NULL, "banner = "
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
	    NULL, { "6: line longer than 197 characters" } },
	{ "host empty", NULL, NULL, "tls_name =",
	    { "9: tls_name: \"\": empty value" } },
	{ "host underscore", NULL, NULL, "helo_name = my_host",
	    { "9: helo_name: \"my_host\": invalid character in host name" } },
	{ "host label", "hostname = a..b", NULL, NULL,
	    { "2: hostname: \"a..b\": empty label in host name" } },
	{ "host numeric", NULL, NULL, "tls_name = 127.000.000.001",
	    { "9: tls_name: \"127.000.000.001\": not a host name (its last "
	    "label is all digits) nor an IPv4 address" } },
	{ "host short v4", NULL, NULL, "helo_name = 127.1",
	    { "9: helo_name: \"127.1\": not a host name" } },
	{ "host bad v6", NULL, NULL, "tls_name = fe80::1::2",
	    { "9: tls_name: \"fe80::1::2\": not a host name or IPv6" } },
	{ "user", "user = mail user", NULL, NULL,
	    { "2: user: \"mail user\": only letters, digits" } },
	{ "unknown key later", NULL, "allow = 10.0.0.0/8\nlisten2 = x", NULL,
	    { "7: listen2: unknown key in [listener l]" } },
	{ "cidr host bits", NULL, "allow = ::1/128, 10.0.0.1/8", NULL,
	    { "6: allow: \"10.0.0.1/8\": host bits set" } },
	{ "cidr empty item", NULL, "allow = 127.0.0.1,,::1", NULL,
	    { "6: allow: empty item in list" } },
	{ "cidr trailing comma", NULL, "allow = 127.0.0.1,", NULL,
	    { "6: allow: empty item in list" } },
	{ "ca_file relative", NULL, NULL, "ca_file = certs/ca.pem",
	    { "9: ca_file: \"certs/ca.pem\": must be \"system\", \"none\" or an "
	    "absolute path" } },
	{ "ca_file missing", NULL, NULL, "ca_file = /nonexistent/ca.pem",
	    { "9: ca_file: \"/nonexistent/ca.pem\": No such file or "
	    "directory" } },
	/* issue 10, section 8: error messages that say the fix */
	{ "ca_file directory", NULL, NULL, "ca_file = /tmp",
	    { "9: ca_file: \"/tmp\": a directory; ca_file takes one PEM "
	    "bundle: use ca_path = /tmp for a directory of hashed "
	    "certificates" } },
	{ "ca_file device", NULL, NULL, "ca_file = /dev/null",
	    { "9: ca_file: \"/dev/null\": not a regular file" } },
	{ "tls_name with port", NULL, NULL, "tls_name = mx.example.com:25",
	    { "9: tls_name: \"mx.example.com:25\": a port does not go in "
	    "tls_name; write tls_name = mx.example.com" } },
	{ "password key", NULL, NULL, "password = hunter2",
	    { "9: password: unknown key in [upstream u]; put the password in "
	    "a file (mode 0600) and name it in password_file" } },
	{ "token key", NULL, NULL, "token = abc",
	    { "9: token: unknown key in [upstream u]; use token_file or "
	    "token_command" } },
	{ "accept unknown word", NULL, NULL, "accept = expired, anything",
	    { "9: accept: \"expired, anything\": \"anything\": not one of "
	    "self-signed, untrusted-root, expired, not-yet-valid, "
	    "name-mismatch" } },
	{ "accept twice", NULL, NULL, "accept = expired, EXPIRED",
	    { "9: accept: \"expired, EXPIRED\": \"EXPIRED\": listed twice" } },
	{ "accept empty item", NULL, NULL, "accept = expired,",
	    { "9: accept: \"expired,\": empty item in list" } },
	{ "pin hex", NULL, NULL, "pin_sha256 = 0123abcd",
	    { "9: pin_sha256: \"0123abcd\": \"0123abcd\": not the base64 of "
	    "a SHA-256 digest" } },
	{ "pin sha1 length", NULL, NULL,
	    "pin_sha256 = 2jmj7l5rSw0yVb/vlWAYkK/YBwk=",
	    { "9: pin_sha256: \"2jmj7l5rSw0yVb/vlWAYkK/YBwk=\": " } },
	{ "curves unknown", NULL, NULL, "curves = X25519, brainpool",
	    { "9: curves: \"X25519, brainpool\": \"brainpool\": not one of "
	    "X25519, P-256, P-384, P-521, X448" } },
	{ "curves alias twice", NULL, NULL, "curves = P-256, secp256r1",
	    { "9: curves: \"P-256, secp256r1\": \"secp256r1\": listed "
	    "twice" } },
	{ "ciphers 1.3 name", NULL, NULL,
	    "ciphers = TLS13-AES128-GCM-SHA256",
	    { "9: ciphers: \"TLS13-AES128-GCM-SHA256\": " } },
	{ "ciphersuites 1.2 name", NULL, NULL,
	    "ciphersuites = ECDHE-RSA-AES128-GCM-SHA256",
	    { "9: ciphersuites: \"ECDHE-RSA-AES128-GCM-SHA256\": " } },
	{ "ciphers weak", NULL, NULL,
	    "ciphers = ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-RC4-SHA",
	    { "9: ciphers: \"ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-RC4-SHA\": "
	    "\"ECDHE-RSA-RC4-SHA\": weak or unauthenticated" } },
	{ "ciphers keyword", NULL, NULL, "ciphers = HIGH:!aNULL",
	    { "9: ciphers: \"HIGH:!aNULL\": \"HIGH\": not a cipher name" } },
	{ "ciphers empty item", NULL, NULL,
	    "ciphers = ECDHE-RSA-AES128-GCM-SHA256::",
	    { "9: ciphers: \"ECDHE-RSA-AES128-GCM-SHA256::\": empty item" } },
	{ "tls_max_version 1.1", NULL, NULL, "tls_max_version = 1.1",
	    { "9: tls_max_version: \"1.1\": TLS versions before 1.2 are "
	    "not supported" } },
	{ "pool_max_idle range", NULL, NULL, "pool_max_idle = 1001",
	    { "9: pool_max_idle: \"1001\": must be between 0 and 1000" } },
	{ "pool_max_messages 0", NULL, NULL, "pool_max_messages = 0",
	    { "9: pool_max_messages: \"0\": must be between 1 and 100000" } },
	{ "pool_idle_timeout 0", NULL, NULL, "pool_idle_timeout = 0s",
	    { "9: pool_idle_timeout: \"0s\": must be between " } },
	{ "pool min above max", NULL, NULL,
	    "pool_max_idle = 2\npool_min_idle = 3",
	    { "7: [upstream u]: pool_min_idle: 3 is more than "
	    "pool_max_idle 2" } },
	/* unrelated timeouts: a short command_timeout must not refuse the default */
	{ "pool idle timeout above command_timeout", NULL, NULL,
	    "command_timeout = 10s", { NULL } },
	{ "pool pre-warm passthrough", NULL, NULL,
	    "auth = passthrough\npool_min_idle = 1",
	    { "7: [upstream u]: pool_min_idle: needs auth = none or "
	    "inject" } },
	{ "pool = no skips the pool checks", NULL, NULL,
	    "pool = no\npool_max_idle = 0\npool_min_idle = 1", { NULL } },
	{ "tls max below min", NULL, NULL,
	    "tls_min_version = 1.3\ntls_max_version = 1.2",
	    { "7: [upstream u]: tls_max_version: 1.2 is older than "
	    "tls_min_version 1.3" } },
	{ "client_cert relative", NULL, NULL, "client_cert = client.pem",
	    { "9: client_cert: \"client.pem\": must be an absolute path" } },
	{ "client_key missing file", NULL, NULL,
	    "client_key = /nonexistent/k.pem",
	    { "9: client_key: \"/nonexistent/k.pem\": No such file" } },
	{ "client_cert without key", NULL, NULL, "client_cert = /etc/passwd",
	    { "7: [upstream u]: client_key: required with client_cert" } },
	{ "password file without key", NULL, NULL,
	    "client_key_password_file = /etc/passwd",
	    { "7: [upstream u]: client_key_password_file: set without "
	    "client_key" } },
	{ "crl_path not a directory", NULL, NULL, "crl_path = /etc/passwd",
	    { "9: crl_path: \"/etc/passwd\": not a directory" } },
	{ "ca_path not a directory", NULL, NULL, "ca_path = /etc/passwd",
	    { "9: ca_path: \"/etc/passwd\": not a directory" } },
	{ "crl_file directory", NULL, NULL, "crl_file = /tmp",
	    { "9: crl_file: \"/tmp\": a directory; use crl_path = /tmp for "
	    "a directory" } },
	{ "crl_check", NULL, NULL, "crl_check = all",
	    { "9: crl_check: \"all\": must be one of chain, leaf, "
	    "chain-except-root" } },
	{ "crl_missing", NULL, NULL, "crl_missing = soft",
	    { "9: crl_missing: \"soft\": must be one of ignore, fail" } },
	{ "ocsp", NULL, NULL, "ocsp = strict",
	    { "9: ocsp: \"strict\": must be one of off, soft, hard" } },
	{ "ocsp_nonce yes", NULL, NULL, "ocsp_nonce = yes",
	    { "7: [upstream u]: ocsp_nonce: \"yes\" is not supported" } },
	{ "ocsp_url not http", NULL, NULL, "ocsp_url = https://x/",
	    { "7: [upstream u]: ocsp_url: \"https://x/\" is not an http://" } },
	{ "ocsp_stapling word", NULL, NULL, "ocsp_stapling = maybe",
	    { "9: ocsp_stapling: \"maybe\": must be one of off, request, require" } },
	{ "tls_resume word", NULL, NULL, "tls_resume = maybe",
	    { "9: tls_resume: \"maybe\": not a boolean (use yes or no)" } },
	{ "ocsp_stapling with ocsp", NULL, NULL,
	    "ocsp = soft\nocsp_stapling = require",
	    { "7: [upstream u]: ocsp_stapling: cannot be combined with ocsp = soft" } },
	{ "ocsp_timeout range", NULL, NULL, "ocsp_timeout = 10m",
	    { "9: ocsp_timeout" } },
	{ "ca_file none alone", NULL, NULL, "ca_file = none",
	    { "7: [upstream u]: ca_file: \"none\" needs ca_path" } },
	{ "verify_chain bool", NULL, NULL, "verify_chain = sometimes",
	    { "9: verify_chain: \"sometimes\": not a boolean" } },
	{ "unknown key", "listen = 127.0.0.1:25", NULL, NULL,
	    { "2: listen: unknown key in [gateway]" } },
	{ "key case", NULL, NULL, "Port = 25",
	    { "9: Port: unknown key in [upstream u]" } },
	{ "duplicate key", NULL, "upstream = u", NULL,
	    { "6: upstream: duplicate key (first set on line 5)" } },
	{ "duplicate key, bad value", NULL, NULL, "host = x..y",
	    { "9: host: duplicate key (first set on line 8)" } },
	{ "unknown section", "[mailer]\nfoo = bar", NULL, NULL,
	    { "2: [mailer]: unknown section" } },
	{ "listener without name", NULL, "[listener]\nlisten = 127.0.0.1:1",
	    NULL, { "6: [listener]: a name is required, as in "
	    "[listener NAME]" } },
	{ "gateway with name", NULL, NULL, "[gateway main]",
	    { "9: [gateway main]: [gateway] takes no name" } },
	{ "duplicate gateway", NULL, NULL, "[gateway]",
	    { "9: [gateway]: duplicate section (first on line 1)" } },
	{ "duplicate upstream", NULL, NULL, "[upstream u]\nhost = b.example",
	    { "9: [upstream u]: duplicate section (first on line 7)" } },
	{ "bad section name", NULL, "[listener a/b]", NULL,
	    { "6: [listener a/b]: the name must be 1 to 63 letters" } },
	{ "section name with blank", NULL, "[upstream my provider]", NULL,
	    { "6: [upstream my provider]: the name must be" } },
	{ "header without ]", "[gateway", NULL, NULL,
	    { "2: section header without ']'" } },
	{ "text after header", NULL, NULL, "[upstream v] x",
	    { "9: text after section header" } },
	{ "no equals sign", NULL, "received_header", NULL,
	    { "6: expected \"key = value\", \"[section]\" or a comment" } },
	{ "colon form", NULL, NULL, "port: 25",
	    { "9: expected \"key = value\"" } },
	{ "continuation line", NULL, NULL, "port = 25\n   26",
	    { "10: expected \"key = value\"" } },
	{ "missing required", NULL, "[listener m]\nallow = ::1", NULL,
	    { "6: [listener m]: listen: required key missing",
	      "6: [listener m]: upstream: required key missing" } },
	{ "missing host", NULL, NULL, "[upstream v]\nport = 25",
	    { "9: [upstream v]: host: required key missing",
	      "9: [upstream v]: not used by any listener" } },
	{ "unused upstream", NULL, NULL, "[upstream spare]\nhost = x.example",
	    { "9: [upstream spare]: not used by any listener" } },
	{ "missing upstream", NULL, "[listener m]\nlisten = [::1]:2526\n"
	    "upstream = nope", NULL,
	    { "6: [listener m]: upstream: no [upstream nope] section" } },
	{ "listen clash", NULL, "[listener m]\nlisten = 127.0.0.1:2525\n"
	    "upstream = u", NULL,
	    { "6: [listener m]: listen: 127.0.0.1:2525 clashes with "
	    "127.0.0.1:2525 of [listener l]" } },
	{ "proxy_protocol without proxy_from", NULL, "proxy_protocol = v2",
	    NULL, { "3: [listener l]: proxy_from: required when "
	    "proxy_protocol is not no" } },
	{ "proxy_protocol word", NULL, "proxy_protocol = v3", NULL,
	    { "6: proxy_protocol: \"v3\": must be one of no, v1, v2, any" } },
	{ "proxy_from not a network", NULL, "proxy_protocol = any\n"
	    "proxy_from = 10.0.0.1/8", NULL, { "7: proxy_from: \"10.0.0.1/8\"",
	    "3: [listener l]: proxy_from: required" } },
	{ "proxy_from empty item", NULL, "proxy_protocol = v1\n"
	    "proxy_from = 10.0.0.0/8,", NULL, { "7: proxy_from: ",
	    "3: [listener l]: proxy_from: required" } },
	{ "proxy_timeout range", NULL, "proxy_timeout = 10m", NULL,
	    { "6: proxy_timeout: \"10m\": must be between 1s and 5m" } },
	{ "proxy listener loads", NULL, "proxy_protocol = any\n"
	    "proxy_from = 10.0.0.0/8, ::1", NULL, { NULL } },
	{ "listen wildcard clash", NULL, "[listener m]\n"
	    "listen = 0.0.0.0:2525, [::]:2525\nupstream = u", NULL,
	    { "6: [listener m]: listen: 0.0.0.0:2525 clashes with "
	    "127.0.0.1:2525 of [listener l]" } },
};

static void
run_errcase(const struct errcase *ec)
{
	struct gw_conf	*c;
	const char	*path;
	char		 text[2048];
	int		 i, n, nwant;

	(void)snprintf(text, sizeof(text), BASE, ec->g ? ec->g : "",
	    ec->l ? ec->l : "", ec->u ? ec->u : "");
	n = load_text(text, &c, &path);
	for (nwant = 0; nwant < 4 && ec->want[nwant] != NULL; nwant++)
		continue;
	if (n != nwant) {
		print_message("case \"%s\": %d errors, want %d\n", ec->name,
		    n, nwant);
		print_errs();
		fail();
	}
	for (i = 0; i < nwant; i++)
		assert_err(i, path, ec->want[i]);
	if (n == 0)
		conf_unref(c);	/* a case that must load */
}

static void
test_errors(void **state)
{
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(errcases) / sizeof(errcases[0]); i++) {
		run_errcase(&errcases[i]);
		(void)teardown(NULL);
	}
}

/* cases whose text does not fit the base file */
static void
test_errors_special(void **state)
{
	struct gw_conf	*c;
	const char	*path;
	char		 text[4096];
	int		 i, len;

	(void)state;
	/* listen names are not resolved: binding would need DNS first */
	(void)load_text("[listener l]\nlisten = localhost:25\nupstream = u\n"
	    "[upstream u]\nhost = a.example\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "2: listen: \"localhost:25\": not a numeric IPv4 "
	    "or [IPv6] address");

	(void)load_text("[listener l]\nlisten = 127.0.0.1\nupstream = u\n"
	    "[upstream u]\nhost = a.example\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "2: listen: \"127.0.0.1\": missing ':' and port");

	(void)load_text("[listener l]\nlisten = ::1:25\nupstream = u\n"
	    "[upstream u]\nhost = a.example\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "2: listen: \"::1:25\": IPv6 address needs "
	    "brackets");

	(void)load_text("[listener l]\nlisten = 127.0.0.1:25, 127.0.0.1:25\n"
	    "upstream = u\n[upstream u]\nhost = a.example\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "2: listen: \"127.0.0.1:25\": listed twice");

	/* CONF_MAX_LISTEN + 1 addresses */
	len = snprintf(text, sizeof(text), "[listener l]\nlisten = ");
	for (i = 0; i <= CONF_MAX_LISTEN; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
		    "%s127.0.0.1:%d", i ? "," : "", 2000 + i);
	(void)snprintf(text + len, sizeof(text) - (size_t)len,
	    "\nupstream = u\n[upstream u]\nhost = a.example\n");
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "2: listen: more than 8 items");

	/* CONF_MAX_ALLOW + 1 networks */
	len = snprintf(text, sizeof(text), MINIMAL "[listener m]\n"
	    "listen = 127.0.0.1:2526\nupstream = u\nallow = ::1");
	for (i = 0; i < CONF_MAX_ALLOW; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len, ",::1");
	(void)snprintf(text + len, sizeof(text) - (size_t)len, "\n");
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "9: allow: more than 32 items");

	(void)load_text(MINIMAL "[gateway]\nmax_sessions = 100001\n", &c,
	    &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "7: max_sessions: \"100001\": must be between 1 "
	    "and 100000");

	/* a key before the first section belongs nowhere */
	(void)load_text("port = 25\n" MINIMAL, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "1: port: key outside of any section");

	/* no listener at all: the problem has no line */
	(void)load_text("[gateway]\nlog_level = info\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "0: [listener]: no [listener NAME] section");

	/* a key name is escaped like a value */
	(void)load_text(MINIMAL "po\x01rt = 25\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "6: po\\x01rt: unknown key in [upstream u]");

	/* an empty file says nothing to do either */
	(void)load_text("", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "0: [listener]: no [listener NAME] section");
}

static void
test_too_many_sections(void **state)
{
	struct gw_conf	*c;
	const char	*path;
	char		 text[8192];
	int		 i, len = 0;

	(void)state;
	for (i = 0; i <= CONF_MAX_LISTENERS; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
		    "[listener l%d]\nlisten = 127.0.0.1:%d\nupstream = u\n",
		    i, 3000 + i);
	len += snprintf(text + len, sizeof(text) - (size_t)len,
	    "[upstream u]\nhost = a.example\n");
	for (i = 1; i <= CONF_MAX_UPSTREAMS; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
		    "[upstream x%d]\nhost = a.example\n", i);
	(void)load_text(text, &c, &path);
	/* the 17th listener and upstream; upstreams x1..x15 unused */
	assert_int_equal(errs.n, 2 + CONF_MAX_UPSTREAMS - 1);
	assert_err(0, path, "49: [listener l16]: too many listeners "
	    "(at most 16)");
	assert_err(1, path, "84: [upstream x16]: too many upstreams "
	    "(at most 16)");
	assert_err(2, path, "54: [upstream x1]: not used by any listener");
}

/* every error of a file is reported, not only the first, in file order */
static void
test_multiple_errors(void **state)
{
	struct gw_conf	*c;
	const char	*path;

	(void)state;
	(void)load_text(
	    "[gateway]\n"			/* 1 */
	    "log_level = loud\n"		/* 2 */
	    "max_sessions = 0\n"		/* 3 */
	    "[listener l]\n"			/* 4 */
	    "listen = 127.0.0.1:2525\n"		/* 5 */
	    "upstream = missing\n"		/* 6 */
	    "max_recipients = many\n"		/* 7 */
	    "listen = 127.0.0.1:2526\n"		/* 8 */
	    "color = blue\n"			/* 9 */
	    "[upstream u]\n"			/* 10 */
	    "port = 0\n"			/* 11 */
	    "tls_min_version = 1.1\n"		/* 12 */
	    "[nonsense]\n"			/* 13 */
	    "whatever = 1\n"			/* 14 */
	    "garbage line\n",			/* 15 */
	    &c, &path);
	assert_int_equal(errs.n, 12);
	assert_err(0, path, "2: log_level: \"loud\": ");
	assert_err(1, path, "3: max_sessions: \"0\": must be between");
	assert_err(2, path, "7: max_recipients: \"many\": ");
	assert_err(3, path, "8: listen: duplicate key (first set on line 5)");
	assert_err(4, path, "9: color: unknown key in [listener l]");
	assert_err(5, path, "11: port: \"0\": must be between 1 and 65535");
	assert_err(6, path, "12: tls_min_version: \"1.1\": TLS versions "
	    "before 1.2");
	assert_err(7, path, "13: [nonsense]: unknown section");
	assert_err(8, path, "15: expected \"key = value\"");
	assert_err(9, path, "10: [upstream u]: host: required key missing");
	assert_err(10, path, "4: [listener l]: upstream: no [upstream "
	    "missing] section");
	assert_err(11, path, "10: [upstream u]: not used by any listener");
}

/* lexical details: CRLF, BOM, comments, blanks, a NUL byte */
static void
test_syntax(void **state)
{
	static const char nul[] = "[gateway]\nuser = a\0b\n" MINIMAL;
	struct gw_conf	*c;
	const char	*path;
	int		 n;

	(void)state;
	assert_no_errors(load_text(
	    "\xef\xbb\xbf; BOM and CRLF\r\n"
	    "[gateway]   ; comment after a header\r\n"
	    "# hash comment\r\n"
	    "   hostname   =   gw.example.lan   ; trailing comment\r\n"
	    "\t\r\n"
	    "[ listener   l ]\r\n"
	    "listen = [::1]:2525\r\n"
	    "upstream = u\r\n"
	    "banner = a;b ; c\r\n"
	    "[upstream u]\r\n"
	    "host=mail.example.com\r\n"
	    "tls = Implicit\r\n", &c, NULL));
	assert_string_equal(c->hostname, "gw.example.lan");
	assert_string_equal(c->listeners[0].name, "l");
	assert_string_equal(c->listeners[0].banner, "a;b");
	assert_int_equal(c->upstreams[0].line, 10);
	assert_int_equal(c->upstreams[0].tls, TLS_IMPLICIT);
	conf_unref(c);

	errs_clear();
	path = write_tmp(nul, sizeof(nul) - 1);
	n = conf_load(path, &c, collect, NULL);
	assert_int_equal(n, 1);
	assert_null(c);
	assert_err(0, path, "2: line contains a NUL byte");
}

static void
test_open_error(void **state)
{
	struct gw_conf	*c = (struct gw_conf *)&c;
	char		*big;
	const char	*path;
	size_t		 i, len = 1024 * 1024 + 10;

	(void)state;
	/* only a regular file is read (conf_files.c; test_conf_files.c) */
	errs_clear();
	assert_int_equal(conf_load("/tmp", &c, collect, NULL), 1);
	assert_null(c);
	assert_err(0, "/tmp", "0: not a regular file (a directory)");
	errs_clear();
	assert_int_equal(conf_load("/dev/zero", &c, collect, NULL), 1);
	assert_err(0, "/dev/zero", "0: not a regular file (a device)");

	/* "-c /dev/zero" or a log file by mistake must end, and soon */
	big = malloc(len);
	assert_non_null(big);
	for (i = 0; i + 10 <= len; i += 10)
		memcpy(big + i, "; comment\n", 10);
	errs_clear();
	path = write_tmp(big, len);
	free(big);
	assert_int_equal(conf_load(path, &c, collect, NULL), 2);
	assert_err(0, path, "104858: file larger than 1048576 bytes");


	errs_clear();
	assert_int_equal(conf_load("/nonexistent/smtpgate.ini", &c, collect,
	    NULL), 1);
	assert_null(c);
	assert_string_equal(errs.msg[0], "/nonexistent/smtpgate.ini:0: "
	    "cannot open: No such file or directory");
	/* no callback: errors are still counted */
	assert_int_equal(conf_load("/nonexistent/smtpgate.ini", &c, NULL,
	    NULL), 1);
}

/*
 * issue 10, section 8: "host = name:587" says where the port goes (the
 * base file of test_errors already sets host, hence a file of its own).
 */
static void
test_host_with_port(void **state)
{
	static const struct {
		const char	*host, *want;
	} cases[] = {
		{ "smtp.example.com:587", "5: host: \"smtp.example.com:587\": "
		    "a port does not go in host; write host = smtp.example.com "
		    "and port = 587" },
		{ "[2001:db8::1]:465", "5: host: \"[2001:db8::1]:465\": a port "
		    "does not go in host; write host = 2001:db8::1 and port = "
		    "465" },
		{ "smtp.example.com:x", "5: host: \"smtp.example.com:x\": not "
		    "a host name or IPv6 address" },
	};
	struct gw_conf	*c;
	const char	*path;
	char		 text[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		(void)snprintf(text, sizeof(text), "[listener l]\n"
		    "listen = 127.0.0.1:2525\nupstream = u\n[upstream u]\n"
		    "host = %s\n", cases[i].host);
		assert_int_equal(load_text(text, &c, &path), 1);
		assert_err(0, path, cases[i].want);
	}
}

/* what log_warnx() wrote to stderr while fn(text) ran */
static char *
stderr_of_load(const char *text)
{
	struct gw_conf	*c;
	char		 path[] = "/tmp/test_conf.err.XXXXXX", *buf;
	int		 fd, saved;
	ssize_t		 n;

	fd = mkstemp(path);
	assert_true(fd != -1);
	(void)unlink(path);
	(void)fflush(stderr);
	saved = dup(2);
	assert_true(saved != -1 && dup2(fd, 2) == 2);
	log_init(0, GW_LOG_WARNING, LOGF_ALL);
	n = load_text(text, &c, NULL);
	conf_unref(c);
	(void)fflush(stderr);
	assert_true(dup2(saved, 2) == 2);
	(void)close(saved);
	assert_no_errors((int)n);
	buf = calloc(1, 8192);
	assert_non_null(buf);
	n = pread(fd, buf, 8191, 0);
	assert_true(n >= 0);
	(void)close(fd);
	return buf;
}

/*
 * issue 10, section 8: an allow list that admits every address is an open
 * relay: a warning with FILE:LINE, unless clients must log in.
 */
static void
test_open_relay_warning(void **state)
{
	char	*out;

	(void)state;
	out = stderr_of_load("[listener l]\nlisten = 127.0.0.1:2525\n"
	    "upstream = u\nallow = 10.0.0.0/8, 0.0.0.0/0, ::/0\n[upstream u]\n"
	    "host = mail.example.com\n");
	if (strstr(out, ":1: [listener l]: allow: 0.0.0.0/0 admits every "
	    "IPv4 address: anyone who can connect can send mail through the "
	    "upstream (an open relay)") == NULL ||
	    strstr(out, "warning: ") == NULL ||
	    strstr(out, "allow: ::/0 admits every IPv6 address") == NULL)
		fail_msg("no open relay warning in: %s", out);
	free(out);
	/* a PROXY listener trusting every address lets anyone pick its address */
	out = stderr_of_load("[listener l]\nlisten = 127.0.0.1:2525\n"
	    "upstream = u\nproxy_protocol = v1\nproxy_from = 10.0.0.0/8, ::/0\n"
	    "[upstream u]\nhost = mail.example.com\n");
	if (strstr(out, ":1: [listener l]: proxy_from: ::/0 lets anyone") ==
	    NULL || strstr(out, "10.0.0.0") != NULL)
		fail_msg("no proxy_from warning in: %s", out);
	free(out);
	/* the default, a narrower list, and a listener that needs AUTH */
	out = stderr_of_load(MINIMAL "[listener m]\nlisten = 0.0.0.0:2526\n"
	    "upstream = u\nallow = 10.0.0.0/8, 2001:db8::/32\n");
	if (strstr(out, "open relay") != NULL)
		fail_msg("unexpected warning: %s", out);
	free(out);
	out = stderr_of_load("[listener l]\nlisten = 127.0.0.1:2525\n"
	    "upstream = u\nallow = 0.0.0.0/0\nauth_allow_cleartext = yes\n"
	    "[upstream u]\nhost = mail.example.com\nauth = passthrough\n");
	if (strstr(out, "open relay") != NULL)
		fail_msg("warning although clients must log in: %s", out);
	free(out);
}

static void
test_refcount(void **state)
{
	struct gw_conf	*c;

	(void)state;
	assert_no_errors(load_text(MINIMAL, &c, NULL));
	assert_ptr_equal(conf_ref(c), c);
	assert_int_equal(c->refcnt, 2);
	conf_unref(c);
	assert_int_equal(c->refcnt, 1);
	conf_unref(c);		/* freed: ASan would see a leak otherwise */
	conf_unref(NULL);

	assert_string_equal(tls_mode_name(TLS_NONE), "none");
	assert_string_equal(tls_mode_name(TLS_STARTTLS_OPTIONAL),
	    "starttls-optional");
	assert_string_equal(tls_mode_name(TLS_STARTTLS), "starttls");
	assert_string_equal(tls_mode_name(TLS_IMPLICIT), "implicit");
}

/* where the source tree is: ctest sets SRCDIR, else this file's place */
static void
srcpath(char *buf, size_t len, const char *rel)
{
	const char	*dir = getenv("SRCDIR");
	char		*p;

	if (dir != NULL)
		(void)snprintf(buf, len, "%s/%s", dir, rel);
	else {
		(void)snprintf(buf, len, "%s", __FILE__);
		if ((p = strstr(buf, "/tests/unit/")) != NULL)
			*p = '\0';
		else
			(void)snprintf(buf, len, ".");
		(void)snprintf(buf + strlen(buf), len - strlen(buf), "/%s",
		    rel);
	}
}

/* the shipped example must load anywhere */
static void
test_example(void **state)
{
	struct gw_conf	*c;
	char		 path[PATH_MAX];

	(void)state;
	srcpath(path, sizeof(path), "etc/smtpgate.ini");
	errs_clear();
	assert_no_errors(conf_load(path, &c, collect, NULL));
	assert_int_equal(c->nlisteners, 1);
	assert_int_equal(c->listeners[0].nlisten, 2);
	assert_string_equal(c->listeners[0].listen[0].host, "127.0.0.1");
	assert_int_equal(c->listeners[0].listen[0].port, 2525);
	assert_string_equal(c->listeners[0].listen[1].host, "::1");
	assert_int_equal(c->listeners[0].listen[1].port, 2525);
	assert_int_equal(c->nupstreams, 1);
	assert_string_equal(c->upstreams[0].name, "provider");
	assert_string_equal(c->upstreams[0].host, "smtp.example.com");
	assert_int_equal(c->upstreams[0].port, 587);
	assert_int_equal(c->upstreams[0].tls, TLS_STARTTLS);
	assert_ptr_equal(c->listeners[0].upstream, &c->upstreams[0]);
	conf_unref(c);
}

/*
 * docs/configuration.md against the table: every key the tests know is
 * documented in its section, and a file that sets each key to the default
 * the document prints loads to the same values as a file that sets none.
 */
static const char *const all_keys[4][64] = {
	{ "hostname", "user", "log_level", "log_facilities", "log_target",
	  "log_format", "max_sessions", "auth_fail_limit", "auth_fail_window",
	  "auth_fail_delay_max", "http_listen", "ready_window",
	  "upstream_down_time", "upstream_down_time_max", "failover_timeout",
	  "queue_dir", "queue_max_messages", "queue_max_size",
	  "queue_lifetime", "queue_retry", "queue_retry_max",
	  "queue_parallel", NULL },
	{ "listen", "allow", "upstream", "delivery", "max_message_size",
	  "max_recipients",
	  "banner", "command_timeout", "data_timeout",
	  "max_sessions_per_client", "bare_newline", "long_lines",
	  "eight_bit",
	  "max_session_time", "max_junk_commands", "min_data_rate",
	  "received_header",
	  "dkim", "dkim_required", "tls", "tls_cert", "tls_key",
	  "tls_required", "requiretls",
	  "tls_handshake_timeout", "tls_min_version",
	  "tls_max_version", "ciphers", "ciphersuites", "curves",
	  "verify_client", "client_ca_file", "client_cert_pins", "crl_file",
	  "crl_path", "crl_check", "crl_missing", "auth_allow_cleartext",
	  "rate_connections", "rate_messages", "rate_recipients",
	  "rate_user_messages", "proxy_protocol", "proxy_from",
	  "proxy_timeout", NULL },
	{ "host", "port", "tls", "ca_file", "verify_hostname", "tls_name",
	  "tls_min_version", "helo_name", "connect_timeout",
	  "command_timeout", "slow_reply_warning", "tls_max_version",
	  "pool", "pool_max_idle", "pool_idle_timeout", "pool_max_messages",
	  "pool_min_idle",
	  "ca_path", "verify_chain",
	  "accept", "pin_sha256", "ciphers", "ciphersuites", "curves",
	  "client_cert", "client_key", "client_key_password_file",
	  "crl_file", "crl_path", "crl_check", "crl_missing", "ocsp",
	  "ocsp_url", "ocsp_nonce", "ocsp_check", "ocsp_timeout",
	  "ocsp_stapling", "tls_resume", "auth",
	  "username", "password_file", "token_file", "token_command",
	  "token_timeout", "users_file", "auth_mechanisms", "auth_fallback",
	  "auth_allow_cleartext", "pop_before_smtp", "pop_tls",
	  "pop_timeout", "pop_interval", "proxy", "proxy_password_file",
	  NULL },
	{ "domain", "selector", "key_file", "canonicalization", "headers",
	  "oversign", "sign_date", "sign_message_id", "expire", "identity",
	  "subdomains", NULL },
};

static void
compare_conf(const struct gw_conf *a, const struct gw_conf *b)
{
	const struct conf_listener *la = &a->listeners[0];
	const struct conf_listener *lb = &b->listeners[0];
	const struct conf_upstream *ua = &a->upstreams[0];
	const struct conf_upstream *ub = &b->upstreams[0];
	size_t	 i;

	assert_string_equal(a->hostname, b->hostname);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->log_level, b->log_level);
	assert_int_equal(a->log_facilities, b->log_facilities);
	assert_int_equal(a->log_syslog, b->log_syslog);
	assert_int_equal(a->max_sessions, b->max_sessions);
	assert_int_equal(a->upstream_down_time, b->upstream_down_time);
	assert_int_equal(a->upstream_down_time_max, b->upstream_down_time_max);
	assert_int_equal(a->failover_timeout, b->failover_timeout);
	assert_string_equal(a->queue_dir, b->queue_dir);
	assert_int_equal(a->queue_max_messages, b->queue_max_messages);
	assert_int_equal(a->queue_max_size, b->queue_max_size);
	assert_int_equal(a->queue_lifetime, b->queue_lifetime);
	assert_int_equal(a->queue_retry, b->queue_retry);
	assert_int_equal(a->queue_retry_max, b->queue_retry_max);
	assert_int_equal(a->queue_parallel, b->queue_parallel);
	assert_int_equal(la->delivery, lb->delivery);
	assert_int_equal(la->nallow, lb->nallow);
	for (i = 0; i < la->nallow; i++) {
		assert_int_equal(la->allow[i].family, lb->allow[i].family);
		assert_int_equal(la->allow[i].prefix, lb->allow[i].prefix);
		assert_memory_equal(la->allow[i].addr, lb->allow[i].addr, 16);
	}
	assert_int_equal(la->max_message_size, lb->max_message_size);
	assert_int_equal(la->max_recipients, lb->max_recipients);
	assert_string_equal(la->banner, lb->banner);
	assert_int_equal(la->command_timeout, lb->command_timeout);
	assert_int_equal(la->data_timeout, lb->data_timeout);
	assert_int_equal(la->max_sessions_per_client,
	    lb->max_sessions_per_client);
	assert_int_equal(la->bare_newline, lb->bare_newline);
	assert_int_equal(la->received_header, lb->received_header);
	assert_int_equal(la->ndkim, lb->ndkim);
	assert_int_equal(la->dkim_required, lb->dkim_required);
	assert_memory_equal(&la->rate_connections, &lb->rate_connections,
	    sizeof(la->rate_connections));
	assert_memory_equal(&la->rate_messages, &lb->rate_messages,
	    sizeof(la->rate_messages));
	assert_memory_equal(&la->rate_recipients, &lb->rate_recipients,
	    sizeof(la->rate_recipients));
	assert_memory_equal(&la->rate_user_messages, &lb->rate_user_messages,
	    sizeof(la->rate_user_messages));
	assert_int_equal(a->ndkims, b->ndkims);
	for (i = 0; i < a->ndkims; i++) {
		const struct conf_dkim *da = &a->dkims[i], *db = &b->dkims[i];
		size_t j;

		assert_memory_equal(da->canon, db->canon, sizeof(da->canon));
		assert_int_equal(da->nheaders, db->nheaders);
		for (j = 0; j < da->nheaders; j++)
			assert_string_equal(da->headers[j], db->headers[j]);
		assert_int_equal(da->noversign, db->noversign);
		for (j = 0; j < da->noversign; j++)
			assert_string_equal(da->oversign[j], db->oversign[j]);
		assert_int_equal(da->sign_date, db->sign_date);
		assert_int_equal(da->sign_message_id, db->sign_message_id);
		assert_int_equal(da->expire, db->expire);
		assert_string_equal(da->identity, db->identity);
		assert_int_equal(da->subdomains, db->subdomains);
	}
	assert_int_equal(ua->port, ub->port);
	assert_int_equal(ua->tls, ub->tls);
	assert_int_equal(ua->tlsset.ocsp, ub->tlsset.ocsp);
	assert_string_equal(ua->tlsset.ocsp_url, ub->tlsset.ocsp_url);
	assert_int_equal(ua->tlsset.ocsp_nonce, ub->tlsset.ocsp_nonce);
	assert_int_equal(ua->tlsset.ocsp_chain, ub->tlsset.ocsp_chain);
	assert_int_equal(ua->tlsset.ocsp_timeout, ub->tlsset.ocsp_timeout);
	assert_int_equal(ua->tlsset.ocsp_stapling, ub->tlsset.ocsp_stapling);
	assert_string_equal(ua->tlsset.ca_file, ub->tlsset.ca_file);
	assert_int_equal(ua->tlsset.verify_hostname, ub->tlsset.verify_hostname);
	assert_string_equal(ua->tlsset.tls_name, ub->tlsset.tls_name);
	assert_int_equal(ua->tlsset.tls_min_version, ub->tlsset.tls_min_version);
	assert_int_equal(ua->tlsset.tls_resume, ub->tlsset.tls_resume);
	assert_string_equal(ua->helo_name, ub->helo_name);
	assert_int_equal(ua->connect_timeout, ub->connect_timeout);
	assert_int_equal(ua->command_timeout, ub->command_timeout);
	assert_int_equal(ua->slow_reply_warning, ub->slow_reply_warning);
	assert_int_equal(ua->tlsset.tls_max_version, ub->tlsset.tls_max_version);
	assert_string_equal(ua->tlsset.ca_path, ub->tlsset.ca_path);
	assert_int_equal(ua->tlsset.no_verify_chain, ub->tlsset.no_verify_chain);
	assert_int_equal(ua->tlsset.accept, ub->tlsset.accept);
	assert_int_equal(ua->tlsset.npins, ub->tlsset.npins);
	assert_string_equal(ua->tlsset.ciphers, ub->tlsset.ciphers);
	assert_string_equal(ua->tlsset.ciphersuites, ub->tlsset.ciphersuites);
	assert_int_equal(ua->tlsset.ncurves, ub->tlsset.ncurves);
	assert_string_equal(ua->tlsset.client_cert, ub->tlsset.client_cert);
	assert_string_equal(ua->tlsset.crl_file, ub->tlsset.crl_file);
	assert_int_equal(ua->tlsset.crl_check, ub->tlsset.crl_check);
	assert_int_equal(ua->tlsset.crl_missing_fail, ub->tlsset.crl_missing_fail);
	assert_int_equal(ua->auth, ub->auth);
	assert_string_equal(ua->username, ub->username);
	assert_string_equal(ua->password_file, ub->password_file);
	assert_string_equal(ua->token_command, ub->token_command);
	assert_int_equal(ua->token_timeout, ub->token_timeout);
	assert_int_equal(ua->nauth_mechs, ub->nauth_mechs);
	assert_int_equal(ua->auth_fallback, ub->auth_fallback);
	assert_int_equal(ua->auth_allow_cleartext, ub->auth_allow_cleartext);
	assert_string_equal(ua->pop_server.host, ub->pop_server.host);
	assert_int_equal(ua->pop_tls, ub->pop_tls);
	assert_int_equal(ua->pop_timeout, ub->pop_timeout);
	assert_int_equal(ua->pop_interval, ub->pop_interval);
}

static void
test_docs_defaults(void **state)
{
	static const char *const heads[4] = {
		"[gateway]", "[listener NAME]", "[upstream NAME]",
		"[dkim NAME]"
	};
	struct gw_conf	*doc, *min;
	FILE		*fp;
	char		 path[PATH_MAX], line[1024], *cell[6], *p, *e;
	char		 body[4][2048], text[16384], self[PATH_MAX];
	int		 documented[4][64], sec = -1, i, k, ncell, nlit = 0;
	int		 fence = 0;

	(void)state;
	memset(documented, 0, sizeof(documented));
	memset(body, 0, sizeof(body));
	srcpath(path, sizeof(path), "docs/configuration.md");
	fp = fopen(path, "r");
	assert_non_null(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		/* "# comment" in an INI example is not a heading */
		if (strncmp(line, "```", 3) == 0)
			fence = !fence;
		if (fence)
			continue;
		if (line[0] == '#') {
			sec = -1;
			for (i = 0; i < 4; i++)
				if (strstr(line, heads[i]) != NULL)
					sec = i;
			continue;
		}
		if (sec < 0 || strncmp(line, "| `", 3) != 0)
			continue;
		/* | `key` | type | default | meaning | */
		for (ncell = 0, p = line + 1; ncell < 6 &&
		    (e = strchr(p, '|')) != NULL; p = e + 1) {
			*e = '\0';
			cell[ncell++] = p;
		}
		assert_true(ncell >= 3);
		for (i = 0; i < 3; i++) {
			while (*cell[i] == ' ')
				cell[i]++;
			e = cell[i] + strlen(cell[i]);
			while (e > cell[i] && e[-1] == ' ')
				*--e = '\0';
		}
		assert_true(cell[0][0] == '`' && strlen(cell[0]) > 2);
		cell[0][strlen(cell[0]) - 1] = '\0';
		for (k = 0; all_keys[sec][k] != NULL; k++)
			if (strcmp(all_keys[sec][k], cell[0] + 1) == 0)
				documented[sec][k] = 1;
		/* only a default printed as one literal is a value to test */
		if (cell[2][0] != '`' || strlen(cell[2]) < 2 ||
		    strchr(cell[2] + 1, '`') != cell[2] + strlen(cell[2]) - 1)
			continue;
		cell[2][strlen(cell[2]) - 1] = '\0';
		(void)snprintf(body[sec] + strlen(body[sec]),
		    sizeof(body[sec]) - strlen(body[sec]), "%s = %s\n",
		    cell[0] + 1, cell[2] + 1);
		nlit++;
	}
	(void)fclose(fp);
	for (i = 0; i < 4; i++)
		for (k = 0; all_keys[i][k] != NULL; k++)
			if (!documented[i][k])
				fail_msg("%s %s is not documented", heads[i],
				    all_keys[i][k]);
	/* every key but the required, derived and empty ones (a floor: the
	 * parse of the table must not silently lose rows) */
	assert_true(nlit >= 88);

	/* conf only names the key file: any readable file will do here */
	(void)snprintf(self, sizeof(self), "%s", path);
	(void)snprintf(text, sizeof(text), "[gateway]\n%s"
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n%s"
	    "[upstream u]\nhost = mail.example.com\n%s"
	    "[dkim d]\ndomain = example.com\nselector = s\nkey_file = %s\n%s",
	    body[0], body[1], body[2], self, body[3]);
	assert_no_errors(load_text(text, &doc, NULL));
	(void)snprintf(text, sizeof(text), "%s"
	    "[dkim d]\ndomain = example.com\nselector = s\nkey_file = %s\n",
	    MINIMAL, self);
	assert_no_errors(load_text(text, &min, NULL));
	compare_conf(doc, min);
	conf_unref(doc);
	conf_unref(min);
}


/* pop_before_smtp keys: values, the address syntax and the cross-check */
static void
test_pop_keys(void **state)
{
	struct gw_conf	*c;
	const char	*path, *pw;
	char		 text[8192], pwpath[256];

	(void)state;
	pw = write_tmp("secret\n", 7);
	(void)snprintf(pwpath, sizeof(pwpath), "%s", pw);
	assert_int_equal(chmod(pwpath, 0600), 0);
	(void)snprintf(text, sizeof(text), MINIMAL "username = joe\n"
	    "password_file = %s\npop_before_smtp = pop.example.com:995\n"
	    "pop_tls = stls\npop_timeout = 7s\npop_interval = 5m\n", pwpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_string_equal(c->upstreams[0].pop_server.host, "pop.example.com");
	assert_int_equal(c->upstreams[0].pop_server.port, 995);
	assert_int_equal(c->upstreams[0].pop_tls, POP_TLS_STLS);
	assert_int_equal(c->upstreams[0].pop_timeout, 7);
	assert_int_equal(c->upstreams[0].pop_interval, 300);
	conf_unref(c);

	/* off by default */
	assert_no_errors(load_text(MINIMAL, &c, &path));
	assert_string_equal(c->upstreams[0].pop_server.host, "");
	assert_int_equal(c->upstreams[0].pop_tls, POP_TLS_IMPLICIT);
	conf_unref(c);

	/* an IPv6 literal in brackets */
	(void)snprintf(text, sizeof(text), MINIMAL "username = joe\n"
	    "password_file = %s\npop_before_smtp = [::1]:110\n"
	    "pop_tls = none\n", pwpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_string_equal(c->upstreams[0].pop_server.host, "::1");
	assert_int_equal(c->upstreams[0].pop_tls, POP_TLS_NONE);
	conf_unref(c);

	/* no port, a bad host, a bad mode */
	(void)load_text(MINIMAL "pop_before_smtp = pop.example.com\n", &c, &path);
	assert_true(errs.n >= 1);
	assert_non_null(strstr(errs.msg[0], "pop_before_smtp:"));
	(void)load_text(MINIMAL "pop_before_smtp = pop_x.example:995\n", &c,
	    &path);
	assert_true(errs.n >= 1);
	assert_non_null(strstr(errs.msg[0], "pop_before_smtp:"));
	(void)load_text(MINIMAL "pop_tls = starttls\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "pop_tls:"));

	/* the login needs username and password_file */
	(void)load_text(MINIMAL "pop_before_smtp = 127.0.0.1:995\n", &c, &path);
	assert_int_equal(errs.n, 2);
	assert_non_null(strstr(errs.msg[0], "username: required with "
	    "pop_before_smtp"));
	assert_non_null(strstr(errs.msg[1], "password_file: required with "
	    "pop_before_smtp"));
}

/* proxy keys: the URL forms and the login's cross-check */
static void
test_proxy_keys(void **state)
{
	struct gw_conf	*c;
	const char	*path, *pw;
	char		 text[8192], pwpath[256];

	(void)state;
	pw = write_tmp("secret\n", 7);
	(void)snprintf(pwpath, sizeof(pwpath), "%s", pw);
	assert_int_equal(chmod(pwpath, 0600), 0);
	(void)snprintf(text, sizeof(text), MINIMAL "proxy = socks5://gw@"
	    "[::1]:1080\nproxy_password_file = %s\n", pwpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_int_equal(c->upstreams[0].proxy.kind, PROXY_SOCKS5);
	assert_string_equal(c->upstreams[0].proxy.user, "gw");
	assert_string_equal(c->upstreams[0].proxy.host, "::1");
	assert_int_equal(c->upstreams[0].proxy.port, 1080);
	conf_unref(c);
	assert_no_errors(load_text(MINIMAL "proxy = http://proxy.example:3128"
	    "\n", &c, &path));
	assert_int_equal(c->upstreams[0].proxy.kind, PROXY_HTTP);
	conf_unref(c);

	(void)load_text(MINIMAL "proxy = socks4://h:1080\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "proxy:"));
	(void)load_text(MINIMAL "proxy = http://bad_host:1\n", &c, &path);
	assert_int_equal(errs.n, 1);
	(void)load_text(MINIMAL "proxy = http://u@h.example:1\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "proxy_password_file: required"));
	(void)snprintf(text, sizeof(text), MINIMAL "proxy_password_file = "
	    "%s\n", pwpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "set without proxy"));
	/* a password put in the URL by mistake is not echoed back */
	(void)load_text(MINIMAL "proxy = socks5://gw:Pw-in-url@h.example:1\n",
	    &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "proxy_password_file"));
	assert_null(strstr(errs.msg[0], "Pw-in-url"));
}

/*
 * GSSAPI: a keytab is inject's third kind of secret; its principal is
 * required, username optional (the authorization identity), GSSAPI the
 * only mechanism it serves; the keys are nothing without a keytab.
 */
static void
test_gssapi_keys(void **state)
{
	struct gw_conf	*c;
	const char	*path, *kt;
	char		 text[8192], ktpath[256];

	(void)state;
	kt = write_tmp("\x05\x02keytab", 8);
	(void)snprintf(ktpath, sizeof(ktpath), "%s", kt);
	assert_int_equal(chmod(ktpath, 0600), 0);
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "gssapi_keytab = %s\ngssapi_principal = gw@EXAMPLE.COM\n"
	    "gssapi_service = SMTP@exch.example.com\n", ktpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_string_equal(c->upstreams[0].gssapi_keytab, ktpath);
	assert_string_equal(c->upstreams[0].gssapi_principal, "gw@EXAMPLE.COM");
	assert_string_equal(c->upstreams[0].gssapi_service,
	    "SMTP@exch.example.com");
	conf_unref(c);

	/* no principal; a list without GSSAPI; a bad service name */
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "gssapi_keytab = %s\nauth_mechanisms = PLAIN\n"
	    "gssapi_service = smtp\n", ktpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 3);
	assert_non_null(strstr(errs.msg[0], "gssapi_principal: required"));
	assert_non_null(strstr(errs.msg[1], "is not service@host"));
	assert_non_null(strstr(errs.msg[2], "a keytab needs GSSAPI"));

	/* a keytab and a password; GSSAPI without a keytab */
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "username = u\ngssapi_keytab = %s\ngssapi_principal = p\n"
	    "password_file = %s\n", ktpath, ktpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "(2 set)"));
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "username = u\npassword_file = %s\nauth_mechanisms = GSSAPI\n",
	    ktpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "GSSAPI needs gssapi_keytab"));

	/* outside inject, and the principal alone */
	(void)snprintf(text, sizeof(text), MINIMAL "auth = map\n"
	    "users_file = %s\ngssapi_keytab = %s\n", ktpath, ktpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "only used with auth = inject"));
	(void)load_text(MINIMAL "gssapi_principal = p\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "only used with gssapi_keytab"));

	/* the keytab's mode, like password_file's */
	assert_int_equal(chmod(ktpath, 0644), 0);
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "gssapi_keytab = %s\ngssapi_principal = p\n", ktpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "chmod 600"));
}

/* auth keys: values, the secret-file mode rule and the inject checks */
static void
test_auth_keys(void **state)
{
	struct gw_conf	*c;
	const char	*path, *pw;
	char		 text[8192], want[8192], pwpath[256];

	(void)state;
	pw = write_tmp("secret\n", 7);
	(void)snprintf(pwpath, sizeof(pwpath), "%s", pw);
	assert_int_equal(chmod(pwpath, 0600), 0);
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "username = joe@example.com\npassword_file = %s\n"
	    "auth_mechanisms = CRAM-MD5, plain\nauth_fallback = no\n"
	    "auth_allow_cleartext = yes\ntoken_timeout = 3s\n", pwpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_int_equal(c->upstreams[0].auth, AUTH_INJECT);
	assert_string_equal(c->upstreams[0].username, "joe@example.com");
	assert_string_equal(c->upstreams[0].password_file, pwpath);
	assert_int_equal(c->upstreams[0].nauth_mechs, 2);
	assert_int_equal(c->upstreams[0].auth_mechs[0], AUTH_MECH_CRAM_MD5);
	assert_int_equal(c->upstreams[0].auth_mechs[1], AUTH_MECH_PLAIN);
	assert_int_equal(c->upstreams[0].auth_fallback, 0);
	assert_int_equal(c->upstreams[0].auth_allow_cleartext, 1);
	assert_int_equal(c->upstreams[0].token_timeout, 3);
	conf_unref(c);

	/* group-readable: refused with the fix in the message */
	assert_int_equal(chmod(pwpath, 0640), 0);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	(void)snprintf(want, sizeof(want), "8: password_file: %s is readable "
	    "by group or others; chmod 600 %s", pwpath, pwpath);
	assert_err(0, path, want);
	assert_int_equal(chmod(pwpath, 0600), 0);

	/* inject without a secret, and with two */
	(void)load_text(MINIMAL "auth = inject\nusername = u\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "auth: inject needs exactly one"));
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "password_file = %s\ntoken_command = echo t\n", pwpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 2);
	assert_non_null(strstr(errs.msg[0], "username: required"));
	assert_non_null(strstr(errs.msg[1], "(2 set)"));

	/* a token mechanism without a token, and a token without one */
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "username = u\npassword_file = %s\n"
	    "auth_mechanisms = XOAUTH2, PLAIN\n", pwpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "XOAUTH2 needs token_file"));
	(void)load_text(MINIMAL "auth = inject\nusername = u\n"
	    "token_command = echo t\nauth_mechanisms = PLAIN\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "needs XOAUTH2 or OAUTHBEARER"));

	/* unknown mechanism, unknown mode */
	(void)load_text(MINIMAL "auth_mechanisms = PLAIN, X-NTLM\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0],
	    "auth_mechanisms: \"PLAIN, X-NTLM\""));
	(void)load_text(MINIMAL "auth = kerberos\n", &c, &path);
	assert_int_equal(errs.n, 1);

	/* passthrough and map (auth-server's): map needs its users_file */
	assert_no_errors(load_text(MINIMAL "auth = passthrough\n", &c, &path));
	assert_int_equal(c->upstreams[0].auth, AUTH_PASSTHROUGH);
	conf_unref(c);
	(void)snprintf(text, sizeof(text), MINIMAL "auth = map\n"
	    "users_file = %s\n", pwpath);
	assert_no_errors(load_text(text, &c, &path));
	assert_int_equal(c->upstreams[0].auth, AUTH_MAP);
	assert_string_equal(c->upstreams[0].users_file, pwpath);
	conf_unref(c);
	(void)load_text(MINIMAL "auth = map\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "users_file: required with "
	    "auth = map"));
	(void)snprintf(text, sizeof(text), MINIMAL "auth = passthrough\n"
	    "users_file = %s\n", pwpath);
	(void)load_text(text, &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "users_file: only used with "
	    "auth = map"));
	/* the listener modes carry a password: a token-only list is dead */
	(void)load_text(MINIMAL "auth = passthrough\n"
	    "auth_mechanisms = XOAUTH2, OAUTHBEARER\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.msg[0], "auth = passthrough logs in with "
	    "a password"));
	assert_no_errors(load_text(MINIMAL "auth = passthrough\n"
	    "auth_mechanisms = XOAUTH2, LOGIN\n", &c, &path));
	conf_unref(c);
}

/* [dkim NAME] sections and the listener keys that name them */
static void
test_dkim(void **state)
{
	struct gw_conf		*c;
	const struct conf_dkim	*d;
	const char		*path;
	char			 text[4096 + 2 * PATH_MAX], key[PATH_MAX];

	(void)state;
	srcpath(key, sizeof(key), "docs/configuration.md");
	(void)snprintf(text, sizeof(text),
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n"
	    "dkim = b, a\ndkim_required = yes\n"
	    "[upstream u]\nhost = mail.example.com\n"
	    "[dkim a]\ndomain = Example.COM\nselector = Sel1\nkey_file = %s\n"
	    "canonicalization = simple/relaxed\nheaders = from, Subject\n"
	    "oversign = FROM, subject\nsign_date = no\nsign_message_id = no\n"
	    "expire = 168h\nidentity = bounce@mail.example.com\n"
	    "subdomains = yes\n"
	    "[dkim b]\ndomain = example.com\nselector = s2\nkey_file = %s\n"
	    "canonicalization = relaxed\n", key, key);
	assert_no_errors(load_text(text, &c, &path));
	assert_int_equal(c->ndkims, 2);
	d = &c->dkims[0];
	assert_string_equal(d->name, "a");
	assert_string_equal(d->domain, "example.com");
	assert_string_equal(d->selector, "sel1");
	assert_int_equal(d->canon[0], CONF_CANON_SIMPLE);
	assert_int_equal(d->canon[1], CONF_CANON_RELAXED);
	assert_int_equal(d->nheaders, 2);
	assert_string_equal(d->headers[0], "from");
	assert_int_equal(d->noversign, 2);
	assert_int_equal(d->sign_date, 0);
	assert_int_equal(d->sign_message_id, 0);
	assert_int_equal(d->expire, 7 * 86400);
	assert_string_equal(d->identity, "bounce@mail.example.com");
	assert_int_equal(d->subdomains, 1);
	/* one word: header canonicalisation, body simple (RFC 6376 3.5) */
	assert_int_equal(c->dkims[1].canon[0], CONF_CANON_RELAXED);
	assert_int_equal(c->dkims[1].canon[1], CONF_CANON_SIMPLE);
	/* defaults */
	assert_int_equal(c->dkims[1].nheaders, 12);
	assert_string_equal(c->dkims[1].headers[11],
	    "Content-Transfer-Encoding");
	assert_int_equal(c->dkims[1].noversign, 1);
	assert_string_equal(c->dkims[1].oversign[0], "From");
	assert_int_equal(c->dkims[1].sign_date, 1);
	assert_int_equal(c->dkims[1].expire, 0);
	assert_string_equal(c->dkims[1].identity, "");
	assert_int_equal(c->listeners[0].ndkim, 2);
	assert_ptr_equal(c->listeners[0].dkim[0], &c->dkims[1]);
	assert_ptr_equal(c->listeners[0].dkim[1], &c->dkims[0]);
	assert_int_equal(c->listeners[0].dkim_required, 1);
	assert_ptr_equal(conf_find_dkim(c, "a"), &c->dkims[0]);
	assert_null(conf_find_dkim(c, "z"));
	conf_unref(c);

	/* every value error, and the cross-checks, each with its line */
	(void)snprintf(text, sizeof(text),
	    "[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n"
	    "dkim = a, nosuch\n"
	    "[upstream u]\nhost = mail.example.com\n"
	    "[dkim a]\ndomain = 192.0.2.1\nselector = s\nkey_file = %s\n"
	    "canonicalization = relaxed/loose\nheaders = Subject, Bad:Name\n"
	    "oversign = To, to\nexpire = 9000h\nidentity = nobody\n"
	    "[dkim b]\ndomain = example.com\nselector = s\nkey_file = %s\n"
	    "headers = Subject, To\noversign = Cc\n"
	    "identity = x@example.org\n"
	    "[dkim c]\nselector = s\n", key, key);
	(void)load_text(text, &c, &path);
	assert_err(0, path, "8: domain: \"192.0.2.1\": an IP address is not "
	    "a DNS name");
	assert_err(1, path, "11: canonicalization: \"relaxed/loose\": must be "
	    "simple, relaxed");
	assert_err(2, path, "12: headers: \"Subject, Bad:Name\": \"Bad:Name\": "
	    "not a header field name");
	assert_err(3, path, "13: oversign: \"To, to\": \"to\": listed twice");
	assert_err(4, path, "14: expire: \"9000h\": must be between 0s and 366d");
	assert_err(5, path, "15: identity: \"nobody\": must be "
	    "[local-part]@domain");
	assert_err(6, path, "23: [dkim c]: domain: required key missing");
	assert_err(7, path, "23: [dkim c]: key_file: required key missing");
	assert_err(8, path, "1: [listener l]: dkim: no [dkim nosuch] section");
	assert_err(9, path, "16: [dkim b]: headers: must include From");
	assert_err(10, path, "16: [dkim b]: oversign: Cc is not in headers");
	assert_err(11, path, "16: [dkim b]: identity: x@example.org is not in "
	    "the domain example.com");
	assert_int_equal(errs.n, 12);

	/* every spelling of canonicalization */
	{
		static const struct {
			const char	*v;
			int		 h, b;
		} cv[] = {
			{ "simple", CONF_CANON_SIMPLE, CONF_CANON_SIMPLE },
			{ "relaxed", CONF_CANON_RELAXED, CONF_CANON_SIMPLE },
			{ "simple/simple", CONF_CANON_SIMPLE, CONF_CANON_SIMPLE },
			{ "simple/relaxed", CONF_CANON_SIMPLE,
			    CONF_CANON_RELAXED },
			{ "Relaxed/Simple", CONF_CANON_RELAXED,
			    CONF_CANON_SIMPLE },
			{ "relaxed/relaxed", CONF_CANON_RELAXED,
			    CONF_CANON_RELAXED },
		};
		static const char *const bad[] = {
			"", "/", "relaxed/", "/simple", "nofws",
			"relaxed/relaxed/relaxed", "simple relaxed",
			"relaxedrelaxed/simple"
		};
		size_t	 i;

		for (i = 0; i < sizeof(cv) / sizeof(cv[0]); i++) {
			(void)snprintf(text, sizeof(text), MINIMAL
			    "[dkim a]\ndomain = example.com\nselector = s\n"
			    "key_file = %s\ncanonicalization = %s\n", key,
			    cv[i].v);
			assert_no_errors(load_text(text, &c, &path));
			assert_int_equal(c->dkims[0].canon[0], cv[i].h);
			assert_int_equal(c->dkims[0].canon[1], cv[i].b);
			conf_unref(c);
		}
		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			(void)snprintf(text, sizeof(text), MINIMAL
			    "[dkim a]\ndomain = example.com\nselector = s\n"
			    "key_file = %s\ncanonicalization = %s\n", key,
			    bad[i]);
			(void)load_text(text, &c, &path);
			assert_int_equal(errs.n, 1);
			assert_err(0, path, "10: canonicalization: ");
		}
	}

	/* dkim_required with nothing to sign with */
	(void)load_text("[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n"
	    "dkim_required = yes\n[upstream u]\nhost = a.example\n", &c, &path);
	assert_int_equal(errs.n, 1);
	assert_err(0, path, "1: [listener l]: dkim_required: no [dkim NAME] "
	    "section");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tls_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_derived_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_tls_auto, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_special, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_too_many_sections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multiple_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_syntax, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refcount, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_with_port, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_relay_warning, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_example, setup, teardown),
		cmocka_unit_test_setup_teardown(test_docs_defaults, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gssapi_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_auth_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pop_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proxy_keys, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dkim, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
