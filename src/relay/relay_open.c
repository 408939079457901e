/*
 * relay_open.c - the upstream connection for a session's MAIL: the
 * POP-before-SMTP login first when the upstream wants one, then an idle
 * pooled connection of the same account, else a new one with the
 * credentials upcred chooses (auth = inject fetches its secret first).
 * Every path ends in R_CONNECT, R_SECRET, R_POP, or a 451 to the client.
 */
#include <sys/types.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "auth/secret.h"
#include "conf/conf.h"
#include "net/proxyhs.h"
#include "obs/metrics.h"
#include "pop/pop3_client.h"
#include "relay/relay.h"
#include "relay/relay_local.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_server.h"
#include "tls/tls.h"
#include "upstream/upcred.h"
#include "upstream/uppool.h"
#include "upstream/uprt.h"
#include "upstream/uptx.h"
#include "util/log.h"
#include "util/str.h"

static void	relay_auth_secret(void *, const struct secret_cred *,
		    const char *);
static void	relay_open_mail(struct relay *, const struct upcred_facts *);
static int	relay_pop_start(struct relay *);
static void	relay_pop_fail(struct relay *, enum gw_fail);
static int	relay_pop_nofile(struct relay *, const char *, const char *);
static void	relay_pop_done(void *, enum gw_fail, const char *);

/* relay_mail_open - POP-before-SMTP's login first, if any, then connect */
void
relay_mail_open(struct relay *r)
{
	if (r->up->pop_server.host[0] != '\0' && relay_pop_start(r) == 0)
		return;
	relay_connect(r);
}

/*
 * relay_connect - open the upstream for the MAIL waiting in r (after the
 * POP login, if any).  Every path ends in R_CONNECT, R_SECRET, or a 451
 * sent as the last thing done.
 */
void
relay_connect(struct relay *r)
{
	struct upcred_facts		 f;
	char				 id[UPCRED_ID_MAX];

	/* an idle connection of the same account first: no secret needed */
	relay_cred_facts(r, &f);
	if (relay_open_idle(r, &f, id, sizeof(id))) {
		(void)uptx_mail(r->tx, r->from);
		return;
	}
	/*
	 * The upstream's credentials, per connection.  inject: fetched
	 * afresh (token_command is asynchronous), then the connection is
	 * opened in relay_auth_secret().
	 */
	if (r->up->auth == AUTH_INJECT) {
		relay_enter(r, R_SECRET);
		if ((r->sf = secret_fetch(r->env->base, r->up, r->id,
		    relay_auth_secret, r)) == NULL) {
			relay_enter(r, R_IDLE);
			relay_fail_reply(r, FAIL_INTERNAL);
		}
		return;
	}
	/* map: the client's entry; none: no AUTH */
	relay_open_mail(r, &f);
}

/* relay_pop_fail - the 451 for a failed POP-before-SMTP login */
static void
relay_pop_fail(struct relay *r, enum gw_fail cls)
{
	char	 text[128];

	(void)snprintf(text, sizeof(text), "POP-before-SMTP login failed (%s)",
	    fail_name(cls));
	smtp_server_reply(r->srv, 451, "4.7.0", text);
}

/* relay_pop_nofile - a secret file of the login unreadable: 451; 0 */
static int
relay_pop_nofile(struct relay *r, const char *key, const char *why)
{
	log_warnx("%016" PRIx64 " relay pop-before-smtp server=%s:%u "
	    "failed class=%s: %s: %s", r->id, r->up->pop_server.host,
	    r->up->pop_server.port, fail_name(FAIL_INTERNAL), key, why);
	relay_pop_fail(r, FAIL_INTERNAL);
	return 0;
}

/*
 * relay_pop_start - run the POP3 login before the SMTP session.  Returns
 * 0 when MAIL now waits for it (or was answered with a 451), 1 when a
 * login within pop_interval makes a new one unnecessary.
 */
