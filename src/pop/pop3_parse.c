/*
 * pop3_parse.c - POP3 status lines, the APOP timestamp, CAPA and the APOP
 * digest (see pop3_parse.h).
 *
 * A POP3 server is as hostile as any peer: every line is length-checked
 * before a prefix is skipped, and control characters are refused rather
 * than passed on into logs or decisions.
 */
#include <wolfssl/options.h>	/* must precede every other wolfSSL header */
#include <wolfssl/wolfcrypt/md5.h>

#include <string.h>

#include "pop/pop3_parse.h"

static int	text_ok(const char *, size_t);
static int	word_ieq(const char *, size_t, const char *);

/* printable ASCII, 8-bit octets and TAB; no CR, LF, NUL or DEL */
static int
text_ok(const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i;

	for (i = 0; i < len; i++)
		if ((u[i] < 0x20 && u[i] != '\t') || u[i] == 0x7f)
			return 0;
	return 1;
}

/* the len octets at s equal the keyword w, ignoring ASCII case */
static int
word_ieq(const char *s, size_t len, const char *w)
{
	size_t	i;

	if (strlen(w) != len)
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char	a = (unsigned char)s[i], b = (unsigned char)w[i];

		if (a >= 'a' && a <= 'z')
			a = (unsigned char)(a - 'a' + 'A');
		if (b >= 'a' && b <= 'z')
			b = (unsigned char)(b - 'a' + 'A');
		if (a != b)
			return 0;
	}
	return 1;
}

/* pop3_parse_status - "+OK text" or "-ERR text" */
const char *
pop3_parse_status(const char *line, size_t len, struct pop3_status *st)
{
	size_t	skip;

	memset(st, 0, sizeof(*st));
	if (len > POP3_LINE_MAX - 2)
		return "status line too long";
	if (!text_ok(line, len))
		return "control character in status line";
	if (len >= 3 && memcmp(line, "+OK", 3) == 0)
		skip = 3;
	else if (len >= 4 && memcmp(line, "-ERR", 4) == 0)
		skip = 4;
	else
		return "status is neither +OK nor -ERR";
	/* "+OKAY" is not "+OK": the indicator ends the line or a space follows */
	if (len > skip && line[skip] != ' ')
		return "no space after the status indicator";
	st->ok = skip == 3;
	if (len > skip)
		skip++;
	st->text = line + skip;
	st->textlen = len - skip;
	return NULL;
}

/* pop3_parse_greeting - a +OK greeting and its APOP timestamp, if any */
const char *
pop3_parse_greeting(const char *line, size_t len, char *ts, size_t tslen)
{
	struct pop3_status	 st;
	const char		*err, *lt, *p, *end;
	size_t			 n, at, i;

	if (tslen == 0)
		return "no room for the timestamp";
	ts[0] = '\0';
	if ((err = pop3_parse_status(line, len, &st)) != NULL)
		return err;
	if (!st.ok)
		return "greeting is -ERR";
	end = st.text + st.textlen;
	if ((lt = memchr(st.text, '<', st.textlen)) == NULL)
		return NULL;
	/*
	 * The digest covers the timestamp byte for byte, so a malformed one
	 * is not guessed at: without it we simply do not use APOP.
	 */
	at = 0;
	for (p = lt + 1; p < end && *p != '>'; p++) {
		if (*p == '<' || *p == ' ' || *p == '\t')
			return NULL;
		if (*p == '@')
			at++;
	}
	if (p == end || at != 1)
		return NULL;
	n = (size_t)(p - lt) + 1;
	if (n >= tslen || n >= POP3_TIMESTAMP_MAX)
		return NULL;
	/* text on both sides of the '@': "<@x>" and "<x@>" are no msg-ids */
	for (i = 1; i < n - 1 && lt[i] != '@'; i++)
		;
	if (i == 1 || i == n - 2)
		return NULL;
	memcpy(ts, lt, n);
	ts[n] = '\0';
	return NULL;
}

/* pop3_capa_reset - a fresh CAPA reply */
void
pop3_capa_reset(struct pop3_capa *c)
{
	memset(c, 0, sizeof(*c));
}

/* pop3_capa_feed - the next line of a CAPA reply */
const char *
pop3_capa_feed(struct pop3_capa *c, const char *line, size_t len)
{
	struct pop3_status	 st;
	const char		*err;
	size_t			 wl;

	if (c->done)
		return "line after the end of the CAPA reply";
	if (!c->started) {
		if ((err = pop3_parse_status(line, len, &st)) != NULL)
			return err;
		c->started = 1;
		if (!st.ok)
			c->refused = c->done = 1;
		return NULL;
	}
	if (len > POP3_LINE_MAX - 2)
		return "capability line too long";
	if (!text_ok(line, len))
		return "control character in capability line";
	if (len == 1 && line[0] == '.') {
		c->done = 1;
		return NULL;
	}
	if (c->nlines >= POP3_CAPA_LINES_MAX)
		return "too many capability lines";
	/* a line starting with '.' is dot-stuffed: drop the first one */
	if (len > 0 && line[0] == '.') {
		line++;
		len--;
	}
	c->nlines++;
	for (wl = 0; wl < len && line[wl] != ' '; wl++)
		;
	if (word_ieq(line, wl, "STLS"))
		c->flags |= POP3_CAPA_STLS;
	else if (word_ieq(line, wl, "USER"))
		c->flags |= POP3_CAPA_USER;
	else if (word_ieq(line, wl, "SASL"))
		c->flags |= POP3_CAPA_SASL;
	return NULL;
}

/* pop3_arg_ok - may this argument be formatted into a command line? */
const char *
pop3_arg_ok(const char *arg)
{
	size_t	len = strnlen(arg, POP3_ARG_MAX + 1);

	if (len == 0)
		return "empty argument";
	if (len > POP3_ARG_MAX)
		return "argument too long";
	/* CR or LF would end the command and start one of the peer's choosing */
	if (!text_ok(arg, len) || memchr(arg, '\t', len) != NULL)
		return "control character in argument";
	return NULL;
}

/* pop3_apop_digest - RFC 1939 section 7: MD5 of timestamp then secret */
const char *
pop3_apop_digest(const char *timestamp, const char *secret, char *hex,
    size_t hexlen)
{
	static const char	 digits[] = "0123456789abcdef";
	wc_Md5			 md5;
	unsigned char		 d[WC_MD5_DIGEST_SIZE];
	const char		*err = NULL;
	size_t			 i;

	if (hexlen < POP3_DIGEST_LEN + 1)
		return "no room for the digest";
	hex[0] = '\0';
	if (timestamp[0] != '<')
		return "not a timestamp";
	if (wc_InitMd5(&md5) != 0)
		return "MD5 unavailable";
	/* fed in two parts: the secret is never copied into a joined buffer */
	if (wc_Md5Update(&md5, (const unsigned char *)timestamp,
	    (unsigned)strlen(timestamp)) != 0 ||
	    wc_Md5Update(&md5, (const unsigned char *)secret,
	    (unsigned)strlen(secret)) != 0 ||
	    wc_Md5Final(&md5, d) != 0)
		err = "MD5 failed";
	else {
		for (i = 0; i < sizeof(d); i++) {
			hex[2 * i] = digits[d[i] >> 4];
			hex[2 * i + 1] = digits[d[i] & 0x0f];
		}
		hex[POP3_DIGEST_LEN] = '\0';
	}
	wc_Md5Free(&md5);
	explicit_bzero(&md5, sizeof(md5));
	explicit_bzero(d, sizeof(d));
	return err;
}
