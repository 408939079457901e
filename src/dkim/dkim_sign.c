/*
 * dkim_sign - build one DKIM-Signature header for a finished dkim_msg:
 * choose h=, hash the selected header fields and the signature header
 * itself (empty b=, RFC 6376 §3.7), sign, fold.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkim/dkim_local.h"	/* wolfssl/options.h first */

#include "util/base64.h"
#include "util/str.h"

#define FOLD_COL	76	/* lines stay under 78 columns */
#define TAG_VALUE_MAX	320	/* d=, s=, i=, a header name: tok[] holds it */
/* entries in h=; more instances of signed fields: refused, never cut */
#define HLIST_MAX	128

const char *const dkim_default_headers[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", NULL
};

/* the header text under construction, with its current column */
struct hbuf {
	char	*p;
	size_t	 len, cap;
	size_t	 col;
	int	 overflow;
};

static void	hb_raw(struct hbuf *, const char *, size_t);
static void	hb_token(struct hbuf *, const char *, int);
static int	listed(const char *const *, size_t, const char *);
static int	tag_safe(const char *, const char *);
static size_t	count_fields(const struct dkim_msg *, const char *);
static int	hash_canon(wc_Sha256 *, enum dkim_canon, const char *, size_t,
		    int);

static void
hb_raw(struct hbuf *h, const char *s, size_t n)
{
	size_t i;

	if (h->len + n + 1 > h->cap) {
		h->overflow = 1;
		return;
	}
	memcpy(h->p + h->len, s, n);
	h->len += n;
	h->p[h->len] = '\0';
	for (i = 0; i < n; i++)
		h->col = (s[i] == '\n') ? 0 : h->col + 1;
}

/*
 * Append a token, folding first if it would pass the limit.  With space,
 * a single SP separates it from the previous token on the same line.
 */
static void
hb_token(struct hbuf *h, const char *s, int space)
{
	size_t n = strlen(s);

	if (h->col + (space ? 1 : 0) + n > FOLD_COL && h->col > 1)
		hb_raw(h, "\r\n\t", 3);
	else if (space)
		hb_raw(h, " ", 1);
	hb_raw(h, s, n);
}

static int
listed(const char *const *list, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcasecmp(list[i], name) == 0)
			return 1;
	return 0;
}

/*
 * A tag value must not end the tag or the header (no blanks, controls,
 * ';', nor the characters in bad), and must fit a token buffer.
 */
static int
tag_safe(const char *v, const char *bad)
{
	if (*v == '\0' || strlen(v) > TAG_VALUE_MAX)
		return 0;
	for (; *v; v++)
		if ((unsigned char)*v <= ' ' || *v == ';' || *v == 0x7f ||
		    strchr(bad, *v) != NULL)
			return 0;
	return 1;
}

static size_t
count_fields(const struct dkim_msg *m, const char *name)
{
	size_t i, n = 0, len = strlen(name);

	for (i = 0; i < m->nfields; i++)
		if (m->fields[i].namelen == len &&
		    strncasecmp(m->hdr + m->fields[i].off, name, len) == 0)
			n++;
	return n;
}

/* hash one header field canonicalised; strip: no final CRLF (§3.7) */
static int
hash_canon(wc_Sha256 *sha, enum dkim_canon c, const char *p, size_t n,
    int strip)
{
	char stackbuf[1024], *buf = stackbuf;
	long len;
	int rc = -1;

	if (n + 3 > sizeof stackbuf && (buf = malloc(n + 3)) == NULL)
		return -1;
	len = dkim_canon_header(c, p, n, buf, n + 3);
	if (len >= 0) {
		if (strip && len >= 2)
			len -= 2;
		if (wc_Sha256Update(sha, (const byte *)buf, (word32)len) == 0)
			rc = 0;
	}
	if (buf != stackbuf)
		free(buf);
	return rc;
}

/*
 * sign_check - the message is complete and signable, and the signer's
 * values are safe to put into the header as they are; 0, or the error
 * dkim_msg_sign returns with err set
 */
