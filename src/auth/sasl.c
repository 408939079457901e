/*
 * sasl.c - the client side of PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195),
 * XOAUTH2 (Google's) and OAUTHBEARER (RFC 7628), and the mechanism choice;
 * the dispatch to SCRAM (sasl_scram.c), NTLM (sasl_ntlm.c) and DIGEST-MD5
 * (sasl_digest.c), which keep state between their lines.
 *
 * Every function is pure: lines are built into the caller's buffers and
 * the caller sends them.  Intermediate buffers that held a secret are
 * wiped before returning, on every path.
 */
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "auth/sasl.h"
#include "auth/sasl_mech.h"
#include "auth/sasl_gssapi.h"
#include "util/base64.h"
#include "util/str.h"

/* decoded 334 text: RFC 2195 ones are short, NTLM type 2 and DIGEST-MD5
 * challenges carry names (an AD domain's target info can pass 1 KiB) */
#define CHALLENGE_MAX	4096

static const char *cred_check(const char *, size_t, const char *);
static const char *token_check(const char *);

/* strongest first, per secret kind and TLS state (see docs/auth.md) */
static const int order_token[] = {
	AUTH_MECH_XOAUTH2, AUTH_MECH_OAUTHBEARER
};
/*
 * SCRAM first: the server proves it knows the password, and it never
 * holds the password itself.  NTLM last under TLS (LOGIN is what Exchange
 * offers next to it, and works everywhere).  DIGEST-MD5 is in neither:
 * only when auth_mechanisms names it.
 */
static const int order_tls[] = {
	AUTH_MECH_SCRAM_SHA_256, AUTH_MECH_SCRAM_SHA_1,
	AUTH_MECH_PLAIN, AUTH_MECH_LOGIN, AUTH_MECH_CRAM_MD5, AUTH_MECH_NTLM
};
/*
 * Before TLS, SCRAM and CRAM-MD5 keep the password off the wire.  NTLM
 * does too, but without TLS (and with no MIC or channel binding) anyone
 * on the path can pose as the server and relay the domain account's
 * login to another NTLM service: before TLS it is used only when
 * auth_mechanisms names it.
 */
static const int order_clear[] = {
	AUTH_MECH_SCRAM_SHA_256, AUTH_MECH_SCRAM_SHA_1, AUTH_MECH_CRAM_MD5,
	AUTH_MECH_PLAIN, AUTH_MECH_LOGIN
};

/*
 * A credential goes into a SASL field, then base64, then the wire.  NUL
 * would split PLAIN's fields and CR or LF could end up in a log line of
 * the upstream; neither is a real password character.
 */
static const char *
cred_check(const char *s, size_t max, const char *what)
{
	size_t	 i;

	if (s == NULL || *s == '\0')
		return what;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= max)
			return "credential too long";
		if (s[i] == '\r' || s[i] == '\n')
			return "CR or LF in a credential";
	}
	return NULL;
}

/*
 * RFC 6750 b64token: the \x01 separators of XOAUTH2 and OAUTHBEARER must
 * not be forgeable from inside the token.
 */
static const char *
token_check(const char *t)
{
	size_t	 i, n;

	if (t == NULL || *t == '\0')
		return "empty token";
	n = strlen(t);
	if (n > SASL_TOKEN_MAX)
		return "token too long";
	i = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-._~+/");
	while (i < n && t[i] == '=')
		i++;
	if (i != n)
		return "token has characters outside RFC 6750's b64token";
	return NULL;
}

/* sasl_b64_line - prefix and the base64 of raw, whole into out or an error */
const char *
sasl_b64_line(const char *prefix, const unsigned char *raw, size_t len,
    char *out, size_t outlen)
{
	size_t	 plen = strlen(prefix);

	if (plen >= outlen)
		return "response too long";
	memcpy(out, prefix, plen);
	if (base64_encode(raw, len, out + plen, outlen - plen) == -1) {
		explicit_bzero(out, outlen);
		return "response too long";
	}
	return NULL;
}

