/*
 * uprt.c - the per-upstream runtime of a configuration snapshot.
 *
 * Built when a configuration is put to use (start, SIGHUP) and never in
 * a session: a users_file or a CA file that does not load keeps the old
 * configuration running.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "conf/conf.h"
#include "tls/tls.h"
#include "upstream/uppool.h"
#include "obs/metrics.h"
#include "upstream/uprt.h"
#include "util/errfirst.h"
#include "util/str.h"

/*
 * State that must survive a reload lives here, outside every snapshot:
 * the time of the last POP-before-SMTP login per upstream.  The login
 * opens the relay at the provider for the gateway's address, and a
 * SIGHUP changes nothing there; forgetting it made the first message
 * after every reload wait for a POP login that pop_interval says is not
 * needed.  The key is everything the login vouches for (the upstream's
 * name, host and port, the POP server, the username): a reload that
 * changes any of them starts afresh.  Fixed size, one process, one
 * thread (the loop); when full, the entry written longest ago is replaced
 * (upstreams removed by a reload are the ones that age).
 */
#define UPRT_KEEP_MAX	(CONF_MAX_UPSTREAMS * 2)
#define UPRT_KEY_MAX	(CONF_NAME_MAX + CONF_HOST_MAX + ADDR_HOST_MAX + \
			    CONF_TEXT_MAX + 32)

struct uprt_keep {
	char		 key[UPRT_KEY_MAX];	/* "" = free */
	struct timespec	 pop_ok;
	uint64_t	 used;			/* uprt_keep_tick when last used */
};

static struct uprt_keep	uprt_keep[UPRT_KEEP_MAX];
static uint64_t		uprt_keep_tick;

/* uprt_keepkey - what a POP login for up vouches for, as one string */
static char *
uprt_keepkey(const struct conf_upstream *up)
{
	char	*k;

	if ((k = malloc(UPRT_KEY_MAX)) == NULL)
		return NULL;
	/* fields end at a newline: none of them can hold one */
	(void)snprintf(k, UPRT_KEY_MAX, "%s\n%s:%u\n%s:%u\n%s", up->name,
	    up->host, up->port, up->pop_server.host, up->pop_server.port,
	    up->username);
	return k;
}

/* uprt_keep_find - key's entry; with make, a new or the oldest one */
static struct uprt_keep *
uprt_keep_find(const char *key, int make)
{
	struct uprt_keep	*k, *old = &uprt_keep[0];
	size_t			 i;

	for (i = 0; i < UPRT_KEEP_MAX; i++) {
		k = &uprt_keep[i];
		if (strcmp(k->key, key) == 0 && k->key[0] != '\0')
			return k;
		if (k->used < old->used)
			old = k;
	}
	if (!make)
		return NULL;
	memset(old, 0, sizeof(*old));
	(void)gw_strlcpy(old->key, key, sizeof(old->key));
	return old;
}

struct timespec
uprt_pop_ok(const struct uprt *u)
{
	struct uprt_keep	*k = uprt_keep_find(u->keepkey, 0);
	struct timespec		 none = { 0, 0 };

	return k != NULL ? k->pop_ok : none;
}

void
uprt_pop_ok_set(struct uprt *u, const struct timespec *t)
{
	struct uprt_keep	*k = uprt_keep_find(u->keepkey, 1);

	k->pop_ok = *t;
	k->used = ++uprt_keep_tick;
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
	struct errfirst		 ue;
	char			 pwhy[256];

	/* users_load()'s errors: all passed on, the first kept for why */
	errfirst_init(&ue, why, whylen, err, arg, 1);
	if ((u = calloc(1, sizeof(*u))) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		return NULL;
	}
	u->up = up;
	u->mx = metrics_up(up->name);
	if ((u->keepkey = uprt_keepkey(up)) == NULL) {
		(void)snprintf(why, whylen, "out of memory");
		goto fail;
	}
	if (up->tls != TLS_NONE &&
	    (u->tls = tls_upstream_ctx_new(up, why, whylen)) == NULL)
		goto fail;
	/* users_file is read here and never in a session */
	if (up->auth == AUTH_MAP &&
	    (u->users = users_load(up->users_file, errfirst_cb, &ue)) == NULL)
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
	/* first: an idle connection's TLS uses u->tls */
	uppool_free(u->pool);
	tls_client_ctx_free(u->tls);
	users_free(u->users);
	tls_client_ctx_free(u->pop_tls);
	free(u->keepkey);
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
		if ((tc = tls_upstream_ctx_new(up, why, sizeof(why))) == NULL) {
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
 * uprt_pop_ctx_new - the POP server is verified like the upstream (the
 * same TLS-settings block: CA, CRL, pins, versions, exceptions) but
 * against its own host name.
 */
struct tls_client_ctx *
uprt_pop_ctx_new(const struct conf_upstream *up, char *err, size_t errlen)
{
	return tls_client_ctx_new(&up->tlsset, up->pop_server.host,
	    up->pop_server.port, up->pop_server.host, err, errlen);
}
