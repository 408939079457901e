/*
 * sasl_gssapi.c - SASL GSSAPI (RFC 4752) over MIT krb5's GSS-API, from
 * a client keytab (see sasl_gssapi.h: this file is not pure).
 *
 * The exchange: AUTH GSSAPI with the first context token (the AP-REQ);
 * each 334 with a token goes to gss_init_sec_context until the context
 * is established (the server's AP-REP proves it holds the service key:
 * mutual authentication, required); then the server's wrapped 4-octet
 * security layer offer, answered "no security layer" with the
 * authorization identity (gsslayer.c), wrapped.
 *
 * Credentials: gss_add_cred_from() with the cred store keys
 * "client_keytab" (the keytab, read by the library) and "ccache" (a
 * MEMORY: cache private to the process), so that no environment
 * variable is changed and no ticket is written to disk.  The cache keeps
 * the TGT and the service ticket: later logins reach the KDC only when
 * they expire.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include "auth/gsslayer.h"
#include "auth/sasl_gssapi.h"
#include "util/base64.h"
#include "util/str.h"

#define GSS_TOKEN_MAX	12288	/* a decoded 334 token (AP-REP, offer) */
#define GSS_NAME_MAX	512

enum gss_phase {
	GP_CTX = 0,		/* establishing the context */
	GP_LAYER,		/* waiting for the security layer offer */
	GP_DONE			/* answered the offer: only 235 or 5xx next */
};

struct gss {
	gss_cred_id_t		 cred;
	gss_ctx_id_t		 ctx;
	gss_name_t		 target;
	gss_buffer_desc		 pending;	/* first token, no room at AUTH */
	enum gss_phase		 phase;
	char			 peer[2 * GSS_NAME_MAX + 8];
};

/*
 * The last error text, per thread: the first step runs on gssjob's
 * threads (which copy it before they end), the later ones on the loop.
 */
static _Thread_local char gss_err[1024];

/*
 * The back-off after a KDC that did not answer.  MIT krb5 1.20 waits for
 * an unanswering KDC synchronously, 18 to 27 s measured (UDP and TCP
 * retries): on gssjob's thread, but each such login waits that long
 * and holds a thread.  A failed first step that took GSS_SLOW_FAIL_MS or
 * more (the lock wait not counted) is remembered per principal, and the
 * logins of the next GSS_BACKOFF_SEC fail at once instead of waiting
 * again; a success forgets it.
 *
 * first_mtx serialises the first steps (gssjob runs them on threads):
 * it guards the table, and one principal's memory cache is never filled
 * by two AS exchanges at once (one thread's cache initialisation could
 * drop the other's fresh TGT).  While one step waits on a dead KDC the
 * others wait here, off the loop, and then find the back-off set.
 */
#define GSS_SLOW_FAIL_MS	1000
#define GSS_BACKOFF_SEC		60
#define GSS_BACKOFF_SLOTS	8
static struct gss_backoff {
	char		 principal[256];
	struct timespec	 at;		/* CLOCK_MONOTONIC of the failure */
	long		 ms;		/* how long it stalled */
	char		 why[512];
} backoff[GSS_BACKOFF_SLOTS];
static pthread_mutex_t	first_mtx = PTHREAD_MUTEX_INITIALIZER;

static const char *gss_fail(const char *, OM_uint32, OM_uint32);
static void	gss_status_text(OM_uint32, int, char *, size_t);
static const char *gss_creds(struct gss *, const struct sasl_cred *);
static const char *gss_target(struct gss *, const struct sasl_cred *);
static const char *gss_ctx_step(struct gss *, const unsigned char *, size_t,
		    gss_buffer_t);
static const char *gss_layer(struct gss *, struct sasl_state *,
		    const struct sasl_cred *, const unsigned char *, size_t,
		    char *, size_t);
static const char *gss_b64(const char *, const void *, size_t, char *,
		    size_t);
static void	gss_names(struct gss *);
static const char *gss_backoff_check(const char *);
static void	gss_backoff_note(const char *, const struct timespec *,
		    const char *);

