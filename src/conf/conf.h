/*
 * conf - the gateway configuration: INI text read with inih through a typed
 * key table, cross-checked, and returned as one immutable snapshot.
 *
 * Contract: conf_load() reports every problem it finds through the error
 * callback, each as "FILE:LINE: key: what is wrong" (LINE 0 and the section
 * name for problems that belong to no line), and returns a snapshot only if
 * there were none.  A snapshot is reference-counted and never changed after
 * conf_load() returns: sessions hold a reference, SIGHUP swaps in a new one.
 * Paths are only stored here (and listed in paths[] for conf_files.c);
 * nothing is opened but the INI file itself.
 */
#ifndef GW_CONF_H
#define GW_CONF_H

#include <limits.h>
#include "util/addr.h"
#include "util/proxyurl.h"
#include "util/ratelimit.h"

#define CONF_NAME_MAX		64
#define CONF_HOST_MAX		256
#define CONF_TEXT_MAX		256
#define CONF_MAX_LISTEN		8	/* addresses per listener */
#define CONF_MAX_ALLOW		32	/* CIDRs per listener */
#define CONF_MAX_LISTENERS	16
#define CONF_MAX_UPSTREAMS	16
#define CONF_MAX_PINS		4	/* pin_sha256 values (a line holds 4) */
#define CONF_MAX_CURVES		5
#define CONF_PIN_LEN		32	/* SHA-256 */
#define CONF_MAX_DKIM		16	/* [dkim NAME] sections */
#define CONF_DKIM_HEADERS	32	/* names in headers / oversign */
#define CONF_HDR_NAME_MAX	64	/* one header field name */
#define CONF_MAX_UPLIST		4	/* upstreams in one ordered list */
#define CONF_MAX_ROUTES		32	/* [route NAME] sections */
#define CONF_ROUTE_SENDERS	32	/* sender patterns in one route */
#define CONF_ADDR_MAX		320	/* one sender pattern (RFC 5321 bounds) */
#define CONF_MAX_SMIME		16	/* [smime NAME] sections */

/*
 * TLS levels towards the upstream.  Ordered: only TLS_NONE and
 * TLS_STARTTLS_OPTIONAL may ever carry mail in cleartext.
 * "auto" in the file is resolved at load time: port 465 -> implicit,
 * anything else -> starttls.
 */
enum tls_mode {
	TLS_NONE = 0,
	TLS_STARTTLS_OPTIONAL,
	TLS_STARTTLS,
	TLS_IMPLICIT
};
#define TLS_REQUIRED(m)		((m) == TLS_STARTTLS || (m) == TLS_IMPLICIT)
#define TLS_USES_STARTTLS(m)	((m) == TLS_STARTTLS || (m) == TLS_STARTTLS_OPTIONAL)

enum long_lines {
	LONG_LINES_REFUSE = 0,		/* 550 5.6.0 over 998 octets */
	LONG_LINES_PASS,		/* relayed as they are (default) */
	LONG_LINES_ENCODE		/* body re-encoded quoted-printable */
};

/* 8-bit body octets for an upstream without 8BITMIME (RFC 6152) */
enum eight_bit {
	EIGHT_BIT_CONVERT = 0,		/* 8-bit parts re-encoded (default) */
	EIGHT_BIT_PASS			/* sent as they are */
};

enum bare_newline {
	BARE_NEWLINE_REJECT = 0,	/* 550 5.6.0, message refused (default) */
	BARE_NEWLINE_NORMALIZE		/* bare CR or LF becomes CRLF */
};

/* which PROXY protocol headers a listener takes: a mask of versions */
enum proxy_protocol {
	PROXY_PROTOCOL_NO = 0,
	PROXY_PROTOCOL_V1 = 1,
	PROXY_PROTOCOL_V2 = 2,
	PROXY_PROTOCOL_ANY = 3
};

/* TLS protocol versions as written in the file: 12 = "1.2", 13 = "1.3" */
#define CONF_TLS_V12	12
#define CONF_TLS_V13	13

