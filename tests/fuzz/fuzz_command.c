/*
 * fuzz_command - the client command parsers (smtp_parse_command, then
 * smtp_parse_mail, smtp_parse_rcpt and smtp_parse_helo on its arguments).
 *
 * The input is a client's byte stream: it is cut into lines at CRLF only,
 * as the session does, so a bare CR, a bare LF or a NUL stays inside a
 * line and must be refused there (smuggling).  Every argument string is
 * given to every parser, whatever the verb, with SMTPUTF8 off and on.
 *
 * Invariants: a parsed path never holds a control character, '<' or '>'
 * (a HELO name: no control character or space), fits its bound and is
 * NUL-terminated; non-ASCII appears only with SMTPUTF8; ESMTP parameters
 * follow the RFC 5321 grammar and are not repeated; a failed parse leaves
 * nothing half-filled; what parses without SMTPUTF8 parses the same with
 * it; and a parsed path, written out again as we would send it upstream,
 * parses back to the same thing.  A DSN parameter (RFC 3461) that
 * smtp_check_dsn accepts is plain ASCII, and its xtext decodes to
 * printable text with no CR or LF (no header injection into the
 * upstream's DSN), within the ENVID bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_dsn.h"
#include "smtp/smtp_parse.h"
#include "fuzz.h"

#define HELO_SMALL	8	/* a name buffer too small for most names */

static int	lc(int);
static void	check_path(const struct smtp_path *, int, int);
static void	check_dsn(const struct smtp_param *, int);
static void	check_roundtrip(const struct smtp_path *, int, int);
static void	check_helo(const char *, size_t);
static void	check_args(const char *);
static void	check_line(const char *, size_t);

/* which parser produced a path */
#define KIND_MAIL	0
#define KIND_RCPT	1

