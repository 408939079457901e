/*
 * users - the users_file of auth = map (see users.h).
 *
 * Why these choices: only yescrypt and sha512-crypt, because the older
 * crypt(3) methods (DES, MD5) are cheap to brute-force and a gateway
 * that silently accepted them would keep weak hashes alive.  The secret
 * is the rest of the line so that upstream passwords with ':' need no
 * escaping.  Verification of an unknown user runs the hash of the first
 * entry, so the answer's timing does not say whether the user exists.
 */
#include <sys/stat.h>

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/users.h"

struct users {
	struct users_entry	*v;
	size_t			 n;
	size_t			 cap;
};

static const char	*check_name(const char *, size_t, int);
static const char	*check_hash(const char *, size_t);
static const char	*check_secret(const char *, size_t);
static int		 users_add(struct users *, const struct users_entry *);
static int		 ct_equal(const char *, const char *);
static void		 load_err(users_error_fn, void *, const char *,
			    unsigned, const char *, ...)
			    __attribute__((format(printf, 5, 6)));

/* a user name: it appears in logs (local) and on the wire (upstream) */
static const char *
check_name(const char *p, size_t len, int upstream)
{
	size_t	 i;

	if (len == 0)
		return upstream ? "empty upstream user" : "empty local user";
	if (len > USERS_NAME_MAX)
		return upstream ? "upstream user too long" :
		    "local user too long";
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] <= 0x20 || p[i] == 0x7f)
			return upstream ? "space or control character in the "
			    "upstream user" : "space or control character in "
			    "the local user";
	return NULL;
}

/*
 * The setting decides the method: "$y$" yescrypt, "$6$" sha512-crypt.
 * Only the crypt(3) alphabet (and sha512's "rounds=N$") may follow.
 */
static const char *
check_hash(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0)
		return "empty hash";
	if (len > USERS_HASH_MAX)
		return "hash too long";
	if (len < 4 || (memcmp(p, "$y$", 3) != 0 && memcmp(p, "$6$", 3) != 0))
		return "hash is not yescrypt ($y$) or sha512-crypt ($6$)";
	for (i = 3; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '/' ||
		    c == '$' || c == '='))
			return "hash holds a character outside crypt(3)'s "
			    "alphabet";
	}
	/* a setting without the hash part would never match anything */
	if (p[len - 1] == '$')
		return "hash is only a salt";
	return NULL;
}

static const char *
check_secret(const char *p, size_t len)
{
	size_t	 i;

	if (len == 0)
		return "empty upstream secret";
	if (len > USERS_SECRET_MAX)
		return "upstream secret too long";
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return "control character in the upstream secret";
	return NULL;
}

/* users_parse_line - one line into e; see users.h */
const char *
users_parse_line(const char *line, size_t len, struct users_entry *e,
    int *skip)
{
	const char	*f[3], *err, *end = line + len, *c1, *c2, *c3;
	size_t		 flen[3], i;

	*skip = 0;
	for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	if (i == len || line[i] == '#') {
		*skip = 1;
		return NULL;
	}
	explicit_bzero(e, sizeof(*e));
	if (memchr(line, '\0', len) != NULL)
		return "NUL in line";
	if ((c1 = memchr(line, ':', len)) == NULL ||
	    (c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1))) == NULL ||
	    (c3 = memchr(c2 + 1, ':', (size_t)(end - c2 - 1))) == NULL)
		return "expected localuser:hash:upstream-user:upstream-secret";
	f[0] = line;
	flen[0] = (size_t)(c1 - line);
	f[1] = c1 + 1;
	flen[1] = (size_t)(c2 - c1 - 1);
	f[2] = c2 + 1;
	flen[2] = (size_t)(c3 - c2 - 1);
	if ((err = check_name(f[0], flen[0], 0)) != NULL)
		return err;
	if ((err = check_hash(f[1], flen[1])) != NULL)
		return err;
	if ((err = check_name(f[2], flen[2], 1)) != NULL)
		return err;
	if ((err = check_secret(c3 + 1, (size_t)(end - c3 - 1))) != NULL)
		return err;
	memcpy(e->user, f[0], flen[0]);
	memcpy(e->hash, f[1], flen[1]);
	memcpy(e->up_user, f[2], flen[2]);
	memcpy(e->up_secret, c3 + 1, (size_t)(end - c3 - 1));
	return NULL;
}

static void
load_err(users_error_fn err, void *arg, const char *path, unsigned line,
    const char *fmt, ...)
{
	char	 msg[PATH_MAX + 256], why[256];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s:%u: %s", path, line, why);
	err(arg, msg);
}

static int
users_add(struct users *t, const struct users_entry *e)
{
	struct users_entry	*nv;
	size_t			 ncap;

	if (t->n == t->cap) {
		ncap = t->cap == 0 ? 16 : t->cap * 2;
		if ((nv = calloc(ncap, sizeof(*nv))) == NULL)
			return -1;
		/* copy rather than realloc: the old copy must be wiped */
		if (t->n > 0)
			memcpy(nv, t->v, t->n * sizeof(*nv));
		if (t->v != NULL) {
			explicit_bzero(t->v, t->n * sizeof(*t->v));
			free(t->v);
		}
		t->v = nv;
		t->cap = ncap;
	}
	t->v[t->n++] = *e;
	return 0;
}

/*
 * users_open - path opened for reading, if it is a regular file closed
 * to group and others; NULL after reporting why
 */
