/*
 * tls_cert.c - a small DER reader for the certificate fields smtpgate
 * checks itself (see tls_cert.h).
 *
 * Why our own: wolfSSL_i2d_PUBKEY() gives the PKCS#1 RSAPublicKey for an
 * RSA key, not the SubjectPublicKeyInfo, so a pin made from it matched no
 * other tool (shared/docs/wolfssl-notes.md section 10); and the host-name,
 * key-size and signature-hash checks need the names and OIDs as encoded,
 * not as a library chose to normalise them.
 *
 * Every length is checked against what encloses it; the reader never
 * reads past the end of the input and never allocates.  The input has
 * already been parsed by wolfSSL when we see it in a handshake, but the
 * reader does not rely on that: it is fuzzed on arbitrary bytes.
 */
#include <stddef.h>
#include <string.h>

#include "tls/tls_cert.h"

/* DER identifier octets used here */
#define T_BOOLEAN	0x01
#define T_INTEGER	0x02
#define T_BITSTRING	0x03
#define T_OCTETSTRING	0x04
#define T_NULL		0x05
#define T_OID		0x06
#define T_UTF8STRING	0x0c
#define T_PRINTABLE	0x13
#define T_TELETEX	0x14
#define T_IA5STRING	0x16
#define T_SEQUENCE	0x30
#define T_SET		0x31
#define T_CTX0		0xa0	/* [0] constructed: version, PSS hash */
#define T_CTX1		0x81	/* [1] primitive: issuerUniqueID */
#define T_CTX2		0x82	/* [2] primitive: subjectUniqueID, dNSName */
#define T_CTX3		0xa3	/* [3] constructed: extensions */
#define T_IPADDRESS	0x87	/* GeneralName [7] iPAddress */

struct der {
	const unsigned char	*p;
	const unsigned char	*end;
};

struct oid {
	const unsigned char	*der;
	size_t			 len;
	int			 value;
};

#define OID(s, v)	{ (const unsigned char *)(s), sizeof(s) - 1, (v) }

/* signature algorithms by the hash they use */
static const struct oid sig_oids[] = {
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x05", TLS_SIG_SHA1), /* sha1WithRSA */
	OID("\x2b\x0e\x03\x02\x1d", TLS_SIG_SHA1),		/* OIW sha1WithRSA */
	OID("\x2a\x86\x48\xce\x3d\x04\x01", TLS_SIG_SHA1),	/* ecdsa-with-SHA1 */
	OID("\x2a\x86\x48\xce\x38\x04\x03", TLS_SIG_SHA1),	/* dsa-with-sha1 */
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x02", TLS_SIG_MD),	/* md2WithRSA */
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x03", TLS_SIG_MD),	/* md4WithRSA */
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x04", TLS_SIG_MD),	/* md5WithRSA */
};
static const unsigned char oid_pss[] =
    "\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a";
static const unsigned char oid_sha1[] = "\x2b\x0e\x03\x02\x1a";

static const struct oid key_oids[] = {
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01", TLS_KEY_RSA),
	OID("\x2a\x86\x48\x86\xf7\x0d\x01\x01\x0a", TLS_KEY_RSA),	/* PSS */
	OID("\x2a\x86\x48\xce\x3d\x02\x01", TLS_KEY_EC),
	OID("\x2b\x65\x70", TLS_KEY_ED25519),
	OID("\x2b\x65\x71", TLS_KEY_ED448),
};

static const unsigned char oid_cn[] = "\x55\x04\x03";
static const unsigned char oid_san[] = "\x55\x1d\x11";

static int	der_get(struct der *, unsigned, struct tls_span *,
		    struct tls_span *);
static int	der_peek(const struct der *);
static int	oid_is(const struct tls_span *, const unsigned char *, size_t);
static int	oid_find(const struct tls_span *, const struct oid *, size_t);
static const char *parse_sigalg(struct tls_span, enum tls_sig_hash *);
static const char *parse_name(struct tls_span, struct tls_cert_facts *);
static const char *parse_spki(struct tls_span, struct tls_cert_facts *);
static const char *parse_exts(struct tls_span, struct tls_cert_facts *);
static const char *parse_san(struct tls_span, struct tls_cert_facts *);
static unsigned	rsa_bits(struct tls_span);