static int
sign_check(const struct dkim_msg *m, const struct dkim_signer *s, char *err,
    size_t errlen)
{
	size_t i;

	if (m->state != DKIM_MSG_DONE || m->from_why != NULL) {
		snprintf(err, errlen, "message not signable: %s",
		    m->state == DKIM_MSG_UNSIGNABLE ? m->why :
		    m->from_why ? m->from_why : "incomplete");
		/* "incomplete" is the caller's mistake, not the message's */
		return m->state == DKIM_MSG_UNSIGNABLE || m->from_why != NULL ?
		    DKIM_ERR_MESSAGE : -1;
	}
	if (s->key == NULL || s->domain == NULL || s->selector == NULL) {
		snprintf(err, errlen, "signer without key, domain or selector");
		return -1;
	}
	if (!(m->canons & (1u << s->bcanon))) {
		snprintf(err, errlen, "body not hashed in %s canonicalization",
		    dkim_canon_name(s->bcanon));
		return -1;
	}
	if (s->nheaders > DKIM_MAX_HEADERS || s->noversign > DKIM_MAX_HEADERS) {
		snprintf(err, errlen, "too many header names configured");
		return -1;
	}
	/* values go into the header as they are: nothing that breaks it */
	if (!tag_safe(s->domain, "=") || !tag_safe(s->selector, "=")) {
		snprintf(err, errlen, "bad domain or selector");
		return -1;
	}
	if (s->identity != NULL && s->identity[0] != '\0') {
		const char *at = strrchr(s->identity, '@');

		/* RFC 6376 §3.5: i= is in d= or one of its subdomains */
		if (!tag_safe(s->identity, "")) {
			/* not echoed: it may hold control characters */
			snprintf(err, errlen, "bad identity");
			return -1;
		}
		if (at == NULL || !dkim_domain_match(at + 1, s->domain, 1)) {
			snprintf(err, errlen, "identity %s is not an address "
			    "in %s", s->identity, s->domain);
			return -1;
		}
	}
	for (i = 0; i < s->nheaders; i++)
		if (!tag_safe(s->headers[i], ":")) {
			snprintf(err, errlen, "bad header name");
			return -1;
		}
	for (i = 0; i < s->noversign; i++)
		if (!tag_safe(s->oversign[i], ":")) {
			snprintf(err, errlen, "bad header name");
			return -1;
		}
	return 0;
}

/*
 * sign_hlist - h=: From always (RFC 6376 §5.4 requires it), then the
 * configured names present in the message, each once per instance, plus
 * once more when oversigned; oversigned names not configured come last.
 * The count into *nh; 0, or DKIM_ERR_MESSAGE with err set.
 */
static int
sign_hlist(const struct dkim_msg *m, const struct dkim_signer *s,
    const char **hlist, size_t *nh, char *err, size_t errlen)
{
	const char *names[2 * DKIM_MAX_HEADERS + 1];
	size_t nn = 0, k, cnt, t;

	*nh = 0;
	if (!listed(s->headers, s->nheaders, "From"))
		names[nn++] = "From";
	for (k = 0; k < s->nheaders; k++)
		names[nn++] = s->headers[k];
	for (k = 0; k < s->noversign; k++)
		if (!listed(names, nn, s->oversign[k]))
			names[nn++] = s->oversign[k];
	for (k = 0; k < nn; k++) {
		if (!s->sign_date && strcasecmp(names[k], "Date") == 0)
			continue;
		if (!s->sign_message_id &&
		    strcasecmp(names[k], "Message-ID") == 0)
			continue;
		if (listed(names, k, names[k]))
			continue;	/* listed twice in config */
		cnt = count_fields(m, names[k]);
		if (listed(s->oversign, s->noversign, names[k]))
			cnt++;
		for (t = 0; t < cnt; t++) {
			if (*nh == HLIST_MAX) {
				snprintf(err, errlen,
				    "too many header fields to sign");
				return DKIM_ERR_MESSAGE;
			}
			hlist[(*nh)++] = names[k];
		}
	}
	return 0;
}

/*
 * sign_head - the header up to "b=", folded, into h; 0, or the error
 * dkim_msg_sign returns with err set
 */
