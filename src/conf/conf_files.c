/*
 * conf_files.c - the configuration file opened safely, and the files and
 * the command it names checked as the user the gateway runs as (see
 * conf_files.h).
 *
 * Why a check as the user: start-up reads the configuration, the TLS
 * files, DKIM keys and users_file as root, then drops to [gateway] user;
 * password_file, token_file and token_command are used at every AUTH, and
 * everything is read again on SIGHUP, all as that user.  A file only root
 * can read used to pass -t and start, and then every message got 451.
 * Opening each file as the user is the exact test (access(2) would miss
 * ACLs and LSM rules that open(2) applies).
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf_files.h"
#include "util/str.h"

/* what /bin/sh (dash) searches when PATH is unset */
#define SH_DEFAULT_PATH	"/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
			    "/usr/bin:/sbin:/bin"
/* characters that make a first word something other than a program name */
#define SH_META		"'\"`$\\|&;<>(){}*?[]~#=!"
#define MSG_MAX		(PATH_MAX * 2 + 256)
#define CHILD_OUT_MAX	(64 * 1024)	/* messages from the -t child */

static void	 report(conf_error_fn, void *, const char *, int,
		    const char *, ...) __attribute__((format(printf, 5, 6)));
static const char *file_type(mode_t);
static int	 check_path(const struct gw_conf *, const struct conf_path *,
		    const char *, conf_error_fn, void *);
static int	 check_command(const struct gw_conf *,
		    const struct conf_path *, const char *, conf_error_fn,
		    void *);
static int	 sh_builtin(const char *);
static int	 child_check(const struct gw_conf *, conf_error_fn, void *);
static void	 to_pipe(void *, const char *);

/* one message "FILE:LINE: text" to err */
static void
report(conf_error_fn err, void *arg, const char *file, int line,
    const char *fmt, ...)
{
	char	 text[MSG_MAX], msg[MSG_MAX + PATH_MAX + 32];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s:%d: %s", file, line, text);
	if (err != NULL)
		err(arg, msg);
}

static const char *
file_type(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISSOCK(m))
		return "a socket";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	return "not a plain file";
}

/* conf_file_open - see conf_files.h */
FILE *
conf_file_open(const char *path, char *why, size_t wlen)
{
	struct stat	 st;
	FILE		*fp;
	int		 fd, fl;

	/*
	 * O_NONBLOCK: opening a FIFO for reading blocks until a writer
	 * comes, which at SIGHUP would stop every session.  Symbolic links
	 * are followed (package managers and configuration tools use
	 * them); what is checked is the file actually opened.
	 */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY))
	    == -1) {
		(void)snprintf(why, wlen, "cannot open: %s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) == -1) {
		(void)snprintf(why, wlen, "cannot open: %s", strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)snprintf(why, wlen, "not a regular file (%s)",
		    file_type(st.st_mode));
		goto fail;
	}
	/*
	 * Whoever can write the file chooses the upstream, and through
	 * token_command a program the gateway runs: group- and
	 * world-writable are both refused (docs/operations.md).
	 */
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		(void)snprintf(why, wlen, "writable by %s: it can name a "
		    "command to run (token_command); chmod go-w %s",
		    (st.st_mode & S_IWOTH) ? "others" : "group", path);
		goto fail;
	}
	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == -1 ||
	    (fp = fdopen(fd, "r")) == NULL) {
		(void)snprintf(why, wlen, "cannot open: %s", strerror(errno));
		goto fail;
	}
	return fp;
fail:
	(void)close(fd);
	return NULL;
}

/* a file or directory: open it as the gateway would */
static int
check_path(const struct gw_conf *c, const struct conf_path *p,
    const char *user, conf_error_fn err, void *arg)
{
	int	 fd, e, dir = p->kind == CONF_PATH_DIR;

	fd = open(p->value, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY |
	    (dir ? O_DIRECTORY : 0));
	e = errno;
	/* the certificates in a directory are looked up by name: x needed */
	if (fd != -1 && dir && access(p->value, R_OK | X_OK) == -1) {
		e = errno;
		(void)close(fd);
		fd = -1;
	}
	if (fd == -1) {
		report(err, arg, c->path, p->line, "%s: %s: not readable by "
		    "user %s (%s)", p->key, p->value, user, strerror(e));
		return 1;
	}
	(void)close(fd);
	return 0;
}

/* dash's special and regular built-ins: nothing to find in PATH */
static int
sh_builtin(const char *w)
{
	static const char *const names[] = {
		".", ":", "[", "alias", "bg", "break", "cd", "command",
		"continue", "echo", "eval", "exit", "export", "false", "fg",
		"getopts", "hash", "jobs", "kill", "local", "printf", "pwd",
		"read", "readonly", "return", "set", "shift", "test", "times",
		"trap", "true", "type", "ulimit", "umask", "unalias", "unset",
		"wait", NULL
	};
	size_t	 i;

	for (i = 0; names[i] != NULL; i++)
		if (strcmp(w, names[i]) == 0)
			return 1;
	return 0;
}

