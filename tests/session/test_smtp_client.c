/*
 * test_smtp_client.c - the upstream SMTP client against a scripted fake
 * upstream on a loopback listener inside the same event_base.
 *
 * The fake runs a script of steps: send bytes, expect a command line by
 * prefix, swallow a DATA body up to CRLF.CRLF, switch to TLS (wolfSSL as
 * the server), close, or go silent.  The owner side runs a list of client
 * operations, one per ready()/reply().  Certificates are made with the
 * openssl tool in the group setup: a CA, a server certificate for
 * mail.test signed by it, and an unrelated CA.
 *
 * Set SMTPGATE_TEST_DEBUG=1 for the protocol trace on stderr.
 */
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

/* ------------------------------------------------------------------ */
/* test PKI */

static char	pki_dir[PATH_MAX];
static int	pki_ok;

static int	pki_run(const char *, ...) __attribute__((format(printf, 1, 2)));

static int
pki_run(const char *fmt, ...)
{
	char	 cmd[2048];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

static void
pki_path(char *out, size_t len, const char *name)
{
	int	n = snprintf(out, len, "%s/%s", pki_dir, name);

	assert_true(n > 0 && (size_t)n < len);
}

static int
pki_make(void)
{
	char	 tmpl[] = "/tmp/smtpgate-client-test-XXXXXX";
	FILE	*f;
	char	 p[PATH_MAX + 16];

	if (mkdtemp(tmpl) == NULL)
		return -1;
	(void)snprintf(pki_dir, sizeof(pki_dir), "%s", tmpl);
	pki_path(p, sizeof(p), "ext.cnf");
	if ((f = fopen(p, "w")) == NULL)
		return -1;
	fprintf(f, "subjectAltName=DNS:mail.test,DNS:*.mx.test\n"
	    "basicConstraints=CA:FALSE\n"
	    "keyUsage=digitalSignature\n"
	    "extendedKeyUsage=serverAuth\n");
	fclose(f);
	if (pki_run("cd %s && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout ca.key -out ca.pem -days 2 -subj '/CN=Test CA' && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
	    "-nodes -keyout other.key -out other.pem -days 2 "
	    "-subj '/CN=Other CA' && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
	    "-keyout srv.key -out srv.csr -subj '/CN=mail.test/O=Test' && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key "
	    "-CAcreateserial -out srv.pem -days 2 -extfile ext.cnf",
	    pki_dir) != 0)
		return -1;
	return 0;
}

static void
pki_remove(void)
{
	if (pki_dir[0] != '\0')
		(void)pki_run("rm -rf '%s'", pki_dir);
}

/* ------------------------------------------------------------------ */
/* the fake upstream */

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

static void	fake_run(struct fake *);

static void
fake_append(struct fake *f, const char *p, size_t n)
{
	f->in = realloc(f->in, f->inlen + n + 1);
	assert_non_null(f->in);
	memcpy(f->in + f->inlen, p, n);
	f->inlen += n;
}

static void
fake_consume(struct fake *f, size_t n)
{
	memmove(f->in, f->in + n, f->inlen - n);
	f->inlen -= n;
}

static void
fake_close(struct fake *f)
{
	if (f->fd == -1)
		return;
	if (f->ssl != NULL) {
		wolfSSL_free(f->ssl);
		f->ssl = NULL;
	}
	event_free(f->rev);
	f->rev = NULL;
	close(f->fd);
	f->fd = -1;
	f->closed = 1;
}

static void
fake_send(struct fake *f, const char *s)
{
	size_t	 len = strlen(s), off = 0;
	ssize_t	 n;

	while (off < len) {
		if (f->ssl != NULL)
			n = wolfSSL_write(f->ssl, s + off, (int)(len - off));
		else
			n = send(f->fd, s + off, len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			if (f->ssl == NULL && n == -1 && errno == EAGAIN) {
				usleep(1000);
				continue;
			}
			return;	/* the client went away: its test will say */
		}
		off += (size_t)n;
	}
}

static void
fake_start_tls(struct fake *f)
{
	f->ssl = wolfSSL_new(f->sctx);
	assert_non_null(f->ssl);
	if (f->no_ticket)
		assert_int_equal(wolfSSL_no_ticket_TLSv13(f->ssl), 0);
	assert_int_equal(wolfSSL_set_fd(f->ssl, f->fd), WOLFSSL_SUCCESS);
	f->handshaking = 1;
}

static int
fake_handshake(struct fake *f)
{
	int	 r, e;

	r = wolfSSL_accept(f->ssl);
	if (r == WOLFSSL_SUCCESS) {
		f->handshaking = 0;
		return 1;
	}
	e = wolfSSL_get_error(f->ssl, r);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	/* the client refused us (name, trust): it closes; so do we */
	fake_close(f);
	return -1;
}

/* fake_run - carry out steps until one needs input */
static void
fake_run(struct fake *f)
{
	const struct step	*s;
	char			*nl, *end;
	size_t			 ll, tl;

	while (f->fd != -1 && !f->handshaking) {
		s = &f->script[f->pc];
		switch (s->kind) {
		case ST_END:
		case ST_SILENT:
			return;
		case ST_SEND:
			fake_send(f, s->text);
			f->pc++;
			break;
		case ST_TLS:
			f->pc++;
			fake_start_tls(f);
			if (fake_handshake(f) != 0)
				continue;
			return;
		case ST_CLOSE:
			f->pc++;
			fake_close(f);
			return;
		case ST_CORK:
			f->pc++;
			(void)setsockopt(f->fd, IPPROTO_TCP, TCP_CORK,
			    &(int){ s->text[0] == '1' }, sizeof(int));
			break;
		case ST_TLS_CLOSE:
			f->pc++;
			assert_non_null(f->ssl);
			(void)wolfSSL_shutdown(f->ssl);
			fake_close(f);
			return;
		case ST_EXPECT:
			if (f->inlen == 0 ||
			    (nl = memmem(f->in, f->inlen, "\r\n", 2)) == NULL)
				return;
			ll = (size_t)(nl - f->in);
			tl = strlen(f->transcript);
			if (tl + ll + 2 < sizeof(f->transcript)) {
				memcpy(f->transcript + tl, f->in, ll);
				f->transcript[tl + ll] = '\n';
				f->transcript[tl + ll + 1] = '\0';
			}
			if (ll < strlen(s->text) ||
			    memcmp(f->in, s->text, strlen(s->text)) != 0) {
				(void)snprintf(f->mismatch, sizeof(f->mismatch),
				    "step %zu: expected '%s', got '%.*s'", f->pc,
				    s->text, (int)ll, f->in);
				fake_close(f);
				return;
			}
			fake_consume(f, ll + 2);
			f->pc++;
			break;
		case ST_BODY:
			/* the body starts right after DATA's CRLF */
			if (f->inlen >= 3 && memcmp(f->in, ".\r\n", 3) == 0) {
				fake_consume(f, 3);
				f->got_dot = 1;
				f->pc++;
				break;
			}
			if (f->inlen == 0 || (end = memmem(f->in, f->inlen,
			    "\r\n.\r\n", 5)) == NULL)
				return;
			ll = (size_t)(end - f->in) + 2;
			f->body = realloc(f->body, f->bodylen + ll + 1);
			assert_non_null(f->body);
			memcpy(f->body + f->bodylen, f->in, ll);
			f->bodylen += ll;
			fake_consume(f, ll + 3);
			f->got_dot = 1;
			f->pc++;
			break;
		}
	}
}

static void
fake_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct fake	*f = arg;
	char		 buf[16384];
	ssize_t		 n;
	int		 e;

	if (f->handshaking) {
		if (fake_handshake(f) == 1)
			fake_run(f);
		return;
	}
	for (;;) {
		if (f->ssl != NULL) {
			n = wolfSSL_read(f->ssl, buf, sizeof(buf));
			if (n <= 0) {
				e = wolfSSL_get_error(f->ssl, (int)n);
				if (e == WOLFSSL_ERROR_WANT_READ ||
				    e == WOLFSSL_ERROR_WANT_WRITE)
					break;
				f->peer_eof = 1;
				fake_close(f);
				return;
			}
		} else {
			n = recv(fd, buf, sizeof(buf), 0);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				break;
			if (n <= 0) {
				/* keep what arrived: a body may end here */
				f->peer_eof = 1;
				fake_run(f);
				fake_close(f);
				return;
			}
		}
		fake_append(f, buf, (size_t)n);
		/* a silent fake must not buffer an endless body */
		if (f->script[f->pc].kind == ST_SILENT && f->inlen > 65536)
			fake_consume(f, f->inlen);
	}
	fake_run(f);
}

static void
fake_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct fake	*f = arg;
	int		 fd;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	f->accepts++;
	/* one connection per test: refuse extra ones */
	if (f->fd != -1 || f->closed) {
		close(fd);
		return;
	}
	assert_int_equal(evutil_make_socket_nonblocking(fd), 0);
	f->fd = fd;
	f->rev = event_new(f->base, fd, EV_READ | EV_PERSIST, fake_on_read, f);
	assert_non_null(f->rev);
	event_add(f->rev, NULL);
	fake_run(f);
}

