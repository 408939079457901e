/*
 * smtp_server_int.h - what the files of the client-facing session share:
 * the session object, its states and flags, and the functions one file
 * calls in another.  Private to src/smtp/smtp_server*.c.
 *
 * smtp_server.c      lifecycle, io events, timeouts, the command loop and
 *                    dispatch, the end of a session
 * smtp_server_cmd.c  HELO/EHLO, MAIL, RCPT, DATA and the body, RSET and
 *                    the commands that move no mail
 * smtp_server_auth.c AUTH and its SASL exchange
 * smtp_server_tls.c  STARTTLS and implicit TLS
 * smtp_server_out.c  replies (the owner's and our own), logs and traces
 * smtp_server_pipe.c the lookahead of pipelined RCPT and DATA lines
 */
#ifndef GW_SMTP_SERVER_INT_H
#define GW_SMTP_SERVER_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <time.h>

#include "conf/conf.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "smtp/smtp_sasl.h"
#include "smtp/smtp_server.h"
#include "util/log.h"

struct event;
struct event_base;
struct gw_io;

#define SMTP_SRV_INMAX		(64 * 1024)	/* pipelined input held */
#define SMTP_SRV_OUTMAX		(64 * 1024)	/* replies not yet sent */
#define SMTP_SRV_BATCH		64	/* commands per loop turn */
#define SMTP_SRV_MAXERR		10	/* error replies before 421 */
#define SMTP_SRV_REPLY_LINES	32	/* lines in one reply we send */
#define SMTP_SRV_REPLY_LEN	510	/* one reply line without CRLF */
#define SMTP_SRV_CHUNK		4096	/* body bytes fed per step */
#define SMTP_SRV_LINGER		10	/* seconds to flush the last reply */
#define SMTP_SRV_TEXT_MAX	1024	/* our own reply texts */
#define SMTP_SRV_LOG_MAX	1024	/* escaped protocol line in a trace */
#define SMTP_SRV_AHEAD_MAX	64	/* commands handed on behind the first */

/* room a command needs in the output before it is processed */
#define SMTP_SRV_REPLY_ROOM \
	(SMTP_SRV_REPLY_LINES * (SMTP_SRV_REPLY_LEN + 2))

enum smtp_state {
	STATE_NEW = 0,
	STATE_CONNECTED,	/* greeting sent, no HELO/EHLO yet */
	STATE_HELO,		/* greeted, no transaction */
	STATE_TX,		/* MAIL accepted: RCPT, DATA */
	STATE_WAIT_MAIL,	/* owner->mail() called, reply awaited */
	STATE_WAIT_RCPT,	/* owner->rcpt() called, reply awaited */
	STATE_WAIT_RSET,	/* owner->rset(): RSET, or EHLO in a tx */
	STATE_BODY,		/* reading the message after 354 */
	STATE_WAIT_DATA,	/* owner->data_end() called, reply awaited */
	STATE_WAIT_354,		/* data_begin() said 1: its 354 or refusal awaited */
	STATE_AUTH_PLAIN,	/* 334 sent, the PLAIN response awaited */
	STATE_AUTH_LOGIN_USER,	/* 334 Username: sent */
	STATE_AUTH_LOGIN_PASS,	/* 334 Password: sent */
	STATE_WAIT_AUTH,	/* owner->auth() called, reply awaited */
	STATE_TLS,		/* TLS handshake (implicit, or after STARTTLS) */
	STATE_QUIT,		/* last reply queued, closing once it is sent */
	STATE_CLOSED		/* closed() delivered; only free remains */
};


