/*
 * smtp_probe.c - "smtpgate probe": the relay's upstream session, watched.
 *
 * Honesty rule: the probe does not have its own SMTP or TLS logic.  It
 * drives the same smtp_client the relay uses; the only difference is the
 * TLS context's probe mode, in which the verify callback records each
 * error with the policy's decision (the relay's tls_verify_decide) and
 * goes on, so that one connection shows every check.  The verdict is the
 * first check the relay would have refused on, or the pins.
 *
 * With auth = inject the probe then logs in (issue 10: it once said GO
 * AHEAD with a wrong password).  Not on the first connection: the probe
 * mode lets a refused certificate through, and no secret may go to a
 * server the relay would refuse.  So a second session runs only when the
 * first would have gone ahead, with a TLS context built exactly as the
 * relay's (every check enforced) and the credentials fetched exactly as
 * the relay fetches them; it ends with AUTH and QUIT, never MAIL.  Its
 * trace shows the SASL lines redacted, as the relay's log does.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "auth/sasl.h"
#include "auth/secret.h"
#include "conf/conf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_probe.h"
#include "tls/tls.h"
#include "util/fail.h"
#include "util/str.h"

struct probe {
	struct event_base		*base;
	struct smtp_client		*c;
	const struct conf_upstream	*up;
	FILE				*out;
	int				 ready;
	int				 finished;
	enum gw_fail			 cls;
	char				 why[512];
	struct tls_report		 rep;
	int				 have_rep;
	struct smtp_ext			 ext;
	char				 tlsdesc[96];

	/* the login session (auth = inject) */
	struct secret_fetch		*sf;
	struct evdns_base		*dns;
	const char			*helo_name;
	struct tls_client_ctx		*login_tls;	/* the relay's own kind */
	int				 login_ok;
	enum gw_fail			 login_cls;
	char				 login_why[512];
	char				 login_mech[16];
	char				 login_reply[160];
};

#define PROBE_ID	0x70726f6265ULL		/* "probe" in the log */

static void	probe_trace(void *, int, const char *, size_t);
static void	probe_ready(void *);
static void	probe_reply(void *, const struct smtp_reply *);
static void	probe_failed(void *, enum gw_fail, const char *);
static void	probe_release(void *);
static void	probe_checks(struct probe *);
static void	probe_ocsp(struct probe *);
static void	probe_auth_choice(struct probe *);
static void	probe_report(struct probe *);
static int	probe_verdict(struct probe *);
static void	probe_run(struct probe *);
static int	probe_login(struct probe *);
static void	probe_secret(void *, const struct secret_cred *, const char *);
static void	login_ready(void *);
static void	login_failed(void *, enum gw_fail, const char *);
static void	login_auth_reply(struct probe *);

static const struct smtp_client_cb probe_cb = {
	probe_ready, probe_reply, probe_failed
};

static const struct smtp_client_cb login_cb = {
	login_ready, probe_reply, login_failed
};

/* every line of the dialogue, escaped: it comes from the network */
static void
probe_trace(void *arg, int out, const char *line, size_t len)
{
	struct probe	*p = arg;
	char		 vis[2048];

	(void)fprintf(p->out, "  %s %s\n", out ? "C:" : "S:",
	    str_vis(vis, sizeof(vis), line, len));
}

static void
probe_ready(void *arg)
{
	struct probe	*p = arg;
	const struct smtp_ext *ext;

	p->ready = 1;
	if ((ext = smtp_client_ext(p->c)) != NULL)
		p->ext = *ext;
	(void)str_copy(p->tlsdesc, smtp_client_tls(p->c), sizeof(p->tlsdesc));
	p->have_rep = smtp_client_tls_report(p->c, &p->rep) == 0;
	/* no mail, ever: QUIT, and the client frees itself */
	smtp_client_quit(p->c);
	p->c = NULL;
}

static void
probe_reply(void *arg, const struct smtp_reply *r)
{
	(void)arg;
	(void)r;	/* no transaction is ever started */
}