static void
fake_init(struct fake *f, struct event_base *base, const struct step *script)
{
	struct sockaddr_in	 sin;
	socklen_t		 sl = sizeof(sin);
	int			 one = 1;
	char			 cert[PATH_MAX + 16], key[PATH_MAX + 16];

	memset(f, 0, sizeof(*f));
	f->base = base;
	f->fd = -1;
	f->script = script;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	(void)setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(f->lfd, 8), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sin, &sl), 0);
	f->port = ntohs(sin.sin_port);
	assert_int_equal(evutil_make_socket_nonblocking(f->lfd), 0);
	f->lev = event_new(base, f->lfd, EV_READ | EV_PERSIST, fake_on_accept, f);
	assert_non_null(f->lev);
	event_add(f->lev, NULL);

	if (pki_ok) {
		f->sctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
		assert_non_null(f->sctx);
		pki_path(cert, sizeof(cert), "srv.pem");
		pki_path(key, sizeof(key), "srv.key");
		assert_int_equal(wolfSSL_CTX_use_certificate_chain_file(f->sctx,
		    cert), WOLFSSL_SUCCESS);
		assert_int_equal(wolfSSL_CTX_use_PrivateKey_file(f->sctx, key,
		    WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
	}
}

static void
fake_tls12_only(struct fake *f)
{
	char	 cert[PATH_MAX + 16], key[PATH_MAX + 16];

	wolfSSL_CTX_free(f->sctx);
	f->sctx = wolfSSL_CTX_new(wolfTLSv1_2_server_method());
	assert_non_null(f->sctx);
	pki_path(cert, sizeof(cert), "srv.pem");
	pki_path(key, sizeof(key), "srv.key");
	assert_int_equal(wolfSSL_CTX_use_certificate_chain_file(f->sctx, cert),
	    WOLFSSL_SUCCESS);
	assert_int_equal(wolfSSL_CTX_use_PrivateKey_file(f->sctx, key,
	    WOLFSSL_FILETYPE_PEM), WOLFSSL_SUCCESS);
}

static void
fake_done(struct fake *f)
{
	fake_close(f);
	event_free(f->lev);
	close(f->lfd);
	if (f->sctx != NULL)
		wolfSSL_CTX_free(f->sctx);
	free(f->in);
	free(f->body);
}

/* ------------------------------------------------------------------ */
/* the owner */

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

static struct holder	*cur_holder;	/* the running scenario's */
static struct owner	 cur_owner2;	/* H_BOUNCE's short owner */
static void	holder_dead(void *, struct smtp_client *, enum gw_fail,
		    const char *);
static void	owner_batch(struct owner *);
static const struct smtp_client_idle_cb holder_cb = { holder_dead };
static const struct smtp_client_cb owner_cb;

static ssize_t
body_fn(void *arg, char *buf, size_t len)
{
	struct body	*b = arg;
	size_t		 n;

	b->calls++;
	if (len > b->maxcall)
		b->maxcall = len;
	if (b->fail_at_call != 0 && b->calls == b->fail_at_call)
		return -1;
	n = b->len - b->off;
	if (n > len)
		n = len;
	if (b->chunk != 0 && n > b->chunk)
		n = b->chunk;
	memcpy(buf, b->data + b->off, n);
	b->off += n;
	return (ssize_t)n;
}

static void
owner_next(struct owner *o)
{
	const struct op	*op = &o->ops[o->opi];

	if (op->kind == OP_NONE)
		return;
	o->opi++;
	switch (op->kind) {
	case OP_MAIL:
		smtp_client_mail(o->c, op->arg);
		break;
	case OP_RCPT:
		smtp_client_rcpt(o->c, op->arg);
		break;
	case OP_DATA:
		smtp_client_data(o->c, body_fn, o->body);
		break;
	case OP_RSET:
		smtp_client_rset(o->c);
		break;
	case OP_QUIT:
		(void)str_copy(o->tls, smtp_client_tls(o->c), sizeof(o->tls));
		o->ext = *smtp_client_ext(o->c);
		o->ext_seen = 1;
		o->messages = smtp_client_messages(o->c);
		o->finished = 1;
		smtp_client_quit(o->c);
		break;
	case OP_FREE:
		o->finished = 1;
		smtp_client_free(o->c);
		break;
	case OP_DETACH:
		o->finished = 1;	/* a callback to us after this is wrong */
		assert_non_null(cur_holder);
		assert_int_equal(smtp_client_detach(o->c, &holder_cb,
		    cur_holder), 0);
		cur_holder->c = o->c;
		if (cur_holder->action == H_BOUNCE) {
			/* owner2 gives it back before its ready() */
			assert_int_equal(smtp_client_attach(o->c, &owner_cb,
			    &cur_owner2), 0);
			assert_int_equal(smtp_client_detach(o->c, &holder_cb,
			    cur_holder), 0);
			cur_holder->action = H_QUIT;
		}
		if (cur_holder->action == H_QUIT_NOW) {
			cur_holder->acted = 1;
			cur_holder->c = NULL;
			smtp_client_quit(o->c);
		}
		break;
	case OP_BATCH:
		owner_batch(o);
		break;
	case OP_BATCH_END:
		owner_next(o);	/* a batch run one by one ends here */
		break;
	case OP_NONE:
		break;
	}
}

/*
 * owner_batch - MAIL, RCPT, DATA given at once while the upstream allows
 * it; without PIPELINING the rest goes one per reply, as in lockstep.
 */
static void
owner_batch(struct owner *o)
{
	const struct op	*op;
	int		 first = 1;

	for (op = &o->ops[o->opi]; op->kind != OP_BATCH_END; op = &o->ops[o->opi]) {
		if (!first && !smtp_client_can_pipeline(o->c))
			return;
		o->opi++;
		if (op->kind == OP_MAIL)
			smtp_client_mail(o->c, op->arg);
		else if (op->kind == OP_RCPT)
			smtp_client_rcpt(o->c, op->arg);
		else if (op->kind == OP_DATA)
			smtp_client_data(o->c, body_fn, o->body);
		else
			fail_msg("op %d in a batch", (int)op->kind);
		if (first)
			o->canpipe = smtp_client_can_pipeline(o->c);
		else
			o->owed++;
		first = 0;
	}
	o->opi++;	/* OP_BATCH_END */
}

static void
owner_ready(void *arg)
{
	struct owner	*o = arg;

	if (o->finished)
		o->after_end++;
	o->ready++;
	(void)str_copy(o->tls, smtp_client_tls(o->c), sizeof(o->tls));
	o->resumed = smtp_client_tls_resumed(o->c);
	o->auth_code = smtp_client_auth_reply(o->c) != NULL ?
	    smtp_client_auth_reply(o->c)->code : 0;
	(void)str_copy(o->auth_mech, smtp_client_auth_mech(o->c),
	    sizeof(o->auth_mech));
	owner_next(o);
}

static void
owner_reply(void *arg, const struct smtp_reply *r)
{
	struct owner	*o = arg;

	if (o->finished)
		o->after_end++;
	if (o->nreplies < 16) {
		o->replies[o->nreplies] = r->code;
		(void)snprintf(o->reply_text[o->nreplies], 128, "%.100s",
		    r->text);
		o->tx[o->nreplies] = smtp_client_tx_state(o->c);
		o->nreplies++;
	}
	/* a reply to a command sent in a batch: nothing new to give */
	if (o->owed > 0) {
		o->owed--;
		return;
	}
	owner_next(o);
	/* the reply must stay readable after issuing the next command */
	assert_int_equal(o->replies[o->nreplies - 1], r->code);
}

static void
owner_failed(void *arg, enum gw_fail cls, const char *why)
{
	struct owner	*o = arg;

	if (o->finished)
		o->after_end++;
	o->failed++;
	o->fail_class = cls;
	o->fail_tx = smtp_client_tx_state(o->c);
	(void)str_copy(o->fail_text, why, sizeof(o->fail_text));
	o->finished = 1;
	/* the contract: failed() is last, and the owner frees the client */
	smtp_client_free(o->c);
}

static const struct smtp_client_cb owner_cb = {
	owner_ready, owner_reply, owner_failed
};

/* dead() is the last callback: the holder frees the client */
static void
holder_dead(void *arg, struct smtp_client *c, enum gw_fail cls,
    const char *why)
{
	struct holder	*h = arg;

	assert_ptr_equal(c, h->c);
	h->dead++;
	h->dead_class = cls;
	(void)str_copy(h->dead_text, why, sizeof(h->dead_text));
	h->c = NULL;
	smtp_client_free(c);
}

/* ------------------------------------------------------------------ */
/* running one scenario */

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

/* the holder acts once the detached client is idle (RSET answered) */
static void
sc_holder_act(struct scenario *sc)
{
	struct holder	*h = &sc->holder;
	struct smtp_client *c = h->c;

	if (c == NULL || h->acted || h->action == H_WAIT ||
	    !smtp_client_idle(c))
		return;
	h->acted = 1;
	h->c = NULL;
	if (h->action == H_QUIT) {
		smtp_client_quit(c);
		return;
	}
	/* the upstream hung up, and the loop has not seen it yet */
	if (h->action == H_DROP_ATTACH)
		fake_close(&sc->fake);
	sc->owner2.c = c;
	h->attach_rc = smtp_client_attach(c, &owner_cb, &sc->owner2);
	if (h->attach_rc == -1)
		smtp_client_free(c);
}

/* the client is gone for good (after a QUIT it may outlive the owner) */
static void
sc_release(void *arg)
{
	struct scenario	*sc = arg;

	sc->released++;
}

static void
sc_trace(void *arg, int out, const char *line, size_t len)
{
	struct scenario	*sc = arg;
	size_t		 tl = strlen(sc->trace);

	if (out && tl + len + 2 < sizeof(sc->trace)) {
		memcpy(sc->trace + tl, line, len);
		sc->trace[tl + len] = '\n';
		sc->trace[tl + len + 1] = '\0';
	}
}

static void
sc_tick(evutil_socket_t fd, short what, void *arg)
{
	struct scenario	*sc = arg;

	sc->ticks++;
	sc_holder_act(sc);
	/* done: the owner let go, the fake's connection is over, and the
	 * client freed itself */
	if (sc->owner.finished && sc->fake.fd == -1 && sc->released)
		event_base_loopbreak(sc->base);
	else if (sc->ticks > 1500) {	/* 15 s */
		sc->timed_out = 1;
		event_base_loopbreak(sc->base);
	}
}

static void
sc_init(struct scenario *sc, const struct step *script, enum tls_mode mode)
{
	memset(sc, 0, sizeof(*sc));
	sc->base = event_base_new();
	assert_non_null(sc->base);
	sc->dns = evdns_base_new(sc->base, 0);
	assert_non_null(sc->dns);
	fake_init(&sc->fake, sc->base, script);
	(void)str_copy(sc->up.name, "test", sizeof(sc->up.name));
	(void)str_copy(sc->up.host, "127.0.0.1", sizeof(sc->up.host));
	sc->up.port = sc->fake.port;
	sc->up.tls = mode;
	(void)str_copy(sc->up.tlsset.ca_file, "system", sizeof(sc->up.tlsset.ca_file));
	if (pki_ok)
		pki_path(sc->up.tlsset.ca_file, sizeof(sc->up.tlsset.ca_file), "ca.pem");
	sc->up.tlsset.verify_hostname = 1;
	(void)str_copy(sc->up.tlsset.tls_name, "mail.test", sizeof(sc->up.tlsset.tls_name));
	sc->up.tlsset.tls_min_version = CONF_TLS_V12;
	(void)str_copy(sc->up.helo_name, "gw.test", sizeof(sc->up.helo_name));
	sc->up.connect_timeout = 5;
	sc->up.command_timeout = 5;
}

static void
sc_run(struct scenario *sc, const struct op *ops, struct body *body)
{
	struct smtp_client_params	 p;
	struct timeval			 tv = { 0, 10000 };
	char				 err[256] = "";

	if (sc->up.tls != TLS_NONE && sc->tls == NULL) {
		sc->tls = tls_upstream_ctx_new(&sc->up, err, sizeof(err));
		if (sc->tls == NULL)
			fail_msg("tls_client_ctx_new: %s", err);
	}
	memset(&p, 0, sizeof(p));
	p.base = sc->base;
	p.dns = sc->dns;
	p.up = &sc->up;
	p.tls = sc->tls;
	p.helo_name = NULL;	/* from the upstream section */
	p.id = 0x1234;
	p.auth = sc->auth;
	p.trace = sc_trace;
	p.trace_arg = sc;
	p.release = sc_release;
	p.release_arg = sc;
	sc->owner.ops = ops;
	sc->owner.body = body;
	cur_holder = &sc->holder;
	sc->owner.c = smtp_client_new(&p, &owner_cb, &sc->owner);
	assert_non_null(sc->owner.c);
	sc->tick = event_new(sc->base, -1, EV_PERSIST, sc_tick, sc);
	event_add(sc->tick, &tv);
	event_base_dispatch(sc->base);
	assert_false(sc->timed_out);
	assert_int_equal(sc->owner.after_end, 0);
	assert_int_equal(sc->owner2.after_end, 0);
	assert_int_equal(sc->released, 1);
	cur_holder = NULL;
}

static void
sc_done(struct scenario *sc)
{
	int	 i;

	/* let deferred callbacks (a cancelled lookup) run before freeing */
	for (i = 0; i < 3; i++)
		(void)event_base_loop(sc->base, EVLOOP_NONBLOCK);
	fake_done(&sc->fake);
	if (sc->tick != NULL)
		event_free(sc->tick);
	if (sc->tls != NULL)
		tls_client_ctx_free(sc->tls);
	evdns_base_free(sc->dns, 0);
	event_base_free(sc->base);
}

#define NEED_PKI()	do { if (!pki_ok) skip(); } while (0)

/* ------------------------------------------------------------------ */
/* scripts */

#define BANNER		{ ST_SEND, "220 mx.test ESMTP fake\r\n" }
#define EXP(s)		{ ST_EXPECT, s }
#define SEND(s)		{ ST_SEND, s }
#define END		{ ST_END, NULL }

static const struct op ops_one_message[] = {
	{ OP_MAIL, "<a@example.org> SIZE=20" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static const struct op ops_quit[] = {
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static const struct op ops_mail_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_NONE, NULL }
};

static const struct op ops_mail_rcpt_data_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_plain[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250-PIPELINING\r\n250-SIZE 10000\r\n"
	    "250 8BITMIME\r\n"),
	EXP("MAIL FROM:<a@example.org> SIZE=20"),
	SEND("250 2.1.0 ok\r\n"),
	EXP("RCPT TO:<b@example.net>"),
	SEND("250 2.1.5 ok\r\n"),
	EXP("DATA"),
	SEND("354 go ahead\r\n"),
	{ ST_BODY, NULL },
	SEND("250 2.0.0 queued as 42\r\n"),
	EXP("QUIT"),
	SEND("221 2.0.0 bye\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static void
test_plain_transaction(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: hi\r\n\r\n.leading dot\r\n"
	    "..two\r\nend\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_plain, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[2], 250);
	assert_string_equal(sc.owner.reply_text[2], "queued as 42");
	assert_string_equal(sc.owner.tls, "none");
	assert_true(sc.owner.ext.flags & SMTP_EXT_SIZE);
	assert_true(sc.owner.ext.flags & SMTP_EXT_PIPELINING);
	assert_int_equal(sc.owner.ext.size, 10000);
	/* dot-stuffed on the wire, terminator after the final CRLF */
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, strlen("Subject: hi\r\n\r\n"
	    "..leading dot\r\n...two\r\nend\r\n"));
	assert_memory_equal(sc.fake.body, "Subject: hi\r\n\r\n..leading dot\r\n"
	    "...two\r\nend\r\n", sc.fake.bodylen);
	assert_int_equal(sc.fake.pc, 14);	/* QUIT seen, closed */
	sc_done(&sc);
}


/* RFC 2920: MAIL, RCPT, RCPT, DATA in one batch; replies in order */
static const struct step script_pipelined[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250 PIPELINING\r\n"),
	/* no reply before all four lines are in: lockstep would stall */
	EXP("MAIL FROM:<a@example.org>"),
	EXP("RCPT TO:<b@example.net>"),
	EXP("RCPT TO:<x@example.net>"),
	EXP("DATA"),
	SEND("250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no x\r\n"
	    "354 go ahead\r\n"),
	{ ST_BODY, NULL },
	SEND("250 2.0.0 queued as 43\r\n"),
	EXP("QUIT"),
	SEND("221 2.0.0 bye\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static const struct op ops_pipelined[] = {
	{ OP_BATCH, NULL },
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_RCPT, "<x@example.net>" },
	{ OP_DATA, NULL },
	{ OP_BATCH_END, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static void
test_pipelined_batch(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: batch\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_pipelined, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.canpipe, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 4);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[2], 550);
	assert_string_equal(sc.owner.reply_text[2], "no x");
	assert_int_equal(sc.owner.replies[3], 250);
	assert_string_equal(sc.owner.reply_text[3], "queued as 43");
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.tx[3], SMTP_TX_DOT);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, strlen(msg));
	sc_done(&sc);
}

