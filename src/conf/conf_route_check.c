/*
 * conf_route_check.c - the cross-checks of the upstream lists (listener
 * and [route] "upstream = a, b"), of the routes' sender patterns and of
 * delivery = queue (docs/queue.md).
 *
 * The rules, and why:
 * - every name of a list is an [upstream] section;
 * - a list of more than one, and any route, only with upstreams whose auth
 *   is none or inject: map and passthrough tie the client's login to one
 *   upstream's accounts, which another upstream does not have;
 * - a listener whose first upstream uses map or passthrough is never
 *   routed (conf.h, struct conf_route), so the routes are not checked
 *   against it;
 * - delivery = queue needs queue_dir, and no upstream it may deliver
 *   through with auth = passthrough (the client's password is gone once
 *   the session is) or pop_before_smtp (a login tied to the session);
 * - one sender pattern in one route only: two would make the choice
 *   depend on the order of the file for an exact tie.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_check.h"
#include "util/str.h"

static void	resolve(struct check *, struct conf_uplist *, const char *,
		    const char *, int);
static const char *shared_auth(const struct conf_upstream *);
static void	check_multi(struct check *, const struct conf_uplist *,
		    const char *, const char *, int);
static const char *queue_refusal(const struct conf_upstream *);
static void	check_queue(struct check *, const struct conf_listener *);
static void	queue_pools(struct gw_conf *);
static void	queue_pool_list(struct gw_conf *, const struct conf_uplist *);
static void	check_senders(struct check *, const struct conf_route *,
		    size_t);

/* the names of a list into its up[]; an unknown name is an error */
static void
resolve(struct check *ck, struct conf_uplist *ul, const char *kind,
    const char *name, int line)
{
	size_t	 i;

	for (i = 0; i < ul->n; i++)
		if ((ul->up[i] = conf_find_upstream(ck->conf, ul->names[i]))
		    == NULL)
			conf_cerr(ck, line, "[%s %s]: upstream: no [upstream "
			    "%s] section", kind, name, ul->names[i]);
}

/* "map" or "passthrough" when u's login is the client's, else NULL */
static const char *
shared_auth(const struct conf_upstream *u)
{
	if (u->auth == AUTH_MAP || u->auth == AUTH_PASSTHROUGH)
		return auth_mode_name(u->auth);
	return NULL;
}

/* a list whose upstreams stand in for each other: none or inject only */
static void
check_multi(struct check *ck, const struct conf_uplist *ul, const char *kind,
    const char *name, int line)
{
	const char	*a;
	size_t		 i;

	for (i = 0; i < ul->n; i++) {
		if (ul->up[i] == NULL || (a = shared_auth(ul->up[i])) == NULL)
			continue;
		conf_cerr(ck, line, "[%s %s]: upstream: [upstream %s] has auth "
		    "= %s, which ties the client's login to its own accounts; "
		    "%s only with upstreams whose auth is none or inject",
		    kind, name, ul->names[i], a, strcmp(kind, "route") == 0 ?
		    "a route goes" : "a list of more than one goes");
	}
}

/* why a queued message could not be delivered through u, or NULL */
static const char *
queue_refusal(const struct conf_upstream *u)
{
	if (u->auth == AUTH_PASSTHROUGH)
		return "auth = passthrough (the client's password is gone "
		    "after the session)";
	if (u->pop_server.host[0] != '\0')
		return "pop_before_smtp (a login tied to the client's "
		    "session)";
	return NULL;
}

/* delivery = queue: a queue to write to and upstreams it can use later */
static void
check_queue(struct check *ck, const struct conf_listener *l)
{
	const struct gw_conf	*c = ck->conf;
	const struct conf_route	*r;
	const char		*why;
	size_t			 i, j;

	if (l->delivery != DELIVERY_QUEUE)
		return;
	if (c->queue_dir[0] == '\0')
		conf_cerr(ck, l->line, "[listener %s]: delivery: queue needs "
		    "[gateway] queue_dir", l->name);
	for (i = 0; i < l->upstreams.n; i++)
		if (l->upstreams.up[i] != NULL &&
		    (why = queue_refusal(l->upstreams.up[i])) != NULL)
			conf_cerr(ck, l->line, "[listener %s]: delivery: queue "
			    "cannot deliver through [upstream %s], which uses "
			    "%s", l->name, l->upstreams.names[i], why);
	/* routes apply to this listener unless its login is shared */
	if (l->upstream == NULL || shared_auth(l->upstream) != NULL)
		return;
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		for (j = 0; j < r->upstreams.n; j++)
			if (r->upstreams.up[j] != NULL &&
			    (why = queue_refusal(r->upstreams.up[j])) != NULL)
				conf_cerr(ck, l->line, "[listener %s]: "
				    "delivery: queue cannot deliver through "
				    "[upstream %s] of [route %s] (line %d), "
				    "which uses %s", l->name,
				    r->upstreams.names[j], r->name, r->line,
				    why);
	}
}

