/*
 * smtp_server_fixture.h - what the client-facing SMTP session's tests
 * (test_smtp_server*.c) share: the session over a socketpair with a real
 * event_base, the test playing the client on one end and a fake owner
 * (the relay's role) behind the smtp_server_cb callbacks.  The owner
 * answers either from inside the callback or later from a timer, as the
 * real relay does both; the cases registered with BOTH() run in each mode.
 */
#ifndef SMTP_SERVER_FIXTURE_H
#define SMTP_SERVER_FIXTURE_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "smtp/smtp_server.h"
#include "util/log.h"

#define HOST	"gw.test"

struct owner {
	struct event_base	*base;
	struct smtp_server	*srv;
	struct conf_listener	 conf;
	int			 cfd;		/* the client's end */
	int			 sfd;		/* the server's end */
	struct event		*rev;		/* reads the server's replies */
	struct event		*guard;		/* bounds every wait */
	int			 guard_fired;
	char			 in[65536];	/* bytes from the server */
	size_t			 inlen;
	int			 eof;
	char			 reply[8192];	/* the reply last taken */

	/* behaviour */
	int			 async;		/* answer from a timer */
	int			 begin_ret;	/* data_begin() result */
	int			 write_ret;	/* data_write() result */
	int			 pending;	/* an answer is scheduled */
	int			 pcode;
	char			 penh[16];
	char			 ptext[8192];

	/* what the session did */
	int			 nmail, nrcpt, nrset, nbegin, nwrite;
	int			 requiretls;	/* the last MAIL had it */
	int			 nend, nabort, nclosed, nauth;
	char			 auth_mech[16];
	char			 auth_user[300];
	char			 calls[1024];	/* "M R B E" ... */
	char			 from[SMTP_PATH_MAX];
	char			 body[262144];
	size_t			 bodylen;
	char			 reason[64];
};

/* the owner's two modes, a case's prestate */
extern const int	 mode_sync;
extern const int	 mode_async;

/* the owner's answer, now or from a timer (o->async) */
void		 answer(struct owner *, int, const char *, const char *);

/* a case's set-up and teardown (ONE, BOTH), and the session */
int		 setup(void **);
int		 teardown(void **);
void		 start(struct owner *);
int		 log_level_default(void);

/* waiting on the loop */
int		 have_reply(struct owner *);
int		 have_closed(struct owner *);
int		 have_pending(struct owner *);
int		 have_eof(struct owner *);
void		 run_until(struct owner *, int (*)(struct owner *), int);
void		 run_for(struct owner *, int);

/* the client's end */
void		 cl_write(struct owner *, const char *, size_t);
void		 cl_send(struct owner *, const char *);
const char	*take_reply(struct owner *);
void		 expect(struct owner *, const char *);
void		 expect_prefix(struct owner *, const char *);
void		 greet(struct owner *);
void		 expect_closed(struct owner *, const char *);

/* a case run once (the owner answers at once) or in both modes */
#define BOTH(t)								\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_sync),					\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_async)
#define ONE(t)								\
	cmocka_unit_test_prestate_setup_teardown(t, setup, teardown,	\
	    (void *)&mode_sync)

#endif /* SMTP_SERVER_FIXTURE_H */
