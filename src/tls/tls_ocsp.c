/*
 * tls_ocsp.c - OCSP for upstream certificates without blocking the loop.
 *
 * wolfSSL's own OCSP lookup is a blocking HTTP client inside the handshake
 * (and this build has no WOLFSSL_NONBLOCK_OCSP), so it is never used.  We
 * install an OCSP I/O callback that never does I/O:
 *
 *  1. During the handshake the callback records the request wolfSSL built
 *     (URL and DER) and answers "no response"; the verify callback lets
 *     that one error through and marks the session "OCSP pending".
 *  2. After the handshake, before any SMTP command, the session fetches
 *     the recorded requests with libevent's HTTP client (POST,
 *     application/ocsp-request).  ocsp_timeout is a deadline for the
 *     whole fetch, not an idle bound: evhttp's own timeout restarts on
 *     every byte, so a responder dripping one byte a second would hold
 *     the session until command_timeout.  Our own timer cancels what is
 *     still running when the deadline passes.
 *  3. With the answers in hand, wolfSSL_CertManagerCheckOCSP() runs the
 *     check again; now the callback hands over the fetched DER, and
 *     wolfSSL verifies the signature, the certificate ID and the dates as
 *     in a handshake.  A good, revoked or unknown status then stays in
 *     the context's certificate manager until the answer's nextUpdate, so
 *     the next handshake with this context needs no request at all.
 *
 * Requests carry no nonce (WOLFSSL_OCSP_NO_NONCE): step 3 builds a new
 * request, which must equal the fetched one, and a cached answer can only
 * serve later sessions without one.  The process is single-threaded, so
 * the callback finds the session it serves through a pointer set around
 * the synchronous wolfSSL call (tls_ocsp_begin / the recheck).
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/dns.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/io.h"
#include "util/log.h"
#include "util/str.h"

#define OCSP_RESP_MAX	65536	/* a bigger answer is not an OCSP answer */

struct ocsp_sub {
	struct tls_ocsp_fetch	*f;
	size_t			 idx;		/* in the session's items */
	struct evhttp_connection *conn;
	struct evhttp_request	*req;		/* NULL once completed */
};

struct tls_ocsp_fetch {
	struct gw_io		*io;
	WOLFSSL			*ssl;
	struct tls_ocsp_state	*st;
	uint64_t		 id;
	tls_ocsp_done_fn	*done;
	void			*arg;
	struct event		*ev_done;	/* runs after the last answer */
	struct event		*ev_deadline;	/* ocsp_timeout for the whole fetch */
	int			 timed_out;
	struct ocsp_sub		 sub[TLS_OCSP_MAXREQ];
	size_t			 nsub;
	size_t			 running;
};

/* the session whose handshake or recheck is running right now */
static struct tls_ocsp_state	*ocsp_current;
static int			 ocsp_rechecking;

static void	ocsp_http_done(struct evhttp_request *, void *);
static void	ocsp_on_done(evutil_socket_t, short, void *);
static void	ocsp_on_deadline(evutil_socket_t, short, void *);
static void	ocsp_subs_free(struct tls_ocsp_fetch *);

/* tls_ocsp_is_unknown - an OCSP error that means "no usable answer" */
int
tls_ocsp_is_unknown(int err)
{
	switch (err) {
	case -178:	/* responder not authorised */
	case -191:	/* answer's signature does not verify */
	case -365:	/* no URL */
	case -366:	/* responder does not know the certificate */
	case -367:	/* lookup failed, answer does not match */
	case -407:	/* no answer (our callback's miss) */
	case -408:	/* would block */
		return 1;
	default:
		return 0;
	}
}

/*
 * tls_ocsp_io - wolfSSL's OCSP I/O callback.  In a handshake: record the
 * request and answer nothing.  In a recheck: the answer fetched for the
 * same request bytes, or nothing.
 */
static int
tls_ocsp_io(void *ctx, const char *url, int urlsz, unsigned char *req,
    int reqsz, unsigned char **resp)
{
	struct tls_ocsp_state	*st = ocsp_current;
	struct tls_ocsp_item	*it;
	size_t			 i;

	(void)ctx;
	*resp = NULL;
	if (st == NULL || req == NULL || reqsz <= 0 || url == NULL ||
	    urlsz <= 0)
		return -1;
	for (i = 0; i < st->nitems; i++) {
		it = &st->items[i];
		if (it->reqlen != reqsz || memcmp(it->req, req, reqsz) != 0)
			continue;
		if (!ocsp_rechecking || it->resp == NULL)
			return -1;
		if ((*resp = malloc(it->resplen)) == NULL)
			return -1;
		memcpy(*resp, it->resp, it->resplen);
		return it->resplen;
	}
	if (ocsp_rechecking)
		return -1;	/* not asked during the handshake */
	if (st->nitems == TLS_OCSP_MAXREQ || reqsz > TLS_OCSP_REQ_MAX ||
	    urlsz >= CONF_URL_MAX) {
		st->overflow = 1;	/* stays unknown: never a silent pass */
		return -1;
	}
	it = &st->items[st->nitems];
	if ((it->url = malloc((size_t)urlsz + 1)) == NULL ||
	    (it->req = malloc((size_t)reqsz)) == NULL) {
		free(it->url);
		it->url = NULL;
		st->overflow = 1;	/* out of memory: unknown as well */
		return -1;
	}
	st->nitems++;
	memcpy(it->url, url, urlsz);
	it->url[urlsz] = '\0';
	memcpy(it->req, req, reqsz);
	it->reqlen = reqsz;
	return -1;
}

