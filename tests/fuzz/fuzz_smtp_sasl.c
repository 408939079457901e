/*
 * fuzz_smtp_sasl - the listener's SASL response decoders (smtp_sasl): each
 * CRLF-delimited line of the input is given to the PLAIN and the LOGIN
 * decoder, as the session would after "AUTH PLAIN" or a 334.
 *
 * Invariants: a decoded user name and password are terminated, within
 * SMTP_SASL_ID_MAX, non-empty (the PLAIN user and both LOGIN steps) and
 * free of control characters (they reach the upstream's wire and our
 * logs); a PLAIN result encoded again decodes to the same pair; after an
 * error the output is all zero.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_sasl.h"
#include "util/base64.h"
#include "fuzz.h"

static void	check_id(const char *, size_t, const char *);
static void	check_zero(const void *, size_t, const char *);
static void	check_line(const char *, size_t);

static void
check_id(const char *s, size_t size, const char *what)
{
	const unsigned char	*u;

	FUZZ_CHECK(memchr(s, '\0', size) != NULL, "%s not terminated", what);
	FUZZ_CHECK(strlen(s) <= SMTP_SASL_ID_MAX, "%s too long", what);
	for (u = (const unsigned char *)s; *u != '\0'; u++)
		FUZZ_CHECK(*u >= 0x20 && *u != 0x7f, "octet 0x%02x in %s",
		    *u, what);
}

static void
check_zero(const void *p, size_t len, const char *what)
{
	const unsigned char	*u = p;
	size_t			 i;

	for (i = 0; i < len; i++)
		FUZZ_CHECK(u[i] == 0, "%s not wiped after an error", what);
}

static void
check_line(const char *line, size_t len)
{
	struct smtp_sasl_creds	 c, again;
	char			 out[SMTP_SASL_ID_MAX + 1];
	char			 raw[2 * SMTP_SASL_ID_MAX + 2];
	char			 b64[4 * sizeof(raw) / 3 + 8];
	size_t			 ul, pl;

	if (smtp_sasl_plain_decode(line, len, &c) == NULL) {
		check_id(c.user, sizeof(c.user), "PLAIN user");
		check_id(c.pass, sizeof(c.pass), "PLAIN password");
		FUZZ_CHECK(c.user[0] != '\0', "empty PLAIN user");
		FUZZ_CHECK(c.pass[0] != '\0', "empty PLAIN password");
		ul = strlen(c.user);
		pl = strlen(c.pass);
		raw[0] = '\0';
		memcpy(raw + 1, c.user, ul);
		raw[1 + ul] = '\0';
		memcpy(raw + 2 + ul, c.pass, pl);
		FUZZ_CHECK(base64_encode(raw, 2 + ul + pl, b64,
		    sizeof(b64)) > 0, "re-encoding failed");
		FUZZ_CHECK(smtp_sasl_plain_decode(b64, strlen(b64), &again) ==
		    NULL, "re-encoded PLAIN refused");
		FUZZ_CHECK(strcmp(again.user, c.user) == 0 &&
		    strcmp(again.pass, c.pass) == 0, "PLAIN round trip");
	} else
		check_zero(&c, sizeof(c), "PLAIN credentials");

	if (smtp_sasl_login_decode(line, len, out, sizeof(out)) == NULL) {
		check_id(out, sizeof(out), "LOGIN step");
		FUZZ_CHECK(out[0] != '\0', "empty LOGIN step");
	} else
		check_zero(out, sizeof(out), "LOGIN step");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *end = p + size, *eol;
	size_t		 len;

	while (p < end) {
		eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		len = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
		/* the session bounds a SASL line before decoding it */
		if (len <= SMTP_SASL_LINE_MAX - 2)
			check_line(p, len);
		p += len + 2;
	}
	return 0;
}
