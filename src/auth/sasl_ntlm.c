/*
 * sasl_ntlm.c - the client side of NTLM (MS-NLMP) over SMTP AUTH, with
 * NTLMv2 responses only: no LM, no NTLMv1 response is ever computed.
 *
 * The exchange: "AUTH NTLM", an empty 334, the NEGOTIATE (type 1), a 334
 * with the CHALLENGE (type 2), the AUTHENTICATE (type 3), then 235/535.
 * The login "DOMAIN\user" is split as Exchange expects; "user@domain" and
 * a bare name go as the user name with an empty domain.  User and domain
 * names are ASCII (their Unicode upper-casing is not implemented); the
 * password may be any UTF-8.
 *
 * NTLM has no server proof: need_proof stays 0 (the server's answer
 * can only be checked by a domain controller).
 */
#include <stdio.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/md4.h>

#include "auth/sasl_mech.h"

/* MS-NLMP 2.2.2.5 */
#define NTLM_UNICODE		0x00000001u
#define NTLM_OEM		0x00000002u
#define NTLM_REQUEST_TARGET	0x00000004u
#define NTLM_NTLM		0x00000200u
#define NTLM_ALWAYS_SIGN	0x00008000u
#define NTLM_EXTENDED		0x00080000u
#define NTLM_TARGET_INFO	0x00800000u
#define NTLM_FLAGS1	(NTLM_UNICODE | NTLM_OEM | NTLM_REQUEST_TARGET | \
	NTLM_NTLM | NTLM_ALWAYS_SIGN | NTLM_EXTENDED)
#define AV_EOL		0
#define AV_TIMESTAMP	7
#define NTLM_NAME_MAX	256	/* user or domain, octets */
#define NTLM_T3_HDR	64	/* type 3 fixed part: no version, no MIC */

static const unsigned char ntlm_sig[8] = "NTLMSSP";

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static unsigned
le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static void
put32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

/* a security buffer (len, maxlen, offset) pointing at off */
static void
put_secbuf(unsigned char *p, size_t len, size_t off)
{
	p[0] = len & 0xff;
	p[1] = (len >> 8) & 0xff;
	p[2] = p[0];
	p[3] = p[1];
	put32(p + 4, (uint32_t)off);
}

/*
 * ntlm_utf16 - UTF-8 into UTF-16LE (upper-casing ASCII when upper), at
 * most max octets; -1 on bad UTF-8 or no room, else the length.
 */
static ssize_t
ntlm_utf16(const char *s, int upper, unsigned char *out, size_t max)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 o = 0;
	uint32_t		 c;
	int			 n, i;

	while (*p != '\0') {
		if (*p < 0x80) {
			c = *p;
			n = 0;
		} else if ((*p & 0xe0) == 0xc0) {
			c = *p & 0x1f;
			n = 1;
		} else if ((*p & 0xf0) == 0xe0) {
			c = *p & 0x0f;
			n = 2;
		} else if ((*p & 0xf8) == 0xf0) {
			c = *p & 0x07;
			n = 3;
		} else
			return -1;
		for (i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return -1;
			c = c << 6 | (p[i] & 0x3f);
		}
		p += n + 1;
		if (c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
			return -1;
		if (upper && c >= 'a' && c <= 'z')
			c -= 'a' - 'A';
		if (o + (c > 0xffff ? 4 : 2) > max)
			return -1;
		if (c > 0xffff) {
			c -= 0x10000;
			out[o++] = (0xd800 | (c >> 10)) & 0xff;
			out[o++] = (0xd800 | (c >> 10)) >> 8;
			c = 0xdc00 | (c & 0x3ff);
		}
		out[o++] = c & 0xff;
		out[o++] = (c >> 8) & 0xff;
	}
	return (ssize_t)o;
}

/* HMAC-MD5 over two pieces */
static const char *
ntlm_hmac(const unsigned char *key, size_t klen, const unsigned char *a,
    size_t alen, const unsigned char *b, size_t blen, unsigned char out[16])
{
	Hmac		 h;
	const char	*e = NULL;

	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return "HMAC-MD5 unavailable";
	if (wc_HmacSetKey(&h, WC_MD5, key, (word32)klen) != 0 ||
	    wc_HmacUpdate(&h, a, (word32)alen) != 0 ||
	    (blen > 0 && wc_HmacUpdate(&h, b, (word32)blen) != 0) ||
	    wc_HmacFinal(&h, out) != 0)
		e = "HMAC-MD5 failed";
	wc_HmacFree(&h);
	explicit_bzero(&h, sizeof(h));
	return e;
}

