/*
 * uppool.c - pool.c on real upstream connections (uppool.h).
 *
 * What Postfix's connection cache and OpenSMTPD's mta do, in one
 * process: a connection given back in step is RSET (by smtp_client's
 * detach, off the next message's path) and kept per identity; an idle one
 * that says anything, closes or fails its RSET is dropped at once (the
 * idle watch); one handed out is checked again at attach.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <time.h>

#include "auth/secret.h"
#include "conf/conf.h"
#include "obs/metrics.h"
#include "smtp/smtp_client.h"
#include "upstream/pool.h"
#include "upstream/upcred.h"
#include "upstream/uppool.h"
#include "upstream/uptx.h"
#include "util/log.h"
#include "util/str.h"

struct uppool {
	const struct conf_upstream	*up;
	struct event_base		*base;
	struct uppool_hooks		 hooks;
	struct pool			*pool;
	struct uptx_conn		 conn;
	struct mx_up			*mx;	/* the upstream's counters */
};

/* one pre-warm connection on its way into the pool */
struct uppool_warm {
	struct uppool			*upp;
	struct smtp_client_params	 p;
	struct secret_fetch		*sf;
	struct smtp_client		*cli;
	struct timespec			 t0;	/* set-up started */
	char				 identity[UPTX_IDENT_MAX];
};

static void	upp_quit(void *, enum pool_close, void *);
static void	upp_drop(void *, enum pool_close, void *);
static int	upp_open(struct pool *, void *);
static void	upp_dead(void *, struct smtp_client *, enum gw_fail,
		    const char *);
static struct smtp_client *upp_lease(void *,
		    const struct smtp_client_params *, const char *,
		    const struct smtp_client_cb *, void *, int *, unsigned *);
static void	upp_give_back(void *, struct smtp_client *, const char *,
		    enum uptx_give);
static void	warm_ready(void *);
static void	warm_reply(void *, const struct smtp_reply *);
static void	warm_failed(void *, enum gw_fail, const char *);

static const struct pool_ops upp_ops = { upp_quit, upp_drop, upp_open };
static const struct pool_ops upp_ops_nowarm = { upp_quit, upp_drop, NULL };
static const struct smtp_client_idle_cb upp_idle_cb = { upp_dead };
static const struct smtp_client_cb warm_cb = {
	warm_ready, warm_reply, warm_failed
};

struct uppool *
uppool_new(struct event_base *base, const struct conf_upstream *up,
    const struct uppool_hooks *hooks)
{
	struct uppool		*upp;
	struct pool_limits	 lim;

	if ((upp = calloc(1, sizeof(*upp))) == NULL)
		return NULL;
	upp->up = up;
	upp->mx = metrics_up(up->name);
	upp->base = base;
	upp->hooks = *hooks;
	memset(&lim, 0, sizeof(lim));
	lim.enabled = up->pool;
	/* at least queue_parallel where queue deliveries use up */
	lim.max_idle = conf_pool_max_idle(up);
	lim.idle_timeout = up->pool_idle_timeout;
	lim.max_messages = up->pool_max_messages;
	lim.min_idle = up->pool_min_idle;
	/* conf_check refuses pre-warm where the account is the client's */
	upp->pool = pool_new(base, &lim, up->auth == AUTH_NONE ||
	    up->auth == AUTH_INJECT ? &upp_ops : &upp_ops_nowarm, upp);
	if (upp->pool == NULL) {
		free(upp);
		return NULL;
	}
	upp->conn.lease = upp_lease;
	upp->conn.give_back = upp_give_back;
	upp->conn.ctx = upp;
	return upp;
}

void
uppool_free(struct uppool *upp)
{
	if (upp == NULL)
		return;
	pool_free(upp->pool);
	free(upp);
}

const struct uptx_conn *
uppool_conn(struct uppool *upp)
{
	return &upp->conn;
}

/* uppool_nidle - idle connections now (the metrics' gauge) */
size_t
uppool_nidle(const struct uppool *upp)
{
	return pool_nidle(upp->pool);
}