/* sasl_esc_saslname - RFC 5801 saslname: ',' and '=' would end gs2's field */
const char *
sasl_esc_saslname(const char *s, char *out, size_t outlen)
{
	size_t	 o = 0;

	for (; *s != '\0'; s++) {
		if (o + 4 > outlen)
			return "user name too long";
		if (*s == ',') {
			memcpy(out + o, "=2C", 3);
			o += 3;
		} else if (*s == '=') {
			memcpy(out + o, "=3D", 3);
			o += 3;
		} else
			out[o++] = *s;
	}
	out[o] = '\0';
	return NULL;
}

/* sasl_state_clear - see sasl.h */
void
sasl_state_clear(struct sasl_state *st)
{
	sasl_gssapi_free(st);
	explicit_bzero(st, sizeof(*st));
}

/* sasl_final_ok - see sasl.h */
int
sasl_final_ok(const struct sasl_state *st)
{
	return !st->need_proof || st->proved;
}

/* sasl_offered - bits of the mechanisms in an EHLO AUTH parameter list */
unsigned
sasl_offered(const char *list)
{
	char		 word[32];
	const char	*p = list, *e;
	unsigned	 bits = 0;
	size_t		 n;
	int		 m;

	while (p != NULL && *p != '\0') {
		p += strspn(p, " ");
		e = p + strcspn(p, " ");
		n = (size_t)(e - p);
		if (n > 0 && n < sizeof(word)) {
			memcpy(word, p, n);
			word[n] = '\0';
			for (m = AUTH_MECH_PLAIN; m < AUTH_MECH_MAX; m++)
				if (str_ieq(word, auth_mech_name(m)))
					bits |= SASL_BIT(m);
		}
		p = e;
	}
	return bits;
}

/*
 * sasl_usable - what the secret kind allows at all.  A bearer token can be
 * replayed as well as a password can, so the cleartext rule of PLAIN and
 * LOGIN covers XOAUTH2 and OAUTHBEARER too.
 */
unsigned
sasl_usable(int have_token, int tls, int cleartext_ok)
{
	unsigned	 bits;

	if (have_token)
		bits = SASL_BIT(AUTH_MECH_XOAUTH2) |
		    SASL_BIT(AUTH_MECH_OAUTHBEARER);
	else
		bits = SASL_BIT(AUTH_MECH_PLAIN) | SASL_BIT(AUTH_MECH_LOGIN);
	if (!tls && !cleartext_ok)
		bits = 0;
	/* these keep the password off the wire */
	if (!have_token)
		bits |= SASL_BIT(AUTH_MECH_CRAM_MD5) |
		    SASL_BIT(AUTH_MECH_SCRAM_SHA_1) |
		    SASL_BIT(AUTH_MECH_SCRAM_SHA_256) |
		    SASL_BIT(AUTH_MECH_DIGEST_MD5) | SASL_BIT(AUTH_MECH_NTLM);
	return bits;
}

/* default_order - the built-in order for the secret kind and TLS state */
static const int *
default_order(int have_token, int tls, size_t *n)
{
	if (have_token) {
		*n = sizeof(order_token) / sizeof(order_token[0]);
		return order_token;
	}
	if (tls) {
		*n = sizeof(order_tls) / sizeof(order_tls[0]);
		return order_tls;
	}
	*n = sizeof(order_clear) / sizeof(order_clear[0]);
	return order_clear;
}

/* sasl_default_set - what `all` may pick (DIGEST-MD5, NTLM before TLS: never) */
unsigned
sasl_default_set(int have_token, int tls)
{
	const int	*order;
	unsigned	 bits = 0;
	size_t		 i, n;

	order = default_order(have_token, tls, &n);
	for (i = 0; i < n; i++)
		bits |= SASL_BIT(order[i]);
	return bits;
}