/* no PIPELINING offered: the same ops run one command per reply */
static const struct step script_no_pipelining[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250 mx.test hello\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<x@example.net>"), SEND("550 no x\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 queued\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_pipelining_not_offered(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_pipelining, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.canpipe, 0);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 4);
	assert_int_equal(sc.owner.replies[2], 550);
	assert_int_equal(sc.owner.replies[3], 250);
	sc_done(&sc);
}

/* a 421 in the middle of the replies to a batch: one failed(), no more */
static const struct step script_pipelined_421[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test hello\r\n250 PIPELINING\r\n"),
	EXP("MAIL FROM:<a@example.org>"),
	EXP("RCPT TO:<b@example.net>"),
	EXP("RCPT TO:<x@example.net>"),
	EXP("DATA"),
	SEND("250 2.1.0 ok\r\n421 4.3.2 going down\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_pipelined_421(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_pipelined_421, TLS_NONE);
	sc_run(&sc, ops_pipelined, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.replies[0], 250);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_REJECTED);
	assert_int_equal(b.calls, 0);	/* no body */
	sc_done(&sc);
}

static const struct step script_no_final_crlf[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_body_without_final_crlf(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "line\r\n.";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_final_crlf, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	/* "." stuffed to "..", then CRLF . CRLF added */
	assert_int_equal(sc.fake.bodylen, strlen("line\r\n..\r\n"));
	assert_memory_equal(sc.fake.body, "line\r\n..\r\n", sc.fake.bodylen);
	sc_done(&sc);
}

static void
test_empty_body(void **state)
{
	struct scenario	 sc;
	struct body	 b = { "", 0, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_no_final_crlf, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.fake.bodylen, 0);
	sc_done(&sc);
}

static const struct step script_helo[] = {
	BANNER,
	EXP("EHLO gw.test"), SEND("502 5.5.1 no EHLO here\r\n"),
	EXP("HELO gw.test"), SEND("250 mx.test\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_helo_fallback(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_helo, TLS_NONE);
	sc_run(&sc, ops_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ext.flags, 0);
	assert_string_equal(sc.fake.transcript, "EHLO gw.test\nHELO gw.test\nQUIT\n");
	sc_done(&sc);
}

/* scenarios that must end in failed(class) before ready() */
struct fail_case {
	const char	*name;
	struct step	 script[8];
	enum tls_mode	 mode;
	enum gw_fail	 want;
	const char	*text;		/* substring of the failure text */
};

static const struct fail_case fail_cases[] = {
	{ "banner 554", { SEND("554 5.7.1 go away\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "554 5.7.1 go away" },
	{ "banner 421", { SEND("421 4.3.2 busy\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "421" },
	{ "short line 25", { SEND("25\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "short" },
	{ "code 600", { SEND("600 what\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "code" },
	{ "code 2x0", { SEND("2x0 what\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "code" },
	{ "bad separator", { SEND("220_hi\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "separator" },
	{ "bare LF", { SEND("220 hi\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "bare" },
	{ "control char", { SEND("220 hi\x01there\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "Control" },
	{ "code changes", { SEND("220-hi\r\n250 there\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_PROTOCOL, "changed" },
	{ "data after banner", { SEND("220 hi\r\n250 extra\r\n"),
	    { ST_SILENT, NULL } }, TLS_NONE, FAIL_PROTOCOL, "after its reply" },
	{ "close before banner", { { ST_CLOSE, NULL } },
	    TLS_NONE, FAIL_CLOSED, "closed" },
	{ "EHLO 4xx", { BANNER, EXP("EHLO"), SEND("451 4.3.0 later\r\n"),
	    { ST_SILENT, NULL } }, TLS_NONE, FAIL_REJECTED, "451" },
	{ "HELO refused", { BANNER, EXP("EHLO"), SEND("500 no\r\n"),
	    EXP("HELO"), SEND("550 no either\r\n"), { ST_SILENT, NULL } },
	    TLS_NONE, FAIL_REJECTED, "550" },
	{ "STARTTLS not offered", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 PIPELINING\r\n"), { ST_SILENT, NULL } },
	    TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "not offered" },
	{ "HELO only, TLS required", { BANNER, EXP("EHLO"),
	    SEND("502 no\r\n"), EXP("HELO"), SEND("250 ok\r\n"),
	    { ST_SILENT, NULL } }, TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "HELO" },
	{ "STARTTLS refused", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 STARTTLS\r\n"), EXP("STARTTLS"),
	    SEND("454 4.7.0 TLS not available\r\n"), { ST_SILENT, NULL } },
	    TLS_STARTTLS, FAIL_STARTTLS_UNAVAILABLE, "refused" },
	{ "STARTTLS injection", { BANNER, EXP("EHLO"),
	    SEND("250-mx.test\r\n250 STARTTLS\r\n"), EXP("STARTTLS"),
	    SEND("220 2.0.0 go ahead\r\n250 INJECTED-PLAINTEXT\r\n"),
	    { ST_SILENT, NULL } }, TLS_STARTTLS, FAIL_PROTOCOL,
	    "after its reply" },
};

static void
run_fail_case(const struct fail_case *fc)
{
	struct scenario	 sc;

	sc_init(&sc, fc->script, fc->mode);
	sc_run(&sc, ops_mail_wait, NULL);
	if (sc.owner.failed != 1 || sc.owner.fail_class != fc->want ||
	    strstr(sc.owner.fail_text, fc->text) == NULL)
		fail_msg("%s: failed=%d class=%s text='%s'; want %s '%s'",
		    fc->name, sc.owner.failed, fail_name(sc.owner.fail_class),
		    sc.owner.fail_text, fail_name(fc->want), fc->text);
	assert_int_equal(sc.owner.ready, 0);
	assert_int_equal(sc.owner.nreplies, 0);
	/* nothing of a transaction ever went out */
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	sc_done(&sc);
}

static void
test_failures_before_ready(void **state)
{
	size_t	 i;

	for (i = 0; i < sizeof(fail_cases) / sizeof(fail_cases[0]); i++) {
		if (fail_cases[i].mode != TLS_NONE && !pki_ok)
			continue;
		run_fail_case(&fail_cases[i]);
	}
}

static void
test_overlong_replies(void **state)
{
	struct step	 script[3];
	char		*many, *longline;
	size_t		 i, off = 0;
	struct scenario	 sc;

	/* 70 continuation lines: over SMTP_REPLY_LINES_MAX */
	many = malloc(70 * 16 + 32);
	assert_non_null(many);
	for (i = 0; i < 70; i++)
		off += (size_t)sprintf(many + off, "220-line %zu\r\n", i);
	(void)sprintf(many + off, "220 end\r\n");
	script[0].kind = ST_SEND;
	script[0].text = many;
	script[1].kind = ST_SILENT;
	script[1].text = NULL;
	script[2].kind = ST_END;
	sc_init(&sc, script, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_PROTOCOL);
	sc_done(&sc);
	free(many);

	/* one line of 1500 octets: over SMTP_REPLY_LINE_MAX */
	longline = malloc(1600);
	assert_non_null(longline);
	memcpy(longline, "220 ", 4);
	memset(longline + 4, 'x', 1500);
	memcpy(longline + 1504, "\r\n", 3);
	script[0].text = longline;
	sc_init(&sc, script, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_PROTOCOL);
	assert_non_null(strstr(sc.owner.fail_text, "too long"));
	sc_done(&sc);
	free(longline);
}

static const struct step script_optional_no_tls[] = {
	BANNER,
	EXP("EHLO"), SEND("250-mx.test\r\n250 SIZE 100\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static const struct op ops_mail_quit[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static void
test_starttls_optional_not_offered(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_optional_no_tls, TLS_STARTTLS_OPTIONAL);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_string_equal(sc.owner.tls, "none");
	sc_done(&sc);
}

static const struct step script_optional_refused[] = {
	BANNER,
	EXP("EHLO"), SEND("250-mx.test\r\n250 STARTTLS\r\n"),
	EXP("STARTTLS"), SEND("454 4.7.0 not now\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_starttls_optional_refused(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_optional_refused, TLS_STARTTLS_OPTIONAL);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_string_equal(sc.owner.tls, "none");
	sc_done(&sc);
}

static const struct step script_silent_banner[] = {
	{ ST_SILENT, NULL },
	END
};

static void
test_timeout_banner(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_silent_banner, TLS_NONE);
	sc.up.connect_timeout = 1;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "BANNER"));
	sc_done(&sc);
}

static const struct step script_silent_mail[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), { ST_SILENT, NULL },
	END
};

static void
test_timeout_reply(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_silent_mail, TLS_NONE);
	sc.up.command_timeout = 1;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "MAIL"));
	assert_int_equal(sc.owner.nreplies, 0);
	sc_done(&sc);
}

static const struct step script_silent_dot[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	{ ST_SILENT, NULL },
	END
};

static void
test_timeout_after_dot(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_silent_dot, TLS_NONE);
	sc.up.command_timeout = 1;
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "delivered twice"));
	assert_int_equal(sc.owner.nreplies, 2);
	sc_done(&sc);
}

static const struct step script_close_after_dot[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	{ ST_CLOSE, NULL },
	END
};

static void
test_close_after_dot(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_close_after_dot, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_true(sc.fake.got_dot);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CLOSED);
	assert_string_equal(sc.owner.fail_text, "connection lost after end of "
	    "data; message may be delivered twice");
	sc_done(&sc);
}

static const struct step script_body_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 ok\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_body_source_error(void **state)
{
	struct scenario	 sc;
	char		*msg;
	struct body	 b;
	size_t		 i;

	/* 40 KiB, failing on the third call: some data is out, no dot */
	msg = malloc(40960);
	assert_non_null(msg);
	for (i = 0; i < 40960; i++)
		msg[i] = (i % 64) == 62 ? '\r' : (i % 64) == 63 ? '\n' : 'a';
	memset(&b, 0, sizeof(b));
	b.data = msg;
	b.len = 40960;
	b.fail_at_call = 3;
	sc_init(&sc, script_body_silent, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_INTERNAL);
	assert_int_equal(b.calls, 3);
	assert_false(sc.fake.got_dot);
	assert_int_equal(sc.owner.nreplies, 2);
	sc_done(&sc);
	free(msg);
}

static void
test_large_body_backpressure(void **state)
{
	struct scenario	 sc;
	const size_t	 len = 4000000;	/* whole 100-octet lines */
	char		*msg, *want;
	struct body	 b;
	size_t		 i, w = 0;

	msg = malloc(len);
	want = malloc(len * 2);
	assert_non_null(msg);
	assert_non_null(want);
	/* 100-octet lines, every 7th starting with a dot */
	for (i = 0; i < len; i++) {
		size_t	 col = i % 100, line = i / 100;

		if (col == 98)
			msg[i] = '\r';
		else if (col == 99)
			msg[i] = '\n';
		else if (col == 0 && line % 7 == 0)
			msg[i] = '.';
		else
			msg[i] = (char)('a' + (line % 26));
		if (col == 0 && msg[i] == '.')
			want[w++] = '.';
		want[w++] = msg[i];
	}
	memset(&b, 0, sizeof(b));
	b.data = msg;
	b.len = len;
	sc_init(&sc, script_plain, TLS_NONE);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.fake.bodylen, w);
	assert_memory_equal(sc.fake.body, want, w);
	/* streamed in bounded chunks, never the whole message at once */
	assert_true(b.maxcall <= 65536);
	assert_true((size_t)b.calls >= len / b.maxcall);
	sc_done(&sc);
	free(msg);
	free(want);
}

static const struct step script_421_mail[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("421 4.3.2 shutting down\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static void
test_421_in_transaction(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_421_mail, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 0);	/* failed(), not reply() */
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_REJECTED);
	assert_non_null(strstr(sc.owner.fail_text, "421 4.3.2 shutting down"));
	sc_done(&sc);
}

static const struct step script_close_idle[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static void
test_close_while_idle(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_close_idle, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CLOSED);
	sc_done(&sc);
}

static const struct step script_two_tx[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("RSET"), SEND("250 flushed\r\n"),
	EXP("MAIL FROM:<>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<nobody@example.net>"),
	SEND("550-5.1.1 no such user\r\n550 5.1.1 really\r\n"),
	EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static const struct op ops_two_tx[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RSET, NULL },
	{ OP_MAIL, "<>" },
	{ OP_RCPT, "<nobody@example.net>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

static void
test_rset_and_rejected_rcpt(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_two_tx, TLS_NONE);
	sc_run(&sc, ops_two_tx, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 5);
	assert_int_equal(sc.owner.replies[1], 250);
	assert_int_equal(sc.owner.replies[3], 550);
	assert_string_equal(sc.owner.reply_text[3], "no such user\nreally");
	assert_int_equal(sc.owner.replies[4], 250);
	sc_done(&sc);
}

/*
 * issue 10: only 354 answers DATA, and no 3xx answers MAIL, RCPT, RSET or
 * the final dot.  Each is failed(FAIL_PROTOCOL), never a reply(): a 250
 * to DATA passed on would be a 250 for a message never sent.
 */
static const struct op ops_mail_rset_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RSET, NULL },
	{ OP_NONE, NULL }
};

static const struct op ops_mail_rcpt_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_NONE, NULL }
};

#define TX_UP_TO_DATA	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"), \
			EXP("MAIL"), SEND("250 ok\r\n"), \
			EXP("RCPT"), SEND("250 ok\r\n"), EXP("DATA")

static const struct {
	const char	*name;
	struct step	 script[16];
	const struct op	*ops;
	int		 nreplies;	/* replies before the wrong one */
	const char	*text;
} wrong_reply_cases[] = {
	{ "250 to DATA", { TX_UP_TO_DATA, SEND("250 2.0.0 ok\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 250 2.0.0 ok instead of 354" },
	{ "220 to DATA", { TX_UP_TO_DATA, SEND("220 hi\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 220 hi instead of 354" },
	{ "334 to DATA", { TX_UP_TO_DATA, SEND("334 go on\r\n"),
	    { ST_SILENT, NULL } }, ops_mail_rcpt_data_wait, 2,
	    "DATA answered with 334 go on instead of 354" },
	{ "354 to the final dot", { TX_UP_TO_DATA, SEND("354 go\r\n"),
	    { ST_BODY, NULL }, SEND("354 more\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rcpt_data_wait, 2, "final dot answered with 354 more" },
	{ "354 to MAIL", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("354 sender ok\r\n"), { ST_SILENT, NULL } },
	    ops_mail_wait, 0, "MAIL answered with 354 sender ok" },
	{ "354 to RCPT", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("250 ok\r\n"), EXP("RCPT"),
	    SEND("354 rcpt ok\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rcpt_wait, 1, "RCPT answered with 354 rcpt ok" },
	{ "354 to RSET", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    EXP("MAIL"), SEND("250 ok\r\n"), EXP("RSET"),
	    SEND("354 reset\r\n"), { ST_SILENT, NULL } },
	    ops_mail_rset_wait, 1, "RSET answered with 354 reset" },
};

static void
test_wrong_reply_kind(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: x\r\n\r\nbody\r\n";
	struct body	 b;
	size_t		 i;
	int		 j;

	for (i = 0; i < sizeof(wrong_reply_cases) /
	    sizeof(wrong_reply_cases[0]); i++) {
		memset(&b, 0, sizeof(b));
		b.data = msg;
		b.len = sizeof(msg) - 1;
		sc_init(&sc, wrong_reply_cases[i].script, TLS_NONE);
		sc_run(&sc, wrong_reply_cases[i].ops, &b);
		if (sc.owner.failed != 1 || sc.owner.fail_class != FAIL_PROTOCOL ||
		    strstr(sc.owner.fail_text, wrong_reply_cases[i].text) == NULL)
			fail_msg("%s: failed=%d class=%s text='%s'; want '%s'",
			    wrong_reply_cases[i].name, sc.owner.failed,
			    fail_name(sc.owner.fail_class), sc.owner.fail_text,
			    wrong_reply_cases[i].text);
		assert_string_equal(sc.fake.mismatch, "");
		/* the replies before it were 250s; the wrong one never came */
		assert_int_equal(sc.owner.nreplies,
		    wrong_reply_cases[i].nreplies);
		for (j = 0; j < sc.owner.nreplies; j++)
			assert_int_equal(sc.owner.replies[j], 250);
		/* and the connection is gone */
		assert_true(sc.fake.peer_eof);
		sc_done(&sc);
	}
}

static const struct op ops_inject[] = {
	{ OP_MAIL, "<a@example.org>\r\nRCPT TO:<evil@example.net>" },
	{ OP_NONE, NULL }
};

static const struct step script_ready_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_crlf_in_arguments(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	sc_run(&sc, ops_inject, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_INTERNAL);
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	assert_null(strstr(sc.fake.transcript, "evil"));
	sc_done(&sc);
}

static const struct op ops_free_in_reply[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_FREE, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_mail_then_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	{ ST_SILENT, NULL },
	END
};

static void
test_free_inside_reply(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_mail_then_silent, TLS_NONE);
	sc_run(&sc, ops_free_in_reply, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.failed, 0);
	/* the fake saw the connection go away without QUIT */
	assert_true(sc.fake.peer_eof);
	assert_null(strstr(sc.fake.transcript, "QUIT"));
	sc_done(&sc);
}

static const struct step script_quit_at_ready[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"),
	{ ST_SILENT, NULL },	/* the client must close by itself */
	END
};

static void
test_quit_inside_ready(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_quit_at_ready, TLS_NONE);
	sc_run(&sc, ops_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_true(sc.fake.peer_eof);
	sc_done(&sc);
}

static const struct op ops_free_at_once[] = {
	{ OP_FREE, NULL },
	{ OP_NONE, NULL }
};

static void
test_free_while_resolving(void **state)
{
	struct scenario			 sc;
	struct smtp_client_params	 p;

	/* freed before the loop ever runs: the resolver must be cancelled */
	sc_init(&sc, script_ready_silent, TLS_NONE);
	memset(&p, 0, sizeof(p));
	p.base = sc.base;
	p.dns = sc.dns;
	p.up = &sc.up;
	sc.owner.ops = ops_free_at_once;
	sc.owner.c = smtp_client_new(&p, &owner_cb, &sc.owner);
	assert_non_null(sc.owner.c);
	smtp_client_free(sc.owner.c);
	(void)event_base_loop(sc.base, EVLOOP_NONBLOCK);
	assert_int_equal(sc.owner.ready, 0);
	assert_int_equal(sc.owner.failed, 0);
	sc_done(&sc);
}

static void
test_connect_refused(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	/* nothing listens on the port once the fake's listener is closed */
	event_del(sc.fake.lev);
	close(sc.fake.lfd);
	sc.fake.lfd = socket(AF_INET, SOCK_STREAM, 0);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CONNECT);
	assert_non_null(strstr(sc.owner.fail_text, "refused"));
	sc_done(&sc);
}

static void
test_dns_failure(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_ready_silent, TLS_NONE);
	(void)str_copy(sc.up.host, "no-such-host.invalid", sizeof(sc.up.host));
	sc.up.connect_timeout = 2;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_DNS);
	sc_done(&sc);
}

/* ------------------------------------------------------------------ */
/* real TLS */

static const struct step script_starttls[] = {
	BANNER,
	EXP("EHLO gw.test"),
	SEND("250-mx.test\r\n250-SIZE 1000\r\n250-AUTH PLAIN\r\n250 STARTTLS\r\n"),
	EXP("STARTTLS"), SEND("220 2.0.0 go ahead\r\n"),
	{ ST_TLS, NULL },
	EXP("EHLO gw.test"), SEND("250-mx.test\r\n250 PIPELINING\r\n"),
	EXP("MAIL FROM:<a@example.org> SIZE=20"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	SEND("250 2.0.0 queued\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_starttls_transaction(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: tls\r\n\r\nover TLS\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	NEED_PKI();
	sc_init(&sc, script_starttls, TLS_STARTTLS);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(strncmp(sc.owner.tls, "TLSv1.3 TLS13-", 14), 0);
	/* nothing learned before TLS survives: SIZE and AUTH are gone */
	assert_true(sc.owner.ext_seen);
	assert_int_equal(sc.owner.ext.flags, SMTP_EXT_PIPELINING);
	assert_int_equal(sc.owner.ext.size, 0);
	assert_string_equal(sc.owner.ext.auth, "");
	assert_string_equal(sc.fake.transcript, "EHLO gw.test\nSTARTTLS\n"
	    "EHLO gw.test\nMAIL FROM:<a@example.org> SIZE=20\n"
	    "RCPT TO:<b@example.net>\nDATA\nQUIT\n");
	assert_int_equal(sc.fake.bodylen, sizeof(msg) - 1);
	sc_done(&sc);
}

static const struct step script_implicit[] = {
	{ ST_TLS, NULL },
	BANNER,
	EXP("EHLO gw.test"), SEND("250-mx.test\r\n250 STARTTLS\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_implicit_tls(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(strncmp(sc.owner.tls, "TLSv1.3 ", 8), 0);
	/* with TLS already up, an offered STARTTLS is not used again */
	assert_null(strstr(sc.fake.transcript, "STARTTLS"));
	sc_done(&sc);
}

static void
test_implicit_tls12(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	fake_tls12_only(&sc.fake);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(strncmp(sc.owner.tls, "TLSv1.2 ECDHE-", 14), 0);
	sc_done(&sc);
}

/*
 * sc_again - the same scenario (and TLS context) for one more connection
 * to the fake, with a fresh script run and owner.
 */
static void
sc_again(struct scenario *sc, const struct op *ops)
{
	int	 i;

	for (i = 0; i < 3; i++)
		(void)event_base_loop(sc->base, EVLOOP_NONBLOCK);
	fake_close(&sc->fake);
	sc->fake.closed = 0;
	sc->fake.pc = 0;
	sc->fake.transcript[0] = '\0';
	sc->fake.mismatch[0] = '\0';
	sc->fake.inlen = 0;
	event_free(sc->tick);
	sc->tick = NULL;
	sc->released = 0;
	memset(&sc->owner, 0, sizeof(sc->owner));
	sc_run(sc, ops, NULL);
	assert_string_equal(sc->fake.mismatch, "");
	assert_int_equal(sc->owner.failed, 0);
}

/* tls_resume: the second connection with the same context resumes */
static void
resume_case(int tls12, int resume, int want2)
{
	struct scenario	 sc;

	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	if (tls12)
		fake_tls12_only(&sc.fake);
	sc.up.tlsset.tls_resume = resume;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.resumed, 0);
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, want2);
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, want2);
	sc_done(&sc);
}

static void
test_tls_resume(void **state)
{
	NEED_PKI();
	resume_case(0, 1, 1);
	resume_case(1, 1, 1);
	resume_case(0, 0, 0);
}

/*
 * A server that sends no new ticket when it resumes (Postfix 3.7 with
 * OpenSSL 3): wolfSSL derives a new resumption secret into the resumed
 * session but keeps the old ticket and nonce, so keeping that session
 * made the third connection fail ("binder does not verify" at Postfix).
 * The session offered stays kept: every later connection resumes.
 */
static void
test_tls_resume_server_renews_no_ticket(void **state)
{
	struct scenario	 sc;
	int		 i;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	sc.up.tlsset.tls_resume = 1;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.resumed, 0);
	sc.fake.no_ticket = 1;
	for (i = 0; i < 3; i++) {
		sc_again(&sc, ops_mail_quit);
		assert_int_equal(sc.owner.resumed, 1);
	}
	sc_done(&sc);
}

/*
 * A session whose OCSP verdict was "unknown" (soft: let through) is not
 * kept, and a kept one whose OCSP answer the context no longer holds as
 * good (here: none was ever fetched) is not offered and is dropped: both
 * times the next connection is a full handshake.
 */
static void
test_tls_resume_ocsp_not_good(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	sc.up.tlsset.tls_resume = 1;
	sc.up.tlsset.ocsp = OCSP_SOFT;
	/* a port nobody listens on: the fetch fails at once, "unknown" */
	(void)str_copy(sc.up.tlsset.ocsp_url, "http://127.0.0.1:1/",
	    sizeof(sc.up.tlsset.ocsp_url));
	sc.up.tlsset.ocsp_timeout = 2;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_int_equal(sc.owner.failed, 0);
	assert_null(sc.tls->sess->sess);	/* unknown: not kept */
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 0);
	assert_null(sc.tls->sess->sess);

	/* a kept session that rests on an answer the context lacks */
	sc.tls->sess->ocsp = 0;
	sc.up.tlsset.ocsp = OCSP_OFF;
	tls_client_ctx_free(sc.tls);
	sc.tls = NULL;			/* sc_run builds it again */
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 0);
	assert_non_null(sc.tls->sess->sess);	/* kept, no OCSP asked */
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 1);
	sc.tls->sess->ocsp = 1;		/* as if it rested on OCSP ... */
	sc.tls->sess->ncerts = 0;	/* ... with nothing the context holds */
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 0);
	sc_done(&sc);
}

/*
 * pki_short_cert - srv.key's certificate again, by the test CA, valid
 * until *end (a few seconds from now): "short.pem".  openssl ca, because
 * openssl x509 -req of OpenSSL 3.0 sets whole days only.
 */
static int
pki_short_cert(time_t *end)
{
	char		 p[PATH_MAX + 16], from[32], to[32];
	FILE		*f;
	time_t		 now = time(NULL);
	struct tm	 tm;

	*end = now + 4;
	(void)strftime(from, sizeof(from), "%Y%m%d%H%M%SZ",
	    gmtime_r(&(time_t){ now - 60 }, &tm));
	(void)strftime(to, sizeof(to), "%Y%m%d%H%M%SZ", gmtime_r(end, &tm));
	pki_path(p, sizeof(p), "short.cnf");
	if ((f = fopen(p, "w")) == NULL)
		return -1;
	fprintf(f, "[ca]\ndefault_ca = d\n[d]\ndatabase = short.idx\n"
	    "new_certs_dir = .\nserial = short.srl\ndefault_md = sha256\n"
	    "policy = p\nx509_extensions = e\nunique_subject = no\n"
	    "[p]\ncommonName = supplied\n"
	    "[e]\nsubjectAltName = DNS:mail.test\n"
	    "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\n"
	    "extendedKeyUsage = serverAuth\n");
	fclose(f);
	return pki_run("cd %s && : > short.idx && echo 1000 > short.srl && "
	    "openssl ca -batch -notext -config short.cnf -cert ca.pem "
	    "-keyfile ca.key -in srv.csr -out short.pem -startdate %s "
	    "-enddate %s >/dev/null 2>&1", pki_dir, from, to) == 0 ? 0 : -1;
}

/*
 * A resumed handshake checks no dates: a session whose certificate has
 * expired since its full handshake is not offered (a full handshake
 * would refuse that certificate; a server that renewed its certificate
 * meanwhile passes a full one).  The fake keeps its ticket key and its
 * key pair, only its certificate is renewed, so it would resume.
 */
static void
test_tls_resume_not_past_not_after(void **state)
{
	struct scenario	 sc;
	char		 p[PATH_MAX + 16];
	time_t		 end;
	int		 i;

	NEED_PKI();
	assert_int_equal(pki_short_cert(&end), 0);
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	sc.up.tlsset.tls_resume = 1;
	pki_path(p, sizeof(p), "short.pem");
	assert_int_equal(wolfSSL_CTX_use_certificate_chain_file(sc.fake.sctx,
	    p), WOLFSSL_SUCCESS);
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.resumed, 0);
	/* the first connection's session resumes while the cert is valid */
	if (time(NULL) < end) {
		sc_again(&sc, ops_mail_quit);
		assert_int_equal(sc.owner.resumed, 1);
	}
	for (i = 0; i < 100 && time(NULL) <= end; i++)
		(void)usleep(100000);
	assert_true(time(NULL) > end);
	pki_path(p, sizeof(p), "srv.pem");
	assert_int_equal(wolfSSL_CTX_use_certificate_chain_file(sc.fake.sctx,
	    p), WOLFSSL_SUCCESS);
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 0);	/* a full handshake */
	/* and that session, with the renewed certificate, resumes */
	sc_again(&sc, ops_mail_quit);
	assert_int_equal(sc.owner.resumed, 1);
	sc_done(&sc);
}

static void
test_tls_min13_against_tls12(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	fake_tls12_only(&sc.fake);
	sc.up.tlsset.tls_min_version = CONF_TLS_V13;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TLS_PROTOCOL);
	assert_int_equal(sc.owner.ready, 0);
	sc_done(&sc);
}

static void
test_tls_name_mismatch(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_starttls, TLS_STARTTLS);
	(void)str_copy(sc.up.tlsset.tls_name, "wrong.test", sizeof(sc.up.tlsset.tls_name));
	sc_run(&sc, ops_one_message, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CERT_NAME_MISMATCH);
	assert_non_null(strstr(sc.owner.fail_text, "-322"));
	assert_int_equal(sc.owner.ready, 0);
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	sc_done(&sc);
}

static void
test_tls_wildcard_name(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	(void)str_copy(sc.up.tlsset.tls_name, "a.mx.test", sizeof(sc.up.tlsset.tls_name));
	sc_run(&sc, ops_mail_quit, NULL);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 1);
	sc_done(&sc);
}

static void
test_tls_name_unchecked(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_implicit, TLS_IMPLICIT);
	(void)str_copy(sc.up.tlsset.tls_name, "wrong.test", sizeof(sc.up.tlsset.tls_name));
	sc.up.tlsset.verify_hostname = 0;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 1);
	sc_done(&sc);
}

static void
test_tls_untrusted(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_starttls, TLS_STARTTLS);
	pki_path(sc.up.tlsset.ca_file, sizeof(sc.up.tlsset.ca_file), "other.pem");
	sc_run(&sc, ops_one_message, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CERT_UNTRUSTED);
	assert_non_null(strstr(sc.owner.fail_text, "depth="));
	assert_int_equal(sc.owner.ready, 0);
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	sc_done(&sc);
}

static void
test_tls_untrusted_optional_no_downgrade(void **state)
{
	struct scenario	 sc;

	/* starttls-optional may skip TLS when not offered, never a bad cert */
	NEED_PKI();
	sc_init(&sc, script_starttls, TLS_STARTTLS_OPTIONAL);
	pki_path(sc.up.tlsset.ca_file, sizeof(sc.up.tlsset.ca_file), "other.pem");
	sc_run(&sc, ops_one_message, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_CERT_UNTRUSTED);
	assert_null(strstr(sc.fake.transcript, "MAIL"));
	sc_done(&sc);
}

static const struct step script_tls_silent[] = {
	BANNER,
	EXP("EHLO"), SEND("250-mx.test\r\n250 STARTTLS\r\n"),
	EXP("STARTTLS"), SEND("220 go ahead\r\n"),
	{ ST_SILENT, NULL },	/* never answers the ClientHello */
	END
};

static void
test_tls_handshake_timeout(void **state)
{
	struct scenario	 sc;

	NEED_PKI();
	sc_init(&sc, script_tls_silent, TLS_STARTTLS);
	sc.up.command_timeout = 1;
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_class, FAIL_TIMEOUT);
	assert_non_null(strstr(sc.owner.fail_text, "TLS_STARTTLS"));
	sc_done(&sc);
}

static void
test_starttls_large_body(void **state)
{
	struct scenario	 sc;
	const size_t	 len = 2000000;
	char		*msg;
	struct body	 b;
	size_t		 i;

	NEED_PKI();
	msg = malloc(len);
	assert_non_null(msg);
	for (i = 0; i < len; i++)
		msg[i] = (i % 80) == 78 ? '\r' : (i % 80) == 79 ? '\n' :
		    (char)('A' + (i / 80) % 26);
	memset(&b, 0, sizeof(b));
	b.data = msg;
	b.len = len;
	sc_init(&sc, script_starttls, TLS_STARTTLS);
	sc_run(&sc, ops_one_message, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.fake.bodylen, len);
	assert_memory_equal(sc.fake.body, msg, len);
	sc_done(&sc);
	free(msg);
}

static void
io_ignore(struct gw_io *io, enum io_event ev, void *arg)
{
	(void)io;
	(void)ev;
	*(int *)arg += 1;
}

static void
test_tls_start_refused_over_buffered_input(void **state)
{
	struct event_base	*base;
	struct gw_io		*io;
	struct tls_client_ctx	*tc;
	struct conf_upstream	 up;
	struct tls_info		 ti;
	struct timeval		 tv = { 0, 200000 };
	char			 err[256];
	int			 sv[2], events = 0;

	/* the tls module's own guard, below the client's reply check */
	NEED_PKI();
	memset(&up, 0, sizeof(up));
	(void)str_copy(up.host, "mail.test", sizeof(up.host));
	(void)str_copy(up.tlsset.tls_name, "mail.test", sizeof(up.tlsset.tls_name));
	up.port = 25;
	up.tls = TLS_STARTTLS;
	up.tlsset.verify_hostname = 1;
	up.tlsset.tls_min_version = CONF_TLS_V12;
	pki_path(up.tlsset.ca_file, sizeof(up.tlsset.ca_file), "ca.pem");
	tc = tls_upstream_ctx_new(&up, err, sizeof(err));
	assert_non_null(tc);
	base = event_base_new();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	io = io_new(base, sv[0], 4096, 4096, io_ignore, &events);
	assert_non_null(io);
	assert_int_equal(write(sv[1], "250 INJECTED\r\n", 14), 14);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
	assert_true(buf_len(io_in(io)) > 0);
	assert_int_equal(tls_get_info(io, &ti), -1);
	assert_int_equal(tls_client_start(io, tc, 7), -1);
	assert_int_equal(io_error_class(io), FAIL_PROTOCOL);
	assert_null(io_transport_ctx(io));
	io_free(io);
	close(sv[1]);
	tls_client_ctx_free(tc);
	event_base_free(base);
}

static void
test_ctx_build(void **state)
{
	struct conf_upstream	 up;
	struct tls_client_ctx	*tc;
	char			 err[256] = "";

	memset(&up, 0, sizeof(up));
	(void)str_copy(up.host, "mail.test", sizeof(up.host));
	(void)str_copy(up.tlsset.tls_name, "mail.test", sizeof(up.tlsset.tls_name));
	up.port = 587;
	up.tls = TLS_STARTTLS;
	up.tlsset.tls_min_version = CONF_TLS_V12;
	(void)str_copy(up.tlsset.ca_file, "/nonexistent/ca.pem", sizeof(up.tlsset.ca_file));
	assert_null(tls_upstream_ctx_new(&up, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));
	assert_non_null(strstr(err, "No such file"));

	up.tlsset.tls_min_version = 11;
	(void)str_copy(up.tlsset.ca_file, "system", sizeof(up.tlsset.ca_file));
	assert_null(tls_upstream_ctx_new(&up, err, sizeof(err)));
	assert_non_null(strstr(err, "tls_min_version"));

	/* the distro bundle loads; TLS 1.3 as the minimum is accepted */
	up.tlsset.tls_min_version = CONF_TLS_V13;
	tc = tls_upstream_ctx_new(&up, err, sizeof(err));
	assert_non_null(tc);
	tls_client_ctx_free(tc);
}

/*
 * A context from the TLS-settings block alone, with the host and the name
 * to verify given apart (what POP-before-SMTP does): no [upstream] needed.
 */
static void
test_ctx_from_block(void **state)
{
	struct conf_tls		 ts;
	struct tls_client_ctx	*tc;
	char			 err[256] = "";

	(void)state;
	memset(&ts, 0, sizeof(ts));
	ts.verify_hostname = 1;
	ts.tls_min_version = CONF_TLS_V12;
	ts.tls_max_version = CONF_TLS_V13;
	(void)str_copy(ts.ca_file, "/nonexistent/ca.pem", sizeof(ts.ca_file));
	assert_null(tls_client_ctx_new(&ts, "pop.test", 995, "pop.test", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/ca.pem"));

	(void)str_copy(ts.ca_file, "system", sizeof(ts.ca_file));
	assert_null(tls_client_ctx_new(&ts, "pop.test", 995, "", err,
	    sizeof(err)));
	assert_non_null(strstr(err, "tls_name is empty"));

	tc = tls_client_ctx_new(&ts, "pop.test", 995, "pop.test", err,
	    sizeof(err));
	assert_non_null(tc);
	tls_client_ctx_free(tc);
}

/* ------------------------------------------------------------------ */

static int
group_setup(void **state)
{
	const char	*dbg = getenv("SMTPGATE_TEST_DEBUG");

	(void)signal(SIGPIPE, SIG_IGN);
	if (dbg != NULL && *dbg != '\0')
		log_init(0, GW_LOG_DEBUG, LOGF_ALL);
	else
		log_init(0, GW_LOG_ERROR, 0);
	tls_init();
	pki_ok = pki_make() == 0;
	if (!pki_ok)
		fprintf(stderr, "openssl test PKI could not be made: "
		    "TLS tests are skipped\n");
	return 0;
}

static int
group_teardown(void **state)
{
	pki_remove();
	tls_cleanup();
	return 0;
}

/* ------------------------------------------------------------------ */
/* AUTH (cleartext here: the TLS side is covered by the integration tests) */

static const struct smtp_client_auth auth_joe = { .user = "joe",
    .secret = "pw" };

#define EHLO_AUTH(m)	EXP("EHLO gw.test"), \
			SEND("250-mx.test\r\n250 AUTH " m "\r\n")

/* LOGIN on the wire, redacted in the trace, then the transaction */
static const struct step script_auth_login[] = {
	BANNER, EHLO_AUTH("LOGIN"),
	EXP("AUTH LOGIN"), SEND("334 VXNlcm5hbWU6\r\n"),
	EXP("am9l"), SEND("334 UGFzc3dvcmQ6\r\n"),
	EXP("cHc="), SEND("235 2.7.0 ok\r\n"),
	EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_auth_login_redacted(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_auth_login, TLS_NONE);
	sc.up.auth_allow_cleartext = 1;
	sc.auth = &auth_joe;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.auth_code, 235);
	assert_string_equal(sc.owner.auth_mech, "LOGIN");
	assert_string_equal(sc.trace, "EHLO gw.test\nAUTH LOGIN\n<redacted>\n"
	    "<redacted>\nMAIL FROM:<a@example.org>\nQUIT\n");
	sc_done(&sc);
}

/*
 * 534 (mechanism too weak) on CRAM-MD5: PLAIN next (fallback), redacted
 * as one line.  The mechanism failed, not the password.
 */
static const struct step script_auth_fallback[] = {
	BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	EXP("AUTH CRAM-MD5"), SEND("334 PDEyMzRAbXgudGVzdD4=\r\n"),
	{ ST_EXPECT, "am9lI" },
	SEND("534 5.7.9 Authentication mechanism is too weak\r\n"),
	EXP("AUTH PLAIN AGpvZQBwdw=="), SEND("235 2.7.0 ok\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_auth_fallback(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_auth_fallback, TLS_NONE);
	sc.up.auth_allow_cleartext = 1;
	sc.up.auth_fallback = 1;
	sc.auth = &auth_joe;
	sc_run(&sc, ops_mail_quit, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.ready, 1);
	assert_string_equal(sc.owner.auth_mech, "PLAIN");
	assert_non_null(strstr(sc.trace, "AUTH PLAIN <redacted>\n"));
	assert_null(strstr(sc.trace, "AGpvZQBwdw=="));
	assert_null(strstr(sc.trace, "am9l"));
	sc_done(&sc);
}

/*
 * AUTH scenarios that must end in failed(FAIL_AUTH) before MAIL.  Each
 * ends with QUIT on a connection still in step (issue 10: say QUIT after
 * an AUTH failure), after "*" when a challenge awaited an answer.
 */
#define QUIT_BYE	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL }
#define CANCEL_QUIT	EXP("*"), SEND("501 5.7.0 cancelled\r\n"), \
			EXP("QUIT"), { ST_CLOSE, NULL }

static const struct {
	const char	*name;
	struct step	 script[16];
	int		 fallback, cleartext;
	const char	*text;
} auth_fail_cases[] = {
	{ "CRAM-MD5 challenge not base64", { BANNER, EHLO_AUTH("CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334 !!not*base64\r\n"),
	    CANCEL_QUIT }, 1, 0, "CRAM-MD5: bad 334 challenge" },
	{ "multi-line 334", { BANNER, EHLO_AUTH("CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334-PDE+\r\n334 PDE+\r\n"),
	    CANCEL_QUIT }, 1, 0, "more than one line" },
	{ "334 after PLAIN's initial response", { BANNER, EHLO_AUTH("PLAIN"),
	    EXP("AUTH PLAIN "), SEND("334 \r\n"), CANCEL_QUIT },
	    1, 1, "PLAIN: bad 334" },
	{ "4xx: no fallback", { BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("454 4.7.0 try later\r\n"),
	    QUIT_BYE }, 1, 1, "CRAM-MD5: 454 4.7.0 try later" },
	{ "fallback off", { BANNER, EHLO_AUTH("PLAIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("534 5.7.9 too weak\r\n"),
	    QUIT_BYE }, 0, 1, "CRAM-MD5: 534 5.7.9 too weak" },
	/* issue 10: a wrong password is wrong for every mechanism */
	{ "535: no fallback", { BANNER, EHLO_AUTH("PLAIN LOGIN CRAM-MD5"),
	    EXP("AUTH CRAM-MD5"), SEND("334 PDE+\r\n"), EXP("am9l"),
	    SEND("535 5.7.8 Authentication credentials invalid\r\n"),
	    QUIT_BYE }, 1, 1, "CRAM-MD5: 535 5.7.8 Authentication" },
	{ "535 without an enhanced code: no fallback", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("535 authentication failed\r\n"), QUIT_BYE }, 1, 1,
	    "PLAIN: 535 authentication failed" },
	{ "554 (account disabled): no fallback", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("554 5.7.1 account disabled\r\n"), QUIT_BYE }, 1, 1,
	    "PLAIN: 554 5.7.1 account disabled" },
	{ "504 then 535: one login failed, then QUIT", { BANNER,
	    EHLO_AUTH("PLAIN LOGIN"), EXP("AUTH PLAIN "),
	    SEND("504 5.5.4 Unrecognized authentication type\r\n"),
	    EXP("AUTH LOGIN"), SEND("334 VXNlcm5hbWU6\r\n"), EXP("am9l"),
	    SEND("334 UGFzc3dvcmQ6\r\n"), EXP("cHc="),
	    SEND("535 5.7.8 no\r\n"), QUIT_BYE }, 1, 1,
	    "LOGIN: 535 5.7.8 no" },
	{ "no PLAIN in cleartext", { BANNER, EHLO_AUTH("PLAIN LOGIN"),
	    QUIT_BYE }, 1, 0, "no usable AUTH mechanism" },
	{ "no AUTH offered", { BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	    QUIT_BYE }, 1, 1, "upstream offers \"\"" },
	{ "HELO only", { BANNER, EXP("EHLO"), SEND("500 what\r\n"),
	    EXP("HELO"), SEND("250 mx.test\r\n"), QUIT_BYE },
	    1, 1, "only HELO" },
	{ "a second CRAM-MD5 challenge", { BANNER,
	    EHLO_AUTH("CRAM-MD5"), EXP("AUTH CRAM-MD5"),
	    SEND("334 PDE+\r\n"), EXP(""), SEND("334 PDE+\r\n"),
	    CANCEL_QUIT }, 1, 0, "unexpected second 334" },
};

static void
test_auth_failures(void **state)
{
	struct scenario	 sc;
	size_t		 i;

	for (i = 0; i < sizeof(auth_fail_cases) / sizeof(auth_fail_cases[0]);
	    i++) {
		sc_init(&sc, auth_fail_cases[i].script, TLS_NONE);
		sc.up.auth_fallback = auth_fail_cases[i].fallback;
		sc.up.auth_allow_cleartext = auth_fail_cases[i].cleartext;
		sc.auth = &auth_joe;
		sc_run(&sc, ops_mail_wait, NULL);
		if (sc.owner.failed != 1 || sc.owner.fail_class != FAIL_AUTH ||
		    strstr(sc.owner.fail_text, auth_fail_cases[i].text) ==
		    NULL)
			fail_msg("%s: failed=%d class=%s text='%s'; want '%s'",
			    auth_fail_cases[i].name, sc.owner.failed,
			    fail_name(sc.owner.fail_class), sc.owner.fail_text,
			    auth_fail_cases[i].text);
		assert_int_equal(sc.owner.ready, 0);
		if (sc.fake.mismatch[0] != '\0')
			fail_msg("%s: %s", auth_fail_cases[i].name,
			    sc.fake.mismatch);
		/* QUIT was said, and the whole script ran */
		assert_non_null(strstr(sc.fake.transcript, "QUIT\n"));
		assert_int_equal(sc.fake.script[sc.fake.pc].kind, ST_END);
		assert_null(strstr(sc.fake.transcript, "MAIL"));
		/* no secret reached the trace in any case */
		assert_null(strstr(sc.trace, "cHc="));
		assert_null(strstr(sc.trace, "AGpvZQBwdw=="));
		sc_done(&sc);
	}
}

/* ------------------------------------------------------------------ */
/* issue 11: detach, attach, the idle watch and the retry rule */

static const struct op ops_tx_detach[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_DETACH, NULL },
	{ OP_NONE, NULL }
};

static const struct op ops_second_tx[] = {
	{ OP_MAIL, "<c@example.org>" },
	{ OP_RCPT, "<d@example.net>" },
	{ OP_DATA, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

#define TX_ONE	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"), \
		EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"), \
		EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"), \
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL }, \
		SEND("250 2.0.0 queued as 1\r\n")

static const struct step script_reuse[] = {
	TX_ONE,
	EXP("RSET"), SEND("250 2.0.0 flushed\r\n"),
	EXP("MAIL FROM:<c@example.org>"), SEND("250 ok\r\n"),
	EXP("RCPT TO:<d@example.net>"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL },
	SEND("250 2.0.0 queued as 2\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_CLOSE, NULL },
	END
};

static void
test_detach_attach_two_owners(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "Subject: one\r\n\r\nfirst\r\n";
	static const char msg2[] = "Subject: two\r\n\r\nsecond\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	struct body	 b2 = { msg2, sizeof(msg2) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_reuse, TLS_NONE);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_second_tx;
	sc.owner2.body = &b2;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.fake.accepts, 1);	/* one connection for both */
	/* the first owner: its transaction, then nothing after detach */
	assert_int_equal(sc.owner.ready, 1);
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.tx[2], SMTP_TX_DOT);
	/* the second: ready() once, every reply, after detach's RSET */
	assert_int_equal(sc.holder.attach_rc, 0);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.failed, 0);
	assert_int_equal(sc.owner2.nreplies, 3);
	assert_string_equal(sc.owner2.reply_text[2], "queued as 2");
	assert_int_equal(sc.owner2.messages, 2);
	assert_string_equal(sc.fake.transcript, "EHLO gw.test\n"
	    "MAIL FROM:<a@example.org>\nRCPT TO:<b@example.net>\nDATA\n"
	    "RSET\nMAIL FROM:<c@example.org>\nRCPT TO:<d@example.net>\n"
	    "DATA\nQUIT\n");
	assert_int_equal(sc.fake.bodylen, sizeof(msg) + sizeof(msg2) - 2);
	assert_memory_equal(sc.fake.body + sizeof(msg) - 1, msg2,
	    sizeof(msg2) - 1);
	sc_done(&sc);
}

/* what the upstream does to a connection once it idles */
static const struct {
	const char	*name;
	struct step	 script[24];
	enum gw_fail	 want;
	const char	*text;
} idle_dead_cases[] = {
	{ "closed while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    { ST_CLOSE, NULL }, END }, FAIL_CLOSED, "closed by upstream" },
	{ "421 while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    SEND("421 4.4.2 mx.test idle timeout\r\n"), { ST_SILENT, NULL },
	    END }, FAIL_REJECTED, "421 while idle: 421 4.4.2 mx.test idle" },
	{ "reply while idle", { TX_ONE, EXP("RSET"), SEND("250 ok\r\n"),
	    SEND("250 surprise\r\n"), { ST_SILENT, NULL }, END },
	    FAIL_PROTOCOL, "unsolicited data while idle: 250 surprise" },
	{ "partial line while idle", { TX_ONE, EXP("RSET"),
	    SEND("250 ok\r\n"), SEND("2"), { ST_SILENT, NULL }, END },
	    FAIL_PROTOCOL, "unsolicited data while idle: 2" },
	{ "RSET refused", { TX_ONE, EXP("RSET"),
	    SEND("500 5.5.1 what\r\n"), { ST_SILENT, NULL }, END },
	    FAIL_REJECTED, "RSET before reuse answered 500 5.5.1 what" },
	{ "closed before RSET's reply", { TX_ONE, EXP("RSET"),
	    { ST_CLOSE, NULL }, END }, FAIL_CLOSED, "in state RSET" },
};

static void
test_idle_dead(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b;
	size_t		 i;

	for (i = 0; i < sizeof(idle_dead_cases) / sizeof(idle_dead_cases[0]);
	    i++) {
		memset(&b, 0, sizeof(b));
		b.data = msg;
		b.len = sizeof(msg) - 1;
		sc_init(&sc, idle_dead_cases[i].script, TLS_NONE);
		sc.holder.action = H_WAIT;
		sc_run(&sc, ops_tx_detach, &b);
		if (sc.holder.dead != 1 ||
		    sc.holder.dead_class != idle_dead_cases[i].want ||
		    strstr(sc.holder.dead_text, idle_dead_cases[i].text) == NULL)
			fail_msg("%s: dead=%d class=%s text='%s'; want %s '%s'",
			    idle_dead_cases[i].name, sc.holder.dead,
			    fail_name(sc.holder.dead_class), sc.holder.dead_text,
			    fail_name(idle_dead_cases[i].want),
			    idle_dead_cases[i].text);
		assert_string_equal(sc.fake.mismatch, "");
		/* the owner saw its transaction and nothing after detach */
		assert_int_equal(sc.owner.nreplies, 3);
		assert_int_equal(sc.owner.failed, 0);
		/* no QUIT to a dead connection */
		assert_null(strstr(sc.fake.transcript, "QUIT"));
		sc_done(&sc);
	}
}

static const struct step script_quit_idle[] = {
	TX_ONE,
	EXP("RSET"), SEND("250 ok\r\n"),
	EXP("QUIT"), SEND("221 bye\r\n"), { ST_SILENT, NULL },
	END
};

static void
test_quit_while_idle(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	sc_init(&sc, script_quit_idle, TLS_NONE);
	sc.holder.action = H_QUIT;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.acted, 1);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.fake.pc, 15);	/* QUIT seen and answered */
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);		/* and the client closed */
	sc_done(&sc);
}

