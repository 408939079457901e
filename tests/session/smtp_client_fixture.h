/*
 * smtp_client_fixture.h - what the upstream SMTP client's session tests
 * (test_smtp_client*.c) share: a scripted fake upstream on a loopback
 * listener inside the test's event_base, an owner that runs a list of
 * client operations (one per ready() or reply()), a holder for a
 * detached client, and the test PKI the group set-up makes.
 *
 * The fake runs a script of steps: send bytes, expect a command line by
 * prefix, swallow a DATA body up to CRLF.CRLF, switch to TLS (wolfSSL as
 * the server), close, or go silent.  Certificates are made with the
 * openssl tool in the group setup: a CA, a server certificate for
 * mail.test signed by it, and an unrelated CA.
 *
 * Set SMTPGATE_TEST_DEBUG=1 for the protocol trace on stderr.
 */
#ifndef SMTP_CLIENT_FIXTURE_H
#define SMTP_CLIENT_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "net/io.h"
#include "smtp/smtp_client.h"
#include "tls/tls.h"
#include "tls/tls_local.h"	/* the session cache, for its tests */
#include "util/log.h"
#include "util/str.h"

enum step_kind {
	ST_END = 0,
	ST_SEND,	/* send text */
	ST_EXPECT,	/* next line must start with text */
	ST_BODY,	/* collect a body up to CRLF.CRLF */
	ST_TLS,		/* wolfSSL_accept on the connection */
	ST_CLOSE,	/* close the connection */
	ST_TLS_CLOSE,	/* close_notify, then close */
	ST_CORK,	/* TCP_CORK on ("1") or off ("0"): sends go out together */
	ST_SILENT	/* stop reacting; never answer */
};

struct step {
	enum step_kind	 kind;
	const char	*text;
};

struct fake {
	/* no NewSessionTicket on later connections (as Postfix on resumption) */
	int			 no_ticket;
	struct event_base	*base;
	int			 lfd;
	struct event		*lev;
	int			 fd;
	struct event		*rev;
	unsigned short		 port;
	const struct step	*script;
	size_t			 pc;
	int			 accepts;
	int			 closed;	/* the connection ended */
	int			 peer_eof;	/* the client closed first */
	char			 mismatch[512];
	char			 transcript[8192];	/* command lines seen */
	char			*in;
	size_t			 inlen;
	char			*body;
	size_t			 bodylen;
	int			 got_dot;
	WOLFSSL_CTX		*sctx;
	WOLFSSL			*ssl;
	int			 handshaking;
	int			 tls12_only;
};

enum op_kind {
	OP_NONE = 0,	/* wait: do nothing more */
	OP_MAIL,
	OP_RCPT,
	OP_DATA,
	OP_RSET,
	OP_QUIT,
	OP_FREE,
	OP_DETACH,	/* give the client to the scenario's holder */
	OP_BATCH,	/* the ops up to OP_BATCH_END at once (pipelined) */
	OP_BATCH_END
};

struct op {
	enum op_kind	 kind;
	const char	*arg;
};

struct body {
	const char	*data;
	size_t		 len;
	size_t		 off;
	size_t		 chunk;		/* at most this per call (0: any) */
	int		 fail_at_call;	/* return -1 on this call (1-based) */
	int		 calls;
	size_t		 maxcall;	/* largest len asked for */
};

struct owner {
	struct smtp_client	*c;
	const struct op		*ops;
	size_t			 opi;
	struct body		*body;
	int			 ready;
	int			 replies[16];
	char			 reply_text[16][128];
	int			 nreplies;
	int			 failed;
	enum gw_fail		 fail_class;
	char			 fail_text[512];
	int			 finished;	/* quit, freed or failed */
	int			 after_end;	/* callbacks after we let go */
	char			 tls[128];
	int			 resumed;	/* smtp_client_tls_resumed */
	struct smtp_ext		 ext;
	int			 ext_seen;
	int			 auth_code;	/* smtp_client_auth_reply in ready() */
	char			 auth_mech[16];
	enum smtp_client_tx	 tx[16];	/* smtp_client_tx_state per reply */
	enum smtp_client_tx	 fail_tx;	/* ... in failed() */
	unsigned long		 messages;	/* smtp_client_messages at QUIT */
	int			 owed;	/* replies to batched commands still due */
	int			 canpipe;	/* can_pipeline after a batch's first */
};

/* the pool's part: holds a detached client, then acts on it */
enum holder_action {
	H_WAIT = 0,	/* only watch: dead() is expected */
	H_ATTACH,	/* once idle, hand it to the scenario's owner2 */
	H_QUIT,		/* once idle, smtp_client_quit() */
	H_QUIT_NOW,	/* smtp_client_quit() right after detach */
	H_DROP_ATTACH,	/* once idle, the fake closes, then attach */
	H_BOUNCE	/* at once attach to owner2, detach again, then H_QUIT */
};

struct holder {
	struct smtp_client	*c;
	enum holder_action	 action;
	int			 dead;
	enum gw_fail		 dead_class;
	char			 dead_text[256];
	int			 attach_rc;
	int			 acted;
};

struct scenario {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct conf_upstream	 up;
	struct tls_client_ctx	*tls;
	struct fake		 fake;
	struct owner		 owner;
	struct event		*tick;
	int			 timed_out;
	int			 ticks;
	const struct smtp_client_auth *auth;	/* params.auth */
	char			 trace[8192];	/* params.trace, sent lines */
	int			 released;	/* params.release ran */
	struct holder		 holder;	/* after OP_DETACH */
	struct owner		 owner2;	/* after H_ATTACH */
};

#define NEED_PKI()	do { if (!pki_ok) skip(); } while (0)

#define BANNER		{ ST_SEND, "220 mx.test ESMTP fake\r\n" }
#define EXP(s)		{ ST_EXPECT, s }
#define SEND(s)		{ ST_SEND, s }
#define END		{ ST_END, NULL }

/* the test PKI: group_setup() makes it, NEED_PKI() skips without it */
extern char	 pki_dir[PATH_MAX];
extern int	 pki_ok;
int		 pki_run(const char *, ...) __attribute__((format(printf, 1, 2)));
void		 pki_path(char *, size_t, const char *);
int		 group_setup(void **);
int		 group_teardown(void **);

/* the fake upstream */
void		 fake_close(struct fake *);
void		 fake_tls12_only(struct fake *);

/* the owner, and H_BOUNCE's short second owner */
extern const struct smtp_client_cb owner_cb;
extern struct owner	 cur_owner2;

/* running one scenario */
void		 sc_init(struct scenario *, const struct step *, enum tls_mode);
void		 sc_run(struct scenario *, const struct op *, struct body *);
void		 sc_done(struct scenario *);

/* the operations and scripts more than one file runs */
extern const struct op	 ops_one_message[];
extern const struct op	 ops_mail_wait[];
extern const struct op	 ops_mail_rcpt_data_wait[];
extern const struct op	 ops_mail_rcpt_wait[];
extern const struct op	 ops_mail_quit[];
extern const struct step script_close_after_dot[];
extern const struct step script_421_mail[];

#endif /* SMTP_CLIENT_FIXTURE_H */