static int
sign_head(struct hbuf *h, const struct dkim_msg *m,
    const struct dkim_signer *s, time_t now, const char *const *hlist,
    size_t nh, char *err, size_t errlen)
{
	/* tok holds the longest value tag_safe lets through (TAG_VALUE_MAX) */
	char tok[512], b64[64];
	ssize_t b64len;
	size_t i;

	hb_raw(h, "DKIM-Signature:", 15);
	snprintf(tok, sizeof tok, "v=1; a=%s;", dkim_alg_name(s->key->alg));
	hb_token(h, tok, 1);
	snprintf(tok, sizeof tok, "c=%s/%s;", dkim_canon_name(s->hcanon),
	    dkim_canon_name(s->bcanon));
	hb_token(h, tok, 1);
	snprintf(tok, sizeof tok, "d=%s;", s->domain);
	hb_token(h, tok, 1);
	snprintf(tok, sizeof tok, "s=%s;", s->selector);
	hb_token(h, tok, 1);
	snprintf(tok, sizeof tok, "t=%lld;", (long long)now);
	hb_token(h, tok, 1);
	if (s->expire > 0) {
		snprintf(tok, sizeof tok, "x=%lld;",
		    (long long)now + (long long)s->expire);
		hb_token(h, tok, 1);
	}
	if (s->identity != NULL && s->identity[0] != '\0') {
		snprintf(tok, sizeof tok, "i=%s;", s->identity);
		hb_token(h, tok, 1);
	}
	for (i = 0; i < nh; i++) {
		/* FWS is allowed around the colons of h= */
		snprintf(tok, sizeof tok, "%s%s%s", i == 0 ? "h=" : "",
		    hlist[i], i + 1 == nh ? ";" : ":");
		hb_token(h, tok, i == 0);
	}
	if ((b64len = base64_encode(m->bh[s->bcanon], WC_SHA256_DIGEST_SIZE,
	    b64, sizeof b64)) == -1) {
		snprintf(err, errlen, "base64 failure");
		return -1;
	}
	snprintf(tok, sizeof tok, "bh=%.*s;", (int)b64len, b64);
	hb_token(h, tok, 1);
	/* some of b='s value stays on its line: verifiers blank it there */
	if (h->col + 1 + 2 + 8 > FOLD_COL)
		hb_raw(h, "\r\n\tb=", 5);
	else
		hb_token(h, "b=", 1);
	if (h->overflow) {
		snprintf(err, errlen, "signature header too long");
		return DKIM_ERR_MESSAGE;
	}
	return 0;
}

/*
 * sign_hash - the header hash: the selected fields bottom-up, then the
 * signature's own header up to "b=" (without its CR LF); 0, or -1 with
 * err set
 */
static int
sign_hash(const struct dkim_msg *m, const struct dkim_signer *s,
    const char *const *hlist, size_t nh, const struct hbuf *h,
    unsigned char *digest, char *err, size_t errlen)
{
	wc_Sha256 sha;
	size_t i, j, skip, len;
	int hash_err = 0;

	if (wc_InitSha256(&sha) != 0) {
		snprintf(err, errlen, "hash init failure");
		return -1;
	}
	for (i = 0; i < nh; i++) {
		skip = 0;
		len = strlen(hlist[i]);
		/* the n-th time a name appears, the n-th instance from below */
		for (j = 0; j < i; j++)
			if (strcasecmp(hlist[j], hlist[i]) == 0)
				skip++;
		for (j = m->nfields; j > 0; j--) {
			const struct dkim_field *f = &m->fields[j - 1];

			if (f->namelen != len || strncasecmp(m->hdr + f->off,
			    hlist[i], len) != 0)
				continue;
			if (skip-- == 0) {
				if (hash_canon(&sha, s->hcanon,
				    m->hdr + f->off, f->len, 0) == -1)
					hash_err = 1;
				break;
			}
		}
		/* none left: a non-existent field hashes as nothing */
	}
	if (hash_canon(&sha, s->hcanon, h->p, h->len, 1) == -1)
		hash_err = 1;
	if (hash_err || wc_Sha256Final(&sha, digest) != 0) {
		wc_Sha256Free(&sha);
		snprintf(err, errlen, "hash failure");
		return -1;
	}
	wc_Sha256Free(&sha);
	return 0;
}

