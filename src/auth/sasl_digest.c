/*
 * sasl_digest.c - the client side of DIGEST-MD5 (RFC 2831): qop=auth
 * only (no integrity or confidentiality layer), no authzid, the realm the
 * server names first, digest-uri "smtp/<host>", and the server's rspauth
 * checked before a 235 is taken.
 *
 * User names, passwords and realms are limited to ASCII: RFC 2831 would
 * have UTF-8 text that fits ISO 8859-1 converted before hashing, and
 * that conversion is not implemented; refused with a clear error.
 */
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/md5.h>

#include "auth/sasl_mech.h"

#define DIGEST_VAL_MAX	256	/* a nonce, a realm */

/* the directives of the first challenge that matter */
struct digest_chal {
	char	 realm[DIGEST_VAL_MAX];
	char	 nonce[DIGEST_VAL_MAX];
	int	 nnonce;
	int	 qop_auth;	/* qop lists auth, or no qop at all */
	int	 md5sess;	/* algorithm=md5-sess */
	int	 utf8;		/* charset=utf-8 */
};

static const char	 hexd[] = "0123456789abcdef";

static void
digest_hex(const unsigned char *d, size_t n, char *out)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hexd[d[i] >> 4];
		out[2 * i + 1] = hexd[d[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

/* digest_ascii - printable ASCII, or the refusal what */
static const char *
digest_ascii(const char *s, const char *what)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return what;
	return NULL;
}

/*
 * digest_pair - the next "key=value" (value a token or a quoted-string)
 * of a directive list.  1 for a pair, 0 at the end, -1 on a syntax error.
 */
static int
digest_pair(const char **pp, const char *end, char *key, size_t klen,
    char *val, size_t vlen)
{
	const char	*p = *pp;
	size_t		 k = 0, v = 0;

	while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
		p++;
	if (p == end)
		return 0;
	while (p < end && *p != '=' && *p != ',' && *p != ' ') {
		if (k + 1 >= klen)
			return -1;
		key[k++] = *p++;
	}
	key[k] = '\0';
	if (k == 0 || p == end || *p++ != '=')
		return -1;
	if (p < end && *p == '"') {
		for (p++; p < end && *p != '"'; p++) {
			if (*p == '\\' && ++p == end)
				return -1;
			if ((unsigned char)*p < 0x20 || *p == 0x7f ||
			    v + 1 >= vlen)
				return -1;
			val[v++] = *p;
		}
		if (p == end)
			return -1;
		p++;
	} else
		while (p < end && *p != ',' && *p != ' ' && *p != '\t') {
			if ((unsigned char)*p < 0x21 || *p == 0x7f ||
			    v + 1 >= vlen)
				return -1;
			val[v++] = *p++;
		}
	val[v] = '\0';
	*pp = p;
	return 1;
}

/* qop="auth,auth-int": is auth among them? */
static int
digest_has_auth(const char *list)
{
	const char	*p = list;
	size_t		 n;

	while (*p != '\0') {
		p += strspn(p, " \t,");
		n = strcspn(p, " \t,");
		if (n == 4 && strncasecmp(p, "auth", 4) == 0)
			return 1;
		p += n;
	}
	return 0;
}

/* digest_parse - the first challenge's directives */
static const char *
digest_parse(const unsigned char *msg, size_t len, struct digest_chal *c)
{
	const char	*p = (const char *)msg, *end = p + len;
	char		 key[32], val[DIGEST_VAL_MAX];
	int		 r, qop = 0;

	memset(c, 0, sizeof(*c));
	while ((r = digest_pair(&p, end, key, sizeof(key), val,
	    sizeof(val))) == 1) {
		if (strcasecmp(key, "realm") == 0 && c->realm[0] == '\0')
			memcpy(c->realm, val, strlen(val) + 1);
		else if (strcasecmp(key, "nonce") == 0) {
			memcpy(c->nonce, val, strlen(val) + 1);
			c->nnonce++;
		} else if (strcasecmp(key, "qop") == 0) {
			qop = 1;
			c->qop_auth |= digest_has_auth(val);
		} else if (strcasecmp(key, "algorithm") == 0)
			c->md5sess = strcasecmp(val, "md5-sess") == 0;
		else if (strcasecmp(key, "charset") == 0)
			c->utf8 = strcasecmp(val, "utf-8") == 0;
	}
	if (r == -1)
		return "DIGEST-MD5: bad challenge syntax";
	if (!qop)
		c->qop_auth = 1;	/* RFC 2831: the default is auth */
	if (c->nnonce != 1 || c->nonce[0] == '\0')
		return "DIGEST-MD5: the challenge needs exactly one nonce";
	if (!c->md5sess)
		return "DIGEST-MD5: the challenge lacks algorithm=md5-sess";
	if (!c->qop_auth)
		return "DIGEST-MD5: the server does not offer qop=auth";
	return digest_ascii(c->realm, "DIGEST-MD5: non-ASCII realm");
}

/* MD5 over the pieces (NULL-terminated list), binary into d */
static const char *
digest_md5(unsigned char d[WC_MD5_DIGEST_SIZE], const char *const *pieces,
    const unsigned char *bin, size_t binlen)
{
	wc_Md5		 m;
	const char	*e = NULL;

	if (wc_InitMd5(&m) != 0)
		return "MD5 unavailable";
	if (bin != NULL && wc_Md5Update(&m, bin, (word32)binlen) != 0)
		e = "MD5 failed";
	for (; e == NULL && *pieces != NULL; pieces++)
		if (wc_Md5Update(&m, (const byte *)*pieces,
		    (word32)strlen(*pieces)) != 0)
			e = "MD5 failed";
	if (e == NULL && wc_Md5Final(&m, d) != 0)
		e = "MD5 failed";
	wc_Md5Free(&m);
	explicit_bzero(&m, sizeof(m));
	return e;
}

/*
 * digest_kd - hex(MD5(HA1 ":" nonce ":00000001:" cnonce ":auth:" HA2)),
 * HA2 the MD5 of a2pre and uri: the response and the rspauth differ in
 * a2pre only ("AUTHENTICATE:" and ":").
 */
static const char *
digest_kd(const char *ha1, const char *nonce, const char *cnonce,
    const char *a2pre, const char *uri, char out[33])
{
	unsigned char	 d[WC_MD5_DIGEST_SIZE];
	char		 ha2[33];
	const char	*a2[] = { a2pre, uri, NULL };
	const char	*kd[] = { ha1, ":", nonce, ":00000001:", cnonce,
	    ":auth:", ha2, NULL };
	const char	*e;

	if ((e = digest_md5(d, a2, NULL, 0)) != NULL)
		return e;
	digest_hex(d, sizeof(d), ha2);
	if ((e = digest_md5(d, kd, NULL, 0)) != NULL)
		return e;
	digest_hex(d, sizeof(d), out);
	return NULL;
}

/* value quoted for a quoted-string: '"' and '\' escaped */
static int
digest_quote(char *out, size_t outlen, size_t *o, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*o + 3 >= outlen)
			return -1;
		if (*v == '"' || *v == '\\')
			out[(*o)++] = '\\';
		out[(*o)++] = *v;
	}
	out[*o] = '\0';
	return 0;
}

