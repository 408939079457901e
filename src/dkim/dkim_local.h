/*
 * dkim_local - what the gw_dkim modules share and nobody else sees.
 */
#ifndef GW_DKIM_LOCAL_H
#define GW_DKIM_LOCAL_H

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/settings.h>
#include <wolfssl/wolfcrypt/sha256.h>
#include <wolfssl/wolfcrypt/rsa.h>
#include <wolfssl/wolfcrypt/ed25519.h>
#include <wolfssl/wolfcrypt/random.h>

#include "dkim/dkim.h"
#include "dkim/dkim_canon.h"

#define DKIM_MAX_FIELDS		1024	/* header fields kept per message */

struct dkim_key {
	enum dkim_alg	alg;
	unsigned	bits;
	RsaKey		rsa;
	ed25519_key	ed;
	WC_RNG		rng;		/* RSA blinding */
	int		rsa_init, ed_init, rng_init;
};

struct dkim_field {
	size_t	off, len;	/* in the header block, with the final CRLF */
	size_t	namelen;	/* up to the colon, blanks excluded */
};

enum dkim_msg_state {
	DKIM_MSG_HEADER = 0,	/* collecting the header block */
	DKIM_MSG_BODY,		/* hashing the body */
	DKIM_MSG_DONE,		/* dkim_msg_end() called */
	DKIM_MSG_UNSIGNABLE	/* header block too large or malformed */
};

struct dkim_msg {
	enum dkim_msg_state state;
	const char	*why;		/* reason when unsignable */
	char		*hdr;		/* the header block */
	size_t		 hdrlen, hdrcap;
	int		 crlfs;		/* end-of-header matcher: 0..3 of CRLFCRLF */
	struct dkim_field *fields;
	size_t		 nfields;
	unsigned	 canons;	/* DKIM_BODY_*: the body hashes kept */
	wc_Sha256	 sha[2];	/* body hash, by enum dkim_canon */
	struct dkim_body body[2];
	unsigned char	 bh[2][WC_SHA256_DIGEST_SIZE];
	int		 from_count;
	char		 from_domain[256];
	const char	*from_why;
	char		 whybuf[64];
};

/* dkim_key_sign - sign a SHA-256 digest; the signature length or -1 */
int	dkim_key_sign(const struct dkim_key *, const unsigned char *digest,
	    unsigned char *sig, size_t siglen);

#endif
