/*
 * relay_local.h - what the files of src/relay/ share about a session:
 * struct relay (one client session and its upstream) and struct
 * relay_env (what sessions under one configuration snapshot share).
 * Private to src/relay/: nothing outside it includes this file; the
 * public interface is relay.h.
 *
 * relay.c is the glue between the client session and the upstream
 * transaction (src/upstream/uptx.c, which runs the lockstep), and maps
 * the upstream's replies and failures to the client's replies;
 * relay_lauth.c is the listener's AUTH (map and passthrough);
 * relay_dkim.c signs the session's message.  The upstream's runtime,
 * credentials and command arguments are in src/upstream/.
 */
#ifndef GW_RELAY_LOCAL_H
#define GW_RELAY_LOCAL_H

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "relay/relay.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_reply.h"
#include "smtp/smtp_server.h"
#include "relay/txlog.h"
#include "util/fail.h"

struct hashpool;
struct pop3_client;
struct secret_fetch;
struct signers;
struct smime_keys;
struct spool;
struct relay_stream;
struct dkim_msg;
struct users;
struct users_entry;
struct uprt;
struct uptx;
struct upcred_facts;
struct mx_up;
struct relay_probe;
struct qenv;

struct relay_env {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gw_conf		*conf;
	/* one per conf->upstreams[]: TLS, POP, users_file (uprt.h) */
	struct uprt		*uprt[CONF_MAX_UPSTREAMS];
	size_t			 nuprt;
	/* one per conf->listeners[] with tls, else NULL (tls_srv.c) */
	struct tls_server_ctx	*lstls[CONF_MAX_LISTENERS];
	struct hashpool		*hpool;		/* auth = map hashes, on first use */
	struct signers		*signers;	/* the [dkim] keys */
	struct smime_keys	*smime;		/* the [smime] keys (smime_keys.h) */
	/* readiness probes (relay_probe.c): the timer, one per upstream */
	struct event		*probe_ev;
	struct relay_probe	*probing[CONF_MAX_UPSTREAMS];
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
/* messages up to this size stay in memory while they wait */
#define SPOOL_MEM_THRESHOLD	(256 * 1024)
/* RCPTs in flight upstream at once (pipelining); more wait their turn */
#define RELAY_RQ_MAX	4

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


struct relay {
	LIST_ENTRY(relay)	 entry;
	uint64_t		 id;
	struct relay_env	*env;
	const struct conf_listener *l;
	const struct conf_upstream *up;
	struct mx_up		*mx;		/* up's counters (obs/metrics.h) */
	struct smtp_server	*srv;
	struct uptx		*tx;		/* the upstream side (uptx.h) */
	struct secret_fetch	*sf;		/* auth = inject, fetching */
	struct pop3_client	*pop;		/* POP-before-SMTP login running */
	enum relay_state	 state;
	struct smtp_path	*from;		/* allocated at the first MAIL */
	char			 rcpt[SMTP_PATH_MAX];	/* the RCPT answered now */
	/* the RCPTs sent upstream and not answered, oldest first */
	char			 rq[RELAY_RQ_MAX][SMTP_PATH_MAX];
	unsigned		 rq_off, rq_n;
	char			 first_rcpt[SMTP_PATH_MAX];
	unsigned		 nrcpt;
	struct txlog_rcpts	 accepted;	/* for the per-rcpt lines */
	struct spool		*spool;
	struct relay_stream	*stream;	/* the body streamed (relay_stream.c) */
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
	struct qenv		*qe;		/* delivery = queue: the envelope */
	unsigned long long	 qsize;		/* ... the message stored */
	struct dkim_msg		*dmsg;		/* headers kept, body hashed */
	int			 dmsg_full;	/* unsignable: stop feeding it */
	size_t			 recvlen;	/* our Received header, spooled first */
	enum relay_dkim		 dkim;
	char			 dkim_log[DKIM_LOG_MAX];
	char			*sigs;		/* DKIM-Signature headers, sent first */
	size_t			 siglen, sigoff;
	struct timespec		 tx_start;
	struct timespec		 dot_start;	/* the client's final dot */
	struct timespec		 up_start;	/* a new upstream connection */
	/* the upstream's TLS, kept past the client's free for the log */
	char			 up_tls[96];
	int			 up_resumed;	/* its TLS session was resumed */
	int			 retried;	/* this transaction's one retry */
	/* failover (relay_failover.c): the transaction's list, entry, tried */
	const struct conf_uplist *uplist;	/* NULL: not moved */
	int			 upidx;
	unsigned		 tried;		/* bit i: uplist entry i */
	int64_t			 fo_start;	/* the MAIL (upsel_now) */
	struct event		*ev_failover;	/* failover_timeout */
	struct sockaddr_storage	 peer;
	relay_done_fn		 done;
	void			*done_arg;
};

/* relay_env.c: the snapshot's holds and pools */
struct smtp_client_params;
void	relay_env_hold(struct relay_env *);
void	relay_env_release(void *);
unsigned relay_env_nupstreams(void);
void	relay_client_params(struct relay_env *, struct uprt *, uint64_t,
	    struct smtp_client_params *);

/* relay.c: the session's states and its upstream */
uint64_t relay_new_id(void);
void	relay_enter(struct relay *, enum relay_state);
const char *relay_state_name(enum relay_state);
/* relay_uprt - the runtime of r's upstream in r's snapshot */
struct uprt *relay_uprt(struct relay *);
/* relay_find - the live session with this id, or NULL */
struct relay *relay_find(uint64_t);
void	relay_reply(struct relay *, enum smtp_reply_cmd,
	    const struct smtp_reply *);
void	relay_close_upstream(struct relay *);
/* relay_tx_reply - the transaction's end: its log line, then the reply */
void	relay_tx_reply(struct relay *, int code, const char *enh,
	    const char *text, int cls);
/* relay_fail_reply - the 4xx for an upstream failure, to the command */
void	relay_fail_reply(struct relay *, enum gw_fail);
/* relay_open.c: the upstream connection for the MAIL */
/* relay_mail_open - open the upstream for the MAIL waiting (POP first) */
void	relay_mail_open(struct relay *);
/* relay_connect - the same without the POP login (a retry) */
void	relay_connect(struct relay *);
/* relay_cred_facts - upcred's facts for r, before inject or passthrough's */
void	relay_cred_facts(struct relay *, struct upcred_facts *);
void	relay_open_upstream(struct relay *, const struct upcred_facts *);
int	relay_open_idle(struct relay *, struct upcred_facts *, char *,
	    size_t);

/* relay_failover.c: the transaction's upstream, failover */
void	relay_fo_mail(struct relay *);
int	relay_fo_failed(struct relay *, enum relay_state, enum gw_fail,
	    const char *);
void	relay_fo_ready(struct relay *);
void	relay_fo_free(struct relay *);

/* relay_rq.c: the RCPTs in flight upstream, for their replies' logs */
void	relay_rq_push(struct relay *, const char *);
void	relay_rq_pop(struct relay *);

/* relay_lauth.c: the listener's AUTH */
void	relay_srv_auth(void *, const char *, const char *, const char *);
void	relay_auth_settle(struct relay *);
void	relay_auth_done(struct relay *);
void	relay_auth_failed(struct relay *, enum gw_fail,
	    const struct smtp_reply *);

/* relay_rate.c: rate limits; 1 if over, the command then answered */
int	relay_rate_mail(struct relay *, const char *);
int	relay_rate_rcpt(struct relay *);

/* relay_stream.c: a body streamed upstream as it arrives */
int	relay_stream_wanted(const struct relay *);
int	relay_stream_begin(struct relay *, const char *, size_t);
int	relay_stream_write(struct relay *, const char *, size_t);
enum gw_fail relay_stream_end(struct relay *);
int	relay_stream_failed(struct relay *, enum gw_fail);
void	relay_stream_abort(struct relay *);
void	relay_stream_free(struct relay *);
unsigned long long relay_stream_size(const struct relay *);

/* relay_8bit.c: eight_bit = convert, at the end of DATA */
int	relay_8bit_may(const struct relay *);
int	relay_8bit(struct relay *);
int	relay_8bit_file(uint64_t, int, unsigned long long,
	    const struct conf_listener *, const struct smtp_client *,
	    struct spool **);

/* relay_dkim.c: DKIM of the session's message */
void	relay_dkim_reset(struct relay *);
void	relay_dkim_sign(struct relay *);

/*
 * relay_smime.c: S/MIME of the session's message (docs/smime.md).
 * relay_smime_applies - an [smime] section applies to r's sender: the
 * message must be whole (spooled), and a RCPT may be refused here.
 * relay_smime_signs - ... and its key signs the message (made at the end
 * of DATA, so an 8-bit conversion must come before it).
 * relay_smime_rcpt - 1 if RCPT to addr was refused (answered): no
 * certificate under missing_recipient_cert = refuse.
 * relay_smime - at the end of DATA, before DKIM: the spool replaced by the
 * signed and/or encrypted message, the DKIM state rebuilt over it; -1
 * when the transaction was answered (refused or failed).
 */
int	relay_smime_applies(const struct relay *);
int	relay_smime_signs(const struct relay *);
int	relay_smime_rcpt(struct relay *, const char *addr);
int	relay_smime(struct relay *);

/* relay_probe.c: readiness probes, with http_listen only */
void	relay_probe_start(struct relay_env *);
void	relay_probe_stop(struct relay_env *);

/* relay_env_listener_tls - listener l's TLS context (relay_env.c), or NULL */
struct tls_server_ctx *relay_env_listener_tls(const struct relay_env *,
	    const struct conf_listener *);

#endif
