/*
 * sasl - the client side of the SASL mechanisms smtpgate speaks to an
 * upstream (PLAIN, LOGIN, CRAM-MD5, XOAUTH2, OAUTHBEARER, SCRAM-SHA-1,
 * SCRAM-SHA-256, DIGEST-MD5, NTLM, GSSAPI), and the choice of mechanism.
 *
 * Contract: pure functions, no I/O, no logging, no allocation (GSSAPI
 * excepted: it calls the system's GSS-API library, see sasl_gssapi).
 * What an exchange must remember between its lines (nonces, the SCRAM
 * auth message, the server signature to expect) lives in a struct
 * sasl_state the caller owns, seeds and clears.  The caller
 * (smtp_client) sends the lines these build and feeds back the upstream's
 * 334 challenges.  Inputs holding CR, LF or NUL are refused (they would
 * end up on the wire or split a SASL field).  Output buffers are filled
 * whole or the call fails; callers wipe them (explicit_bzero) once sent.
 */
#ifndef GW_SASL_H
#define GW_SASL_H

#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"		/* enum auth_mech */

/* RFC 4954: an AUTH command line may be 12288 octets; this fits it */
#define SASL_LINE_MAX		12300
/* secrets: bounded so that the encoded line always fits */
#define SASL_USER_MAX		256
#define SASL_SECRET_MAX		1024
#define SASL_TOKEN_MAX		8192

#define SASL_BIT(m)		(1u << (unsigned)(m))

struct sasl_cred {
	const char	*user;		/* authentication identity */
	const char	*password;	/* or NULL */
	const char	*token;		/* OAuth bearer token, or NULL */
	const char	*host;		/* OAUTHBEARER host=, may be NULL */
	unsigned	 port;		/* OAUTHBEARER port=, 0 = none */
	/* GSSAPI: user is then the authorization identity, may be "" */
	const char	*keytab;	/* client keytab path, or NULL */
	const char	*principal;	/* client principal, with keytab */
	const char	*service;	/* "service@host"; NULL: smtp@host */
};

/*
 * The state of one exchange, from sasl_start to the final reply.  The
 * caller zeroes it, fills rnd (random bytes: nonces, NTLMv2's client
 * challenge) and now (seconds since the epoch: NTLMv2's timestamp)
 * before sasl_start; tests fill them with fixed values to check
 * published vectors.  sasl_state_clear() wipes it on every path.
 */
#define SASL_RAND_LEN		32
#define SASL_SCRAM_MSG_MAX	2048	/* client-first-bare + server-first + ... */
struct sasl_state {
	unsigned char	 rnd[SASL_RAND_LEN];
	int64_t		 now;
	/*
	 * need_proof: set by sasl_start for a mechanism in which the server
	 * proves it knows the secret (SCRAM's v=, DIGEST-MD5's rspauth,
	 * GSSAPI's mutual authentication); proved: set by sasl_step once
	 * that proof checked out.  A 235 while need_proof && !proved is
	 * refused (sasl_final_ok): a server that cannot prove it knows the
	 * password may be an impostor.
	 */
	int		 need_proof;
	int		 proved;
	/* SCRAM (sasl_scram.c): the auth message so far, the proof to expect */
	char		 scram_msg[SASL_SCRAM_MSG_MAX];
	size_t		 scram_msglen;
	size_t		 scram_barelen;	/* client-first-message-bare's length */
	unsigned char	 scram_server_sig[64];
	size_t		 scram_siglen;
	/* DIGEST-MD5 (sasl_digest.c): the rspauth value to expect */
	char		 digest_rspauth[33];
	/* GSSAPI (sasl_gssapi.c): its context, freed by sasl_state_clear */
	void		*gss;
};

/* sasl_state_clear - wipe the state (and free what GSSAPI holds) */
void		sasl_state_clear(struct sasl_state *);
/*
 * sasl_final_ok - may a 235 end this exchange?  No when the mechanism
 * has the server prove itself and it has not (see need_proof above).
 */
int		sasl_final_ok(const struct sasl_state *);

/* the facts the mechanism choice depends on */
struct sasl_choice {
	unsigned	 offered;	/* SASL_BIT()s of the EHLO AUTH list */
	const int	*allow;		/* auth_mechanisms, in order */
	size_t		 nallow;	/* 0: "all", strongest first */
	int		 have_token;	/* token (1) or password (0) */
	int		 have_keytab;	/* a keytab: GSSAPI only */
	int		 tls;		/* TLS is up */
	int		 cleartext_ok;	/* auth_allow_cleartext */
	unsigned	 tried;		/* SASL_BIT()s already tried */
};

/* sasl_offered - SASL_BIT()s of a space-separated EHLO AUTH list */
unsigned	sasl_offered(const char *list);
/*
 * sasl_choose - the next mechanism to try, or AUTH_MECH_NONE.
 * *cleartext is set when the choice sends a password in cleartext
 * (PLAIN or LOGIN without TLS): the caller logs that loudly.
 */
int		sasl_choose(const struct sasl_choice *, int *cleartext);
/*
 * sasl_fallback_ok - may auth_fallback try the next mechanism after this
 * final reply to AUTH?  Only when the mechanism failed, not the account
 * (RFC 4954 section 6): 432 (password transition), 504 (mechanism not
 * supported), 534 (mechanism too weak), 538 (mechanism needs encryption)
 * and 500 5.5.6 (exchange line too long for the mechanism).  Never after
 * 535 or an enhanced code 5.7.8 (credentials rejected), 454 (temporary),
 * or any other reply: each further try with a rejected secret is one
 * more failed login at the provider (lockout, fail2ban).  enh may be "".
 */
int		sasl_fallback_ok(int code, const char *enh);
/* sasl_usable - SASL_BIT()s the secret kind and TLS state allow at all */
unsigned	sasl_usable(int have_token, int tls, int cleartext_ok);
/*
 * sasl_default_set - the SASL_BIT()s the built-in order may choose
 * without an allow list (auth_mechanisms = all): DIGEST-MD5 and, before
 * TLS, NTLM only when named
 */
unsigned	sasl_default_set(int have_token, int tls);
/*
 * sasl_start - the AUTH command line for mech (no CRLF), with the initial
 * response for PLAIN, XOAUTH2 and OAUTHBEARER.  NULL or an error string.
 */
const char	*sasl_start(int mech, const struct sasl_cred *,
		    struct sasl_state *, char *out, size_t outlen);
/*
 * sasl_step - the answer to the step-th 334 challenge (step from 0):
 * challenge is the base64 text after "334 ".  *expect_fail is set when
 * the answer only ends a failed exchange (XOAUTH2/OAUTHBEARER error
 * challenges).  NULL or an error string (a challenge the mechanism does
 * not expect, bad base64, an input too long).
 */
const char	*sasl_step(int mech, int step, const struct sasl_cred *,
		    struct sasl_state *, const char *challenge, size_t len,
		    char *out, size_t outlen, int *expect_fail);
/*
 * sasl_cram_md5 - "user hexdigest" for the decoded challenge (RFC 2195),
 * NUL-terminated in out.  NULL or an error string.
 */
const char	*sasl_cram_md5(const char *user, const char *password,
		    const unsigned char *challenge, size_t len, char *out,
		    size_t outlen);

#endif
