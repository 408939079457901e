/*
 * smtp_dsn - RFC 3461 parameter values: RET, ENVID, NOTIFY, ORCPT.
 *
 * Only libc is used, like smtp_parse.c, so that the fuzz harness and the
 * unit tests can link this file alone.  The values are checked, never
 * rewritten: what passes goes upstream exactly as the client sent it.
 */
#include <stddef.h>
#include <string.h>

#include "smtp/smtp_dsn.h"

static int	 lc(int);
static int	 ieq_n(const char *, const char *, size_t);
static int	 is_atext(int);
static int	 hexval(int);
static const char *check_notify(const char *);
static const char *check_orcpt(const char *);

/* ASCII only: the C locale must not decide what a letter is */
static int
lc(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

/* the first n bytes of a and b are equal without regard to ASCII case */
static int
ieq_n(const char *a, const char *b, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (lc((unsigned char)a[i]) != lc((unsigned char)b[i]))
			return 0;
	return 1;
}

/* RFC 5322 atext, ASCII part: the addr-type of ORCPT is an atom */
static int
is_atext(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* smtp_dsn_keyword - the DSN parameter kw is for this command, or NONE */
enum smtp_dsn_kw
smtp_dsn_keyword(const char *kw, int rcpt)
{
	static const struct {
		const char		*name;
		int			 rcpt;
		enum smtp_dsn_kw	 kw;
	} dsn[] = {
		{ "RET", 0, SMTP_DSN_RET },
		{ "ENVID", 0, SMTP_DSN_ENVID },
		{ "NOTIFY", 1, SMTP_DSN_NOTIFY },
		{ "ORCPT", 1, SMTP_DSN_ORCPT },
	};
	size_t	i, n = strlen(kw);

	for (i = 0; i < sizeof(dsn) / sizeof(dsn[0]); i++)
		if (dsn[i].rcpt == (rcpt != 0) && strlen(dsn[i].name) == n &&
		    ieq_n(kw, dsn[i].name, n))
			return dsn[i].kw;
	return SMTP_DSN_NONE;
}

static int
hexval(int c)
{
	/* RFC 3461 4: "two upper case hexadecimal digits" */
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * smtp_xtext_decode - xtext = *( xchar / hexchar ), xchar any of 33-126
 * but '+' and '=', hexchar "+HH".  The decoded text ends up in the
 * upstream's DSN header fields (Original-Envelope-Id, Original-Recipient),
 * so an encoded CR or LF would be header injection there: only printable
 * US-ASCII and white space may come out, as RFC 3461 asks of the sender.
 */
const char *
smtp_xtext_decode(const char *s, char *out, size_t outsize, size_t *outlen)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 o = 0;
	int			 c, hi, lo;

	*outlen = 0;
	if (outsize == 0)
		return "No room for xtext";
	out[0] = '\0';
	while (*u != '\0') {
		if (*u == '+') {
			if ((hi = hexval(u[1])) < 0 || (lo = hexval(u[2])) < 0)
				return "Bad xtext encoding";
			c = hi * 16 + lo;
			if ((c < 0x20 && c != '\t') || c > 0x7e)
				return "Non-printable character in xtext";
			u += 3;
		} else if (*u < 33 || *u > 126 || *u == '=')
			return "Bad character in xtext";
		else
			c = *u++;
		if (o + 1 >= outsize)
			return "xtext too long";
		out[o++] = (char)c;
	}
	out[o] = '\0';
	*outlen = o;
	return NULL;
}

/* NOTIFY=NEVER, or a comma list of SUCCESS, FAILURE and DELAY */
static const char *
check_notify(const char *v)
{
	static const char *const words[] = { "SUCCESS", "FAILURE", "DELAY" };
	size_t	 n, i;
	int	 known;

	if (strlen(v) == 5 && ieq_n(v, "NEVER", 5))
		return NULL;
	for (;;) {
		for (n = 0; v[n] != '\0' && v[n] != ','; n++)
			;
		known = 0;
		for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
			if (strlen(words[i]) == n && ieq_n(v, words[i], n))
				known = 1;
		/* NEVER among others (RFC 3461 4.1) lands here too */
		if (!known)
			return "Bad NOTIFY parameter";
		if (v[n] == '\0')
			return NULL;
		v += n + 1;
	}
}

/* ORCPT=addr-type;xtext, addr-type an atom ("rfc822", "utf-8") */
static const char *
check_orcpt(const char *v)
{
	char		 dec[SMTP_PARAM_VAL_MAX];
	size_t		 n, dl;

	for (n = 0; v[n] != '\0' && v[n] != ';'; n++)
		if (!is_atext((unsigned char)v[n]))
			return "Bad ORCPT address type";
	if (n == 0 || v[n] != ';')
		return "Bad ORCPT address type";
	if (v[n + 1] == '\0')
		return "Empty ORCPT address";
	if (smtp_xtext_decode(v + n + 1, dec, sizeof(dec), &dl) != NULL)
		return "Bad ORCPT address";
	return NULL;
}

/* smtp_check_dsn - the RFC 3461 syntax of one DSN parameter's value */
const char *
smtp_check_dsn(enum smtp_dsn_kw kw, const struct smtp_param *pa)
{
	char	 dec[SMTP_PARAM_VAL_MAX];
	size_t	 dl;

	if (!pa->has_value || pa->value[0] == '\0')
		return "DSN parameter needs a value";
	switch (kw) {
	case SMTP_DSN_RET:
		if (strlen(pa->value) == 4 && (ieq_n(pa->value, "FULL", 4) ||
		    ieq_n(pa->value, "HDRS", 4)))
			return NULL;
		return "Bad RET parameter";
	case SMTP_DSN_ENVID:
		if (strlen(pa->value) > SMTP_DSN_ENVID_MAX)
			return "ENVID too long";
		if (smtp_xtext_decode(pa->value, dec, sizeof(dec), &dl) != NULL)
			return "Bad ENVID parameter";
		return NULL;
	case SMTP_DSN_NOTIFY:
		return check_notify(pa->value);
	case SMTP_DSN_ORCPT:
		return check_orcpt(pa->value);
	case SMTP_DSN_NONE:
		break;
	}
	return "Not a DSN parameter";
}