static void
tls_ocsp_resp_free(void *ctx, unsigned char *resp)
{
	(void)ctx;
	free(resp);
}

/* tls_ocsp_ctx_setup - OCSP on a client context, as the upstream says */
int
tls_ocsp_ctx_setup(WOLFSSL_CTX *ctx, const struct conf_tls *ts,
    char *err, size_t errlen)
{
	int	 opts;

	/*
	 * Stapling needs OCSP on in the certificate manager too: without
	 * it a server that staples nothing passes unnoticed; with it that
	 * case reaches the verify callback as -407 (tested), which is how
	 * "require" tells it apart.  conf_check keeps ocsp off then.
	 */
	if (ts->ocsp_stapling != STAPLING_OFF) {
		if (wolfSSL_CTX_EnableOCSP(ctx, WOLFSSL_OCSP_NO_NONCE) !=
		    WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_EnableOCSPStapling(ctx) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_SetOCSP_Cb(ctx, tls_ocsp_io, tls_ocsp_resp_free,
		    NULL) != WOLFSSL_SUCCESS) {
			(void)snprintf(err, errlen, "cannot enable OCSP stapling");
			return -1;
		}
		return 0;
	}
	if (ts->ocsp == OCSP_OFF)
		return 0;
	opts = WOLFSSL_OCSP_NO_NONCE;
	if (ts->ocsp_chain)
		opts |= WOLFSSL_OCSP_CHECKALL;
	if (ts->ocsp_url[0] != '\0')
		opts |= WOLFSSL_OCSP_URL_OVERRIDE;
	if (wolfSSL_CTX_EnableOCSP(ctx, opts) != WOLFSSL_SUCCESS ||
	    (ts->ocsp_url[0] != '\0' &&
	    wolfSSL_CTX_SetOCSP_OverrideURL(ctx, ts->ocsp_url) !=
	    WOLFSSL_SUCCESS) ||
	    wolfSSL_CTX_SetOCSP_Cb(ctx, tls_ocsp_io, tls_ocsp_resp_free,
	    NULL) != WOLFSSL_SUCCESS) {
		(void)snprintf(err, errlen, "cannot enable OCSP checking");
		return -1;
	}
	return 0;
}

void
tls_ocsp_begin(struct tls_ocsp_state *st)
{
	ocsp_current = st;
}

void
tls_ocsp_end(void)
{
	ocsp_current = NULL;
}

void
tls_ocsp_state_clear(struct tls_ocsp_state *st)
{
	size_t	 i;

	for (i = 0; i < st->nitems; i++) {
		free(st->items[i].resp);
		free(st->items[i].url);
		free(st->items[i].req);
		st->items[i].resp = NULL;
		st->items[i].url = NULL;
		st->items[i].req = NULL;
	}
	st->nitems = 0;
}

/* ocsp_parse_url - "http://host[:port][/path]" into its parts */
static int
ocsp_parse_url(const char *url, char *host, size_t hostlen, unsigned *port,
    const char **path)
{
	const char	*h, *e, *c;
	size_t		 n;
	char		*end;
	unsigned long	 p = 80;

	if (strncmp(url, "http://", 7) != 0)
		return -1;
	h = url + 7;
	e = h + strcspn(h, "/");
	c = memchr(h, ':', e - h);
	n = (c != NULL ? c : e) - h;
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	if (c != NULL) {
		p = strtoul(c + 1, &end, 10);
		if (end != e || p == 0 || p > 65535)
			return -1;
	}
	*port = (unsigned)p;
	*path = *e == '\0' ? "/" : e;
	return 0;
}

/*
 * ocsp_sub_start - post item i's request to its responder.  An item whose
 * request cannot be sent gets no answer: its status stays unknown.
 */
