/*
 * conf_check.c - checks that need the whole file: names that refer to other
 * sections, and listen addresses shared between listeners.  Runs on the
 * parsed struct only; parsing problems were reported by conf.c already,
 * so a value left empty by such an error is skipped here, not reported twice.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/conf_check.h"
#include "util/log.h"
#include "util/str.h"

/* a listen address in binary, to compare "::1" with "0:0::1" */
struct bindaddr {
	int		 family;
	unsigned char	 addr[16];
	unsigned short	 port;
};

static int	bindaddr_get(const struct hostport *, struct bindaddr *);
static int	bindaddr_clash(const struct bindaddr *,
		    const struct bindaddr *);
static void	check_listen(struct check *, const struct conf_listener *,
		    size_t);
static void	check_upstream(struct check *, const struct conf_upstream *);
static void	check_auth(struct check *, const struct conf_upstream *);
static void	check_pool(struct check *, const struct conf_upstream *);
static void	check_auth_map(struct check *, const struct conf_upstream *);
static void	check_gssapi(struct check *, const struct conf_upstream *);
static void	check_auth_password_mechs(struct check *,
		    const struct conf_upstream *);
static void	check_pop(struct check *, const struct conf_upstream *);
static void	check_proxy(struct check *, const struct conf_upstream *);
static int	hdr_listed(const char (*)[CONF_HDR_NAME_MAX], size_t,
		    const char *);
static void	check_dkim(struct check *, const struct conf_dkim *);
static void	check_listener_dkim(struct check *, struct conf_listener *);
static void	warn_open_relay(struct check *, const struct conf_listener *);
static void	check_listener_tls(struct check *, const struct conf_listener *);
static void	check_listener_auth(struct check *, struct conf_listener *);
static int	cidr_loopback(const struct cidr *);

/* conf_cerr - see conf_check.h */
void
conf_cerr(struct check *ck, int line, const char *fmt, ...)
{
	char	 text[512], msg[PATH_MAX + 600];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s:%d: %s", ck->conf->path, line,
	    text);
	ck->nerr++;
	if (ck->err != NULL)
		ck->err(ck->arg, msg);
}

static int
bindaddr_get(const struct hostport *hp, struct bindaddr *b)
{
	memset(b, 0, sizeof(*b));
	b->port = hp->port;
	if (inet_pton(AF_INET, hp->host, b->addr) == 1)
		b->family = AF_INET;
	else if (inet_pton(AF_INET6, hp->host, b->addr) == 1)
		b->family = AF_INET6;
	else
		return -1;
	return 0;
}

/*
 * Two sockets cannot bind the same address and port, nor a specific address
 * and the wildcard of its family on that port.  Found here, it is a message
 * with a line number; found by bind(), it is a half-started daemon.
 */
static int
bindaddr_clash(const struct bindaddr *a, const struct bindaddr *b)
{
	static const unsigned char	 any[16];
	size_t				 alen;

	if (a->family != b->family || a->port != b->port)
		return 0;
	alen = a->family == AF_INET ? 4 : 16;
	return memcmp(a->addr, b->addr, alen) == 0 ||
	    memcmp(a->addr, any, alen) == 0 || memcmp(b->addr, any, alen) == 0;
}

/* compare listener li's addresses with those of every earlier listener */
static void
check_listen(struct check *ck, const struct conf_listener *l, size_t li)
{
	const struct conf_listener	*o;
	struct bindaddr			 a, b;
	size_t				 i, j, k;

	for (i = 0; i < l->nlisten; i++) {
		if (bindaddr_get(&l->listen[i], &a) == -1)
			continue;
		for (j = 0; j < li; j++) {
			o = &ck->conf->listeners[j];
			for (k = 0; k < o->nlisten; k++) {
				if (bindaddr_get(&o->listen[k], &b) == -1 ||
				    !bindaddr_clash(&a, &b))
					continue;
				conf_cerr(ck, l->line, "[listener %s]: listen: "
				    "%s%s%s:%u clashes with %s%s%s:%u of "
				    "[listener %s]", l->name,
				    a.family == AF_INET6 ? "[" : "",
				    l->listen[i].host,
				    a.family == AF_INET6 ? "]" : "",
				    l->listen[i].port,
				    b.family == AF_INET6 ? "[" : "",
				    o->listen[k].host,
				    b.family == AF_INET6 ? "]" : "",
				    o->listen[k].port, o->name);
			}
		}
	}
}

