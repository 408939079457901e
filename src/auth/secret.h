/*
 * secret - fetching the credentials of auth = inject: password_file,
 * token_file (read afresh each time, so an outside refresher can rotate
 * it) or token_command (run through /bin/sh -c on the event loop, stdout
 * bounded at SECRET_CMD_OUT_MAX, killed at token_timeout).
 *
 * Contract: secret_fetch() always answers through cb, from the event loop,
 * exactly once, unless secret_fetch_cancel() is called first.  The
 * credentials passed to cb are valid only during the call and wiped
 * (explicit_bzero) after it: the callee copies what it keeps.  A file
 * group- or world-accessible is refused at each read, not only at load.
 * Nothing here logs a secret; the why text never quotes one.
 */
#ifndef GW_SECRET_H
#define GW_SECRET_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct conf_upstream;
struct secret_fetch;

#define SECRET_CMD_OUT_MAX	16384

/*
 * what a fetch yields: user plus exactly one of password, token and
 * keytab (gssapi_keytab: the path, checked, never read here; principal
 * then names the client, and user may be "")
 */
struct secret_cred {
	const char	*user;
	const char	*password;	/* NULL for a token or keytab */
	const char	*token;		/* NULL for a password or keytab */
	const char	*keytab;	/* NULL unless gssapi_keytab */
	const char	*principal;	/* gssapi_principal with a keytab */
};

/* cred is NULL on failure; why then says what failed (no secret in it) */
typedef void	(*secret_fn)(void *arg, const struct secret_cred *cred,
		    const char *why);

/*
 * secret_fetch - start fetching up's inject credentials.  NULL only when
 * out of memory (cb is then never called).
 */
struct secret_fetch *secret_fetch(struct event_base *,
		    const struct conf_upstream *up, uint64_t id,
		    secret_fn cb, void *arg);
/* secret_fetch_cancel - no callback after this; kills a running command */
void		secret_fetch_cancel(struct secret_fetch *);
/*
 * secret_check_keytab - path is a regular file only its owner may access
 * (the keytab is as good as a password); the GSS-API library reads it.
 * 0, or -1 with why set.
 */
int		secret_check_keytab(const char *path, char *why, size_t wlen);
/*
 * secret_read_file - the first line of path into buf (NUL-terminated, the
 * newline stripped); refuses a file group or others may access, an empty
 * first line and a line that does not fit.  0, or -1 with why set.
 */
int		secret_read_file(const char *path, char *buf, size_t len,
		    char *why, size_t wlen);

#endif