static void
probe_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct probe	*p = arg;

	p->cls = cls != FAIL_NONE ? cls : FAIL_INTERNAL;
	(void)str_copy(p->why, why, sizeof(p->why));
	p->have_rep = smtp_client_tls_report(p->c, &p->rep) == 0;
	/* the end comes with probe_release(), once the client is gone */
	smtp_client_free(p->c);
	p->c = NULL;
}

static void
probe_release(void *arg)
{
	struct probe	*p = arg;

	p->finished = 1;
	(void)event_base_loopexit(p->base, NULL);
}

/*
 * The OCSP line: the same client fetched the answer after the handshake
 * (or checked the staple during it), so the report's revocation text is
 * the relay's verdict.
 */
static void
probe_ocsp(struct probe *p)
{
	const char	*o;

	if (p->up->tlsset.ocsp == OCSP_OFF &&
	    p->up->tlsset.ocsp_stapling == STAPLING_OFF) {
		(void)fprintf(p->out, "check ocsp     not checked (ocsp = off, "
		    "ocsp_stapling = off)\n");
		return;
	}
	o = strstr(p->rep.info.revocation, "ocsp:");
	o = o != NULL ? o + 5 : "not-checked";
	if (p->up->tlsset.ocsp_stapling != STAPLING_OFF)
		(void)fprintf(p->out, "check ocsp     %s (stapling = %s)\n", o,
		    p->up->tlsset.ocsp_stapling == STAPLING_REQUIRE ?
		    "require" :
		    "request");
	else
		(void)fprintf(p->out, "check ocsp     %s (responder, ocsp = "
		    "%s)\n", o,
		    p->up->tlsset.ocsp == OCSP_HARD ? "hard" : "soft");
}

/* one line per check, grouped as an operator thinks of them */
static void
probe_checks(struct probe *p)
{
	static const struct {
		const char	*name;
		enum gw_fail	 a, b;
	} groups[] = {
		{ "chain", FAIL_CERT_UNTRUSTED, FAIL_CERT_UNTRUSTED },
		{ "dates", FAIL_CERT_EXPIRED, FAIL_CERT_NOT_YET_VALID },
		{ "name", FAIL_CERT_NAME_MISMATCH, FAIL_CERT_NAME_MISMATCH },
		{ "crl", FAIL_CERT_REVOKED, FAIL_REVOCATION_UNKNOWN },
	};
	const struct tls_report	*r = &p->rep;
	enum gw_fail		 cls;
	size_t			 g, i;
	int			 any;

	for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		any = 0;
		for (i = 0; i < r->nchecks; i++) {
			cls = tls_verify_class(r->checks[i].err);
			if (cls != groups[g].a && cls != groups[g].b)
				continue;
			(void)fprintf(p->out, "check %-8s depth %d: %s (%d): %s\n",
			    groups[g].name, r->checks[i].depth,
			    tls_verify_text(r->checks[i].err), r->checks[i].err,
			    r->checks[i].accepted ? "let through by policy" :
			    "FAILED");
			any = 1;
		}
		if (any)
			continue;
		if (g == 2 && !r->name_checked)
			(void)fprintf(p->out, "check %-8s not checked "
			    "(verify_hostname = no)\n", groups[g].name);
		else if (g == 3 && !r->crl_on)
			(void)fprintf(p->out, "check %-8s not checked (no "
			    "crl_file or crl_path)\n", groups[g].name);
		else
			(void)fprintf(p->out, "check %-8s ok\n", groups[g].name);
	}
	/* errors of no group (a protocol-level certificate problem) */
	for (i = 0; i < r->nchecks; i++) {
		cls = tls_verify_class(r->checks[i].err);
		for (g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
			if (cls == groups[g].a || cls == groups[g].b)
				break;
		if (g == sizeof(groups) / sizeof(groups[0]))
			(void)fprintf(p->out, "check other    depth %d: %s "
			    "(%d): %s\n", r->checks[i].depth,
			    tls_verify_text(r->checks[i].err), r->checks[i].err,
			    r->checks[i].accepted ? "let through by policy" :
			    "FAILED");
	}
	probe_ocsp(p);
	if (r->pin == 0)
		(void)fprintf(p->out, "check pins     none configured; the "
		    "server's key: pin_sha256 = %s\n", r->spki_pin);
	else
		(void)fprintf(p->out, "check pins     %s; the server's key: "
		    "pin_sha256 = %s\n", r->pin > 0 ? "ok" : "FAILED: no pin "
		    "matches", r->spki_pin);
}