/* a sender pattern of route ri in no earlier route (any case) */
static void
check_senders(struct check *ck, const struct conf_route *r, size_t ri)
{
	const struct conf_route	*o;
	char			 q[CONF_ADDR_MAX];
	size_t			 i, j, k;

	for (i = 0; i < r->nsenders; i++)
		for (j = 0; j < ri; j++) {
			o = &ck->conf->routes[j];
			for (k = 0; k < o->nsenders; k++) {
				if (!str_ieq(r->senders[i], o->senders[k]))
					continue;
				(void)str_vis(q, sizeof(q), r->senders[i],
				    strlen(r->senders[i]));
				conf_cerr(ck, r->line, "[route %s]: sender: "
				    "\"%s\" is also in [route %s] (line %d)",
				    r->name, q, o->name, o->line);
			}
		}
}

/* conf_check_lists - see conf_check.h */
void
conf_check_lists(struct check *ck, struct gw_conf *c)
{
	struct conf_listener	*l;
	struct conf_route	*r;
	size_t			 i;

	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		resolve(ck, &l->upstreams, "listener", l->name, l->line);
		l->upstream = l->upstreams.n > 0 ? l->upstreams.up[0] : NULL;
		if (l->upstreams.n > 1)
			check_multi(ck, &l->upstreams, "listener", l->name,
			    l->line);
	}
	for (i = 0; i < c->nroutes; i++) {
		r = &c->routes[i];
		resolve(ck, &r->upstreams, "route", r->name, r->line);
		check_multi(ck, &r->upstreams, "route", r->name, r->line);
		check_senders(ck, r, i);
	}
	for (i = 0; i < c->nlisteners; i++)
		check_queue(ck, &c->listeners[i]);
	queue_pools(c);
}

/* queue_pool_list - every upstream of ul may get queue_parallel at once */
static void
queue_pool_list(struct gw_conf *c, const struct conf_uplist *ul)
{
	size_t	 i, k;

	for (i = 0; i < ul->n; i++) {
		if (ul->up[i] == NULL)
			continue;
		k = (size_t)(ul->up[i] - c->upstreams);
		c->upstreams[k].pool_queue_idle = c->queue_parallel;
	}
}

/*
 * queue_pools - the upstreams queue deliveries may use (a queue
 * listener's list, and the routes where they apply to it) keep at least
 * queue_parallel idle connections (conf_pool_max_idle): the runner
 * gives back up to queue_parallel at once, and a pool that kept fewer
 * would close the rest only to open them again for the next deliveries.
 */
static void
queue_pools(struct gw_conf *c)
{
	const struct conf_listener	*l;
	size_t				 i, j;

	for (i = 0; i < c->nupstreams; i++)
		c->upstreams[i].pool_queue_idle = 0;
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		if (l->delivery != DELIVERY_QUEUE)
			continue;
		queue_pool_list(c, &l->upstreams);
		if (l->upstream == NULL || shared_auth(l->upstream) != NULL)
			continue;
		for (j = 0; j < c->nroutes; j++)
			queue_pool_list(c, &c->routes[j].upstreams);
	}
}

/* conf_upstream_listed - see conf_check.h */
int
conf_upstream_listed(const struct gw_conf *c, const char *u)
{
	size_t	 i, j;

	for (i = 0; i < c->nlisteners; i++)
		for (j = 0; j < c->listeners[i].upstreams.n; j++)
			if (strcmp(c->listeners[i].upstreams.names[j], u) == 0)
				return 1;
	for (i = 0; i < c->nroutes; i++)
		for (j = 0; j < c->routes[i].upstreams.n; j++)
			if (strcmp(c->routes[i].upstreams.names[j], u) == 0)
				return 1;
	return 0;
}