static int
relay_pop_start(struct relay *r)
{
	struct pop3_client_params	 p;
	struct timespec			 now, last;
	struct uprt			*u = relay_uprt(r);
	char				 secret[POP3_SECRET_MAX + 1], why[256];
	char				 ppass[PROXYHS_SECRET_MAX];

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	/* kept across reloads (uprt.c says why) */
	last = uprt_pop_ok(u);
	if (r->up->pop_interval > 0 && last.tv_sec != 0 &&
	    now.tv_sec - last.tv_sec < (time_t)r->up->pop_interval) {
		log_debug("%016" PRIx64 " relay pop-before-smtp skipped: last "
		    "login %llds ago (pop_interval %us)", r->id,
		    (long long)(now.tv_sec - last.tv_sec),
		    r->up->pop_interval);
		return 1;
	}
	/* read at each login, so that a changed password is picked up */
	if (secret_read_file(r->up->password_file, secret, sizeof(secret),
	    why, sizeof(why)) == -1) {
		explicit_bzero(secret, sizeof(secret));
		return relay_pop_nofile(r, "password_file", why);
	}
	/* the POP server is reached through the upstream's proxy too */
	ppass[0] = '\0';
	if (r->up->proxy_password_file[0] != '\0' &&
	    secret_read_file(r->up->proxy_password_file, ppass, sizeof(ppass),
	    why, sizeof(why)) == -1) {
		explicit_bzero(secret, sizeof(secret));
		explicit_bzero(ppass, sizeof(ppass));
		return relay_pop_nofile(r, "proxy_password_file", why);
	}
	memset(&p, 0, sizeof(p));
	p.proxy = &r->up->proxy;
	p.proxy_password = ppass;
	p.base = r->env->base;
	p.dns = r->env->dns;
	p.host = r->up->pop_server.host;
	p.port = r->up->pop_server.port;
	p.tls = r->up->pop_tls;
	p.tlsctx = u->pop_tls;
	p.user = r->up->username;
	p.secret = secret;
	p.allow_cleartext = r->up->auth_allow_cleartext;
	p.timeout = r->up->pop_timeout;
	p.id = r->id;
	log_debug("%016" PRIx64 " relay pop-before-smtp server=%s:%u pop_tls=%s",
	    r->id, p.host, p.port, pop3_tls_name(p.tls));
	r->pop = pop3_client_new(&p, relay_pop_done, r);
	explicit_bzero(secret, sizeof(secret));
	explicit_bzero(ppass, sizeof(ppass));
	if (r->pop == NULL) {
		/* ENOMEM, or a user name or password unfit for a command line */
		log_warnx("%016" PRIx64 " relay pop-before-smtp server=%s:%u "
		    "failed class=%s: cannot start the login (out of memory, "
		    "or control characters in username or password)", r->id,
		    p.host, p.port, fail_name(FAIL_INTERNAL));
		relay_pop_fail(r, FAIL_INTERNAL);
		return 0;
	}
	relay_enter(r, R_POP);
	return 0;
}