/*
 * accept: the narrow exceptions an upstream may be granted instead of
 * switching verification off.  Bits, so that a session can record which
 * of them it used.
 */
#define CONF_ACCEPT_SELF_SIGNED		0x01
#define CONF_ACCEPT_UNTRUSTED_ROOT	0x02
#define CONF_ACCEPT_EXPIRED		0x04
#define CONF_ACCEPT_NOT_YET_VALID	0x08
#define CONF_ACCEPT_NAME_MISMATCH	0x10
#define CONF_ACCEPT_WEAK_RSA_KEY	0x20	/* RSA key under 2048 bits */
#define CONF_ACCEPT_SHA1_SIGNATURE	0x40	/* SHA-1 signature in the chain */

/* curves, in the order given; tls_ctx maps them to wolfSSL's numbers */
enum conf_curve {
	CONF_CURVE_X25519 = 1,
	CONF_CURVE_P256,
	CONF_CURVE_P384,
	CONF_CURVE_P521,
	CONF_CURVE_X448
};

enum crl_check {
	CRL_CHECK_CHAIN = 0,		/* every certificate of the chain */
	CRL_CHECK_LEAF,			/* the server's certificate only */
	CRL_CHECK_CHAIN_EXCEPT_ROOT	/* no CRL needed from the root CA */
};

/* ocsp_stapling: the server's own OCSP answer (RFC 6066 status_request) */
enum ocsp_stapling {
	STAPLING_OFF = 0,
	STAPLING_REQUEST,		/* ask; a stapled answer is checked */
	STAPLING_REQUIRE		/* no good staple: revocation-unknown */
};

enum ocsp_mode {
	OCSP_OFF = 0,
	OCSP_SOFT,			/* only "revoked" fails */
	OCSP_HARD			/* "unknown" and no answer fail too */
};

#define CONF_URL_MAX	256
#define CONF_CMD_MAX	512	/* token_command */

/* auth: how the gateway authenticates to an upstream */
enum auth_mode {
	AUTH_NONE = 0,
	AUTH_INJECT,			/* username + a secret from files */
	AUTH_PASSTHROUGH,		/* the client's own AUTH, relayed */
	AUTH_MAP			/* users_file maps local users */
};

/* SASL mechanisms towards the upstream (auth_mechanisms) */
enum auth_mech {
	AUTH_MECH_NONE = 0,
	AUTH_MECH_PLAIN,
	AUTH_MECH_LOGIN,
	AUTH_MECH_CRAM_MD5,
	AUTH_MECH_XOAUTH2,
	AUTH_MECH_OAUTHBEARER,
	AUTH_MECH_SCRAM_SHA_1,		/* RFC 5802 */
	AUTH_MECH_SCRAM_SHA_256,	/* RFC 7677 */
	AUTH_MECH_DIGEST_MD5,		/* RFC 2831; only when named */
	AUTH_MECH_NTLM,			/* NTLMv2 responses only */
	AUTH_MECH_GSSAPI,		/* RFC 4752, Kerberos 5 */
	AUTH_MECH_MAX
};
#define CONF_MAX_MECHS	(AUTH_MECH_MAX - 1)

/* pop_tls: how the POP-before-SMTP login reaches its server */
enum pop_tls_mode {
	POP_TLS_IMPLICIT = 0,		/* TLS from the first byte (995) */
	POP_TLS_STLS,			/* RFC 2595 STLS, required */
	POP_TLS_NONE			/* cleartext: APOP only, unless allowed */
};

/*
 * The TLS-settings block: how to verify a server and what to offer it.
 * [upstream] holds one; the POP-before-SMTP connection uses its upstream's
 * block with its own host name; the listener will use the same block.
 */
