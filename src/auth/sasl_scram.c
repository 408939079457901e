/*
 * sasl_scram.c - the client side of SCRAM-SHA-1 (RFC 5802) and
 * SCRAM-SHA-256 (RFC 7677), without channel binding (gs2 header "n,,").
 *
 * The server proves it knows the password with its v= signature; until
 * that checked out st->proved stays 0 and the caller refuses a 235.
 *
 * SASLprep (RFC 4013) is not implemented: for ASCII it is the identity
 * apart from refusing control characters, so the user name and password
 * are limited to printable ASCII and anything else is refused with a
 * clear error rather than sent unprepared (a server would reject the
 * proof, and the failed login would count against the account).
 */
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>

#include "auth/sasl_mech.h"
#include "util/base64.h"

#define SCRAM_HMAX	WC_SHA256_DIGEST_SIZE

static const char *scram_ascii(const char *, const char *);
static const char *scram_hmac(int, const unsigned char *, size_t,
		    const void *, size_t, unsigned char *);
static const char *scram_keys(int, const char *, const unsigned char *,
		    size_t, long, struct sasl_state *, unsigned char *);
static const char *scram_server_first(struct sasl_state *,
		    const unsigned char *, size_t, const char **, size_t *,
		    unsigned char *, size_t *, long *);
static const char *scram_final(struct sasl_state *, const unsigned char *,
		    size_t, char *, size_t);

static int
scram_hash(int mech)
{
	return mech == AUTH_MECH_SCRAM_SHA_256 ? WC_SHA256 : WC_SHA;
}

static size_t
scram_hlen(int mech)
{
	return mech == AUTH_MECH_SCRAM_SHA_256 ? WC_SHA256_DIGEST_SIZE :
	    WC_SHA_DIGEST_SIZE;
}

/* printable ASCII only: SASLprep's identity range (see the top) */
static const char *
scram_ascii(const char *s, const char *what)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return what;
	return NULL;
}

/* HMAC with the mechanism's hash; key and output up to SCRAM_HMAX */
static const char *
scram_hmac(int type, const unsigned char *key, size_t klen, const void *d,
    size_t dlen, unsigned char *out)
{
	Hmac		 h;
	const char	*e = NULL;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return "HMAC unavailable";
	if (wc_HmacSetKey(&h, type, key, (word32)klen) != 0 ||
	    wc_HmacUpdate(&h, d, (word32)dlen) != 0 ||
	    wc_HmacFinal(&h, out) != 0)
		e = "HMAC failed";
	wc_HmacFree(&h);
	explicit_bzero(&h, sizeof(h));
	return e;
}

/* scram_cnonce - see sasl_mech.h */
void
scram_cnonce(const struct sasl_state *st, char out[25])
{
	/* 18 octets are 24 base64 characters, no '=' and never ',' */
	if (base64_encode(st->rnd, 18, out, 25) == -1)
		out[0] = '\0';
}

/* scram_start - see sasl_mech.h */
const char *
scram_start(int mech, const struct sasl_cred *cr, const char *cnonce,
    struct sasl_state *st, char *out, size_t outlen)
{
	unsigned char	 raw[SASL_SCRAM_MSG_MAX + 3];
	char		 user[SASL_USER_MAX * 3 + 1], pre[32];
	const char	*e;
	int		 n;

	if ((e = scram_ascii(cr->user, "SCRAM: the user name is not "
	    "printable ASCII (SASLprep is not implemented)")) != NULL ||
	    (e = scram_ascii(cr->password, "SCRAM: the password is not "
	    "printable ASCII (SASLprep is not implemented)")) != NULL)
		return e;
	if (*cnonce == '\0' || strchr(cnonce, ',') != NULL)
		return "SCRAM: bad client nonce";
	if ((e = sasl_esc_saslname(cr->user, user, sizeof(user))) != NULL)
		return e;
	n = snprintf(st->scram_msg, sizeof(st->scram_msg), "n=%s,r=%s", user,
	    cnonce);
	if (n < 0 || (size_t)n >= sizeof(st->scram_msg))
		return "SCRAM: user name too long";
	st->scram_msglen = st->scram_barelen = (size_t)n;
	st->need_proof = 1;
	st->proved = 0;
	/* the initial response: gs2 header "n,," (no channel binding) */
	n = snprintf(pre, sizeof(pre), "AUTH %s ", auth_mech_name(mech));
	if (n < 0 || (size_t)n >= sizeof(pre))
		return "response too long";
	memcpy(raw, "n,,", 3);
	memcpy(raw + 3, st->scram_msg, st->scram_msglen);
	return sasl_b64_line(pre, raw, 3 + st->scram_msglen, out, outlen);
}

