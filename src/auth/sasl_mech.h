/*
 * sasl_mech.h - private to src/auth: the mechanisms that keep state
 * between their lines (SCRAM, NTLM, DIGEST-MD5), each in a file of its
 * own, called from sasl.c's sasl_start/sasl_step dispatch.  The tests call
 * the inner functions directly to feed published vectors (fixed nonces,
 * another service name).
 *
 * Same contract as sasl.h: pure, no I/O, no allocation; buffers that held
 * a secret are wiped on every path; NULL or a static error string.
 */
#ifndef GW_SASL_MECH_H
#define GW_SASL_MECH_H

#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"

/* sasl.c's helpers, shared with the mechanism files */
const char	*sasl_b64_line(const char *prefix, const unsigned char *raw,
		    size_t len, char *out, size_t outlen);
const char	*sasl_esc_saslname(const char *s, char *out, size_t outlen);

/* --- SCRAM (sasl_scram.c), RFC 5802 / RFC 7677, gs2 header "n,," --- */
#define SCRAM_ITER_MAX	100000	/* PBKDF2 runs in the event loop */
#define SCRAM_SALT_MAX	128
/*
 * scram_start - "AUTH SCRAM-SHA-x <client-first>" with cnonce (printable,
 * no ','); remembers client-first-message-bare in st and sets need_proof.
 */
const char	*scram_start(int mech, const struct sasl_cred *,
		    const char *cnonce, struct sasl_state *, char *out,
		    size_t outlen);
/* scram_cnonce - the client nonce from st->rnd (base64 of 18 bytes) */
void		 scram_cnonce(const struct sasl_state *, char out[25]);
/*
 * scram_step - step 0: server-first in, client-final out (the server
 * signature to expect kept in st); step 1: server-final in (v= checked,
 * st->proved set), an empty line out.  e= is a failure.
 */
const char	*scram_step(int mech, int step, const struct sasl_cred *,
		    struct sasl_state *, const unsigned char *msg,
		    size_t len, char *out, size_t outlen);

/* --- NTLM (sasl_ntlm.c), MS-NLMP, NTLMv2 responses only --- */
#define NTLM_TINFO_MAX	1024	/* type 2 target info kept */
struct ntlm_challenge {
	uint32_t	 flags;
	unsigned char	 server_chal[8];
	unsigned char	 tinfo[NTLM_TINFO_MAX];
	size_t		 tinfolen;
	int		 have_time;	/* MsvAvTimestamp found */
	unsigned char	 time[8];	/* FILETIME, little-endian */
};
/* ntlm_parse_type2 - check and take apart a type 2 (CHALLENGE) message */
const char	*ntlm_parse_type2(const unsigned char *, size_t,
		    struct ntlm_challenge *);
/*
 * ntlm_ntowfv2 - HMAC_MD5(MD4(UTF-16LE(password)),
 * UTF-16LE(UPPER(user) + domain)), MS-NLMP 3.3.2
 */
const char	*ntlm_ntowfv2(const char *password, const char *user,
		    const char *domain, unsigned char key[16]);
/*
 * ntlm_v2_response - NTProofStr + temp (MS-NLMP 3.3.2) into nt (room for
 * ntmax), its length in *ntlen, the session base key into sbk (may be NULL).
 */
const char	*ntlm_v2_response(const unsigned char key[16],
		    const struct ntlm_challenge *, const unsigned char time[8],
		    const unsigned char cchal[8], unsigned char *nt,
		    size_t ntmax, size_t *ntlen, unsigned char sbk[16]);
/* ntlm_split_user - "DOMAIN\user" apart; anything else is the user, as is */
const char	*ntlm_split_user(const char *login, char *user, size_t ulen,
		    char *domain, size_t dlen);
const char	*ntlm_start(const struct sasl_cred *, struct sasl_state *,
		    char *out, size_t outlen);
const char	*ntlm_step(int step, const struct sasl_cred *,
		    struct sasl_state *, const unsigned char *msg, size_t len,
		    char *out, size_t outlen);

/* --- DIGEST-MD5 (sasl_digest.c), RFC 2831, qop=auth --- */
const char	*digest_start(const struct sasl_cred *, struct sasl_state *,
		    char *out, size_t outlen);
/*
 * digest_response - the answer to the first challenge, with the given
 * cnonce and service ("smtp"; the tests use RFC 2831's "imap"); the
 * rspauth to expect kept in st.  The raw response (not base64) into out.
 */
const char	*digest_response(const char *serv, const struct sasl_cred *,
		    const char *cnonce, struct sasl_state *,
		    const unsigned char *msg, size_t len, char *out,
		    size_t outlen);
const char	*digest_step(int step, const struct sasl_cred *,
		    struct sasl_state *, const unsigned char *msg, size_t len,
		    char *out, size_t outlen);

#endif