/* the library's words for one status code kind, appended to buf */
static void
gss_status_text(OM_uint32 code, int type, char *buf, size_t len)
{
	OM_uint32	 maj, min, more = 0;
	gss_buffer_desc	 msg;
	size_t		 n;
	int		 i;

	/* bounded: a library in a loop must not hang us */
	for (i = 0; i < 8; i++) {
		maj = gss_display_status(&min, code, type, gss_mech_krb5, &more,
		    &msg);
		if (GSS_ERROR(maj))
			break;
		n = strlen(buf);
		(void)snprintf(buf + n, len - n, "%s%.*s", n > 0 ? ": " : "",
		    (int)msg.length, (const char *)msg.value);
		(void)gss_release_buffer(&min, &msg);
		if (more == 0)
			break;
	}
}

/*
 * gss_fail - "what: major text: minor text" in gss_err.  The minor code
 * carries the Kerberos reason ("Preauthentication failed", "Server not
 * found in Kerberos database", "Cannot contact any KDC"); control
 * characters are replaced, since the text reaches logs and replies.
 */
static const char *
gss_fail(const char *what, OM_uint32 maj, OM_uint32 min)
{
	char	 txt[sizeof(gss_err) - 64];
	size_t	 i, n;

	txt[0] = '\0';
	gss_status_text(maj, GSS_C_GSS_CODE, txt, sizeof(txt));
	if (min != 0) {
		n = strlen(txt);
		gss_status_text(min, GSS_C_MECH_CODE, txt, sizeof(txt));
		if (strlen(txt) == n)
			(void)snprintf(txt + n, sizeof(txt) - n,
			    " (minor status %u)", (unsigned)min);
	}
	for (i = 0; txt[i] != '\0'; i++)
		if ((unsigned char)txt[i] < 0x20 || txt[i] == 0x7f)
			txt[i] = '?';
	(void)snprintf(gss_err, sizeof(gss_err), "%s: %s", what, txt);
	return gss_err;
}