/* a connection that never carried a MAIL idles without RSET */
static const struct op ops_detach_at_ready[] = {
	{ OP_DETACH, NULL },
	{ OP_NONE, NULL }
};

static const struct step script_fresh_reuse[] = {
	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL FROM:<c@example.org>"),
	SEND("421 4.7.0 mx.test too many connections\r\n"),
	{ ST_CLOSE, NULL },
	END
};

static const struct op ops_mail_only[] = {
	{ OP_MAIL, "<c@example.org>" },
	{ OP_NONE, NULL }
};

static void
test_reused_421_to_mail(void **state)
{
	struct scenario	 sc;

	sc_init(&sc, script_fresh_reuse, TLS_NONE);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_mail_only;
	sc_run(&sc, ops_detach_at_ready, NULL);
	assert_string_equal(sc.fake.mismatch, "");
	assert_null(strstr(sc.fake.transcript, "RSET"));
	/* the second owner got the first one's connection, not a new one */
	assert_int_equal(sc.fake.accepts, 1);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.failed, 1);
	assert_int_equal(sc.owner2.fail_class, FAIL_REJECTED);
	/* nothing of the transaction was accepted: the pool may retry */
	assert_int_equal(sc.owner2.fail_tx, SMTP_TX_NONE);
	sc_done(&sc);
}

