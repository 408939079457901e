/*
 * tls_keymatch.c - does a private key belong to a certificate?
 *
 * wolfSSL 5.5.4's wolfSSL_CTX_check_private_key() compares only the key
 * type and size for ECC: a P-256 key of another certificate passes (tested
 * with the test PKI), and every handshake would then fail at the peer with
 * a bad signature.  Here the key's public half is derived and encoded as a
 * SubjectPublicKeyInfo, and compared byte for byte with the certificate's.
 * A key type this code does not know is not judged (wolfSSL's own check
 * stays the only one): never refuse a pair that may be right.
 */
#include "tls/tls_local.h"	/* wolfssl/options.h first */
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/rsa.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_cert.h"
#include "util/log.h"

#define KEYFILE_MAX	(64 * 1024)	/* a PEM private key is a few KB */
#define CERTFILE_MAX	(1024 * 1024)	/* a chain file: a few certificates */
#define SPKI_MAX	2048		/* RSA 8192: about 1,100 octets */

static int	km_read(const char *, unsigned char *, size_t, size_t *);
static int	km_spki(const unsigned char *, word32, unsigned char *, int *);

/* km_read - the whole (small) file */
static int
km_read(const char *path, unsigned char *buf, size_t cap, size_t *lenp)
{
	FILE	*fp;
	size_t	 n;

	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	n = fread(buf, 1, cap, fp);
	(void)fclose(fp);
	if (n == 0 || n == cap)
		return -1;
	*lenp = n;
	return 0;
}

/*
 * km_spki - the SubjectPublicKeyInfo of the private key in der (ECC, RSA
 * or Ed25519) into out (SPKI_MAX); its length in *outlen, 0 if the key
 * type is not one of these.  -1 on a failure inside wolfCrypt.
 */
static int
km_spki(const unsigned char *der, word32 len, unsigned char *out, int *outlen)
{
	ecc_key		 ec;
	RsaKey		 rsa;
	ed25519_key	 ed;
	word32		 idx;
	int		 n = 0, r = 0;

	*outlen = 0;
	if (wc_ecc_init(&ec) == 0) {
		idx = 0;
		if (wc_EccPrivateKeyDecode(der, &idx, &ec, len) == 0) {
			/* a key file may leave the public point out */
			if (wc_ecc_make_pub(&ec, NULL) != 0 ||
			    (n = wc_EccPublicKeyToDer(&ec, out, SPKI_MAX, 1)) <= 0)
				r = -1;
			wc_ecc_free(&ec);
			*outlen = n;
			return r;
		}
		wc_ecc_free(&ec);
	}
	if (wc_InitRsaKey(&rsa, NULL) == 0) {
		idx = 0;
		if (wc_RsaPrivateKeyDecode(der, &idx, &rsa, len) == 0) {
			if ((n = wc_RsaKeyToPublicDer(&rsa, out, SPKI_MAX)) <= 0)
				r = -1;
			wc_FreeRsaKey(&rsa);
			*outlen = n;
			return r;
		}
		wc_FreeRsaKey(&rsa);
	}
	if (wc_ed25519_init(&ed) == 0) {
		idx = 0;
		if (wc_Ed25519PrivateKeyDecode(der, &idx, &ed, len) == 0) {
			if (!ed.pubKeySet) {
				/* the seed alone: derive the public key */
				if (wc_ed25519_make_public(&ed, ed.p,
				    ED25519_PUB_KEY_SIZE) != 0)
					r = -1;
				ed.pubKeySet = 1;
			}
			if (r == 0 && (n = wc_Ed25519PublicKeyToDer(&ed, out,
			    SPKI_MAX, 1)) <= 0)
				r = -1;
			wc_ed25519_free(&ed);
			*outlen = n;
			return r;
		}
		wc_ed25519_free(&ed);
	}
	return 0;
}

/*
 * tls_key_matches - 0 if the key in key_file (PEM; password may be NULL)
 * is the private half of the first certificate in cert_file, or its type
 * is one this check does not know; -1 with why in err if it is another
 * key or a file cannot be read.  cert_key/key_key name the keys in err.
 */
int
tls_key_matches(const char *cert_file, const char *cert_key,
    const char *key_file, const char *key_key, const char *password,
    char *err, size_t errlen)
{
	struct tls_cert_facts	 f;
	unsigned char		*pem = NULL, *der = NULL, *cder = NULL;
	unsigned char		 spki[SPKI_MAX];
	size_t			 pemlen;
	int			 clen, dlen, slen, rc = -1;

	if ((pem = malloc(CERTFILE_MAX)) == NULL ||
	    (der = malloc(KEYFILE_MAX)) == NULL ||
	    (cder = malloc(KEYFILE_MAX)) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		goto out;
	}
	/*
	 * The PEM decoded here, not by wolfSSL_X509_load_certificate_file:
	 * that one fails on an Ed25519 certificate.
	 */
	if (km_read(cert_file, pem, CERTFILE_MAX, &pemlen) == -1 ||
	    (clen = wc_CertPemToDer(pem, (int)pemlen, cder, KEYFILE_MAX,
	    CERT_TYPE)) <= 0 ||
	    tls_cert_parse(cder, (size_t)clen, &f) != NULL) {
		(void)snprintf(err, errlen, "%s %s: its first certificate "
		    "cannot be read", cert_key, cert_file);
		goto out;
	}
	if (km_read(key_file, pem, KEYFILE_MAX, &pemlen) == -1 ||
	    (dlen = wc_KeyPemToDer(pem, (int)pemlen, der, KEYFILE_MAX,
	    password)) <= 0) {
		(void)snprintf(err, errlen, "%s %s: not a PEM private key",
		    key_key, key_file);
		goto out;
	}
	if (km_spki(der, (word32)dlen, spki, &slen) == -1) {
		(void)snprintf(err, errlen, "%s %s: its public key cannot be "
		    "derived", key_key, key_file);
		goto out;
	}
	if (slen > 0 && ((size_t)slen != f.spki.len ||
	    memcmp(spki, f.spki.p, f.spki.len) != 0)) {
		(void)snprintf(err, errlen, "%s %s does not belong to %s %s "
		    "(another key)", key_key, key_file, cert_key, cert_file);
		goto out;
	}
	rc = 0;
out:
	if (pem != NULL)
		explicit_bzero(pem, CERTFILE_MAX);
	if (der != NULL)
		explicit_bzero(der, KEYFILE_MAX);
	free(pem);
	free(der);
	free(cder);
	return rc;
}