struct conf_tls {
	char		 ca_file[PATH_MAX];	/* default "system" */
	int		 verify_hostname;	/* default 1 */
	char		 tls_name[CONF_HOST_MAX]; /* default: copy of host */
	int		 tls_min_version;	/* default CONF_TLS_V12 */
	int		 tls_max_version;	/* default CONF_TLS_V13 */
	char		 ca_path[PATH_MAX];	/* default "": none */
	/*
	 * verify_chain = no, stored inverted so that a zeroed struct (a
	 * test's, a future caller's) fails closed: chain checked.
	 */
	int		 no_verify_chain;	/* default 0 */
	unsigned	 accept;		/* CONF_ACCEPT_*, default 0 */
	unsigned char	 pins[CONF_MAX_PINS][CONF_PIN_LEN];
	size_t		 npins;			/* pin_sha256, default none */
	char		 ciphers[CONF_TEXT_MAX];	/* TLS 1.2; "" = built in */
	char		 ciphersuites[CONF_TEXT_MAX];	/* TLS 1.3; "" = built in */
	int		 curves[CONF_MAX_CURVES];	/* enum conf_curve */
	size_t		 ncurves;		/* 0 = built in */
	char		 client_cert[PATH_MAX];	/* default "": none */
	char		 client_key[PATH_MAX];
	char		 client_key_password_file[PATH_MAX];
	char		 crl_file[PATH_MAX];	/* default "": none */
	char		 crl_path[PATH_MAX];
	enum crl_check	 crl_check;		/* default chain */
	int		 crl_missing_fail;	/* crl_missing: ignore(0)|fail(1) */
	enum ocsp_mode	 ocsp;			/* default off */
	char		 ocsp_url[CONF_URL_MAX]; /* default "": the AIA URL */
	int		 ocsp_nonce;		/* default 0; 1 is refused */
	int		 ocsp_chain;		/* ocsp_check: leaf(0)|chain(1) */
	unsigned	 ocsp_timeout;		/* seconds, default 10 */
	enum ocsp_stapling ocsp_stapling;	/* default off */
	int		 tls_resume;		/* default 1 */
};

struct conf_upstream {
	char		 name[CONF_NAME_MAX];
	char		 host[CONF_HOST_MAX];	/* required */
	unsigned	 port;			/* default 587 */
	enum tls_mode	 tls;			/* default auto */
	struct conf_tls	 tlsset;		/* the TLS-settings block */
	char		 helo_name[CONF_HOST_MAX]; /* default: gateway hostname */
	unsigned	 connect_timeout;	/* seconds, default 30 */
	unsigned	 command_timeout;	/* seconds, default 300 */
	unsigned	 slow_reply_warning;	/* seconds, default 25; 0 off */
	int		 pool;			/* default 1: reuse connections */
	unsigned	 pool_max_idle;		/* default 4 */
	/*
	 * derived by conf_check, no key: queue_parallel when queue
	 * deliveries may use this upstream (the pool then keeps at least
	 * that many idle: conf_pool_max_idle), else 0
	 */
	unsigned	 pool_queue_idle;
	unsigned	 pool_idle_timeout;	/* seconds, default 60 */
	unsigned	 pool_max_messages;	/* default 100 */
	unsigned	 pool_min_idle;		/* default 0: no pre-warm */
	enum auth_mode	 auth;			/* default none */
	char		 username[CONF_TEXT_MAX];	/* default "" */
	char		 password_file[PATH_MAX];	/* mode 0600 or stricter */
	char		 token_file[PATH_MAX];		/* read at each AUTH */
	char		 token_command[CONF_CMD_MAX];	/* run via /bin/sh -c */
	unsigned	 token_timeout;		/* seconds, default 10 */
	/* GSSAPI (Kerberos 5) from a client keytab: no password stored */
	char		 gssapi_keytab[PATH_MAX];	/* mode 0600 or stricter */
	char		 gssapi_principal[CONF_TEXT_MAX];	/* the client's */
	char		 gssapi_service[CONF_TEXT_MAX];	/* "" = smtp@host */
	char		 users_file[PATH_MAX];	/* auth = map */
	/*
	 * auth_mechanisms in the order given; none (the default "all")
	 * means every mechanism, strongest first for the secret at hand.
	 */
	int		 auth_mechs[CONF_MAX_MECHS];	/* enum auth_mech */
	size_t		 nauth_mechs;
	int		 auth_fallback;		/* default 1 */
	int		 auth_allow_cleartext;	/* default 0 */
	struct hostport	 pop_server;		/* pop_before_smtp; host "" = off */
	enum pop_tls_mode pop_tls;		/* default implicit */
	unsigned	 pop_timeout;		/* seconds, default 30 */
	unsigned	 pop_interval;		/* seconds, default 0: every time */
	struct proxy_url proxy;			/* default none (util/proxyurl.h) */
	char		 proxy_password_file[PATH_MAX];	/* with a proxy user */
	int		 line;			/* line of the section header */
};