/* the retry rule on failures at each point of a transaction */
static const struct step script_close_after_mail[] = {
	BANNER, EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), { ST_CLOSE, NULL },
	END
};

static void
test_tx_state_on_failure(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hello\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	/* 421 to MAIL: nothing accepted */
	sc_init(&sc, script_421_mail, TLS_NONE);
	sc_run(&sc, ops_mail_wait, NULL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_NONE);
	sc_done(&sc);

	/* closed after MAIL's 250: the upstream had the sender */
	sc_init(&sc, script_close_after_mail, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_wait, NULL);
	assert_int_equal(sc.owner.nreplies, 1);
	assert_int_equal(sc.owner.tx[0], SMTP_TX_MAIL);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_MAIL);
	sc_done(&sc);

	/* closed after the final dot: never retried */
	sc_init(&sc, script_close_after_dot, TLS_NONE);
	sc_run(&sc, ops_mail_rcpt_data_wait, &b);
	assert_int_equal(sc.owner.failed, 1);
	assert_int_equal(sc.owner.fail_tx, SMTP_TX_DOT);
	sc_done(&sc);
}


static void
test_quit_right_after_detach(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE,
		EXP("RSET"), EXP("QUIT"), SEND("250 ok\r\n221 bye\r\n"),
		{ ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.holder.action = H_QUIT_NOW;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	/* QUIT follows detach's RSET on the wire */
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);
	sc_done(&sc);
}

