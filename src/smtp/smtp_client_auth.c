/*
 * smtp_client_auth.c - AUTH towards the upstream: the strongest mechanism
 * both sides have first (sasl_choose), fallback on a 5xx only where the
 * configuration allows it, secrets wiped after use and never logged
 * (client_send_secret logs the shown form).
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "net/io.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "auth/gssjob.h"
#include "auth/sasl.h"
#include "auth/sasl_gssapi.h"
#include "tls/tls.h"
#include "tls/upconn.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static void	client_auth_choice(const struct smtp_client *,
		    struct sasl_choice *);
static void	client_auth_next(struct smtp_client *, const char *,
		    const char *);
static void	client_send_secret(struct smtp_client *, const char *,
		    const char *);
static void	client_auth_cred(const struct smtp_client *,
		    struct sasl_cred *);
static const char *client_auth_timed(struct smtp_client *, int,
		    const struct sasl_cred *, const char *, size_t, char *,
		    size_t, int *);
static void	client_auth_send(struct smtp_client *, const char *);
static void	client_gss_submit(struct smtp_client *,
		    const struct sasl_cred *);
static void	client_gss_done(void *, struct sasl_state *, const char *,
		    const char *, long);

/*
 * client_auth_copy - keep the owner's credentials for the one exchange.
 * Bounded here, so that every line sasl builds fits.
 */
int
client_auth_copy(struct smtp_client *c, const struct smtp_client_auth *a)
{
	if (a == NULL)
		return 0;
	c->flags |= CF_AUTH_WANTED;
	if (a->one_try)
		c->flags |= CF_AUTH_ONE_TRY;
	if ((c->auth_user = strndup(a->user != NULL ? a->user : "",
	    SASL_USER_MAX + 1)) == NULL)
		return -1;
	if (a->secret != NULL && (c->auth_secret = strndup(a->secret,
	    SASL_SECRET_MAX + 1)) == NULL)
		return -1;
	if (a->token != NULL && (c->auth_token = strndup(a->token,
	    SASL_TOKEN_MAX + 1)) == NULL)
		return -1;
	if (a->keytab != NULL && ((c->auth_keytab = strndup(a->keytab,
	    PATH_MAX)) == NULL || (c->auth_principal = strndup(a->principal !=
	    NULL ? a->principal : "", SASL_USER_MAX + 1)) == NULL))
		return -1;
	return 0;
}

