/*
 * smtp_client_int.h - the smtp_client's private parts, shared by
 * smtp_client.c (the session's state machine) and smtp_client_idle.c
 * (attach, detach and the idle watch for a connection pool).  Not for
 * any other module: the public contract is smtp_client.h.
 */
#ifndef GW_SMTP_CLIENT_INT_H
#define GW_SMTP_CLIENT_INT_H

#include <stdint.h>
#include <time.h>

#include "conf/conf.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "util/fail.h"
#include "util/log.h"

struct event;
struct upconn;
struct gw_io;
struct gssjob;

#define CLIENT_IN_MAX		16384	/* reply lines are consumed as they come */
#define CLIENT_OUT_MAX		65536
#define BODY_CHUNK		16384	/* unstuffed octets asked from the body fn */
#define BODY_STUFF_MAX		32768	/* stuffed octets written per io_write */
#define BODY_ROOM_MIN		4096	/* keep filling while this much room is left */
#define BODY_LOWAT		16384	/* resume filling at this much queued */
#define QUIT_TIMEOUT		10	/* seconds to wait for the reply to QUIT */
#define CLIENT_TEXT_MAX		512
#define CLIENT_PIPE_MAX		64	/* commands sent behind the one awaited */

enum client_state {
	CS_NEW = 0,
	CS_RESOLVING,
	CS_CONNECTING,
	CS_TLS_IMPLICIT,
	CS_BANNER,
	CS_EHLO,
	CS_HELO,
	CS_STARTTLS,
	CS_TLS_STARTTLS,
	CS_EHLO_TLS,
	CS_AUTH,
	CS_AUTH_KDC,		/* GSSAPI's first step runs on a thread (gssjob) */
	CS_READY,
	CS_MAIL,
	CS_RCPT,
	CS_DATA,
	CS_BODY,
	CS_DOT,
	CS_RSET,
	CS_QUIT,
	CS_CLOSED,
	CS_MAX
};

#define CF_READY_SENT	0x0001	/* ready() was called */
#define CF_TLS		0x0002	/* TLS is up on the connection */
#define CF_FAILED	0x0004	/* the session failed; failed() sent or pending */
#define CF_FAIL_PENDING	0x0008	/* failed() waits on ev_defer */
#define CF_QUIET	0x0010	/* no more callbacks to the owner */
#define CF_FREE		0x0020	/* free when the outermost frame unwinds */
#define CF_HELO		0x0040	/* the upstream got HELO, not EHLO */
#define CF_AUTH_RAN	0x0080	/* an AUTH command was sent */
#define CF_AUTH_DONE	0x0100	/* AUTH succeeded (235) */
#define CF_AUTH_CLEAR	0x0200	/* the cleartext warning was logged */
#define CF_AUTH_EXPECT_FAIL 0x0400 /* error challenge answered: 5xx next */
#define CF_AUTH_WANTED	0x0800	/* the owner gave credentials */
#define CF_AUTH_ONE_TRY	0x1000	/* no fallback (smtp_client_auth.one_try) */
#define CF_DETACHED	0x2000	/* no owner: the holder's idle callbacks */
#define CF_PARKING	0x4000	/* our own RSET (from detach) is in flight */
#define CF_READY_PENDING 0x8000	/* ready() to a new owner waits on ev_defer */
#define CF_TX_DIRTY	0x20000	/* a MAIL went out since ready or RSET's 250 */
#define CF_BODY_WAIT	0x40000	/* the body source said SMTP_BODY_WAIT */
#define CF_BODY_KICK	0x80000	/* smtp_client_body_more(): pump on ev_defer */
#define CF_RSET_DUE	0x100000 /* detach's RSET waits to lead the next MAIL */
#define CF_RSET_OWN	0x200000 /* that RSET is out: its reply is not the owner's */

/* how a failure ends the connection (client_fail_v) */
enum client_end {
	END_CLOSE = 0,		/* close at once */
	END_QUIT,		/* in step with the upstream: QUIT, then close */
	END_CANCEL_QUIT		/* inside a SASL exchange: "*", QUIT, close */
};

struct smtp_client {
	enum client_state	 state;
	unsigned		 flags;
	int			 held;	/* frames running on this client */
	int			 api;	/* inside a public call */

