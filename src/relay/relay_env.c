/*
 * relay_env.c - what the sessions under one configuration snapshot
 * share (struct relay_env): the upstream runtimes with their pools, the
 * DKIM signers, the hash workers; and the holds every upstream
 * connection keeps on its snapshot, so that a reload frees nothing under
 * a connection still open (closing, or idle in a pool).
 */
#include <sys/types.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/hashpool.h"
#include "conf/conf.h"
#include "queue/qstore.h"
#include "relay/relay.h"
#include "relay/relay_local.h"
#include "relay/signers.h"
#include "relay/smime_keys.h"
#include "smtp/smtp_client.h"
#include "tls/tls.h"
#include "upstream/uppool.h"
#include "upstream/uprt.h"
#include "util/errfirst.h"
#include "util/log.h"

static unsigned nupstreams;	/* upstream connections alive: idle, closing */

static int	env_pool_params(void *, const struct conf_upstream *,
		    struct smtp_client_params *);
static void	env_pool_unhold(void *, const struct smtp_client_params *);

/*
 * relay_env_new()'s loader errors that do not become its err: users_file's
 * (all of them, uprt keeps the first), signers_load's after the first.
 */
static void
env_err(void *arg, const char *msg)
{
	log_error("%s", msg);
}

static void
env_warn(void *arg, const char *msg)
{
	log_warnx("%s", msg);
}

/*
 * The listeners' TLS contexts.  Built with the snapshot: a certificate
 * or key that does not load refuses it, so that on SIGHUP the old
 * snapshot, with its certificate, stays in service and the log says why.
 */
static int
env_listener_tls(struct relay_env *env, char *err, size_t errlen)
{
	const struct conf_listener	*l;
	char				 why[512];
	size_t				 i;

	for (i = 0; i < env->conf->nlisteners; i++) {
		l = &env->conf->listeners[i];
		if (l->tls == LISTEN_TLS_NONE)
			continue;
		env->lstls[i] = tls_server_ctx_new(l, why, sizeof(why));
		if (env->lstls[i] == NULL) {
			(void)snprintf(err, errlen, "%s:%d: [listener %s]: %s",
			    env->conf->path, l->line, l->name, why);
			return -1;
		}
	}
	return 0;
}

/* relay_env_listener_tls - the TLS context of listener l, or NULL */
struct tls_server_ctx *
relay_env_listener_tls(const struct relay_env *env,
    const struct conf_listener *l)
{
	size_t	 i;

	for (i = 0; i < env->conf->nlisteners; i++)
		if (&env->conf->listeners[i] == l)
			return env->lstls[i];
	return NULL;
}

/* relay_env_new - the shared state of sessions under one configuration */
struct relay_env *
relay_env_new(struct event_base *base, struct evdns_base *dns,
    struct gw_conf *conf, char *err, size_t errlen)
{
	struct relay_env	*env;
	struct errfirst		 e;
	struct uppool_hooks	 hooks;
	char			 why[512];
	size_t			 i;