static void
client_auth_free1(char **p)
{
	if (*p == NULL)
		return;
	explicit_bzero(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

/* client_auth_state_free - the exchange's state: nonces, keys, proofs */
static void
client_auth_state_free(struct smtp_client *c)
{
	if (c->auth_st == NULL)
		return;
	sasl_state_clear(c->auth_st);
	free(c->auth_st);
	c->auth_st = NULL;
}

/*
 * client_auth_state_new - a fresh state for the next mechanism, seeded
 * with random bytes (nonces) and the time.  NULL on failure.
 */
static const char *
client_auth_state_new(struct smtp_client *c)
{
	client_auth_state_free(c);
	if ((c->auth_st = calloc(1, sizeof(*c->auth_st))) == NULL)
		return "out of memory";
	if (getrandom(c->auth_st->rnd, sizeof(c->auth_st->rnd), 0) !=
	    (ssize_t)sizeof(c->auth_st->rnd))
		return "no random bytes for the nonce";
	c->auth_st->now = (int64_t)time(NULL);
	return NULL;
}

/* client_auth_wipe - the credentials are needed no longer (rule 14) */
void
client_auth_wipe(struct smtp_client *c)
{
	/* a GSSAPI thread still running keeps (and frees) its own copies */
	gssjob_cancel(c->auth_job);
	c->auth_job = NULL;
	client_auth_free1(&c->auth_user);
	client_auth_free1(&c->auth_secret);
	client_auth_free1(&c->auth_token);
	client_auth_free1(&c->auth_keytab);
	client_auth_free1(&c->auth_principal);
	client_auth_state_free(c);
}

/*
 * client_send_secret - a line of the SASL exchange.  It bypasses
 * client_send() so that the line (up to RFC 4954's 12288 octets) is
 * never formatted into a log: the log and the trace get shown instead.
 */
static void
client_send_secret(struct smtp_client *c, const char *line, const char *shown)
{
	size_t	 n = strlen(line);

	log_trace(LOGF_PROTOCOL, "%016llx > %s", (unsigned long long)c->id,
	    shown);
	if (c->trace != NULL)
		c->trace(c->trace_arg, 1, shown, strlen(shown));
	if (io_write_secret(c->io, line, n) == -1 ||
	    io_write(c->io, "\r\n", 2) == -1)
		client_fail(c, FAIL_INTERNAL, "cannot queue a command");
}

/* client_auth_cred - what sasl needs of this session's credentials */
static void
client_auth_cred(const struct smtp_client *c, struct sasl_cred *cr)
{
	memset(cr, 0, sizeof(*cr));
	cr->user = c->auth_user;
	cr->password = c->auth_secret;
	cr->token = c->auth_token;
	cr->host = c->up->host;
	cr->port = c->up->port;
	cr->keytab = c->auth_keytab;
	cr->principal = c->auth_principal;
	cr->service = c->up->gssapi_service;
}

/*
 * client_auth_timed - sasl_start (step -1) or sasl_step.  GSSAPI's later
 * steps are local (the server's tokens, unwrap, wrap): how long they
 * held the event loop is logged all the same, loudly past GSS_SLOW_MS.
 * Its first step, the one that may ask the KDC, runs on a thread
 * (client_gss_submit).
 */
#define GSS_SLOW_MS	500
static const char *
client_auth_timed(struct smtp_client *c, int step, const struct sasl_cred *cr,
    const char *txt, size_t len, char *line, size_t linelen, int *fail)
{
	struct timespec	 t0, t1;
	const char	*e;
	long		 ms;

	(void)clock_gettime(CLOCK_MONOTONIC, &t0);
	if (step < 0)
		e = sasl_start(c->auth_mech, cr, c->auth_st, line, linelen);
	else
		e = sasl_step(c->auth_mech, step, cr, c->auth_st, txt, len,
		    line, linelen, fail);
	if (c->auth_mech != AUTH_MECH_GSSAPI)
		return e;
	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (long)(t1.tv_sec - t0.tv_sec) * 1000 +
	    (t1.tv_nsec - t0.tv_nsec) / 1000000;
	if (ms >= GSS_SLOW_MS)
		log_warnx("%016llx smtp-client upstream=%s:%u auth mech=GSSAPI "
		    "step=%d blocked the event loop for %ld ms (KDC slow or "
		    "unreachable?)", (unsigned long long)c->id, c->up->host,
		    c->up->port, step + 1, ms);
	else
		log_debug("%016llx smtp-client auth mech=GSSAPI step=%d "
		    "took %ld ms", (unsigned long long)c->id, step + 1, ms);
	return e;
}

/* client_auth_or_ready - after the last EHLO: AUTH if asked for */
void
client_auth_or_ready(struct smtp_client *c)
{
	if (!(c->flags & CF_AUTH_WANTED)) {
		client_enter(c, CS_READY);
		return;
	}
	if (c->flags & CF_HELO) {
		client_auth_fail(c, END_QUIT, "the upstream accepts only HELO, "
		    "so it cannot do AUTH");
		return;
	}
	client_enter(c, CS_AUTH);
}

/* client_auth_choice - what sasl_choose needs to know about this session */
static void
client_auth_choice(const struct smtp_client *c, struct sasl_choice *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->offered = sasl_offered(c->ext.auth);
	ch->allow = c->up->auth_mechs;
	ch->nallow = c->up->nauth_mechs;
	ch->have_token = c->auth_token != NULL;
	ch->have_keytab = c->auth_keytab != NULL;
	ch->tls = (c->flags & CF_TLS) != 0;
	ch->cleartext_ok = c->up->auth_allow_cleartext;
	ch->tried = c->auth_tried;
}

/*
 * client_auth_start - choose the next mechanism and send its AUTH line.
 * Called on entering CS_AUTH, and again by the fallback.
 */
void
client_auth_start(struct smtp_client *c)
{
	struct sasl_choice	 ch;
	struct sasl_cred	 cr;
	char			 line[SASL_LINE_MAX], allowed[96];
	const char		*e;
	size_t			 i, n;
	int			 clear, m;

	client_auth_choice(c, &ch);
	if ((m = sasl_choose(&ch, &clear)) == AUTH_MECH_NONE) {
		/* say what was offered and what we may use: the fix is one */
		if (ch.nallow == 0)
			(void)str_copy(allowed, "all", sizeof(allowed));
		else
			for (allowed[0] = '\0', i = 0; i < ch.nallow; i++) {
				n = strlen(allowed);
				(void)snprintf(allowed + n, sizeof(allowed) - n,
				    "%s%s", i ? "," : "",
				    auth_mech_name(ch.allow[i]));
			}
		client_auth_fail(c, END_QUIT, "no usable AUTH mechanism: upstream "
		    "offers \"%s\", auth_mechanisms = %s, secret = %s%s",
		    c->ext.auth, allowed, ch.have_keytab ? "keytab (GSSAPI "
		    "only)" : ch.have_token ? "token" : "password",
		    ch.tls || ch.have_keytab ? "" : ", no TLS (PLAIN, LOGIN, XOAUTH2 and "
		    "OAUTHBEARER need TLS or auth_allow_cleartext = yes)");
		return;
	}
	log_trace(LOGF_AUTH, "%016llx smtp-client auth choice=%s offered=\"%s\" "
	    "secret=%s tls=%s tried=0x%x", (unsigned long long)c->id,
	    auth_mech_name(m), c->ext.auth, ch.have_keytab ? "keytab" :
	    ch.have_token ? "token" : "password", ch.tls ? "yes" : "no",
	    ch.tried);
	if (clear && !(c->flags & CF_AUTH_CLEAR)) {
		c->flags |= CF_AUTH_CLEAR;
		log_warnx("%016llx smtp-client upstream=%s:%u WARNING: AUTH %s "
		    "in CLEARTEXT (auth_allow_cleartext = yes): the secret "
		    "can be read by anyone on the path",
		    (unsigned long long)c->id, c->up->host, c->up->port,
		    auth_mech_name(m));
	}
	client_timer(c, c->up->command_timeout);
	c->auth_mech = m;
	c->auth_step = 0;
	c->auth_tried |= SASL_BIT(m);
	c->flags &= ~CF_AUTH_EXPECT_FAIL;
	c->flags |= CF_AUTH_RAN;
	client_auth_cred(c, &cr);
	if ((e = client_auth_state_new(c)) != NULL) {
		client_auth_fail(c, END_QUIT, "%s: %s", auth_mech_name(m), e);
		return;
	}
	if (m == AUTH_MECH_GSSAPI) {
		client_gss_submit(c, &cr);
		return;
	}
	if ((e = client_auth_timed(c, -1, &cr, NULL, 0, line, sizeof(line),
	    NULL)) != NULL) {
		/*
		 * This secret does not fit the mechanism (SCRAM without
		 * SASLprep and a non-ASCII password, say).  Nothing was sent,
		 * so no failed login: the next candidate may take it.  Bounded:
		 * each round marks one more mechanism tried.
		 */
		explicit_bzero(line, sizeof(line));
		log_info("%016llx smtp-client upstream=%s:%u auth mech=%s not "
		    "tried: %s", (unsigned long long)c->id, c->up->host,
		    c->up->port, auth_mech_name(m), e);
		client_auth_start(c);
		return;
	}
	client_auth_send(c, line);
	explicit_bzero(line, sizeof(line));
}

/*
 * client_gss_submit - GSSAPI's first step (credentials, perhaps the AS
 * and TGS exchanges, the first token) on a thread: the session waits in
 * AUTH_KDC, command_timeout running, and every other session runs on.
 * The thread holds the exchange's state until client_gss_done.
 */
static void
client_gss_submit(struct smtp_client *c, const struct sasl_cred *cr)
{
	const char	*why;

	c->auth_job = gssjob_start(c->base, cr, c->auth_st, client_gss_done,
	    c, &why);
	if (c->auth_job == NULL) {
		client_auth_fail(c, END_QUIT, "GSSAPI: %s", why);
		return;
	}
	c->auth_st = NULL;
	log_debug("%016llx smtp-client auth mech=GSSAPI step=0 on a thread "
	    "(%u alive)", (unsigned long long)c->id, gssjob_alive());
	client_enter(c, CS_AUTH_KDC);
}

/* client_gss_done - on the loop: the first step's AUTH line, or why not */
#define GSS_SLOW_KDC_MS	500
static void
client_gss_done(void *arg, struct sasl_state *st, const char *line,
    const char *err, long ms)
{
	struct smtp_client	*c = arg;

	client_hold(c);
	c->auth_job = NULL;
	c->auth_st = st;
	if (ms >= GSS_SLOW_KDC_MS)
		log_warnx("%016llx smtp-client upstream=%s:%u auth mech=GSSAPI "
		    "step=0 waited %ld ms for the KDC on a thread (KDC slow "
		    "or unreachable?); other sessions ran on",
		    (unsigned long long)c->id, c->up->host, c->up->port, ms);
	else
		log_debug("%016llx smtp-client auth mech=GSSAPI step=0 took "
		    "%ld ms (on a thread)", (unsigned long long)c->id, ms);
	if (err != NULL)
		/* the Kerberos reason is the answer: no other mechanism */
		client_auth_fail(c, END_QUIT, "GSSAPI: %s", err);
	else {
		client_enter(c, CS_AUTH);
		/* the reply to AUTH gets its whole command_timeout */
		client_timer(c, c->up->command_timeout);
		client_auth_send(c, line);
	}
	client_release(c);
	/* c may be freed here */
}

/* client_auth_send - log and send the AUTH line sasl_start built */
static void
client_auth_send(struct smtp_client *c, const char *line)
{
	char		 shown[64];
	char		 shown_user[SASL_USER_MAX * 4 + 8];
	char		 shown_princ[SASL_USER_MAX * 4 + 8];
	int		 m = c->auth_mech;

	/* "AUTH PLAIN <redacted>": the mechanism is no secret, the rest is */
	(void)snprintf(shown, sizeof(shown), "AUTH %s%s", auth_mech_name(m),
	    strchr(line + 5, ' ') != NULL ? " <redacted>" : "");
	log_info("%016llx smtp-client upstream=%s:%u auth mech=%s user=\"%s\"%s%s%s",
	    (unsigned long long)c->id, c->up->host, c->up->port,
	    auth_mech_name(m), str_vis(shown_user, sizeof(shown_user),
	    c->auth_user, strlen(c->auth_user)),
	    m == AUTH_MECH_GSSAPI ? " principal=\"" : "",
	    m == AUTH_MECH_GSSAPI ? str_vis(shown_princ, sizeof(shown_princ),
	    c->auth_principal, strlen(c->auth_principal)) : "",
	    m == AUTH_MECH_GSSAPI ? "\"" : "");
	client_send_secret(c, line, shown);
}

/* client_auth_response - a reply in CS_AUTH: 334, 235, or a failure */
void
client_auth_response(struct smtp_client *c, const char *txt)
{
	struct smtp_reply	*r = &c->reply;
	struct sasl_cred	 cr;
	char			 line[SASL_LINE_MAX], shown[2048 * 4];
	const char		*e = NULL, *mech = auth_mech_name(c->auth_mech);
	const char		*peer;
	int			 fail;

	if (r->code == 334) {
		client_auth_cred(c, &cr);
		/* the challenge is the upstream's text: sasl checks it */
		if ((c->flags & CF_AUTH_EXPECT_FAIL) || r->nlines != 1 ||
		    (e = client_auth_timed(c, c->auth_step++, &cr, r->text,
		    r->textlen, line, sizeof(line), &fail)) != NULL) {
			explicit_bzero(line, sizeof(line));
			client_auth_fail(c, END_CANCEL_QUIT,
			    "%s: bad 334 challenge: %s",
			    mech, (c->flags & CF_AUTH_EXPECT_FAIL) ?
			    "another after the error challenge" :
			    r->nlines != 1 ? "more than one line" : e);
			return;
		}
		if (fail)
			c->flags |= CF_AUTH_EXPECT_FAIL;
		client_timer(c, c->up->command_timeout);
		client_send_secret(c, line, "<redacted>");
		explicit_bzero(line, sizeof(line));
		return;
	}
	/* without memory the owner just sees no reply (a temporary failure) */
	if (c->auth_reply == NULL)
		c->auth_reply = malloc(sizeof(*c->auth_reply));
	if (c->auth_reply != NULL)
		*c->auth_reply = *r;
	/*
	 * A 235 before the server proved it knows the secret (SCRAM, DIGEST-
	 * MD5, GSSAPI): the session may be with an impostor.  No fallback.
	 */
	if (r->code == 235 && !(c->flags & CF_AUTH_EXPECT_FAIL) &&
	    c->auth_st != NULL && !sasl_final_ok(c->auth_st)) {
		log_warnx("%016llx smtp-client upstream=%s:%u auth mech=%s "
		    "result=failed: 235 without the server's proof that it "
		    "knows the password", (unsigned long long)c->id,
		    c->up->host, c->up->port, mech);
		client_auth_fail(c, END_QUIT, "%s: the upstream accepted the "
		    "login without proving it knows the password", mech);
		return;
	}
	if (r->code == 235 && !(c->flags & CF_AUTH_EXPECT_FAIL)) {
		c->flags |= CF_AUTH_DONE;
		/* GSSAPI: who logged in where, as Kerberos names them */
		peer = c->auth_st != NULL ? sasl_gssapi_peer(c->auth_st) : NULL;
		log_info("%016llx smtp-client upstream=%s:%u auth mech=%s "
		    "result=ok%s%s%s", (unsigned long long)c->id, c->up->host,
		    c->up->port, mech, peer != NULL ? " kerberos=\"" : "",
		    peer != NULL ? str_vis(shown, sizeof(shown), peer,
		    strlen(peer)) : "", peer != NULL ? "\"" : "");
		client_auth_wipe(c);
		client_enter(c, CS_READY);
		return;
	}
	log_warnx("%016llx smtp-client upstream=%s:%u auth mech=%s "
	    "result=failed reply=\"%s\"", (unsigned long long)c->id,
	    c->up->host, c->up->port, mech, txt);
	if (c->up->auth_fallback && !(c->flags & CF_AUTH_ONE_TRY))
		client_auth_next(c, mech, txt);
	else
		client_auth_fail(c, END_QUIT, "%s: %s", mech, txt);
}

/*
 * client_auth_next - auth_fallback after a failed mechanism: the next one
 * only when this one failed as a mechanism (sasl_fallback_ok: 504, 534,
 * 538, 432, 500 5.5.6).  After 535 the secret is wrong for every
 * mechanism, and each further try is one more failed login at the
 * provider: Dovecot's delay per failure, a lockout, a fail2ban ban.
 */
static void
client_auth_next(struct smtp_client *c, const char *mech, const char *txt)
{
	struct smtp_reply	*r = &c->reply;
	struct sasl_choice	 ch;
	int			 clear, next;

	client_auth_choice(c, &ch);
	next = sasl_choose(&ch, &clear);
	if (next == AUTH_MECH_NONE) {
		client_auth_fail(c, END_QUIT, "%s: %s", mech, txt);
		return;
	}
	if (!sasl_fallback_ok(r->code, r->enh)) {
		log_info("%016llx smtp-client upstream=%s:%u auth mech=%s: no "
		    "fallback to %s after %d%s%s: the upstream refused the "
		    "credentials, not the mechanism", (unsigned long long)c->id,
		    c->up->host, c->up->port, mech, auth_mech_name(next),
		    r->code, r->enh[0] != '\0' ? " " : "", r->enh);
		client_auth_fail(c, END_QUIT, "%s: %s", mech, txt);
		return;
	}
	log_info("%016llx smtp-client upstream=%s:%u auth mech=%s failed as a "
	    "mechanism (%d%s%s): trying %s (auth_fallback = yes)",
	    (unsigned long long)c->id, c->up->host, c->up->port, mech,
	    r->code, r->enh[0] != '\0' ? " " : "", r->enh,
	    auth_mech_name(next));
	client_auth_start(c);
}