	struct event_base	*base;
	struct evdns_base	*dns;
	const struct conf_upstream *up;
	struct tls_client_ctx	*tls;
	uint64_t		 id;
	void			(*release)(void *);
	void			(*trace)(void *, int, const char *, size_t);
	void			*trace_arg;
	void			*release_arg;
	char			 helo[CONF_HOST_MAX];
	struct smtp_client_cb	 cb;
	void			*arg;
	/* while detached: the holder's callbacks (smtp_client_idle.c) */
	struct smtp_client_idle_cb icb;
	void			*iarg;
	enum smtp_client_tx	 tx;	/* the retry rule: see smtp_client.h */
	/*
	 * RFC 2920: the commands sent behind the one whose reply is awaited
	 * (c->state), oldest first; each reply pops the next into c->state
	 */
	enum client_state	 pipe[CLIENT_PIPE_MAX];
	unsigned		 npipe;
	unsigned long		 messages;	/* final-dot replies received */
	unsigned		 owners;	/* attach count, the first included */

	struct event		*ev_timer;
	struct event		*ev_defer;
	struct upconn		*conn;	/* lookup, connect, TLS, OCSP */
	char			 peer[64];	/* "192.0.2.1:587" */

	struct gw_io		*io;	/* conn's, once connected */
	struct smtp_reply	 reply;
	struct smtp_ext		 ext;
	char			 tlsdesc[96];
	/* MAIL and RCPT arguments, up to RFC 3461's longer lines */
	char			 cmdarg[SMTP_MAILRCPT_LINE_MAX + 16];

	smtp_body_fn		 bodyfn;
	void			*bodyarg;
	struct smtp_stuff	 stuff;
	char			*bodybuf;	/* BODY_CHUNK */
	char			*stuffbuf;	/* BODY_STUFF_MAX */
	size_t			 bodyoff;
	size_t			 bodylen;
	int			 body_eof;
	unsigned long long	 body_octets;

	enum gw_fail		 fail_class;
	char			 fail_text[CLIENT_TEXT_MAX];

	/*
	 * AUTH: copies of the credentials, wiped and freed as soon as the
	 * exchange is over (235, failure or close), never logged.
	 */
	char			*auth_user;
	char			*auth_secret;
	char			*auth_token;
	char			*auth_keytab;	/* GSSAPI: paths and names, */
	char			*auth_principal; /* not secrets */
	int			 auth_mech;	/* enum auth_mech running/last */
	int			 auth_step;	/* 334 challenges answered */
	struct sasl_state	*auth_st;	/* the running exchange's */
	struct gssjob		*auth_job;	/* CS_AUTH_KDC: holds auth_st */
	unsigned		 auth_tried;	/* SASL_BIT()s */
	/* last reply to AUTH; allocated at the first, so that sessions
	 * without AUTH do not carry 4 KiB for it */
	struct smtp_reply	*auth_reply;
};

/* smtp_client.c */
const char *client_strstate(enum client_state);
void	client_hold(struct smtp_client *);
void	client_release(struct smtp_client *);
void	client_enter(struct smtp_client *, enum client_state);
void	client_fail(struct smtp_client *, enum gw_fail, const char *, ...)
	    GW_PRINTF(3, 4);
void	client_send(struct smtp_client *, const char *, ...) GW_PRINTF(2, 3);
void	client_send_verb(struct smtp_client *, enum client_state);
void	client_auth_fail(struct smtp_client *, enum client_end,
		    const char *, ...) GW_PRINTF(3, 4);
void	client_finish(struct smtp_client *);
void	client_timer(struct smtp_client *, unsigned);
int	client_text_ok(const char *);

/* smtp_client_auth.c: AUTH towards the upstream */
int	client_auth_copy(struct smtp_client *,
		    const struct smtp_client_auth *);
void	client_auth_or_ready(struct smtp_client *);
void	client_auth_response(struct smtp_client *, const char *);
void	client_auth_start(struct smtp_client *);
void	client_auth_wipe(struct smtp_client *);

/* smtp_client_tx.c: MAIL, RCPT, DATA, the body, RSET, QUIT; pipelining */
void	client_body_pump(struct smtp_client *);
void	client_body_release(struct smtp_client *);
void	client_pipe_next(struct smtp_client *);

/* smtp_client_reply.c: each complete reply, by state */
void	client_response(struct smtp_client *);

/* smtp_client_idle.c */
void	client_idle_datain(struct smtp_client *);
void	client_park_reply(struct smtp_client *, const char *txt);
void	client_own_rset_reply(struct smtp_client *, const char *txt);
void	client_idle_defer(struct smtp_client *);

#endif
