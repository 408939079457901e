/*
 * relay.c - one client session paired with at most one upstream session.
 *
 * The relay is a small state machine of its own: it knows which command of
 * the client's is waiting for which answer of the upstream's.  The client
 * session (smtp_server) reads one command at a time and waits for our
 * answer, so at most one upstream command is ever in flight and replies
 * can never be crossed.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "auth/hashpool.h"
#include "auth/secret.h"
#include "auth/users.h"
#include "conf/conf.h"
#include "pop/pop3_client.h"
#include "dkim/dkim.h"
#include "relay/authguard.h"
#include "relay/relay.h"
#include "relay/relay_qp.h"
#include "relay/signers.h"
#include "relay/spool.h"
#include "relay/txlog.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_dsn.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_server.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

/* messages up to this size stay in memory while they wait */
#define SPOOL_MEM_THRESHOLD	(256 * 1024)
/* room for our Received: line beyond max_message_size */
#define RECEIVED_MAX		1024

struct relay_env {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gw_conf		*conf;
	struct tls_client_ctx	*tls[CONF_MAX_UPSTREAMS];
	struct users		*users[CONF_MAX_UPSTREAMS];	/* auth = map */
	struct hashpool		*hpool;		/* their hashes, on first use */
	/* POP-before-SMTP: the upstream's trust, checked against the POP host */
	struct tls_client_ctx	*pop_tls[CONF_MAX_UPSTREAMS];
	struct timespec		 pop_ok[CONF_MAX_UPSTREAMS];	/* last login */
	struct signers		*signers;	/* the [dkim] keys */
	int			 refcnt;
};

/* what became of DKIM for one message, for the log line and the reply */
enum relay_dkim {
	RD_OFF,		/* no [dkim] section: nothing to say */
	RD_SIGNED,
	RD_UNSIGNED,	/* this configuration can never sign it */
	RD_ERROR	/* signing failed: try again later */
};

#define DKIM_LOG_MAX	512
/* docs/replies.md lists these */
#define DKIM_TEXT_ERROR		"DKIM signing failed, try again later"
#define DKIM_TEXT_REQUIRED	"Message cannot be DKIM-signed here, refused"

enum relay_state {
	R_IDLE,		/* nothing asked of the upstream */
	R_POP,		/* MAIL waits for the POP-before-SMTP login */
	R_SECRET,	/* MAIL waits for the AUTH credentials */
	R_CONNECT,	/* MAIL waits for the upstream to become ready */
	R_PRE_RSET,	/* RSET of an aborted transaction, then MAIL */
	R_MAIL,
	R_RCPT,
	R_DATA,		/* message sent, final reply awaited */
	R_RSET,
	R_AUTH		/* passthrough: the client's AUTH runs upstream */
};

static const char *relay_strstate[] = {
	"IDLE", "POP", "SECRET", "CONNECT", "PRE_RSET", "MAIL", "RCPT", "DATA",
	"RSET", "AUTH"
};

struct relay {
	LIST_ENTRY(relay)	 entry;
	uint64_t		 id;
	struct relay_env	*env;
	const struct conf_listener *l;
	const struct conf_upstream *up;
	struct smtp_server	*srv;
	struct smtp_client	*cli;
	struct secret_fetch	*sf;		/* auth = inject, fetching */
	struct pop3_client	*pop;		/* POP-before-SMTP login running */
	int			 cli_ready;
	enum relay_state	 state;
	int			 up_tx;		/* upstream has MAIL accepted */
	int			 dsn_logged;	/* 1 MAIL, 2 RCPT: DSN drop logged */
	enum gw_fail		 lost;		/* upstream failed mid-transaction */
	struct smtp_path	*from;		/* allocated at the first MAIL */
	char			 rcpt[SMTP_PATH_MAX];	/* the RCPT in flight */
	char			 first_rcpt[SMTP_PATH_MAX];
	unsigned		 nrcpt;
	struct spool		*spool;
	/* auth = map: the client's entry, alive as long as env is */
	const struct users_entry *map;
	/* map and passthrough: who is authenticating */
	char			 auth_user[SMTP_SASL_ID_MAX + 1];
	int			 hashing;	/* map: a hashpool job is out */
	int			 auth_inflight;	/* authguard_begin() said go */
	struct event		*ev_authdelay;	/* holds a failure reply */
	/* the failure reply held; text allocated only while held */
	int			 auth_code;
	char			 auth_enh[16];
	char			*auth_text;
	struct dkim_msg		*dmsg;		/* headers kept, body hashed */
	int			 dmsg_full;	/* unsignable: stop feeding it */
	size_t			 recvlen;	/* our Received header, spooled first */
	enum relay_dkim		 dkim;
	char			 dkim_log[DKIM_LOG_MAX];
	char			*sigs;		/* DKIM-Signature headers, sent first */
	size_t			 siglen, sigoff;
	struct timespec		 tx_start;
	struct timespec		 dot_start;	/* the client's final dot */
	/* the upstream's TLS, kept past the client's free for the log */
	char			 up_tls[96];
	struct sockaddr_storage	 peer;
	relay_done_fn		 done;
	void			*done_arg;
};

static LIST_HEAD(, relay) relays = LIST_HEAD_INITIALIZER(relays);
static unsigned nrelays;
static unsigned nupstreams;	/* upstream sessions alive, quitting ones too */
static uint64_t next_id;

static void	relay_enter(struct relay *, enum relay_state);
static void	relay_send_mail(struct relay *);
static const char *relay_path_args(struct relay *, const struct smtp_path *,
		    int, char *, size_t);
static void	relay_reply(struct relay *, enum smtp_reply_cmd,
		    const struct smtp_reply *);
static void	relay_fail_reply(struct relay *, enum gw_fail);
static void	relay_fail_rcpt(struct relay *, enum gw_fail);
static const char *relay_from(const struct relay *);
static void	relay_fail_tx(struct relay *, enum gw_fail);
static void	relay_tx_reply(struct relay *, int, const char *,
		    const char *);
static void	relay_slow_reply(struct relay *, int);
static void	relay_close_upstream(struct relay *);
static void	relay_open_upstream(struct relay *,
		    const struct smtp_client_auth *);
static void	relay_auth_secret(void *, const struct secret_cred *,
		    const char *);
static const struct smtp_client_auth *relay_listener_auth(struct relay *,
		    struct smtp_client_auth *);
static int	relay_load_users(const struct gw_conf *, size_t,
		    struct users **, users_error_fn, void *);
