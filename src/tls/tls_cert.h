/*
 * tls_cert.h - the facts smtpgate takes from a certificate's own DER, and
 * the host-name matcher that uses them.  Both are pure (no wolfSSL, no
 * I/O), so that cmocka tables and fuzzers call them directly.
 *
 * Contract: tls_cert_parse() reads an X.509 certificate (DER, as sent by
 * the server) and fills struct tls_cert_facts with spans that point into
 * the caller's buffer: the SubjectPublicKeyInfo exactly as encoded (the
 * input of an RFC 7469 pin, whatever the key type), the issuer and
 * subject names, the key type and RSA modulus size, the hash of the
 * certificate's signature, the dNSName and iPAddress entries of the
 * subjectAltName, and the subject's last commonName.  It returns NULL, or
 * a static text saying what is malformed (then *f is unusable).
 *
 * tls_name_match() decides whether such a certificate names the host
 * smtpgate meant to reach (tls_name), as RFC 6125 (and RFC 9525) says;
 * see docs/configuration.md, "Host-name check", for the rules.
 */
#ifndef GW_TLS_CERT_H
#define GW_TLS_CERT_H

#include <stddef.h>

#define TLS_CERT_MAX_DNS	128	/* subjectAltName dNSName entries kept */
#define TLS_CERT_MAX_IP		32	/* iPAddress entries kept */

struct tls_span {
	const unsigned char	*p;
	size_t			 len;
};

enum tls_key_type {
	TLS_KEY_OTHER = 0,
	TLS_KEY_RSA,		/* rsaEncryption or RSASSA-PSS */
	TLS_KEY_EC,
	TLS_KEY_ED25519,
	TLS_KEY_ED448
};

enum tls_sig_hash {
	TLS_SIG_OTHER = 0,	/* SHA-2, EdDSA, or one we do not know */
	TLS_SIG_SHA1,		/* SHA-1 with RSA, DSA or ECDSA; PSS over SHA-1 */
	TLS_SIG_MD		/* MD2, MD4, MD5: never acceptable */
};

struct tls_cert_facts {
	struct tls_span		 spki;		/* the whole SEQUENCE */
	struct tls_span		 issuer;	/* Name, whole SEQUENCE */
	struct tls_span		 subject;
	enum tls_key_type	 key;
	unsigned		 rsa_bits;	/* modulus size, RSA only */
	enum tls_sig_hash	 sighash;
	int			 has_san;	/* a subjectAltName extension */
	struct tls_span		 dns[TLS_CERT_MAX_DNS];
	size_t			 ndns;
	struct tls_span		 ip[TLS_CERT_MAX_IP];
	size_t			 nip;
	int			 truncated;	/* more names than kept */
	struct tls_span		 cn;		/* last CN value; len 0: none */
};

/* tls_cert_parse - NULL, or why der is not a certificate we can read */
const char *tls_cert_parse(const unsigned char *der, size_t len,
	    struct tls_cert_facts *f);

/* how tls_name_match() matched */
#define TLS_NAME_NONE		0
#define TLS_NAME_DNS		1	/* a dNSName, exactly */
#define TLS_NAME_WILDCARD	2	/* a dNSName "*.example.com" */
#define TLS_NAME_CN		3	/* the commonName (no dNSName at all) */
#define TLS_NAME_IP		4	/* an iPAddress */

/*
 * tls_name_match - TLS_NAME_NONE, or how the certificate names ref (a
 * host name, or an IPv4/IPv6 literal which only iPAddress entries match).
 */
int	tls_name_match(const char *ref, const struct tls_cert_facts *f);

/*
 * tls_name_match_dns - one presented DNS identifier (pat, patlen: a
 * dNSName or CN as found, any bytes) against the host name ref: 0 no,
 * TLS_NAME_DNS or TLS_NAME_WILDCARD.
 */
int	tls_name_match_dns(const char *ref, const unsigned char *pat,
	    size_t patlen);

#endif