/*
 * smtp_client_quit() while detach's RSET is in flight (SIGTERM or SIGHUP
 * as a session gives its connection back): QUIT follows the RSET on the
 * wire, and the reply to the RSET must not be taken for QUIT's.  The
 * upstream here answers the RSET and never QUIT: the client waits for
 * QUIT's reply until its timer (command_timeout, 1 s) instead of closing
 * at the RSET's 250, after which a real server may never see the QUIT.
 */
static void
test_quit_during_detach_rset_waits_for_quit_reply(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE,
		EXP("RSET"), EXP("QUIT"), SEND("250 ok\r\n"),
		{ ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.up.command_timeout = 1;
	sc.holder.action = H_QUIT_NOW;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	assert_true(sc.fake.peer_eof);
	/* 10 ms a tick: closed at the timer, not at the RSET's reply */
	if (sc.ticks < 80)
		fail_msg("closed after %u ticks: the RSET's reply ended QUIT",
		    (unsigned)sc.ticks);
	sc_done(&sc);
}

static void
test_attach_to_dropped(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step script[] = {
		TX_ONE, EXP("RSET"), SEND("250 ok\r\n"), { ST_SILENT, NULL },
		END
	};

	sc_init(&sc, script, TLS_NONE);
	sc.holder.action = H_DROP_ATTACH;
	sc.owner2.ops = ops_mail_only;
	sc_run(&sc, ops_tx_detach, &b);
	/* attach saw the EOF itself: -1, and no callback to anyone */
	assert_int_equal(sc.holder.attach_rc, -1);
	assert_int_equal(sc.holder.dead, 0);
	assert_int_equal(sc.owner2.ready, 0);
	assert_int_equal(sc.owner2.failed, 0);
	assert_null(strstr(sc.fake.transcript, "MAIL FROM:<c@"));
	sc_done(&sc);
}

#define TX_ONE_TLS { ST_TLS, NULL }, BANNER, EXP("EHLO"), \
		SEND("250 mx.test\r\n"), \
		EXP("MAIL FROM:<a@example.org>"), SEND("250 ok\r\n"), \
		EXP("RCPT TO:<b@example.net>"), SEND("250 ok\r\n"), \
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL }, \
		SEND("250 2.0.0 queued as 1\r\n")

