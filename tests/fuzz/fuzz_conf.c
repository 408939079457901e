/*
 * fuzz_conf - the configuration loader, conf_load(), on arbitrary INI text.
 *
 * conf_load() takes a path, so the input is written to a memfd and loaded
 * as /proc/self/fd/N (nothing touches the disk, and every process has its
 * own).  Leaks are LeakSanitizer's to find, at exit under libFuzzer.
 *
 * Invariants: the return value is the number of error callbacks; a
 * snapshot comes back exactly when there were none; every message is
 * "PATH:LINE: ..." with no control character, so a hostile file cannot
 * forge or split log lines; a snapshot has its counts within bounds,
 * terminated strings, resolved TLS modes, and each listener points at an
 * upstream of the same snapshot with the name it asked for; every path in
 * paths[] points into the snapshot at a non-empty value.
 *
 * An accepted snapshot goes through conf_print() ("smtpgate -n"): it
 * prints, the text loads again without an error, and prints the same.
 *
 * The same input, as one command line, goes to conf_command_word()
 * (token_command's program): NULL or a non-empty error; a word found is
 * terminated, a substring of the input, and free of blanks and shell
 * syntax.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_files.h"
#include "conf/conf_print.h"
#include "fuzz.h"

#define ERR_MSG_MAX	(PATH_MAX + 1024)	/* a generous bound */

struct errs {
	const char	*path;
	int		 n;
};

static void	on_error(void *, const char *);
static void	check_str(const char *, size_t, const char *);
static void	check_conf(const struct gw_conf *);
static void	check_command_word(const uint8_t *, size_t);
static void	check_print(const struct gw_conf *);
static void	memfd_put(int *, char *, size_t, const void *, size_t);

/* the error callback: count and check one message */
static void
on_error(void *arg, const char *msg)
{
	struct errs		*e = arg;
	const unsigned char	*u;
	size_t			 pl = strlen(e->path), n;

	e->n++;
	FUZZ_CHECK(msg != NULL, "NULL message");
	n = strnlen(msg, ERR_MSG_MAX);
	FUZZ_CHECK(n < ERR_MSG_MAX, "message of %zu octets or more", n);
	FUZZ_CHECK(n > pl + 2 && strncmp(msg, e->path, pl) == 0 &&
	    msg[pl] == ':' && msg[pl + 1] >= '0' && msg[pl + 1] <= '9',
	    "message not \"FILE:LINE: ...\": %s", msg);
	for (u = (const unsigned char *)msg; *u != '\0'; u++)
		FUZZ_CHECK(*u >= 0x20 && *u != 0x7f,
		    "control 0x%02x in message: %s", *u, msg);
}

/* a NUL-terminated string within its array */
static void
check_str(const char *s, size_t size, const char *what)
{
	FUZZ_CHECK(memchr(s, '\0', size) != NULL, "%s not terminated", what);
}

/* an upstream list: 1..CONF_MAX_UPLIST names, each resolved to itself */
static void
check_uplist(const struct gw_conf *c, const struct conf_uplist *ul,
    const char *owner)
{
	size_t	 i;

	FUZZ_CHECK(ul->n >= 1 && ul->n <= CONF_MAX_UPLIST, "%s: %zu "
	    "upstreams in the list", owner, ul->n);
	for (i = 0; i < ul->n; i++) {
		check_str(ul->names[i], sizeof(ul->names[i]), "list name");
		FUZZ_CHECK(ul->up[i] != NULL && ul->up[i] >= c->upstreams &&
		    ul->up[i] < c->upstreams + c->nupstreams &&
		    strcmp(ul->up[i]->name, ul->names[i]) == 0,
		    "%s: upstream %zu not resolved", owner, i);
	}
}

