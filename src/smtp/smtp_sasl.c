/*
 * smtp_sasl - the listener's decoding of AUTH PLAIN and LOGIN responses.
 *
 * The decoded bytes sit in a stack buffer that is wiped on every path out;
 * only the checked pieces are copied to the caller.  A credential with a
 * control character is refused rather than cleaned: in passthrough mode it
 * would be re-encoded for the upstream, and a CR or LF smuggled through
 * base64 is how a second command would get there (OpenSMTPD c1ab227c).
 */
#include <string.h>

#include "smtp/smtp_sasl.h"
#include "util/base64.h"

/* a decoded PLAIN response: three identities and two NULs */
#define PLAIN_MAX	(3 * SMTP_SASL_ID_MAX + 2)

static const char *sasl_piece(const char *, size_t, char *, size_t);

static const char err_b64[] = "Invalid base64 data";
static const char err_plain[] = "Invalid PLAIN response";
static const char err_long[] = "Credentials too long";
static const char err_char[] = "Invalid character in credentials";
static const char err_authz[] = "Authorization identity not supported";

/* smtp_sasl_cancel - the client's "*" that aborts the exchange */
int
smtp_sasl_cancel(const char *line, size_t len)
{
	return len == 1 && line[0] == '*';
}

/* smtp_sasl_wipe - forget credentials */
void
smtp_sasl_wipe(struct smtp_sasl_creds *c)
{
	explicit_bzero(c, sizeof(*c));
}

/* one identity out of the decoded bytes: bounded, no control characters */
static const char *
sasl_piece(const char *p, size_t len, char *out, size_t outlen)
{
	size_t	 i;

	if (len >= outlen)
		return err_long;
	for (i = 0; i < len; i++)
		if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
			return err_char;
	memcpy(out, p, len);
	out[len] = '\0';
	return NULL;
}

/* smtp_sasl_plain_decode - "authzid NUL authcid NUL passwd", base64 */
const char *
smtp_sasl_plain_decode(const char *b64, size_t len, struct smtp_sasl_creds *c)
{
	char		 dec[PLAIN_MAX + 1];
	const char	*err = NULL, *n1, *n2;
	size_t		 dlen, zlen, ulen;
	ssize_t		 r;

	smtp_sasl_wipe(c);
	/*
	 * Check the encoded length first: the decoder refuses overflow, but
	 * a too-long response deserves its own message.
	 */
	if (len / 4 * 3 > sizeof(dec) + 2)
		return err_long;
	/* a bad quantum fails after the good ones are decoded: wipe them */
	if ((r = base64_decode(b64, len, dec, sizeof(dec))) == -1) {
		err = err_b64;
		goto out;
	}
	dlen = (size_t)r;
	if ((n1 = memchr(dec, '\0', dlen)) == NULL ||
	    (n2 = memchr(n1 + 1, '\0', dlen - (size_t)(n1 - dec) - 1)) ==
	    NULL) {
		err = err_plain;
		goto out;
	}
	zlen = (size_t)(n1 - dec);
	ulen = (size_t)(n2 - n1 - 1);
	/* a third NUL lands in the password and is refused there */
	if (ulen == 0 || (size_t)(dec + dlen - n2 - 1) == 0) {
		err = err_plain;
		goto out;
	}
	if (zlen != 0 && (zlen != ulen || memcmp(dec, n1 + 1, ulen) != 0)) {
		err = err_authz;
		goto out;
	}
	if ((err = sasl_piece(n1 + 1, ulen, c->user, sizeof(c->user))) ==
	    NULL)
		err = sasl_piece(n2 + 1, (size_t)(dec + dlen - n2 - 1),
		    c->pass, sizeof(c->pass));
out:
	explicit_bzero(dec, sizeof(dec));
	if (err != NULL)
		smtp_sasl_wipe(c);
	return err;
}

/* smtp_sasl_login_decode - one LOGIN step, base64 */
const char *
smtp_sasl_login_decode(const char *b64, size_t len, char *out, size_t outlen)
{
	char		 dec[SMTP_SASL_ID_MAX + 1];
	const char	*err;
	ssize_t		 r;

	if (outlen == 0)
		return err_long;
	explicit_bzero(out, outlen);
	if (len / 4 * 3 > sizeof(dec) + 2)
		return err_long;
	if ((r = base64_decode(b64, len, dec, sizeof(dec))) == -1)
		err = err_b64;	/* dec may hold the quanta before the bad one */
	/* an empty user name or password is not a credential */
	else if (r == 0)
		err = "Empty credential";
	else
		err = sasl_piece(dec, (size_t)r, out, outlen);
	explicit_bzero(dec, sizeof(dec));
	if (err != NULL)
		explicit_bzero(out, outlen);
	return err;
}