/*
 * token_command: the program it starts must exist and be executable by
 * the user, or every AUTH fails with "exit status 127".  A path is
 * checked as it is; a bare name is looked up in PATH as /bin/sh will.
 */
static int
check_command(const struct gw_conf *c, const struct conf_path *p,
    const char *user, conf_error_fn err, void *arg)
{
	struct stat	 st;
	const char	*e, *path, *d, *colon;
	char		 word[PATH_MAX], cand[PATH_MAX * 2];
	size_t		 dl;
	int		 seen = 0;

	if ((e = conf_command_word(p->value, word, sizeof(word))) != NULL) {
		report(err, arg, c->path, p->line, "%s: %s", p->key, e);
		return 1;
	}
	/* shell syntax in the first word: what runs is not knowable here */
	if (word[0] == '\0' || sh_builtin(word))
		return 0;
	if (strchr(word, '/') != NULL) {
		/* the gateway's working directory is not part of its contract */
		if (word[0] != '/') {
			report(err, arg, c->path, p->line, "%s: %s: a relative "
			    "path; use an absolute path", p->key, word);
			return 1;
		}
		if (stat(word, &st) == -1) {
			report(err, arg, c->path, p->line, "%s: %s: %s",
			    p->key, word, strerror(errno));
			return 1;
		}
		if (!S_ISREG(st.st_mode) || access(word, X_OK) == -1) {
			report(err, arg, c->path, p->line, "%s: %s: not "
			    "executable by user %s (%s)", p->key, word, user,
			    S_ISREG(st.st_mode) ? strerror(errno) :
			    file_type(st.st_mode));
			return 1;
		}
		return 0;
	}
	if ((path = getenv("PATH")) == NULL)
		path = SH_DEFAULT_PATH;
	for (d = path;; d = colon + 1) {
		colon = strchr(d, ':');
		dl = colon != NULL ? (size_t)(colon - d) : strlen(d);
		/* an empty entry is the working directory: not looked at */
		if (dl > 0 && (size_t)snprintf(cand, sizeof(cand), "%.*s/%s",
		    (int)dl, d, word) < sizeof(cand) &&
		    stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(cand, X_OK) == 0)
				return 0;
			seen = 1;
		}
		if (colon == NULL)
			break;
	}
	if (seen)
		report(err, arg, c->path, p->line, "%s: %s: not executable by "
		    "user %s (PATH=%s)", p->key, word, user, path);
	else
		report(err, arg, c->path, p->line, "%s: %s: not found in "
		    "PATH=%s", p->key, word, path);
	return 1;
}

/* conf_files_check - see conf_files.h */
int
conf_files_check(const struct gw_conf *c, const char *user,
    conf_error_fn err, void *arg)
{
	const struct conf_path	*p;
	size_t			 i;
	int			 n = 0;

	for (i = 0; i < c->npaths; i++) {
		p = &c->paths[i];
		if (p->kind == CONF_PATH_COMMAND)
			n += check_command(c, p, user, err, arg);
		else
			n += check_path(c, p, user, err, arg);
	}
	return n;
}

/* conf_drop_privileges - see conf_files.h */
int
conf_drop_privileges(const char *user, char *why, size_t wlen)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		(void)snprintf(why, wlen, "user %s: %s", user,
		    errno != 0 ? strerror(errno) : "no such user");
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1) {
		(void)snprintf(why, wlen, "dropping privileges to %s: %s",
		    user, strerror(errno));
		return -1;
	}
	return 0;
}