static void
test_tls_reuse_and_idle_close(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	struct body	 b2 = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };
	static const struct step reuse[] = {
		TX_ONE_TLS,
		EXP("RSET"), SEND("250 ok\r\n"),
		EXP("MAIL FROM:<c@example.org>"), SEND("250 ok\r\n"),
		EXP("RCPT TO:<d@example.net>"), SEND("250 ok\r\n"),
		EXP("DATA"), SEND("354 go\r\n"), { ST_BODY, NULL },
		SEND("250 2.0.0 queued as 2\r\n"),
		EXP("QUIT"), SEND("221 bye\r\n"), { ST_TLS_CLOSE, NULL },
		END
	};
	/* the RSET reply, then close_notify in the same flight */
	static const struct step notify[] = {
		TX_ONE_TLS, EXP("RSET"), SEND("250 ok\r\n"),
		{ ST_TLS_CLOSE, NULL }, END
	};
	/* two records at once: wolfSSL holds the second after the first */
	static const struct step late421[] = {
		TX_ONE_TLS, EXP("RSET"), { ST_CORK, "1" }, SEND("250 ok\r\n"),
		SEND("421 4.4.2 bye\r\n"), { ST_CORK, "0" },
		{ ST_SILENT, NULL }, END
	};

	NEED_PKI();
	sc_init(&sc, reuse, TLS_IMPLICIT);
	sc.holder.action = H_ATTACH;
	sc.owner2.ops = ops_second_tx;
	sc.owner2.body = &b2;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.fake.accepts, 1);
	assert_int_equal(sc.owner2.ready, 1);
	assert_int_equal(sc.owner2.nreplies, 3);
	assert_int_equal(sc.owner2.messages, 2);
	assert_int_equal(sc.holder.dead, 0);
	sc_done(&sc);

	b.off = 0;
	sc_init(&sc, notify, TLS_IMPLICIT);
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.holder.dead, 1);
	assert_int_equal(sc.holder.dead_class, FAIL_CLOSED);
	sc_done(&sc);

	b.off = 0;
	sc_init(&sc, late421, TLS_IMPLICIT);
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.owner.nreplies, 3);
	assert_int_equal(sc.owner.failed, 0);
	assert_int_equal(sc.holder.dead, 1);
	/* read with the 250 (data after a reply) or on its own (421) */
	assert_true(sc.holder.dead_class == FAIL_REJECTED ||
	    sc.holder.dead_class == FAIL_PROTOCOL);
	sc_done(&sc);
}


