/*
 * test_conf_files - the configuration file opened safely (FIFO, directory,
 * group- and world-writable), the list of files a snapshot names, the
 * check of those files and of token_command as the running user (and, as
 * root, as [gateway] user), conf_command_word() on a table, and
 * conf_key_hint() (conf_hint.c).  Issue 10, sections 2, 8 and 9.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>

#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_files.h"
#include "conf/conf_hint.h"

#define MAXERR		32

static struct {
	char	*msg[MAXERR];
	int	 n;
} errs;

static char	 dir[] = "/tmp/test_conf_files.XXXXXX";

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

static void
print_errs(void)
{
	int	 i;

	for (i = 0; i < errs.n && i < MAXERR; i++)
		print_message("  got: %s\n", errs.msg[i]);
}

/* message i must be want (exactly) */
static void
assert_msg(int i, const char *want)
{
	if (i >= errs.n || strcmp(errs.msg[i], want) != 0) {
		print_message("message %d: want \"%s\"\n", i, want);
		print_errs();
		fail();
	}
}

static int
setup(void **state)
{
	(void)state;
	errs_clear();
	strcpy(dir, "/tmp/test_conf_files.XXXXXX");
	assert_non_null(mkdtemp(dir));
	/* others (nobody) may enter, as a real /etc/smtpgate would allow */
	assert_int_equal(chmod(dir, 0755), 0);
	return 0;
}

static int
teardown(void **state)
{
	char	 cmd[128];

	(void)state;
	errs_clear();
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* dir/name with text and mode; returns a static path (one at a time) */
static const char *
put(const char *name, const char *text, mode_t mode)
{
	static char	 path[4][256];
	static int	 slot;
	FILE		*fp;
	char		*p = path[slot++ % 4];

	(void)snprintf(p, 256, "%s/%s", dir, name);
	assert_non_null(fp = fopen(p, "w"));
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(p, mode), 0);
	return p;
}

#define MINIMAL \
	"[listener l]\n" \
	"listen = 127.0.0.1:2525\n" \
	"upstream = u\n" \
	"[upstream u]\n" \
	"host = mail.example.com\n"

static void
alarm_fail(int sig)
{
	(void)sig;
	/* cmocka cannot fail from a handler; say it and stop */
	(void)write(2, "conf_load blocked on a FIFO\n", 28);
	_exit(1);
}

/*
 * Issue 10, section 9: a FIFO in place of the file hung -t and the event
 * loop at SIGHUP (open(2) waits for a writer).  It must be refused at once.
 */
static void
test_fifo_refused(void **state)
{
	struct gw_conf	*c;
	char		 path[256], want[512];

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/smtpgate.ini", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	(void)signal(SIGALRM, alarm_fail);
	(void)alarm(5);
	assert_int_equal(conf_load(path, &c, collect, NULL), 1);
	(void)alarm(0);
	assert_null(c);
	(void)snprintf(want, sizeof(want), "%s:0: not a regular file (a FIFO)",
	    path);
	assert_msg(0, want);
}

/*
 * The file can name a command to run (token_command): writable by group
 * or others is refused, with the fix.  A symbolic link to a good file is
 * followed; the file it reaches is what is checked.
 */
