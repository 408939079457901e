/*
 * test_conf_print - "smtpgate -n" (conf_print.c): every key of the table
 * printed once in its section, values of every type printed so that they
 * load again and print the same, defaults marked, secrets only as paths;
 * and the key tables of docs/configuration.md and the smtpgate.ini(5)
 * man page checked against the key table itself, both ways.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_keys.h"
#include "conf/conf_print.h"

#define MAXTMP		16
#define SECRET		"hunter2-do-not-print-me"

static char	*tmpfiles[MAXTMP];
static int	 ntmp;
static char	 lasterr[1024];

static void
collect(void *arg, const char *msg)
{
	(void)arg;
	if (lasterr[0] == '\0')
		(void)snprintf(lasterr, sizeof(lasterr), "%s", msg);
}

static int
teardown(void **state)
{
	int	 i;

	(void)state;
	for (i = 0; i < ntmp; i++) {
		(void)unlink(tmpfiles[i]);
		free(tmpfiles[i]);
	}
	ntmp = 0;
	return 0;
}

/* a new temporary file holding text, with mode; returns its path */
static const char *
write_tmp(const char *text, mode_t mode)
{
	char	 path[] = "/tmp/test_conf_print.XXXXXX";
	int	 fd;

	assert_true(ntmp < MAXTMP);
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	assert_int_equal(close(fd), 0);
	assert_non_null(tmpfiles[ntmp] = strdup(path));
	return tmpfiles[ntmp++];
}

static struct gw_conf *
load(const char *text)
{
	struct gw_conf	*c = NULL;

	lasterr[0] = '\0';
	if (conf_load(write_tmp(text, 0644), &c, collect, NULL) != 0)
		fail_msg("does not load: %s\n%s", lasterr, text);
	return c;
}

/* conf_print into a new string (free it) */
static char *
print(const struct gw_conf *c)
{
	char	*text = NULL, why[256];
	size_t	 len = 0;
	FILE	*fp;

	assert_non_null(fp = open_memstream(&text, &len));
	if (conf_print(c, fp, why, sizeof(why)) != 0)
		fail_msg("conf_print: %s", why);
	assert_int_equal(fclose(fp), 0);
	return text;
}

/* print, load what was printed, print again: the same text */
static char *
round_trip(const char *text)
{
	struct gw_conf	*c = load(text), *c2;
	char		*one, *two;

	one = print(c);
	c2 = load(one);
	two = print(c2);
	if (strcmp(one, two) != 0)
		fail_msg("printed twice, not the same:\n%s\n----\n%s", one, two);
	free(two);
	conf_unref(c);
	conf_unref(c2);
	return one;
}