static void	relay_auth_log(struct relay *, const char *, const char *,
		    int);
static void	relay_auth_done(struct relay *);
static void	relay_auth_settle(struct relay *);
static int	relay_hash_start(struct relay *, const char *, const char *);
static void	relay_hash_done(uint64_t, int, void *);
static void	relay_auth_reject(struct relay *, int, const char *,
		    const char *);
static void	relay_authdelay_cb(evutil_socket_t, short, void *);
static void	relay_auth_failed(struct relay *, enum gw_fail,
		    const struct smtp_reply *);
static void	relay_connect(struct relay *);
static int	relay_pop_start(struct relay *);
static void	relay_pop_fail(struct relay *, enum gw_fail);
static void	relay_pop_done(void *, enum gw_fail, const char *);
static struct tls_client_ctx *relay_pop_ctx_new(const struct conf_upstream *,
		    char *, size_t);
static int	relay_check_tls(const struct gw_conf *, void (*)(void *,
		    const char *), void *);
static void	relay_dkim_reset(struct relay *);
static int	relay_long_lines(struct relay *);
static void	relay_dkim_unsigned(struct relay *, const char *);
static void	relay_dkim_sign(struct relay *);
static void	relay_dkim_refuse(struct relay *, int, const char *,
		    const char *);
static void	env_err_first(void *, const char *);
static void	env_warn(void *, const char *);

static void	srv_mail(void *, const struct smtp_path *);
static void	srv_rcpt(void *, const struct smtp_path *);
static void	srv_rset(void *);
static int	srv_data_begin(void *);
static int	srv_data_write(void *, const char *, size_t);
static void	srv_data_end(void *);
static void	srv_data_abort(void *);
static void	srv_closed(void *, const char *);
static void	srv_auth(void *, const char *, const char *, const char *);

static void	cli_ready(void *);
static void	cli_reply(void *, const struct smtp_reply *);
static void	cli_failed(void *, enum gw_fail, const char *);

static const struct smtp_server_cb server_cb = {
	srv_mail, srv_rcpt, srv_rset, srv_data_begin, srv_data_write,
	srv_data_end, srv_data_abort, srv_closed, srv_auth
};

static const struct smtp_client_cb client_cb = {
	cli_ready, cli_reply, cli_failed
};

/* errors of users_load() in relay_env_new(): all logged, the first kept */
struct users_errs {
	char	 first[512];
};

static void
env_users_err(void *arg, const char *msg)
{
	struct users_errs	*ue = arg;

	log_error("%s", msg);
	if (ue->first[0] == '\0')
		(void)gw_strlcpy(ue->first, msg, sizeof(ue->first));
}

/* signers_load's error callback: keep the first for relay_env_new's err */
struct env_errs {
	char	*buf;
	size_t	 len;
	int	 n;
};

static void
env_err_first(void *arg, const char *msg)
{
	struct env_errs	*e = arg;

	if (e->n++ == 0)
		(void)snprintf(e->buf, e->len, "%s", msg);
	else
		log_error("%s", msg);
}

static void
env_warn(void *arg, const char *msg)
{
	log_warnx("%s", msg);
}

/* relay_env_new - the shared state of sessions under one configuration */
struct relay_env *
relay_env_new(struct event_base *base, struct evdns_base *dns,
    struct gw_conf *conf, char *err, size_t errlen)
{
	struct relay_env	*env;
	struct users_errs	 ue = { "" };
	char			 why[256];
	size_t			 i;