static void
check_conf(const struct gw_conf *c)
{
	const struct conf_listener	*l;
	const struct conf_upstream	*u;
	size_t				 i;

	FUZZ_CHECK(c->refcnt == 1, "refcnt %d", c->refcnt);
	FUZZ_CHECK(c->nlisteners <= CONF_MAX_LISTENERS &&
	    c->nupstreams <= CONF_MAX_UPSTREAMS, "%zu listeners, %zu upstreams",
	    c->nlisteners, c->nupstreams);
	check_str(c->hostname, sizeof(c->hostname), "hostname");
	check_str(c->user, sizeof(c->user), "user");
	for (i = 0; i < c->nupstreams; i++) {
		u = &c->upstreams[i];
		check_str(u->name, sizeof(u->name), "upstream name");
		check_str(u->host, sizeof(u->host), "host");
		check_str(u->tlsset.ca_file, sizeof(u->tlsset.ca_file), "ca_file");
		check_str(u->tlsset.tls_name, sizeof(u->tlsset.tls_name), "tls_name");
		check_str(u->helo_name, sizeof(u->helo_name), "helo_name");
		FUZZ_CHECK(u->host[0] != '\0', "upstream %s without host",
		    u->name);
		/* "auto" must have been resolved */
		FUZZ_CHECK(u->tls >= TLS_NONE && u->tls <= TLS_IMPLICIT,
		    "upstream %s tls %d", u->name, (int)u->tls);
		FUZZ_CHECK(conf_find_upstream(c, u->name) == u,
		    "upstream %s not found by name", u->name);
	}
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		check_str(l->name, sizeof(l->name), "listener name");
		check_str(l->banner, sizeof(l->banner), "banner");
		check_str(l->upstream_name, sizeof(l->upstream_name),
		    "upstream name");
		FUZZ_CHECK(l->nlisten >= 1 && l->nlisten <= CONF_MAX_LISTEN &&
		    l->nallow <= CONF_MAX_ALLOW, "listener %s: %zu listen, "
		    "%zu allow", l->name, l->nlisten, l->nallow);
		FUZZ_CHECK(l->upstream != NULL &&
		    l->upstream >= c->upstreams &&
		    l->upstream < c->upstreams + c->nupstreams &&
		    strcmp(l->upstream->name, l->upstream_name) == 0,
		    "listener %s: upstream not resolved", l->name);
		FUZZ_CHECK(l->bare_newline == BARE_NEWLINE_REJECT ||
		    l->bare_newline == BARE_NEWLINE_NORMALIZE,
		    "bare_newline %d", (int)l->bare_newline);
		check_uplist(c, &l->upstreams, l->name);
		FUZZ_CHECK(l->upstream == l->upstreams.up[0],
		    "listener %s: upstream is not the list's first", l->name);
		FUZZ_CHECK(l->delivery != DELIVERY_QUEUE ||
		    c->queue_dir[0] == '/', "listener %s: queue without "
		    "queue_dir", l->name);
	}
	FUZZ_CHECK(c->nroutes <= CONF_MAX_ROUTES, "%zu routes", c->nroutes);
	for (i = 0; i < c->nroutes; i++) {
		check_uplist(c, &c->routes[i].upstreams, c->routes[i].name);
		FUZZ_CHECK(c->routes[i].nsenders >= 1 &&
		    c->routes[i].nsenders <= CONF_ROUTE_SENDERS,
		    "route %s: %zu senders", c->routes[i].name,
		    c->routes[i].nsenders);
	}
}

/* conf_command_word on the input as one command line */
static void
check_command_word(const uint8_t *data, size_t size)
{
	char		 cmd[CONF_CMD_MAX], word[64];
	const char	*e;
	size_t		 n = size < sizeof(cmd) - 1 ? size : sizeof(cmd) - 1;

	memcpy(cmd, data, n);
	cmd[n] = '\0';
	memset(word, 'x', sizeof(word));
	e = conf_command_word(cmd, word, sizeof(word));
	FUZZ_CHECK(memchr(word, '\0', sizeof(word)) != NULL,
	    "word not terminated");
	if (e != NULL) {
		FUZZ_CHECK(*e != '\0' && word[0] == '\0', "error \"%s\" with "
		    "word \"%s\"", e, word);
		return;
	}
	FUZZ_CHECK(word[0] == '\0' || (strstr(cmd, word) != NULL &&
	    strpbrk(word, " \t'\"`$\\|&;<>(){}*?[]~#=!") == NULL),
	    "bad word \"%s\" from \"%s\"", word, cmd);
}