/*
 * scram_server_first - check r= (our nonce, extended), s= and i=, and
 * append the message to the auth message.  The nonce is returned as a
 * pointer into msg.
 */
static const char *
scram_server_first(struct sasl_state *st, const unsigned char *msg,
    size_t len, const char **nonce, size_t *nlen, unsigned char *salt,
    size_t *slen, long *iter)
{
	const char	*m = (const char *)msg, *p, *end = m + len, *cn;
	size_t		 cnlen, i;
	ssize_t		 sl;
	long		 it = 0;

	if (memchr(m, '\0', len) != NULL)
		return "SCRAM: NUL in the server-first message";
	if (len >= 2 && memcmp(m, "m=", 2) == 0)
		return "SCRAM: mandatory extension (m=) not supported";
	if (len < 2 || memcmp(m, "r=", 2) != 0)
		return "SCRAM: server-first does not start with r=";
	/* our nonce is after "r=" in client-first-message-bare */
	for (i = 0; i + 3 <= st->scram_barelen &&
	    memcmp(st->scram_msg + i, ",r=", 3) != 0; i++)
		;
	if (i + 3 > st->scram_barelen)
		return "SCRAM: no client nonce";
	cn = st->scram_msg + i + 3;
	cnlen = st->scram_barelen - i - 3;
	*nonce = m + 2;
	p = memchr(m, ',', len);
	*nlen = (size_t)((p == NULL ? end : p) - *nonce);
	if (*nlen <= cnlen || memcmp(*nonce, cn, cnlen) != 0)
		return "SCRAM: the server nonce does not extend ours";
	for (i = 0; i < *nlen; i++)
		if ((*nonce)[i] < 0x21 || (*nonce)[i] > 0x7e)
			return "SCRAM: bad octet in the server nonce";
	if (p == NULL || end - p < 4 || memcmp(p, ",s=", 3) != 0)
		return "SCRAM: no s= after r=";
	m = p + 3;
	p = memchr(m, ',', (size_t)(end - m));
	if (p == NULL)
		return "SCRAM: no i= after s=";
	sl = base64_decode(m, (size_t)(p - m), salt, SCRAM_SALT_MAX);
	if (sl <= 0)
		return "SCRAM: bad salt";
	*slen = (size_t)sl;
	if (end - p < 4 || memcmp(p, ",i=", 3) != 0)
		return "SCRAM: no i= after s=";
	for (m = p + 3; m < end && *m >= '0' && *m <= '9'; m++) {
		it = it * 10 + (*m - '0');
		if (it > SCRAM_ITER_MAX)
			return "SCRAM: iteration count above 100000";
	}
	if (m == p + 3 || it < 1 || (m < end && *m != ','))
		return "SCRAM: bad iteration count";
	*iter = it;
	/* AuthMessage = client-first-bare "," server-first "," ... */
	if (st->scram_msglen + 1 + len >= sizeof(st->scram_msg))
		return "SCRAM: server-first message too long";
	st->scram_msg[st->scram_msglen++] = ',';
	memcpy(st->scram_msg + st->scram_msglen, msg, len);
	st->scram_msglen += len;
	return NULL;
}

/*
 * scram_keys - SaltedPassword, then the client proof into proof and the
 * server signature into st, over the complete auth message.
 */
static const char *
scram_keys(int mech, const char *password, const unsigned char *salt,
    size_t slen, long iter, struct sasl_state *st, unsigned char *proof)
{
	unsigned char	 sp[SCRAM_HMAX], ck[SCRAM_HMAX], sk[SCRAM_HMAX];
	unsigned char	 skey[SCRAM_HMAX], csig[SCRAM_HMAX];
	int		 t = scram_hash(mech);
	size_t		 hl = scram_hlen(mech), i;
	const char	*e = NULL;

	if (wc_PBKDF2(sp, (const byte *)password, (int)strlen(password),
	    salt, (int)slen, (int)iter, (int)hl, t) != 0)
		e = "SCRAM: PBKDF2 failed";
	if (e == NULL)
		e = scram_hmac(t, sp, hl, "Client Key", 10, ck);
	if (e == NULL && wc_Hash(mech == AUTH_MECH_SCRAM_SHA_256 ?
	    WC_HASH_TYPE_SHA256 : WC_HASH_TYPE_SHA, ck, (word32)hl, skey,
	    (word32)hl) != 0)
		e = "SCRAM: hash failed";
	if (e == NULL)
		e = scram_hmac(t, skey, hl, st->scram_msg, st->scram_msglen,
		    csig);
	if (e == NULL)
		e = scram_hmac(t, sp, hl, "Server Key", 10, sk);
	if (e == NULL)
		e = scram_hmac(t, sk, hl, st->scram_msg, st->scram_msglen,
		    st->scram_server_sig);
	if (e == NULL) {
		st->scram_siglen = hl;
		for (i = 0; i < hl; i++)
			proof[i] = ck[i] ^ csig[i];
	}
	explicit_bzero(sp, sizeof(sp));
	explicit_bzero(ck, sizeof(ck));
	explicit_bzero(sk, sizeof(sk));
	explicit_bzero(skey, sizeof(skey));
	explicit_bzero(csig, sizeof(csig));
	return e;
}