/* digest_start - see sasl_mech.h */
const char *
digest_start(const struct sasl_cred *cr, struct sasl_state *st, char *out,
    size_t outlen)
{
	const char	*e;
	int		 n;

	if ((e = digest_ascii(cr->user, "DIGEST-MD5: the user name is not "
	    "printable ASCII")) != NULL || (e = digest_ascii(cr->password,
	    "DIGEST-MD5: the password is not printable ASCII")) != NULL)
		return e;
	st->need_proof = 1;
	st->proved = 0;
	n = snprintf(out, outlen, "AUTH DIGEST-MD5");
	return n < 0 || (size_t)n >= outlen ? "response too long" : NULL;
}

/* the response directives, in RFC 2831's example order */
static const char *
digest_format(const struct digest_chal *c, const struct sasl_cred *cr,
    const char *cnonce, const char *uri, const char *resp, char *out,
    size_t outlen)
{
	size_t	 o = 0;
	int	 n, bad = 0;

	n = snprintf(out, outlen, "%susername=\"", c->utf8 ?
	    "charset=utf-8," : "");
	if (n < 0 || (size_t)n >= outlen)
		return "response too long";
	o = (size_t)n;
	bad |= digest_quote(out, outlen, &o, cr->user);
	if (c->realm[0] != '\0') {
		n = snprintf(out + o, outlen - o, "\",realm=\"");
		o += n > 0 ? (size_t)n : 0;
		bad |= o >= outlen || digest_quote(out, outlen, &o, c->realm);
	}
	if (!bad) {
		n = snprintf(out + o, outlen - o, "\",nonce=\"");
		o += n > 0 ? (size_t)n : 0;
		bad |= o >= outlen || digest_quote(out, outlen, &o, c->nonce);
	}
	if (!bad) {
		n = snprintf(out + o, outlen - o, "\",nc=00000001,"
		    "cnonce=\"%s\",digest-uri=\"%s\",response=%s,qop=auth",
		    cnonce, uri, resp);
		bad |= n < 0 || (size_t)n >= outlen - o;
	}
	return bad ? "response too long" : NULL;
}

