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
#include "net/proxyhs.h"
#include "obs/metrics.h"
#include "relay/relay.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "relay/relay_qp.h"
#include "relay/signers.h"
#include "relay/spool.h"
#include "relay/txlog.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_server.h"
#include "tls/tls.h"
#include "upstream/upcred.h"
#include "upstream/uppool.h"
#include "upstream/uprt.h"
#include "upstream/uptx.h"
#include "util/log.h"
#include "util/str.h"

/* room for our Received: line beyond max_message_size */
#define RECEIVED_MAX		1024
/* docs/replies.md lists these */
#define DKIM_TEXT_ERROR		"DKIM signing failed, try again later"
#define DKIM_TEXT_REQUIRED	"Message cannot be DKIM-signed here, refused"

static const char *relay_strstate[] = {
	"IDLE", "POP", "SECRET", "CONNECT", "PRE_RSET", "MAIL", "RCPT", "DATA",
	"RSET", "AUTH"
};

static LIST_HEAD(, relay) relays = LIST_HEAD_INITIALIZER(relays);
static unsigned nrelays;
static uint64_t next_id;

static void	relay_fail_rcpt(struct relay *, enum gw_fail);
static const char *relay_from(const struct relay *);
static void	relay_fail_tx(struct relay *, enum gw_fail);
static void	relay_slow_reply(struct relay *, int);
static int	relay_long_lines(struct relay *);
static void	relay_dkim_refuse(struct relay *, int, const char *,
		    const char *);

static void	srv_mail(void *, const struct smtp_path *);
static void	srv_rcpt(void *, const struct smtp_path *);
static void	srv_rset(void *);
static int	srv_data_begin(void *);
static int	srv_data_write(void *, const char *, size_t);
static void	srv_data_end(void *);
static void	srv_data_abort(void *);
static void	srv_closed(void *, const char *);
static int	relay_ahead_ok(void *, enum smtp_verb,
		    const struct smtp_path *);
static void	relay_fail_behind(struct relay *, enum gw_fail);
static void	relay_log_failed(struct relay *, enum relay_state, enum gw_fail,
		    const char *);

static void	tx_ready(void *);
static void	tx_reply(void *, enum uptx_state, const struct smtp_reply *);
static void	tx_refused(void *, const char *);
static void	tx_failed(void *, enum uptx_state, enum gw_fail, const char *,
		    const struct smtp_reply *);

static const struct smtp_server_cb server_cb = {
	srv_mail, srv_rcpt, srv_rset, srv_data_begin, srv_data_write,
	srv_data_end, srv_data_abort, srv_closed, relay_srv_auth
};

static const struct uptx_cb tx_cb = {
	tx_ready, tx_reply, tx_refused, tx_failed
};

uint64_t
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
    const struct sockaddr *proxy, relay_done_fn done, void *done_arg)
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
	r->mx = relay_uprt(r)->mx;
	r->done = done;
	r->done_arg = done_arg;
	if (peerlen <= sizeof(r->peer))
		memcpy(&r->peer, peer, peerlen);
	if ((r->tx = uptx_new(r->id, r->up, &tx_cb, r)) == NULL) {
		close(fd);
		relay_env_unref(env);
		free(r);
		return -1;
	}
	r->srv = smtp_server_new(env->base, fd, peer, peerlen, proxy, l,
	    env->conf->hostname, r->id, relay_env_listener_tls(env, l),
	    &server_cb, r);
	if (r->srv == NULL) {
		close(fd);
		uptx_free(r->tx);
		relay_env_unref(env);
		free(r);
		return -1;
	}
	smtp_server_lookahead(r->srv, relay_ahead_ok);
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
	return nrelays + relay_env_nupstreams() + relay_queue_active();
}

/* relay_sessions_active - client sessions open */
unsigned
relay_sessions_active(void)
{
	return nrelays;
}

/* relay_state_name - the state's name, for logs and broken invariants */
const char *
relay_state_name(enum relay_state s)
{
	return relay_strstate[s];
}