/* relay_pop_done - the login's verdict: connect, or 451 and keep the mail */
static void
relay_pop_done(void *arg, enum gw_fail cls, const char *why)
{
	struct relay	*r = arg;
	struct timespec	 now;

	pop3_client_free(r->pop);
	r->pop = NULL;
	if (r->state != R_POP)
		fatalx("relay: POP login done in state %s",
		    relay_state_name(r->state));
	if (cls != FAIL_NONE) {
		log_warnx("%016" PRIx64 " relay pop-before-smtp server=%s:%u "
		    "failed class=%s reason=\"%s\"", r->id,
		    r->up->pop_server.host, r->up->pop_server.port,
		    fail_name(cls), why);
		relay_enter(r, R_IDLE);
		relay_pop_fail(r, cls);
		return;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	uprt_pop_ok_set(relay_uprt(r), &now);
	relay_connect(r);
	/* r may be freed here */
}

/* the credentials of auth = inject are in (or not): connect */
static void
relay_auth_secret(void *arg, const struct secret_cred *cred, const char *why)
{
	struct relay		*r = arg;
	struct upcred_facts	 f;

	r->sf = NULL;
	if (cred == NULL) {
		metrics_auth(MX_AUTH_UP_NOCRED);
		log_warnx("%016" PRIx64 " relay upstream=%s:%u auth "
		    "credentials unavailable: %s", r->id, r->up->host,
		    r->up->port, why);
		relay_enter(r, R_IDLE);
		relay_fail_reply(r, FAIL_AUTH);
		return;
	}
	relay_cred_facts(r, &f);
	f.inject = cred;
	/* smtp_client_new() copies them; cred is wiped when we return */
	relay_open_mail(r, &f);
}

/*
 * relay_cred_facts - what upcred chooses from, as far as r knows it: the
 * mode, the POP login, the client's map entry.  The callers add the
 * inject secret or the client's own AUTH.
 */
void
relay_cred_facts(struct relay *r, struct upcred_facts *f)
{
	memset(f, 0, sizeof(*f));
	f->mode = r->up->auth;
	if (r->up->pop_server.host[0] != '\0')
		f->pop_user = r->up->username;
	f->map = r->map;
	f->inject_user = r->up->username;
}

/*
 * relay_open_upstream - the connection for the MAIL (or the passthrough
 * AUTH) waiting in r, with the credentials upcred chooses from f.  On
 * failure the client has its 451 and r holds no connection.
 */
void
relay_open_upstream(struct relay *r, const struct upcred_facts *f)
{
	struct smtp_client_params	 p;
	struct upcred			 c;
	struct uprt			*u = relay_uprt(r);
	const char			*why;
	char				 vis[UPCRED_ID_LOG_MAX];

	if (upcred_select(f, &c, &why) == -1) {
		log_warnx("%016" PRIx64 " relay upstream=%s:%u auth=%s: %s",
		    r->id, r->up->host, r->up->port,
		    auth_mode_name(r->up->auth), why);
		relay_enter(r, R_IDLE);
		relay_fail_reply(r, FAIL_INTERNAL);
		return;
	}
	relay_client_params(r->env, u, r->id, &p);
	p.auth = upcred_auth(&c);
	(void)upcred_id_log(c.identity, vis, sizeof(vis));
	log_debug("%016" PRIx64 " relay opening upstream=%s:%u tls=%s auth=%s "
	    "as=\"%s\"", r->id, r->up->host, r->up->port,
	    tls_mode_name(r->up->tls), p.auth != NULL ?
	    auth_mode_name(r->up->auth) : "none", vis);
	relay_env_hold(r->env);
	r->up_tls[0] = '\0';
	r->up_resumed = 0;
	(void)clock_gettime(CLOCK_MONOTONIC, &r->up_start);
	if (uptx_open(r->tx, uppool_conn(u->pool), &p, c.identity) == -1) {
		relay_env_release(r->env);
		relay_enter(r, R_IDLE);
		relay_fail_reply(r, FAIL_INTERNAL);
		return;
	}
	metrics_up_opened(u->mx);
	relay_enter(r, R_CONNECT);
}

/*
 * relay_open_idle - an idle connection of the pool for the account f
 * names, leased to r: 1, and r waits in R_CONNECT for its ready (after
 * attach's check); 0 when there is none (r unchanged).  The identity
 * looked for is left in id (len bytes, the caller's) and f->identity
 * points to it, so that relay_open_upstream() with the same f does not
 * compute passthrough's HMAC again.  The caller wipes id.
 */
int
relay_open_idle(struct relay *r, struct upcred_facts *f, char *id,
    size_t len)
{
	const char	*why;

	if (r->retried || !r->up->pool ||
	    upcred_identity(f, id, len, &why) == -1)
		return 0;
	f->identity = id;
	r->up_tls[0] = '\0';
	r->up_resumed = 0;
	if (uptx_open(r->tx, uppool_conn(relay_uprt(r)->pool), NULL, id) == -1)
		return 0;
	metrics_up_reused(r->mx);
	relay_enter(r, R_CONNECT);
	return 1;
}

/* relay_open_mail - the connection for the MAIL waiting in r, then MAIL */
static void
relay_open_mail(struct relay *r, const struct upcred_facts *f)
{
	relay_open_upstream(r, f);
	/* uptx sends it when the connection is ready */
	if (uptx_connected(r->tx))
		(void)uptx_mail(r->tx, r->from);
}