/*
 * der_get - the next element, which must have identifier tag: its
 * contents in val, and (when whole is not NULL) the element with its
 * header.  0, or -1 if it is absent, of another tag or overruns.
 * Definite lengths of up to 4 octets only; high tag numbers are refused
 * (X.509 uses none).
 */
static int
der_get(struct der *d, unsigned tag, struct tls_span *val,
    struct tls_span *whole)
{
	const unsigned char	*p = d->p;
	size_t			 avail, len, n, i;

	avail = (size_t)(d->end - p);
	if (avail < 2 || p[0] != tag || (p[0] & 0x1f) == 0x1f)
		return -1;
	if (p[1] < 0x80) {
		len = p[1];
		n = 2;
	} else {
		/* 0x80 is indefinite (BER only); over 4 octets is absurd */
		if (p[1] == 0x80 || (p[1] & 0x7f) > 4)
			return -1;
		n = 2 + (p[1] & 0x7f);
		if (avail < n)
			return -1;
		for (len = 0, i = 2; i < n; i++)
			len = (len << 8) | p[i];
	}
	if (len > avail - n)
		return -1;
	val->p = p + n;
	val->len = len;
	if (whole != NULL) {
		whole->p = p;
		whole->len = n + len;
	}
	d->p = p + n + len;
	return 0;
}

/* der_peek - the identifier of the next element, or -1 at the end */
static int
der_peek(const struct der *d)
{
	return d->p < d->end ? d->p[0] : -1;
}

static int
oid_is(const struct tls_span *o, const unsigned char *der, size_t len)
{
	return o->len == len && memcmp(o->p, der, len) == 0;
}

static int
oid_find(const struct tls_span *o, const struct oid *tab, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		if (oid_is(o, tab[i].der, tab[i].len))
			return tab[i].value;
	return 0;
}

/*
 * parse_sigalg - the hash of an AlgorithmIdentifier's signature.
 * RSASSA-PSS names its hash in the parameters, and SHA-1 is the default
 * when they leave it out (RFC 4055).
 */
static const char *
parse_sigalg(struct tls_span alg, enum tls_sig_hash *h)
{
	struct der	 d = { alg.p, alg.p + alg.len }, pd, hd;
	struct tls_span	 o, params, hash, halg;

	if (der_get(&d, T_OID, &o, NULL) == -1)
		return "signature algorithm without an OID";
	*h = oid_find(&o, sig_oids, sizeof(sig_oids) / sizeof(sig_oids[0]));
	if (!oid_is(&o, oid_pss, sizeof(oid_pss) - 1))
		return NULL;
	*h = TLS_SIG_SHA1;
	if (der_get(&d, T_SEQUENCE, &params, NULL) == -1)
		return NULL;	/* no parameters: every default, SHA-1 */
	pd.p = params.p;
	pd.end = params.p + params.len;
	if (der_get(&pd, T_CTX0, &hash, NULL) == -1)
		return NULL;	/* hashAlgorithm DEFAULT sha1 */
	hd.p = hash.p;
	hd.end = hash.p + hash.len;
	if (der_get(&hd, T_SEQUENCE, &halg, NULL) == -1)
		return "malformed RSASSA-PSS hash algorithm";
	hd.p = halg.p;
	hd.end = halg.p + halg.len;
	if (der_get(&hd, T_OID, &o, NULL) == -1)
		return "malformed RSASSA-PSS hash algorithm";
	*h = oid_is(&o, oid_sha1, sizeof(oid_sha1) - 1) ? TLS_SIG_SHA1 :
	    TLS_SIG_OTHER;
	return NULL;
}

/*
 * parse_name - the subject's commonName: the last one, the most specific
 * in the usual order (RFC 6125 section 6.4.4 leaves the choice to us).
 * Only string types that hold ASCII as themselves; a BMPString or
 * UniversalString CN is no host name we could compare.
 */
