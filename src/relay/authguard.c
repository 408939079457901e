/*
 * authguard - per-address AUTH failure policy (see authguard.h).
 *
 * Why here and not in smtp_server: the relay knows the verdict (a 535
 * from users_file or from the provider), and it is the relay that must
 * not forward an AUTH upstream for an address over the limit.  Why the
 * table outlives reloads: a SIGHUP must not be a free reset for a
 * guesser.  Why a success does not clear the count: one valid account
 * would otherwise let a client keep guessing others' passwords between
 * its own logins; failures age out after auth_fail_window instead.
 */
#include <inttypes.h>
#include <time.h>

#include "auth/authfail.h"
#include "conf/conf.h"
#include "relay/authguard.h"
#include "util/log.h"

static struct authfail	*table;

static int	guard_key(const struct sockaddr *, struct addr_key *);
static time_t	guard_now(void);

/* seconds of a clock that never goes back (and is never 0) */
static time_t
guard_now(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		return time(NULL);
	return ts.tv_sec + 1;
}

/* the table on first use; -1 if there is none (counting is then off) */
static int
guard_key(const struct sockaddr *peer, struct addr_key *k)
{
	if (table == NULL && (table = authfail_new()) == NULL)
		return -1;
	return addr_key(peer, k);
}

/*
 * authguard_begin - is peer over the limit?  If not, its attempt is in
 * flight until authguard_end().  Attempts in flight count toward the
 * limit: without them, a client opening many connections at once would
 * have every AUTH tried (in passthrough, at the provider) before the
 * first verdict counted.
 */
int
authguard_begin(const struct gw_conf *conf, const struct sockaddr *peer,
    uint64_t id)
{
	struct addr_key	 k;
	char			 name[ADDR_KEY_NAME_MAX];
	unsigned		 n, inflight;
	time_t			 now = guard_now();

	if (conf->auth_fail_limit == 0 || guard_key(peer, &k) == -1)
		return 0;
	n = authfail_count(table, &k, now, conf->auth_fail_window);
	inflight = authfail_inflight(table, &k);
	if (n < conf->auth_fail_limit &&
	    inflight < conf->auth_fail_limit - n) {
		authfail_begin(table, &k, now, conf->auth_fail_window);
		return 0;
	}
	if (n < conf->auth_fail_limit)
		log_info("%016" PRIx64 " auth refused address=%s failures=%u "
		    "inflight=%u reason=lockout", id,
		    addr_key_name(&k, name, sizeof(name)), n, inflight);
	else
		log_info("%016" PRIx64 " auth refused address=%s failures=%u "
		    "reason=lockout", id,
		    addr_key_name(&k, name, sizeof(name)), n);
	return 1;
}

/* authguard_end - peer's attempt has its verdict, or was abandoned */
void
authguard_end(const struct gw_conf *conf, const struct sockaddr *peer)
{
	struct addr_key	 k;

	if (conf->auth_fail_limit == 0 || table == NULL ||
	    addr_key(peer, &k) == -1)
		return;
	authfail_end(table, &k);
}

/* authguard_failed - count, log, and say how long to hold the reply */
unsigned
authguard_failed(const struct gw_conf *conf, const struct sockaddr *peer,
    uint64_t id)
{
	struct addr_key	 k;
	char			 name[ADDR_KEY_NAME_MAX];
	unsigned		 n, delay;

	if (guard_key(peer, &k) == -1)
		return conf->auth_fail_delay_max;
	n = authfail_add(table, &k, guard_now(), conf->auth_fail_window);
	delay = authfail_delay(n, conf->auth_fail_delay_max);
	(void)addr_key_name(&k, name, sizeof(name));
	if (conf->auth_fail_limit != 0 && n == conf->auth_fail_limit)
		log_warnx("%016" PRIx64 " auth lockout address=%s failures=%u "
		    "window=%us", id, name, n, conf->auth_fail_window);
	else
		log_info("%016" PRIx64 " auth failure address=%s failures=%u "
		    "delay=%us", id, name, n, delay);
	return delay;
}
