/*
 * gsslayer - RFC 4752's security layer negotiation, the last step of
 * SASL GSSAPI, as plain bytes: the server's 4-octet offer (after
 * gss_unwrap) parsed, and the client's answer (before gss_wrap) built.
 * smtpgate always answers "no security layer": SMTP's own TLS is the
 * protection of the connection, and the GSS layer would wrap every
 * SMTP line afterwards, which the relay does not do.
 *
 * Contract: pure, no I/O, no allocation; the GSS calls are in
 * sasl_gssapi.c.
 */
#ifndef GW_GSSLAYER_H
#define GW_GSSLAYER_H

#include <stddef.h>
#include <stdint.h>

/* the layer bits of the first octet (RFC 4752 section 3.3) */
#define GSSLAYER_NONE		0x01
#define GSSLAYER_INTEGRITY	0x02
#define GSSLAYER_CONFIDENTIAL	0x04

#define GSSLAYER_AUTHZ_MAX	256	/* the authorization identity */

/*
 * gsslayer_parse - the server's unwrapped offer: exactly 4 octets, the
 * bit-mask and the maximum message size it accepts (network order).
 * NULL, or an error string (wrong length; no "no security layer" bit,
 * i.e. the server insists on a layer smtpgate does not speak).
 */
const char	*gsslayer_parse(const unsigned char *msg, size_t len,
		    unsigned *layers, uint32_t *maxsize);
/*
 * gsslayer_answer - the client's answer: "no security layer" (0x01), a
 * maximum size of 0 (RFC 4752: MUST be 0 without a layer) and the
 * authorization identity authzid (UTF-8, may be "" or NULL: the
 * identity the server derives from the principal).  Into out; *n is its
 * length.  NULL, or an error string (CR, LF or NUL in authzid, too long,
 * outlen too small).
 */
const char	*gsslayer_answer(const char *authzid, unsigned char *out,
		    size_t outlen, size_t *n);

#endif