static const char *
parse_name(struct tls_span name, struct tls_cert_facts *f)
{
	struct der	 d = { name.p, name.p + name.len }, sd, ad;
	struct tls_span	 set, atv, o, v;
	int		 t;

	while (d.p < d.end) {
		if (der_get(&d, T_SET, &set, NULL) == -1)
			return "malformed subject name";
		sd.p = set.p;
		sd.end = set.p + set.len;
		while (sd.p < sd.end) {
			if (der_get(&sd, T_SEQUENCE, &atv, NULL) == -1)
				return "malformed subject name attribute";
			ad.p = atv.p;
			ad.end = atv.p + atv.len;
			if (der_get(&ad, T_OID, &o, NULL) == -1)
				return "subject name attribute without an OID";
			if (!oid_is(&o, oid_cn, sizeof(oid_cn) - 1))
				continue;
			t = der_peek(&ad);
			if (t != T_UTF8STRING && t != T_PRINTABLE &&
			    t != T_TELETEX && t != T_IA5STRING) {
				f->cn.p = NULL;
				f->cn.len = 0;
				continue;
			}
			if (der_get(&ad, (unsigned)t, &v, NULL) == -1)
				return "malformed commonName";
			f->cn = v;
		}
	}
	return NULL;
}

/* rsa_bits - the size of an RSAPublicKey's modulus, 0 if unreadable */
static unsigned
rsa_bits(struct tls_span key)
{
	struct der	 d = { key.p, key.p + key.len };
	struct tls_span	 seq, n;
	unsigned	 bits;
	unsigned char	 top;

	if (der_get(&d, T_SEQUENCE, &seq, NULL) == -1)
		return 0;
	d.p = seq.p;
	d.end = seq.p + seq.len;
	if (der_get(&d, T_INTEGER, &n, NULL) == -1)
		return 0;
	while (n.len > 0 && n.p[0] == 0) {
		n.p++;
		n.len--;
	}
	/* a modulus over 2^32 bits cannot fit in a certificate anyway */
	if (n.len == 0 || n.len > 0x1000000)
		return 0;
	bits = (unsigned)(n.len - 1) * 8;
	for (top = n.p[0]; top != 0; top >>= 1)
		bits++;
	return bits;
}

static const char *
parse_spki(struct tls_span spki, struct tls_cert_facts *f)
{
	struct der	 d = { spki.p, spki.p + spki.len }, ad;
	struct tls_span	 alg, o, bits;

	if (der_get(&d, T_SEQUENCE, &alg, NULL) == -1 ||
	    der_get(&d, T_BITSTRING, &bits, NULL) == -1 || d.p != d.end)
		return "malformed SubjectPublicKeyInfo";
	ad.p = alg.p;
	ad.end = alg.p + alg.len;
	if (der_get(&ad, T_OID, &o, NULL) == -1)
		return "public key algorithm without an OID";
	f->key = oid_find(&o, key_oids, sizeof(key_oids) / sizeof(key_oids[0]));
	/* the first octet of a BIT STRING counts unused bits: a key has none */
	if (bits.len < 1 || bits.p[0] != 0)
		return "malformed public key";
	if (f->key == TLS_KEY_RSA) {
		bits.p++;
		bits.len--;
		if ((f->rsa_bits = rsa_bits(bits)) == 0)
			return "malformed RSA public key";
	}
	return NULL;
}

/*
 * parse_san - dNSName and iPAddress entries; other GeneralName forms are
 * skipped whatever their tag (their inner syntax is not ours to judge).
 */
static const char *
parse_san(struct tls_span san, struct tls_cert_facts *f)
{
	struct der	 d = { san.p, san.p + san.len };
	struct tls_span	 seq, v;
	int		 t;

	if (der_get(&d, T_SEQUENCE, &seq, NULL) == -1 || d.p != d.end)
		return "malformed subjectAltName";
	d.p = seq.p;
	d.end = seq.p + seq.len;
	while (d.p < d.end) {
		t = der_peek(&d);
		if (der_get(&d, (unsigned)t, &v, NULL) == -1)
			return "malformed subjectAltName entry";
		if (t == T_CTX2) {
			if (f->ndns < TLS_CERT_MAX_DNS)
				f->dns[f->ndns++] = v;
			else
				f->truncated = 1;
		} else if (t == T_IPADDRESS) {
			if (f->nip < TLS_CERT_MAX_IP)
				f->ip[f->nip++] = v;
			else
				f->truncated = 1;
		}
	}
	return NULL;
}