/* the -t child's error callback: one message per line into the pipe */
static void
to_pipe(void *arg, const char *msg)
{
	int	*fd = arg;
	char	 line[MSG_MAX + PATH_MAX + 64];
	size_t	 len, off = 0;
	ssize_t	 w;

	len = (size_t)snprintf(line, sizeof(line), "%s\n", msg);
	if (len >= sizeof(line))
		len = sizeof(line) - 1;
	while (off < len) {
		if ((w = write(*fd, line + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		off += (size_t)w;
	}
}

/*
 * The check as conf->user from a root process: a child drops to the user
 * (the parent keeps root for whatever -t does next) and sends its messages
 * back through a pipe, so that they reach err like every other message.
 */
static int
child_check(const struct gw_conf *c, conf_error_fn err, void *arg)
{
	struct sigaction sa, osa;
	char	*buf, why[512], *line, *nl;
	size_t	 len = 0;
	ssize_t	 r;
	pid_t	 pid, w;
	int	 p[2], st = 0, n = 0;

	if ((buf = malloc(CHILD_OUT_MAX + 1)) == NULL || pipe2(p, O_CLOEXEC)
	    == -1) {
		free(buf);
		report(err, arg, c->path, c->user_line, "user: cannot check "
		    "the files as %s: %s", c->user, strerror(errno));
		return 1;
	}
	/*
	 * SIGCHLD ignored by whoever started us (it survives exec) would
	 * have the kernel reap the child, and waitpid() no status to give.
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	(void)sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGCHLD, &sa, &osa);
	(void)fflush(NULL);
	if ((pid = fork()) == -1) {
		report(err, arg, c->path, c->user_line, "user: cannot check "
		    "the files as %s: fork: %s", c->user, strerror(errno));
		(void)sigaction(SIGCHLD, &osa, NULL);
		(void)close(p[0]);
		(void)close(p[1]);
		free(buf);
		return 1;
	}
	if (pid == 0) {
		(void)close(p[0]);
		if (conf_drop_privileges(c->user, why, sizeof(why)) == -1) {
			report(to_pipe, &p[1], c->path, c->user_line,
			    "user: %s", why + (strncmp(why, "user ", 5) == 0 ?
			    5 : 0));
			_exit(1);
		}
		_exit(conf_files_check(c, c->user, to_pipe, &p[1]) != 0);
	}
	(void)close(p[1]);
	for (;;) {
		r = read(p[0], buf + len, CHILD_OUT_MAX - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == CHILD_OUT_MAX)
			break;
	}
	(void)close(p[0]);
	while ((w = waitpid(pid, &st, 0)) == -1 && errno == EINTR)
		;
	(void)sigaction(SIGCHLD, &osa, NULL);
	if (w == -1)
		st = -1;	/* no status: not a clean exit */
	buf[len] = '\0';
	for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (err != NULL)
			err(arg, line);
		n++;
	}
	free(buf);
	/* a child that died before saying why must still fail the check */
	if (n == 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
		report(err, arg, c->path, c->user_line, "user: the check as %s "
		    "failed (status 0x%x)", c->user, (unsigned)st);
		n = 1;
	}
	return n;
}

/* conf_self_name - see conf_files.h */
const char *
conf_self_name(char *buf, size_t len)
{
	struct passwd	*pw;

	if ((pw = getpwuid(geteuid())) != NULL)
		(void)snprintf(buf, len, "%s", pw->pw_name);
	else
		(void)snprintf(buf, len, "%ld", (long)geteuid());
	return buf;
}

/* conf_files_check_as - see conf_files.h */
int
conf_files_check_as(const struct gw_conf *c, conf_error_fn err, void *arg)
{
	char		 self[64];

	if (geteuid() == 0 && c->user[0] != '\0') {
		errno = 0;
		if (getpwnam(c->user) == NULL) {
			report(err, arg, c->path, c->user_line, "user: %s: %s",
			    c->user, errno != 0 ? strerror(errno) :
			    "no such user");
			return 1;
		}
		/*
		 * Even with no file to check: start stops when it cannot
		 * become the user (root without CAP_SETUID, in a container).
		 */
		return child_check(c, err, arg);
	}
	/* not root: start-up keeps running as this user, whatever user says */
	return conf_files_check(c, conf_self_name(self, sizeof(self)), err,
	    arg);
}

/* conf_command_word - see conf_files.h */
const char *
conf_command_word(const char *cmd, char *word, size_t len)
{
	static const char *const reserved[] = {
		"if", "for", "while", "until", "case", "{", "!", NULL
	};
	const char	*s = cmd, *e, *eq;
	size_t		 n, i;

	if (len == 0)
		return "no room for the program name";
	word[0] = '\0';
	for (;;) {
		s += strspn(s, " \t");
		if (*s == '\0')
			return "no program to run";
		e = s + strcspn(s, " \t");
		n = (size_t)(e - s);
		/* NAME=value before the program sets its environment */
		eq = memchr(s, '=', n);
		if (eq != NULL && eq > s && (*s < '0' || *s > '9') &&
		    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
		    "wxyz0123456789_") == (size_t)(eq - s)) {
			/* a quoted value may hold blanks: cannot follow */
			if (strcspn(eq + 1, "'\"`$\\") < (size_t)(e - eq - 1))
				return NULL;
			s = e;
			continue;
		}
		if (n == 4 && strncmp(s, "exec", 4) == 0) {
			s = e;
			continue;
		}
		break;
	}
	for (i = 0; reserved[i] != NULL; i++)
		if (strlen(reserved[i]) == n && strncmp(s, reserved[i], n) == 0)
			return NULL;
	/* "exec -a NAME prog": an option is not the program */
	if (strcspn(s, SH_META) < n || *s == '-')
		return NULL;
	if (n >= len)
		return "program name too long";
	memcpy(word, s, n);
	word[n] = '\0';
	return NULL;
}