/*
 * The keys of one TLS-settings block that only make sense together; kind
 * and name say the section ("upstream", its name) for the messages.
 * Weakening combinations that are allowed (verify_chain = no without pins) are
 * warned about by tls_ctx when the context is built, not refused here.
 */
static void
check_tls(struct check *ck, const struct conf_tls *t, int line,
    const char *kind, const char *name)
{
	/* 0: a bad value, reported by conf.c already */
	if (t->tls_min_version != 0 && t->tls_max_version != 0 &&
	    t->tls_min_version > t->tls_max_version)
		conf_cerr(ck, line, "[%s %s]: tls_max_version: %d.%d is "
		    "older than tls_min_version %d.%d", kind, name,
		    t->tls_max_version / 10, t->tls_max_version % 10,
		    t->tls_min_version / 10, t->tls_min_version % 10);
	if ((t->client_cert[0] == '\0') != (t->client_key[0] == '\0'))
		conf_cerr(ck, line, "[%s %s]: %s: required with %s",
		    kind, name, t->client_cert[0] == '\0' ? "client_cert" :
		    "client_key", t->client_cert[0] == '\0' ? "client_key" :
		    "client_cert");
	if (t->client_key_password_file[0] != '\0' && t->client_key[0] == '\0')
		conf_cerr(ck, line, "[%s %s]: client_key_password_file: "
		    "set without client_key", kind, name);
	/*
	 * OCSP answers are fetched once and cached until their nextUpdate;
	 * a nonce would bind each answer to one request and make the cache
	 * useless (and wolfSSL would reject every cached answer).
	 */
	if (t->ocsp_nonce)
		conf_cerr(ck, line, "[%s %s]: ocsp_nonce: \"yes\" is not "
		    "supported: OCSP answers are cached until their "
		    "nextUpdate, which a nonce forbids", kind, name);
	/*
	 * wolfSSL 5.5.4 never asks a responder once a staple was requested:
	 * a server that staples nothing would then go unchecked under a
	 * mode that promises a lookup.  One source per upstream.
	 */
	if (t->ocsp_stapling != STAPLING_OFF && t->ocsp != OCSP_OFF)
		conf_cerr(ck, line, "[%s %s]: ocsp_stapling: cannot be "
		    "combined with ocsp = %s (the TLS library makes no "
		    "responder lookup once it asked for a staple); use one of "
		    "them", kind, name, t->ocsp == OCSP_SOFT ? "soft" : "hard");
	if (t->ocsp_url[0] != '\0' &&
	    (strncmp(t->ocsp_url, "http://", 7) != 0 ||
	    t->ocsp_url[7] == '\0' || strchr(t->ocsp_url, ' ') != NULL))
		conf_cerr(ck, line, "[%s %s]: ocsp_url: \"%s\" is not an "
		    "http:// URL", kind, name, t->ocsp_url);
	/* nothing to verify against would fail every handshake */
	if (strcmp(t->ca_file, "none") == 0 && t->ca_path[0] == '\0' &&
	    !t->no_verify_chain)
		conf_cerr(ck, line, "[%s %s]: ca_file: \"none\" needs "
		    "ca_path (or verify_chain = no with pin_sha256)", kind,
		    name);
}

/*
 * The pool's limits against each other.  An idle connection must be
 * closed by us before the upstream would time it out; and pre-warmed
 * connections need an identity known before any client connects, which
 * only auth = none and inject have (map and passthrough log in as the
 * client's account, so a pre-warmed one could never be handed out).
 */