static void
want_line(const char *text, const char *line)
{
	const char	*p;
	size_t		 n = strlen(line);

	for (p = text; (p = strstr(p, line)) != NULL; p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n'))
			return;
	fail_msg("no line \"%s\" in:\n%s", line, text);
}

/* a value of every type, none of them the default */
static void
test_every_type(void **state)
{
	char		 text[8192], *out;
	const char	*pw, *key, *cert, *dkimkey;

	(void)state;
	pw = write_tmp(SECRET "\n", 0600);
	key = write_tmp("-----BEGIN PRIVATE KEY-----\n" SECRET "\n", 0600);
	cert = write_tmp("-----BEGIN CERTIFICATE-----\n", 0644);
	dkimkey = write_tmp("-----BEGIN PRIVATE KEY-----\n" SECRET "\n", 0600);
	(void)snprintf(text, sizeof(text),
	    "[gateway]\nhostname = gw.example.test\nuser = nobody\n"
	    "log_level = DEBUG\nlog_facilities = tls,auth\n"
	    "log_target = syslog\nmax_sessions = 7\n"
	    "auth_fail_window = 90\nauth_fail_delay_max = 0\n"
	    "[listener l]\nlisten = 127.0.0.1:2525,[::1]:2526\n"
	    "allow = 10.0.0.0/8, 192.0.2.7, 2001:db8::/32, ::1\n"
	    "upstream = u\nmax_message_size = 1048576\nbanner = hi, there\n"
	    "max_session_time = 7200\nmin_data_rate = 0\n"
	    "received_header = yes\ndkim = d\ndkim_required = on\n"
	    "tls = starttls\ntls_cert = %s\ntls_key = %s\n"
	    "tls_min_version = 1.3\ncurves = prime256v1, X25519\n"
	    "verify_client = optional\nclient_ca_file = %s\n"
	    "client_cert_pins = 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	    "rate_messages = 100/1h\nrate_connections = 30/90s\n"
	    "proxy_protocol = v2\nproxy_from = 192.0.2.0/24\n"
	    "[upstream u]\nhost = smtp.example.test\nport = 465\n"
	    "verify_chain = no\n"
	    "pin_sha256 = 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n"
	    "accept = expired, self-signed\n"
	    "ciphers = ECDHE-RSA-AES128-GCM-SHA256\n"
	    "ciphersuites = TLS13-AES128-GCM-SHA256\n"
	    "auth = inject\nusername = relay@example.test\n"
	    "password_file = %s\nauth_mechanisms = login, PLAIN\n"
	    "pop_before_smtp = [2001:db8::1]:995\npool_max_idle = 0\n"
	    "[dkim d]\ndomain = Example.TEST\nselector = s1\nkey_file = %s\n"
	    "canonicalization = relaxed\nheaders = From,Subject\n"
	    "oversign =\nexpire = 604800\nidentity = @example.test\n",
	    cert, key, cert, pw, dkimkey);
	out = round_trip(text);
	/* never a secret's contents; its path, yes */
	assert_null(strstr(out, SECRET));
	want_line(out, "log_level = debug");
	want_line(out, "log_facilities = tls, auth");
	want_line(out, "log_target = syslog");
	want_line(out, "auth_fail_window = 90s");
	want_line(out, "auth_fail_delay_max = 0s");
	want_line(out, "listen = 127.0.0.1:2525, [::1]:2526");
	want_line(out, "allow = 10.0.0.0/8, 192.0.2.7, 2001:db8::/32, ::1");
	want_line(out, "max_message_size = 1M");
	want_line(out, "banner = hi, there");
	want_line(out, "max_session_time = 2h");
	want_line(out, "dkim_required = yes");
	want_line(out, "curves = P-256, X25519");
	want_line(out, "rate_connections = 30/90s");
	want_line(out, "proxy_protocol = v2");
	/* auto on port 465 is implicit, and that is the default */
	want_line(out, "tls = implicit" CONF_PRINT_MARK);
	want_line(out, "verify_chain = no");
	want_line(out, "accept = self-signed, expired");
	want_line(out, "auth_mechanisms = LOGIN, PLAIN");
	want_line(out, "pop_before_smtp = [2001:db8::1]:995");
	want_line(out, "pool_max_idle = 0");
	want_line(out, "domain = example.test");
	want_line(out, "canonicalization = relaxed/simple");
	want_line(out, "headers = From, Subject");
	want_line(out, "oversign =");
	want_line(out, "expire = 7d");
	want_line(out, "identity = @example.test");
	(void)snprintf(text, sizeof(text), "password_file = %s", pw);
	want_line(out, text);
	(void)snprintf(text, sizeof(text), "tls_key = %s", key);
	want_line(out, text);
	(void)snprintf(text, sizeof(text), "key_file = %s", dkimkey);
	want_line(out, text);
	/* derived defaults follow the values they come from */
	want_line(out, "banner = hi, there");
	want_line(out, "tls_name = smtp.example.test" CONF_PRINT_MARK);
	want_line(out, "helo_name = gw.example.test" CONF_PRINT_MARK);
	free(out);
}

#define MINIMAL	"[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n" \
		"[upstream u]\nhost = mail.example.test\n"

/*
 * Every key of the table once in its section, marked default unless it
 * is required; the key table, not a list in this test, says which keys.
 */
static void
test_every_key(void **state)
{
	const struct conf_key	*k;
	char			 text[1024], *out, *sec[6], *p, *end;
	char			 want[128];
	size_t			 i;
	int			 s, n;

	(void)state;
	(void)snprintf(text, sizeof(text), "%s[dkim d]\ndomain = example.test"
	    "\nselector = s\nkey_file = %s\n[route r]\nsender = @example.test"
	    "\nupstream = u\n[smime m]\nsenders = @example.test\n", MINIMAL,
	    write_tmp("key", 0600));
	out = round_trip(text);
	sec[SEC_SMIME] = strstr(out, "\n[smime m]\n");
	sec[SEC_ROUTE] = strstr(out, "\n[route r]\n");
	sec[SEC_GATEWAY] = strstr(out, "\n[gateway]\n");
	sec[SEC_LISTENER] = strstr(out, "\n[listener l]\n");
	sec[SEC_UPSTREAM] = strstr(out, "\n[upstream u]\n");
	sec[SEC_DKIM] = strstr(out, "\n[dkim d]\n");
	for (s = 0; s < 6; s++)
		assert_non_null(sec[s]);
	for (i = 0; i < conf_nkeys; i++) {
		k = &conf_keys[i];
		s = (int)k->sec;
		end = strstr(sec[s] + 2, "\n[");
		(void)snprintf(want, sizeof(want), "\n%s = ", k->name);
		for (n = 0, p = sec[s]; (p = strstr(p + 1, want)) != NULL &&
		    (end == NULL || p < end);)
			n++;
		if (n != 1)
			fail_msg("[%s] %s printed %d times", conf_sec_name(k->sec),
			    k->name, n);
		p = strstr(sec[s], want);
		end = strchr(p + 1, '\n');
		n = end != NULL && end - p > (long)strlen(CONF_PRINT_MARK) &&
		    strncmp(end - strlen(CONF_PRINT_MARK), CONF_PRINT_MARK,
		    strlen(CONF_PRINT_MARK)) == 0;
		/* required keys have no default; the test file sets them */
		if (n != (k->def != NULL || k->derive != DERIVE_NONE))
			fail_msg("[%s] %s: default mark %s", conf_sec_name(k->sec),
			    k->name, n ? "on a required key" : "missing");
	}
	free(out);
}

/*
 * A value as long as a line may be: printed without the mark and the
 * blanks, so that it still loads (inih's line limit).
 */
static void
test_long_line(void **state)
{
	char	 text[2048], list[256], *out;
	int	 i;

	(void)state;
	(void)snprintf(list, sizeof(list), "From");
	for (i = 0; strlen(list) + 10 < 197 - strlen("headers="); i++)
		(void)snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    ",X-Hdr-%02d", i);
	(void)snprintf(text, sizeof(text), "%s[dkim d]\ndomain = example.test"
	    "\nselector = s\nkey_file = %s\nheaders=%s\n", MINIMAL,
	    write_tmp("key", 0600), list);
	out = round_trip(text);
	(void)snprintf(text, sizeof(text), "headers=%s", list);
	want_line(out, text);
	free(out);
}