void
relay_enter(struct relay *r, enum relay_state s)
{
	log_trace(LOGF_PROXY, "%016" PRIx64 " relay %s -> %s", r->id,
	    relay_strstate[r->state], relay_strstate[s]);
	r->state = s;
}

struct uprt *
relay_uprt(struct relay *r)
{
	struct uprt	*u = uprt_find(r->env->uprt, r->env->nuprt, r->up);

	if (u == NULL)
		fatalx("relay: upstream outside its configuration");
	return u;
}

/* relay_find - the live session with this id (ids are never reused) */
struct relay *
relay_find(uint64_t id)
{
	struct relay	*r;

	LIST_FOREACH(r, &relays, entry)
		if (r->id == id)
			break;
	return r;
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
void
relay_fail_reply(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	/*
	 * A MAIL refused for want of an upstream: a sender refused, and a
	 * transaction failed (the alert on tempfail by class must see an
	 * upstream outage)
	 */
	if (smtp_server_awaits(r->srv) == SMTP_CMD_MAIL) {
		txlog_refused(r->id, "mail", "gateway",
		    smtp_server_info(r->srv)->peer,
		    smtp_server_info(r->srv)->proxy, relay_from(r), NULL,
		    m->code, m->enh, text);
		metrics_tx_nomail(m->code < 500 ? MX_TX_TEMPFAIL :
		    MX_TX_REFUSED, cls);
	}
	smtp_server_reply(r->srv, m->code, m->enh, text);
}

/* relay_fail_rcpt - the 4xx to RCPT without an upstream, logged */
static void
relay_fail_rcpt(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	metrics_rcpt_refused(0);
	txlog_refused(r->id, "rcpt", "gateway", smtp_server_info(r->srv)->peer,
	    smtp_server_info(r->srv)->proxy, relay_from(r), r->rcpt, m->code,
	    m->enh, text);
	smtp_server_reply(r->srv, m->code, m->enh, text);
}

/* relay_fail_tx - the 4xx to the final dot without an upstream, logged */
static void
relay_fail_tx(struct relay *r, enum gw_fail cls)
{
	const struct smtp_reply_map	*m;
	char				 text[256];

	m = relay_fail_text(cls, text, sizeof(text));
	relay_tx_reply(r, m->code, m->enh, text, (int)cls);
}

/*
 * relay_close_upstream - close the upstream connection (politely), never
 * to be kept: what is not known to be good is not pooled.
 */
void
relay_close_upstream(struct relay *r)
{
	uptx_discard(r->tx);
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

/*
 * relay_log_tx - the one info line per transaction, and its count: cls
 * is the failure class (a gw_fail or an mx_class) of a 4xx or 5xx.
 */
static void
relay_log_tx(struct relay *r, int code, const char *enh, const char *text,
    int cls)
{
	struct txlog_tx	 t;

	memset(&t, 0, sizeof(t));
	t.id = r->id;
	t.client = smtp_server_info(r->srv)->peer;
	t.ctls = smtp_server_tls(r->srv);
	t.proxy = smtp_server_info(r->srv)->proxy;
	t.from = relay_from(r);
	t.nrcpt = r->nrcpt;
	t.size = r->spool != NULL ? spool_size(r->spool) :
	    r->l->delivery == DELIVERY_QUEUE ? r->qsize : relay_stream_size(r);
	/* delivery = queue: the upstream comes later (relay_qjob.c) */
	t.host = r->l->delivery == DELIVERY_QUEUE ? "queue" : r->up->host;
	t.port = r->l->delivery == DELIVERY_QUEUE ? 0 : r->up->port;
	/* kept from tx_ready: the client may be gone (a timeout at the dot) */
	t.tls = r->up_tls[0] != '\0' ? r->up_tls : "none";
	t.resumed = r->up_resumed;
	t.reused = uptx_reused(r->tx);
	t.carried = uptx_carried(r->tx);
	t.dkim = r->dkim != RD_OFF ? r->dkim_log : NULL;
	t.duration = elapsed(&r->tx_start);
	t.code = code;
	t.enh = enh;
	t.text = text;
	t.queued = r->l->delivery == DELIVERY_QUEUE;
	txlog_tx(&t);
	txlog_rcpts_log(r->id, &r->accepted, code, t.queued);
	metrics_tx(code < 300 ? MX_TX_RELAYED : code < 500 ? MX_TX_TEMPFAIL :
	    MX_TX_REFUSED, code < 300 ? FAIL_NONE : cls, t.duration);
	/* queued: counted for its upstream when it is delivered */
	if (code >= 200 && code < 300 && !t.queued)
		metrics_relayed(r->mx, t.size);
}

/*
 * relay_tx_reply - end the transaction towards the client: the log line
 * and the reply carry the same code, enhanced code and text.
 */
void
relay_tx_reply(struct relay *r, int code, const char *enh, const char *text,
    int cls)
{
	relay_log_tx(r, code, enh, text, cls);
	spool_free(r->spool);
	r->spool = NULL;
	relay_stream_free(r);
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
 * relay_reply - pass an upstream reply to the client.  We advertise
 * ENHANCEDSTATUSCODES, so a reply the upstream gave without one gets the
 * code that fits (smtp_reply_enh); the transaction log uses the same.
 */
void
relay_reply(struct relay *r, enum smtp_reply_cmd cmd,
    const struct smtp_reply *rep)
{
	smtp_server_reply(r->srv, rep->code,
	    smtp_reply_enh(cmd, rep->code, rep->enh), rep->text);
}

/* server callbacks: the client's commands */

static void
srv_mail(void *arg, const struct smtp_path *from)
{
	struct relay			*r = arg;

	if (relay_rate_mail(r, from->addr))
		return;
	/* over 4 KiB with the DSN parameters: not held by idle sessions */
	if (r->from == NULL && (r->from = malloc(sizeof(*r->from))) == NULL) {
		log_warnx("%016" PRIx64 " relay: out of memory", r->id);
		smtp_server_reply(r->srv, 421, "4.3.0", "Out of memory");
		return;
	}
	*r->from = *from;
	r->nrcpt = 0;
	txlog_rcpts_clear(&r->accepted);
	r->rq_n = 0;
	r->first_rcpt[0] = '\0';
	r->retried = 0;
	uptx_begin(r->tx);
	(void)clock_gettime(CLOCK_MONOTONIC, &r->tx_start);
	if (r->l->delivery == DELIVERY_QUEUE) {
		relay_q_mail(r);
		return;
	}
	/* the upstream for this one: by sender, not marked down */
	relay_fo_mail(r);
	/*
	 * pool_max_messages holds within one client session too: a
	 * connection that carried that many says QUIT and the session
	 * takes another (not under passthrough: no password to log in).
	 */
	if (uptx_ready(r->tx) && r->up->pool && r->up->auth !=
	    AUTH_PASSTHROUGH && smtp_client_messages(uptx_client(r->tx)) >=
	    r->up->pool_max_messages)
		uptx_discard(r->tx);
	/* uptx resets a transaction left open, or waits for the connection */
	if (uptx_connected(r->tx)) {
		/* before: a refusal (tx_refused) may come from inside */
		relay_enter(r, uptx_ready(r->tx) ? R_MAIL : R_CONNECT);
		(void)uptx_mail(r->tx, r->from);
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
	relay_mail_open(r);
}


static void
srv_rcpt(void *arg, const struct smtp_path *to)
{
	struct relay	*r = arg;
	const char	*why;

	(void)str_copy(r->rcpt, to->addr, sizeof(r->rcpt));
	if (relay_rate_rcpt(r) || relay_smime_rcpt(r, to->addr))
		return;
	if (r->l->delivery == DELIVERY_QUEUE) {
		relay_q_rcpt(r, to);
		return;
	}
	if (!uptx_ready(r->tx)) {
		relay_fail_rcpt(r, uptx_lost(r->tx) != FAIL_NONE ?
		    uptx_lost(r->tx) : FAIL_CLOSED);
		return;
	}
	relay_enter(r, R_RCPT);
	/* the buffer holds any parsed path: this is not expected to fail */
	if ((why = uptx_rcpt(r->tx, to)) != NULL) {
		relay_enter(r, R_IDLE);
		log_warnx("%016" PRIx64 " relay RCPT arguments: %s", r->id,
		    why);
		relay_fail_rcpt(r, FAIL_INTERNAL);
		return;
	}
	relay_rq_push(r, to->addr);
}

/*
 * relay_ahead_ok - may the session hand on this RCPT or DATA while the
 * upstream still owes replies (smtp_server_lookahead)?  Only when it goes
 * upstream at once and nothing of ours could answer it first: uptx can
 * pipeline, no recipient rate limit, arguments the upstream takes; a
 * DATA only when its body streams (the spooled DATA is answered here).
 */
static int
relay_ahead_ok(void *arg, enum smtp_verb verb, const struct smtp_path *to)
{
	struct relay	*r = arg;
	char		 args[UPTX_ARGS_MAX], dropped[UPTX_DROPPED_MAX];

	if (!uptx_can_pipeline(r->tx))
		return 0;
	/* an [smime] section may refuse the RCPT here (no certificate) */
	if (verb == SMTP_CMD_RCPT)
		return r->rq_n < RELAY_RQ_MAX &&
		    r->l->rate_recipients.count == 0 &&
		    !relay_smime_applies(r) &&
		    uptx_path_args(smtp_client_ext(uptx_client(r->tx))->flags,
		    to, 1, args, sizeof(args), dropped, sizeof(dropped)) == NULL;
	if (verb == SMTP_CMD_DATA)
		return relay_stream_wanted(r);
	return 0;
}

static void
srv_rset(void *arg)
{
	struct relay	*r = arg;

	spool_free(r->spool);
	r->spool = NULL;
	relay_stream_free(r);
	relay_dkim_reset(r);
	relay_q_free(r);
	if (uptx_rset(r->tx) == 0) {
		relay_enter(r, R_RSET);
		return;
	}
	smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
}

/* relay_received - our trace header into hdr (RECEIVED_MAX); its length or -1 */
static int
relay_received(struct relay *r, char *hdr)
{
	const struct smtp_server_info	*si = smtp_server_info(r->srv);
	char				 date[64], forp[SMTP_PATH_MAX + 16];
	struct tm			 tm;
	time_t				 now = time(NULL);
	int				 n;

	if (localtime_r(&now, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		return -1;
	forp[0] = '\0';
	if (r->nrcpt == 1)
		(void)snprintf(forp, sizeof(forp), "\r\n\tfor <%s>", r->first_rcpt);
	n = snprintf(hdr, RECEIVED_MAX,
	    "Received: from %s ([%s])\r\n\tby %s (smtpgate) with %s id %016" PRIx64
	    "%s;\r\n\t%s\r\n",
	    si->helo[0] ? si->helo : "unknown", si->peer, r->env->conf->hostname,
	    si->esmtp ? "ESMTP" : "SMTP", r->id, forp, date);
	if (n < 0 || n >= RECEIVED_MAX)
		return -1;
	return n;
}

/* relay_data_stream - DATA streamed upstream (relay_stream.c) */
static int
relay_data_stream(struct relay *r)
{
	char	 hdr[RECEIVED_MAX];
	int	 n = 0;

	spool_free(r->spool);
	r->spool = NULL;
	relay_dkim_reset(r);
	r->recvlen = 0;
	if (r->l->received_header && (n = relay_received(r, hdr)) == -1)
		return -1;
	return relay_stream_begin(r, hdr, (size_t)n);
}

static int
srv_data_begin(void *arg)
{
	struct relay	*r = arg;

	char		 hdr[RECEIVED_MAX];
	int		 n = 0;

	if (r->l->delivery != DELIVERY_QUEUE && !uptx_ready(r->tx))
		return -1;
	if (relay_stream_wanted(r))
		return relay_data_stream(r);
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
	if (r->l->received_header && (n = relay_received(r, hdr)) != -1) {
		r->recvlen = (size_t)n;
		if (spool_write(r->spool, hdr, (size_t)n) == -1)
			n = -1;
	}
	if (r->l->received_header && n == -1) {
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

	if (r->stream != NULL)
		return relay_stream_write(r, p, len);
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

/* relay_dkim_refuse - end the transaction at DATA's end without sending */
static void
relay_dkim_refuse(struct relay *r, int code, const char *enh,
    const char *text)
{
	relay_tx_reply(r, code, enh, text, MX_CLASS_DKIM);
}

static void
srv_data_end(void *arg)
{
	struct relay	*r = arg;
	enum gw_fail	 cls;

	if (r->stream != NULL) {
		(void)clock_gettime(CLOCK_MONOTONIC, &r->dot_start);
		if ((cls = relay_stream_end(r)) != FAIL_NONE)
			relay_fail_tx(r, cls);
		return;
	}
	if (r->l->delivery != DELIVERY_QUEUE && !uptx_ready(r->tx)) {
		relay_fail_tx(r, uptx_lost(r->tx) != FAIL_NONE ?
		    uptx_lost(r->tx) : FAIL_CLOSED);
		return;
	}
	if (spool_rewind(r->spool) == -1 || relay_long_lines(r) == -1 ||
	    relay_8bit(r) == -1) {
		relay_tx_reply(r, 451, "4.3.0", "Temporary spool failure",
		    MX_CLASS_SPOOL);
		return;
	}
	/* S/MIME first, then the DKIM signature over the result */
	if (relay_smime(r) == -1)
		return;
	relay_dkim_sign(r);
	if (r->dkim != RD_OFF)
		metrics_dkim(r->dkim == RD_SIGNED ? MX_DKIM_SIGNED :
		    r->dkim == RD_ERROR ? MX_DKIM_FAILED : MX_DKIM_UNSIGNED);
	/*
	 * The transaction stays open upstream on a refusal: the next MAIL
	 * resets it first (uptx_mail), as after an aborted DATA.
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
	if (r->l->delivery == DELIVERY_QUEUE) {
		relay_q_commit(r);
		return;
	}
	relay_enter(r, R_DATA);
	(void)clock_gettime(CLOCK_MONOTONIC, &r->dot_start);
	uptx_data(r->tx, relay_body, r);
}

static void
srv_data_abort(void *arg)
{
	struct relay	*r = arg;

	/* streamed: the upstream connection goes, with no final dot */
	relay_stream_abort(r);
	/* spooled: still open upstream, the next MAIL sends RSET first */
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
	relay_fo_free(r);
	uptx_free(r->tx);
	relay_stream_free(r);
	spool_free(r->spool);
	relay_dkim_reset(r);
	smtp_server_free(r->srv);
	/* a hash still running is dropped by id in relay_hash_done() */
	relay_auth_settle(r);
	if (r->ev_authdelay != NULL)
		event_free(r->ev_authdelay);
	relay_q_free(r);
	free(r->from);
	free(r->auth_text);
	txlog_rcpts_free(&r->accepted);
	LIST_REMOVE(r, entry);
	nrelays--;
	if (r->done != NULL)
		r->done(r->done_arg, (struct sockaddr *)&r->peer);
	relay_env_unref(r->env);
	free(r);
}

/* uptx callbacks: the upstream's answers, mapped to the client's replies */

static void
tx_ready(void *arg)
{
	struct relay	*r = arg;

	(void)str_copy(r->up_tls, smtp_client_tls(uptx_client(r->tx)),
	    sizeof(r->up_tls));
	r->up_resumed = smtp_client_tls_resumed(uptx_client(r->tx));
	/* a reused one was set up before: reached, but no set-up time */
	metrics_up_ready(r->mx, uptx_reused(r->tx) ? -1 :
	    elapsed(&r->up_start), r->up_resumed);
	/*
	 * a MAIL waiting (R_CONNECT) is sent by uptx after this; the
	 * commands the client pipelined behind it may follow it then
	 */
	relay_fo_ready(r);
	if (r->state == R_CONNECT)
		smtp_server_kick(r->srv);
	if (r->state == R_AUTH)
		relay_auth_done(r);
}

/* tx_refused - MAIL's arguments do not fit the upstream: not sent */
static void
tx_refused(void *arg, const char *why)
{
	struct relay	*r = arg;
	const char	*enh;
	int		 code = uptx_refusal(why, &enh);

	relay_enter(r, R_IDLE);
	txlog_refused(r->id, "mail", "gateway", smtp_server_info(r->srv)->peer,
	    smtp_server_info(r->srv)->proxy, relay_from(r), NULL, code, enh,
	    why);
	smtp_server_reply(r->srv, code, enh, why);
}

static void
tx_reply(void *arg, enum uptx_state s, const struct smtp_reply *rep)
{
	struct relay	*r = arg;
	int		 ok = rep->code >= 200 && rep->code < 300;

	relay_enter(r, R_IDLE);
	switch (s) {
	case UPTX_PRE_RSET:
		/* refused: uptx closed the connection */
		relay_fail_reply(r, FAIL_PROTOCOL);
		return;
	case UPTX_MAIL:
		if (!ok)
			txlog_refused(r->id, "mail", "upstream",
			    smtp_server_info(r->srv)->peer,
			    smtp_server_info(r->srv)->proxy, relay_from(r), NULL,
			    rep->code, smtp_reply_enh(SMTP_RC_MAIL, rep->code,
			    rep->enh), rep->text);
		relay_reply(r, SMTP_RC_MAIL, rep);
		return;
	case UPTX_RCPT:
		relay_rq_pop(r);
		if (ok && r->nrcpt++ == 0)
			(void)str_copy(r->first_rcpt, r->rcpt,
			    sizeof(r->first_rcpt));
		if (ok && txlog_rcpts_add(&r->accepted, r->rcpt) == -1)
			log_warnx("%016" PRIx64 " relay out of memory: no "
			    "result line for <%s>", r->id, r->rcpt);
		if (!ok)
			metrics_rcpt_refused(1);
		if (!ok)
			txlog_refused(r->id, "rcpt", "upstream",
			    smtp_server_info(r->srv)->peer,
			    smtp_server_info(r->srv)->proxy, relay_from(r),
			    r->rcpt, rep->code, smtp_reply_enh(SMTP_RC_RCPT,
			    rep->code, rep->enh), rep->text);
		relay_reply(r, SMTP_RC_RCPT, rep);
		return;
	case UPTX_DATA:
		relay_slow_reply(r, rep->code);
		relay_tx_reply(r, rep->code,
		    smtp_reply_enh(SMTP_RC_DOT, rep->code, rep->enh), rep->text,
		    MX_CLASS_UPSTREAM);
		return;
	case UPTX_RSET:
		/* refused: uptx closed the connection; the client's is done */
		smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
		return;
	default:
		fatalx("relay: upstream reply in uptx state %s",
		    uptx_state_name(s));
	}
}

/* tx_state - the relay state a failure in uptx state s is logged as */
static enum relay_state
tx_state(const struct relay *r, enum uptx_state s)
{
	static const enum relay_state map[] = {
		R_IDLE, R_CONNECT, R_PRE_RSET, R_MAIL, R_RCPT, R_DATA, R_RSET
	};

	if (r->state == R_SECRET || r->state == R_POP)
		fatalx("relay: upstream failed before it was opened");
	return r->state == R_AUTH ? R_AUTH : map[s];
}

/*
 * relay_retry - an idle connection taken from the pool died before the
 * upstream accepted anything of this transaction (uptx_retryable): run
 * it once more on a new connection, and the client sees nothing.  Not
 * for passthrough (the client's password is gone) nor a second time.
 */
static int
relay_retry(struct relay *r, enum relay_state s, const char *why)
{
	char	 vis[256];

	if (!uptx_retryable(r->tx) || r->retried || s == R_AUTH ||
	    r->up->auth == AUTH_PASSTHROUGH || r->from == NULL)
		return 0;
	/* commands handed on behind MAIL went down with the connection */
	if (smtp_server_waiting(r->srv) > 1)
		return 0;
	r->retried = 1;
	(void)str_vis(vis, sizeof(vis), why, strlen(why));
	log_info("%016" PRIx64 " relay retry upstream=%s:%u state=%s "
	    "reason=\"reused connection lost: %s\"", r->id, r->up->host,
	    r->up->port, relay_strstate[s], vis);
	relay_enter(r, R_IDLE);
	relay_connect(r);
	/* r may be freed here */
	return 1;
}

/* relay_log_failed - the warning of an upstream failure, with its class */
static void
relay_log_failed(struct relay *r, enum relay_state s, enum gw_fail cls,
    const char *why)
{
	char	 up[300];

	(void)snprintf(up, sizeof(up), "%s:%u", r->up->host, r->up->port);
	log_kv(GW_LOG_WARNING, r->id, "relay", (struct log_field[]){
	    LOGK_WORD("upstream", up), LOGK_FLAG("failed", 1),
	    LOGK_WORD("class", fail_name(cls)),
	    LOGK_WORD("state", relay_strstate[s]),
	    LOGK_STR("reason", why) }, 5);
}

static void
tx_failed(void *arg, enum uptx_state us, enum gw_fail cls, const char *why,
    const struct smtp_reply *authrep)
{
	struct relay		*r = arg;
	enum relay_state	 s = tx_state(r, us);

	/* a new connection's set-up failed: TLS, AUTH, reachability */
	if (us == UPTX_CONNECT && !uptx_reused(r->tx))
		metrics_up_failed(r->mx, cls);
	if (relay_retry(r, s, why))
		return;
	/* could not be reached: marked down, the MAIL to the next one */
	if (relay_fo_failed(r, s, cls, why))
		return;
	relay_log_failed(r, s, cls, why);
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
		relay_rq_pop(r);	/* the oldest RCPT unanswered */
		relay_fail_rcpt(r, cls);
		break;
	case R_DATA:
		/* mid-stream: the client is answered at its final dot */
		if (relay_stream_failed(r, cls))
			break;
		relay_slow_reply(r, smtp_reply_fail_map(cls)->code);
		relay_fail_tx(r, cls);
		break;
	case R_RSET:
		smtp_server_reply(r->srv, 250, "2.0.0", "Ok");
		break;
	case R_AUTH:
		relay_auth_failed(r, cls, authrep);
		break;
	case R_IDLE:
		return;
	}
	relay_fail_behind(r, cls);
}

/*
 * relay_fail_behind - after the failure's reply to the oldest command,
 * the commands the session handed on behind it (pipelining) get the
 * same failure, each in its turn.
 */
static void
relay_fail_behind(struct relay *r, enum gw_fail cls)
{
	unsigned	 n;

	for (n = smtp_server_waiting(r->srv); n > 0; n--) {
		switch (smtp_server_awaits(r->srv)) {
		case SMTP_CMD_RCPT:
			relay_rq_pop(r);
			relay_fail_rcpt(r, cls);
			break;
		case SMTP_CMD_DATA:
			relay_fail_tx(r, cls);
			break;
		case SMTP_CMD_MAIL:
			relay_fail_reply(r, cls);
			break;
		default:
			return;	/* not a command of the transaction */
		}
	}
	r->rq_n = 0;
}