/*
 * parse_exts - the subjectAltName extension.  RFC 5280 allows each
 * extension once; a second subjectAltName would let two parsers see
 * different names, so it makes the certificate unreadable.
 */
static const char *
parse_exts(struct tls_span exts, struct tls_cert_facts *f)
{
	struct der	 d = { exts.p, exts.p + exts.len }, ed;
	struct tls_span	 seq, ext, o, b, v;
	const char	*err;

	if (der_get(&d, T_SEQUENCE, &seq, NULL) == -1 || d.p != d.end)
		return "malformed extensions";
	d.p = seq.p;
	d.end = seq.p + seq.len;
	while (d.p < d.end) {
		if (der_get(&d, T_SEQUENCE, &ext, NULL) == -1)
			return "malformed extension";
		ed.p = ext.p;
		ed.end = ext.p + ext.len;
		if (der_get(&ed, T_OID, &o, NULL) == -1)
			return "extension without an OID";
		if (der_peek(&ed) == T_BOOLEAN &&
		    der_get(&ed, T_BOOLEAN, &b, NULL) == -1)
			return "malformed extension";
		if (der_get(&ed, T_OCTETSTRING, &v, NULL) == -1 || ed.p != ed.end)
			return "malformed extension value";
		if (!oid_is(&o, oid_san, sizeof(oid_san) - 1))
			continue;
		if (f->has_san)
			return "two subjectAltName extensions";
		f->has_san = 1;
		if ((err = parse_san(v, f)) != NULL)
			return err;
	}
	return NULL;
}

/* tls_cert_parse - the facts of one DER certificate */
const char *
tls_cert_parse(const unsigned char *der, size_t len, struct tls_cert_facts *f)
{
	struct der	 d = { der, der + len }, td;
	struct tls_span	 cert, tbs, alg, sig, v, validity, spki;
	const char	*err;

	memset(f, 0, sizeof(*f));
	if (der == NULL)
		return "no certificate";
	if (der_get(&d, T_SEQUENCE, &cert, NULL) == -1 || d.p != d.end)
		return "not a DER certificate";
	d.p = cert.p;
	d.end = cert.p + cert.len;
	if (der_get(&d, T_SEQUENCE, &tbs, NULL) == -1 ||
	    der_get(&d, T_SEQUENCE, &alg, NULL) == -1 ||
	    der_get(&d, T_BITSTRING, &sig, NULL) == -1 || d.p != d.end)
		return "malformed certificate";
	if ((err = parse_sigalg(alg, &f->sighash)) != NULL)
		return err;

	td.p = tbs.p;
	td.end = tbs.p + tbs.len;
	if (der_peek(&td) == T_CTX0 && der_get(&td, T_CTX0, &v, NULL) == -1)
		return "malformed version";
	if (der_get(&td, T_INTEGER, &v, NULL) == -1)
		return "malformed serial number";
	if (der_get(&td, T_SEQUENCE, &v, NULL) == -1)
		return "malformed signature algorithm";
	if (der_get(&td, T_SEQUENCE, &v, &f->issuer) == -1)
		return "malformed issuer";
	if (der_get(&td, T_SEQUENCE, &validity, NULL) == -1)
		return "malformed validity";
	if (der_get(&td, T_SEQUENCE, &v, &f->subject) == -1)
		return "malformed subject";
	if ((err = parse_name(v, f)) != NULL)
		return err;
	if (der_get(&td, T_SEQUENCE, &spki, &f->spki) == -1)
		return "malformed SubjectPublicKeyInfo";
	if ((err = parse_spki(spki, f)) != NULL)
		return err;
	if (der_peek(&td) == T_CTX1 && der_get(&td, T_CTX1, &v, NULL) == -1)
		return "malformed issuerUniqueID";
	if (der_peek(&td) == T_CTX2 && der_get(&td, T_CTX2, &v, NULL) == -1)
		return "malformed subjectUniqueID";
	if (der_peek(&td) == T_CTX3) {
		if (der_get(&td, T_CTX3, &v, NULL) == -1)
			return "malformed extensions";
		if ((err = parse_exts(v, f)) != NULL)
			return err;
	}
	if (td.p != td.end)
		return "trailing data in the certificate";
	return NULL;
}
