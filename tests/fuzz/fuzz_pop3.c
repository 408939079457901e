/*
 * fuzz_pop3 - the POP3 parsers: pop3_parse_status and pop3_parse_greeting
 * on each line, pop3_capa_feed on the sequence, and pop3_apop_digest on
 * every timestamp found.
 *
 * The input is what a POP3 server sends, cut into lines at CRLF only, so
 * that a bare CR or LF stays inside a line.  A line the CAPA feed refuses,
 * or the end of a CAPA reply, starts a new reply.
 *
 * Invariants: a status line is +OK or -ERR of at most 510 octets whose
 * text lies inside the line and holds no control character but TAB; a
 * refused line leaves the output zeroed; a timestamp is "<...>" with one
 * '@' not at either end, no space or '<' inside, terminated and bounded,
 * and comes only from a +OK greeting; its digest is 32 lower-case hex
 * digits; CAPA flags are known ones, a refused line changes no state, the
 * line count stays bounded, and a line after the end is refused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pop/pop3_parse.h"
#include "fuzz.h"

#define CAPA_ALL	(POP3_CAPA_STLS | POP3_CAPA_USER | POP3_CAPA_SASL)

static void	check_status(const char *, size_t);
static void	check_greeting(const char *, size_t);

static struct pop3_capa	capa, saved;

/* pop3_parse_status alone */
static void
check_status(const char *line, size_t len)
{
	struct pop3_status	 st;
	const unsigned char	*u;
	size_t			 i;

	if (pop3_parse_status(line, len, &st) != NULL) {
		FUZZ_CHECK(st.text == NULL && st.textlen == 0 && st.ok == 0,
		    "half-parsed status line");
		return;
	}
	FUZZ_CHECK(len <= POP3_LINE_MAX - 2, "line of %zu octets accepted",
	    len);
	FUZZ_CHECK(st.ok ? memcmp(line, "+OK", 3) == 0 :
	    len >= 4 && memcmp(line, "-ERR", 4) == 0, "wrong indicator");
	FUZZ_CHECK(st.text >= line + 3 && st.text + st.textlen == line + len,
	    "text outside the line");
	for (u = (const unsigned char *)st.text, i = 0; i < st.textlen; i++)
		FUZZ_CHECK((u[i] >= 0x20 && u[i] != 0x7f) || u[i] == '\t',
		    "octet 0x%02x in text", u[i]);
}

/* pop3_parse_greeting, and the digest of what it found */
static void
check_greeting(const char *line, size_t len)
{
	char		 ts[POP3_TIMESTAMP_MAX], hex[POP3_DIGEST_LEN + 1];
	struct pop3_status st;
	const char	*err;
	size_t		 n, i, ats = 0;

	memset(ts, 0xa5, sizeof(ts));
	err = pop3_parse_greeting(line, len, ts, sizeof(ts));
	FUZZ_CHECK(memchr(ts, '\0', sizeof(ts)) != NULL, "ts not terminated");
	if (err != NULL || ts[0] == '\0') {
		FUZZ_CHECK(ts[0] == '\0', "timestamp from a refused greeting");
		return;
	}
	FUZZ_CHECK(pop3_parse_status(line, len, &st) == NULL && st.ok,
	    "timestamp from a non-+OK line");
	n = strlen(ts);
	FUZZ_CHECK(n >= 5 && ts[0] == '<' && ts[n - 1] == '>',
	    "timestamp \"%s\"", ts);
	FUZZ_CHECK(memmem(line, len, ts, n) != NULL, "timestamp not in line");
	for (i = 1; i < n - 1; i++) {
		FUZZ_CHECK(ts[i] != '<' && ts[i] != '>' && ts[i] != ' ' &&
		    ts[i] != '\t', "octet 0x%02x inside the timestamp",
		    (unsigned char)ts[i]);
		if (ts[i] == '@')
			ats++;
	}
	FUZZ_CHECK(ats == 1 && ts[1] != '@' && ts[n - 2] != '@',
	    "timestamp \"%s\"", ts);
	FUZZ_CHECK(pop3_apop_digest(ts, "secret", hex, sizeof(hex)) == NULL,
	    "no digest for \"%s\"", ts);
	FUZZ_CHECK(strlen(hex) == POP3_DIGEST_LEN, "digest length");
	for (i = 0; i < POP3_DIGEST_LEN; i++)
		FUZZ_CHECK((hex[i] >= '0' && hex[i] <= '9') ||
		    (hex[i] >= 'a' && hex[i] <= 'f'), "digest \"%s\"", hex);
}

/* LLVMFuzzerTestOneInput - the input as the lines a POP3 server sends */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *end = s + size, *eol, *err;
	size_t		 len;

	pop3_capa_reset(&capa);
	while (s < end) {
		eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		len = (size_t)(eol - s);
		check_status(s, len);
		check_greeting(s, len);

		saved = capa;
		err = pop3_capa_feed(&capa, s, len);
		if (err != NULL) {
			FUZZ_CHECK(memcmp(&saved, &capa, sizeof(capa)) == 0,
			    "CAPA state changed by a refused line: %s", err);
			pop3_capa_reset(&capa);
		} else {
			FUZZ_CHECK((capa.flags & ~CAPA_ALL) == 0,
			    "flags 0x%x", capa.flags);
			FUZZ_CHECK(capa.nlines <= POP3_CAPA_LINES_MAX,
			    "%zu lines", capa.nlines);
			FUZZ_CHECK(!capa.refused || (capa.done &&
			    capa.flags == 0), "refused reply with flags");
			if (capa.done) {
				saved = capa;
				FUZZ_CHECK(pop3_capa_feed(&capa, s, len) != NULL
				    && memcmp(&saved, &capa, sizeof(capa)) == 0,
				    "line fed after the end");
				pop3_capa_reset(&capa);
			}
		}
		s = eol == end ? end : eol + 2;
	}
	return 0;
}
