/*
 * gsslayer.c - RFC 4752 section 3.1's security layer messages (pure;
 * see gsslayer.h).
 */
#include <string.h>

#include "auth/gsslayer.h"

/* gsslayer_parse - the server's 4-octet offer; see gsslayer.h */
const char *
gsslayer_parse(const unsigned char *msg, size_t len, unsigned *layers,
    uint32_t *maxsize)
{
	/* RFC 4752: "If the resulting cleartext is not 4 octets long, the
	 * client fails the negotiation." */
	if (len != 4)
		return "the security layer offer is not 4 octets";
	*layers = msg[0];
	*maxsize = (uint32_t)msg[1] << 16 | (uint32_t)msg[2] << 8 |
	    (uint32_t)msg[3];
	if ((msg[0] & GSSLAYER_NONE) == 0)
		return "the server requires a GSSAPI security layer "
		    "(integrity or confidentiality), which smtpgate does not "
		    "use: it relies on TLS";
	return NULL;
}

/* gsslayer_answer - "no security layer", size 0, authzid; see gsslayer.h */
const char *
gsslayer_answer(const char *authzid, unsigned char *out, size_t outlen,
    size_t *n)
{
	size_t	 alen, i;

	alen = authzid != NULL ? strlen(authzid) : 0;
	if (alen > GSSLAYER_AUTHZ_MAX)
		return "authorization identity too long";
	for (i = 0; i < alen; i++)
		if (authzid[i] == '\r' || authzid[i] == '\n')
			return "CR or LF in the authorization identity";
	if (outlen < 4 + alen)
		return "security layer answer too long";
	out[0] = GSSLAYER_NONE;
	out[1] = out[2] = out[3] = 0;
	if (alen > 0)
		memcpy(out + 4, authzid, alen);
	*n = 4 + alen;
	return NULL;
}
