/*
 * smime_pkcs7.c - SignedData and EnvelopedData through wolfCrypt's PKCS#7
 * (Debian's libwolfssl has HAVE_PKCS7); see smime_pkcs7.h.
 *
 * Loading tries what the messages will do: a probe is signed and its
 * signature verified against the certificate, a probe is encrypted to
 * each recipient's certificate.  A pair that does not match, or a key
 * type wolfCrypt cannot use here, is then a start-up error naming the
 * file, not a failed message later.
 */
#include <wolfssl/options.h>		/* first: the library's layout */
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/pkcs7.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smime/smime_pkcs7.h"

#define KEYFILE_MAX	(64 * 1024)	/* a PEM private key: a few KB */
#define CERTFILE_MAX	(1024 * 1024)	/* a chain: a few certificates */
#define CHAIN_MAX	8		/* intermediates in a signature */
#define PEM_BEGIN	"-----BEGIN CERTIFICATE-----"
#define PEM_END		"-----END CERTIFICATE-----"
#define PROBE		"smtpgate S/MIME probe\r\n"

struct der {
	unsigned char	*p;
	word32		 len;
};

struct smime_signer {
	struct der	 cert;
	struct der	 key;
	int		 keyoid;		/* RSAk or ECDSAk */
	struct der	 chain[CHAIN_MAX];
	size_t		 nchain;
};

struct smime_cert {
	struct der	 cert;
};

static int	file_read(const char *, size_t, unsigned char **, size_t *,
		    char *, size_t);
static int	pem_cert(const unsigned char *, size_t, struct der *, char *,
		    size_t);
static int	pem_chain(const char *, struct smime_signer *, char *, size_t);
static int	key_load(const char *, struct smime_signer *, char *, size_t);
static int	signer_probe(const struct smime_signer *, char *, size_t);
static void	wc_why(char *, size_t, const char *, int);

/* a wolfCrypt error as text */
static void
wc_why(char *why, size_t wlen, const char *what, int rc)
{
	(void)snprintf(why, wlen, "%s: %s (%d)", what,
	    wc_GetErrorString(rc), rc);
}

