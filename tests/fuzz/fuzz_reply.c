/*
 * fuzz_reply - the upstream reply parsers: smtp_parse_reply_line on each
 * line, smtp_reply_feed on the sequence, smtp_parse_ehlo on each complete
 * reply.
 *
 * The input is what an upstream sends, cut into lines at CRLF only, so
 * that a bare CR or LF stays inside a line.  A line the feed refuses ends
 * the reply (the client would fail the session) and the next line starts
 * a new one.
 *
 * Invariants: codes are 200..559 (2-5, 0-5, 0-9), text holds no control
 * character but TAB and stays inside the line; a refused line leaves the
 * reply as it was; a reply's text is bounded, NUL-terminated and has one
 * '\n' per continuation line; the enhanced code has the reply's class; a
 * line after the last one is refused; the EHLO capabilities hold only
 * known flags and well-formed mechanism names, and nothing for a non-250.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_parse.h"
#include "fuzz.h"

#define EXT_ALL	(SMTP_EXT_STARTTLS | SMTP_EXT_PIPELINING | SMTP_EXT_SIZE | \
	    SMTP_EXT_8BITMIME | SMTP_EXT_SMTPUTF8 | \
	    SMTP_EXT_ENHANCEDSTATUSCODES | SMTP_EXT_AUTH | SMTP_EXT_DSN | \
	    SMTP_EXT_CHUNKING)

static int	is_digit(int);
static void	check_line(const char *, size_t);
static void	check_reply(const struct smtp_reply *);
static void	check_ehlo(const struct smtp_reply *);

static struct smtp_reply	reply, saved;

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* smtp_parse_reply_line alone */
static void
check_line(const char *line, size_t len)
{
	struct smtp_reply_line	 rl;
	const unsigned char	*u;
	const char		*err;
	size_t			 i;

	err = smtp_parse_reply_line(line, len, &rl);
	if (err != NULL) {
		FUZZ_CHECK(rl.code == 0 && rl.text == NULL,
		    "half-parsed line: %s", err);
		return;
	}
	FUZZ_CHECK(len >= 3 && len <= SMTP_REPLY_LINE_MAX - 2,
	    "line of %zu octets accepted", len);
	FUZZ_CHECK(rl.code >= 200 && rl.code <= 559, "code %d", rl.code);
	FUZZ_CHECK(rl.code == (line[0] - '0') * 100 + (line[1] - '0') * 10 +
	    (line[2] - '0'), "code %d from \"%.3s\"", rl.code, line);
	FUZZ_CHECK(rl.more == (len > 3 && line[3] == '-'), "more %d",
	    rl.more);
	FUZZ_CHECK(rl.text != NULL && rl.text >= line + 3 &&
	    rl.textlen <= len && rl.text + rl.textlen == line + len,
	    "text outside the line");
	for (u = (const unsigned char *)rl.text, i = 0; i < rl.textlen; i++)
		FUZZ_CHECK((u[i] >= 0x20 && u[i] != 0x7f) || u[i] == '\t',
		    "octet 0x%02x in text", u[i]);
}

/* a reply after a successful feed */
static void
check_reply(const struct smtp_reply *r)
{
	size_t	i, nl = 0;
	int	cls = r->code / 100;

	FUZZ_CHECK(r->code >= 200 && r->code <= 559, "code %d", r->code);
	FUZZ_CHECK(r->nlines >= 1 && r->nlines <= SMTP_REPLY_LINES_MAX,
	    "%zu lines", r->nlines);
	FUZZ_CHECK(r->textlen < SMTP_REPLY_TEXT_MAX, "textlen %zu",
	    r->textlen);
	FUZZ_CHECK(r->text[r->textlen] == '\0', "text not terminated");
	for (i = 0; i < r->textlen; i++) {
		unsigned char	c = (unsigned char)r->text[i];

		FUZZ_CHECK(c != '\0' && c != '\r' && c != 0x7f &&
		    (c >= 0x20 || c == '\t' || c == '\n'),
		    "octet 0x%02x in text", c);
		if (c == '\n')
			nl++;
	}
	FUZZ_CHECK(nl + 1 == r->nlines, "%zu newlines in %zu lines", nl,
	    r->nlines);

	/* "c.s.d": class of the reply, subject and detail of 1-3 digits */
	FUZZ_CHECK(memchr(r->enh, '\0', sizeof(r->enh)) != NULL,
	    "enh not terminated");
	if (r->enh[0] != '\0') {
		const char	*e = r->enh;
		size_t		 d;
		int		 part;

		FUZZ_CHECK((cls == 2 || cls == 4 || cls == 5) &&
		    e[0] == '0' + cls && e[1] == '.', "enh %s for %d", r->enh,
		    r->code);
		e += 2;
		for (part = 0; part < 2; part++) {
			for (d = 0; is_digit((unsigned char)e[d]); d++)
				;
			FUZZ_CHECK(d >= 1 && d <= 3, "enh %s", r->enh);
			e += d;
			FUZZ_CHECK(*e == (part == 0 ? '.' : '\0'), "enh %s",
			    r->enh);
			if (part == 0)
				e++;
		}
	}
}