/* sign_b - the signature, base64, folded into b= to fill each line */
static void
sign_b(struct hbuf *h, const char *b64, size_t b64len)
{
	size_t i, room;

	for (i = 0; i < b64len; ) {
		room = h->col < FOLD_COL ? FOLD_COL - h->col : 0;
		if (room == 0) {
			hb_raw(h, "\r\n\t", 3);
			continue;
		}
		if (room > b64len - i)
			room = b64len - i;
		hb_raw(h, b64 + i, room);
		i += room;
	}
	hb_raw(h, "\r\n", 2);
}

int
dkim_msg_sign(const struct dkim_msg *m, const struct dkim_signer *s,
    time_t now, char *out, size_t outlen, char *err, size_t errlen)
{
	const char *hlist[HLIST_MAX];
	size_t nh;
	struct hbuf h = { out, 0, outlen, 0, 0 };
	/* sig and b64 hold an RSA-8192 signature, the largest key loaded */
	char b64[1400];
	unsigned char digest[WC_SHA256_DIGEST_SIZE], sig[1024];
	ssize_t b64len;
	int siglen, rc;

	if ((rc = sign_check(m, s, err, errlen)) != 0 ||
	    (rc = sign_hlist(m, s, hlist, &nh, err, errlen)) != 0 ||
	    (rc = sign_head(&h, m, s, now, hlist, nh, err, errlen)) != 0)
		return rc;
	if (sign_hash(m, s, hlist, nh, &h, digest, err, errlen) == -1)
		return -1;
	if ((siglen = dkim_key_sign(s->key, digest, sig, sizeof sig)) < 0) {
		snprintf(err, errlen, "signing failed");
		return -1;
	}
	if ((b64len = base64_encode(sig, (size_t)siglen, b64,
	    sizeof b64)) == -1) {
		snprintf(err, errlen, "base64 failure");
		return -1;
	}
	sign_b(&h, b64, (size_t)b64len);
	if (h.overflow) {
		snprintf(err, errlen, "signature header too long");
		return DKIM_ERR_MESSAGE;
	}
	return 0;
}

int
dkim_canon_parse(const char *s, enum dkim_canon *h, enum dkim_canon *b)
{
	char hs[16];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);

	if (n == 0 || n >= sizeof hs)
		return -1;
	memcpy(hs, s, n);
	hs[n] = '\0';
	if (str_ieq(hs, "simple"))
		*h = DKIM_CANON_SIMPLE;
	else if (str_ieq(hs, "relaxed"))
		*h = DKIM_CANON_RELAXED;
	else
		return -1;
	if (slash == NULL) {
		/* RFC 6376 §3.5: a lone algorithm is for the header, body simple */
		*b = DKIM_CANON_SIMPLE;
		return 0;
	}
	if (str_ieq(slash + 1, "simple"))
		*b = DKIM_CANON_SIMPLE;
	else if (str_ieq(slash + 1, "relaxed"))
		*b = DKIM_CANON_RELAXED;
	else
		return -1;
	return 0;
}

const char *
dkim_canon_name(enum dkim_canon c)
{
	return c == DKIM_CANON_RELAXED ? "relaxed" : "simple";
}

const char *
dkim_alg_name(enum dkim_alg a)
{
	return a == DKIM_ED25519_SHA256 ? "ed25519-sha256" : "rsa-sha256";
}

int
dkim_domain_match(const char *from, const char *dom, int subdomains)
{
	size_t fl = strlen(from), dl = strlen(dom);

	if (dl == 0)
		return 0;
	if (fl == dl)
		return strcasecmp(from, dom) == 0;
	/* "a.example.com" under "example.com": a dot right before it */
	return subdomains && fl > dl + 1 && from[fl - dl - 1] == '.' &&
	    strcasecmp(from + fl - dl, dom) == 0;
}