	/* signers_load's errors: the first in err, the others logged */
	errfirst_init(&e, err, errlen, env_err, NULL, 0);
	if ((env = calloc(1, sizeof(*env))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	env->base = base;
	env->dns = dns;
	env->conf = conf_ref(conf);
	env->refcnt = 1;
	hooks.params = env_pool_params;
	hooks.unhold = env_pool_unhold;
	hooks.arg = env;
	/* one runtime per upstream: TLS and POP contexts, users_file */
	for (i = 0; i < conf->nupstreams; i++) {
		env->uprt[i] = uprt_new(&conf->upstreams[i], env_err,
		    NULL, why, sizeof(why));
		if (env->uprt[i] == NULL) {
			(void)snprintf(err, errlen, "upstream %s: %s",
			    conf->upstreams[i].name, why);
			relay_env_unref(env);
			return NULL;
		}
		env->nuprt++;
		env->uprt[i]->pool = uppool_new(base, &conf->upstreams[i],
		    &hooks);
		if (env->uprt[i]->pool == NULL) {
			(void)snprintf(err, errlen, "upstream %s: out of memory",
			    conf->upstreams[i].name);
			relay_env_unref(env);
			return NULL;
		}
	}
	if (env_listener_tls(env, err, errlen) == -1) {
		relay_env_unref(env);
		return NULL;
	}
	/* beside the TLS contexts: a bad key refuses the whole snapshot */
	if (signers_load(conf, &env->signers, errfirst_cb, env_warn,
	    &e) != 0) {
		relay_env_unref(env);
		return NULL;
	}
	/* the S/MIME keys and recipients' certificates, the same way */
	if (smime_keys_load(conf, &env->smime, errfirst_cb, &e) != 0) {
		relay_env_unref(env);
		return NULL;
	}
	return env;
}

/* a listener's TLS context as relay_env_new() builds it, for -t */
static int
env_check_listener_tls(const struct gw_conf *conf,
    const struct conf_listener *l, void (*err)(void *, const char *),
    void *arg)
{
	struct tls_server_ctx	*sc;
	char			 why[512], msg[PATH_MAX + 700];

	if (l->tls == LISTEN_TLS_NONE)
		return 0;
	if ((sc = tls_server_ctx_new(l, why, sizeof(why))) != NULL) {
		tls_server_ctx_free(sc);
		return 0;
	}
	(void)snprintf(msg, sizeof(msg), "%s:%d: [listener %s]: %s",
	    conf->path, l->line, l->name, why);
	err(arg, msg);
	return 1;
}

/*
 * env_check_queue - what the start's qstore_open() would refuse about
 * queue_dir, as the gateway's user ([gateway] user, else this one)
 */
static int
env_check_queue(const struct gw_conf *conf, void (*err)(void *,
    const char *), void *arg)
{
	const struct passwd	*pw;
	uid_t			 uid = geteuid();
	char			 why[QSTORE_WHY_MAX], msg[QSTORE_WHY_MAX + 32];

	if (conf->queue_dir[0] == '\0')
		return 0;
	if (conf->user[0] != '\0' && (pw = getpwnam(conf->user)) != NULL)
		uid = pw->pw_uid;
	if (qstore_check(conf->queue_dir, uid, why, sizeof(why)) == 0)
		return 0;
	(void)snprintf(msg, sizeof(msg), "queue_dir: %s", why);
	err(arg, msg);
	return 1;
}

/* relay_check_conf - what relay_env_new() would refuse, for -t */
int
relay_check_conf(const struct gw_conf *conf, void (*err)(void *,
    const char *), void *arg)
{
	struct smime_keys *sk = NULL;
	size_t		 i;
	int		 nerr = 0;

	for (i = 0; i < conf->nupstreams; i++)
		nerr += uprt_check_users(&conf->upstreams[i], err, arg);
	nerr += smime_keys_load(conf, &sk, err, arg);
	smime_keys_free(sk);
	tls_init();
	for (i = 0; i < conf->nupstreams; i++)
		nerr += uprt_check_tls(&conf->upstreams[i], err, arg);
	for (i = 0; i < conf->nlisteners; i++)
		nerr += env_check_listener_tls(conf, &conf->listeners[i], err,
		    arg);
	nerr += env_check_queue(conf, err, arg);
	return nerr;
}

/* relay_env_unref - drop a reference; the last one frees */
void
relay_env_unref(struct relay_env *env)
{
	size_t	i;

	if (env == NULL || --env->refcnt > 0)
		return;
	hashpool_free(env->hpool);
	if (env->probe_ev != NULL)
		event_free(env->probe_ev);
	for (i = 0; i < env->nuprt; i++)
		uprt_free(env->uprt[i]);
	for (i = 0; i < CONF_MAX_LISTENERS; i++)
		tls_server_ctx_free(env->lstls[i]);
	signers_free(env->signers);
	smime_keys_free(env->smime);
	conf_unref(env->conf);
	free(env);
}

/*
 * relay_env_release - an upstream connection was freed: give back its
 * hold.  Deferred to the loop: the free may come from inside the pool
 * (a QUIT, a drop), and the last reference frees the pool with the env.
 */
static void
relay_env_release_cb(evutil_socket_t fd, short what, void *arg)
{
	nupstreams--;
	relay_env_unref(arg);
}

void
relay_env_release(void *arg)
{
	struct relay_env	*env = arg;
	const struct timeval	 now = { 0, 0 };

	if (event_base_once(env->base, -1, EV_TIMEOUT, relay_env_release_cb,
	    env, &now) == -1)
		relay_env_release_cb(-1, 0, env);
}

/* relay_env_hold - an upstream connection is made: it holds env */
void
relay_env_hold(struct relay_env *env)
{
	env->refcnt++;
	nupstreams++;
}

/* relay_env_nupstreams - upstream connections alive, idle and closing too */
unsigned
relay_env_nupstreams(void)
{
	return nupstreams;
}

/* the pool's own connections (pre-warm): what relay_open_upstream sets */
static int
env_pool_params(void *arg, const struct conf_upstream *up,
    struct smtp_client_params *p)
{
	struct relay_env	*env = arg;
	struct uprt		*u;

	if ((u = uprt_find(env->uprt, env->nuprt, up)) == NULL)
		return -1;
	relay_client_params(env, u, relay_new_id(), p);
	relay_env_hold(env);
	return 0;
}

static void
env_pool_unhold(void *arg, const struct smtp_client_params *p)
{
	relay_env_release(arg);
}

/*
 * relay_client_params - a new connection to u's upstream under env,
 * without its credentials; release gives back relay_env_hold's hold.
 */
void
relay_client_params(struct relay_env *env, struct uprt *u, uint64_t id,
    struct smtp_client_params *p)
{
	const struct conf_upstream	*up = u->up;

	memset(p, 0, sizeof(*p));
	p->base = env->base;
	p->dns = env->dns;
	p->up = up;
	p->tls = u->tls;
	p->helo_name = up->helo_name[0] != '\0' ? up->helo_name :
	    env->conf->hostname;
	p->id = id;
	/* the client may outlive its session while it says QUIT, or idle */
	p->release = relay_env_release;
	p->release_arg = env;
}

/* for every pool of env: f */
static void
env_pools(struct relay_env *env, void (*f)(struct uppool *))
{
	size_t	i;

	/* a QUIT may free what holds env: hold it while we walk */
	env->refcnt++;
	for (i = 0; i < env->nuprt; i++)
		if (env->uprt[i]->pool != NULL)
			f(env->uprt[i]->pool);
	relay_env_unref(env);
}

/* relay_env_warm - start pre-warming, once the loop runs */
void
relay_env_warm(struct relay_env *env)
{
	env_pools(env, uppool_warm);
	relay_probe_start(env);
}

/* relay_env_retire - SIGHUP: env's idle connections go, none are kept */
void
relay_env_retire(struct relay_env *env)
{
	relay_probe_stop(env);
	env_pools(env, uppool_retire);
}

/* relay_env_shutdown - SIGTERM: idle connections say QUIT */
void
relay_env_shutdown(struct relay_env *env)
{
	relay_probe_stop(env);
	env_pools(env, uppool_shutdown);
}

/* relay_env_conf - the configuration of an env */
struct gw_conf *
relay_env_conf(const struct relay_env *env)
{
	return env->conf;
}