static FILE *
users_open(const char *path, users_error_fn err, void *arg)
{
	struct stat	 st;
	FILE		*fp;
	int		 fd;

	/* O_NONBLOCK: a FIFO put there must not hang us in open(2) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		load_err(err, arg, path, 0, "%s", strerror(errno));
		return NULL;
	}
	/* checked on the open file: no window between check and read */
	if (fstat(fd, &st) == -1) {
		load_err(err, arg, path, 0, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		load_err(err, arg, path, 0, "not a regular file");
		close(fd);
		return NULL;
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		load_err(err, arg, path, 0, "%s is accessible by group or "
		    "others; chmod 600 %s", path, path);
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		load_err(err, arg, path, 0, "%s", strerror(errno));
		close(fd);
		return NULL;
	}
	return fp;
}

/*
 * users_take - e added to t: 0, or -1 and why not into why (a duplicate,
 * over USERS_MAX, out of memory)
 */
static int
users_take(struct users *t, const struct users_entry *e, char *why,
    size_t whylen)
{
	size_t	i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].user, e->user) == 0) {
			(void)snprintf(why, whylen, "duplicate user %s",
			    e->user);
			return -1;
		}
	if (t->n >= USERS_MAX) {
		(void)snprintf(why, whylen, "more than %d users", USERS_MAX);
		return -1;
	}
	if (users_add(t, e) == -1) {
		(void)snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}

/* users_load - read and check a whole users_file */
struct users *
users_load(const char *path, users_error_fn err, void *arg)
{
	struct users		*t;
	struct users_entry	 e;
	char			 line[USERS_LINE_MAX + 1];
	char			 twhy[64 + USERS_NAME_MAX];
	/* stdio's own buffer would keep the secrets after fclose: ours */
	static char		 iobuf[BUFSIZ];
	const char		*why;
	FILE			*fp;
	size_t			 len;
	unsigned		 lineno = 0, nerr = 0;
	int			 skip, c;

	if ((fp = users_open(path, err, arg)) == NULL)
		return NULL;
	(void)setvbuf(fp, iobuf, _IOFBF, sizeof(iobuf));
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		load_err(err, arg, path, 0, "out of memory");
		fclose(fp);
		explicit_bzero(iobuf, sizeof(iobuf));
		return NULL;
	}
	while (fgets(line, sizeof(line), fp) != NULL) {
		lineno++;
		len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(fp)) {
			/* an over-long line: report it, skip its rest */
			load_err(err, arg, path, lineno, "line longer than %d "
			    "octets", USERS_LINE_MAX - 1);
			nerr++;
			explicit_bzero(line, sizeof(line));
			while ((c = getc(fp)) != EOF && c != '\n')
				;
			continue;
		}
		why = users_parse_line(line, len, &e, &skip);
		explicit_bzero(line, sizeof(line));
		if (skip)
			continue;
		if (why != NULL) {
			load_err(err, arg, path, lineno, "%s", why);
			nerr++;
			continue;
		}
		if (users_take(t, &e, twhy, sizeof(twhy)) == -1) {
			load_err(err, arg, path, lineno, "%s", twhy);
			nerr++;
		}
		explicit_bzero(&e, sizeof(e));
	}
	if (ferror(fp)) {
		load_err(err, arg, path, lineno, "read error");
		nerr++;
	}
	fclose(fp);
	explicit_bzero(iobuf, sizeof(iobuf));
	if (nerr == 0 && t->n == 0) {
		load_err(err, arg, path, 0, "no users");
		nerr++;
	}
	if (nerr > 0) {
		users_free(t);
		return NULL;
	}
	return t;
}

/* users_free - wipe and free */
void
users_free(struct users *t)
{
	if (t == NULL)
		return;
	if (t->v != NULL) {
		explicit_bzero(t->v, t->cap * sizeof(*t->v));
		free(t->v);
	}
	free(t);
}

/* users_count - entries in the table */
size_t
users_count(const struct users *t)
{
	return t->n;
}

/* both strings have the same length, checked in constant time */
static int
ct_equal(const char *a, const char *b)
{
	size_t			 la = strlen(a), lb = strlen(b), i;
	volatile unsigned char	 d = 0;

	if (la != lb)
		return 0;
	for (i = 0; i < la; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* users_lookup - user's entry, and the hash to run for it */
const struct users_entry *
users_lookup(const struct users *t, const char *user, const char **hash)
{
	size_t	 i;

	*hash = NULL;
	if (t == NULL || t->n == 0)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].user, user) == 0) {
			*hash = t->v[i].hash;
			return &t->v[i];
		}
	/*
	 * An unknown user costs the same as a known one: hash against the
	 * first entry's setting, and throw the result away.
	 */
	*hash = t->v[0].hash;
	return NULL;
}

/* users_hash_match - does pass hash to hash?  Safe on any thread */
int
users_hash_match(const char *hash, const char *pass)
{
	/* crypt_rn's scratch space is large (about 32 KiB): not on the stack */
	struct crypt_data	*cd;
	const char		*h;
	int			 ok;

	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return -1;
	h = crypt_rn(pass, hash, cd, sizeof(*cd));
	ok = h != NULL && h[0] != '*' && ct_equal(h, hash);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}

/* users_verify - the entry of user if pass matches its hash */
const struct users_entry *
users_verify(const struct users *t, const char *user, const char *pass)
{
	const struct users_entry	*e;
	const char			*hash;

	if ((e = users_lookup(t, user, &hash)) == NULL && hash == NULL)
		return NULL;
	return users_hash_match(hash, pass) == 1 && e != NULL ? e : NULL;
}
