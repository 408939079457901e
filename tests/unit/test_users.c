/*
 * test_users - the users_file of auth = map: the line parser (table of
 * got/want cases), loading (permissions, duplicates, FILE:LINE errors) and
 * verification with yescrypt and sha512-crypt hashes made at test time.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <crypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/users.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

#define Y_HASH	"$y$j9T$abcdefghijklmnopqrstu.$" \
	"0123456789abcdefghijklmnopqrstuvwxyzABCDE"
#define S_HASH	"$6$salt$abc"
/* the rest of an error case */
#define BAD	0, NULL, NULL, NULL, NULL

static const struct {
	const char	*line;
	const char	*err;		/* NULL: parses */
	int		 skip;
	const char	*user, *hash, *up_user, *up_secret;
} parse_cases[] = {
	{ "alice:" Y_HASH ":alice@isp.test:s3cret", NULL, 0,
	    "alice", Y_HASH, "alice@isp.test", "s3cret" },
	/* the secret is the rest of the line, ':' and spaces included */
	{ "bob:" S_HASH ":bob:pa:ss word:", NULL, 0,
	    "bob", S_HASH, "bob", "pa:ss word:" },
	{ "", NULL, 1, NULL, NULL, NULL, NULL },
	{ "   \t", NULL, 1, NULL, NULL, NULL, NULL },
	{ "# alice:x:y:z", NULL, 1, NULL, NULL, NULL, NULL },
	{ "  # indented comment", NULL, 1, NULL, NULL, NULL, NULL },
	{ "alice", "expected localuser:hash:upstream-user:upstream-secret",
	    BAD },
	{ "alice:" Y_HASH ":up", "expected localuser:hash:upstream-user:"
	    "upstream-secret", BAD },
	{ ":" Y_HASH ":up:s", "empty local user", BAD },
	{ "al ice:" Y_HASH ":up:s", "space or control character in the "
	    "local user", BAD },
	{ "alice::up:s", "empty hash", BAD },
	{ "alice:$1$salt$abc:up:s", "hash is not yescrypt ($y$) or "
	    "sha512-crypt ($6$)", BAD },
	{ "alice:$2b$10$abc:up:s", "hash is not yescrypt ($y$) or "
	    "sha512-crypt ($6$)", BAD },
	{ "alice:plaintext:up:s", "hash is not yescrypt ($y$) or "
	    "sha512-crypt ($6$)", BAD },
	{ "alice:$y$j9T$salt$:up:s", "hash is only a salt", BAD },
	{ "alice:$6$sa lt$x:up:s", "hash holds a character outside "
	    "crypt(3)'s alphabet", BAD },
	{ "alice:" Y_HASH "::s", "empty upstream user", BAD },
	{ "alice:" Y_HASH ":up:", "empty upstream secret", BAD },
	{ "alice:" Y_HASH ":up:s\r", "control character in the upstream "
	    "secret", BAD },
	{ "alice:" Y_HASH ":up:s\x01", "control character in the upstream "
	    "secret", BAD },
};

static void
test_parse_line(void **state)
{
	struct users_entry	 e;
	const char		*err;
	size_t			 i;
	int			 skip;

	(void)state;
	for (i = 0; i < NELEM(parse_cases); i++) {
		memset(&e, 'X', sizeof(e));
		err = users_parse_line(parse_cases[i].line,
		    strlen(parse_cases[i].line), &e, &skip);
		if ((err == NULL) != (parse_cases[i].err == NULL) ||
		    (err != NULL && strcmp(err, parse_cases[i].err) != 0))
			fail_msg("case %zu \"%s\": got \"%s\", want \"%s\"", i,
			    parse_cases[i].line, err ? err : "ok",
			    parse_cases[i].err ? parse_cases[i].err : "ok");
		if (err != NULL) {
			/* nothing half-filled survives an error */
			assert_string_equal(e.up_secret, "");
			continue;
		}
		assert_int_equal(skip, parse_cases[i].skip);
		if (skip)
			continue;
		assert_string_equal(e.user, parse_cases[i].user);
		assert_string_equal(e.hash, parse_cases[i].hash);
		assert_string_equal(e.up_user, parse_cases[i].up_user);
		assert_string_equal(e.up_secret, parse_cases[i].up_secret);
	}
}