static void
ocsp_sub_start(struct tls_ocsp_fetch *f, struct event_base *base,
    struct evdns_base *dns, size_t i)
{
	struct tls_ocsp_item	*it = &f->st->items[i];
	struct ocsp_sub		*s;
	struct evkeyvalq	*hdr;
	char			 host[CONF_HOST_MAX], len[16];
	const char		*path;
	unsigned		 port;

	if (ocsp_parse_url(it->url, host, sizeof(host), &port, &path) == -1) {
		log_warnx("%016llx tls ocsp: unusable responder URL \"%s\"",
		    (unsigned long long)f->id, it->url);
		return;
	}
	s = &f->sub[f->nsub];
	s->f = f;
	s->idx = i;
	if ((s->conn = evhttp_connection_base_new(base, dns, host,
	    (unsigned short)port)) == NULL)
		return;
	f->nsub++;
	evhttp_connection_set_timeout(s->conn, (int)f->st->timeout);
	evhttp_connection_set_retries(s->conn, 0);
	evhttp_connection_set_max_body_size(s->conn, OCSP_RESP_MAX);
	if ((s->req = evhttp_request_new(ocsp_http_done, s)) == NULL)
		return;
	hdr = evhttp_request_get_output_headers(s->req);
	(void)snprintf(len, sizeof(len), "%d", it->reqlen);
	if (evhttp_add_header(hdr, "Host", host) != 0 ||
	    evhttp_add_header(hdr, "Content-Type",
	    "application/ocsp-request") != 0 ||
	    evhttp_add_header(hdr, "Content-Length", len) != 0 ||
	    evbuffer_add(evhttp_request_get_output_buffer(s->req),
	    it->req, it->reqlen) != 0) {
		evhttp_request_free(s->req);
		s->req = NULL;
		return;
	}
	/*
	 * Counted first: should evhttp report a failure through the callback
	 * before it returns, the count must not wrap.
	 */
	f->running++;
	if (evhttp_make_request(s->conn, s->req, EVHTTP_REQ_POST, path) != 0) {
		if (s->req != NULL)	/* the callback did not run */
			f->running--;
		s->req = NULL;
		return;
	}
	log_debug("%016llx tls ocsp request to %s (%d bytes)",
	    (unsigned long long)f->id, it->url, it->reqlen);
}

/* tls_ocsp_fetch_start - fetch the answers a pending session needs */
struct tls_ocsp_fetch *
tls_ocsp_fetch_start(struct gw_io *io, struct event_base *base,
    struct evdns_base *dns, uint64_t id, tls_ocsp_done_fn *done, void *arg)
{
	struct tls_ocsp_fetch	*f;
	struct timeval		 tv;
	size_t			 i;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	if (tls_io_ocsp(io, &f->ssl, &f->st) == -1 ||
	    (f->ev_done = event_new(base, -1, 0, ocsp_on_done, f)) == NULL ||
	    (f->ev_deadline = evtimer_new(base, ocsp_on_deadline, f)) ==
	    NULL) {
		if (f->ev_done != NULL)
			event_free(f->ev_done);
		free(f);
		return NULL;
	}
	/* conf bounds ocsp_timeout to at least a second */
	tv.tv_sec = f->st->timeout > 0 ? f->st->timeout : 1;
	tv.tv_usec = 0;
	if (evtimer_add(f->ev_deadline, &tv) == -1) {
		event_free(f->ev_deadline);
		event_free(f->ev_done);
		free(f);
		return NULL;
	}
	f->io = io;
	f->id = id;
	f->done = done;
	f->arg = arg;
	for (i = 0; i < f->st->nitems; i++)
		ocsp_sub_start(f, base, dns, i);
	if (f->running == 0)
		event_active(f->ev_done, EV_TIMEOUT, 0);
	return f;
}

/* ocsp_http_done - one answer (or a failure) from evhttp */
static void
ocsp_http_done(struct evhttp_request *req, void *arg)
{
	struct ocsp_sub		*s = arg;
	struct tls_ocsp_fetch	*f = s->f;
	struct tls_ocsp_item	*it = &f->st->items[s->idx];
	struct evbuffer		*b;
	size_t			 n;
	int			 code;

	s->req = NULL;	/* evhttp frees it after we return */
	code = req != NULL ? evhttp_request_get_response_code(req) : 0;
	b = req != NULL ? evhttp_request_get_input_buffer(req) : NULL;
	n = b != NULL ? evbuffer_get_length(b) : 0;
	if (code == 200 && n > 0 && n <= OCSP_RESP_MAX &&
	    (it->resp = malloc(n)) != NULL) {
		(void)evbuffer_remove(b, it->resp, n);
		it->resplen = (int)n;
	} else if (!f->timed_out)
		log_warnx("%016llx tls ocsp: no answer from %s (%s)",
		    (unsigned long long)f->id, it->url, code == 0 ?
		    "unreachable or timed out" : "HTTP error");
	if (--f->running == 0)
		event_active(f->ev_done, EV_TIMEOUT, 0);
}

