/*
 * upsel.c - which upstream a transaction goes to (see upsel.h).
 *
 * The down marks are the only state: a small table keyed by the
 * upstream's name, outside any configuration snapshot so that a reload
 * keeps them.  It is bounded: when it is full, the mark touched longest
 * ago is forgotten (at worst one more connect attempt to that upstream).
 */
#include <string.h>
#include <time.h>

#include "obs/metrics.h"
#include "relay/route.h"
#include "upstream/updown.h"
#include "upstream/upsel.h"
#include "util/str.h"

/* twice the upstreams of one snapshot: names of a reload's old one too */
#define UPSEL_MARKS	(2 * CONF_MAX_UPSTREAMS)

struct upsel_mark {
	char		 name[CONF_NAME_MAX];	/* "": a free slot */
	struct updown	 st;
	uint64_t	 used;			/* when last touched (a count) */
};

static struct upsel_mark marks[UPSEL_MARKS];
static uint64_t		 marks_clock;

static struct upsel_mark *upsel_find(const char *);

const struct conf_uplist *
upsel_list(const struct gw_conf *c, const struct conf_listener *l,
    const char *sender)
{
	struct route		 rt[CONF_MAX_ROUTES];
	const char		*pat[CONF_MAX_ROUTES][CONF_ROUTE_SENDERS];
	const struct route	*hit;
	size_t			 i, j;

	/*
	 * The client's own AUTH (passthrough) or its map entry ties the
	 * session to the listener's upstreams: never routed elsewhere.
	 */
	if (l->upstreams.n > 0 && l->upstreams.up[0] != NULL &&
	    (l->upstreams.up[0]->auth == AUTH_MAP ||
	    l->upstreams.up[0]->auth == AUTH_PASSTHROUGH))
		return &l->upstreams;
	if (c->nroutes == 0 || sender == NULL)
		return &l->upstreams;
	for (i = 0; i < c->nroutes && i < CONF_MAX_ROUTES; i++) {
		for (j = 0; j < c->routes[i].nsenders &&
		    j < CONF_ROUTE_SENDERS; j++)
			pat[i][j] = c->routes[i].senders[j];
		rt[i].name = c->routes[i].name;
		rt[i].senders = pat[i];
		rt[i].nsenders = j;
		rt[i].upstreams = NULL;
		rt[i].nupstreams = 0;
	}
	if ((hit = route_choose(rt, i, sender)) == NULL)
		return &l->upstreams;
	return &c->routes[hit - rt].upstreams;
}

int
upsel_next(const struct conf_uplist *list, unsigned tried, int64_t now)
{
	const struct updown	*st[CONF_MAX_UPLIST];
	static const struct updown up = { 0, 0 };
	struct upsel_mark	*m;
	int			 idx[CONF_MAX_UPLIST], pick;
	size_t			 i, n = 0;

	for (i = 0; i < list->n && i < CONF_MAX_UPLIST; i++) {
		if (tried & (1u << i))
			continue;
		m = upsel_find(list->names[i]);
		st[n] = m != NULL ? &m->st : &up;
		idx[n++] = (int)i;
	}
	if ((pick = updown_pick(st, n, now)) == -1)
		return -1;
	return idx[pick];
}

int
upsel_failover(enum gw_fail cls)
{
	/* the TLS checks: the same classes the metrics count as TLS */
	if (metrics_tls_class(cls))
		return 1;
	switch (cls) {
	case FAIL_DNS:
	case FAIL_CONNECT:
	case FAIL_TIMEOUT:
	case FAIL_CLOSED:
	case FAIL_REJECTED:
	/* the next upstream may have another proxy, or none */
	case FAIL_PROXY_CONNECT:
	case FAIL_PROXY_REFUSED:
	case FAIL_PROXY_AUTH:
		return 1;
	case FAIL_NONE:
	case FAIL_AUTH:		/* our credentials: the same on a retry */
	case FAIL_PROTOCOL:	/* it answered: not an outage */
	case FAIL_INTERNAL:	/* ours, not the upstream's */
	default:
		break;
	}
	return 0;
}

/* upsel_find - the mark of name, or NULL */
static struct upsel_mark *
upsel_find(const char *name)
{
	size_t	 i;

	if (name[0] == '\0')
		return NULL;
	for (i = 0; i < UPSEL_MARKS; i++)
		if (strcmp(marks[i].name, name) == 0)
			return &marks[i];
	return NULL;
}

void
upsel_down(const struct gw_conf *c, const char *name, int64_t now)
{
	struct upsel_mark	*m;
	size_t			 i;

	if ((m = upsel_find(name)) == NULL) {
		/* a free slot, else the one touched longest ago */
		m = &marks[0];
		for (i = 0; i < UPSEL_MARKS && m->name[0] != '\0'; i++)
			if (marks[i].name[0] == '\0' ||
			    marks[i].used < m->used)
				m = &marks[i];
		memset(m, 0, sizeof(*m));
		if (str_copy(m->name, name, sizeof(m->name)) == -1) {
			m->name[0] = '\0';	/* cannot be a configured name */
			return;
		}
	}
	m->used = ++marks_clock;
	updown_fail(&m->st, now, c->upstream_down_time,
	    c->upstream_down_time_max);
}

void
upsel_up(const char *name)
{
	struct upsel_mark	*m;

	if ((m = upsel_find(name)) != NULL)
		memset(m, 0, sizeof(*m));
}

int
upsel_is_down(const char *name, int64_t now)
{
	const struct upsel_mark	*m = upsel_find(name);

	return m != NULL && updown_is_down(&m->st, now);
}

int64_t
upsel_now(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec;
}