/* bounds: each field at its limit parses, one more octet does not */
static void
test_parse_bounds(void **state)
{
	struct users_entry	 e;
	char			 line[USERS_LINE_MAX * 2];
	int			 skip;

	(void)state;
	memset(line, 'u', USERS_NAME_MAX);
	snprintf(line + USERS_NAME_MAX, sizeof(line) - USERS_NAME_MAX,
	    ":%s:up:s", Y_HASH);
	assert_null(users_parse_line(line, strlen(line), &e, &skip));
	assert_int_equal(strlen(e.user), USERS_NAME_MAX);
	memset(line, 'u', USERS_NAME_MAX + 1);
	snprintf(line + USERS_NAME_MAX + 1, sizeof(line) - USERS_NAME_MAX - 1,
	    ":%s:up:s", Y_HASH);
	assert_string_equal(users_parse_line(line, strlen(line), &e, &skip),
	    "local user too long");

	snprintf(line, sizeof(line), "u:%s:up:", Y_HASH);
	memset(line + strlen(line), 's', USERS_SECRET_MAX);
	line[strlen("u:" Y_HASH ":up:") + USERS_SECRET_MAX] = '\0';
	assert_null(users_parse_line(line, strlen(line), &e, &skip));
	assert_int_equal(strlen(e.up_secret), USERS_SECRET_MAX);
	(void)strcat(line, "s");
	assert_string_equal(users_parse_line(line, strlen(line), &e, &skip),
	    "upstream secret too long");
	/* a NUL inside the line is refused, not a silent truncation */
	assert_string_equal(users_parse_line("a\0b:x:y:z", 9, &e, &skip),
	    "NUL in line");
}

/* errors collected by users_load */
struct errs {
	char	 text[8192];
	int	 n;
};

static void
collect(void *arg, const char *msg)
{
	struct errs	*e = arg;
	size_t		 len = strlen(e->text);

	e->n++;
	snprintf(e->text + len, sizeof(e->text) - len, "%s\n", msg);
}

static char	 tmpdir[64];
static char	 path[128];

static int
setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_users.XXXXXX");
	assert_non_null(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/users", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)unlink(path);
	(void)rmdir(tmpdir);
	return 0;
}