#define SF_FREE		0x0001	/* smtp_server_free() called inside a frame */
#define SF_DRAIN	0x0002	/* close after the current transaction */
#define SF_SKIPLINE	0x0004	/* discarding the rest of an over-long line */
#define SF_OUTFULL	0x0008	/* paused until the output drains */
#define SF_OVERFLOW	0x0010	/* a reply did not fit the output bound */
#define SF_WFAIL	0x0020	/* data_write() failed for this message */
#define SF_INPROC	0x0040	/* inside smtp_process() */
#define SF_EOF		0x0080	/* the client closed its side */
#define SF_INBODY	0x0100	/* data_begin() said yes; no end/abort yet */
#define SF_PIPEWARN	0x0200	/* improper pipelining already logged */
#define SF_AUTHON	0x0400	/* AUTH offered and required before MAIL */
#define SF_AUTHED	0x0800	/* an AUTH got 235 */
#define SF_SKIPDROP	0x1000	/* after SF_SKIPLINE, drop the input behind */
#define SF_EXPIRED	0x4000	/* max_session_time passed while not reading */
#define SF_BODYWAIT	0x8000	/* data_write() said 1: reading paused */
#define SF_AHEADCALL	0x10000	/* inside the owner's call for a command ahead */

/* command flags */
#define CMD_LAST	0x01	/* must end a pipelined group (RFC 2920) */
#define CMD_JUNK	0x02	/* counts against max_junk_commands */

struct smtp_server {
	struct event_base		*base;
	struct gw_io			*io;
	struct event			*ev_resume;	/* continue, deferred */
	struct event			*ev_linger;	/* bounds last flush */
	struct event			*ev_cmd;	/* command deadline */
	struct event			*ev_session;	/* max_session_time */
	const struct smtp_server_cb	*cb;
	void				*arg;
	struct smtp_server_info		 info;
	char				 hostname[CONF_HOST_MAX];
	char				 banner[CONF_TEXT_MAX];

	/* copied from the listener: the conf snapshot may be swapped */
	unsigned long long		 max_size;
	unsigned			 max_rcpt;
	unsigned			 cmd_timeout;	/* seconds */
	unsigned			 data_timeout;	/* seconds */
	int				 normalize;
	enum long_lines			 long_lines;
	unsigned			 max_session;	/* seconds, 0: none */
	unsigned			 max_junk;	/* 0: no limit */
	unsigned			 min_rate;	/* octets/s, 0: none */

	enum smtp_state			 state;
	unsigned			 flags;
	int				 frame;
	unsigned			 nerrors;
	unsigned long long		 ncommands;
	unsigned			 njunk;		/* since the last message */

	/* transaction */
	unsigned			 nrcpt;		/* accepted rcpts */
	unsigned			 nrcpt_seen;	/* RCPT commands */
	int				 tx_utf8;	/* MAIL had SMTPUTF8 */
	struct smtp_path		*path;		/* checked MAIL/RCPT; from the first */
	char				 from[SMTP_PATH_MAX];	/* for logs */
	struct smtp_data		 data;
	struct timespec			 data_t0;	/* when 354 was sent */
	struct timespec			 pause_t0;	/* SF_BODYWAIT since */
	unsigned long long		 data_in;	/* octets read since */

	/*
	 * Lookahead (smtp_server_lookahead): the WAIT states of the commands
	 * handed on behind the one in flight (s->state), oldest first, and
	 * the state the session settles in once all are answered.
	 */
	int				(*ahead_ok)(void *, enum smtp_verb,
					    const struct smtp_path *);
	enum smtp_state			 ahead[SMTP_SRV_AHEAD_MAX];
	unsigned			 nahead;
	enum smtp_state			 after;

	/* HELO/EHLO waiting for the owner's rset */
	enum smtp_verb			 pending;
	char				 pending_helo[SMTP_DOMAIN_MAX + 1];

	/* the AUTH exchange in progress; wiped when it ends */
	const char			*auth_mech;	/* "PLAIN" or "LOGIN" */
	struct smtp_sasl_creds		 creds;

	const char			*reason;	/* for closed() */

	/* TLS on the listener (tls_srv.c) */
	struct tls_server_ctx		*tls;		/* NULL: tls = none */
	enum listen_tls			 tls_mode;
	int				 tls_required;	/* 530 before TLS */
	enum requiretls_mode		 requiretls;	/* where offered */
	int				 auth_after_tls; /* no AUTH in clear */
	unsigned			 hs_timeout;	/* seconds */
	struct tls_info			*tlsinfo;	/* after the handshake */
};