	if ((env = calloc(1, sizeof(*env))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	env->base = base;
	env->dns = dns;
	env->conf = conf_ref(conf);
	env->refcnt = 1;
	for (i = 0; i < conf->nupstreams; i++) {
		if (conf->upstreams[i].tls == TLS_NONE)
			continue;
		env->tls[i] = tls_upstream_ctx_new(&conf->upstreams[i], why,
		    sizeof(why));
		if (env->tls[i] == NULL) {
			(void)snprintf(err, errlen, "upstream %s: %s",
			    conf->upstreams[i].name, why);
			relay_env_unref(env);
			return NULL;
		}
	}
	for (i = 0; i < conf->nupstreams; i++) {
		if (relay_load_users(conf, i, &env->users[i], env_users_err,
		    &ue) != 0) {
			(void)snprintf(err, errlen, "upstream %s: %s",
			    conf->upstreams[i].name, ue.first);
			relay_env_unref(env);
			return NULL;
		}
	}
	for (i = 0; i < conf->nupstreams; i++) {
		if (conf->upstreams[i].pop_server.host[0] == '\0' ||
		    conf->upstreams[i].pop_tls == POP_TLS_NONE)
			continue;
		env->pop_tls[i] = relay_pop_ctx_new(&conf->upstreams[i], why,
		    sizeof(why));
		if (env->pop_tls[i] == NULL) {
			(void)snprintf(err, errlen, "upstream %s: "
			    "pop_before_smtp: %s", conf->upstreams[i].name, why);
			relay_env_unref(env);
			return NULL;
		}
	}
	/* beside the TLS contexts: a bad key refuses the whole snapshot */
	{
		struct env_errs	 e = { err, errlen, 0 };

		if (signers_load(conf, &env->signers, env_err_first, env_warn,
		    &e) != 0) {
			relay_env_unref(env);
			return NULL;
		}
	}
	return env;
}

/*
 * users_file is read here, when a configuration is put to use (start,
 * SIGHUP), and never in a session: a broken file keeps the old
 * configuration running.
 */
static int
relay_load_users(const struct gw_conf *conf, size_t i, struct users **out,
    users_error_fn err, void *arg)
{
	const struct conf_upstream	*up = &conf->upstreams[i];

	*out = NULL;
	if (up->auth != AUTH_MAP)
		return 0;
	if ((*out = users_load(up->users_file, err, arg)) == NULL)
		return -1;
	return 0;
}

/* relay_check_conf - what relay_env_new() would refuse, for -t */
int
relay_check_conf(const struct gw_conf *conf, void (*err)(void *,
    const char *), void *arg)
{
	struct users	*u;
	size_t		 i;
	int		 nerr = 0;

	for (i = 0; i < conf->nupstreams; i++) {
		if (relay_load_users(conf, i, &u, err, arg) != 0)
			nerr++;
		users_free(u);
	}
	nerr += relay_check_tls(conf, err, arg);
	return nerr;
}

/*
 * relay_check_tls - build every TLS context as relay_env_new() does (CA
 * and CRL files, client certificate, POP server) and drop it: a file
 * that passes -t must also start.
 */
static int
relay_check_tls(const struct gw_conf *conf, void (*err)(void *,
    const char *), void *arg)
{
	const struct conf_upstream	*up;
	struct tls_client_ctx		*tc;
	char				 why[256], msg[400];
	size_t				 i;
	int				 nerr = 0;

	tls_init();
	for (i = 0; i < conf->nupstreams; i++) {
		up = &conf->upstreams[i];
		if (up->tls != TLS_NONE) {
			if ((tc = tls_upstream_ctx_new(up, why,
			    sizeof(why))) == NULL) {
				(void)snprintf(msg, sizeof(msg),
				    "upstream %s: %s", up->name, why);
				err(arg, msg);
				nerr++;
			}
			tls_client_ctx_free(tc);
		}
		if (up->pop_server.host[0] == '\0' ||
		    up->pop_tls == POP_TLS_NONE)
			continue;
		if ((tc = relay_pop_ctx_new(up, why, sizeof(why))) == NULL) {
			(void)snprintf(msg, sizeof(msg), "upstream %s: "
			    "pop_before_smtp: %s", up->name, why);
			err(arg, msg);
			nerr++;
		}
		tls_client_ctx_free(tc);
	}
	return nerr;
}

/*
 * relay_pop_ctx_new - the POP server is verified like the upstream (same
 * TLS-settings block: CA, CRL, pins, versions, exceptions) but against its
 * own host name.
 */
static struct tls_client_ctx *
relay_pop_ctx_new(const struct conf_upstream *up, char *err, size_t errlen)
{
	return tls_client_ctx_new(&up->tlsset, up->pop_server.host,
	    up->pop_server.port, up->pop_server.host, err, errlen);
}

/* relay_env_unref - drop a reference; the last one frees */
void
relay_env_unref(struct relay_env *env)
{
	size_t	i;

	if (env == NULL || --env->refcnt > 0)
		return;
	hashpool_free(env->hpool);
	for (i = 0; i < CONF_MAX_UPSTREAMS; i++) {
		tls_client_ctx_free(env->tls[i]);
		users_free(env->users[i]);
		tls_client_ctx_free(env->pop_tls[i]);
	}
	signers_free(env->signers);
	conf_unref(env->conf);
	free(env);
}

static void
relay_env_release(void *arg)
{
	nupstreams--;
	relay_env_unref(arg);
}

/* relay_env_conf - the configuration of an env */
struct gw_conf *
relay_env_conf(const struct relay_env *env)
{
	return env->conf;
}

static uint64_t
relay_new_id(void)
{
	/* random start so ids differ across restarts; then a counter */
	if (next_id == 0 && getrandom(&next_id, sizeof(next_id), 0) !=
	    sizeof(next_id))
		next_id = (uint64_t)time(NULL) << 20;
	return ++next_id;
}

/* relay_session_start - a new client session on fd */
int
relay_session_start(struct relay_env *env, const struct conf_listener *l,
    int fd, const struct sockaddr *peer, socklen_t peerlen,
    relay_done_fn done, void *done_arg)
{
	struct relay	*r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		return -1;
	}
	r->id = relay_new_id();
	r->env = env;
	env->refcnt++;
	r->l = l;
	r->up = l->upstream;
	r->done = done;
	r->done_arg = done_arg;
	if (peerlen <= sizeof(r->peer))
		memcpy(&r->peer, peer, peerlen);
	r->srv = smtp_server_new(env->base, fd, peer, peerlen, l,
	    env->conf->hostname, r->id, &server_cb, r);
	if (r->srv == NULL) {
		close(fd);
		relay_env_unref(env);
		free(r);
		return -1;
	}
	/* the modes that take the client's AUTH require it before MAIL */
	if (r->up->auth == AUTH_PASSTHROUGH || r->up->auth == AUTH_MAP)
		smtp_server_require_auth(r->srv);
	LIST_INSERT_HEAD(&relays, r, entry);
	nrelays++;
	return 0;
}

/* relay_drain_all - ask every session to end after its transaction */
void
relay_drain_all(void)
{
	struct relay	*r, *next;

	/* a drain may close a session at once, which unlinks it */
	for (r = LIST_FIRST(&relays); r != NULL; r = next) {
		next = LIST_NEXT(r, entry);
		smtp_server_drain(r->srv);
	}
}

/* relay_session_count - sessions alive, counting upstreams still closing */
unsigned
relay_session_count(void)
{
	return nrelays + nupstreams;
}

static void
relay_enter(struct relay *r, enum relay_state s)
{
	log_trace(LOGF_PROXY, "%016" PRIx64 " relay %s -> %s", r->id,
	    relay_strstate[r->state], relay_strstate[s]);
	r->state = s;
}

static size_t
relay_up_index(struct relay *r)
{
	size_t	i = (size_t)(r->up - r->env->conf->upstreams);

	if (i >= CONF_MAX_UPSTREAMS)
		fatalx("relay: upstream outside its configuration");
	return i;
}

static struct tls_client_ctx *
relay_tls_ctx(struct relay *r)
{
	return r->env->tls[relay_up_index(r)];
}

/* relay_fail_text - the text of the 4xx for an upstream failure */
static const struct smtp_reply_map *
relay_fail_text(enum gw_fail cls, char *text, size_t len)
{
	const struct smtp_reply_map	*m = smtp_reply_fail_map(cls);

	(void)snprintf(text, len, "%s (%s)", m->text, fail_name(cls));
	return m;
}

/* relay_fail_reply - the 4xx for an upstream failure, to the waiting command */
static void
relay_fail_reply(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	smtp_server_reply(r->srv, m->code, m->enh, text);
}

/* relay_fail_rcpt - the 4xx to RCPT without an upstream, logged */
static void
relay_fail_rcpt(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	txlog_refused(r->id, "rcpt", "gateway", smtp_server_info(r->srv)->peer,
	    relay_from(r), r->rcpt, m->code, m->enh, text);
	smtp_server_reply(r->srv, m->code, m->enh, text);
}

/* relay_fail_tx - the 4xx to the final dot without an upstream, logged */
static void
relay_fail_tx(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	relay_tx_reply(r, m->code, m->enh, text);
}

/* relay_close_upstream - let go of the upstream connection (politely) */
static void
relay_close_upstream(struct relay *r)
{
	if (r->cli == NULL)
		return;
	if (r->cli_ready)
		smtp_client_quit(r->cli);
	else
		smtp_client_free(r->cli);
	r->cli = NULL;
	r->cli_ready = 0;
	r->up_tx = 0;
}

static double
elapsed(const struct timespec *t0)
{
	struct timespec	t1;

	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* relay_from - the transaction's sender for the logs ("" before MAIL) */
static const char *
relay_from(const struct relay *r)
{
	return r->from != NULL ? r->from->addr : "";
}

/* relay_log_tx - the one info line per transaction */
static void
relay_log_tx(struct relay *r, int code, const char *enh, const char *text)
{
	struct txlog_tx	 t;

	memset(&t, 0, sizeof(t));
	t.id = r->id;
	t.client = smtp_server_info(r->srv)->peer;
	t.from = relay_from(r);
	t.nrcpt = r->nrcpt;
	t.size = r->spool != NULL ? spool_size(r->spool) : 0ULL;
	t.host = r->up->host;
	t.port = r->up->port;
	/* kept from cli_ready: the client may be gone (a timeout at the dot) */
	t.tls = r->up_tls[0] != '\0' ? r->up_tls : "none";
	t.dkim = r->dkim != RD_OFF ? r->dkim_log : NULL;
	t.duration = elapsed(&r->tx_start);
	t.code = code;
	t.enh = enh;
	t.text = text;
	txlog_tx(&t);
}

/*
 * relay_tx_reply - end the transaction towards the client: the log line
 * and the reply carry the same code, enhanced code and text.
 */
static void
relay_tx_reply(struct relay *r, int code, const char *enh, const char *text)
{
	relay_log_tx(r, code, enh, text);
	spool_free(r->spool);
	r->spool = NULL;
	relay_dkim_reset(r);
	smtp_server_reply(r->srv, code, enh, text);
}

/* relay_slow_reply - warn when the final reply kept the client waiting */
static void
relay_slow_reply(struct relay *r, int code)
{
	txlog_slow_reply(r->id, r->up->host, r->up->port,
	    elapsed(&r->dot_start), r->up->slow_reply_warning, code);
}

/*
 * relay_path_args - "<addr> PARAMS" for the upstream's MAIL or RCPT: only
 * parameters the upstream announced are passed on, exactly as the client
 * sent them.  The DSN ones (RFC 3461) go to an upstream without DSN as
 * RFC 3461 4 says a relay to a non-DSN server does: the command goes
 * without them, and that is logged once per transaction and command
 * (docs/replies.md says what it means here).  Returns NULL or the reason
 * to refuse.
 */
static const char *
relay_path_args(struct relay *r, const struct smtp_path *path, int rcpt,
    char *buf, size_t len)
{
	const struct smtp_ext	*ext = smtp_client_ext(r->cli);
	const struct smtp_param	*p;
	char			 dropped[SMTP_PARAM_MAX * SMTP_PARAM_KW_MAX];
	size_t			 i;
	int			 n;

	dropped[0] = '\0';
	n = snprintf(buf, len, "<%s>", path->addr);
	if (n < 0 || (size_t)n >= len)
		return "path too long";
	for (i = 0; i < path->nparams; i++) {
		p = &path->params[i];
		if (str_ieq(p->keyword, "SIZE") && !(ext->flags & SMTP_EXT_SIZE))
			continue;
		/* 8BITMIME bodies are passed through unchanged: no downgrade */
		if (str_ieq(p->keyword, "BODY") && !(ext->flags & SMTP_EXT_8BITMIME))
			continue;
		if (str_ieq(p->keyword, "SMTPUTF8") &&
		    !(ext->flags & SMTP_EXT_SMTPUTF8))
			return "upstream does not support SMTPUTF8";
		if (smtp_dsn_keyword(p->keyword, rcpt) != SMTP_DSN_NONE &&
		    !(ext->flags & SMTP_EXT_DSN)) {
			/* keywords are checked letters, digits and '-' */
			if (dropped[0] != '\0')
				(void)gw_strlcat(dropped, ",", sizeof(dropped));
			(void)gw_strlcat(dropped, p->keyword, sizeof(dropped));
			continue;
		}
		if (gw_strlcat(buf, " ", len) >= len ||
		    gw_strlcat(buf, p->keyword, len) >= len)
			return "parameters too long";
		if (p->has_value && (gw_strlcat(buf, "=", len) >= len ||
		    gw_strlcat(buf, p->value, len) >= len))
			return "parameters too long";
	}
	if (dropped[0] != '\0' && !(r->dsn_logged & (rcpt ? 2 : 1))) {
		r->dsn_logged |= rcpt ? 2 : 1;
		log_info("%016" PRIx64 " relay dsn dropped upstream=%s:%u "
		    "command=%s params=%s reason=\"upstream does not offer "
		    "DSN\"", r->id, r->up->host, r->up->port,
		    rcpt ? "RCPT" : "MAIL", dropped);
	}
	return NULL;
}

/*
 * relay_reply - pass an upstream reply to the client.  We advertise
 * ENHANCEDSTATUSCODES, so a reply the upstream gave without one gets the
 * code that fits (smtp_reply_enh); the transaction log uses the same.
 */
static void
relay_reply(struct relay *r, enum smtp_reply_cmd cmd,
    const struct smtp_reply *rep)
{
	smtp_server_reply(r->srv, rep->code,
	    smtp_reply_enh(cmd, rep->code, rep->enh), rep->text);
}

static void
relay_send_mail(struct relay *r)
{
	char		 args[SMTP_PATH_MAX + SMTP_PARAM_MAX *
			    (SMTP_PARAM_KW_MAX + SMTP_PARAM_VAL_MAX + 2)];
	const char	*why;

	if ((why = relay_path_args(r, r->from, 0, args, sizeof(args))) !=
	    NULL) {
		relay_enter(r, R_IDLE);
		txlog_refused(r->id, "mail", "gateway",
		    smtp_server_info(r->srv)->peer, relay_from(r), NULL, 555,
		    "5.6.7", why);
		smtp_server_reply(r->srv, 555, "5.6.7", why);
		return;
	}
	relay_enter(r, R_MAIL);
	smtp_client_mail(r->cli, args);
}

/* server callbacks: the client's commands */

static void
srv_mail(void *arg, const struct smtp_path *from)
{
	struct relay			*r = arg;

	/* over 4 KiB with the DSN parameters: not held by idle sessions */
	if (r->from == NULL && (r->from = malloc(sizeof(*r->from))) == NULL) {
		log_warnx("%016" PRIx64 " relay: out of memory", r->id);
		smtp_server_reply(r->srv, 421, "4.3.0", "Out of memory");
		return;
	}
	*r->from = *from;
	r->dsn_logged = 0;
	r->nrcpt = 0;
	r->first_rcpt[0] = '\0';
	r->lost = FAIL_NONE;
	(void)clock_gettime(CLOCK_MONOTONIC, &r->tx_start);
	if (r->cli != NULL && r->cli_ready) {
		if (r->up_tx) {
			/* an aborted transaction is still open upstream */
			relay_enter(r, R_PRE_RSET);
			smtp_client_rset(r->cli);
			return;
		}
		relay_send_mail(r);
		return;
	}
	if (r->cli != NULL) {
		relay_enter(r, R_CONNECT);	/* still connecting */
		return;
	}
	/*
	 * passthrough: the client's password was used for the AUTH
	 * upstream and is gone; a lost connection cannot be opened again
	 * in this session.  The client retries with a new one.
	 */
	if (r->up->auth == AUTH_PASSTHROUGH) {
		relay_fail_reply(r, FAIL_CLOSED);
		return;
	}
	/* POP-before-SMTP: the login first, the SMTP session after it */
	if (r->up->pop_server.host[0] != '\0' && relay_pop_start(r) == 0)
		return;
	relay_connect(r);
}

/*
 * relay_connect - open the upstream for the MAIL waiting in r (after the
 * POP login, if any).  Every path ends in R_CONNECT, R_SECRET, or a 451
 * sent as the last thing done.
 */
static void
relay_connect(struct relay *r)
{
	struct smtp_client_auth		 a;

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
	relay_open_upstream(r, relay_listener_auth(r, &a));
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

/*
 * relay_pop_start - run the POP3 login before the SMTP session.  Returns
 * 0 when MAIL now waits for it (or was answered with a 451), 1 when a
 * login within pop_interval makes a new one unnecessary.
 */
static int
relay_pop_start(struct relay *r)
{
	struct pop3_client_params	 p;
	struct timespec			 now;
	size_t				 i = relay_up_index(r);
	char				 secret[POP3_SECRET_MAX + 1], why[256];

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	if (r->up->pop_interval > 0 && r->env->pop_ok[i].tv_sec != 0 &&
	    now.tv_sec - r->env->pop_ok[i].tv_sec < (time_t)r->up->pop_interval) {
		log_debug("%016" PRIx64 " relay pop-before-smtp skipped: last "
		    "login %llds ago (pop_interval %us)", r->id,
		    (long long)(now.tv_sec - r->env->pop_ok[i].tv_sec),
		    r->up->pop_interval);
		return 1;
	}
	/* read at each login, so that a changed password is picked up */
	if (secret_read_file(r->up->password_file, secret, sizeof(secret),
	    why, sizeof(why)) == -1) {
		explicit_bzero(secret, sizeof(secret));
		log_warnx("%016" PRIx64 " relay pop-before-smtp server=%s:%u "
		    "failed class=%s: password_file: %s", r->id,
		    r->up->pop_server.host, r->up->pop_server.port,
		    fail_name(FAIL_INTERNAL), why);
		relay_pop_fail(r, FAIL_INTERNAL);
		return 0;
	}
	memset(&p, 0, sizeof(p));
	p.base = r->env->base;
	p.dns = r->env->dns;
	p.host = r->up->pop_server.host;
	p.port = r->up->pop_server.port;
	p.tls = r->up->pop_tls;
	p.tlsctx = r->env->pop_tls[i];
	p.user = r->up->username;
	p.secret = secret;
	p.allow_cleartext = r->up->auth_allow_cleartext;
	p.timeout = r->up->pop_timeout;
	p.id = r->id;
	log_debug("%016" PRIx64 " relay pop-before-smtp server=%s:%u pop_tls=%s",
	    r->id, p.host, p.port, pop3_tls_name(p.tls));
	r->pop = pop3_client_new(&p, relay_pop_done, r);
	explicit_bzero(secret, sizeof(secret));
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

	pop3_client_free(r->pop);
	r->pop = NULL;
	if (r->state != R_POP)
		fatalx("relay: POP login done in state %s",
		    relay_strstate[r->state]);
	if (cls != FAIL_NONE) {
		log_warnx("%016" PRIx64 " relay pop-before-smtp server=%s:%u "
		    "failed class=%s reason=\"%s\"", r->id,
		    r->up->pop_server.host, r->up->pop_server.port,
		    fail_name(cls), why);
		relay_enter(r, R_IDLE);
		relay_pop_fail(r, cls);
		return;
	}
	(void)clock_gettime(CLOCK_MONOTONIC, &r->env->pop_ok[relay_up_index(r)]);
	relay_connect(r);
	/* r may be freed here */
}

/* the credentials of auth = inject are in (or not): connect */
static void
relay_auth_secret(void *arg, const struct secret_cred *cred, const char *why)
{
	struct relay		*r = arg;
	struct smtp_client_auth	 a;

	r->sf = NULL;
	if (cred == NULL) {
		log_warnx("%016" PRIx64 " relay upstream=%s:%u auth "
		    "credentials unavailable: %s", r->id, r->up->host,
		    r->up->port, why);
		relay_enter(r, R_IDLE);
		relay_fail_reply(r, FAIL_AUTH);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.user = cred->user;
	a.secret = cred->password;
	a.token = cred->token;
	/* smtp_client_new() copies them; cred is wiped when we return */
	relay_open_upstream(r, &a);
}

/* relay_open_upstream - the connection for the MAIL waiting in r */
static void
relay_open_upstream(struct relay *r, const struct smtp_client_auth *auth)
{
	struct smtp_client_params	 p;

	memset(&p, 0, sizeof(p));
	p.base = r->env->base;
	p.dns = r->env->dns;
	p.up = r->up;
	p.tls = relay_tls_ctx(r);
	p.helo_name = r->up->helo_name[0] != '\0' ? r->up->helo_name :
	    r->env->conf->hostname;
	p.id = r->id;
	p.auth = auth;
	/* the client may outlive this session while it says QUIT */
	p.release = relay_env_release;
	p.release_arg = r->env;
	log_debug("%016" PRIx64 " relay opening upstream=%s:%u tls=%s auth=%s",
	    r->id, r->up->host, r->up->port, tls_mode_name(r->up->tls),
	    auth != NULL ? auth_mode_name(r->up->auth) : "none");
	r->env->refcnt++;
	nupstreams++;
	r->up_tls[0] = '\0';
	r->cli = smtp_client_new(&p, &client_cb, r);
	if (r->cli == NULL) {
		nupstreams--;
		relay_env_unref(r->env);
		relay_enter(r, R_IDLE);
		relay_fail_reply(r, FAIL_INTERNAL);
		return;
	}
	relay_enter(r, R_CONNECT);
}

/*
 * auth = map: the upstream credentials of the client's users_file entry.
 * NULL for the other modes (inject builds its own).
 */
static const struct smtp_client_auth *
relay_listener_auth(struct relay *r, struct smtp_client_auth *a)
{
	if (r->up->auth != AUTH_MAP || r->map == NULL)
		return NULL;
	memset(a, 0, sizeof(*a));
	a->user = r->map->up_user;
	a->secret = r->map->up_secret;
	return a;
}

static void
srv_rcpt(void *arg, const struct smtp_path *to)
{
	struct relay	*r = arg;
	char		 args[SMTP_PATH_MAX + SMTP_PARAM_MAX *
			    (SMTP_PARAM_KW_MAX + SMTP_PARAM_VAL_MAX + 2)];
	const char	*why;

	(void)str_copy(r->rcpt, to->addr, sizeof(r->rcpt));
	if (r->cli == NULL || !r->cli_ready) {
		relay_fail_rcpt(r, r->lost != FAIL_NONE ? r->lost : FAIL_CLOSED);
		return;
	}
	/* the buffer holds any parsed path: this is not expected to fail */
	if ((why = relay_path_args(r, to, 1, args, sizeof(args))) != NULL) {
		log_warnx("%016" PRIx64 " relay RCPT arguments: %s", r->id,
		    why);
		relay_fail_rcpt(r, FAIL_INTERNAL);
		return;
	}
	relay_enter(r, R_RCPT);
	smtp_client_rcpt(r->cli, args);
}

static void
srv_rset(void *arg)
{
	struct relay	*r = arg;

	spool_free(r->spool);
	r->spool = NULL;
	relay_dkim_reset(r);
	if (r->cli != NULL && r->cli_ready && r->up_tx) {
		relay_enter(r, R_RSET);
		smtp_client_rset(r->cli);
		return;
	}
	smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
}

/* relay_received - our trace header, when the listener asks for one */
static int
relay_received(struct relay *r)
{
	const struct smtp_server_info	*si = smtp_server_info(r->srv);
	char				 hdr[RECEIVED_MAX], date[64], forp[SMTP_PATH_MAX + 16];
	struct tm			 tm;
	time_t				 now = time(NULL);
	int				 n;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	forp[0] = '\0';
	if (r->nrcpt == 1)
		(void)snprintf(forp, sizeof(forp), "\r\n\tfor <%s>", r->first_rcpt);
	n = snprintf(hdr, sizeof(hdr),
	    "Received: from %s ([%s])\r\n\tby %s (smtpgate) with %s id %016" PRIx64
	    "%s;\r\n\t%s\r\n",
	    si->helo[0] ? si->helo : "unknown", si->peer, r->env->conf->hostname,
	    si->esmtp ? "ESMTP" : "SMTP", r->id, forp, date);
	if (n < 0 || (size_t)n >= sizeof(hdr))
		return -1;
	r->recvlen = (size_t)n;
	return spool_write(r->spool, hdr, (size_t)n);
}

static int
srv_data_begin(void *arg)
{
	struct relay	*r = arg;

	if (r->cli == NULL || !r->cli_ready)
		return -1;
	spool_free(r->spool);
	r->spool = spool_new(SPOOL_MEM_THRESHOLD,
	    r->l->max_message_size + RECEIVED_MAX, NULL);
	if (r->spool == NULL)
		return -1;
	relay_dkim_reset(r);
	r->recvlen = 0;
	/* the signature never covers our own Received: it is not fed here */
	if (signers_count(r->env->signers) > 0 &&
	    (r->dmsg = dkim_msg_new_canons(signers_body_canons(r->env->signers,
	    r->l))) == NULL) {
		spool_free(r->spool);
		r->spool = NULL;
		return -1;
	}
	if (r->l->received_header && relay_received(r) == -1) {
		spool_free(r->spool);
		r->spool = NULL;
		relay_dkim_reset(r);
		return -1;
	}
	return 0;
}

static int
srv_data_write(void *arg, const char *p, size_t len)
{
	struct relay	*r = arg;

	if (spool_write(r->spool, p, len) == -1)
		return -1;
	/* too large a header block makes the message unsignable, not failed */
	if (r->dmsg != NULL && !r->dmsg_full && len > 0 &&
	    dkim_msg_write(r->dmsg, p, len) == -1)
		r->dmsg_full = 1;
	return 0;
}

/* the body for the upstream: our DKIM-Signature headers, then the spool */
static ssize_t
relay_body(void *arg, char *buf, size_t len)
{
	struct relay	*r = arg;
	size_t		 n;

	if (r->sigoff < r->siglen) {
		n = r->siglen - r->sigoff;
		if (n > len)
			n = len;
		memcpy(buf, r->sigs + r->sigoff, n);
		r->sigoff += n;
		return (ssize_t)n;
	}
	return spool_read(r->spool, buf, len);
}

/*
 * long_lines = encode: lines over 998 octets become a quoted-printable
 * body before signing (relay_qp).  A message that cannot be re-encoded
 * (multipart, already encoded) goes on as it is, as under pass.
 */
static int
relay_long_lines(struct relay *r)
{
	const char	*why;
	int		 rc;

	if (r->l->long_lines != LONG_LINES_ENCODE ||
	    !smtp_server_longline(r->srv))
		return 0;
	rc = relay_qp_encode(&r->spool, r->recvlen, SPOOL_MEM_THRESHOLD,
	    &r->dmsg, r->dmsg != NULL ? signers_body_canons(r->env->signers,
	    r->l) : 0, &r->dmsg_full, &why);
	if (rc == 1)
		log_info("%016" PRIx64 " long lines re-encoded as "
		    "quoted-printable", r->id);
	else if (rc == 0)
		log_info("%016" PRIx64 " long lines passed as they are "
		    "(not re-encoded: %s)", r->id, why);
	else
		log_warnx("%016" PRIx64 " long lines: spool failure", r->id);
	return rc == -1 ? -1 : 0;
}

/* relay_dkim_reset - forget the DKIM state of the last message */
static void
relay_dkim_reset(struct relay *r)
{
	dkim_msg_free(r->dmsg);
	r->dmsg = NULL;
	r->dmsg_full = 0;
	free(r->sigs);
	r->sigs = NULL;
	r->siglen = r->sigoff = 0;
	r->dkim = RD_OFF;
	r->dkim_log[0] = '\0';
}

static void
relay_dkim_unsigned(struct relay *r, const char *why)
{
	char	 v[DKIM_LOG_MAX - 16];

	r->dkim = RD_UNSIGNED;
	(void)str_vis(v, sizeof(v), why, strlen(why));
	(void)snprintf(r->dkim_log, sizeof(r->dkim_log), "unsigned(%s)", v);
}

/*
 * relay_dkim_sign - at the end of DATA: which signers apply, and their
 * signatures into r->sigs.  Sets r->dkim to what happened.
 */
static void
relay_dkim_sign(struct relay *r)
{
	const struct dkim_signer	*pick[CONF_MAX_DKIM];
	const char			*dom, *why = NULL;
	char				 err[256], v[200];
	size_t				 i, n, off, used;
	int				 rc;
	time_t				 now = time(NULL);

	if (r->dmsg == NULL)
		return;
	/* an unsignable message says why (header block too large, ...) */
	(void)dkim_msg_end(r->dmsg);
	if ((dom = dkim_msg_from_domain(r->dmsg, &why)) == NULL) {
		relay_dkim_unsigned(r, why != NULL ? why : "no From domain");
		return;
	}
	n = signers_pick(r->env->signers, r->l, dom, pick, CONF_MAX_DKIM);
	if (n == 0) {
		(void)str_vis(v, sizeof(v), dom, strlen(dom));
		(void)snprintf(err, sizeof(err), "no key for %s", v);
		relay_dkim_unsigned(r, err);
		return;
	}
	if ((r->sigs = malloc(n * DKIM_SIG_MAX)) == NULL) {
		r->dkim = RD_ERROR;
		(void)snprintf(r->dkim_log, sizeof(r->dkim_log),
		    "error(out of memory)");
		return;
	}
	/* the same time in every signature of the message */
	for (i = 0, off = 0; i < n; i++) {
		err[0] = '\0';
		if ((rc = dkim_msg_sign(r->dmsg, pick[i], now, r->sigs + off,
		    n * DKIM_SIG_MAX - off, err, sizeof(err))) != 0) {
			free(r->sigs);
			r->sigs = NULL;
			r->siglen = 0;
			/* caused by the message: it would fail again */
			if (rc == DKIM_ERR_MESSAGE) {
				relay_dkim_unsigned(r, err);
				return;
			}
			r->dkim = RD_ERROR;
			(void)str_vis(v, sizeof(v), err, strlen(err));
			(void)snprintf(r->dkim_log, sizeof(r->dkim_log),
			    "error(d=%s,s=%s: %s)", pick[i]->domain,
			    pick[i]->selector, v);
			return;
		}
		off += strlen(r->sigs + off);
	}
	r->siglen = off;
	r->sigoff = 0;
	r->dkim = RD_SIGNED;
	for (i = 0; i < n; i++) {
		used = strlen(r->dkim_log);
		(void)snprintf(r->dkim_log + used, sizeof(r->dkim_log) - used,
		    "%ssigned(d=%s,s=%s,a=%s)", i > 0 ? "," : "",
		    pick[i]->domain, pick[i]->selector,
		    signers_alg_name(pick[i]));
	}
}

/* relay_dkim_refuse - end the transaction at DATA's end without sending */
static void
relay_dkim_refuse(struct relay *r, int code, const char *enh,
    const char *text)
{
	relay_tx_reply(r, code, enh, text);
}

static void
srv_data_end(void *arg)
{
	struct relay	*r = arg;

	if (r->cli == NULL || !r->cli_ready) {
		relay_fail_tx(r, r->lost != FAIL_NONE ? r->lost : FAIL_CLOSED);
		return;
	}
	if (spool_rewind(r->spool) == -1 || relay_long_lines(r) == -1) {
		relay_tx_reply(r, 451, "4.3.0", "Temporary spool failure");
		return;
	}
	relay_dkim_sign(r);
	/*
	 * up_tx stays set on a refusal: the next MAIL resets the upstream's
	 * open transaction first, as after an aborted DATA.
	 */
	if (r->dkim == RD_ERROR) {
		log_warnx("%016" PRIx64 " relay dkim %s", r->id, r->dkim_log);
		relay_dkim_refuse(r, 451, "4.3.0", DKIM_TEXT_ERROR);
		return;
	}
	if (r->dkim == RD_UNSIGNED && r->l->dkim_required) {
		relay_dkim_refuse(r, 550, "5.7.1", DKIM_TEXT_REQUIRED);
		return;
	}
	relay_enter(r, R_DATA);
	(void)clock_gettime(CLOCK_MONOTONIC, &r->dot_start);
	smtp_client_data(r->cli, relay_body, r);
}

static void
srv_data_abort(void *arg)
{
	struct relay	*r = arg;

	/* up_tx stays set: the next MAIL sends RSET upstream first */
	spool_free(r->spool);
	r->spool = NULL;
	relay_dkim_reset(r);
}

static void
srv_closed(void *arg, const char *reason)
{
	struct relay	*r = arg;

	log_debug("%016" PRIx64 " relay session closed reason=%s", r->id, reason);
	secret_fetch_cancel(r->sf);
	r->sf = NULL;
	pop3_client_free(r->pop);
	r->pop = NULL;
	relay_close_upstream(r);
	spool_free(r->spool);
	relay_dkim_reset(r);
	smtp_server_free(r->srv);
	/* a hash still running is dropped by id in relay_hash_done() */
	relay_auth_settle(r);
	if (r->ev_authdelay != NULL)
		event_free(r->ev_authdelay);
	free(r->from);
	free(r->auth_text);
	LIST_REMOVE(r, entry);
	nrelays--;
	if (r->done != NULL)
		r->done(r->done_arg, (struct sockaddr *)&r->peer);
	relay_env_unref(r->env);
	free(r);
}

/*
 * The client's AUTH.  An address over auth_fail_limit is refused before
 * anything is tried (authguard).  map: the password is hashed off the
 * loop (hashpool) and relay_hash_done() answers.  passthrough: the
 * upstream connection opens now with the client's credentials, and the
 * upstream's verdict becomes the reply (cli_ready/cli_failed).
 */
static void
srv_auth(void *arg, const char *mech, const char *user, const char *pass)
{
	struct relay		*r = arg;
	struct smtp_client_auth	 a;

	if (authguard_begin(r->env->conf, (struct sockaddr *)&r->peer,
	    r->id)) {
		relay_auth_log(r, user, "locked", 0);
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
	memset(&a, 0, sizeof(a));
	a.user = user;
	a.secret = pass;
	a.one_try = 1;		/* the client's password: no fallback */
	(void)str_copy(r->auth_user, user, sizeof(r->auth_user));
	/* smtp_client_new() copies the credentials */
	relay_open_upstream(r, &a);
	if (r->cli == NULL) {
		/* relay_open_upstream() answered (451, out of memory) */
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

	e = users_lookup(env->users[relay_up_index(r)], user, &hash);
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
	LIST_FOREACH(r, &relays, entry)
		if (r->id == id)
			break;
	if (r == NULL || !r->hashing) {
		log_debug("%016" PRIx64 " relay auth: hash result for a "
		    "session gone", id);
		return;
	}
	r->hashing = 0;
	r->map = ok ? users_lookup(r->env->users[relay_up_index(r)],
	    r->auth_user, &hash) : NULL;
	relay_auth_log(r, r->auth_user, r->map != NULL ? "ok" : "failed", 0);
	if (r->map != NULL)
		smtp_server_reply(r->srv, 235, "2.7.0",
		    "Authentication successful");
	else
		relay_auth_reject(r, 535, "5.7.8",
		    "Authentication credentials invalid");
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
static void
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
static void
relay_auth_done(struct relay *r)
{
	const struct smtp_reply	*rep = smtp_client_auth_reply(r->cli);

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
 * The client was told nothing yet; r->cli is already gone.
 */
static void
relay_auth_failed(struct relay *r, enum gw_fail cls,
    const struct smtp_reply *rep)
{
	char			 text[256];

	relay_enter(r, R_IDLE);
	if (cls == FAIL_AUTH && rep != NULL && rep->code >= 400 &&
	    rep->code < 600) {
		relay_auth_log(r, r->auth_user, "failed", rep->code);
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
	(void)snprintf(text, sizeof(text),
	    "Temporary authentication failure (%s)", fail_name(cls));
	smtp_server_reply(r->srv, 454, "4.7.0", text);
}

/* client callbacks: the upstream's answers */

static void
cli_ready(void *arg)
{
	struct relay	*r = arg;

	r->cli_ready = 1;
	(void)str_copy(r->up_tls, smtp_client_tls(r->cli), sizeof(r->up_tls));
	if (r->state == R_CONNECT)
		relay_send_mail(r);
	else if (r->state == R_AUTH)
		relay_auth_done(r);
}

static void
cli_reply(void *arg, const struct smtp_reply *rep)
{
	struct relay	*r = arg;
	int		 ok = rep->code >= 200 && rep->code < 300;

	switch (r->state) {
	case R_PRE_RSET:
		r->up_tx = 0;
		if (!ok) {
			/* an upstream that cannot reset is not one to trust */
			relay_close_upstream(r);
			relay_enter(r, R_IDLE);
			relay_fail_reply(r, FAIL_PROTOCOL);
			return;
		}
		relay_send_mail(r);
		return;
	case R_MAIL:
		r->up_tx = ok;
		relay_enter(r, R_IDLE);
		if (!ok)
			txlog_refused(r->id, "mail", "upstream",
			    smtp_server_info(r->srv)->peer, relay_from(r), NULL,
			    rep->code, smtp_reply_enh(SMTP_RC_MAIL, rep->code,
			    rep->enh), rep->text);
		relay_reply(r, SMTP_RC_MAIL, rep);
		return;
	case R_RCPT:
		if (ok && r->nrcpt++ == 0)
			(void)str_copy(r->first_rcpt, r->rcpt,
			    sizeof(r->first_rcpt));
		relay_enter(r, R_IDLE);
		if (!ok)
			txlog_refused(r->id, "rcpt", "upstream",
			    smtp_server_info(r->srv)->peer, relay_from(r),
			    r->rcpt, rep->code, smtp_reply_enh(SMTP_RC_RCPT,
			    rep->code, rep->enh), rep->text);
		relay_reply(r, SMTP_RC_RCPT, rep);
		return;
	case R_DATA:
		/* whatever the answer, the transaction is over upstream */
		r->up_tx = 0;
		relay_enter(r, R_IDLE);
		relay_slow_reply(r, rep->code);
		relay_tx_reply(r, rep->code,
		    smtp_reply_enh(SMTP_RC_DOT, rep->code, rep->enh), rep->text);
		return;
	case R_RSET:
		r->up_tx = 0;
		relay_enter(r, R_IDLE);
		if (!ok)
			relay_close_upstream(r);
		smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
		return;
	default:
		fatalx("relay: upstream reply in state %s",
		    relay_strstate[r->state]);
	}
}

static void
cli_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct relay		*r = arg;
	enum relay_state	 s = r->state;
	const struct smtp_reply	*rep;
	/* on the stack, not in every relay: only a passthrough AUTH needs it */
	struct smtp_reply	 authrep;

	log_warnx("%016" PRIx64 " relay upstream=%s:%u failed class=%s "
	    "state=%s reason=\"%s\"", r->id, r->up->host, r->up->port,
	    fail_name(cls), relay_strstate[s], why);
	/* the AUTH reply lives in the client: keep it past the free */
	memset(&authrep, 0, sizeof(authrep));
	if (s == R_AUTH && (rep = smtp_client_auth_reply(r->cli)) != NULL)
		authrep = *rep;
	smtp_client_free(r->cli);
	r->cli = NULL;
	r->cli_ready = 0;
	if (r->up_tx || s == R_RCPT || s == R_DATA)
		r->lost = cls;
	r->up_tx = 0;
	relay_enter(r, R_IDLE);
	switch (s) {
	case R_SECRET:
	case R_POP:
		fatalx("relay: upstream failed before it was opened");
	case R_CONNECT:
	case R_PRE_RSET:
	case R_MAIL:
		relay_fail_reply(r, cls);
		break;
	case R_RCPT:
		relay_fail_rcpt(r, cls);
		break;
	case R_DATA:
		relay_slow_reply(r, smtp_reply_fail_map(cls)->code);
		relay_fail_tx(r, cls);
		break;
	case R_RSET:
		smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
		break;
	case R_AUTH:
		relay_auth_failed(r, cls, authrep.code != 0 ? &authrep : NULL);
		break;
	case R_IDLE:
		break;
	}
}