/* sasl_choose - the next mechanism to try; see sasl.h */
int
sasl_choose(const struct sasl_choice *ch, int *cleartext)
{
	const int	*order;
	unsigned	 cand;
	size_t		 i, n;
	int		 m = AUTH_MECH_NONE;

	*cleartext = 0;
	cand = ch->offered & ~ch->tried &
	    sasl_usable(ch->have_token, ch->tls, ch->cleartext_ok);
	/* a keytab serves GSSAPI only; its key never crosses the wire */
	if (ch->have_keytab)
		cand = ch->offered & ~ch->tried & SASL_BIT(AUTH_MECH_GSSAPI);
	if (ch->have_keytab && ch->nallow == 0)
		return cand != 0 ? AUTH_MECH_GSSAPI : AUTH_MECH_NONE;
	if (ch->nallow > 0) {
		order = ch->allow;
		n = ch->nallow;
	} else
		order = default_order(ch->have_token, ch->tls, &n);
	for (i = 0; i < n; i++)
		if (order[i] > AUTH_MECH_NONE && order[i] < AUTH_MECH_MAX &&
		    (cand & SASL_BIT(order[i])) != 0) {
			m = order[i];
			break;
		}
	if (!ch->tls && (m == AUTH_MECH_PLAIN || m == AUTH_MECH_LOGIN ||
	    m == AUTH_MECH_XOAUTH2 || m == AUTH_MECH_OAUTHBEARER))
		*cleartext = 1;
	return m;
}

/* sasl_fallback_ok - the mechanism failed, not the account; see sasl.h */
int
sasl_fallback_ok(int code, const char *enh)
{
	/*
	 * The enhanced code is the more precise word: "credentials invalid"
	 * stops the fallback whatever the basic code says.
	 */
	if (enh != NULL && strcmp(enh, "5.7.8") == 0)
		return 0;
	switch (code) {
	case 432:	/* 4.7.12 a password transition is needed */
	case 504:	/* 5.5.4 unrecognized authentication type */
	case 534:	/* 5.7.9 authentication mechanism is too weak */
	case 538:	/* 5.7.11 encryption required for the mechanism */
		return 1;
	case 500:
		/*
		 * 5.5.6: this mechanism's line was too long for the server.
		 * A bare 500 may mean AUTH itself is unknown: no fallback.
		 */
		return enh != NULL && strcmp(enh, "5.5.6") == 0;
	default:
		return 0;
	}
}

/*
 * start_check - cr has what mech needs (a user name, and a password or a
 * token that fits), or why not (also an unknown mech, \x01 in the user)
 */
static const char *
start_check(int mech, const struct sasl_cred *cr)
{
	const char	*e;

	if ((e = cred_check(cr->user, SASL_USER_MAX, "empty user name"))
	    != NULL)
		return e;
	switch (mech) {
	case AUTH_MECH_PLAIN:
	case AUTH_MECH_LOGIN:
	case AUTH_MECH_CRAM_MD5:
	case AUTH_MECH_SCRAM_SHA_1:
	case AUTH_MECH_SCRAM_SHA_256:
	case AUTH_MECH_DIGEST_MD5:
	case AUTH_MECH_NTLM:
		if ((e = cred_check(cr->password, SASL_SECRET_MAX,
		    "no password")) != NULL)
			return e;
		break;
	case AUTH_MECH_XOAUTH2:
	case AUTH_MECH_OAUTHBEARER:
		if ((e = token_check(cr->token)) != NULL)
			return e;
		/* \x01 would split the fields */
		if (strchr(cr->user, '\x01') != NULL)
			return "control character in the user name";
		break;
	default:
		return "unknown mechanism";
	}
	return NULL;
}