/* gss_creds - the client's credentials: keytab, principal, memory cache */
static const char *
gss_creds(struct gss *g, const struct sasl_cred *cr)
{
	gss_key_value_element_desc	 kv[2];
	gss_key_value_set_desc		 store;
	gss_buffer_desc			 nb;
	gss_name_t			 name = GSS_C_NO_NAME;
	OM_uint32			 maj, min, rmin;
	char				 ccache[GSS_NAME_MAX + 32];
	int				 n;

	n = snprintf(ccache, sizeof(ccache), "MEMORY:smtpgate/%s",
	    cr->principal);
	if (n < 0 || (size_t)n >= sizeof(ccache))
		return "gssapi_principal too long";
	nb.value = (void *)(uintptr_t)cr->principal;
	nb.length = strlen(cr->principal);
	maj = gss_import_name(&min, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
	if (GSS_ERROR(maj))
		return gss_fail("gssapi_principal", maj, min);
	kv[0].key = "client_keytab";
	kv[0].value = cr->keytab;
	kv[1].key = "ccache";
	kv[1].value = ccache;
	store.count = 2;
	store.elements = kv;
	/*
	 * gss_add_cred_from, not gss_acquire_cred_from: the latter (MIT
	 * 1.20's mechglue) drops the Kerberos minor status of a failed AS
	 * exchange, and "Preauthentication failed" is the operator's clue.
	 */
	maj = gss_add_cred_from(&min, GSS_C_NO_CREDENTIAL, name, gss_mech_krb5,
	    GSS_C_INITIATE, GSS_C_INDEFINITE, GSS_C_INDEFINITE, &store,
	    &g->cred, NULL, NULL, NULL);
	(void)gss_release_name(&rmin, &name);	/* min is kept for the text */
	if (GSS_ERROR(maj))
		return gss_fail("cannot use the keytab", maj, min);
	return NULL;
}

/* gss_target - the server's name: smtp@<upstream host> or gssapi_service */
static const char *
gss_target(struct gss *g, const struct sasl_cred *cr)
{
	gss_buffer_desc	 nb;
	OM_uint32	 maj, min;
	char		 svc[GSS_NAME_MAX];
	int		 n;

	if (cr->service != NULL && cr->service[0] != '\0')
		n = snprintf(svc, sizeof(svc), "%s", cr->service);
	else if (cr->host != NULL && cr->host[0] != '\0')
		n = snprintf(svc, sizeof(svc), "smtp@%s", cr->host);
	else
		return "no upstream host name for the service principal";
	if (n < 0 || (size_t)n >= sizeof(svc))
		return "service name too long";
	nb.value = svc;
	nb.length = (size_t)n;
	maj = gss_import_name(&min, &nb, GSS_C_NT_HOSTBASED_SERVICE,
	    &g->target);
	if (GSS_ERROR(maj))
		return gss_fail(svc, maj, min);
	return NULL;
}

/* gss_b64 - prefix and the base64 of raw into out, whole or an error */
static const char *
gss_b64(const char *prefix, const void *raw, size_t len, char *out,
    size_t outlen)
{
	size_t	 plen = strlen(prefix);

	if (plen >= outlen || base64_encode(raw, len, out + plen,
	    outlen - plen) == -1) {
		explicit_bzero(out, outlen);
		return "GSSAPI token too long for an SMTP line";
	}
	memcpy(out, prefix, plen);
	return NULL;
}

static long
gss_ms_since(const struct timespec *t0)
{
	struct timespec	 t1;

	(void)clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)(t1.tv_sec - t0->tv_sec) * 1000 +
	    (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* gss_backoff_check - an error while principal's back-off runs, or NULL */
static const char *
gss_backoff_check(const char *principal)
{
	struct gss_backoff	*b;
	long			 ago;
	size_t			 i;

	for (i = 0; i < GSS_BACKOFF_SLOTS; i++) {
		b = &backoff[i];
		if (b->principal[0] == '\0' ||
		    strcmp(b->principal, principal) != 0)
			continue;
		ago = gss_ms_since(&b->at) / 1000;
		if (ago >= GSS_BACKOFF_SEC)
			return NULL;
		(void)snprintf(gss_err, sizeof(gss_err), "the KDC was not "
		    "asked: the last attempt, %lds ago, stalled %ld ms and "
		    "failed (%s); next try in %lds", ago, b->ms, b->why,
		    GSS_BACKOFF_SEC - ago);
		return gss_err;
	}
	return NULL;
}

/*
 * gss_backoff_note - after the first step: a slow failure starts the
 * principal's back-off (in its slot, a free or the oldest one), a
 * success (why NULL) ends it.
 */
static void
gss_backoff_note(const char *principal, const struct timespec *t0,
    const char *why)
{
	struct gss_backoff	*b, *slot = &backoff[0];
	long			 ms = gss_ms_since(t0);
	size_t			 i;

	for (i = 0; i < GSS_BACKOFF_SLOTS; i++) {
		b = &backoff[i];
		if (strcmp(b->principal, principal) == 0) {
			slot = b;
			break;
		}
		if (b->principal[0] == '\0' || b->at.tv_sec < slot->at.tv_sec)
			slot = b;
	}
	if (why == NULL || ms < GSS_SLOW_FAIL_MS) {
		if (strcmp(slot->principal, principal) == 0)
			memset(slot, 0, sizeof(*slot));
		return;
	}
	if (strlen(principal) >= sizeof(slot->principal))
		return;
	(void)snprintf(slot->principal, sizeof(slot->principal), "%s",
	    principal);
	(void)clock_gettime(CLOCK_MONOTONIC, &slot->at);
	slot->ms = ms;
	(void)snprintf(slot->why, sizeof(slot->why), "%s", why);
}

/* sasl_gssapi_start - see sasl_gssapi.h */
const char *
sasl_gssapi_start(const struct sasl_cred *cr, struct sasl_state *st,
    char *out, size_t outlen)
{
	struct gss	*g;
	struct timespec	 t0;
	const char	*e;
	gss_buffer_desc	 tok = GSS_C_EMPTY_BUFFER;
	OM_uint32	 min;

	if (cr->keytab == NULL || cr->keytab[0] == '\0')
		return "GSSAPI needs gssapi_keytab";
	if (cr->principal == NULL || cr->principal[0] == '\0')
		return "GSSAPI needs gssapi_principal";
	if (st->gss != NULL)
		return "GSSAPI exchange already running";
	if ((g = calloc(1, sizeof(*g))) == NULL)
		return "out of memory";
	g->cred = GSS_C_NO_CREDENTIAL;
	g->ctx = GSS_C_NO_CONTEXT;
	g->target = GSS_C_NO_NAME;
	st->gss = g;
	/* the server must prove it holds the service key (AP-REP) */
	st->need_proof = 1;
	/* the step that may ask the KDC (AS and TGS exchanges) */
	(void)pthread_mutex_lock(&first_mtx);
	if ((e = gss_backoff_check(cr->principal)) == NULL) {
		(void)clock_gettime(CLOCK_MONOTONIC, &t0);
		if ((e = gss_creds(g, cr)) == NULL &&
		    (e = gss_target(g, cr)) == NULL)
			e = gss_ctx_step(g, NULL, 0, &tok);
		gss_backoff_note(cr->principal, &t0, e);
	}
	(void)pthread_mutex_unlock(&first_mtx);
	if (e != NULL)
		return e;
	if (tok.length == 0)
		e = "GSSAPI produced no first token";
	else if (gss_b64("AUTH GSSAPI ", tok.value, tok.length, out,
	    outlen) == NULL) {
		(void)gss_release_buffer(&min, &tok);
		return NULL;
	} else if (snprintf(out, outlen, "AUTH GSSAPI") >= (int)outlen)
		e = "response too long";
	else {
		/* RFC 4954: sent after the server's empty 334 instead */
		g->pending = tok;
		return NULL;
	}
	(void)gss_release_buffer(&min, &tok);
	return e;
}

/*
 * gss_ctx_step - one gss_init_sec_context() call with the server's token
 * (NULL at the start); the next token to send in *tok.  On completion:
 * mutual authentication granted, or the exchange fails.
 */
static const char *
gss_ctx_step(struct gss *g, const unsigned char *in, size_t inlen,
    gss_buffer_t tok)
{
	gss_buffer_desc	 ib;
	OM_uint32	 maj, min, rmin, flags = 0;

	ib.value = (void *)(uintptr_t)in;
	ib.length = inlen;
	maj = gss_init_sec_context(&min, g->cred, &g->ctx, g->target,
	    gss_mech_krb5, GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG, 0,
	    GSS_C_NO_CHANNEL_BINDINGS, in != NULL ? &ib : GSS_C_NO_BUFFER,
	    NULL, tok, &flags, NULL);
	if (GSS_ERROR(maj)) {
		(void)gss_release_buffer(&rmin, tok);
		return gss_fail("gss_init_sec_context", maj, min);
	}
	if (maj & GSS_S_CONTINUE_NEEDED)
		return NULL;
	if ((flags & GSS_C_MUTUAL_FLAG) == 0) {
		(void)gss_release_buffer(&min, tok);
		return "GSSAPI context without mutual authentication: the "
		    "server did not prove it holds the service key";
	}
	if ((flags & GSS_C_INTEG_FLAG) == 0) {
		(void)gss_release_buffer(&min, tok);
		return "GSSAPI context without integrity: the security layer "
		    "offer cannot be checked";
	}
	g->phase = GP_LAYER;
	gss_names(g);
	return NULL;
}

/* gss_names - "client -> target" for the log, from the context */
static void
gss_names(struct gss *g)
{
	gss_name_t	 src = GSS_C_NO_NAME, dst = GSS_C_NO_NAME;
	gss_buffer_desc	 a = GSS_C_EMPTY_BUFFER, b = GSS_C_EMPTY_BUFFER;
	OM_uint32	 maj, min;

	maj = gss_inquire_context(&min, g->ctx, &src, &dst, NULL, NULL, NULL,
	    NULL, NULL);
	if (!GSS_ERROR(maj) &&
	    !GSS_ERROR(gss_display_name(&min, src, &a, NULL)) &&
	    !GSS_ERROR(gss_display_name(&min, dst, &b, NULL)))
		(void)snprintf(g->peer, sizeof(g->peer), "%.*s -> %.*s",
		    (int)a.length, (const char *)a.value, (int)b.length,
		    (const char *)b.value);
	(void)gss_release_buffer(&min, &a);
	(void)gss_release_buffer(&min, &b);
	(void)gss_release_name(&min, &src);
	(void)gss_release_name(&min, &dst);
}

/*
 * gss_layer - the server's wrapped offer: unwrapped with the context's
 * key (so it comes from the server the context authenticated), checked,
 * answered "no security layer" with the authorization identity.
 */
static const char *
gss_layer(struct gss *g, struct sasl_state *st, const struct sasl_cred *cr,
    const unsigned char *in, size_t inlen, char *out, size_t outlen)
{
	unsigned char	 ans[4 + GSSLAYER_AUTHZ_MAX];
	gss_buffer_desc	 ib, plain = GSS_C_EMPTY_BUFFER, wrapped;
	OM_uint32	 maj, min;
	const char	*e;
	uint32_t	 maxsize;
	unsigned	 layers;
	size_t		 n;

	ib.value = (void *)(uintptr_t)in;
	ib.length = inlen;
	maj = gss_unwrap(&min, g->ctx, &ib, &plain, NULL, NULL);
	if (GSS_ERROR(maj))
		return gss_fail("the security layer offer", maj, min);
	e = gsslayer_parse(plain.value, plain.length, &layers, &maxsize);
	(void)gss_release_buffer(&min, &plain);
	if (e != NULL)
		return e;
	if ((e = gsslayer_answer(cr->user, ans, sizeof(ans), &n)) != NULL)
		return e;
	ib.value = ans;
	ib.length = n;
	wrapped.length = 0;
	wrapped.value = NULL;
	maj = gss_wrap(&min, g->ctx, 0, GSS_C_QOP_DEFAULT, &ib, NULL,
	    &wrapped);
	if (GSS_ERROR(maj))
		return gss_fail("gss_wrap", maj, min);
	e = gss_b64("", wrapped.value, wrapped.length, out, outlen);
	(void)gss_release_buffer(&min, &wrapped);
	if (e != NULL)
		return e;
	g->phase = GP_DONE;
	st->proved = 1;
	return NULL;
}

/* sasl_gssapi_step - see sasl_gssapi.h */
const char *
sasl_gssapi_step(int step, const struct sasl_cred *cr, struct sasl_state *st,
    const char *challenge, size_t len, char *out, size_t outlen)
{
	static unsigned char	 dec[GSS_TOKEN_MAX];
	struct gss		*g = st->gss;
	gss_buffer_desc		 tok = GSS_C_EMPTY_BUFFER;
	const char		*e;
	ssize_t			 dlen;
	OM_uint32		 min;

	(void)step;
	if (g == NULL)
		return "no GSSAPI exchange running";
	dlen = base64_decode(challenge, len, dec, sizeof(dec));
	if (dlen < 0)
		return "334 challenge is not base64 (or too long)";
	if (g->pending.length != 0) {
		/* the first token, held back from the AUTH line */
		if (dlen != 0)
			return "a 334 with data before the first GSSAPI token";
		e = gss_b64("", g->pending.value, g->pending.length, out,
		    outlen);
		(void)gss_release_buffer(&min, &g->pending);
		return e;
	}
	switch (g->phase) {
	case GP_CTX:
		if (dlen == 0)
			return "empty 334 while the GSSAPI context is open";
		if ((e = gss_ctx_step(g, dec, (size_t)dlen, &tok)) != NULL)
			return e;
		/* complete with no token left: an empty answer (RFC 4752) */
		e = gss_b64("", tok.value, tok.length, out, outlen);
		(void)gss_release_buffer(&min, &tok);
		return e;
	case GP_LAYER:
		return gss_layer(g, st, cr, dec, (size_t)dlen, out, outlen);
	default:
		return "unexpected 334 after the GSSAPI security layer";
	}
}

/* sasl_gssapi_peer - see sasl_gssapi.h */
const char *
sasl_gssapi_peer(const struct sasl_state *st)
{
	const struct gss	*g = st->gss;

	return g != NULL && g->peer[0] != '\0' ? g->peer : NULL;
}

/* sasl_gssapi_free - see sasl_gssapi.h */
void
sasl_gssapi_free(struct sasl_state *st)
{
	struct gss	*g = st->gss;
	OM_uint32	 min;

	if (g == NULL)
		return;
	if (g->ctx != GSS_C_NO_CONTEXT)
		(void)gss_delete_sec_context(&min, &g->ctx, GSS_C_NO_BUFFER);
	if (g->cred != GSS_C_NO_CREDENTIAL)
		(void)gss_release_cred(&min, &g->cred);
	if (g->target != GSS_C_NO_NAME)
		(void)gss_release_name(&min, &g->target);
	(void)gss_release_buffer(&min, &g->pending);
	explicit_bzero(g, sizeof(*g));
	free(g);
	st->gss = NULL;
}