static void
check_pool(struct check *ck, const struct conf_upstream *u)
{
	if (!u->pool)
		return;
	if (u->pool_min_idle > u->pool_max_idle)
		conf_cerr(ck, u->line, "[upstream %s]: pool_min_idle: %u is more "
		    "than pool_max_idle %u", u->name, u->pool_min_idle,
		    u->pool_max_idle);
	if (u->pool_min_idle > 0 &&
	    (u->auth == AUTH_PASSTHROUGH || u->auth == AUTH_MAP))
		conf_cerr(ck, u->line, "[upstream %s]: pool_min_idle: needs auth "
		    "= none or inject (with %s the account is the client's, "
		    "unknown before it connects)", u->name,
		    u->auth == AUTH_MAP ? "map" : "passthrough");
}

/* check_upstream - an upstream's TLS-settings block */
static void
check_upstream(struct check *ck, const struct conf_upstream *u)
{
	check_tls(ck, &u->tlsset, u->line, "upstream", u->name);
	check_pool(ck, u);
}


/*
 * auth = inject: one identity and exactly one source of its secret, and
 * an allow-list that can use that kind of secret.  Found at -t, a missing
 * secret is a message; found at the first AUTH, it is mail held back.
 * A keytab is the third kind of secret: its identity is the principal
 * (username, if set, is only the authorization identity sent).
 */
static void
check_auth(struct check *ck, const struct conf_upstream *u)
{
	int	 nsrc, token, keytab, m, usable = 0;
	size_t	 i;

	keytab = u->gssapi_keytab[0] != '\0';
	nsrc = (u->password_file[0] != '\0') + (u->token_file[0] != '\0') +
	    (u->token_command[0] != '\0') + keytab;
	token = u->token_file[0] != '\0' || u->token_command[0] != '\0';
	check_gssapi(ck, u);
	/* none may still use them: pop_before_smtp logs in with them */
	if (u->auth != AUTH_INJECT)
		return;
	if (u->username[0] == '\0' && !keytab)
		conf_cerr(ck, u->line, "[upstream %s]: username: required with "
		    "auth = inject", u->name);
	if (nsrc != 1) {
		conf_cerr(ck, u->line, "[upstream %s]: auth: inject needs exactly "
		    "one of password_file, token_file, token_command and "
		    "gssapi_keytab (%d set)", u->name, nsrc);
		return;
	}
	if (keytab)
		return;		/* check_gssapi said what a keytab needs */
	for (i = 0; i < u->nauth_mechs; i++) {
		m = u->auth_mechs[i];
		if (m == AUTH_MECH_GSSAPI)
			conf_cerr(ck, u->line, "[upstream %s]: "
			    "auth_mechanisms: GSSAPI needs gssapi_keytab",
			    u->name);
		else if (m == AUTH_MECH_XOAUTH2 || m == AUTH_MECH_OAUTHBEARER) {
			if (!token)
				conf_cerr(ck, u->line, "[upstream %s]: "
				    "auth_mechanisms: %s needs token_file or "
				    "token_command", u->name,
				    auth_mech_name(m));
			else
				usable = 1;
		} else if (!token)
			usable = 1;
	}
	if (u->nauth_mechs != 0 && !usable && token)
		conf_cerr(ck, u->line, "[upstream %s]: auth_mechanisms: a token "
		    "needs XOAUTH2 or OAUTHBEARER in the list", u->name);
}

/*
 * GSSAPI's keys: the keytab only with auth = inject (map and passthrough
 * log in with passwords), and then with its principal and GSSAPI in
 * auth_mechanisms, the only mechanism a keytab can serve; the principal
 * and the service are nothing without a keytab.  The service is a host-
 * based name, "service@host" (RFC 2743 4.1).
 */
