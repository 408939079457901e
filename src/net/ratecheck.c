/*
 * ratecheck - the listener's rate limits (see ratecheck.h).
 *
 * Why per listener name rather than per configuration snapshot: a
 * reload makes a new snapshot, and counters that started again at each
 * SIGHUP would let a client through twice.  Listener names are what a
 * reload keeps (listeners_update() matches sockets by name).  The four
 * limits share the listener's table, told apart by the key's kind.
 */
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "net/ratecheck.h"
#include "util/addr.h"
#include "util/log.h"
#include "util/ratelimit.h"
#include "util/str.h"

enum { KIND_CONN = 1, KIND_MSG, KIND_RCPT, KIND_USER };

#define RATECHECK_USER_MAX	255	/* SMTP_SASL_ID_MAX */

struct table {
	char			 name[CONF_NAME_MAX];
	struct ratelimit	*t;
	uint64_t		 used;	/* last check, to reuse the slot */
};

/* names a reload may bring, bounded: the least recently used goes */
static struct table	 tables[CONF_MAX_LISTENERS * 2];

static uint64_t		 now_ms(void);
static struct ratelimit	*table_of(const struct conf_listener *, uint64_t);
static int		 limited(const struct conf_listener *);

static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int
limited(const struct conf_listener *l)
{
	return l->rate_connections.count > 0 || l->rate_messages.count > 0 ||
	    l->rate_recipients.count > 0 || l->rate_user_messages.count > 0;
}

/* l's table, made at its first use; NULL if out of memory */
static struct ratelimit *
table_of(const struct conf_listener *l, uint64_t now)
{
	static int	 warned;
	struct table	*e = NULL;
	size_t		 i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		if (tables[i].t != NULL &&
		    strcmp(tables[i].name, l->name) == 0) {
			tables[i].used = now;
			return tables[i].t;
		}
		if (e == NULL || tables[i].used < e->used)
			e = &tables[i];
	}
	ratelimit_free(e->t);
	memset(e, 0, sizeof(*e));
	if ((e->t = ratelimit_new()) == NULL) {
		if (!warned++)
			log_warnx("rate limits of [listener %s]: out of "
			    "memory, not applied", l->name);
		return NULL;
	}
	(void)str_copy(e->name, l->name, sizeof(e->name));
	e->used = now;
	return e->t;
}

int
ratecheck_connection(const struct conf_listener *l,
    const struct sockaddr *peer)
{
	struct ratelimit	*t;
	struct addr_key		 k;
	uint64_t		 now = now_ms();

	if (l->rate_connections.count == 0 || addr_key(peer, &k) == -1 ||
	    (t = table_of(l, now)) == NULL)
		return 1;
	return ratelimit_take(t, KIND_CONN, &k, sizeof(k), now,
	    &l->rate_connections);
}

const char *
ratecheck_mail(const struct conf_listener *l, const struct sockaddr *peer,
    const char *user)
{
	struct ratelimit	*t;
	struct addr_key		 k;
	uint64_t		 now = now_ms();
	int			 byaddr, byuser;
	char			 lc[RATECHECK_USER_MAX + 1];
	size_t			 i;

	if (!limited(l) || (t = table_of(l, now)) == NULL)
		return NULL;
	byaddr = addr_key(peer, &k) == 0;
	byuser = user != NULL && *user != '\0';
	/*
	 * One budget per user, not per spelling: an upstream (passthrough)
	 * may take "Alice" and "alice" for the same account.  A longer name
	 * is cut; it still keys the same account whatever its case.
	 */
	if (byuser) {
		for (i = 0; user[i] != '\0' && i < RATECHECK_USER_MAX; i++)
			lc[i] = user[i] >= 'A' && user[i] <= 'Z' ?
			    (char)(user[i] - 'A' + 'a') : user[i];
		lc[i] = '\0';
		user = lc;
	}
	if (byaddr && !ratelimit_ok(t, KIND_MSG, &k, sizeof(k), now,
	    &l->rate_messages))
		return "rate_messages";
	if (byuser && !ratelimit_ok(t, KIND_USER, user, strlen(user), now,
	    &l->rate_user_messages))
		return "rate_user_messages";
	if (byaddr)
		(void)ratelimit_take(t, KIND_MSG, &k, sizeof(k), now,
		    &l->rate_messages);
	if (byuser)
		(void)ratelimit_take(t, KIND_USER, user, strlen(user), now,
		    &l->rate_user_messages);
	return NULL;
}

const char *
ratecheck_rcpt(const struct conf_listener *l, const struct sockaddr *peer)
{
	struct ratelimit	*t;
	struct addr_key		 k;
	uint64_t		 now = now_ms();

	if (l->rate_recipients.count == 0 || addr_key(peer, &k) == -1 ||
	    (t = table_of(l, now)) == NULL)
		return NULL;
	if (!ratelimit_take(t, KIND_RCPT, &k, sizeof(k), now,
	    &l->rate_recipients))
		return "rate_recipients";
	return NULL;
}

const char *
ratecheck_text(const struct conf_listener *l, const char *limit, char *buf,
    size_t len)
{
	const struct rate	*r = &l->rate_messages;

	if (strcmp(limit, "rate_connections") == 0)
		r = &l->rate_connections;
	else if (strcmp(limit, "rate_recipients") == 0)
		r = &l->rate_recipients;
	else if (strcmp(limit, "rate_user_messages") == 0)
		r = &l->rate_user_messages;
	return ratelimit_format(r, buf, len);
}