/*
 * ocsp_on_deadline - ocsp_timeout has passed since the fetch started:
 * whatever has not answered in full by now counts as no answer.
 */
static void
ocsp_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct tls_ocsp_fetch	*f = arg;
	size_t			 i;

	(void)fd;
	(void)what;
	f->timed_out = 1;
	for (i = 0; i < f->nsub; i++)
		if (f->sub[i].req != NULL)
			log_warnx("%016llx tls ocsp: no complete answer from %s "
			    "within ocsp_timeout (%us)", (unsigned long long)f->id,
			    f->st->items[f->sub[i].idx].url, f->st->timeout);
	/* cancelled requests call nothing back: finish from here */
	ocsp_subs_free(f);
	f->running = 0;
	event_active(f->ev_done, EV_TIMEOUT, 0);
}

/* ocsp_subs_free - drop every HTTP connection, cancelling what runs */
static void
ocsp_subs_free(struct tls_ocsp_fetch *f)
{
	size_t	 i;

	for (i = 0; i < f->nsub; i++) {
		if (f->sub[i].req != NULL)
			evhttp_cancel_request(f->sub[i].req);
		f->sub[i].req = NULL;
		if (f->sub[i].conn != NULL)
			evhttp_connection_free(f->sub[i].conn);
		f->sub[i].conn = NULL;
	}
	f->nsub = 0;
}

/*
 * ocsp_recheck - wolfSSL's verdict on the fetched answers: 0 good, else
 * the first error (-360 revoked, -366 unknown, -407 no answer, ...).
 */
static int
ocsp_recheck(struct tls_ocsp_fetch *f)
{
	WOLFSSL_CERT_MANAGER	*cm;
	WOLFSSL_X509_CHAIN	*chain;
	unsigned char		*der;
	int			 i, n, len, r, worst = 0;

	if (f->st->overflow)
		return -407;
	cm = wolfSSL_CTX_GetCertManager(wolfSSL_get_SSL_CTX(f->ssl));
	chain = wolfSSL_get_peer_chain(f->ssl);
	if (cm == NULL || chain == NULL ||
	    (n = wolfSSL_get_chain_count(chain)) <= 0)
		return -407;
	if (!f->st->chain)
		n = 1;
	ocsp_current = f->st;
	ocsp_rechecking = 1;
	for (i = 0; i < n; i++) {
		der = wolfSSL_get_chain_cert(chain, i);
		len = wolfSSL_get_chain_length(chain, i);
		if (der == NULL || len <= 0)
			continue;
		r = wolfSSL_CertManagerCheckOCSP(cm, der, len);
		if (r == WOLFSSL_SUCCESS || r == 0)
			continue;
		/* "revoked" outranks every gap */
		if (worst == 0 || r == -360)
			worst = r;
	}
	ocsp_rechecking = 0;
	ocsp_current = NULL;
	return worst;
}

static void
ocsp_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct tls_ocsp_fetch	*f = arg;
	tls_ocsp_done_fn	*done = f->done;
	void			*darg = f->arg;
	enum gw_fail		 cls = FAIL_NONE;
	char			 why[160];
	int			 r;

	(void)fd;
	(void)what;
	event_free(f->ev_deadline);
	f->ev_deadline = NULL;
	ocsp_subs_free(f);
	r = ocsp_recheck(f);
	tls_ocsp_state_clear(f->st);
	why[0] = '\0';
	if (r == 0) {
		f->st->result = TLS_OCSP_GOOD;
	} else if (tls_verify_class(r) == FAIL_CERT_REVOKED) {
		f->st->result = TLS_OCSP_REVOKED;
		cls = FAIL_CERT_REVOKED;
	} else {
		f->st->result = TLS_OCSP_UNKNOWN;
		if (f->st->mode == OCSP_HARD)
			cls = FAIL_REVOCATION_UNKNOWN;
	}
	if (r != 0)
		(void)snprintf(why, sizeof(why), "OCSP: %s (%d)%s",
		    tls_verify_text(r), r, f->timed_out ?
		    "; ocsp_timeout reached" : "");
	tls_io_ocsp_result(f->io, f->st->result, why);
	event_free(f->ev_done);
	free(f);
	done(darg, cls, why);
}

/* tls_ocsp_fetch_cancel - the session goes away first: nothing is called */
void
tls_ocsp_fetch_cancel(struct tls_ocsp_fetch *f)
{
	if (f == NULL)
		return;
	ocsp_subs_free(f);
	if (f->ev_deadline != NULL)
		event_free(f->ev_deadline);
	event_free(f->ev_done);
	free(f);
}