static void
check_gssapi(struct check *ck, const struct conf_upstream *u)
{
	const char	*at;
	size_t		 i;
	int		 listed = u->nauth_mechs == 0;

	if (u->gssapi_keytab[0] == '\0') {
		if (u->gssapi_principal[0] != '\0')
			conf_cerr(ck, u->line, "[upstream %s]: gssapi_principal: "
			    "only used with gssapi_keytab", u->name);
		if (u->gssapi_service[0] != '\0')
			conf_cerr(ck, u->line, "[upstream %s]: gssapi_service: "
			    "only used with gssapi_keytab", u->name);
		return;
	}
	if (u->auth != AUTH_INJECT) {
		conf_cerr(ck, u->line, "[upstream %s]: gssapi_keytab: only used "
		    "with auth = inject", u->name);
		return;
	}
	if (u->gssapi_principal[0] == '\0')
		conf_cerr(ck, u->line, "[upstream %s]: gssapi_principal: "
		    "required with gssapi_keytab", u->name);
	at = strchr(u->gssapi_service, '@');
	if (u->gssapi_service[0] != '\0' && (at == NULL ||
	    at == u->gssapi_service || at[1] == '\0' ||
	    strchr(u->gssapi_service, ' ') != NULL))
		conf_cerr(ck, u->line, "[upstream %s]: gssapi_service: \"%s\" "
		    "is not service@host", u->name, u->gssapi_service);
	for (i = 0; i < u->nauth_mechs; i++)
		if (u->auth_mechs[i] == AUTH_MECH_GSSAPI)
			listed = 1;
	if (!listed)
		conf_cerr(ck, u->line, "[upstream %s]: auth_mechanisms: a keytab "
		    "needs GSSAPI in the list", u->name);
}

/*
 * auth = map without users_file would refuse every client; users_file
 * without map would be a table nobody reads, probably a typo in auth.
 */
static void
check_auth_map(struct check *ck, const struct conf_upstream *u)
{
	if (u->auth == AUTH_MAP && u->users_file[0] == '\0')
		conf_cerr(ck, u->line, "[upstream %s]: users_file: required with "
		    "auth = map", u->name);
	if (u->auth != AUTH_MAP && u->users_file[0] != '\0')
		conf_cerr(ck, u->line, "[upstream %s]: users_file: only used with "
		    "auth = map", u->name);
}

/*
 * passthrough and map log in upstream with a password: a list of token
 * mechanisms only would fail every AUTH at run time.
 */
static void
check_auth_password_mechs(struct check *ck, const struct conf_upstream *u)
{
	size_t	 i;
	int	 m;

	if ((u->auth != AUTH_PASSTHROUGH && u->auth != AUTH_MAP) ||
	    u->nauth_mechs == 0)
		return;
	for (i = 0; i < u->nauth_mechs; i++) {
		m = u->auth_mechs[i];
		if (m != AUTH_MECH_XOAUTH2 && m != AUTH_MECH_OAUTHBEARER &&
		    m != AUTH_MECH_GSSAPI)
			return;
	}
	conf_cerr(ck, u->line, "[upstream %s]: auth_mechanisms: auth = %s logs in "
	    "with a password and needs PLAIN, LOGIN or CRAM-MD5 in the list",
	    u->name, auth_mode_name(u->auth));
}

/*
 * pop_before_smtp logs in with the upstream's username and password_file
 * (a token cannot log in to POP3); without them every message would wait
 * for a login that cannot succeed.
 */
static void
check_pop(struct check *ck, const struct conf_upstream *u)
{
	if (u->pop_server.host[0] == '\0')
		return;
	/* passthrough opens the upstream at the client's AUTH, not at MAIL */
	if (u->auth == AUTH_PASSTHROUGH)
		conf_cerr(ck, u->line, "[upstream %s]: pop_before_smtp: not "
		    "supported with auth = passthrough", u->name);
	if (u->username[0] == '\0')
		conf_cerr(ck, u->line, "[upstream %s]: username: required with "
		    "pop_before_smtp", u->name);
	if (u->password_file[0] == '\0')
		conf_cerr(ck, u->line, "[upstream %s]: password_file: required with "
		    "pop_before_smtp", u->name);
}

/*
 * A proxy login needs both halves: a user without a password would be
 * refused at every connection, a password without a user never sent.
 */