static void
test_writable_refused(void **state)
{
	struct gw_conf	*c;
	const char	*path;
	char		 want[512], link[300];

	(void)state;
	path = put("world.ini", MINIMAL, 0646);
	assert_int_equal(conf_load(path, &c, collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:0: writable by others: it can "
	    "name a command to run (token_command); chmod go-w %s", path,
	    path);
	assert_msg(0, want);

	errs_clear();
	path = put("group.ini", MINIMAL, 0664);
	assert_int_equal(conf_load(path, &c, collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:0: writable by group: it can "
	    "name a command to run (token_command); chmod go-w %s", path,
	    path);
	assert_msg(0, want);

	errs_clear();
	path = put("good.ini", MINIMAL, 0644);
	(void)snprintf(link, sizeof(link), "%s/link.ini", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(conf_load(link, &c, collect, NULL), 0);
	conf_unref(c);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(conf_load(link, &c, collect, NULL), 1);
}

/* the files a snapshot names, each with the line of its key */
static void
test_paths_listed(void **state)
{
	struct gw_conf	*c;
	const char	*pw, *ini;
	char		 text[1024];

	(void)state;
	pw = put("pw", "secret\n", 0600);
	(void)snprintf(text, sizeof(text),
	    "[gateway]\n"			/* 1 */
	    "user = nobody\n"			/* 2 */
	    MINIMAL				/* 3-7 */
	    "auth = inject\n"			/* 8 */
	    "username = me\n"			/* 9 */
	    "password_file = %s\n"		/* 10 */
	    "ca_file = system\n"		/* 11: not listed */
	    "crl_path = %s\n", pw, dir);	/* 12 */
	ini = put("paths.ini", text, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	assert_int_equal(c->user_line, 2);
	assert_int_equal(c->npaths, 2);
	assert_string_equal(c->paths[0].key, "crl_path");
	assert_string_equal(c->paths[0].value, dir);
	assert_int_equal(c->paths[0].line, 12);
	assert_int_equal(c->paths[0].kind, CONF_PATH_DIR);
	assert_string_equal(c->paths[1].key, "password_file");
	assert_string_equal(c->paths[1].value, pw);
	assert_int_equal(c->paths[1].line, 10);
	assert_int_equal(c->paths[1].kind, CONF_PATH_FILE);
	assert_int_equal(conf_files_check(c, "me", collect, NULL), 0);
	conf_unref(c);
}

/* a snapshot with one upstream using token_command = cmd (line 9) */
static struct gw_conf *
load_command(const char *cmd)
{
	struct gw_conf	*c;
	char		 text[1024];
	const char	*ini;

	(void)snprintf(text, sizeof(text), MINIMAL
	    "auth = inject\n"			/* 6 */
	    "username = me\n"			/* 7 */
	    "auth_mechanisms = XOAUTH2\n"	/* 8 */
	    "token_command = %s\n", cmd);	/* 9 */
	ini = put("cmd.ini", text, 0644);
	errs_clear();
	if (conf_load(ini, &c, collect, NULL) != 0) {
		print_errs();
		fail();
	}
	return c;
}

/*
 * Issue 10, section 2: a token_command that does not exist or is not
 * executable fails every AUTH with "exit status 127": refused instead.
 */
static void
test_token_command_checked(void **state)
{
	static const struct {
		const char	*cmd;
		const char	*want;	/* after "PATH:9: token_command: " */
	} cases[] = {
		{ "echo token", NULL },
		{ "printf '%s' token", NULL },
		{ "sh -c 'echo token'", NULL },
		{ "TZ=UTC exec /bin/echo token", NULL },
		{ "\"$HOME/bin/get-token\"", NULL },	/* cannot tell: not checked */
		{ "/nonexistent/get-token --account a",
		    "/nonexistent/get-token: No such file or directory" },
		{ "no-such-program-here x", "no-such-program-here: not found in "
		    "PATH=/usr/bin:/bin" },
		{ "bin/get-token", "bin/get-token: a relative path; use an "
		    "absolute path" },
		{ "FOO=1 BAR=2", "no program to run" },
	};
	struct gw_conf	*c;
	const char	*old = getenv("PATH");
	char		*saved = old != NULL ? strdup(old) : NULL;
	char		 want[PATH_MAX + 1024];
	size_t		 i;

	(void)state;
	assert_int_equal(setenv("PATH", "/usr/bin:/bin", 1), 0);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = load_command(cases[i].cmd);
		errs_clear();
		if (conf_files_check(c, "me", collect, NULL) !=
		    (cases[i].want != NULL)) {
			print_message("case \"%s\"\n", cases[i].cmd);
			print_errs();
			fail();
		}
		if (cases[i].want != NULL) {
			(void)snprintf(want, sizeof(want), "%s:9: token_command:"
			    " %s", c->path, cases[i].want);
			assert_msg(0, want);
		}
		conf_unref(c);
	}
	/* a script without x bits: not executable, even for root */
	c = load_command(put("get-token", "#!/bin/sh\necho t\n", 0600));
	errs_clear();
	assert_int_equal(conf_files_check(c, "me", collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:9: token_command: %s/get-token: "
	    "not executable by user me (Permission denied)", c->path, dir);
	assert_msg(0, want);
	conf_unref(c);
	if (saved != NULL) {
		assert_int_equal(setenv("PATH", saved, 1), 0);
		free(saved);
	}
}

/* a file named at load time and gone (or swapped) before start */
static void
test_file_gone(void **state)
{
	struct gw_conf	*c;
	char		 text[1024], want[PATH_MAX + 1024];
	const char	*pw, *ini;

	(void)state;
	pw = put("pw", "secret\n", 0600);
	(void)snprintf(text, sizeof(text), MINIMAL "auth = inject\n"
	    "username = me\npassword_file = %s\n", pw);
	ini = put("gone.ini", text, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	assert_int_equal(unlink(pw), 0);
	assert_int_equal(conf_files_check(c, "me", collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:8: password_file: %s: not "
	    "readable by user me (No such file or directory)", ini, pw);
	assert_msg(0, want);
	conf_unref(c);
}

/*
 * Issue 10, section 2: as root with user = nobody, -t checks as nobody:
 * a 0600 root file passes as root and fails as nobody.  Needs root and a
 * "nobody" user; without them the test says so and checks the fallback
 * (the check runs as ourselves).
 */
static void
test_check_as_user(void **state)
{
	struct gw_conf	*c;
	char		 text[1024], want[PATH_MAX + 1024];
	const char	*pw, *ini;

	(void)state;
	pw = put("pw", "secret\n", 0600);
	(void)snprintf(text, sizeof(text), "[gateway]\nuser = nobody\n"
	    MINIMAL "auth = inject\nusername = me\npassword_file = %s\n", pw);
	ini = put("as.ini", text, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		print_message("not root or no user nobody: checking as "
		    "ourselves only\n");
		assert_int_equal(conf_files_check_as(c, collect, NULL), 0);
		conf_unref(c);
		return;
	}
	assert_int_equal(conf_files_check(c, "root", collect, NULL), 0);
	assert_int_equal(conf_files_check_as(c, collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:10: password_file: %s: not "
	    "readable by user nobody (Permission denied)", ini, pw);
	assert_msg(0, want);
	/* we are still root afterwards: the child dropped, not us */
	assert_int_equal(geteuid(), 0);
	conf_unref(c);

	/* readable by nobody: passes */
	errs_clear();
	assert_int_equal(chown(pw, getpwnam("nobody")->pw_uid, (gid_t)-1), 0);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	assert_int_equal(conf_files_check_as(c, collect, NULL), 0);
	conf_unref(c);

	/* an unknown user is reported at its line */
	errs_clear();
	(void)snprintf(text, sizeof(text), "[gateway]\n"
	    "user = no-such-user-x\n" MINIMAL);
	ini = put("nouser.ini", text, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	assert_int_equal(conf_files_check_as(c, collect, NULL), 1);
	(void)snprintf(want, sizeof(want), "%s:2: user: no-such-user-x: no "
	    "such user", ini);
	assert_msg(0, want);
	conf_unref(c);
}

/* fill the stack below us, as earlier calls would leave it */
static void __attribute__((noinline))
stack_dirty(void)
{
	volatile unsigned char	 junk[64 * 1024];
	size_t			 i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0xff;
}

/*
 * SIGCHLD ignored by whoever started "smtpgate -t" (the disposition
 * survives exec): the kernel reaps the child by itself, waitpid() fails,
 * and the verdict must still be the child's, not stack garbage.
 */
static void
test_check_as_user_sigchld_ignored(void **state)
{
	struct gw_conf	*c;
	struct sigaction sa, old;
	char		 text[1024];
	const char	*pw, *ini;
	int		 n, bad;

	(void)state;
	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		print_message("not root or no user nobody: nothing to fork\n");
		return;
	}
	pw = put("pw-ign", "secret\n", 0600);
	assert_int_equal(chown(pw, getpwnam("nobody")->pw_uid, (gid_t)-1), 0);
	(void)snprintf(text, sizeof(text), "[gateway]\nuser = nobody\n"
	    MINIMAL "auth = inject\nusername = me\npassword_file = %s\n", pw);
	ini = put("ign.ini", text, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	stack_dirty();
	n = conf_files_check_as(c, collect, NULL);
	/* and the caller's disposition is left as it was */
	assert_int_equal(sigaction(SIGCHLD, &old, &sa), 0);
	bad = sa.sa_handler != SIG_IGN;
	conf_unref(c);
	assert_int_equal(n, 0);
	assert_int_equal(bad, 0);
	if (n != 0)
		print_errs();
	assert_int_equal(errs.n, 0);

	/* an unreadable file is still reported */
	assert_int_equal(chown(pw, 0, (gid_t)-1), 0);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	sa.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGCHLD, &sa, &old), 0);
	stack_dirty();
	n = conf_files_check_as(c, collect, NULL);
	assert_int_equal(sigaction(SIGCHLD, &old, NULL), 0);
	conf_unref(c);
	assert_int_equal(n, 1);
}

/*
 * Root without CAP_SETUID and CAP_SETGID (a container that dropped them):
 * start cannot become [gateway] user and stops.  -t must say so too, even
 * when the configuration names no file to check as that user.  In a child
 * process, so that the test keeps its capabilities.
 */
static void
test_check_as_user_cannot_drop(void **state)
{
	struct __user_cap_header_struct	 hdr;
	struct __user_cap_data_struct	 data[2];
	struct gw_conf			*c;
	const char			*ini;
	pid_t				 pid;
	int				 st, n;

	(void)state;
	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		print_message("not root or no user nobody: nothing to drop\n");
		return;
	}
	ini = put("nodrop.ini", "[gateway]\nuser = nobody\n" MINIMAL, 0644);
	assert_int_equal(conf_load(ini, &c, collect, NULL), 0);
	assert_int_equal(c->npaths, 0);
	if ((pid = fork()) == 0) {
		memset(&hdr, 0, sizeof(hdr));
		memset(data, 0, sizeof(data));
		hdr.version = _LINUX_CAPABILITY_VERSION_3;
		if (syscall(SYS_capget, &hdr, data) == -1)
			_exit(3);
		data[0].effective &= ~((1U << CAP_SETUID) | (1U << CAP_SETGID));
		data[0].permitted &= ~((1U << CAP_SETUID) | (1U << CAP_SETGID));
		data[0].inheritable = 0;
		if (syscall(SYS_capset, &hdr, data) == -1)
			_exit(3);
		n = conf_files_check_as(c, collect, NULL);
		_exit(n == 1 && errs.n == 1 && strstr(errs.msg[0],
		    "dropping privileges to nobody") != NULL ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	conf_unref(c);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* conf_command_word: the program a /bin/sh -c line starts */
static void
test_command_word(void **state)
{
	static const struct {
		const char	*cmd, *word, *err;
	} cases[] = {
		{ "/usr/local/bin/get-token provider", "/usr/local/bin/get-token",
		    NULL },
		{ "  get-token", "get-token", NULL },
		{ "echo x; exit 3", "echo", NULL },
		{ "exec /bin/cat /run/token", "/bin/cat", NULL },
		{ "A=1 B_2=x exec tool", "tool", NULL },
		{ "A=\"1 2\" tool", "", NULL },		/* cannot follow */
		{ "$HOME/get", "", NULL },
		{ "'/opt/my tool'", "", NULL },
		{ "(cd /; tool)", "", NULL },
		{ "if true; then x; fi", "", NULL },
		{ "tool>out", "", NULL },
		{ "2x=1 tool", "", NULL },		/* not an assignment */
		{ "exec -a name tool", "", NULL },	/* an option: stop */
		{ "", "", "no program to run" },
		{ "  \t ", "", "no program to run" },
		{ "A=1", "", "no program to run" },
		{ "exec", "", "no program to run" },
	};
	char		 word[64];
	const char	*e;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		e = conf_command_word(cases[i].cmd, word, sizeof(word));
		if ((e == NULL) != (cases[i].err == NULL) ||
		    (e != NULL && strcmp(e, cases[i].err) != 0) ||
		    strcmp(word, cases[i].word) != 0)
			fail_msg("\"%s\": got \"%s\" (%s), want \"%s\" (%s)",
			    cases[i].cmd, word, e ? e : "ok", cases[i].word,
			    cases[i].err ? cases[i].err : "ok");
	}
	assert_non_null(conf_command_word("averyveryverylongprogramname",
	    word, 8));
	assert_string_equal(word, "");
}

/* the fix for an unknown key: only where the key means that thing */
static void
test_key_hint(void **state)
{
	static const struct {
		const char	*kind, *key, *want;
	} cases[] = {
		{ "upstream", "password", "put the password in a file (mode "
		    "0600) and name it in password_file" },
		{ "upstream", "Password", "put the password in a file (mode "
		    "0600) and name it in password_file" },
		{ "upstream", "user", "use username" },
		{ "upstream", "server", "use host (and port)" },
		{ "listener", "port", "use listen = ADDRESS:PORT" },
		{ "gateway", "password", NULL },
		{ "listener", "user", NULL },
		{ "upstream", "colour", NULL },
		{ "upstream", "", NULL },
	};
	const char	*got;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = conf_key_hint(cases[i].kind, cases[i].key);
		if ((got == NULL) != (cases[i].want == NULL) ||
		    (got != NULL && strcmp(got, cases[i].want) != 0))
			fail_msg("[%s] %s: got %s, want %s", cases[i].kind,
			    cases[i].key, got ? got : "NULL",
			    cases[i].want ? cases[i].want : "NULL");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fifo_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_writable_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_paths_listed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_token_command_checked,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_gone, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_check_as_user, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_check_as_user_sigchld_ignored, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_check_as_user_cannot_drop, setup, teardown),
		cmocka_unit_test(test_command_word),
		cmocka_unit_test(test_key_hint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