/* DKIM canonicalisations; header and body each */
enum conf_canon {
	CONF_CANON_SIMPLE = 0,
	CONF_CANON_RELAXED
};

/*
 * One [dkim NAME] section: a signing key and how to sign with it.  The key
 * file is only named here; relay loads it (and refuses a bad one) when it
 * builds its state, at start, on SIGHUP and for "smtpgate -t".
 */
struct conf_dkim {
	char		 name[CONF_NAME_MAX];
	char		 domain[CONF_HOST_MAX];	/* required, lowercase */
	char		 selector[CONF_HOST_MAX];	/* required */
	char		 key_file[PATH_MAX];	/* required */
	int		 canon[2];		/* header, body: relaxed/relaxed */
	char		 headers[CONF_DKIM_HEADERS][CONF_HDR_NAME_MAX];
	size_t		 nheaders;		/* default: the RFC-ish list */
	char		 oversign[CONF_DKIM_HEADERS][CONF_HDR_NAME_MAX];
	size_t		 noversign;		/* default: From */
	int		 sign_date;		/* default 1 */
	int		 sign_message_id;	/* default 1 */
	unsigned	 expire;		/* seconds, default 0: no x= */
	char		 identity[CONF_HOST_MAX + CONF_NAME_MAX]; /* "": no i= */
	int		 subdomains;		/* default 0 */
	int		 line;
};

/* missing_recipient_cert of an [smime] section */
enum smime_missing {
	SMIME_MISSING_SIGN_ONLY = 0,	/* signed, not encrypted (default) */
	SMIME_MISSING_REFUSE		/* 550 5.7.1 to that RCPT */
};

/* cipher of an [smime] section: the content encryption */
enum smime_cipher {
	SMIME_AES256_CBC = 0,		/* default */
	SMIME_AES128_CBC
};

/*
 * One [smime NAME] section (docs/smime.md): for mail whose sender matches
 * senders (relay/route.h patterns), sign with cert_file/key_file and
 * encrypt to the recipients' certificates in recipient_certs.  Files only
 * named here; relay_smime loads them (start, SIGHUP, -t).
 */
struct conf_smime {
	char		 name[CONF_NAME_MAX];
	char		 senders[CONF_ROUTE_SENDERS][CONF_ADDR_MAX];	/* required */
	size_t		 nsenders;
	int		 sign;			/* default 1 */
	char		 cert_file[PATH_MAX];	/* sign = yes: required */
	char		 key_file[PATH_MAX];	/* sign = yes: required */
	char		 chain_file[PATH_MAX];	/* default "": none */
	int		 encrypt;		/* default 0 */
	char		 recipient_certs[PATH_MAX];	/* encrypt = yes: required */
	enum smime_missing missing;		/* default sign-only */
	enum smime_cipher cipher;		/* default aes256-cbc */
	int		 line;
};

/* tls on a listener: how clients reach the gateway */
enum listen_tls {
	LISTEN_TLS_NONE = 0,		/* plaintext only (default) */
	LISTEN_TLS_STARTTLS,		/* RFC 3207, offered in EHLO */
	LISTEN_TLS_IMPLICIT		/* TLS before the greeting (465) */
};