static void
check_proxy(struct check *ck, const struct conf_upstream *u)
{
	int	 user = u->proxy.kind != PROXY_NONE && u->proxy.user[0] != '\0';
	int	 pass = u->proxy_password_file[0] != '\0';

	if (user && !pass)
		conf_cerr(ck, u->line, "[upstream %s]: proxy_password_file: "
		    "required when proxy names a user (%s@...)", u->name,
		    u->proxy.user);
	else if (pass && u->proxy.kind == PROXY_NONE)
		conf_cerr(ck, u->line, "[upstream %s]: proxy_password_file: "
		    "set without proxy", u->name);
	else if (pass && !user)
		conf_cerr(ck, u->line, "[upstream %s]: proxy_password_file: "
		    "set but proxy names no user (%s://USER@host:port)",
		    u->name, proxyurl_scheme(u->proxy.kind));
}

static int
hdr_listed(const char (*list)[CONF_HDR_NAME_MAX], size_t n, const char *name)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (str_ieq(list[i], name))
			return 1;
	return 0;
}

/* the keys of one [dkim] section that only make sense together */
static void
check_dkim(struct check *ck, const struct conf_dkim *d)
{
	const char	*at;
	size_t		 i;

	/* RFC 6376 5.4: From MUST be signed; a signature without it is void */
	if (d->nheaders > 0 && !hdr_listed(d->headers, d->nheaders, "From"))
		conf_cerr(ck, d->line, "[dkim %s]: headers: must include From",
		    d->name);
	/* oversigning a header that is not signed would sign nothing */
	for (i = 0; i < d->noversign; i++)
		if (d->nheaders > 0 &&
		    !hdr_listed(d->headers, d->nheaders, d->oversign[i]))
			conf_cerr(ck, d->line, "[dkim %s]: oversign: %s is not in "
			    "headers", d->name, d->oversign[i]);
	/* RFC 6376 3.5: i= must be in d= or a subdomain of it */
	if (d->identity[0] != '\0' && d->domain[0] != '\0' &&
	    (at = strrchr(d->identity, '@')) != NULL &&
	    !conf_domain_within(at + 1, d->domain))
		conf_cerr(ck, d->line, "[dkim %s]: identity: %s is not in the "
		    "domain %s or a subdomain of it", d->name, d->identity,
		    d->domain);
}

/* a listener's dkim names: each an existing [dkim] section */
static void
check_listener_dkim(struct check *ck, struct conf_listener *l)
{
	size_t	 i;

	for (i = 0; i < l->ndkim; i++)
		if ((l->dkim[i] = conf_find_dkim(ck->conf, l->dkim_names[i]))
		    == NULL)
			conf_cerr(ck, l->line, "[listener %s]: dkim: no [dkim %s] "
			    "section", l->name, l->dkim_names[i]);
	if (l->dkim_required && ck->conf->ndkims == 0)
		conf_cerr(ck, l->line, "[listener %s]: dkim_required: no [dkim "
		    "NAME] section to sign with", l->name);
}

/*
 * A PROXY header names the client the allow list and the limits see: taken
 * from anyone, it would let any client claim any address.  So a listener
 * that takes one must say which balancers may send it.
 */
static void
check_listener_proxy(struct check *ck, const struct conf_listener *l)
{
	size_t	 i;

	if (l->proxy_protocol != PROXY_PROTOCOL_NO && l->nproxy_from == 0)
		conf_cerr(ck, l->line, "[listener %s]: proxy_from: required when "
		    "proxy_protocol is not no (the balancers' addresses)",
		    l->name);
	/* like an open allow list: a warning, the port may be firewalled */
	for (i = 0; l->proxy_protocol != PROXY_PROTOCOL_NO &&
	    i < l->nproxy_from; i++)
		if (l->proxy_from[i].prefix == 0)
			log_warnx("%s:%d: [listener %s]: proxy_from: %s lets "
			    "anyone who can connect claim any client address; "
			    "list only your balancers", ck->conf->path, l->line,
			    l->name, l->proxy_from[i].family == AF_INET ?
			    "0.0.0.0/0" : "::/0");
}

