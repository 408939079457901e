/*
 * relay_probe.c - readiness (/readyz) and the probes behind it, and the
 * gauges /metrics shows.
 *
 * An upstream is ready when its last set-up outcome was a success and
 * that success is at most ready_window seconds old.  Outcomes are those
 * of real traffic (a new connection ready or failed, an idle one taken
 * again: relay.c, uppool.c) and of probes.  A probe is the relay's own
 * connection set-up without AUTH: resolve, connect, TLS with every check
 * of the upstream's policy, EHLO, then QUIT; bounded by the upstream's
 * own timeouts, one at a time per upstream.  It runs only with
 * http_listen set, from a timer every ready_window/4 seconds, for an
 * upstream whose last success is older than half the window or whose
 * last outcome was a failure: a quiet gateway stays ready, a lost
 * upstream is seen within the window, and a dead one is tried at most
 * every ready_window/4 seconds.  A refused login never counts (under
 * passthrough it is a client's wrong password), nor do our own
 * failures (out of memory).
 */
#include <sys/types.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "obs/metrics.h"
#include "relay/relay.h"
#include "relay/relay_local.h"
#include "smtp/smtp_client.h"
#include "upstream/uppool.h"
#include "upstream/uprt.h"
#include "util/log.h"

struct relay_probe {
	struct relay_env	*env;
	size_t			 idx;		/* env->uprt[idx] */
	struct smtp_client	*cli;
};

static void	probe_ready(void *);
static void	probe_reply(void *, const struct smtp_reply *);
static void	probe_failed(void *, enum gw_fail, const char *);

static const struct smtp_client_cb probe_cb = {
	probe_ready, probe_reply, probe_failed
};

static time_t
mono_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + 1;	/* as metrics.c keeps them */
}

static void
probe_done(struct relay_probe *p, enum gw_fail cls, const char *why)
{
	struct uprt	*u = p->env->uprt[p->idx];

	metrics_up_probe(u->mx, cls);
	if (cls == FAIL_NONE)
		log_debug("probe upstream=%s ok", u->up->name);
	else
		log_info("probe upstream=%s failed class=%s reason=\"%s\"",
		    u->up->name, fail_name(cls), why);
	p->env->probing[p->idx] = NULL;
	free(p);
}

static void
probe_ready(void *arg)
{
	struct relay_probe	*p = arg;
	struct smtp_client	*c = p->cli;

	probe_done(p, FAIL_NONE, NULL);
	smtp_client_quit(c);
}

static void
probe_reply(void *arg, const struct smtp_reply *rep)
{
	fatalx("relay_probe: a reply to a probe that asked nothing");
}

static void
probe_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct relay_probe	*p = arg;
	struct smtp_client	*c = p->cli;

	probe_done(p, cls, why);
	smtp_client_free(c);
}

/* probe_start - one probe of env->uprt[i] (a client holds env) */
static void
probe_start(struct relay_env *env, size_t i)
{
	struct smtp_client_params	 sp;
	struct relay_probe		*p;

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return;
	p->env = env;
	p->idx = i;
	relay_client_params(env, env->uprt[i], relay_new_id(), &sp);
	relay_env_hold(env);
	env->probing[i] = p;
	/* no auth: reachability and TLS, never a login */
	if ((p->cli = smtp_client_new(&sp, &probe_cb, p)) == NULL) {
		env->probing[i] = NULL;
		free(p);
		relay_env_release(env);
		return;
	}
	log_debug("probe upstream=%s started", env->uprt[i]->up->name);
}

static void
probe_tick(evutil_socket_t fd, short what, void *arg)
{
	struct relay_env	*env = arg;
	const struct mx_up	*mx;
	unsigned		 w = env->conf->ready_window;
	struct timeval		 tv = { w / 4 > 0 ? w / 4 : 1, 0 };
	time_t			 now = mono_now();
	size_t			 i;

	for (i = 0; i < env->nuprt; i++) {
		mx = env->uprt[i]->mx;
		if (env->probing[i] != NULL)
			continue;
		if (mx->last_ok == 0 || mx->last_fail >= mx->last_ok ||
		    now - mx->last_ok >= (time_t)(w / 2))
			probe_start(env, i);
	}
	(void)evtimer_add(env->probe_ev, &tv);
}

/* relay_probe_start - with http_listen: probe now, then on the timer */
void
relay_probe_start(struct relay_env *env)
{
	struct timeval	 now = { 0, 0 };

	if (env->conf->nhttp_listen == 0)
		return;
	if (env->probe_ev == NULL &&
	    (env->probe_ev = evtimer_new(env->base, probe_tick, env)) == NULL) {
		log_warnx("probe: out of memory: /readyz relies on traffic");
		return;
	}
	(void)evtimer_add(env->probe_ev, &now);
}

/* relay_probe_stop - no more probes of env's (those in flight finish) */
void
relay_probe_stop(struct relay_env *env)
{
	if (env->probe_ev != NULL)
		(void)evtimer_del(env->probe_ev);
}

/* relay_env_ready - /readyz's verdict on env's upstreams */
int
relay_env_ready(struct relay_env *env, char *why, size_t len)
{
	const struct mx_up	*mx;
	const char		*name;
	time_t			 now = mono_now();
	size_t			 i;

	for (i = 0; i < env->nuprt; i++) {
		mx = env->uprt[i]->mx;
		name = env->uprt[i]->up->name;
		if (mx->last_fail != 0 && mx->last_fail >= mx->last_ok) {
			(void)snprintf(why, len, "upstream %s: last connection "
			    "failed class=%s %llds ago", name,
			    fail_name(mx->last_class),
			    (long long)(now - mx->last_fail));
			return 0;
		}
		if (mx->last_ok == 0) {
			(void)snprintf(why, len, "upstream %s: not reached yet",
			    name);
			return 0;
		}
		if (now - mx->last_ok > (time_t)env->conf->ready_window) {
			(void)snprintf(why, len, "upstream %s: not reached in "
			    "the last %us", name, env->conf->ready_window);
			return 0;
		}
	}
	return 1;
}

/* relay_env_gauges - the registry's gauges from env, before /metrics */
void
relay_env_gauges(struct relay_env *env)
{
	size_t			 i;
	unsigned		 qn;
	unsigned long long	 qb;
	int64_t			 qold, now = (int64_t)time(NULL);

	gw_metrics.sessions = relay_sessions_active();
	gw_metrics.queue = env->conf->queue_dir[0] != '\0';
	if (gw_metrics.queue) {
		relay_queue_gauges(&qn, &qb, &qold);
		gw_metrics.queue_messages = qn;
		gw_metrics.queue_bytes = qb;
		gw_metrics.queue_oldest_age = qold > 0 && qold < now ?
		    (uint64_t)(now - qold) : 0;
	}
	for (i = 0; i < gw_metrics.nup; i++)
		gw_metrics.up[i].idle = 0;
	for (i = 0; i < env->nuprt; i++)
		if (env->uprt[i]->pool != NULL)
			env->uprt[i]->mx->idle =
			    uppool_nidle(env->uprt[i]->pool);
}