/* ntlm_ntowfv2 - see sasl_mech.h */
const char *
ntlm_ntowfv2(const char *password, const char *user, const char *domain,
    unsigned char key[16])
{
	unsigned char	 buf[SASL_SECRET_MAX * 4], nt[16];
	ssize_t		 n, m;
	Md4		 md4;
	const char	*e;

	if ((n = ntlm_utf16(password, 0, buf, sizeof(buf))) < 0)
		return "NTLM: the password is not UTF-8";
	wc_InitMd4(&md4);
	wc_Md4Update(&md4, buf, (word32)n);
	wc_Md4Final(&md4, nt);
	explicit_bzero(&md4, sizeof(md4));
	if ((n = ntlm_utf16(user, 1, buf, sizeof(buf) / 2)) < 0 ||
	    (m = ntlm_utf16(domain, 0, buf + n, sizeof(buf) / 2)) < 0)
		e = "NTLM: the user or domain name is not UTF-8";
	else
		e = ntlm_hmac(nt, sizeof(nt), buf, (size_t)(n + m), NULL, 0,
		    key);
	explicit_bzero(buf, sizeof(buf));
	explicit_bzero(nt, sizeof(nt));
	return e;
}

/* the target info's AV pairs: well formed, ended by MsvAvEOL */
static const char *
ntlm_avpairs(struct ntlm_challenge *c)
{
	size_t		 o = 0;
	unsigned	 id, len;

	while (o + 4 <= c->tinfolen) {
		id = le16(c->tinfo + o);
		len = le16(c->tinfo + o + 2);
		if (o + 4 + len > c->tinfolen)
			return "NTLM: a target info pair past its end";
		if (id == AV_EOL)
			return NULL;
		if (id == AV_TIMESTAMP) {
			if (len != 8)
				return "NTLM: bad MsvAvTimestamp";
			memcpy(c->time, c->tinfo + o + 4, 8);
			c->have_time = 1;
		}
		o += 4 + len;
	}
	return "NTLM: target info without MsvAvEOL";
}

/* ntlm_parse_type2 - see sasl_mech.h */
const char *
ntlm_parse_type2(const unsigned char *m, size_t len,
    struct ntlm_challenge *c)
{
	size_t	 tlen, toff;

	memset(c, 0, sizeof(*c));
	if (len < 32 || memcmp(m, ntlm_sig, 8) != 0 || le32(m + 8) != 2)
		return "NTLM: the challenge is not an NTLMSSP type 2 message";
	c->flags = le32(m + 20);
	memcpy(c->server_chal, m + 24, 8);
	if (!(c->flags & NTLM_UNICODE))
		return "NTLM: the server does not speak Unicode";
	/*
	 * Old servers (Cyrus SASL's ntlm plugin) send no target info: the
	 * NTLMv2 blob then carries none, which MS-NLMP allows.
	 */
	if (len < 48 || !(c->flags & NTLM_TARGET_INFO))
		return NULL;
	tlen = le16(m + 40);
	toff = le32(m + 44);
	if (toff > len || tlen > len - toff)
		return "NTLM: the target info lies outside the message";
	if (tlen > sizeof(c->tinfo))
		return "NTLM: target info too long";
	memcpy(c->tinfo, m + toff, tlen);
	c->tinfolen = tlen;
	return ntlm_avpairs(c);
}

/* ntlm_v2_response - see sasl_mech.h */
const char *
ntlm_v2_response(const unsigned char key[16], const struct ntlm_challenge *c,
    const unsigned char time[8], const unsigned char cchal[8],
    unsigned char *nt, size_t ntmax, size_t *ntlen, unsigned char sbk[16])
{
	unsigned char	 sbk1[16];
	size_t		 n = 16 + 28 + c->tinfolen + 4;
	const char	*e;

	if (n > ntmax)
		return "NTLM: response too long";
	/* temp = 1 1 Z(6) time cchal Z(4) targetinfo Z(4) (3.3.2) */
	memset(nt, 0, n);
	nt[16] = 1;
	nt[17] = 1;
	memcpy(nt + 24, time, 8);
	memcpy(nt + 32, cchal, 8);
	memcpy(nt + 44, c->tinfo, c->tinfolen);
	/* NTProofStr = HMAC_MD5(key, server challenge + temp) */
	if ((e = ntlm_hmac(key, 16, c->server_chal, 8, nt + 16, n - 16, nt))
	    != NULL)
		return e;
	*ntlen = n;
	if (sbk != NULL) {
		e = ntlm_hmac(key, 16, nt, 16, NULL, 0, sbk1);
		memcpy(sbk, sbk1, 16);
		explicit_bzero(sbk1, sizeof(sbk1));
	}
	return e;
}

/* ntlm_split_user - see sasl_mech.h */
const char *
ntlm_split_user(const char *login, char *user, size_t ulen, char *domain,
    size_t dlen)
{
	const char	*bs = strchr(login, '\\'), *u = login;
	size_t		 dl = 0;

	if (bs != NULL) {
		dl = (size_t)(bs - login);
		u = bs + 1;
	}
	if (dl >= dlen || strlen(u) >= ulen || *u == '\0')
		return "NTLM: bad user name (DOMAIN\\user or user@domain)";
	memcpy(domain, login, dl);
	domain[dl] = '\0';
	memcpy(user, u, strlen(u) + 1);
	for (u = login; *u != '\0'; u++)
		if ((unsigned char)*u < 0x20 || (unsigned char)*u > 0x7e)
			return "NTLM: the user name is not printable ASCII";
	return NULL;
}