/*
 * An allow list with 0.0.0.0/0 or ::/0 lets anyone who reaches the port
 * send mail through the upstream with the gateway's credentials: an open
 * relay.  It is a warning, not an error, because a listener behind a
 * firewall may mean it; listeners whose clients must log in (auth = map or
 * passthrough) are not open and get no warning.
 */
static void
warn_open_relay(struct check *ck, const struct conf_listener *l)
{
	const struct cidr	*c;
	size_t			 i;

	if (l->upstream != NULL && (l->upstream->auth == AUTH_MAP ||
	    l->upstream->auth == AUTH_PASSTHROUGH))
		return;
	for (i = 0; i < l->nallow; i++) {
		c = &l->allow[i];
		if (c->prefix != 0)
			continue;
		log_warnx("%s:%d: [listener %s]: allow: %s admits every %s "
		    "address: anyone who can connect can send mail through "
		    "the upstream (an open relay); list only your clients' "
		    "networks", ck->conf->path, l->line, l->name,
		    c->family == AF_INET ? "0.0.0.0/0" : "::/0",
		    c->family == AF_INET ? "IPv4" : "IPv6");
	}
}

/* conf_check - cross-checks after parsing; see conf.h */
int
conf_check(struct gw_conf *c, conf_error_fn err, void *arg)
{
	struct check		 ck = { c, err, arg, 0 };
	struct conf_listener	*l;
	size_t			 i;

	/* a gateway with nothing to listen on is a mistake, not a config */
	if (c->nlisteners == 0)
		conf_cerr(&ck, 0, "[listener]: no [listener NAME] section; "
		    "at least one is required");
	for (i = 0; i < c->nlisteners; i++) {
		l = &c->listeners[i];
		check_listen(&ck, l, i);
		check_listener_dkim(&ck, l);
		check_listener_proxy(&ck, l);
	}
	conf_check_lists(&ck, c);
	for (i = 0; i < c->nlisteners; i++) {
		warn_open_relay(&ck, &c->listeners[i]);
		check_listener_tls(&ck, &c->listeners[i]);
		check_listener_auth(&ck, &c->listeners[i]);
	}
	/*
	 * An upstream no listener uses is most often a listener pointing at
	 * the wrong one: mail then goes somewhere other than intended.
	 */
	for (i = 0; i < c->nupstreams; i++) {
		check_upstream(&ck, &c->upstreams[i]);
		check_auth(&ck, &c->upstreams[i]);
		check_auth_map(&ck, &c->upstreams[i]);
		check_auth_password_mechs(&ck, &c->upstreams[i]);
		check_pop(&ck, &c->upstreams[i]);
		check_proxy(&ck, &c->upstreams[i]);
		if (!conf_upstream_listed(c, c->upstreams[i].name))
			conf_cerr(&ck, c->upstreams[i].line, "[upstream %s]: "
			    "not used by any listener or route",
			    c->upstreams[i].name);
	}
	for (i = 0; i < c->ndkims; i++)
		check_dkim(&ck, &c->dkims[i]);
	conf_check_smime(&ck, c);
	return ck.nerr;
}

/*
 * A listener's TLS keys: a certificate and key with tls, none of the TLS
 * keys without it (a forgotten "tls = starttls" would otherwise leave a
 * listener in plaintext that its operator believes protected).
 */