/* data into the memfd *fd (made on first use), known as path */
static void
memfd_put(int *fd, char *path, size_t plen, const void *data, size_t size)
{
	size_t	 off = 0;
	ssize_t	 n;

	if (*fd == -1) {
		if ((*fd = memfd_create("fuzz_conf", MFD_CLOEXEC)) == -1) {
			perror("memfd_create");
			abort();
		}
		/* a memfd is created 0777; conf_load refuses group-writable */
		if (fchmod(*fd, 0600) == -1) {
			perror("fchmod");
			abort();
		}
		(void)snprintf(path, plen, "/proc/self/fd/%d", *fd);
	}
	if (ftruncate(*fd, 0) == -1) {
		perror("ftruncate");
		abort();
	}
	while (off < size) {
		if ((n = pwrite(*fd, (const char *)data + off, size - off,
		    (off_t)off)) <= 0) {
			perror("pwrite");
			abort();
		}
		off += (size_t)n;
	}
}

/* conf_print into a new string */
static char *
print_conf(const struct gw_conf *c)
{
	char	*text = NULL, why[256];
	size_t	 len = 0;
	FILE	*fp;
	int	 r;

	if ((fp = open_memstream(&text, &len)) == NULL) {
		perror("open_memstream");
		abort();
	}
	r = conf_print(c, fp, why, sizeof(why));
	(void)fclose(fp);
	FUZZ_CHECK(r == 0, "conf_print: %s", why);
	return text;
}

/* "smtpgate -n" of an accepted snapshot loads again and prints the same */
static void
check_print(const struct gw_conf *c)
{
	static int	 fd = -1;
	static char	 path[64];
	struct gw_conf	*c2 = NULL;
	struct errs	 e;
	char		*one, *two;

	one = print_conf(c);
	memfd_put(&fd, path, sizeof(path), one, strlen(one));
	e.path = path;
	e.n = 0;
	FUZZ_CHECK(conf_load(path, &c2, on_error, &e) == 0 && c2 != NULL,
	    "the printed configuration does not load:\n%s", one);
	two = print_conf(c2);
	FUZZ_CHECK(strcmp(one, two) == 0, "printed twice, not the same:\n%s"
	    "\n----\n%s", one, two);
	conf_unref(c2);
	free(one);
	free(two);
}

/* LLVMFuzzerTestOneInput - the input as an INI file */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	 fd = -1;
	static char	 path[64];
	struct gw_conf	*c = NULL;
	struct errs	 e;
	size_t		 i;
	int		 r;

	memfd_put(&fd, path, sizeof(path), data, size);
	e.path = path;
	e.n = 0;
	r = conf_load(path, &c, on_error, &e);
	FUZZ_CHECK(r == e.n, "returned %d after %d messages", r, e.n);
	FUZZ_CHECK((r == 0) == (c != NULL), "returned %d with snapshot %p", r,
	    (void *)c);
	if (c != NULL) {
		check_conf(c);
		for (i = 0; i < c->npaths; i++)
			FUZZ_CHECK(c->paths[i].value >= (const char *)c &&
			    c->paths[i].value < (const char *)(c + 1) &&
			    c->paths[i].value[0] != '\0' &&
			    c->paths[i].key != NULL, "paths[%zu]", i);
		check_print(c);
		FUZZ_CHECK(conf_ref(c) == c && c->refcnt == 2, "conf_ref");
		conf_unref(c);
		conf_unref(c);
	}
	check_command_word(data, size);
	return 0;
}
