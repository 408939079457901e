/*
 * users - the local users of auth = map: users_file, one user a line,
 *
 *	localuser:CRYPT-HASH:upstream-user:upstream-secret
 *
 * the secret being the rest of the line (it may hold ':').  Blank lines
 * and lines starting with '#' are skipped.  Hashes are yescrypt ("$y$")
 * or sha512-crypt ("$6$"), verified with libcrypt's crypt_rn().
 *
 * Contract: users_parse_line() is pure (no I/O, no allocation).
 * users_load() reads a whole file at start or on SIGHUP, never in a
 * session: it refuses a file group or others may access, and reports
 * every problem through err as "FILE:LINE: why" (LINE 0 for the file as
 * a whole); a table is returned only if there was none.  The table is
 * immutable; users_free() wipes the secrets.  users_verify() costs one
 * hash whether or not the user exists, and compares in constant time.
 */
#ifndef GW_USERS_H
#define GW_USERS_H

#include <stddef.h>

#define USERS_LINE_MAX		2048	/* one line, newline included */
#define USERS_NAME_MAX		255	/* local and upstream user names */
#define USERS_HASH_MAX		255
#define USERS_SECRET_MAX	1023
#define USERS_MAX		100000	/* entries in one file */

struct users_entry {
	char	user[USERS_NAME_MAX + 1];
	char	hash[USERS_HASH_MAX + 1];
	char	up_user[USERS_NAME_MAX + 1];
	char	up_secret[USERS_SECRET_MAX + 1];
};

struct users;

typedef void	(*users_error_fn)(void *arg, const char *msg);

/*
 * users_parse_line - one line without its newline into e.  *skip is set
 * for a blank or comment line (e untouched).  NULL or a static error;
 * on error e is wiped.
 */
const char	*users_parse_line(const char *line, size_t len,
		    struct users_entry *e, int *skip);
/* users_load - the table of path; NULL with every error sent to err */
struct users	*users_load(const char *path, users_error_fn err, void *arg);
void		 users_free(struct users *);
/* users_count - entries in the table */
size_t		 users_count(const struct users *);
/*
 * users_verify - the entry of user if pass matches its hash, else NULL.
 * Blocks for one hash computation (tens of milliseconds for yescrypt):
 * the listener runs it through hashpool, never on the event loop.
 */
const struct users_entry *users_verify(const struct users *,
		    const char *user, const char *pass);

/*
 * users_lookup - the entry of user or NULL; *hash is set to the hash to
 * compute in either case (for an unknown user, the first entry's, so the
 * answer takes as long), NULL only for an empty table.
 */
const struct users_entry *users_lookup(const struct users *,
		    const char *user, const char **hash);
/*
 * users_hash_match - 1 if pass hashes to hash, 0 if not, -1 out of
 * memory.  Thread-safe (its own scratch space); the comparison takes
 * constant time.
 */
int		 users_hash_match(const char *hash, const char *pass);

#endif
