/*
 * smime_pkcs7 - the CMS (PKCS#7) objects of S/MIME through wolfCrypt:
 * a detached SignedData over the signed MIME entity, an EnvelopedData to
 * the recipients' certificates (RFC 8551, RFC 5652).
 *
 * Contract: every function returns 0 or -1 with why set (a short text
 * without the file's name, which the caller adds with its key).  Loaded
 * objects are read-only afterwards and may be shared by any number of
 * messages.  Outputs are DER, malloc'd, freed by the caller.  No I/O but
 * the loaders' file reads; no logging.
 */
#ifndef GW_SMIME_PKCS7_H
#define GW_SMIME_PKCS7_H

#include <stddef.h>

/* the content encryption of an EnvelopedData */
enum smime_enc {
	SMIME_ENC_AES256_CBC = 0,
	SMIME_ENC_AES128_CBC
};

struct smime_signer;		/* certificate, key, chain */
struct smime_cert;		/* one recipient's certificate */

/*
 * smime_signer_load - the PEM certificate, its PEM private key (RSA or
 * ECDSA; PKCS#1, PKCS#8 or SEC1) and optional PEM intermediates (chain
 * may be NULL or "").  A probe is signed and verified, so a key that
 * does not belong to the certificate is refused here.  *which names the
 * key at fault: "cert_file", "key_file" or "chain_file".
 */
int	smime_signer_load(const char *cert, const char *key, const char *chain,
	    struct smime_signer **out, const char **which, char *why,
	    size_t wlen);
void	smime_signer_free(struct smime_signer *);

/*
 * smime_cert_load - one recipient's PEM certificate; its public key must
 * be RSA (key transport): a probe is encrypted to it.
 */
int	smime_cert_load(const char *path, struct smime_cert **out, char *why,
	    size_t wlen);
void	smime_cert_free(struct smime_cert *);

/*
 * smime_sign - a detached SignedData (SHA-256, the signing time, the
 * signer's certificate and chain) over content[0..len).
 */
int	smime_sign(const struct smime_signer *, const void *content,
	    size_t len, unsigned char **der, size_t *derlen, char *why,
	    size_t wlen);

/*
 * smime_encrypt - an EnvelopedData of content[0..len) to each of the n
 * certificates (RSA key transport), the content encrypted with enc.
 */
int	smime_encrypt(const struct smime_cert *const *certs, size_t n,
	    enum smime_enc enc, const void *content, size_t len,
	    unsigned char **der, size_t *derlen, char *why, size_t wlen);

#endif
