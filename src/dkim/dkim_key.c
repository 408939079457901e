/*
 * dkim_key - DKIM private keys: load a PEM file (refusing one others can
 * read), sign a digest, print the DNS record, generate a new key.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkim/dkim_local.h"	/* wolfssl/options.h first */
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "util/base64.h"

#define KEYFILE_MAX	(64 * 1024)	/* a PEM key is a few KiB */
#define RSA_MIN_BITS	1024
#define RSA_WEAK_BITS	2048
#define RSA_MAX_BITS	8192
#define ED_SEED		32

static int	read_keyfile(const char *, unsigned char **, size_t *, char *,
		    size_t);
static int	load_rsa(struct dkim_key *, const unsigned char *, word32);
static int	load_ed25519(struct dkim_key *, const unsigned char *, word32);
static int	write_new(const char *, const unsigned char *, size_t, char *,
		    size_t);

static int
read_keyfile(const char *path, unsigned char **out, size_t *outlen,
    char *err, size_t errlen)
{
	struct stat st;
	unsigned char *buf;
	size_t n = 0;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	/* a private key others can read is as good as published */
	if (st.st_mode & (S_IRGRP | S_IROTH)) {
		snprintf(err, errlen, "%s: key file is readable by group or "
		    "others; run chmod 600 %s", path, path);
		close(fd);
		return -1;
	}
	if (st.st_size <= 0 || st.st_size > KEYFILE_MAX) {
		snprintf(err, errlen, "%s: not a key file (size)", path);
		close(fd);
		return -1;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return -1;
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, errlen, "%s: read: %s", path,
			    r == 0 ? "short file" : strerror(errno));
			explicit_bzero(buf, n);
			free(buf);
			close(fd);
			return -1;
		}
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	*out = buf;
	*outlen = n;
	return 0;
}

static int
load_rsa(struct dkim_key *k, const unsigned char *der, word32 derlen)
{
	word32 idx = 0;

	if (wc_InitRsaKey(&k->rsa, NULL) != 0)
		return -1;
	k->rsa_init = 1;
	if (wc_RsaPrivateKeyDecode(der, &idx, &k->rsa, derlen) != 0)
		return -1;
	k->alg = DKIM_RSA_SHA256;
	k->bits = (unsigned)wc_RsaEncryptSize(&k->rsa) * 8;
	return 0;
}

/*
 * The decoded key lacks its public half, and wc_ed25519_sign_msg needs it:
 * take the seed, derive the public key, import both (wolfssl-notes §8).
 */
static int
load_ed25519(struct dkim_key *k, const unsigned char *der, word32 derlen)
{
	unsigned char seed[ED25519_PRV_KEY_SIZE], pub[ED25519_PUB_KEY_SIZE];
	word32 idx = 0, seedlen = sizeof seed;
	int rc = -1;

	if (wc_ed25519_init(&k->ed) != 0)
		return -1;
	k->ed_init = 1;
	if (wc_Ed25519PrivateKeyDecode(der, &idx, &k->ed, derlen) != 0 ||
	    wc_ed25519_export_private_only(&k->ed, seed, &seedlen) != 0 ||
	    seedlen != ED_SEED)
		goto out;
	wc_ed25519_free(&k->ed);
	if (wc_ed25519_init(&k->ed) != 0 ||
	    wc_ed25519_import_private_only(seed, ED_SEED, &k->ed) != 0 ||
	    wc_ed25519_make_public(&k->ed, pub, sizeof pub) != 0 ||
	    wc_ed25519_import_private_key(seed, ED_SEED, pub, sizeof pub,
	    &k->ed) != 0)
		goto out;
	k->alg = DKIM_ED25519_SHA256;
	k->bits = 256;
	rc = 0;
out:
	explicit_bzero(seed, sizeof seed);
	return rc;
}