static int
lc(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

/* a path that smtp_parse_mail/rcpt accepted */
static void
check_path(const struct smtp_path *p, int kind, int utf8)
{
	const struct smtp_param	*pa;
	const unsigned char	*u;
	size_t			 i, j, n;

	FUZZ_CHECK(memchr(p->addr, '\0', sizeof(p->addr)) != NULL,
	    "address not terminated");
	n = strlen(p->addr);
	/* 256 octets with the brackets */
	FUZZ_CHECK(n <= SMTP_PATH_MAX - 2, "address of %zu octets", n);
	FUZZ_CHECK(kind == KIND_MAIL || n > 0, "empty RCPT address");
	for (u = (const unsigned char *)p->addr; *u != '\0'; u++) {
		FUZZ_CHECK(*u >= 0x20 && *u != 0x7f,
		    "control 0x%02x in address", *u);
		FUZZ_CHECK(*u != '<' && *u != '>', "bracket in address");
		FUZZ_CHECK(utf8 || *u < 0x80, "non-ASCII without SMTPUTF8");
	}

	FUZZ_CHECK(p->nparams <= SMTP_PARAM_MAX, "%zu parameters", p->nparams);
	for (i = 0; i < p->nparams; i++) {
		pa = &p->params[i];
		FUZZ_CHECK(memchr(pa->keyword, '\0',
		    sizeof(pa->keyword)) != NULL, "keyword not terminated");
		FUZZ_CHECK(memchr(pa->value, '\0', sizeof(pa->value)) != NULL,
		    "value not terminated");
		/* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
		n = strlen(pa->keyword);
		FUZZ_CHECK(n > 0, "empty keyword");
		for (j = 0; j < n; j++) {
			int	c = (unsigned char)pa->keyword[j];

			FUZZ_CHECK((c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    (j > 0 && c == '-'), "keyword octet 0x%02x", c);
		}
		/* esmtp-value = 1*(%d33-60 / %d62-126), or UTF-8 */
		n = strlen(pa->value);
		FUZZ_CHECK(pa->has_value ? n > 0 : n == 0,
		    "value \"%s\" with has_value %d", pa->value, pa->has_value);
		for (u = (const unsigned char *)pa->value; *u != '\0'; u++)
			FUZZ_CHECK(*u > 0x20 && *u != 0x7f && *u != '=' &&
			    (utf8 || *u < 0x80), "value octet 0x%02x", *u);
		/* duplicates are refused, so a lookup finds this one */
		for (j = 0; j < i; j++) {
			const char	*a = p->params[j].keyword;
			const char	*b = pa->keyword;

			while (*a != '\0' && lc((unsigned char)*a) ==
			    lc((unsigned char)*b)) {
				a++;
				b++;
			}
			FUZZ_CHECK(*a != '\0' || *b != '\0',
			    "duplicate parameter %s", pa->keyword);
		}
		FUZZ_CHECK(smtp_find_param(p, pa->keyword) == pa,
		    "smtp_find_param(%s) missed", pa->keyword);
		check_dsn(pa, kind == KIND_RCPT);
	}
}

/* one ESMTP parameter of a parsed MAIL (rcpt 0) or RCPT (rcpt 1) */
static void
check_dsn(const struct smtp_param *pa, int rcpt)
{
	enum smtp_dsn_kw	 kw;
	const unsigned char	*u;
	const char		*err, *x;
	char			 dec[SMTP_PARAM_VAL_MAX];
	size_t			 n, i;

	if ((kw = smtp_dsn_keyword(pa->keyword, rcpt)) == SMTP_DSN_NONE)
		return;
	if ((err = smtp_check_dsn(kw, pa)) != NULL)
		return;
	FUZZ_CHECK(pa->has_value, "DSN %s without a value", pa->keyword);
	for (u = (const unsigned char *)pa->value; *u != '\0'; u++)
		FUZZ_CHECK(*u > 0x20 && *u < 0x7f, "DSN %s octet 0x%02x",
		    pa->keyword, *u);
	x = NULL;
	if (kw == SMTP_DSN_ENVID) {
		FUZZ_CHECK(strlen(pa->value) <= SMTP_DSN_ENVID_MAX,
		    "ENVID of %zu octets", strlen(pa->value));
		x = pa->value;
	} else if (kw == SMTP_DSN_ORCPT) {
		x = strchr(pa->value, ';');
		FUZZ_CHECK(x != NULL && x != pa->value && x[1] != '\0',
		    "ORCPT \"%s\"", pa->value);
		x++;
	}
	if (x == NULL)
		return;
	err = smtp_xtext_decode(x, dec, sizeof(dec), &n);
	FUZZ_CHECK(err == NULL, "xtext \"%s\": %s", x, err);
	FUZZ_CHECK(n == strlen(dec), "xtext \"%s\" decodes to a NUL", x);
	for (i = 0; i < n; i++)
		FUZZ_CHECK(dec[i] == '\t' || (dec[i] >= 0x20 && dec[i] < 0x7f),
		    "xtext \"%s\" decodes to 0x%02x", x,
		    (unsigned char)dec[i]);
}

/*
 * The path as the relay would write it to the upstream must parse back to
 * the same struct: what we forward is what we checked.
 */
static void
check_roundtrip(const struct smtp_path *p, int kind, int utf8)
{
	struct smtp_path	 q;
	const char		*err;
	char			 line[SMTP_PATH_MAX + 16 +
				    SMTP_PARAM_MAX * (SMTP_PARAM_KW_MAX +
				    SMTP_PARAM_VAL_MAX + 2)];
	size_t			 i;
	int			 n, off;

	n = snprintf(line, sizeof(line), "%s<%s>",
	    kind == KIND_MAIL ? "FROM:" : "TO:", p->addr);
	FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line), "snprintf %d", n);
	off = n;
	for (i = 0; i < p->nparams; i++) {
		n = snprintf(line + off, sizeof(line) - (size_t)off, " %s%s%s",
		    p->params[i].keyword, p->params[i].has_value ? "=" : "",
		    p->params[i].value);
		FUZZ_CHECK(n > 0 && (size_t)n < sizeof(line) - (size_t)off,
		    "snprintf %d", n);
		off += n;
	}
	if (kind == KIND_MAIL)
		err = smtp_parse_mail(line, utf8, &q);
	else
		err = smtp_parse_rcpt(line, utf8, &q);
	FUZZ_CHECK(err == NULL, "re-parse of \"%s\": %s", line, err);
	FUZZ_CHECK(memcmp(p, &q, sizeof(q)) == 0,
	    "re-parse of \"%s\" differs", line);
}

/* smtp_parse_helo with a name buffer of exactly namelen octets */
static void
check_helo(const char *args, size_t namelen)
{
	const unsigned char	*u;
	const char		*err;
	char			*name;

	if ((name = malloc(namelen)) == NULL)
		abort();
	memset(name, 'X', namelen);
	err = smtp_parse_helo(args, name, namelen);
	FUZZ_CHECK(name[0] == '\0' || err == NULL,
	    "name \"%.*s\" left after error %s", (int)namelen, name, err);
	if (err == NULL) {
		FUZZ_CHECK(memchr(name, '\0', namelen) != NULL,
		    "name not terminated");
		FUZZ_CHECK(strcmp(name, args) == 0, "name \"%s\" from \"%s\"",
		    name, args);
		FUZZ_CHECK(name[0] != '\0', "empty name accepted");
		for (u = (const unsigned char *)name; *u != '\0'; u++)
			FUZZ_CHECK(*u > 0x20 && *u < 0x7f,
			    "name octet 0x%02x", *u);
	}
	free(name);
}

