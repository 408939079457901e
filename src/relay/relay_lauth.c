/*
 * relay_lauth.c - the client's AUTH on the listener, for the two modes
 * that take it: auth = map (the password is checked against users_file
 * on the hash workers, the entry names the upstream account) and auth =
 * passthrough (the client's credentials are tried upstream and the
 * upstream's verdict is the reply).  authguard decides how long a failed
 * guess waits and when an address is locked out.
 *
 * Moved out of relay.c as it was (issue 11, part 1).
 */
#include <sys/types.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth/hashpool.h"
#include "auth/users.h"
#include "conf/conf.h"
#include "obs/metrics.h"
#include "relay/authguard.h"
#include "relay/relay_local.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_server.h"
#include "upstream/upcred.h"
#include "upstream/uprt.h"
#include "upstream/uptx.h"
#include "util/log.h"
#include "util/str.h"

static int	relay_hash_start(struct relay *, const char *, const char *);
static void	relay_hash_done(uint64_t, int, void *);
static void	relay_auth_reject(struct relay *, int, const char *,
		    const char *);
static void	relay_authdelay_cb(evutil_socket_t, short, void *);
static void	relay_auth_log(struct relay *, const char *, const char *,
		    int);

/*
 * The client's AUTH.  An address over auth_fail_limit is refused before
 * anything is tried (authguard).  map: the password is hashed off the
 * loop (hashpool) and relay_hash_done() answers.  passthrough: the
 * upstream connection opens now with the client's credentials, and the
 * upstream's verdict becomes the reply (tx_ready/tx_failed in relay.c).
 */
void
relay_srv_auth(void *arg, const char *mech, const char *user,
    const char *pass)
{
	struct relay		*r = arg;
	struct upcred_facts	 f;
	char			 id[UPCRED_ID_MAX];

	if (authguard_begin(r->env->conf, (struct sockaddr *)&r->peer,
	    r->id)) {
		relay_auth_log(r, user, "locked", 0);
		metrics_auth(MX_AUTH_LS_LOCKED);
		smtp_server_reply(r->srv, 454, "4.7.0", "Too many failed "
		    "logins from your address, try again later");
		return;
	}
	/* in flight until relay_auth_log() says the verdict */
	r->auth_inflight = 1;
	if (r->up->auth == AUTH_MAP) {
		r->map = NULL;
		(void)str_copy(r->auth_user, user, sizeof(r->auth_user));
		if (relay_hash_start(r, user, pass) == -1) {
			relay_auth_log(r, user, "failed", 0);
			metrics_auth(MX_AUTH_LS_TEMP);
			smtp_server_reply(r->srv, 454, "4.7.0",
			    "Temporary authentication failure");
		}
		return;
	}
	if (r->up->auth != AUTH_PASSTHROUGH)
		fatalx("relay: AUTH from the client with auth = %s",
		    auth_mode_name(r->up->auth));
	/* a failed attempt closed its connection; never reuse one */
	relay_close_upstream(r);
	relay_cred_facts(r, &f);
	f.user = user;		/* upcred: one try, no fallback */
	f.secret = pass;
	(void)str_copy(r->auth_user, user, sizeof(r->auth_user));
	/*
	 * An idle connection this same user and password opened (the
	 * identity holds their proof, upcred.h): the upstream's 235 on it
	 * stands.  Else a new one; smtp_client_new() copies the credentials,
	 * and the identity relay_open_idle() computed is used again.
	 */
	if (!relay_open_idle(r, &f, id, sizeof(id)))
		relay_open_upstream(r, &f);
	/* uptx and the pool keep their own copies of the identity */
	explicit_bzero(id, sizeof(id));
	if (!uptx_connected(r->tx)) {
		/* relay_open_upstream() answered (451: out of memory) */
		relay_auth_log(r, user, "failed", 0);
		return;
	}
	relay_enter(r, R_AUTH);
}

/* map: queue the hash of pass; the answer comes to relay_hash_done() */
static int
relay_hash_start(struct relay *r, const char *user, const char *pass)
{
	struct relay_env		*env = r->env;
	const struct users_entry	*e;
	const char			*hash;

	e = users_lookup(relay_uprt(r)->users, user, &hash);
	if (hash == NULL)
		return -1;
	if (env->hpool == NULL && (env->hpool = hashpool_new(env->base,
	    HASHPOOL_THREADS, HASHPOOL_QUEUE, relay_hash_done, env)) == NULL) {
		log_warnx("%016" PRIx64 " relay auth: starting hash workers: "
		    "%s", r->id, strerror(errno));
		return -1;
	}
	if (hashpool_check(env->hpool, r->id, hash, pass, e != NULL) == -1) {
		log_warnx("%016" PRIx64 " relay auth: %u password hashes "
		    "queued, refused", r->id, hashpool_inflight(env->hpool));
		return -1;
	}
	r->hashing = 1;
	return 0;
}

/*
 * map: a hash is done.  By id: the session that asked may have ended
 * (a new one cannot have its id, ids are never reused).
 */
static void
relay_hash_done(uint64_t id, int ok, void *arg)
{
	struct relay	*r;
	const char	*hash;

	(void)arg;
	r = relay_find(id);
	if (r == NULL || !r->hashing) {
		log_debug("%016" PRIx64 " relay auth: hash result for a "
		    "session gone", id);
		return;
	}
	r->hashing = 0;
	r->map = ok ? users_lookup(relay_uprt(r)->users,
	    r->auth_user, &hash) : NULL;
	relay_auth_log(r, r->auth_user, r->map != NULL ? "ok" : "failed", 0);
	if (r->map != NULL)
		smtp_server_reply(r->srv, 235, "2.7.0",
		    "Authentication successful");
	else {
		metrics_auth(MX_AUTH_LS_INVALID);
		relay_auth_reject(r, 535, "5.7.8",
		    "Authentication credentials invalid");
	}
}