int
dkim_key_load(const char *path, struct dkim_key **out, int *weak, char *err,
    size_t errlen)
{
	struct dkim_key *k;
	unsigned char *pem = NULL, *der = NULL;
	size_t pemlen;
	int derlen, rc = -1;

	*out = NULL;
	*weak = 0;
	if (read_keyfile(path, &pem, &pemlen, err, errlen) == -1)
		return -1;
	if ((k = calloc(1, sizeof *k)) == NULL ||
	    (der = malloc(pemlen)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	derlen = wc_KeyPemToDer(pem, (int)pemlen, der, (int)pemlen, NULL);
	if (derlen <= 0) {
		snprintf(err, errlen, "%s: not a PEM private key "
		    "(unencrypted RSA or Ed25519 expected)", path);
		goto out;
	}
	if (load_rsa(k, der, (word32)derlen) == 0) {
		if (k->bits < RSA_MIN_BITS || k->bits > RSA_MAX_BITS) {
			snprintf(err, errlen, "%s: RSA key of %u bits; "
			    "at least %u needed, at most %u", path, k->bits,
			    RSA_MIN_BITS, RSA_MAX_BITS);
			goto out;
		}
		*weak = k->bits < RSA_WEAK_BITS;
		if (wc_InitRng(&k->rng) != 0) {
			snprintf(err, errlen, "%s: cannot seed the RNG", path);
			goto out;
		}
		k->rng_init = 1;
		/* WC_RSA_BLINDING is on: signing needs an RNG */
		if (wc_RsaSetRNG(&k->rsa, &k->rng) != 0) {
			snprintf(err, errlen, "%s: cannot set the RNG", path);
			goto out;
		}
	} else {
		if (k->rsa_init) {
			wc_FreeRsaKey(&k->rsa);
			k->rsa_init = 0;
		}
		if (load_ed25519(k, der, (word32)derlen) != 0) {
			snprintf(err, errlen, "%s: neither an RSA nor an "
			    "Ed25519 private key", path);
			goto out;
		}
	}
	*out = k;
	k = NULL;
	rc = 0;
out:
	explicit_bzero(pem, pemlen);
	free(pem);
	if (der != NULL) {
		explicit_bzero(der, pemlen);
		free(der);
	}
	dkim_key_free(k);
	return rc;
}

void
dkim_key_free(struct dkim_key *k)
{
	if (k == NULL)
		return;
	if (k->rsa_init)
		wc_FreeRsaKey(&k->rsa);
	if (k->ed_init)
		wc_ed25519_free(&k->ed);
	if (k->rng_init)
		wc_FreeRng(&k->rng);
	explicit_bzero(k, sizeof *k);
	free(k);
}

enum dkim_alg
dkim_key_alg(const struct dkim_key *k)
{
	return k->alg;
}

unsigned
dkim_key_bits(const struct dkim_key *k)
{
	return k->bits;
}

/*
 * Signing changes the key's RNG and blinding state, so the const is cast
 * away here: keys are used by the one event-loop thread only.
 */
int
dkim_key_sign(const struct dkim_key *ck, const unsigned char *digest,
    unsigned char *sig, size_t siglen)
{
	struct dkim_key *k = (struct dkim_key *)ck;
	unsigned char enc[64];
	word32 enclen, len = (word32)siglen;
	int r;

	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: PureEdDSA over the SHA-256 of the header data */
		if (wc_ed25519_sign_msg(digest, WC_SHA256_DIGEST_SIZE, sig,
		    &len, &k->ed) != 0)
			return -1;
		return (int)len;
	}
	/* PKCS#1 v1.5 needs the DigestInfo around the digest (notes §8) */
	enclen = wc_EncodeSignature(enc, digest, WC_SHA256_DIGEST_SIZE,
	    wc_HashGetOID(WC_HASH_TYPE_SHA256));
	if (enclen == 0)
		return -1;
	r = wc_RsaSSL_Sign(enc, enclen, sig, len, &k->rsa, &k->rng);
	return r > 0 ? r : -1;
}

int
dkim_key_record(const struct dkim_key *ck, char *out, size_t outlen)
{
	struct dkim_key *k = (struct dkim_key *)ck;
	unsigned char der[2048];
	char b64[4096];
	word32 derlen = sizeof der;
	ssize_t b64len;
	int n;

	if (k->alg == DKIM_ED25519_SHA256) {
		/* RFC 8463: p= is the raw 32-byte public key */
		if (wc_ed25519_export_public(&k->ed, der, &derlen) != 0)
			return -1;
	} else {
		/* p= is the SubjectPublicKeyInfo DER */
		n = wc_RsaKeyToPublicDer(&k->rsa, der, sizeof der);
		if (n <= 0)
			return -1;
		derlen = (word32)n;
	}
	if ((b64len = base64_encode(der, derlen, b64, sizeof b64)) == -1)
		return -1;
	n = snprintf(out, outlen, "v=DKIM1; k=%s; p=%.*s",
	    k->alg == DKIM_ED25519_SHA256 ? "ed25519" : "rsa",
	    (int)b64len, b64);
	if (n < 0 || (size_t)n >= outlen)
		return -1;
	return n;
}

/* O_EXCL: never replace an existing key; mode 0600 from the start */
static int
write_new(const char *path, const unsigned char *p, size_t n, char *err,
    size_t errlen)
{
	size_t off = 0;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (off < n || fsync(fd) == -1 || close(fd) == -1) {
		snprintf(err, errlen, "%s: write: %s", path, strerror(errno));
		if (off < n)
			close(fd);
		unlink(path);
		return -1;
	}
	return 0;
}

int
dkim_keygen(enum dkim_alg alg, unsigned bits, const char *path, char *err,
    size_t errlen)
{
	unsigned char der[4096], pem[6144];
	WC_RNG rng;
	RsaKey rsa;
	ed25519_key ed;
	int derlen = -1, pemlen, rc = -1;

	if (alg == DKIM_RSA_SHA256) {
		if (bits == 0)
			bits = RSA_WEAK_BITS;
		if (bits < RSA_MIN_BITS || bits > 4096 || bits % 8 != 0) {
			snprintf(err, errlen, "RSA key size %u: 1024 to 4096 "
			    "bits, a multiple of 8", bits);
			return -1;
		}
	} else if (alg != DKIM_ED25519_SHA256) {
		snprintf(err, errlen, "unknown algorithm");
		return -1;
	}
	if (wc_InitRng(&rng) != 0) {
		snprintf(err, errlen, "cannot seed the RNG");
		return -1;
	}
	if (alg == DKIM_RSA_SHA256) {
		if (wc_InitRsaKey(&rsa, NULL) == 0) {
			if (wc_MakeRsaKey(&rsa, (int)bits, WC_RSA_EXPONENT,
			    &rng) == 0)
				derlen = wc_RsaKeyToDer(&rsa, der, sizeof der);
			wc_FreeRsaKey(&rsa);
		}
	} else {
		if (wc_ed25519_init(&ed) == 0) {
			if (wc_ed25519_make_key(&rng, ED25519_KEY_SIZE,
			    &ed) == 0)
				derlen = wc_Ed25519PrivateKeyToDer(&ed, der,
				    sizeof der);
			wc_ed25519_free(&ed);
		}
	}
	wc_FreeRng(&rng);
	if (derlen <= 0) {
		snprintf(err, errlen, "key generation failed (%d)", derlen);
		goto out;
	}
	pemlen = wc_DerToPem(der, (word32)derlen, pem, sizeof pem,
	    alg == DKIM_RSA_SHA256 ? PRIVATEKEY_TYPE : PKCS8_PRIVATEKEY_TYPE);
	if (pemlen <= 0) {
		snprintf(err, errlen, "PEM encoding failed (%d)", pemlen);
		goto out;
	}
	rc = write_new(path, pem, (size_t)pemlen, err, errlen);
out:
	explicit_bzero(der, sizeof der);
	explicit_bzero(pem, sizeof pem);
	return rc;
}