/* the whole file, at most max octets, NUL-terminated */
static int
file_read(const char *path, size_t max, unsigned char **out, size_t *lenp,
    char *why, size_t wlen)
{
	FILE		*fp;
	unsigned char	*buf;
	size_t		 n;

	*out = NULL;
	if ((fp = fopen(path, "rb")) == NULL) {
		(void)snprintf(why, wlen, "%s: cannot open", path);
		return -1;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		(void)fclose(fp);
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	n = fread(buf, 1, max + 1, fp);
	if (ferror(fp) || n > max) {
		(void)snprintf(why, wlen, "%s: %s", path, ferror(fp) ?
		    "read error" : "too large");
		(void)fclose(fp);
		explicit_bzero(buf, n);		/* it may be a key file */
		free(buf);
		return -1;
	}
	(void)fclose(fp);
	buf[n] = '\0';
	*out = buf;
	*lenp = n;
	return 0;
}

/* one PEM certificate into DER */
static int
pem_cert(const unsigned char *pem, size_t len, struct der *d, char *why,
    size_t wlen)
{
	int	 n;

	if ((d->p = malloc(len)) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	if ((n = wc_CertPemToDer(pem, (int)len, d->p, (int)len, CERT_TYPE))
	    <= 0) {
		free(d->p);
		d->p = NULL;
		(void)snprintf(why, wlen, "not a PEM certificate");
		return -1;
	}
	d->len = (word32)n;
	return 0;
}

/* the intermediates: every certificate block of the file, in order */
static int
pem_chain(const char *path, struct smime_signer *s, char *why, size_t wlen)
{
	unsigned char	*buf;
	char		*b, *e;
	size_t		 len;

	if (file_read(path, CERTFILE_MAX, &buf, &len, why, wlen) == -1)
		return -1;
	for (b = strstr((char *)buf, PEM_BEGIN); b != NULL;
	    b = strstr(e, PEM_BEGIN)) {
		if ((e = strstr(b, PEM_END)) == NULL)
			break;
		e += strlen(PEM_END);
		if (s->nchain == CHAIN_MAX) {
			(void)snprintf(why, wlen, "more than %d certificates",
			    CHAIN_MAX);
			free(buf);
			return -1;
		}
		if (pem_cert((unsigned char *)b, (size_t)(e - b),
		    &s->chain[s->nchain], why, wlen) == -1) {
			free(buf);
			return -1;
		}
		s->nchain++;
	}
	free(buf);
	if (s->nchain == 0) {
		(void)snprintf(why, wlen, "no PEM certificate in the file");
		return -1;
	}
	return 0;
}

/* the private key as DER, and its algorithm */
static int
key_load(const char *path, struct smime_signer *s, char *why, size_t wlen)
{
	unsigned char	*buf;
	size_t		 len;
	word32		 idx;
	RsaKey		 rsa;
	ecc_key		 ecc;
	int		 n;

	if (file_read(path, KEYFILE_MAX, &buf, &len, why, wlen) == -1)
		return -1;
	if ((s->key.p = malloc(len + 1)) == NULL) {
		free(buf);
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	n = wc_KeyPemToDer(buf, (int)len, s->key.p, (int)len + 1, NULL);
	explicit_bzero(buf, len);
	free(buf);
	if (n <= 0) {
		/* what a failed conversion left there is wiped too */
		explicit_bzero(s->key.p, len + 1);
		(void)snprintf(why, wlen, "not a PEM private key (an "
		    "encrypted key is not supported)");
		return -1;
	}
	s->key.len = (word32)n;
	idx = 0;
	if (wc_InitRsaKey(&rsa, NULL) == 0) {
		n = wc_RsaPrivateKeyDecode(s->key.p, &idx, &rsa, s->key.len);
		wc_FreeRsaKey(&rsa);
		if (n == 0) {
			s->keyoid = RSAk;
			return 0;
		}
	}
	idx = 0;
	if (wc_ecc_init(&ecc) == 0) {
		n = wc_EccPrivateKeyDecode(s->key.p, &idx, &ecc, s->key.len);
		wc_ecc_free(&ecc);
		if (n == 0) {
			s->keyoid = ECDSAk;
			return 0;
		}
	}
	(void)snprintf(why, wlen, "not an RSA or ECDSA private key");
	return -1;
}

/* sign a probe and verify it: the key belongs to the certificate */
static int
signer_probe(const struct smime_signer *s, char *why, size_t wlen)
{
	unsigned char	*der;
	size_t		 len;
	PKCS7		*p;
	int		 rc;

	if (smime_sign(s, PROBE, strlen(PROBE), &der, &len, why, wlen) == -1)
		return -1;
	if ((p = wc_PKCS7_New(NULL, INVALID_DEVID)) == NULL) {
		free(der);
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	/* detached: the content is given, the signature carries the cert */
	p->content = (byte *)PROBE;
	p->contentSz = (word32)strlen(PROBE);
	rc = wc_PKCS7_VerifySignedData(p, der, (word32)len);
	wc_PKCS7_Free(p);
	free(der);
	if (rc != 0) {
		wc_why(why, wlen, "the key does not sign for the certificate",
		    rc);
		return -1;
	}
	return 0;
}

/* smime_signer_load - see smime_pkcs7.h */
int
smime_signer_load(const char *cert, const char *key, const char *chain,
    struct smime_signer **out, const char **which, char *why, size_t wlen)
{
	struct smime_signer	*s;
	unsigned char		*buf;
	size_t			 len;

	*out = NULL;
	*which = "cert_file";
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	if (file_read(cert, CERTFILE_MAX, &buf, &len, why, wlen) == -1)
		goto fail;
	if (pem_cert(buf, len, &s->cert, why, wlen) == -1) {
		free(buf);
		goto fail;
	}
	free(buf);
	*which = "key_file";
	if (key_load(key, s, why, wlen) == -1)
		goto fail;
	*which = "chain_file";
	if (chain != NULL && chain[0] != '\0' &&
	    pem_chain(chain, s, why, wlen) == -1)
		goto fail;
	*which = "key_file";
	if (signer_probe(s, why, wlen) == -1)
		goto fail;
	*out = s;
	return 0;
fail:
	smime_signer_free(s);
	return -1;
}

void
smime_signer_free(struct smime_signer *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	free(s->cert.p);
	if (s->key.p != NULL)
		explicit_bzero(s->key.p, s->key.len);
	free(s->key.p);
	for (i = 0; i < s->nchain; i++)
		free(s->chain[i].p);
	free(s);
}

/* smime_cert_load - see smime_pkcs7.h */
int
smime_cert_load(const char *path, struct smime_cert **out, char *why,
    size_t wlen)
{
	struct smime_cert	*c;
	const struct smime_cert	*one[1];
	char			 tmp[256];
	unsigned char		*buf, *der;
	size_t			 len;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	if (file_read(path, CERTFILE_MAX, &buf, &len, why, wlen) == -1) {
		free(c);
		return -1;
	}
	if (pem_cert(buf, len, &c->cert, why, wlen) == -1) {
		free(buf);
		free(c);
		return -1;
	}
	free(buf);
	/* RSA key transport only: a probe tells */
	one[0] = c;
	if (smime_encrypt(one, 1, SMIME_ENC_AES128_CBC, PROBE, strlen(PROBE),
	    &der, &len, tmp, sizeof(tmp)) == -1) {
		(void)snprintf(why, wlen, "cannot encrypt to it (key transport "
		    "needs an RSA certificate): %s", tmp);
		smime_cert_free(c);
		return -1;
	}
	free(der);
	*out = c;
	return 0;
}

void
smime_cert_free(struct smime_cert *c)
{
	if (c == NULL)
		return;
	free(c->cert.p);
	free(c);
}

/* smime_sign - see smime_pkcs7.h */
int
smime_sign(const struct smime_signer *s, const void *content, size_t len,
    unsigned char **der, size_t *derlen, char *why, size_t wlen)
{
	WC_RNG		 rng;
	PKCS7		*p;
	size_t		 i, cap;
	int		 rc;

	*der = NULL;
	if (len > 0xffffffffUL - 1) {
		(void)snprintf(why, wlen, "message too large");
		return -1;
	}
	/* detached: certificates, signer info, attributes */
	cap = 4096 + s->cert.len;
	for (i = 0; i < s->nchain; i++)
		cap += s->chain[i].len;
	if ((*der = malloc(cap)) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	if ((rc = wc_InitRng(&rng)) != 0) {
		free(*der);
		*der = NULL;
		wc_why(why, wlen, "random generator", rc);
		return -1;
	}
	if ((p = wc_PKCS7_New(NULL, INVALID_DEVID)) == NULL ||
	    (rc = wc_PKCS7_InitWithCert(p, s->cert.p, s->cert.len)) != 0)
		goto fail;
	for (i = 0; i < s->nchain; i++)
		if ((rc = wc_PKCS7_AddCertificate(p, s->chain[i].p,
		    s->chain[i].len)) != 0)
			goto fail;
	p->content = (byte *)(uintptr_t)content;
	p->contentSz = (word32)len;
	p->privateKey = s->key.p;
	p->privateKeySz = s->key.len;
	p->encryptOID = s->keyoid;
	p->hashOID = SHA256h;
	p->rng = &rng;
	if ((rc = wc_PKCS7_SetDetached(p, 1)) != 0 ||
	    (rc = wc_PKCS7_EncodeSignedData(p, *der, (word32)cap)) <= 0)
		goto fail;
	*derlen = (size_t)rc;
	wc_PKCS7_Free(p);
	wc_FreeRng(&rng);
	return 0;
fail:
	wc_why(why, wlen, "signing", p == NULL ? MEMORY_E : rc);
	wc_PKCS7_Free(p);
	wc_FreeRng(&rng);
	free(*der);
	*der = NULL;
	return -1;
}

/* smime_encrypt - see smime_pkcs7.h */
int
smime_encrypt(const struct smime_cert *const *certs, size_t n,
    enum smime_enc enc, const void *content, size_t len,
    unsigned char **der, size_t *derlen, char *why, size_t wlen)
{
	WC_RNG		 rng;
	PKCS7		*p;
	size_t		 i, cap;
	int		 rc;

	*der = NULL;
	/* the content, its padding, and per recipient a wrapped key */
	cap = len + 4096;
	for (i = 0; i < n; i++)
		cap += certs[i]->cert.len + 1024;
	if (n == 0 || len > 0xffffffffUL - 1 || cap > 0xffffffffUL) {
		(void)snprintf(why, wlen, n == 0 ? "no recipient" :
		    "message too large");
		return -1;
	}
	if ((*der = malloc(cap)) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	if ((rc = wc_InitRng(&rng)) != 0) {
		free(*der);
		*der = NULL;
		wc_why(why, wlen, "random generator", rc);
		return -1;
	}
	if ((p = wc_PKCS7_New(NULL, INVALID_DEVID)) == NULL)
		goto fail;
	p->content = (byte *)(uintptr_t)content;
	p->contentSz = (word32)len;
	p->contentOID = DATA;
	p->encryptOID = enc == SMIME_ENC_AES128_CBC ? AES128CBCb : AES256CBCb;
	p->rng = &rng;
	for (i = 0; i < n; i++)
		if ((rc = wc_PKCS7_AddRecipient_KTRI(p, certs[i]->cert.p,
		    certs[i]->cert.len, 0)) < 0)
			goto fail;
	if ((rc = wc_PKCS7_EncodeEnvelopedData(p, *der, (word32)cap)) <= 0)
		goto fail;
	*derlen = (size_t)rc;
	wc_PKCS7_Free(p);
	wc_FreeRng(&rng);
	return 0;
fail:
	wc_why(why, wlen, "encryption", p == NULL ? MEMORY_E : rc);
	wc_PKCS7_Free(p);
	wc_FreeRng(&rng);
	free(*der);
	*der = NULL;
	return -1;
}
