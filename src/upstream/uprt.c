/*
 * uprt.c - the per-upstream runtime of a configuration snapshot.
 *
 * Built when a configuration is put to use (start, SIGHUP) and never in
 * a session: a users_file or a CA file that does not load keeps the old
 * configuration running.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "tls/tls.h"
#include "upstream/uprt.h"
#include "util/str.h"

/* users_load()'s errors: all passed on, the first kept for why */
struct uprt_uerr {
	uprt_error_fn	 fn;
	void		*arg;
	char		*why;
	size_t		 whylen;
	int		 n;
};

static void
uprt_users_err(void *arg, const char *msg)
{
	struct uprt_uerr	*ue = arg;

	if (ue->fn != NULL)
		ue->fn(ue->arg, msg);
	if (ue->n++ == 0)
		(void)gw_strlcpy(ue->why, msg, ue->whylen);
}

static int
uprt_has_pop_tls(const struct conf_upstream *up)
{
	return up->pop_server.host[0] != '\0' && up->pop_tls != POP_TLS_NONE;
}

/* uprt_new - the runtime of up */
struct uprt *
uprt_new(const struct conf_upstream *up, uprt_error_fn err, void *arg,
    char *why, size_t whylen)
{
	struct uprt		*u;
	struct uprt_uerr	 ue = { err, arg, why, whylen, 0 };
	char			 pwhy[256];

	if (whylen > 0)
		why[0] = '\0';
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return NULL;
	}
	u->up = up;
	if (up->tls != TLS_NONE &&
	    (u->tls = tls_client_ctx_new(up, why, whylen)) == NULL)
		goto fail;
	/* users_file is read here and never in a session */
	if (up->auth == AUTH_MAP &&
	    (u->users = users_load(up->users_file, uprt_users_err,
	    &ue)) == NULL)
		goto fail;
	if (uprt_has_pop_tls(up) && (u->pop_tls = uprt_pop_ctx_new(up, pwhy,
	    sizeof(pwhy))) == NULL) {
		(void)snprintf(why, whylen, "pop_before_smtp: %s", pwhy);
		goto fail;
	}
	return u;
fail:
	uprt_free(u);
	return NULL;
}

void
uprt_free(struct uprt *u)
{
	if (u == NULL)
		return;
	tls_client_ctx_free(u->tls);
	users_free(u->users);
	tls_client_ctx_free(u->pop_tls);
	free(u);
}

struct uprt *
uprt_find(struct uprt *const *v, size_t n, const struct conf_upstream *up)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL && v[i]->up == up)
			return v[i];
	return NULL;
}

struct uprt *
uprt_find_name(struct uprt *const *v, size_t n, const char *name)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (v[i] != NULL && strcmp(v[i]->up->name, name) == 0)
			return v[i];
	return NULL;
}

/* uprt_check_users - users_file as uprt_new() loads it, for -t */
int
uprt_check_users(const struct conf_upstream *up, void (*err)(void *,
    const char *), void *arg)
{
	struct users	*u;

	if (up->auth != AUTH_MAP)
		return 0;
	if ((u = users_load(up->users_file, err, arg)) == NULL)
		return 1;
	users_free(u);
	return 0;
}

/*
 * uprt_check_tls - build the TLS contexts as uprt_new() does (CA and CRL
 * files, client certificate, POP server) and drop them: a file that
 * passes -t must also start.
 */
int
uprt_check_tls(const struct conf_upstream *up, void (*err)(void *,
    const char *), void *arg)
{
	struct tls_client_ctx	*tc;
	char			 why[256], msg[400];
	int			 nerr = 0;

	if (up->tls != TLS_NONE) {
		if ((tc = tls_client_ctx_new(up, why, sizeof(why))) == NULL) {
			(void)snprintf(msg, sizeof(msg), "upstream %s: %s",
			    up->name, why);
			err(arg, msg);
			nerr++;
		}
		tls_client_ctx_free(tc);
	}
	if (!uprt_has_pop_tls(up))
		return nerr;
	if ((tc = uprt_pop_ctx_new(up, why, sizeof(why))) == NULL) {
		(void)snprintf(msg, sizeof(msg), "upstream %s: "
		    "pop_before_smtp: %s", up->name, why);
		err(arg, msg);
		nerr++;
	}
	tls_client_ctx_free(tc);
	return nerr;
}

/*
 * uprt_pop_ctx_new - the POP server is verified like the upstream (same
 * CA, CRL, pins, versions, exceptions) but against its own host name: a
 * context built from a copy of the upstream's policy with tls_name set.
 */
struct tls_client_ctx *
uprt_pop_ctx_new(const struct conf_upstream *up, char *err, size_t errlen)
{
	struct conf_upstream	*pu;
	struct tls_client_ctx	*ctx = NULL;

	if ((pu = malloc(sizeof(*pu))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	*pu = *up;
	if (str_copy(pu->host, up->pop_server.host, sizeof(pu->host)) == -1 ||
	    str_copy(pu->tls_name, up->pop_server.host,
	    sizeof(pu->tls_name)) == -1)
		(void)snprintf(err, errlen, "host name too long");
	else {
		pu->port = up->pop_server.port;
		ctx = tls_client_ctx_new(pu, err, errlen);
	}
	free(pu);
	return ctx;
}
