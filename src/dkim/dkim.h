/*
 * dkim - DKIM signing (RFC 6376, RFC 8463) with wolfCrypt.
 *
 * Contract: keys are loaded once (start, SIGHUP) and are read-only while
 * messages are signed.  A message is fed to a dkim_msg as it streams
 * (unstuffed bytes, CRLF line ends, any chunking): the header block is
 * kept in memory up to a bound, the body is only hashed.  dkim_msg_sign()
 * then builds one folded "DKIM-Signature: ...\r\n" header per signer.
 * Choosing which signers apply to which message is the caller's job
 * (dkim_domain_match() helps).  Nothing here logs; errors come back as
 * text in caller buffers.  Key material is never put in error text.
 */
#ifndef GW_DKIM_H
#define GW_DKIM_H

#include <stddef.h>
#include <time.h>

enum dkim_alg { DKIM_RSA_SHA256 = 1, DKIM_ED25519_SHA256 };
enum dkim_canon { DKIM_CANON_SIMPLE = 0, DKIM_CANON_RELAXED };

/* Limits. */
#define DKIM_MAX_HEADERS	32		/* names in h= config lists */
#define DKIM_MAX_HEADER_BLOCK	(256 * 1024)	/* larger: unsignable */
#define DKIM_SIG_MAX		4096		/* room for one signature header */
#define DKIM_RECORD_MAX		1024		/* room for one TXT value */

struct dkim_key;

/*
 * dkim_key_load - read a PEM private key (RSA PKCS#1 or PKCS#8 of 1024 bits
 * or more, or Ed25519 PKCS#8).  Refuses a file readable by group or others.
 * *weak is set to 1 for RSA under 2048 bits.  0 ok, -1 with err.
 */
int	dkim_key_load(const char *path, struct dkim_key **out, int *weak,
	    char *err, size_t errlen);
void	dkim_key_free(struct dkim_key *);
enum dkim_alg dkim_key_alg(const struct dkim_key *);
/* dkim_key_bits - RSA modulus size, 256 for Ed25519 */
unsigned dkim_key_bits(const struct dkim_key *);
/* dkim_key_record - the DNS TXT value "v=DKIM1; k=...; p=..."; length or -1 */
int	dkim_key_record(const struct dkim_key *, char *out, size_t outlen);
/*
 * dkim_keygen - make a key (bits: RSA only, 0 = 2048) and write it as PEM to
 * a new file of mode 0600 (never overwrites).  0 ok, -1 with err.
 */
int	dkim_keygen(enum dkim_alg, unsigned bits, const char *path, char *err,
	    size_t errlen);

struct dkim_signer {			/* one [dkim NAME] section, resolved */
	const struct dkim_key *key;
	const char *domain, *selector;
	const char *identity;		/* "" or NULL: no i= */
	enum dkim_canon hcanon, bcanon;
	const char *headers[DKIM_MAX_HEADERS];	/* names to sign */
	size_t	nheaders;
	const char *oversign[DKIM_MAX_HEADERS];	/* signed once more than present */
	size_t	noversign;
	int	sign_date, sign_message_id;	/* 0: left out of h= */
	unsigned expire;		/* seconds; 0 = no x= */
};

struct dkim_msg;

/* dkim_msg_new - hashes both body canonicalisations; NULL if out of memory */
struct dkim_msg *dkim_msg_new(void);
/*
 * dkim_msg_new_canons - hashes only the body canonicalisations in mask
 * (DKIM_BODY_SIMPLE | DKIM_BODY_RELAXED: what the candidate signers use);
 * a signer asking for another fails in dkim_msg_sign().  Saves a SHA-256
 * pass over the body when all signers agree.
 */
#define DKIM_BODY_SIMPLE	(1u << DKIM_CANON_SIMPLE)
#define DKIM_BODY_RELAXED	(1u << DKIM_CANON_RELAXED)
struct dkim_msg *dkim_msg_new_canons(unsigned mask);
/*
 * dkim_msg_write - feed message bytes.  -1: header block too large (the
 * message is then unsignable; this is not an I/O error, keep relaying).
 */
int	dkim_msg_write(struct dkim_msg *, const char *, size_t);
/* dkim_msg_end - no more bytes; finishes the body hashes.  0 ok, -1 unsignable */
int	dkim_msg_end(struct dkim_msg *);
/*
 * dkim_msg_from_domain - the From domain (lowercase), or NULL with *why set
 * ("no From header", "2 From headers", "header block too large", ...).
 * Valid after dkim_msg_end().
 */
const char *dkim_msg_from_domain(const struct dkim_msg *, const char **why);
/*
 * dkim_msg_sign - one "DKIM-Signature: ...\r\n" header, folded.  0 ok;
 * DKIM_ERR_MESSAGE when the message itself cannot be signed (unsignable,
 * no or repeated From, too many fields for h=, a header too long): the
 * same message would fail again; -1 for everything else (a bad signer, a
 * key error, called too early).  err says why in both cases.
 */
#define DKIM_ERR_MESSAGE	(-2)
int	dkim_msg_sign(const struct dkim_msg *, const struct dkim_signer *,
	    time_t now, char *out, size_t outlen, char *err, size_t errlen);
void	dkim_msg_free(struct dkim_msg *);

/* Helpers the configuration uses. */
/* dkim_canon_parse - "relaxed/simple", "simple" (= simple/simple); 0 ok, -1 */
int	dkim_canon_parse(const char *, enum dkim_canon *h, enum dkim_canon *b);
/* dkim_canon_name - "relaxed" or "simple" */
const char *dkim_canon_name(enum dkim_canon);
/* dkim_alg_name - "rsa-sha256" or "ed25519-sha256", as in a= */
const char *dkim_alg_name(enum dkim_alg);
extern const char *const dkim_default_headers[];	/* NULL-terminated */
/*
 * dkim_domain_match - 1 if from_domain equals signer_domain (any case), or,
 * with subdomains, ends in "." signer_domain; else 0.
 */
int	dkim_domain_match(const char *from_domain, const char *signer_domain,
	    int subdomains);

#endif