/* smtp_parse_ehlo on a complete reply */
static void
check_ehlo(const struct smtp_reply *r)
{
	struct smtp_ext	 ext;
	const char	*m;
	size_t		 ml;

	memset(&ext, 0xa5, sizeof(ext));
	smtp_parse_ehlo(r, &ext);
	FUZZ_CHECK((ext.flags & ~EXT_ALL) == 0, "flags 0x%x", ext.flags);
	FUZZ_CHECK(memchr(ext.auth, '\0', sizeof(ext.auth)) != NULL,
	    "auth not terminated");
	if (r->code != 250 || r->nlines < 2) {
		FUZZ_CHECK(ext.flags == 0 && ext.size == 0 &&
		    ext.auth[0] == '\0', "capabilities from a %d reply of "
		    "%zu lines", r->code, r->nlines);
		return;
	}
	FUZZ_CHECK(ext.size == 0 || (ext.flags & SMTP_EXT_SIZE),
	    "size without SIZE");
	FUZZ_CHECK(ext.auth[0] == '\0' || (ext.flags & SMTP_EXT_AUTH),
	    "mechanisms without AUTH");
	/* sasl-mech names (letters, digits, '-', '_'), single spaces */
	for (m = ext.auth; *m != '\0'; ) {
		for (ml = 0; m[ml] != '\0' && m[ml] != ' '; ml++) {
			int	c = (unsigned char)m[ml];

			FUZZ_CHECK((c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || is_digit(c) ||
			    c == '-' || c == '_', "mechanism octet 0x%02x", c);
		}
		FUZZ_CHECK(ml > 0 && ml <= 20, "mechanism of %zu octets", ml);
		m += ml;
		if (*m == ' ') {
			m++;
			FUZZ_CHECK(*m != '\0' && *m != ' ', "bad spacing in "
			    "\"%s\"", ext.auth);
		}
	}
}

/* LLVMFuzzerTestOneInput - the input as the lines of one or more replies */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *end = s + size, *eol, *err;
	size_t		 len;

	smtp_reply_reset(&reply);
	while (s < end) {
		eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		len = (size_t)(eol - s);
		check_line(s, len);

		saved = reply;
		err = smtp_reply_feed(&reply, s, len);
		if (err != NULL) {
			/* a refused line changes nothing; then start over */
			FUZZ_CHECK(memcmp(&saved, &reply, sizeof(reply)) == 0,
			    "reply changed by a refused line: %s", err);
			smtp_reply_reset(&reply);
		} else {
			check_reply(&reply);
			if (reply.done) {
				check_ehlo(&reply);
				saved = reply;
				err = smtp_reply_feed(&reply, s, len);
				FUZZ_CHECK(err != NULL &&
				    memcmp(&saved, &reply, sizeof(reply)) == 0,
				    "line fed after the end");
				smtp_reply_reset(&reply);
			}
		}
		s = eol == end ? end : eol + 2;
	}
	/* an unfinished reply at the end: what a dropped connection leaves */
	if (reply.nlines > 0)
		check_ehlo(&reply);
	return 0;
}