/* the shipped example, with its commented keys as defaults */
static void
test_example(void **state)
{
	char		 path[PATH_MAX], *out, *text;
	const char	*dir = getenv("SRCDIR");
	FILE		*fp;
	long		 len;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/etc/smtpgate.ini",
	    dir != NULL ? dir : ".");
	assert_non_null(fp = fopen(path, "r"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((len = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(text = calloc(1, (size_t)len + 1));
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	(void)fclose(fp);
	out = round_trip(text);
	want_line(out, "[upstream provider]");
	want_line(out, "host = smtp.example.com");
	want_line(out, "max_sessions = 1000" CONF_PRINT_MARK);
	want_line(out, "allow = 127.0.0.0/8, ::1" CONF_PRINT_MARK);
	free(out);
	free(text);
}

/*
 * The key tables of the documents against the key table, both ways.
 * Every problem is listed before the test fails, each naming the file,
 * the section and the key, so that keys added on other branches show up
 * as one list of lines to write.
 */
struct doc {
	const char	*rel;		/* under SRCDIR */
	int		 man;		/* mdoc, else Markdown */
	const char	*heads[6];	/* the heading of each section kind */
};

static const struct doc docs[] = {
	{ "docs/configuration.md", 0, { "## [gateway]", "## [listener NAME]",
	    "## [upstream NAME]", "## [dkim NAME]", "## [route NAME]",
	    "## [smime NAME]" } },
	{ "docs/man/smtpgate.ini.5", 1, { ".Sh GATEWAY SECTION",
	    ".Sh LISTENER SECTIONS", ".Sh UPSTREAM SECTIONS",
	    ".Sh DKIM SECTIONS", ".Sh ROUTE SECTIONS",
	    ".Sh SMIME SECTIONS" } },
};

static int	 nproblems;

static void	 problem(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
problem(const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	print_message("%s\n", msg);
	nproblems++;
}

/* the table's row of (kind, name), or -1 */
static int
key_index(int kind, const char *name)
{
	size_t	 i;

	for (i = 0; i < conf_nkeys; i++)
		if ((int)conf_keys[i].sec == kind &&
		    strcmp(conf_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * The man page's default: ".It Cm KEY Ar TYPE Pq ..." ends in "required",
 * "default empty", "default Ql VALUE" (VALUE maybe in quotes), or a
 * derived one in words ("default: ...").
 */
static void
man_default(const struct doc *d, int lineno, const struct conf_key *k,
    const char *line)
{
	const char	*pq = strstr(line, " Pq ");
	char		 want[512], got[512], *e;

	if (k->def == NULL && k->derive == DERIVE_NONE)
		(void)snprintf(want, sizeof(want), "required");
	else if (k->derive != DERIVE_NONE)
		(void)snprintf(want, sizeof(want), "\"default: ...\"");
	else if (k->def[0] == '\0')
		(void)snprintf(want, sizeof(want), "default empty");
	else
		(void)snprintf(want, sizeof(want), "default Ql %s", k->def);
	(void)snprintf(got, sizeof(got), "%s", pq != NULL ? pq + 4 : "");
	if ((e = strchr(got, '\n')) != NULL)
		*e = '\0';
	/* "default Ql "a, b"": the quotes are mdoc's, not the value's */
	if (strncmp(got, "default Ql \"", 12) == 0 && (e = strrchr(got,
	    '"')) > got + 11 && e[1] == '\0') {
		memmove(got + 11, got + 12, strlen(got + 12) + 1);
		got[strlen(got) - 1] = '\0';
	}
	if (k->derive != DERIVE_NONE && (strncmp(got, "\"default: ", 10) == 0 ||
	    strncmp(got, "default: ", 9) == 0))
		return;
	if (strcmp(got, want) != 0)
		problem("%s:%d: [%s] %s: the .It line ends in \"Pq %s\"; the "
		    "key table (src/conf/conf_table.c) says \"Pq %s\"", d->rel, lineno,
		    conf_sec_name(k->sec), k->name, got, want);
}

/* the key on a table line, in place; NULL if the line is not one */
static char *
doc_key(const struct doc *d, char *line)
{
	char	*k, *e;

	if (d->man) {
		if (strncmp(line, ".It Cm ", 7) != 0)
			return NULL;
		k = line + 7;
		e = k + strcspn(k, " \n");
	} else {
		if (strncmp(line, "| `", 3) != 0)
			return NULL;
		k = line + 3;
		if ((e = strchr(k, '`')) == NULL)
			return NULL;
	}
	*e = '\0';
	return k;
}

static void
check_doc(const struct doc *d)
{
	char	 path[PATH_MAX], line[1024], copy[1024], *key;
	int	*seen, sec = -1, fence = 0, lineno = 0, i;
	size_t	 j;
	FILE	*fp;

	(void)snprintf(path, sizeof(path), "%s/%s", getenv("SRCDIR") != NULL ?
	    getenv("SRCDIR") : ".", d->rel);
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("%s: cannot open (SRCDIR?)", path);
	assert_non_null(seen = calloc(conf_nkeys, sizeof(*seen)));
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		if (!d->man && strncmp(line, "```", 3) == 0)
			fence = !fence;
		if (fence)
			continue;
		/* any heading ends a section's table ("### `tls` levels") */
		if ((d->man && strncmp(line, ".Sh ", 4) == 0) ||
		    (!d->man && line[0] == '#')) {
			for (sec = -1, i = 0; i < 6; i++)
				if (strncmp(line, d->heads[i],
				    strlen(d->heads[i])) == 0)
					sec = i;
			continue;
		}
		(void)snprintf(copy, sizeof(copy), "%s", line);
		if (sec < 0 || (key = doc_key(d, line)) == NULL)
			continue;
		if ((i = key_index(sec, key)) == -1) {
			problem("%s:%d: [%s] %s: documented, but not in the key "
			    "table (src/conf/conf_table.c)", d->rel, lineno,
			    conf_sec_name(sec), key);
			continue;
		}
		if (seen[i]++ != 0)
			problem("%s:%d: [%s] %s: documented twice", d->rel,
			    lineno, conf_sec_name(sec), key);
		if (d->man)
			man_default(d, lineno, &conf_keys[i], copy);
	}
	(void)fclose(fp);
	for (j = 0; j < conf_nkeys; j++)
		if (!seen[j])
			problem("%s: [%s] %s: in the key table (src/conf/conf_table.c) "
			    "but not documented: add it under \"%s\"", d->rel,
			    conf_sec_name(conf_keys[j].sec), conf_keys[j].name,
			    d->heads[conf_keys[j].sec]);
	free(seen);
}

static void
test_docs_keys(void **state)
{
	size_t	 i;

	(void)state;
	nproblems = 0;
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		check_doc(&docs[i]);
	if (nproblems != 0)
		fail_msg("%d key(s) out of step between the documents and the "
		    "key table (listed above)", nproblems);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_every_type, teardown),
		cmocka_unit_test_teardown(test_every_key, teardown),
		cmocka_unit_test_teardown(test_long_line, teardown),
		cmocka_unit_test_teardown(test_example, teardown),
		cmocka_unit_test(test_docs_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