/* requiretls: where a listener offers REQUIRETLS (RFC 8689) */
enum requiretls_mode {
	REQUIRETLS_TLS = 0,		/* on TLS sessions only (default) */
	REQUIRETLS_ALWAYS,		/* also in plaintext (loopback hop) */
	REQUIRETLS_NO			/* never offered */
};

/* delivery on a listener: relay in step, or store and forward */
enum delivery {
	DELIVERY_LOCKSTEP = 0,		/* 250 only after the upstream's (default) */
	DELIVERY_QUEUE			/* 250 once on disk; queue runner delivers */
};

/*
 * An ordered upstream list: "upstream = a, b" on a listener or a route.
 * The first is tried first; a failure to reach one (refused, timed out,
 * failed TLS checks) moves on to the next (docs/queue.md).
 */
struct conf_uplist {
	char		 names[CONF_MAX_UPLIST][CONF_NAME_MAX];
	const struct conf_upstream *up[CONF_MAX_UPLIST];	/* cross-check */
	size_t		 n;
};

/*
 * One [route NAME] section: mail whose sender matches one of senders
 * (relay/route.h patterns) leaves through upstreams instead of the
 * listener's own list, on every listener but one rule: a listener whose
 * first upstream uses auth = map or passthrough is never routed (the
 * client's login belongs to that upstream's accounts), and the selection
 * skips the routes for it.  A route's upstreams all have auth none or
 * inject, and one sender pattern is in one route only (conf_check).
 */
struct conf_route {
	char		 name[CONF_NAME_MAX];
	char		 senders[CONF_ROUTE_SENDERS][CONF_ADDR_MAX];	/* required */
	size_t		 nsenders;
	struct conf_uplist upstreams;			/* required */
	int		 line;
};

/* verify_client: client certificates on a TLS listener */
enum verify_client {
	VERIFY_CLIENT_NONE = 0,		/* not asked for (default) */
	VERIFY_CLIENT_OPTIONAL,		/* asked; one sent must verify */
	VERIFY_CLIENT_REQUIRED		/* no verified certificate: no session */
};