/*
 * The mechanism auth = inject would use on this session, without
 * authenticating: the probe has no business sending a secret.
 */
static void
probe_auth_choice(struct probe *p)
{
	struct sasl_choice	 ch;
	int			 m, clear;

	if (p->up->auth != AUTH_INJECT)
		return;
	memset(&ch, 0, sizeof(ch));
	ch.offered = sasl_offered(p->ext.auth);
	ch.allow = p->up->auth_mechs;
	ch.nallow = p->up->nauth_mechs;
	ch.have_keytab = p->up->gssapi_keytab[0] != '\0';
	ch.have_token = !ch.have_keytab && p->up->password_file[0] == '\0';
	ch.tls = p->have_rep;
	ch.cleartext_ok = p->up->auth_allow_cleartext;
	if ((m = sasl_choose(&ch, &clear)) == AUTH_MECH_NONE)
		(void)fprintf(p->out, "auth choice    NONE usable with a %s "
		    "(auth = inject; see auth_mechanisms, "
		    "auth_allow_cleartext)\n", ch.have_keytab ? "keytab" :
		    ch.have_token ? "token" : "password");
	else
		(void)fprintf(p->out, "auth choice    would use %s%s first\n",
		    auth_mech_name(m), clear ? " in CLEARTEXT" : "");
}

/* what the first session showed: TLS, certificates, checks, AUTH offered */
static void
probe_report(struct probe *p)
{
	const struct tls_report	*r = &p->rep;
	size_t			 i;

	(void)fprintf(p->out, "\n");
	if (p->have_rep) {
		(void)fprintf(p->out, "tls            %s cipher %s group %s "
		    "resumed %s\n", r->info.version, r->info.cipher,
		    r->info.group, r->info.resumed ? "yes" : "no");
		for (i = 0; i < r->nchain; i++)
			(void)fprintf(p->out, "certificate %zu  subject %s\n"
			    "               issuer  %s\n"
			    "               valid   %s .. %s\n", i,
			    r->chain[i].subject, r->chain[i].issuer,
			    r->chain[i].not_before, r->chain[i].not_after);
		(void)fprintf(p->out, "leaf           serial %s sha256 %s\n",
		    r->info.serial, r->info.fingerprint);
		probe_checks(p);
	} else if (p->ready)
		(void)fprintf(p->out, "tls            none: the session ran "
		    "in CLEARTEXT (tls = %s)\n", tls_mode_name(p->up->tls));
	if (p->ready) {
		if (p->ext.flags & SMTP_EXT_AUTH)
			(void)fprintf(p->out, "auth           %s\n", p->ext.auth);
		else
			(void)fprintf(p->out, "auth           none offered\n");
		probe_auth_choice(p);
	}
}

/* 1 if the relay would go on past TLS with this upstream */
static int
probe_tls_ok(const struct probe *p)
{
	return p->ready && (!p->have_rep || p->rep.verdict == FAIL_NONE);
}

/* the verdict line; returns the exit status */
static int
probe_verdict(struct probe *p)
{
	const struct tls_report	*r = &p->rep;

	if (!p->ready) {
		(void)fprintf(p->out, "verdict        REFUSED (%s): %s\n",
		    fail_name(p->cls), p->why);
		return 1;
	}
	if (p->have_rep && r->verdict != FAIL_NONE) {
		(void)fprintf(p->out, "verdict        REFUSED (%s): %s\n",
		    fail_name(r->verdict), r->why);
		return 1;
	}
	if (p->up->auth == AUTH_INJECT && !p->login_ok) {
		(void)fprintf(p->out, "verdict        REFUSED (%s): %s\n",
		    fail_name(p->login_cls), p->login_why);
		return 1;
	}
	if (p->have_rep)
		(void)fprintf(p->out, "verify         %s revocation %s\n",
		    r->info.verify, r->info.revocation);
	(void)fprintf(p->out, "verdict        GO AHEAD: a relay would send "
	    "mail to this upstream%s\n", p->up->auth == AUTH_INJECT ?
	    " (the credentials work)" : "");
	return 0;
}