static void
check_listener_tls(struct check *ck, const struct conf_listener *l)
{
	const struct conf_tls	*t = &l->tlsset;
	const char		*stray = NULL;

	if (l->tls == LISTEN_TLS_NONE) {
		if (l->tls_cert[0] != '\0')
			stray = "tls_cert";
		else if (l->tls_key[0] != '\0')
			stray = "tls_key";
		else if (l->tls_required)
			stray = "tls_required";
		else if (l->verify_client != VERIFY_CLIENT_NONE)
			stray = "verify_client";
		if (stray != NULL)
			conf_cerr(ck, l->line, "[listener %s]: %s: set, but tls = "
			    "none (set tls = starttls or implicit)", l->name,
			    stray);
		return;
	}
	if (l->tls_cert[0] == '\0' || l->tls_key[0] == '\0')
		conf_cerr(ck, l->line, "[listener %s]: %s: required with tls = %s",
		    l->name, l->tls_cert[0] == '\0' ? "tls_cert" : "tls_key",
		    l->tls == LISTEN_TLS_STARTTLS ? "starttls" : "implicit");
	if (t->tls_min_version != 0 && t->tls_max_version != 0 &&
	    t->tls_min_version > t->tls_max_version)
		conf_cerr(ck, l->line, "[listener %s]: tls_max_version: %d.%d is "
		    "older than tls_min_version %d.%d", l->name,
		    t->tls_max_version / 10, t->tls_max_version % 10,
		    t->tls_min_version / 10, t->tls_min_version % 10);
	if (l->verify_client == VERIFY_CLIENT_NONE) {
		if (t->ca_file[0] != '\0')
			stray = "client_ca_file";
		else if (t->npins > 0)
			stray = "client_cert_pins";
		else if (t->crl_file[0] != '\0' || t->crl_path[0] != '\0')
			stray = t->crl_file[0] != '\0' ? "crl_file" :
			    "crl_path";
		if (stray != NULL)
			conf_cerr(ck, l->line, "[listener %s]: %s: set, but "
			    "verify_client = none", l->name, stray);
		return;
	}
	/* pins alone: a few known devices with self-signed certificates */
	if (t->ca_file[0] == '\0' && t->npins == 0)
		conf_cerr(ck, l->line, "[listener %s]: verify_client: needs "
		    "client_ca_file or client_cert_pins", l->name);
	if (t->ca_file[0] == '\0' &&
	    (t->crl_file[0] != '\0' || t->crl_path[0] != '\0'))
		conf_cerr(ck, l->line, "[listener %s]: %s: needs client_ca_file",
		    l->name, t->crl_file[0] != '\0' ? "crl_file" : "crl_path");
}

/* 1 if every address of c is a loopback one */
static int
cidr_loopback(const struct cidr *c)
{
	static const unsigned char	 v6lo[16] = { [15] = 1 };

	if (c->family == AF_INET)
		return c->prefix >= 8 && c->addr[0] == 127;
	return c->prefix == 128 && memcmp(c->addr, v6lo, 16) == 0;
}

/*
 * A listener whose clients log in (auth = map or passthrough upstream)
 * takes passwords.  Unless only loopback clients are allowed, they must
 * not cross the network in cleartext: AUTH is offered only after TLS, so
 * a listener without TLS could never take mail.  auth_allow_cleartext
 * lets it, with a warning (a LAN the operator trusts).
 */
static void
check_listener_auth(struct check *ck, struct conf_listener *l)
{
	size_t	 i;
	int	 local = 1;

	if (l->upstream == NULL || (l->upstream->auth != AUTH_MAP &&
	    l->upstream->auth != AUTH_PASSTHROUGH))
		return;
	for (i = 0; i < l->nallow; i++)
		local = local && cidr_loopback(&l->allow[i]);
	if (local)
		return;
	l->auth_after_tls = !l->auth_allow_cleartext;
	if (l->auth_allow_cleartext) {
		log_warnx("%s:%d: [listener %s]: auth_allow_cleartext: "
		    "clients from the network may send their passwords "
		    "without TLS", ck->conf->path, l->line, l->name);
		return;
	}
	if (l->tls == LISTEN_TLS_NONE)
		conf_cerr(ck, l->line, "[listener %s]: tls: clients log in (upstream "
		    "%s has auth = %s) from non-loopback networks, and AUTH is "
		    "offered only after TLS: set tls = starttls or implicit "
		    "(or auth_allow_cleartext = yes on a trusted network)",
		    l->name, l->upstream->name,
		    l->upstream->auth == AUTH_MAP ? "map" : "passthrough");
}