/* sasl_start - the AUTH command line; see sasl.h */
const char *
sasl_start(int mech, const struct sasl_cred *cr, struct sasl_state *st,
    char *out, size_t outlen)
{
	unsigned char	 raw[SASL_LINE_MAX];
	char		 user[SASL_USER_MAX * 3 + 1];
	const char	*e;
	int		 n;

	/* GSSAPI: the principal authenticates, the user name is optional */
	if (mech == AUTH_MECH_GSSAPI)
		return sasl_gssapi_start(cr, st, out, outlen);
	if ((e = start_check(mech, cr)) != NULL)
		return e;

	switch (mech) {
	case AUTH_MECH_PLAIN:
		/* authzid empty: act as the authenticated identity itself */
		n = snprintf((char *)raw, sizeof(raw), "%c%s%c%s", '\0',
		    cr->user, '\0', cr->password);
		if (n < 0 || (size_t)n >= sizeof(raw))
			e = "credentials too long";
		else
			e = sasl_b64_line("AUTH PLAIN ", raw, (size_t)n, out,
			    outlen);
		break;
	case AUTH_MECH_LOGIN:
	case AUTH_MECH_CRAM_MD5:
		n = snprintf(out, outlen, "AUTH %s", auth_mech_name(mech));
		e = n < 0 || (size_t)n >= outlen ? "response too long" : NULL;
		break;
	case AUTH_MECH_XOAUTH2:
		n = snprintf((char *)raw, sizeof(raw),
		    "user=%s\001auth=Bearer %s\001\001", cr->user, cr->token);
		if (n < 0 || (size_t)n >= sizeof(raw))
			e = "credentials too long";
		else
			e = sasl_b64_line("AUTH XOAUTH2 ", raw, (size_t)n, out,
			    outlen);
		break;
	case AUTH_MECH_OAUTHBEARER:
		if ((e = sasl_esc_saslname(cr->user, user, sizeof(user))) !=
		    NULL)
			break;
		if (cr->host != NULL && cr->port != 0)
			n = snprintf((char *)raw, sizeof(raw), "n,a=%s,\001"
			    "host=%s\001port=%u\001auth=Bearer %s\001\001",
			    user, cr->host, cr->port, cr->token);
		else
			n = snprintf((char *)raw, sizeof(raw), "n,a=%s,\001"
			    "auth=Bearer %s\001\001", user, cr->token);
		if (n < 0 || (size_t)n >= sizeof(raw))
			e = "credentials too long";
		else
			e = sasl_b64_line("AUTH OAUTHBEARER ", raw, (size_t)n,
			    out, outlen);
		break;
	case AUTH_MECH_SCRAM_SHA_1:
	case AUTH_MECH_SCRAM_SHA_256:
		scram_cnonce(st, user);
		e = scram_start(mech, cr, user, st, out, outlen);
		break;
	case AUTH_MECH_DIGEST_MD5:
		e = digest_start(cr, st, out, outlen);
		break;
	case AUTH_MECH_NTLM:
		e = ntlm_start(cr, st, out, outlen);
		break;
	}
	explicit_bzero(raw, sizeof(raw));
	return e;
}

/* sasl_cram_md5 - RFC 2195's "user hexdigest"; see sasl.h */
const char *
sasl_cram_md5(const char *user, const char *password,
    const unsigned char *challenge, size_t len, char *out, size_t outlen)
{
	static const char	 hex[] = "0123456789abcdef";
	Hmac			 h;
	unsigned char		 d[WC_MD5_DIGEST_SIZE];
	size_t			 ulen, i;
	const char		*e = NULL;

	ulen = strlen(user);
	if (ulen + 1 + 2 * sizeof(d) + 1 > outlen)
		return "response too long";
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return "HMAC-MD5 unavailable";
	if (wc_HmacSetKey(&h, WC_MD5, (const byte *)password,
	    (word32)strlen(password)) != 0 ||
	    wc_HmacUpdate(&h, challenge, (word32)len) != 0 ||
	    wc_HmacFinal(&h, d) != 0)
		e = "HMAC-MD5 failed";
	wc_HmacFree(&h);
	/* the HMAC state holds the padded key */
	explicit_bzero(&h, sizeof(h));
	if (e != NULL)
		return e;
	memcpy(out, user, ulen);
	out[ulen] = ' ';
	for (i = 0; i < sizeof(d); i++) {
		out[ulen + 1 + 2 * i] = hex[d[i] >> 4];
		out[ulen + 2 + 2 * i] = hex[d[i] & 0x0f];
	}
	out[ulen + 1 + 2 * sizeof(d)] = '\0';
	explicit_bzero(d, sizeof(d));
	return NULL;
}