void
uppool_warm(struct uppool *upp)
{
	pool_warm(upp->pool);
}

void
uppool_retire(struct uppool *upp)
{
	pool_retire(upp->pool);
}

void
uppool_shutdown(struct uppool *upp)
{
	pool_shutdown(upp->pool);
}

static void
upp_log_close(struct uppool *upp, enum pool_close why)
{
	log_debug("pool upstream=%s closed reason=%s", upp->up->name,
	    pool_close_name(why));
}

/* pool ops: the pool lets go of an idle connection */
static void
upp_quit(void *conn, enum pool_close why, void *arg)
{
	upp_log_close(arg, why);
	smtp_client_quit(conn);
}

static void
upp_drop(void *conn, enum pool_close why, void *arg)
{
	upp_log_close(arg, why);
	smtp_client_free(conn);
}

/* the idle watch: an idle connection closed, spoke or failed its RSET */
static void
upp_dead(void *arg, struct smtp_client *c, enum gw_fail cls, const char *why)
{
	struct uppool	*upp = arg;

	log_debug("pool upstream=%s idle connection lost class=%s reason=\"%s\"",
	    upp->up->name, fail_name(cls), why);
	if (!pool_remove(upp->pool, c))
		smtp_client_free(c);
}

/*
 * upp_lease - p NULL: an idle connection for identity, checked alive by
 * attach (a dead one is dropped and the next tried); p: a new one.
 */
static struct smtp_client *
upp_lease(void *ctx, const struct smtp_client_params *p, const char *identity,
    const struct smtp_client_cb *cb, void *cbarg, int *reused,
    unsigned *carried)
{
	struct uppool		*upp = ctx;
	struct smtp_client	*c;
	unsigned		 n;

	*reused = 0;
	*carried = 0;
	if (p != NULL)
		return smtp_client_new(p, cb, cbarg);
	while ((c = pool_get(upp->pool, identity, &n)) != NULL) {
		if (smtp_client_attach(c, cb, cbarg) == 0) {
			*reused = 1;
			*carried = n;
			return c;
		}
		upp_log_close(upp, POOL_CLOSE_DEAD);
		smtp_client_free(c);
	}
	return NULL;
}

/* upp_give_back - kept idle when it may be, else closed */
static void
upp_give_back(void *ctx, struct smtp_client *c, const char *identity,
    enum uptx_give how)
{
	struct uppool	*upp = ctx;
	unsigned long	 n = smtp_client_messages(c);
	enum pool_close	 why;

	if (how == UPTX_GIVE_DROP) {
		smtp_client_free(c);
		return;
	}
	/* a reload or SIGTERM came while it was in use: QUIT, no RSET */
	if (how == UPTX_GIVE_KEEP && pool_closing(upp->pool, &why)) {
		upp_log_close(upp, why);
		smtp_client_quit(c);
		return;
	}
	/* no RSET for a connection that will not be kept anyway */
	if (how != UPTX_GIVE_KEEP || !upp->up->pool ||
	    upp->up->pool_max_idle == 0 ||
	    n >= upp->up->pool_max_messages) {
		if (how == UPTX_GIVE_KEEP)
			upp_log_close(upp, !upp->up->pool ||
			    upp->up->pool_max_idle == 0 ? POOL_CLOSE_DISABLED :
			    POOL_CLOSE_MAXMSG);
		smtp_client_quit(c);
		return;
	}
	if (smtp_client_detach(c, &upp_idle_cb, upp) == -1) {
		/* failing: failed() may still come; nothing to keep */
		smtp_client_free(c);
		return;
	}
	(void)pool_put(upp->pool, c, identity, n > UINT32_MAX ?
	    UINT32_MAX : (unsigned)n);
	/* c may be freed here */
}

/* pre-warm: a connection of the pool's own, authenticated and idle */

static void
warm_free(struct uppool_warm *w)
{
	explicit_bzero(w->identity, sizeof(w->identity));
	free(w);
}