struct conf_listener {
	char		 name[CONF_NAME_MAX];
	struct hostport	 listen[CONF_MAX_LISTEN];	/* required */
	size_t		 nlisten;
	struct cidr	 allow[CONF_MAX_ALLOW];	/* default 127.0.0.0/8, ::1/128 */
	size_t		 nallow;
	/* upstream = a, b: required; upstream_name and upstream are the first */
	struct conf_uplist upstreams;
	char		 upstream_name[CONF_NAME_MAX];
	const struct conf_upstream *upstream;	/* resolved by the cross-check */
	enum delivery	 delivery;		/* default lockstep */
	unsigned long long max_message_size;	/* default 50 MiB */
	unsigned	 max_recipients;	/* default 100 */
	char		 banner[CONF_TEXT_MAX];	/* default "<hostname> ESMTP smtpgate" */
	unsigned	 command_timeout;	/* seconds, default 300 */
	unsigned	 data_timeout;		/* seconds, default 600 */
	unsigned	 max_sessions_per_client; /* default 50 */
	enum bare_newline bare_newline;		/* default reject */
	enum long_lines	 long_lines;		/* default pass */
	enum eight_bit	 eight_bit;		/* default convert */
	unsigned	 max_session_time;	/* seconds, default 3600 */
	unsigned	 max_junk_commands;	/* default 100 */
	unsigned	 min_data_rate;		/* octets/s, default 500, 0 off */
	int		 received_header;	/* default 0 */
	int		 stream_data;		/* default 1 */
	char		 dkim_names[CONF_MAX_DKIM][CONF_NAME_MAX];
	size_t		 ndkim;			/* default none: match by domain */
	const struct conf_dkim *dkim[CONF_MAX_DKIM];	/* resolved by the cross-check */
	int		 dkim_required;		/* default 0 */
	char		 smime_names[CONF_MAX_SMIME][CONF_NAME_MAX];
	size_t		 nsmime;		/* default none: every [smime] */
	const struct conf_smime *smime[CONF_MAX_SMIME];	/* by the cross-check */
	enum listen_tls	 tls;			/* default none */
	char		 tls_cert[PATH_MAX];	/* leaf, then intermediates */
	char		 tls_key[PATH_MAX];	/* no access for group/others */
	int		 tls_required;		/* starttls: 530 before TLS */
	enum requiretls_mode requiretls;	/* default tls */
	unsigned	 tls_handshake_timeout;	/* seconds, default 10 */
	enum verify_client verify_client;	/* default none */
	/*
	 * The TLS-settings block of the listener side: versions, ciphers,
	 * curves; client_ca_file is its ca_file, client_cert_pins its pins,
	 * and the CRL keys are the upstream side's.  Nothing else is used.
	 */
	struct conf_tls	 tlsset;
	int		 auth_allow_cleartext;	/* default 0 */
	/* AUTH only after TLS: clients log in from beyond loopback */
	int		 auth_after_tls;	/* set by the cross-check */
	/* COUNT/PERIOD limits (util/ratelimit.h), default off */
	struct rate	 rate_connections;	/* per client address */
	struct rate	 rate_messages;		/* per client address */
	struct rate	 rate_recipients;	/* per client address */
	struct rate	 rate_user_messages;	/* per authenticated user */
	enum proxy_protocol proxy_protocol;	/* default no */
	struct cidr	 proxy_from[CONF_MAX_ALLOW];	/* default none */
	size_t		 nproxy_from;
	unsigned	 proxy_timeout;		/* seconds, default 10 */
	int		 line;
};

/*
 * A file, directory or command the running gateway uses after start (at
 * each AUTH or on SIGHUP, as [gateway] user): conf_files_check() tries
 * them as that user.  value points into the same snapshot.
 */
enum conf_path_kind {
	CONF_PATH_FILE = 0,
	CONF_PATH_DIR,
	CONF_PATH_COMMAND		/* token_command */
};
struct conf_path {
	const char	*key;		/* "password_file", ... */
	const char	*value;
	int		 line;		/* where the key is set */
	enum conf_path_kind kind;
};
/*
 * per upstream: 7 TLS files and directories, 3 secret files, a keytab,
 * a command; per listener: certificate, key, client CA file, CRL file and
 * directory; per [smime]: certificate, key, chain, recipients' directory
 */
#define CONF_MAX_PATHS	(CONF_MAX_UPSTREAMS * 12 + CONF_MAX_LISTENERS * 5 + \
			    CONF_MAX_DKIM + CONF_MAX_SMIME * 4)