/*
 * The credentials were refused: count the failure against the client's
 * address and hold the reply for the delay authguard sets, so that each
 * guess costs the guesser time.  The session waits in its AUTH state.
 */
static void
relay_auth_reject(struct relay *r, int code, const char *enh,
    const char *text)
{
	struct timeval	 tv;
	unsigned	 delay;

	delay = authguard_failed(r->env->conf, (struct sockaddr *)&r->peer,
	    r->id);
	r->auth_code = code;
	if (str_copy(r->auth_enh, enh != NULL ? enh : "",
	    sizeof(r->auth_enh)) == -1)
		r->auth_enh[0] = '\0';
	free(r->auth_text);
	/* out of memory: the reply goes without its text, at once */
	if ((r->auth_text = strdup(text)) == NULL)
		delay = 0;
	if (delay > 0 && r->ev_authdelay == NULL)
		r->ev_authdelay = evtimer_new(r->env->base,
		    relay_authdelay_cb, r);
	tv.tv_sec = delay;
	tv.tv_usec = 0;
	if (delay == 0 || r->ev_authdelay == NULL ||
	    evtimer_add(r->ev_authdelay, &tv) == -1)
		relay_authdelay_cb(-1, 0, r);
}

static void
relay_authdelay_cb(evutil_socket_t fd, short what, void *arg)
{
	struct relay	*r = arg;
	char		*text = r->auth_text;

	(void)fd;
	(void)what;
	/* taken out first: the reply may end the session and free r */
	r->auth_text = NULL;
	smtp_server_reply(r->srv, r->auth_code, r->auth_enh[0] != '\0' ?
	    r->auth_enh : NULL, text != NULL ? text : "Authentication failed");
	free(text);
}

/* the client's AUTH attempt is over: it no longer counts as in flight */
void
relay_auth_settle(struct relay *r)
{
	if (!r->auth_inflight)
		return;
	r->auth_inflight = 0;
	authguard_end(r->env->conf, (struct sockaddr *)&r->peer);
}

/*
 * One line per AUTH verdict: who, how, what; never the secret.  Every
 * verdict passes here, so the attempt is settled here too.
 */
static void
relay_auth_log(struct relay *r, const char *user, const char *result,
    int code)
{
	char	 vis[SMTP_SASL_ID_MAX * 4 + 1];

	relay_auth_settle(r);
	(void)str_vis(vis, sizeof(vis), user, strlen(user));
	if (code != 0)
		log_info("%016" PRIx64 " relay auth mode=%s user=\"%s\" "
		    "result=%s upstream=%s:%u code=%d", r->id,
		    auth_mode_name(r->up->auth), vis, result, r->up->host,
		    r->up->port, code);
	else
		log_info("%016" PRIx64 " relay auth mode=%s user=\"%s\" "
		    "result=%s", r->id, auth_mode_name(r->up->auth), vis,
		    result);
}

/* passthrough: the upstream took the client's credentials */
void
relay_auth_done(struct relay *r)
{
	const struct smtp_reply	*rep;

	rep = smtp_client_auth_reply(uptx_client(r->tx));
	relay_enter(r, R_IDLE);
	/*
	 * Ready without an AUTH reply would mean the upstream was never
	 * asked: do not tell the client it is authenticated.
	 */
	if (rep == NULL || rep->code != 235) {
		relay_auth_log(r, r->auth_user, "failed", 0);
		relay_close_upstream(r);
		smtp_server_reply(r->srv, 454, "4.7.0",
		    "Temporary authentication failure");
		return;
	}
	relay_auth_log(r, r->auth_user, "ok", rep->code);
	relay_reply(r, SMTP_RC_AUTH, rep);
}

/*
 * passthrough: the upstream refused (its 4xx/5xx to AUTH goes to the
 * client as it was), or could not be reached or asked (454, RFC 4954).
 * The client was told nothing yet; its connection is already gone.
 */
void
relay_auth_failed(struct relay *r, enum gw_fail cls,
    const struct smtp_reply *rep)
{
	char			 text[256];

	relay_enter(r, R_IDLE);
	if (cls == FAIL_AUTH && rep != NULL && rep->code >= 400 &&
	    rep->code < 600) {
		relay_auth_log(r, r->auth_user, "failed", rep->code);
		metrics_auth(rep->code >= 500 ? MX_AUTH_LS_INVALID :
		    MX_AUTH_LS_TEMP);
		/* a permanent refusal of the credentials counts, and waits */
		if (rep->code >= 500)
			relay_auth_reject(r, rep->code,
			    smtp_reply_enh(SMTP_RC_AUTH, rep->code, rep->enh),
			    rep->text);
		else
			relay_reply(r, SMTP_RC_AUTH, rep);
		return;
	}
	relay_auth_log(r, r->auth_user, "failed", 0);
	metrics_auth(MX_AUTH_LS_TEMP);
	(void)snprintf(text, sizeof(text),
	    "Temporary authentication failure (%s)", fail_name(cls));
	smtp_server_reply(r->srv, 454, "4.7.0", text);
}
