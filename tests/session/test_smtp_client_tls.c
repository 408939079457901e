/*
 * test_smtp_client_tls.c - the upstream SMTP client over real TLS
 * against the fake upstream (wolfSSL as the server, the test PKI of
 * smtp_client_fixture.h): STARTTLS and implicit TLS, TLS 1.2, session
 * resumption and what it must still check, the minimum version, host
 * names, untrusted chains, the handshake timeout, a large body, refused
 * STARTTLS over buffered input, and the client context's construction.
 */
#include "smtp_client_fixture.h"

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

int
main(void)
{
	const struct CMUnitTest tests[] = {
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
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