/* sasl_step - the answer to a 334 challenge; see sasl.h */
const char *
sasl_step(int mech, int step, const struct sasl_cred *cr,
    struct sasl_state *st, const char *challenge, size_t len, char *out,
    size_t outlen, int *expect_fail)
{
	unsigned char	 dec[CHALLENGE_MAX];
	char		 resp[SASL_USER_MAX + 64];
	const char	*e = NULL, *piece;
	ssize_t		 dlen;

	*expect_fail = 0;
	/* GSSAPI's tokens are larger than CHALLENGE_MAX: it decodes its own */
	if (mech == AUTH_MECH_GSSAPI)
		return sasl_gssapi_step(step, cr, st, challenge, len, out,
		    outlen);
	/* the challenge is the upstream's: check it before anything else */
	dlen = base64_decode(challenge, len, dec, sizeof(dec));
	if (dlen < 0)
		return "334 challenge is not base64 (or too long)";

	switch (mech) {
	case AUTH_MECH_LOGIN:
		/* "Username:" then "Password:"; their wording varies */
		if (step > 1)
			return "unexpected 334 after the password";
		piece = step == 0 ? cr->user : cr->password;
		if (piece == NULL)
			return "no credential for the 334 challenge";
		e = sasl_b64_line("", (const unsigned char *)piece,
		    strlen(piece), out, outlen);
		break;
	case AUTH_MECH_CRAM_MD5:
		if (step > 0)
			return "unexpected second 334";
		if (dlen == 0)
			return "empty CRAM-MD5 challenge";
		if (cr->password == NULL)
			return "no password";
		e = sasl_cram_md5(cr->user, cr->password, dec, (size_t)dlen,
		    resp, sizeof(resp));
		if (e == NULL)
			e = sasl_b64_line("", (unsigned char *)resp,
			    strlen(resp), out, outlen);
		explicit_bzero(resp, sizeof(resp));
		break;
	case AUTH_MECH_XOAUTH2:
	case AUTH_MECH_OAUTHBEARER:
		/*
		 * After the initial response, a 334 carries the JSON error
		 * (RFC 7628 3.2.2): the client ends the exchange, XOAUTH2
		 * with an empty line, OAUTHBEARER with %x01, and the
		 * server then sends its final 5xx.
		 */
		if (step > 0)
			return "unexpected second 334";
		if (outlen < 5)
			return "response too long";
		(void)str_copy(out, mech == AUTH_MECH_XOAUTH2 ? "" : "AQ==",
		    outlen);
		*expect_fail = 1;
		break;
	case AUTH_MECH_SCRAM_SHA_1:
	case AUTH_MECH_SCRAM_SHA_256:
		e = scram_step(mech, step, cr, st, dec, (size_t)dlen, out,
		    outlen);
		break;
	case AUTH_MECH_DIGEST_MD5:
		e = digest_step(step, cr, st, dec, (size_t)dlen, out, outlen);
		break;
	case AUTH_MECH_NTLM:
		e = ntlm_step(step, cr, st, dec, (size_t)dlen, out, outlen);
		break;
	case AUTH_MECH_PLAIN:
		/* the initial response went with AUTH: nothing is owed */
		return "unexpected 334 after the initial response";
	default:
		return "unknown mechanism";
	}
	explicit_bzero(dec, sizeof(dec));
	return e;
}