/* every argument parser on one argument string (NUL-terminated) */
static void
check_args(const char *args)
{
	struct smtp_path	 p[2], r[2];
	const char		*perr[2], *rerr[2];
	int			 utf8;

	for (utf8 = 0; utf8 <= 1; utf8++) {
		perr[utf8] = smtp_parse_mail(args, utf8, &p[utf8]);
		rerr[utf8] = smtp_parse_rcpt(args, utf8, &r[utf8]);
		if (perr[utf8] == NULL) {
			check_path(&p[utf8], KIND_MAIL, utf8);
			check_roundtrip(&p[utf8], KIND_MAIL, utf8);
		} else
			FUZZ_CHECK(p[utf8].addr[0] == '\0' &&
			    p[utf8].nparams == 0, "MAIL half-parsed: %s",
			    perr[utf8]);
		if (rerr[utf8] == NULL) {
			check_path(&r[utf8], KIND_RCPT, utf8);
			check_roundtrip(&r[utf8], KIND_RCPT, utf8);
		} else
			FUZZ_CHECK(r[utf8].addr[0] == '\0' &&
			    r[utf8].nparams == 0, "RCPT half-parsed: %s",
			    rerr[utf8]);
	}
	/* SMTPUTF8 only widens what is accepted, and changes nothing else */
	if (perr[0] == NULL)
		FUZZ_CHECK(perr[1] == NULL &&
		    memcmp(&p[0], &p[1], sizeof(p[0])) == 0,
		    "MAIL differs with SMTPUTF8: %s", perr[1]);
	if (rerr[0] == NULL)
		FUZZ_CHECK(rerr[1] == NULL &&
		    memcmp(&r[0], &r[1], sizeof(r[0])) == 0,
		    "RCPT differs with SMTPUTF8: %s", rerr[1]);

	check_helo(args, SMTP_DOMAIN_MAX + 1);
	check_helo(args, HELO_SMALL);
}

/* one command line, without its CRLF */
static void
check_line(const char *line, size_t len)
{
	enum smtp_verb	 verb;
	const char	*args, *err;
	char		*copy;
	uintptr_t	 a, l;
	size_t		 i;
	int		 bad = 0, inside;

	for (i = 0; i < len; i++)
		if (line[i] == '\r' || line[i] == '\n' || line[i] == '\0')
			bad = 1;
	err = smtp_parse_command(line, len, &verb, &args);
	FUZZ_CHECK(args != NULL, "args NULL");
	FUZZ_CHECK((int)verb >= SMTP_CMD_UNKNOWN && verb <= SMTP_CMD_BDAT,
	    "verb %d", (int)verb);
	if (len > SMTP_MAILRCPT_LINE_MAX - 2 || bad) {
		FUZZ_CHECK(err != NULL, "line of %zu octets (bad %d) accepted",
		    len, bad);
		return;
	}
	if (err != NULL)
		return;
	/* past 512 octets only MAIL and RCPT (RFC 3461 4) */
	FUZZ_CHECK(len <= SMTP_CMD_LINE_MAX - 2 || verb == SMTP_CMD_MAIL ||
	    verb == SMTP_CMD_RCPT, "verb %d line of %zu octets accepted",
	    (int)verb, len);
	/*
	 * args points into the line, past the verb and a space (and is not
	 * NUL-terminated there), or is a constant "".
	 */
	a = (uintptr_t)args;
	l = (uintptr_t)line;
	inside = a >= l && a <= l + len;
	FUZZ_CHECK(inside ? a > l && line[a - l - 1] == ' ' : *args == '\0',
	    "args outside the line");

	/* the session hands the parsers a NUL-terminated copy */
	if ((copy = malloc(len + 1)) == NULL)
		abort();
	memcpy(copy, line, len);
	copy[len] = '\0';
	check_args(inside ? copy + (a - l) : args);
	free(copy);
}

/* LLVMFuzzerTestOneInput - every CRLF-terminated line of the input */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*s = (const char *)data, *end = s + size, *eol;

	while (s < end) {
		eol = memmem(s, (size_t)(end - s), "\r\n", 2);
		if (eol == NULL)
			eol = end;
		check_line(s, (size_t)(eol - s));
		s = eol == end ? end : eol + 2;
	}
	return 0;
}