static void
write_file(const char *text, mode_t mode)
{
	FILE	*f;

	(void)unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* a fresh hash of pass with method prefix ("$y$" or "$6$") */
static void
make_hash(const char *prefix, const char *pass, char *out, size_t len)
{
	struct crypt_data	 cd;
	char			 salt[CRYPT_GENSALT_OUTPUT_SIZE];
	const char		*h;

	assert_non_null(crypt_gensalt_rn(prefix, 0, NULL, 0, salt,
	    sizeof(salt)));
	memset(&cd, 0, sizeof(cd));
	h = crypt_rn(pass, salt, &cd, sizeof(cd));
	assert_non_null(h);
	assert_true(h[0] == '$');
	snprintf(out, len, "%s", h);
}

static void
test_load_and_verify(void **state)
{
	struct users			*t;
	const struct users_entry	*e;
	struct errs			 errs = { "", 0 };
	char				 y[256], s6[256], text[2048];

	(void)state;
	make_hash("$y$", "alice-pw", y, sizeof(y));
	make_hash("$6$", "bob-pw", s6, sizeof(s6));
	snprintf(text, sizeof(text),
	    "# local users\n"
	    "\n"
	    "alice:%s:alice@isp.test:up:secret\n"
	    "bob:%s:bob@isp.test:bobs-upstream\n", y, s6);
	write_file(text, 0600);
	t = users_load(path, collect, &errs);
	if (t == NULL)
		fail_msg("load: %s", errs.text);
	assert_int_equal(users_count(t), 2);

	e = users_verify(t, "alice", "alice-pw");
	assert_non_null(e);
	assert_string_equal(e->up_user, "alice@isp.test");
	assert_string_equal(e->up_secret, "up:secret");
	e = users_verify(t, "bob", "bob-pw");
	assert_non_null(e);
	assert_string_equal(e->up_user, "bob@isp.test");
	assert_null(users_verify(t, "alice", "bob-pw"));
	assert_null(users_verify(t, "alice", "alice-pw "));
	assert_null(users_verify(t, "alice", ""));
	assert_null(users_verify(t, "bob", "alice-pw"));
	/* an unknown user, even with a password some entry has */
	assert_null(users_verify(t, "carol", "alice-pw"));
	assert_null(users_verify(t, "", "alice-pw"));
	assert_null(users_verify(NULL, "alice", "alice-pw"));

	/* the pieces hashpool runs: lookup on the loop, the hash anywhere */
	{
		const char	*h;

		e = users_lookup(t, "bob", &h);
		assert_non_null(e);
		assert_string_equal(h, s6);
		assert_int_equal(users_hash_match(h, "bob-pw"), 1);
		assert_int_equal(users_hash_match(h, "bob-pW"), 0);
		/* unknown: no entry, but the first entry's hash to run */
		assert_null(users_lookup(t, "carol", &h));
		assert_string_equal(h, y);
		assert_null(users_lookup(NULL, "bob", &h));
		assert_null(h);
	}
	users_free(t);
}

static void
test_load_errors(void **state)
{
	struct users	*t;
	struct errs	 errs = { "", 0 };
	char		 want[2048], text[4096];
	size_t		 n;

	(void)state;
	/* every bad line is reported, each with its line number */
	snprintf(text, sizeof(text),
	    "alice:%s:a:s\n"
	    "# comment\n"
	    "bob:$1$salt$abc:b:s\n"
	    "alice:%s:a2:s2\n"
	    "carol\n", Y_HASH, S_HASH);
	write_file(text, 0600);
	t = users_load(path, collect, &errs);
	assert_null(t);
	assert_int_equal(errs.n, 3);
	snprintf(want, sizeof(want), "%s:3: hash is not yescrypt ($y$) or "
	    "sha512-crypt ($6$)\n%s:4: duplicate user alice\n%s:5: expected "
	    "localuser:hash:upstream-user:upstream-secret\n", path, path,
	    path);
	assert_string_equal(errs.text, want);

	/* an over-long line, and the line after it still counted right */
	n = (size_t)snprintf(text, sizeof(text), "alice:%s:a:", Y_HASH);
	memset(text + n, 's', USERS_LINE_MAX + 10);
	snprintf(text + n + USERS_LINE_MAX + 10, sizeof(text) - n -
	    USERS_LINE_MAX - 10, "\nbob:x:b:s\n");
	write_file(text, 0600);
	memset(&errs, 0, sizeof(errs));
	assert_null(users_load(path, collect, &errs));
	assert_int_equal(errs.n, 2);
	snprintf(want, sizeof(want), "%s:1: line longer than %d octets\n"
	    "%s:2: hash is not yescrypt ($y$) or sha512-crypt ($6$)\n",
	    path, USERS_LINE_MAX - 1, path);
	assert_string_equal(errs.text, want);

	/* only comments: no users is an error too */
	write_file("# nobody\n", 0600);
	memset(&errs, 0, sizeof(errs));
	assert_null(users_load(path, collect, &errs));
	snprintf(want, sizeof(want), "%s:0: no users\n", path);
	assert_string_equal(errs.text, want);
}

/* group- or world-accessible files are refused, with the fix named */
static void
test_load_permissions(void **state)
{
	static const mode_t	 modes[] = { 0644, 0640, 0604, 0660, 0602 };
	struct errs		 errs;
	char			 text[512], want[1024];
	size_t			 i;

	(void)state;
	snprintf(text, sizeof(text), "alice:%s:a:s\n", Y_HASH);
	for (i = 0; i < NELEM(modes); i++) {
		write_file(text, modes[i]);
		memset(&errs, 0, sizeof(errs));
		assert_null(users_load(path, collect, &errs));
		snprintf(want, sizeof(want), "%s:0: %s is accessible by group "
		    "or others; chmod 600 %s\n", path, path, path);
		assert_string_equal(errs.text, want);
	}
	write_file(text, 0400);
	memset(&errs, 0, sizeof(errs));
	users_free(users_load(path, collect, &errs));
	assert_int_equal(errs.n, 0);

	(void)unlink(path);
	memset(&errs, 0, sizeof(errs));
	assert_null(users_load(path, collect, &errs));
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.text, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_line),
		cmocka_unit_test(test_parse_bounds),
		cmocka_unit_test_setup_teardown(test_load_and_verify, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_load_permissions, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