struct smtp_cmd {
	enum smtp_verb	 verb;
	const char	*name;
	/* check: syntax and state; sends the error reply and returns -1 */
	int		(*check)(struct smtp_server *, const char *);
	void		(*proceed)(struct smtp_server *, const char *);
	unsigned	 flags;
};

int	smtp_body(struct smtp_server *);
int	smtp_lookahead(struct smtp_server *);
const char *smtp_rcpt_params_why(const struct smtp_server *, int *,
		    const char **);
void	smtp_ahead_settle(struct smtp_server *, enum smtp_state);
void	smtp_body_start(struct smtp_server *);
int	smtp_check_auth(struct smtp_server *, const char *);
int	smtp_check_data(struct smtp_server *, const char *);
int	smtp_check_helo(struct smtp_server *, const char *);
int	smtp_check_mail(struct smtp_server *, const char *);
int	smtp_check_rcpt(struct smtp_server *, const char *);
int	smtp_check_rset(struct smtp_server *, const char *);
int	smtp_check_starttls(struct smtp_server *, const char *);
void	smtp_drop_input(struct smtp_server *, const char *);
void	smtp_enter_state(struct smtp_server *, enum smtp_state);
void	smtp_error(struct smtp_server *, int, const char *,
		    const char *, ...) GW_PRINTF(4, 5);
void	smtp_helo_done(struct smtp_server *, enum smtp_verb,
		    const char *);
int	smtp_in_sasl(const struct smtp_server *);
void	smtp_log_msg(struct smtp_server *, const char *, unsigned,
		    unsigned long long, int, const char *, const char *);
void	smtp_log_mail(struct smtp_server *, const char *, int,
	    const char *, const char *);
void	smtp_log_rcpt(struct smtp_server *, const char *, int,
		    const char *, const char *);
void	smtp_proceed_auth(struct smtp_server *, const char *);
void	smtp_proceed_data(struct smtp_server *, const char *);
void	smtp_proceed_ehlo(struct smtp_server *, const char *);
void	smtp_proceed_helo(struct smtp_server *, const char *);
void	smtp_proceed_help(struct smtp_server *, const char *);
void	smtp_proceed_mail(struct smtp_server *, const char *);
void	smtp_proceed_noop(struct smtp_server *, const char *);
void	smtp_proceed_notimpl(struct smtp_server *, const char *);
void	smtp_proceed_quit(struct smtp_server *, const char *);
void	smtp_proceed_rcpt(struct smtp_server *, const char *);
void	smtp_proceed_rset(struct smtp_server *, const char *);
void	smtp_proceed_starttls(struct smtp_server *, const char *);
void	smtp_proceed_unknown(struct smtp_server *, const char *);
void	smtp_proceed_vrfy(struct smtp_server *, const char *);
void	smtp_process(struct smtp_server *);
void	smtp_quit(struct smtp_server *, const char *);
void	smtp_resume(struct smtp_server *);
void	smtp_sasl_abort(struct smtp_server *);
void	smtp_sasl_line(struct smtp_server *, const char *, size_t);
void	smtp_send(struct smtp_server *, int, const char *,
		    const char *, ...) GW_PRINTF(4, 5);
int	smtp_skip_line(struct smtp_server *);
const char *smtp_strstate(enum smtp_state);
void	smtp_tls_begin(struct smtp_server *);
int	smtp_tls_needed(struct smtp_server *, const char *);
void	smtp_tls_ready(struct smtp_server *);
void	smtp_trace_in(struct smtp_server *, const char *, size_t);
void	smtp_tx_close(struct smtp_server *, enum smtp_state);
void	smtp_wait_owner(struct smtp_server *, enum smtp_state);
void	smtp_want_input(struct smtp_server *);

#endif