/* probe_run - dispatch until the current session's client is gone */
static void
probe_run(struct probe *p)
{
	while (!p->finished)
		if (event_base_dispatch(p->base) != 0)
			break;
}

/* the AUTH reply of the login session, for the report line */
static void
login_auth_reply(struct probe *p)
{
	const struct smtp_reply	*r = smtp_client_auth_reply(p->c);
	char			 flat[SMTP_REPLY_TEXT_MAX], vis[160];
	size_t			 i, n;

	(void)str_copy(p->login_mech, smtp_client_auth_mech(p->c),
	    sizeof(p->login_mech));
	if (r == NULL)
		return;
	n = r->textlen < sizeof(flat) - 1 ? r->textlen : sizeof(flat) - 1;
	for (i = 0; i < n; i++)
		flat[i] = r->text[i] == '\n' ? ' ' : r->text[i];
	(void)snprintf(p->login_reply, sizeof(p->login_reply), "%d%s%s %s",
	    r->code, r->enh[0] != '\0' ? " " : "", r->enh,
	    str_vis(vis, sizeof(vis), flat, n));
}

static void
login_ready(void *arg)
{
	struct probe	*p = arg;

	p->login_ok = 1;
	login_auth_reply(p);
	/* AUTH worked: QUIT, never MAIL; the client frees itself */
	smtp_client_quit(p->c);
	p->c = NULL;
}

static void
login_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct probe	*p = arg;

	p->login_cls = cls != FAIL_NONE ? cls : FAIL_INTERNAL;
	(void)str_copy(p->login_why, why, sizeof(p->login_why));
	login_auth_reply(p);
	/* after an AUTH failure the client says QUIT and frees itself */
	smtp_client_free(p->c);
	p->c = NULL;
}

/*
 * probe_secret - the credentials, fetched as the relay fetches them
 * (password_file, token_file or token_command): open the login session.
 * cred is wiped when this returns; smtp_client_new() keeps a copy.
 */
