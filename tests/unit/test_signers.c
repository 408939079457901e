/*
 * test_signers - loading the [dkim] keys of a configuration (errors as
 * "FILE:LINE: [dkim NAME]: key_file: why") and the choice of signers for a
 * message: by From domain, the subdomains rule, a listener's own list.
 * Keys are made at test time with dkim_keygen (Ed25519: fast).
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
#include "dkim/dkim.h"
#include "relay/signers.h"

static char	 dir[] = "/tmp/test_signers.XXXXXX";
static char	 key1[PATH_MAX], key2[PATH_MAX], conf_path[PATH_MAX];
static char	 errs[4][1024];
static int	 nerrs, nwarns;

static void
on_err(void *arg, const char *msg)
{
	(void)arg;
	if (nerrs < 4)
		(void)snprintf(errs[nerrs], sizeof(errs[0]), "%s", msg);
	nerrs++;
}

static void
on_warn(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
	nwarns++;
}

static int
group_setup(void **state)
{
	char	 err[256];

	(void)state;
	if (mkdtemp(dir) == NULL)
		return -1;
	(void)snprintf(key1, sizeof(key1), "%s/k1.pem", dir);
	(void)snprintf(key2, sizeof(key2), "%s/k2.pem", dir);
	(void)snprintf(conf_path, sizeof(conf_path), "%s/gw.ini", dir);
	if (dkim_keygen(DKIM_ED25519_SHA256, 0, key1, err, sizeof(err)) == -1 ||
	    dkim_keygen(DKIM_ED25519_SHA256, 0, key2, err, sizeof(err)) == -1) {
		fprintf(stderr, "dkim_keygen: %s\n", err);
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	(void)unlink(key1);
	(void)unlink(key2);
	(void)unlink(conf_path);
	(void)rmdir(dir);
	return 0;
}

/* a configuration: one listener with the given extra line, three keys */
static struct gw_conf *
load(const char *listener_extra, const char *key_a)
{
	struct gw_conf	*c = NULL;
	FILE		*f;

	f = fopen(conf_path, "w");
	assert_non_null(f);
	fprintf(f, "[listener l]\nlisten = 127.0.0.1:2525\nupstream = u\n%s\n"
	    "[upstream u]\nhost = mail.example.com\n"
	    "[dkim a]\ndomain = example.com\nselector = a\nkey_file = %s\n"
	    "subdomains = yes\n"
	    "[dkim b]\ndomain = example.com\nselector = b\nkey_file = %s\n"
	    "[dkim c]\ndomain = example.net\nselector = c\nkey_file = %s\n",
	    listener_extra, key_a, key2, key1);
	assert_int_equal(fclose(f), 0);
	/* under umask 002 the file would be group-writable: refused */
	assert_int_equal(chmod(conf_path, 0644), 0);
	assert_int_equal(conf_load(conf_path, &c, NULL, NULL), 0);
	return c;
}

static void
test_pick_by_domain(void **state)
{
	const struct dkim_signer	*out[CONF_MAX_DKIM];
	struct gw_conf			*c = load("", key1);
	struct signers			*set = NULL;
	const struct conf_listener	*l = &c->listeners[0];

	(void)state;
	nerrs = nwarns = 0;
	assert_int_equal(signers_load(c, &set, on_err, on_warn, NULL), 0);
	assert_non_null(set);
	assert_int_equal(signers_count(set), 3);
	/* dual: both example.com sections, in file order */
	assert_int_equal(signers_pick(set, l, "example.com", out, 16), 2);
	assert_string_equal(out[0]->selector, "a");
	assert_string_equal(out[1]->selector, "b");
	assert_string_equal(signers_alg_name(out[0]), "ed25519-sha256");
	/* the settings came across */
	assert_int_equal(out[0]->hcanon, DKIM_CANON_RELAXED);
	assert_int_equal(out[0]->nheaders, 12);
	assert_int_equal(out[0]->noversign, 1);
	assert_int_equal(out[0]->sign_date, 1);
	/* subdomains only where asked for */
	assert_int_equal(signers_pick(set, l, "mail.example.com", out, 16), 1);
	assert_string_equal(out[0]->selector, "a");
	assert_int_equal(signers_pick(set, l, "sub.example.net", out, 16), 0);
	assert_int_equal(signers_pick(set, l, "badexample.com", out, 16), 0);
	assert_int_equal(signers_pick(set, l, "example.org", out, 16), 0);
	assert_int_equal(signers_pick(set, l, NULL, out, 16), 0);
	/* max is respected */
	assert_int_equal(signers_pick(set, l, "example.com", out, 1), 1);
	signers_free(set);
	conf_unref(c);
}

static void
test_pick_listener_list(void **state)
{
	const struct dkim_signer	*out[CONF_MAX_DKIM];
	struct gw_conf			*c = load("dkim = c, b", key1);
	struct signers			*set = NULL;
	const struct conf_listener	*l = &c->listeners[0];

	(void)state;
	assert_int_equal(signers_load(c, &set, on_err, on_warn, NULL), 0);
	/* only b of the example.com keys; a is not listed */
	assert_int_equal(signers_pick(set, l, "example.com", out, 16), 1);
	assert_string_equal(out[0]->selector, "b");
	/* listed, but the From domain must still match */
	assert_int_equal(signers_pick(set, l, "example.net", out, 16), 1);
	assert_string_equal(out[0]->selector, "c");
	assert_int_equal(signers_pick(set, l, "example.org", out, 16), 0);
	signers_free(set);
	conf_unref(c);
}

static void
test_load_errors(void **state)
{
	char			 loose[PATH_MAX + 16], want[PATH_MAX * 2];
	struct gw_conf		*c;
	struct signers		*set = (struct signers *)&set;
	FILE			*in, *out;
	char			 buf[4096];
	size_t			 n;

	(void)state;
	/* a copy of key1 readable by everyone */
	(void)snprintf(loose, sizeof(loose), "%s/loose.pem", dir);
	in = fopen(key1, "r");
	out = fopen(loose, "w");
	assert_non_null(in);
	assert_non_null(out);
	n = fread(buf, 1, sizeof(buf), in);
	assert_int_equal(fwrite(buf, 1, n, out), n);
	(void)fclose(in);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(chmod(loose, 0644), 0);
	c = load("", loose);
	nerrs = nwarns = 0;
	assert_int_equal(signers_load(c, &set, on_err, on_warn, NULL), 1);
	assert_null(set);
	assert_int_equal(nerrs, 1);
	/* the section header is on line 7 */
	(void)snprintf(want, sizeof(want), "%s:7: [dkim a]: key_file: ",
	    conf_path);
	assert_memory_equal(errs[0], want, strlen(want));
	assert_non_null(strstr(errs[0], "chmod 600"));
	conf_unref(c);
	(void)unlink(loose);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_by_domain),
		cmocka_unit_test(test_pick_listener_list),
		cmocka_unit_test(test_load_errors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