/* the client-final message for a server-first one */
static const char *
scram_client_final(int mech, const struct sasl_cred *cr,
    struct sasl_state *st, const unsigned char *msg, size_t len, char *out,
    size_t outlen)
{
	unsigned char	 salt[SCRAM_SALT_MAX], proof[SCRAM_HMAX];
	char		 line[SASL_SCRAM_MSG_MAX], p64[SCRAM_HMAX * 2];
	const char	*nonce, *e;
	size_t		 nlen, slen, wlen;
	long		 iter;
	int		 n;

	if ((e = scram_server_first(st, msg, len, &nonce, &nlen, salt, &slen,
	    &iter)) != NULL)
		return e;
	/* client-final-message-without-proof; biws is base64("n,,") */
	n = snprintf(line, sizeof(line), "c=biws,r=%.*s", (int)nlen, nonce);
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    st->scram_msglen + 1 + (size_t)n >= sizeof(st->scram_msg))
		return "SCRAM: server nonce too long";
	wlen = (size_t)n;
	st->scram_msg[st->scram_msglen++] = ',';
	memcpy(st->scram_msg + st->scram_msglen, line, wlen);
	st->scram_msglen += wlen;
	e = scram_keys(mech, cr->password, salt, slen, iter, st, proof);
	if (e == NULL && base64_encode(proof, scram_hlen(mech), p64,
	    sizeof(p64)) == -1)
		e = "SCRAM: proof too long";
	if (e == NULL) {
		n = snprintf(line + wlen, sizeof(line) - wlen, ",p=%s", p64);
		if (n < 0 || (size_t)n >= sizeof(line) - wlen)
			e = "SCRAM: response too long";
		else
			e = sasl_b64_line("", (unsigned char *)line,
			    wlen + (size_t)n, out, outlen);
	}
	explicit_bzero(proof, sizeof(proof));
	explicit_bzero(p64, sizeof(p64));
	explicit_bzero(line, sizeof(line));
	return e;
}

/* scram_final - the server-final message: v= must be our signature */
static const char *
scram_final(struct sasl_state *st, const unsigned char *msg, size_t len,
    char *out, size_t outlen)
{
	unsigned char	 v[SCRAM_HMAX + 3];
	unsigned char	 diff = 0;
	const unsigned char *end;
	ssize_t		 vl;
	size_t		 i;

	if (len >= 2 && memcmp(msg, "e=", 2) == 0)
		return "SCRAM: the server-final message is an error (e=)";
	if (len < 2 || memcmp(msg, "v=", 2) != 0)
		return "SCRAM: server-final without v=";
	if (st->scram_siglen == 0)
		return "SCRAM: server-final before the client-final";
	/* extensions may follow after ',' */
	end = memchr(msg, ',', len);
	vl = base64_decode((const char *)msg + 2,
	    (size_t)((end == NULL ? msg + len : end) - msg) - 2, v,
	    sizeof(v));
	if (vl != (ssize_t)st->scram_siglen)
		return "SCRAM: the server signature is wrong";
	for (i = 0; i < st->scram_siglen; i++)
		diff |= v[i] ^ st->scram_server_sig[i];
	if (diff != 0)
		return "SCRAM: the server signature is wrong";
	st->proved = 1;
	if (outlen < 1)
		return "response too long";
	out[0] = '\0';		/* RFC 4954: an empty line ends it */
	return NULL;
}

/* scram_step - see sasl_mech.h */
const char *
scram_step(int mech, int step, const struct sasl_cred *cr,
    struct sasl_state *st, const unsigned char *msg, size_t len, char *out,
    size_t outlen)
{
	if (st->scram_barelen == 0)
		return "SCRAM: a challenge before the start";
	if (cr->password == NULL)
		return "no password";
	switch (step) {
	case 0:
		return scram_client_final(mech, cr, st, msg, len, out, outlen);
	case 1:
		return scram_final(st, msg, len, out, outlen);
	default:
		return "unexpected 334 after the server-final message";
	}
}