/* warm_fail - nothing came of it: give back what params() took */
static void
warm_fail(struct uppool_warm *w, const char *why)
{
	struct pool	*pool = w->upp->pool;

	log_warnx("pool upstream=%s pre-warm failed: %s", w->upp->up->name,
	    why);
	w->upp->hooks.unhold(w->upp->hooks.arg, &w->p);
	warm_free(w);
	pool_open_failed(pool);
}

/* warm_connect - open it with cred (inject), or with no AUTH */
static void
warm_connect(struct uppool_warm *w, const struct secret_cred *cred)
{
	struct upcred_facts	 f;
	struct upcred		 c;
	const char		*why;

	memset(&f, 0, sizeof(f));
	f.mode = w->upp->up->auth;
	if (w->upp->up->pop_server.host[0] != '\0')
		f.pop_user = w->upp->up->username;
	f.inject = cred;
	f.inject_user = w->upp->up->username;
	if (upcred_select(&f, &c, &why) == -1) {
		warm_fail(w, why);
		return;
	}
	if (str_copy(w->identity, c.identity, sizeof(w->identity)) == -1) {
		explicit_bzero(&c, sizeof(c));
		warm_fail(w, "identity too long to be kept");
		return;
	}
	w->p.auth = upcred_auth(&c);
	/* smtp_client_new() copies the credentials */
	(void)clock_gettime(CLOCK_MONOTONIC, &w->t0);
	w->cli = smtp_client_new(&w->p, &warm_cb, w);
	w->p.auth = NULL;
	explicit_bzero(&c, sizeof(c));
	if (w->cli == NULL)
		warm_fail(w, "out of memory");
	else
		metrics_up_opened(w->upp->mx);
}

static void
warm_secret(void *arg, const struct secret_cred *cred, const char *why)
{
	struct uppool_warm	*w = arg;

	w->sf = NULL;
	if (cred == NULL) {
		warm_fail(w, why);
		return;
	}
	warm_connect(w, cred);
}

/* pool op: start one pre-warm connection */
static int
upp_open(struct pool *pool, void *arg)
{
	struct uppool		*upp = arg;
	struct uppool_warm	*w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	w->upp = upp;
	if (upp->hooks.params(upp->hooks.arg, upp->up, &w->p) == -1) {
		free(w);
		return -1;
	}
	log_debug("pool upstream=%s pre-warm opening", upp->up->name);
	if (upp->up->auth == AUTH_INJECT) {
		w->sf = secret_fetch(upp->base, upp->up, w->p.id, warm_secret, w);
		if (w->sf == NULL) {
			upp->hooks.unhold(upp->hooks.arg, &w->p);
			free(w);
			return -1;
		}
		return 0;
	}
	/* failures are answered through warm_fail: started all the same */
	warm_connect(w, NULL);
	return 0;
}

static void
warm_ready(void *arg)
{
	struct uppool_warm	*w = arg;
	struct pool		*pool = w->upp->pool;
	struct smtp_client	*c = w->cli;
	struct timespec		 t1;

	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	metrics_up_ready(w->upp->mx, (double)(t1.tv_sec - w->t0.tv_sec) +
	    (double)(t1.tv_nsec - w->t0.tv_nsec) / 1e9,
	    smtp_client_tls_resumed(c));
	if (smtp_client_detach(c, &upp_idle_cb, w->upp) == -1) {
		smtp_client_free(c);
		warm_free(w);
		pool_open_failed(pool);
		return;
	}
	log_debug("pool upstream=%s pre-warm ready", w->upp->up->name);
	pool_opened(pool, c, w->identity);
	warm_free(w);
}

static void
warm_reply(void *arg, const struct smtp_reply *rep)
{
	fatalx("uppool: reply to a pre-warm connection that asked nothing");
}

static void
warm_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct uppool_warm	*w = arg;
	struct pool		*pool = w->upp->pool;

	log_warnx("pool upstream=%s pre-warm failed class=%s reason=\"%s\"",
	    w->upp->up->name, fail_name(cls), why);
	metrics_up_failed(w->upp->mx, cls);
	/* the client releases what params() took */
	smtp_client_free(w->cli);
	warm_free(w);
	pool_open_failed(pool);
}
