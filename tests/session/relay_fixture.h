/*
 * relay_fixture.h - what the relay's session tests (test_relay*.c) share:
 * a scripted upstream SMTP server on a loopback listener inside the test's
 * event_base, which records every byte it received, and the client end of
 * a relay session on a socketpair, driven through relay.h's public API.
 * Each test_relay*.c file is one theme of cases over this fixture.
 *
 * No sleeps: every wait drives the loop until a condition holds or a
 * deadline passes (then the test fails, naming what it waited for).
 */
#ifndef RELAY_FIXTURE_H
#define RELAY_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "relay/relay.h"
#include "util/log.h"

#define WAIT_SECONDS	10	/* per wait; generous for valgrind */
#define MAX_CONNS	4
#define RAW_MAX		65536

/* ------------------------------------------------------------------ */
/* the scripted upstream */

/*
 * One step: wait for a line starting with expect, then send reply.
 *   expect NULL	the greeting, sent on accept (first step only)
 *   expect "."		the message body: everything up to CRLF.CRLF
 *   reply NULL		close the connection instead of answering
 *   reply HOLD		answer nothing until the test calls up_release()
 *   THEN_CLOSE		(a step of its own) close right after the reply
 *			of the step before it, unasked: a server dropping
 *			an idle client
 * After the last step a QUIT gets 221 and the connection closes; any
 * other line is a mismatch.
 */
struct step {
	const char	*expect;
	const char	*reply;
};
#define END	{ NULL, NULL }
extern const char HOLD[];
extern const char CLOSE[];
#define THEN_CLOSE { NULL, CLOSE }

struct ups;

struct fconn {
	struct ups		*u;
	int			 fd;
	struct event		*ev;
	const struct step	*script;
	size_t			 pc;
	int			 done;		/* script ended */
	char			 in[RAW_MAX];
	size_t			 inlen;
	char			 raw[RAW_MAX];	/* every byte received */
	size_t			 rawlen;
	char			 body[RAW_MAX];	/* the last body, no dot */
	size_t			 bodylen;
	int			 quit;		/* got QUIT */
	int			 held;		/* a HOLD step waits */
	int			 closed;
};

struct ups {
	struct event_base	*base;
	int			 lfd;
	struct event		*lev;
	unsigned short		 port;
	const struct step	*scripts[MAX_CONNS];
	struct fconn		 conns[MAX_CONNS];
	int			 accepts;
	char			 mismatch[512];
};

/* ------------------------------------------------------------------ */
/* the fixture: conf, env, session, the client end */

struct t {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct gw_conf		*conf;
	struct relay_env	*env;
	struct ups		 up;
	char			 dir[64];
	int			 cfd;		/* the client's end */
	struct event		*cev;
	char			 cin[RAW_MAX];
	size_t			 cinlen;
	int			 ceof;
	int			 done;		/* relay_done_fn calls */
	int			 nsessions;	/* t_session calls */
	int			 wconn;		/* what wait_*() wait for */
	const char		*wraw;
	unsigned		 widle;
	int			 timed_out;
	unsigned		 base_count;	/* left by a failed test */
	struct event		*timer;
	char			 conferr[1024];
	char			 sections[512];	/* more sections for t_conf */
};

/* ------------------------------------------------------------------ */
/* scripts and messages */

#define GREET	{ NULL, "220 up.test ESMTP scripted\r\n" }
#define EHLO	{ "EHLO gw.test", "250-up.test\r\n250-PIPELINING\r\n" \
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n" }
/* the pool's give-back RSET goes at once only without PIPELINING */
#define EHLO_NP	{ "EHLO gw.test", "250-up.test\r\n" \
		    "250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n" }
#define EHLO_DSN { "EHLO gw.test", "250-up.test\r\n250-SIZE 1000000\r\n" \
		    "250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n" }

#define MSG	"Subject: one\r\n" \
		"From: a@src.test\r\n" \
		"\r\n" \
		"line one\r\n" \
		"..a dot-stuffed line\r\n" \
		"\r\n" \
		"last line\r\n"
/* the same as the upstream sees it: still dot-stuffed on the wire */
#define MSG_UP	MSG

#define UP_OK	"250 2.0.0 Ok: queued as UP-4711\r\n"
#define CL_OK	"250 2.0.0 Ok: queued as UP-4711\r\n"

/* one transaction as the scripts and the upstream see it (the pool's cases) */
#define TX(ok) \
	{ "MAIL FROM:<a@src.test>", "250 2.1.0 Sender ok\r\n" }, \
	{ "RCPT TO:<b@dst.test>", "250 2.1.5 Recipient ok\r\n" }, \
	{ "DATA", "354 go ahead\r\n" }, \
	{ ".", ok }
#define TX_UP	"MAIL FROM:<a@src.test>\r\nRCPT TO:<b@dst.test>\r\n" \
		"DATA\r\n" MSG_UP ".\r\n"
#define RSET_OK	{ "RSET", "250 2.0.0 Ok\r\n" }
#define POOL_ON	"pool = yes\n"

/* auth = map: a users_file line, "localuser:hash:upstream-user:secret" */
#define USERS	"# test users\n" \
		"scanner:$6$Zq3xK9tQ$DjTOBkAhf0a0onPwpCrM4dyLeyDv9OevP0wi1n9D3" \
		"xiFPjuIaKIPjRVTWENupfW2bmmyS1lC7R0IxUF.s374j.:up-user:" \
		"up:secret x\n"

/* the scripted upstream */
void		 up_send(struct fconn *, const char *);
void		 up_close(struct fconn *);
void		 up_release(struct ups *, int, const char *);

/* the fixture's life: a failed test's files go in teardown() */
struct t	*t_new(const struct step *, const struct step *);
int		 t_conf(struct t *, const char *, const char *);
void		 t_start(struct t *);
void		 t_session(struct t *);
void		 t_free(struct t *);
int		 teardown(void **);
void		 write_file(const char *, const char *, mode_t);

/* waiting on the loop */
int		 run_until(struct t *, int (*)(struct t *));
int		 all_gone(struct t *);
int		 upstream_quit(struct t *);
int		 upstream_holds(struct t *);
void		 wait_raw(struct t *, int, const char *);
void		 wait_closed(struct t *, int);
void		 t_end(struct t *);
void		 wait_count(struct t *, unsigned);

/* the client's side, and what the upstream saw */
void		 cl_send(struct t *, const char *);
void		 cl_reply(struct t *, char *, size_t);
void		 cmd(struct t *, const char *, const char *);
void		 cmd_prefix(struct t *, const char *, const char *);
void		 ehlo(struct t *);
void		 one_message(struct t *, const char *);
const char	*raw(struct t *, int);
void		 assert_raw(struct t *, int, const char *);

/* the relay's log lines, captured into the test's directory */
void		 log_capture(const char *);
void		 log_collect(const char *, char *, size_t);
int		 log_has(const char *, const char *, const char *);

#endif /* RELAY_FIXTURE_H */