static void
probe_secret(void *arg, const struct secret_cred *cred, const char *why)
{
	struct probe			*p = arg;
	struct smtp_client_params	 prm;
	struct smtp_client_auth		 a;

	p->sf = NULL;
	if (cred == NULL) {
		p->login_cls = FAIL_AUTH;
		(void)snprintf(p->login_why, sizeof(p->login_why),
		    "credentials unavailable: %s", why);
		p->finished = 1;
		(void)event_base_loopexit(p->base, NULL);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.user = cred->user;
	a.secret = cred->password;
	a.token = cred->token;
	a.keytab = cred->keytab;
	a.principal = cred->principal;
	memset(&prm, 0, sizeof(prm));
	prm.base = p->base;
	prm.dns = p->dns;
	prm.up = p->up;
	prm.tls = p->login_tls;
	prm.helo_name = p->helo_name;
	prm.id = PROBE_ID;
	prm.release = probe_release;
	prm.release_arg = p;
	prm.trace = probe_trace;
	prm.trace_arg = p;
	prm.auth = &a;
	if ((p->c = smtp_client_new(&prm, &login_cb, p)) == NULL) {
		p->login_cls = FAIL_INTERNAL;
		(void)str_copy(p->login_why, "cannot start the client",
		    sizeof(p->login_why));
		p->finished = 1;
		(void)event_base_loopexit(p->base, NULL);
	}
}

/*
 * probe_login - auth = inject: log in on a second session, as the relay
 * would, and say whether the credentials work.  Returns 0 if they do.
 */
static int
probe_login(struct probe *p)
{
	char	 err[256], user[CONF_TEXT_MAX * 4];

	(void)fprintf(p->out, "\nlogin          a second session, as the "
	    "relay opens it: AUTH as user \"%s\", then QUIT (never MAIL)\n",
	    str_vis(user, sizeof(user), p->up->username,
	    strlen(p->up->username)));
	p->login_cls = FAIL_AUTH;
	if (p->up->tls != TLS_NONE &&
	    (p->login_tls = tls_upstream_ctx_new(p->up, err,
	    sizeof(err))) == NULL) {
		p->login_cls = FAIL_INTERNAL;
		(void)snprintf(p->login_why, sizeof(p->login_why),
		    "TLS context: %s", err);
		goto out;
	}
	p->finished = 0;
	if ((p->sf = secret_fetch(p->base, p->up, PROBE_ID, probe_secret,
	    p)) == NULL) {
		p->login_cls = FAIL_INTERNAL;
		(void)str_copy(p->login_why, "out of memory",
		    sizeof(p->login_why));
		goto out;
	}
	probe_run(p);
	/* a loop that ran dry leaves nothing behind */
	secret_fetch_cancel(p->sf);
	p->sf = NULL;
	if (p->c != NULL) {
		smtp_client_free(p->c);
		p->c = NULL;
	}
out:
	if (p->login_ok)
		(void)fprintf(p->out, "auth login     ok: the upstream accepted "
		    "the credentials with %s (%s)\n", p->login_mech,
		    p->login_reply[0] != '\0' ? p->login_reply : "no reply");
	else if (p->login_reply[0] != '\0')
		(void)fprintf(p->out, "auth login     FAILED: the upstream "
		    "refused the credentials with %s (%s)\n", p->login_mech,
		    p->login_reply);
	else
		(void)fprintf(p->out, "auth login     FAILED: %s\n",
		    p->login_why);
	return p->login_ok ? 0 : 1;
}

/* smtp_probe - connect like the relay, print everything; see smtp_probe.h */
int
smtp_probe(struct event_base *base, struct evdns_base *dns,
    const struct conf_upstream *up, const char *helo_name,
    struct tls_client_ctx *tls, FILE *out)
{
	struct smtp_client_params	 prm;
	struct probe			 p;
	int				 rc;
	char				 via[PROXY_USER_MAX + PROXY_HOST_MAX + 32];

	memset(&p, 0, sizeof(p));
	p.base = base;
	p.dns = dns;
	p.helo_name = helo_name;
	p.up = up;
	p.out = out;
	memset(&prm, 0, sizeof(prm));
	prm.base = base;
	prm.dns = dns;
	prm.up = up;
	prm.tls = tls;
	prm.helo_name = helo_name;
	prm.id = PROBE_ID;
	prm.release = probe_release;
	prm.release_arg = &p;
	prm.trace = probe_trace;
	prm.trace_arg = &p;
	(void)fprintf(out, "probe upstream %s: %s port %u tls %s\n", up->name,
	    up->host, up->port, tls_mode_name(up->tls));
	if (up->proxy.kind != PROXY_NONE &&
	    proxyurl_format(&up->proxy, via, sizeof(via)) == 0)
		(void)fprintf(out, "proxy          via=%s (it resolves %s)\n",
		    via, up->host);
	if ((p.c = smtp_client_new(&prm, &probe_cb, &p)) == NULL) {
		(void)fprintf(out, "verdict        REFUSED (internal): cannot "
		    "start the client\n");
		return 1;
	}
	probe_run(&p);
	if (p.c != NULL) {
		smtp_client_free(p.c);
		p.c = NULL;
	}
	probe_report(&p);
	if (probe_tls_ok(&p)) {
		if (up->auth == AUTH_INJECT)
			(void)probe_login(&p);
		else if (up->auth != AUTH_NONE)
			(void)fprintf(out, "auth login     not tried: auth = %s "
			    "logs in with each client's own credentials\n",
			    auth_mode_name(up->auth));
	} else if (up->auth == AUTH_INJECT)
		(void)fprintf(out, "auth login     not tried: no secret goes to "
		    "an upstream the relay would refuse\n");
	rc = probe_verdict(&p);
	tls_client_ctx_free(p.login_tls);
	return rc;
}