static void
test_give_back_before_ready(void **state)
{
	struct scenario	 sc;
	static const char msg[] = "hi\r\n";
	struct body	 b = { msg, sizeof(msg) - 1, 0, 0, 0, 0, 0 };

	memset(&cur_owner2, 0, sizeof(cur_owner2));
	sc_init(&sc, script_quit_idle, TLS_NONE);
	sc.holder.action = H_BOUNCE;
	sc_run(&sc, ops_tx_detach, &b);
	assert_string_equal(sc.fake.mismatch, "");
	assert_int_equal(sc.holder.dead, 0);
	/* the short owner never heard anything */
	assert_int_equal(cur_owner2.ready + cur_owner2.failed +
	    cur_owner2.nreplies, 0);
	assert_non_null(strstr(sc.fake.transcript, "DATA\nRSET\nQUIT\n"));
	sc_done(&sc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_transaction),
		cmocka_unit_test(test_pipelined_batch),
		cmocka_unit_test(test_pipelining_not_offered),
		cmocka_unit_test(test_pipelined_421),
		cmocka_unit_test(test_body_without_final_crlf),
		cmocka_unit_test(test_empty_body),
		cmocka_unit_test(test_helo_fallback),
		cmocka_unit_test(test_failures_before_ready),
		cmocka_unit_test(test_overlong_replies),
		cmocka_unit_test(test_starttls_optional_not_offered),
		cmocka_unit_test(test_starttls_optional_refused),
		cmocka_unit_test(test_timeout_banner),
		cmocka_unit_test(test_timeout_reply),
		cmocka_unit_test(test_timeout_after_dot),
		cmocka_unit_test(test_close_after_dot),
		cmocka_unit_test(test_body_source_error),
		cmocka_unit_test(test_large_body_backpressure),
		cmocka_unit_test(test_421_in_transaction),
		cmocka_unit_test(test_close_while_idle),
		cmocka_unit_test(test_rset_and_rejected_rcpt),
		cmocka_unit_test(test_wrong_reply_kind),
		cmocka_unit_test(test_crlf_in_arguments),
		cmocka_unit_test(test_free_inside_reply),
		cmocka_unit_test(test_quit_inside_ready),
		cmocka_unit_test(test_free_while_resolving),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_dns_failure),
		cmocka_unit_test(test_starttls_transaction),
		cmocka_unit_test(test_implicit_tls),
		cmocka_unit_test(test_implicit_tls12),
		cmocka_unit_test(test_tls_resume),
		cmocka_unit_test(test_tls_resume_server_renews_no_ticket),
		cmocka_unit_test(test_tls_resume_ocsp_not_good),
		cmocka_unit_test(test_tls_resume_not_past_not_after),
		cmocka_unit_test(test_tls_min13_against_tls12),
		cmocka_unit_test(test_tls_name_mismatch),
		cmocka_unit_test(test_tls_wildcard_name),
		cmocka_unit_test(test_tls_name_unchecked),
		cmocka_unit_test(test_tls_untrusted),
		cmocka_unit_test(test_tls_untrusted_optional_no_downgrade),
		cmocka_unit_test(test_tls_handshake_timeout),
		cmocka_unit_test(test_starttls_large_body),
		cmocka_unit_test(test_tls_start_refused_over_buffered_input),
		cmocka_unit_test(test_ctx_build),
		cmocka_unit_test(test_ctx_from_block),
		cmocka_unit_test(test_auth_login_redacted),
		cmocka_unit_test(test_auth_fallback),
		cmocka_unit_test(test_auth_failures),
		cmocka_unit_test(test_detach_attach_two_owners),
		cmocka_unit_test(test_idle_dead),
		cmocka_unit_test(test_quit_while_idle),
		cmocka_unit_test(test_reused_421_to_mail),
		cmocka_unit_test(test_tx_state_on_failure),
		cmocka_unit_test(test_quit_right_after_detach),
		cmocka_unit_test(test_quit_during_detach_rset_waits_for_quit_reply),
		cmocka_unit_test(test_attach_to_dropped),
		cmocka_unit_test(test_tls_reuse_and_idle_close),
		cmocka_unit_test(test_give_back_before_ready),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