/* digest_response - see sasl_mech.h */
const char *
digest_response(const char *serv, const struct sasl_cred *cr,
    const char *cnonce, struct sasl_state *st, const unsigned char *msg,
    size_t len, char *out, size_t outlen)
{
	struct digest_chal	 c;
	unsigned char		 h[WC_MD5_DIGEST_SIZE];
	char			 uri[300], ha1[33], resp[33];
	const char		*e;
	const char		*a1[] = { ":", NULL, ":", NULL, NULL };
	const char		*up[] = { NULL, ":", NULL, ":", NULL, NULL };
	int			 n;

	if ((e = digest_parse(msg, len, &c)) != NULL)
		return e;
	if (cr->host == NULL || *cr->host == '\0' ||
	    digest_ascii(cr->host, "x") != NULL || strchr(cr->host, '"'))
		return "DIGEST-MD5: no host name for the digest-uri";
	n = snprintf(uri, sizeof(uri), "%s/%s", serv, cr->host);
	if (n < 0 || (size_t)n >= sizeof(uri))
		return "DIGEST-MD5: host name too long";
	/* A1 = H(user ":" realm ":" password) ":" nonce ":" cnonce */
	up[0] = cr->user;
	up[2] = c.realm;
	up[4] = cr->password;
	a1[1] = c.nonce;
	a1[3] = cnonce;
	if ((e = digest_md5(h, up, NULL, 0)) == NULL &&
	    (e = digest_md5(h, a1, h, sizeof(h))) == NULL) {
		digest_hex(h, sizeof(h), ha1);
		if ((e = digest_kd(ha1, c.nonce, cnonce, "AUTHENTICATE:", uri,
		    resp)) == NULL)
			e = digest_kd(ha1, c.nonce, cnonce, ":", uri,
			    st->digest_rspauth);
	}
	if (e == NULL)
		e = digest_format(&c, cr, cnonce, uri, resp, out, outlen);
	explicit_bzero(h, sizeof(h));
	explicit_bzero(ha1, sizeof(ha1));
	return e;
}

/* digest_rspauth - the second challenge: rspauth= must be ours */
static const char *
digest_rspauth(struct sasl_state *st, const unsigned char *msg, size_t len,
    char *out, size_t outlen)
{
	const char	*p = (const char *)msg, *end = p + len;
	char		 key[32], val[DIGEST_VAL_MAX];
	unsigned char	 diff = 0;
	int		 r, got = 0;
	size_t		 i;

	while ((r = digest_pair(&p, end, key, sizeof(key), val,
	    sizeof(val))) == 1)
		if (strcasecmp(key, "rspauth") == 0) {
			if (got++ || strlen(val) != 32)
				return "DIGEST-MD5: bad rspauth";
			for (i = 0; i < 32; i++)
				diff |= (unsigned char)(val[i] ^
				    st->digest_rspauth[i]);
		}
	if (r == -1 || !got)
		return "DIGEST-MD5: no rspauth in the second challenge";
	if (diff != 0 || st->digest_rspauth[0] == '\0')
		return "DIGEST-MD5: the server's rspauth is wrong";
	st->proved = 1;
	if (outlen < 1)
		return "response too long";
	out[0] = '\0';
	return NULL;
}

/* digest_step - see sasl_mech.h */
const char *
digest_step(int step, const struct sasl_cred *cr, struct sasl_state *st,
    const unsigned char *msg, size_t len, char *out, size_t outlen)
{
	char		 raw[SASL_LINE_MAX / 2], cnonce[33];
	const char	*e;

	if (!st->need_proof)
		return "DIGEST-MD5: a challenge before the start";
	switch (step) {
	case 0:
		digest_hex(st->rnd, 16, cnonce);
		e = digest_response("smtp", cr, cnonce, st, msg, len, raw,
		    sizeof(raw));
		if (e == NULL)
			e = sasl_b64_line("", (unsigned char *)raw, strlen(raw),
			    out, outlen);
		explicit_bzero(raw, sizeof(raw));
		return e;
	case 1:
		return digest_rspauth(st, msg, len, out, outlen);
	default:
		return "unexpected 334 after rspauth";
	}
}