/* ntlm_start - see sasl_mech.h: no initial response, as Exchange does */
const char *
ntlm_start(const struct sasl_cred *cr, struct sasl_state *st, char *out,
    size_t outlen)
{
	char		 user[NTLM_NAME_MAX], dom[NTLM_NAME_MAX];
	const char	*e;
	int		 n;

	if ((e = ntlm_split_user(cr->user, user, sizeof(user), dom,
	    sizeof(dom))) != NULL)
		return e;
	st->need_proof = 0;
	n = snprintf(out, outlen, "AUTH NTLM");
	return n < 0 || (size_t)n >= outlen ? "response too long" : NULL;
}

/* the NEGOTIATE message: flags only, no domain or workstation */
static const char *
ntlm_type1(char *out, size_t outlen)
{
	unsigned char	 m[32];

	memset(m, 0, sizeof(m));
	memcpy(m, ntlm_sig, 8);
	put32(m + 8, 1);
	put32(m + 12, NTLM_FLAGS1);
	put_secbuf(m + 16, 0, 32);
	put_secbuf(m + 24, 0, 32);
	return sasl_b64_line("", m, sizeof(m), out, outlen);
}

/* the AUTHENTICATE message for a CHALLENGE one */
static const char *
ntlm_type3(const struct sasl_cred *cr, struct sasl_state *st,
    const unsigned char *msg, size_t len, char *out, size_t outlen)
{
	struct ntlm_challenge	 c;
	/* header, domain and user in UTF-16, LM, NTProofStr + blob */
	unsigned char		 m[NTLM_T3_HDR + 4 * NTLM_NAME_MAX + 24 + 48 +
	    NTLM_TINFO_MAX], key[16], tb[8];
	char			 user[NTLM_NAME_MAX], dom[NTLM_NAME_MAX];
	const char		*e;
	ssize_t			 dl, ul;
	size_t			 o = NTLM_T3_HDR, ntlen;
	uint64_t		 ft;
	int			 i;

	if ((e = ntlm_parse_type2(msg, len, &c)) != NULL ||
	    (e = ntlm_split_user(cr->user, user, sizeof(user), dom,
	    sizeof(dom))) != NULL)
		return e;
	if (c.have_time)
		memcpy(tb, c.time, 8);
	else {
		/* FILETIME: 100 ns since 1601 */
		ft = ((uint64_t)(st->now > 0 ? st->now : 0) + 11644473600ULL) *
		    10000000ULL;
		for (i = 0; i < 8; i++)
			tb[i] = (ft >> (8 * i)) & 0xff;
	}
	memset(m, 0, sizeof(m));
	dl = ntlm_utf16(dom, 0, m + o, 2 * NTLM_NAME_MAX);
	ul = ntlm_utf16(user, 0, m + o + dl, 2 * NTLM_NAME_MAX);
	if (dl < 0 || ul < 0)
		return "NTLM: bad user name";
	memcpy(m, ntlm_sig, 8);
	put32(m + 8, 3);
	put_secbuf(m + 28, (size_t)dl, o);
	put_secbuf(m + 36, (size_t)ul, o + dl);
	o += (size_t)(dl + ul);
	put_secbuf(m + 44, 0, o);		/* workstation: none */
	put_secbuf(m + 52, 0, o);		/* no session key exchange */
	put32(m + 60, NTLM_UNICODE | NTLM_NTLM | (c.flags &
	    (NTLM_EXTENDED | NTLM_ALWAYS_SIGN | NTLM_TARGET_INFO)));
	/*
	 * LmChallengeResponse: 24 zero octets, as MS-NLMP 3.1.5.1.2 has it
	 * when the server sent a timestamp; never an LM or LMv1 hash.
	 */
	put_secbuf(m + 12, 24, o);
	o += 24;
	e = ntlm_ntowfv2(cr->password, user, dom, key);
	if (e == NULL)
		e = ntlm_v2_response(key, &c, tb, st->rnd, m + o, sizeof(m) - o,
		    &ntlen, NULL);
	if (e == NULL) {
		put_secbuf(m + 20, ntlen, o);
		o += ntlen;
		e = sasl_b64_line("", m, o, out, outlen);
	}
	explicit_bzero(key, sizeof(key));
	explicit_bzero(m, sizeof(m));
	return e;
}

/* ntlm_step - see sasl_mech.h */
const char *
ntlm_step(int step, const struct sasl_cred *cr, struct sasl_state *st,
    const unsigned char *msg, size_t len, char *out, size_t outlen)
{
	if (cr->password == NULL)
		return "no password";
	switch (step) {
	case 0:
		/* "334 " with nothing: the server waits for NEGOTIATE */
		if (len != 0)
			return "NTLM: a challenge before the NEGOTIATE message";
		return ntlm_type1(out, outlen);
	case 1:
		return ntlm_type3(cr, st, msg, len, out, outlen);
	default:
		return "unexpected 334 after the NTLM AUTHENTICATE message";
	}
}
