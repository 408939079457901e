/*
 * relay_failover.c - which upstream a lockstep transaction goes to, and
 * moving on to the next one when the connection to it cannot be set up.
 *
 * At each MAIL the list comes from upsel_list() (a [route] by sender,
 * else the listener's "upstream = a, b") and the upstream from
 * upsel_next() (the first not marked down).  When a new connection
 * fails before it is ready for MAIL, with a class upsel_failover()
 * accepts, the upstream is marked down and the same MAIL is tried on
 * the next one, before the client is answered: the client sees nothing
 * but the time it took.  The whole attempt is bounded by [gateway]
 * failover_timeout from the MAIL; past it the client gets the 451 it
 * gets without failover.  A reply from a reachable upstream (4xx, 5xx to
 * MAIL, RCPT or DATA) is the answer and never failed over.
 *
 * Passthrough is never moved: its connection was opened and logged in
 * with the client's own AUTH, before the MAIL, and the password is gone.
 */
#include <sys/types.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "auth/secret.h"
#include "pop/pop3_client.h"
#include "relay/relay_local.h"
#include "upstream/upsel.h"
#include "upstream/uprt.h"
#include "upstream/uptx.h"
#include "util/log.h"

static void	relay_fo_use(struct relay *, int);
static void	relay_fo_skipped(struct relay *, int);
static void	relay_fo_expired(evutil_socket_t, short, void *);

/*
 * relay_fo_mail - at MAIL: the upstream for this transaction.  A
 * connection held to another one (kept from the last transaction) is
 * given back to its pool first.
 */
void
relay_fo_mail(struct relay *r)
{
	const struct conf_uplist	*list;
	int				 i;

	r->uplist = NULL;
	r->tried = 0;
	r->fo_start = upsel_now();
	if (r->ev_failover != NULL)
		event_del(r->ev_failover);
	if (r->up->auth == AUTH_PASSTHROUGH || r->from == NULL)
		return;
	list = upsel_list(r->env->conf, r->l, r->from->addr);
	if ((i = upsel_next(list, 0, r->fo_start)) == -1 ||
	    list->up[i] == NULL)
		return;
	r->uplist = list;
	relay_fo_skipped(r, i);
	relay_fo_use(r, i);
}

/* relay_fo_skipped - say which upstreams before entry i were down */
static void
relay_fo_skipped(struct relay *r, int i)
{
	int	 j;

	for (j = 0; j < i; j++)
		if (upsel_is_down(r->uplist->names[j], r->fo_start))
			log_kv(GW_LOG_INFO, r->id, "relay upstream down",
			    (struct log_field[]){
			    LOGK_WORD("upstream", r->uplist->names[j]),
			    LOGK_WORD("next", r->uplist->names[i]) }, 2);
}

/* relay_fo_use - list entry i is the transaction's upstream now */
static void
relay_fo_use(struct relay *r, int i)
{
	const struct conf_upstream	*up = r->uplist->up[i];

	r->upidx = i;
	if (up == r->up)
		return;
	/* in step it goes back idle to a's pool; else it is closed */
	uptx_close(r->tx);
	r->up = up;
	r->mx = relay_uprt(r)->mx;
	uptx_set_upstream(r->tx, up);
}

/*
 * relay_fo_failed - the connection for the MAIL waiting in r failed in
 * state s before it was ready.  Marks the upstream down if the class
 * says it could not be reached; 1 when the MAIL now goes to the next
 * one (the failover logged), 0 when the caller answers the client.
 */
int
relay_fo_failed(struct relay *r, enum relay_state s, enum gw_fail cls,
    const char *why)
{
	const struct gw_conf	*c = r->env->conf;
	const char		*from;
	int64_t			 now = upsel_now(), left;
	int			 next;

	if (s != R_CONNECT || r->from == NULL || uptx_reused(r->tx) ||
	    !upsel_failover(cls))
		return 0;
	upsel_down(c, r->up->name, now);
	if (r->uplist == NULL)
		return 0;
	r->tried |= 1u << r->upidx;
	left = (int64_t)c->failover_timeout - (now - r->fo_start);
	/* commands pipelined behind MAIL went down with the connection */
	if ((next = upsel_next(r->uplist, r->tried, now)) == -1 ||
	    r->uplist->up[next] == NULL || left <= 0 ||
	    smtp_server_waiting(r->srv) > 1) {
		if (r->ev_failover != NULL)
			event_del(r->ev_failover);
		return 0;
	}
	from = r->up->name;
	log_kv(GW_LOG_WARNING, r->id, "relay failover", (struct log_field[]){
	    LOGK_WORD("upstream", from), LOGK_WORD("class", fail_name(cls)),
	    LOGK_WORD("next", r->uplist->names[next]),
	    LOGK_STR("reason", why) }, 4);
	/* the rest of the budget bounds the next attempts together */
	if (r->ev_failover == NULL && (r->ev_failover = evtimer_new(
	    r->env->base, relay_fo_expired, r)) == NULL)
		return 0;
	if (!evtimer_pending(r->ev_failover, NULL)) {
		struct timeval	 tv = { (time_t)left, 0 };

		(void)evtimer_add(r->ev_failover, &tv);
	}
	relay_enter(r, R_IDLE);
	relay_fo_use(r, next);
	relay_mail_open(r);
	/* r may be freed here */
	return 1;
}

/*
 * relay_fo_expired - failover_timeout since the MAIL, and the next
 * upstream still not ready: the client gets its 451 now.
 */
static void
relay_fo_expired(evutil_socket_t fd, short ev, void *arg)
{
	struct relay	*r = arg;

	(void)fd;
	(void)ev;
	switch (r->state) {
	case R_CONNECT:
		uptx_abort(r->tx);
		break;
	case R_SECRET:
		secret_fetch_cancel(r->sf);
		r->sf = NULL;
		break;
	case R_POP:
		pop3_client_free(r->pop);
		r->pop = NULL;
		break;
	default:
		return;		/* answered meanwhile */
	}
	log_kv(GW_LOG_WARNING, r->id, "relay failover", (struct log_field[]){
	    LOGK_WORD("upstream", r->up->name),
	    LOGK_WORD("class", fail_name(FAIL_TIMEOUT)),
	    LOGK_STR("reason", "failover_timeout reached") }, 3);
	relay_enter(r, R_IDLE);
	relay_fail_reply(r, FAIL_TIMEOUT);
}

/* relay_fo_ready - the connection is ready: its upstream is up */
void
relay_fo_ready(struct relay *r)
{
	if (r->ev_failover != NULL)
		event_del(r->ev_failover);
	upsel_up(r->up->name);
}

/* relay_fo_free - the session ends */
void
relay_fo_free(struct relay *r)
{
	if (r->ev_failover != NULL)
		event_free(r->ev_failover);
	r->ev_failover = NULL;
}
