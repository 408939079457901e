/*
 * smtp_client_fixture.c - the fake upstream, the owner, the scenario
 * runner and the test PKI of the upstream client's session tests
 * (smtp_client_fixture.h).
 */
#include "smtp_client_fixture.h"

/* ------------------------------------------------------------------ */
/* test PKI */

char	pki_dir[PATH_MAX];
int	pki_ok;

int
pki_run(const char *fmt, ...)
{
	char	 cmd[2048];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

void
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

void
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

void
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

static struct holder	*cur_holder;	/* the running scenario's */
struct owner	 cur_owner2;	/* H_BOUNCE's short owner */
static void	holder_dead(void *, struct smtp_client *, enum gw_fail,
		    const char *);
static void	owner_batch(struct owner *);
static const struct smtp_client_idle_cb holder_cb = { holder_dead };

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

const struct smtp_client_cb owner_cb = {
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

void
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

void
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

void
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

/* ------------------------------------------------------------------ */
/* scripts */

const struct op ops_one_message[] = {
	{ OP_MAIL, "<a@example.org> SIZE=20" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

const struct op ops_mail_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_NONE, NULL }
};

const struct op ops_mail_rcpt_data_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_DATA, NULL },
	{ OP_NONE, NULL }
};

const struct op ops_mail_quit[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_QUIT, NULL },
	{ OP_NONE, NULL }
};

const struct step script_close_after_dot[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("250 ok\r\n"),
	EXP("RCPT"), SEND("250 ok\r\n"),
	EXP("DATA"), SEND("354 go\r\n"),
	{ ST_BODY, NULL },
	{ ST_CLOSE, NULL },
	END
};

const struct step script_421_mail[] = {
	BANNER,
	EXP("EHLO"), SEND("250 mx.test\r\n"),
	EXP("MAIL"), SEND("421 4.3.2 shutting down\r\n"),
	{ ST_CLOSE, NULL },
	END
};

const struct op ops_mail_rcpt_wait[] = {
	{ OP_MAIL, "<a@example.org>" },
	{ OP_RCPT, "<b@example.net>" },
	{ OP_NONE, NULL }
};

/* the group: the test PKI, made once for a file's cases */
int
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

int
group_teardown(void **state)
{
	pki_remove();
	tls_cleanup();
	return 0;
}