struct gw_conf {
	char		 path[PATH_MAX];
	char		 hostname[CONF_HOST_MAX];	/* default gethostname() */
	char		 user[CONF_NAME_MAX];	/* default "": no privilege drop */
	int		 user_line;		/* 0: not set in the file */
	int		 log_level;		/* enum gw_loglevel, default info */
	unsigned	 log_facilities;	/* LOGF_*, default LOGF_ALL */
	int		 log_syslog;		/* log_target: stderr(0)|syslog(1) */
	int		 log_json;		/* log_format: text(0)|json(1) */
	unsigned	 max_sessions;		/* default 1000 */
	/* listener AUTH failures per client address (docs/auth.md) */
	unsigned	 auth_fail_limit;	/* lockout after; 0 none, dflt 10 */
	unsigned	 auth_fail_window;	/* seconds, default 900 */
	unsigned	 auth_fail_delay_max;	/* seconds, 0 none, default 8 */
	/* /metrics, /healthz, /readyz (obs/httpd.c); none by default */
	struct hostport	 http_listen[1];
	size_t		 nhttp_listen;
	/* /readyz: an upstream reached within this many seconds is ready */
	unsigned	 ready_window;		/* default 60 */
	/*
	 * failover (docs/queue.md): an upstream not reached is down for
	 * upstream_down_time, doubled per failure in a row up to
	 * upstream_down_time_max; a lockstep client waits at most
	 * failover_timeout for the whole list before its 451.
	 */
	unsigned	 upstream_down_time;	/* seconds, default 30 */
	unsigned	 upstream_down_time_max; /* seconds, default 600 */
	unsigned	 failover_timeout;	/* seconds, default 120 */
	/* store and forward (docs/queue.md), with delivery = queue */
	char		 queue_dir[PATH_MAX];	/* default "": required then */
	unsigned	 queue_max_messages;	/* default 10000 */
	unsigned long long queue_max_size;	/* octets, default 1 GiB */
	unsigned	 queue_lifetime;	/* seconds, default 5 days */
	unsigned	 queue_retry;		/* seconds, default 5 min */
	unsigned	 queue_retry_max;	/* seconds, default 1 hour */
	unsigned	 queue_parallel;	/* per upstream, default 4 */
	struct conf_listener listeners[CONF_MAX_LISTENERS];
	size_t		 nlisteners;
	struct conf_upstream upstreams[CONF_MAX_UPSTREAMS];
	size_t		 nupstreams;
	struct conf_dkim dkims[CONF_MAX_DKIM];
	size_t		 ndkims;
	struct conf_route routes[CONF_MAX_ROUTES];
	size_t		 nroutes;
	struct conf_smime smimes[CONF_MAX_SMIME];
	size_t		 nsmimes;
	struct conf_path paths[CONF_MAX_PATHS];	/* files used after start */
	size_t		 npaths;
	int		 refcnt;
};

typedef void (*conf_error_fn)(void *arg, const char *msg);

/*
 * conf_load - read and check path.  Returns the number of errors (each sent
 * to err); on 0, *out holds a new snapshot with one reference.
 */
int	conf_load(const char *path, struct gw_conf **out, conf_error_fn err, void *arg);
/*
 * conf_check - the cross-checks run by conf_load() after parsing (listeners
 * and routes refer to upstreams, listen addresses do not collide); sets
 * the up[] of every upstream list and each listener's upstream pointer.
 * Returns the number of errors.
 */
int	conf_check(struct gw_conf *, conf_error_fn err, void *arg);
/* conf_ref / conf_unref - reference counting; the last unref frees */
struct gw_conf *conf_ref(struct gw_conf *);
void	conf_unref(struct gw_conf *);
/*
 * conf_pool_max_idle - the idle connections u's pool keeps:
 * pool_max_idle, raised to queue_parallel on an upstream queue
 * deliveries use (pool_queue_idle), unless pool_max_idle is 0 (off)
 */
unsigned conf_pool_max_idle(const struct conf_upstream *u);
/* conf_find_upstream - by name, or NULL */
const struct conf_upstream *conf_find_upstream(const struct gw_conf *, const char *name);
/* auth_mech_name - "PLAIN", "CRAM-MD5", ...; "none" for 0 */
const char *auth_mech_name(int);
/* auth_mode_name - "none", "inject", "passthrough", "map" */
const char *auth_mode_name(enum auth_mode);
/* conf_find_dkim - by name, or NULL */
const struct conf_dkim *conf_find_dkim(const struct gw_conf *, const char *name);
/* conf_find_smime - by name, or NULL */
const struct conf_smime *conf_find_smime(const struct gw_conf *, const char *name);
/*
 * conf_domain_within - 1 if domain is parent or a subdomain of it (any
 * case); parent "example.com" holds "a.example.com" but not "badexample.com"
 */
int	conf_domain_within(const char *domain, const char *parent);
/* tls_mode_name - "none", "starttls-optional", "starttls", "implicit" */
const char *tls_mode_name(enum tls_mode);

#endif
