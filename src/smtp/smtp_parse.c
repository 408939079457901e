/*
 * smtp_parse - pure parsers for SMTP commands and replies.
 *
 * Everything here works on caller memory and returns NULL or a static
 * error string.  Only libc is used so that the fuzz harnesses and unit
 * tests can link this file alone.
 *
 * The address grammar is RFC 5321 4.1.2 with the RFC 6531 (SMTPUTF8)
 * extensions, minus the parts that have no business reaching an upstream:
 * '<' and '>' are refused even inside a quoted local part, and so are all
 * control characters, including the C1 range when UTF-8 is allowed.
 */
#include <stddef.h>
#include <string.h>
#include <arpa/inet.h>

#include "smtp/smtp_parse.h"

#define TEXT_LINE_LEN	(SMTP_REPLY_LINE_MAX - 2)
#define LABEL_MAX	63
#define SASL_MECH_MAX	20

enum path_kind {
	PATH_MAIL,
	PATH_RCPT
};

static int	 lc(int);
static int	 is_alpha(int);
static int	 is_digit(int);
static int	 is_alnum(int);
static int	 is_atext(int);
static int	 ieq_n(const char *, const char *, size_t);
static const char *iprefix(const char *, const char *);
static size_t	 utf8_len(const unsigned char *, size_t);
static const char *check_bytes(const char *, int);
static const char *check_dotstring(const char *, size_t, int);
static const char *check_quoted(const char *, size_t, int);
static const char *check_domain(const char *, size_t, int, int);
static const char *check_literal(const char *, size_t);
static const char *check_mailbox(const char *, size_t, int);
static const char *check_route(const char *, size_t, size_t *);
static const char *parse_path(const char *, size_t, enum path_kind, int,
		    char *);
static const char *parse_params(const char *, int, struct smtp_path *);
static const char *parse_mail_rcpt(const char *, const char *,
		    enum path_kind, int, struct smtp_path *);
static int	 parse_enh(const char *, size_t, int, size_t *);
static void	 ehlo_size(const char *, size_t, struct smtp_ext *);
static void	 ehlo_auth(const char *, size_t, struct smtp_ext *);
static void	 ehlo_line(const char *, size_t, struct smtp_ext *);

static const struct {
	const char	*name;
	enum smtp_verb	 verb;
} verbs[] = {
	{ "HELO", SMTP_CMD_HELO },
	{ "EHLO", SMTP_CMD_EHLO },
	{ "MAIL", SMTP_CMD_MAIL },
	{ "RCPT", SMTP_CMD_RCPT },
	{ "DATA", SMTP_CMD_DATA },
	{ "RSET", SMTP_CMD_RSET },
	{ "NOOP", SMTP_CMD_NOOP },
	{ "QUIT", SMTP_CMD_QUIT },
	{ "HELP", SMTP_CMD_HELP },
	{ "VRFY", SMTP_CMD_VRFY },
	{ "EXPN", SMTP_CMD_EXPN },
	{ "STARTTLS", SMTP_CMD_STARTTLS },
	{ "AUTH", SMTP_CMD_AUTH },
	{ "BDAT", SMTP_CMD_BDAT },
};

static const struct {
	const char	*name;
	unsigned	 flag;
} ehlo_keywords[] = {
	{ "STARTTLS", SMTP_EXT_STARTTLS },
	{ "PIPELINING", SMTP_EXT_PIPELINING },
	{ "8BITMIME", SMTP_EXT_8BITMIME },
	{ "SMTPUTF8", SMTP_EXT_SMTPUTF8 },
	{ "ENHANCEDSTATUSCODES", SMTP_EXT_ENHANCEDSTATUSCODES },
	{ "DSN", SMTP_EXT_DSN },
	{ "CHUNKING", SMTP_EXT_CHUNKING },
	{ "REQUIRETLS", SMTP_EXT_REQUIRETLS },
};

/* ASCII only: the C locale must not decide what a letter is */
static int
lc(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

static int
is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(int c)
{
	return is_alpha(c) || is_digit(c);
}

/* RFC 5322 atext, ASCII part */
static int
is_atext(int c)
{
	return is_alnum(c) || (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c));
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

/* s past prefix (any case), or NULL */
static const char *
iprefix(const char *s, const char *prefix)
{
	size_t	n = strlen(prefix);

	/* ieq_n stops at a NUL in s: it never equals a prefix letter */
	if (ieq_n(s, prefix, n))
		return s + n;
	return NULL;
}

/*
 * Length of the well-formed UTF-8 sequence for one non-ASCII character at
 * s, or 0.  Overlong forms, surrogates, code points past U+10FFFF and the
 * C1 controls (U+0080-U+009F) are refused: they are how filters get
 * bypassed, and none belongs in an address.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (n == 0 || s[0] < 0x80)
		return 0;
	if (s[0] == 0xc2) {
		len = 2;
		lo = 0xa0;
	} else if (s[0] > 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] == 0xe0) {
		len = 3;
		lo = 0xa0;
	} else if (s[0] == 0xed) {
		len = 3;
		hi = 0x9f;
	} else if (s[0] >= 0xe1 && s[0] <= 0xef)
		len = 3;
	else if (s[0] == 0xf0) {
		len = 4;
		lo = 0x90;
	} else if (s[0] == 0xf4) {
		len = 4;
		hi = 0x8f;
	} else if (s[0] >= 0xf1 && s[0] <= 0xf3)
		len = 4;
	else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * A first pass over the whole argument string, before any grammar: no
 * control character (this covers CR, LF and TAB) and no DEL may reach the
 * upstream, whatever a later check would have said about the part it sits
 * in.  Non-ASCII is refused here unless UTF-8 is allowed.
 */
static const char *
check_bytes(const char *s, int utf8)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return "Control character in parameters";
		if (*p >= 0x80 && !utf8)
			return "Non-ASCII character without SMTPUTF8";
	}
	return NULL;
}

/* Dot-string: atoms of atext (or UTF-8) joined by single dots */
static const char *
check_dotstring(const char *s, size_t len, int utf8)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n, atom = 0;

	if (len == 0)
		return "Empty local part";
	for (i = 0; i < len; ) {
		if (p[i] == '.') {
			/* "a..b", ".a" and "a." are not Dot-strings */
			if (atom == 0)
				return "Bad dot in local part";
			atom = 0;
			i++;
			continue;
		}
		if (p[i] >= 0x80) {
			if (!utf8 || (n = utf8_len(p + i, len - i)) == 0)
				return "Bad character in local part";
			i += n;
		} else {
			if (!is_atext(p[i]))
				return "Bad character in local part";
			i++;
		}
		atom++;
	}
	if (atom == 0)
		return "Bad dot in local part";
	return NULL;
}

/*
 * Quoted-string including its quotes.  RFC 5321 would allow '<' and '>'
 * inside (also as quoted pairs); we do not, so that no tool downstream
 * that looks for the brackets can be fooled about where the path ends.
 */
static const char *
check_quoted(const char *s, size_t len, int utf8)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n;

	if (len < 2 || p[0] != '"' || p[len - 1] != '"')
		return "Unbalanced quotes in local part";
	for (i = 1; i < len - 1; ) {
		if (p[i] == '\\') {
			/* a backslash must escape something, and not the quote that closes */
			if (i + 1 >= len - 1)
				return "Unbalanced quotes in local part";
			if (p[i + 1] < 0x20 || p[i + 1] > 0x7e ||
			    p[i + 1] == '<' || p[i + 1] == '>')
				return "Bad character in local part";
			i += 2;
		} else if (p[i] == '"')
			return "Unbalanced quotes in local part";
		else if (p[i] >= 0x80) {
			if (!utf8 || (n = utf8_len(p + i, len - 1 - i)) == 0)
				return "Bad character in local part";
			i += n;
		} else {
			if (p[i] < 0x20 || p[i] > 0x7e ||
			    p[i] == '<' || p[i] == '>')
				return "Bad character in local part";
			i++;
		}
	}
	return NULL;
}

/*
 * Domain: labels of letters, digits and inner hyphens joined by dots (a
 * UTF-8 character counts as a letter when allowed: a U-label).  HELO also
 * takes '_', which is no DNS host name character but is in the machine
 * names of many of the legacy hosts that are our clients.
 */
static const char *
check_domain(const char *s, size_t len, int utf8, int underscore)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, n, label = 0;
	int			 ascii = 1, last = 0;

	if (len == 0)
		return "Empty domain";
	if (len > SMTP_DOMAIN_MAX)
		return "Domain too long";
	for (i = 0; i < len; ) {
		if (p[i] == '.') {
			/* empty labels, and labels ending in a hyphen */
			if (label == 0 || last == '-')
				return "Bad domain";
			label = 0;
			ascii = 1;
			i++;
			continue;
		}
		if (p[i] >= 0x80) {
			if (!utf8 || (n = utf8_len(p + i, len - i)) == 0)
				return "Bad character in domain";
			ascii = 0;
			last = 'a';
		} else if (is_alnum(p[i]) || (underscore && p[i] == '_')) {
			n = 1;
			last = p[i];
		} else if (p[i] == '-') {
			if (label == 0)
				return "Bad domain";
			n = 1;
			last = '-';
		} else
			return "Bad character in domain";
		label += n;
		i += n;
		/* U-labels are bounded by their A-label form, unknown here */
		if (ascii && label > LABEL_MAX)
			return "Domain label too long";
	}
	if (label == 0 || last == '-')
		return "Bad domain";
	return NULL;
}

/*
 * address-literal with its brackets: IPv4, "IPv6:" + IPv6 (inet_pton is
 * strict: no leading zeros in IPv4 octets, one "::" at most), or a general
 * literal "tag:dcontent".
 */
static const char *
check_literal(const char *s, size_t len)
{
	char		 buf[64];
	unsigned char	 bin[16];
	const char	*in;
	size_t		 n, i, tag;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']')
		return "Bad address literal";
	in = s + 1;
	n = len - 2;
	if (n >= 5 && ieq_n(in, "IPv6:", 5)) {
		if (n - 5 >= sizeof(buf))
			return "Bad address literal";
		memcpy(buf, in + 5, n - 5);
		buf[n - 5] = '\0';
		if (inet_pton(AF_INET6, buf, bin) != 1)
			return "Bad IPv6 address literal";
		return NULL;
	}
	if (is_digit((unsigned char)in[0])) {
		if (n >= sizeof(buf))
			return "Bad address literal";
		memcpy(buf, in, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET, buf, bin) != 1)
			return "Bad IPv4 address literal";
		return NULL;
	}
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (tag = 0; tag < n && (is_alnum((unsigned char)in[tag]) ||
	    in[tag] == '-'); tag++)
		;
	if (tag == 0 || tag >= n - 1 || in[tag] != ':' || in[tag - 1] == '-')
		return "Bad address literal";
	/*
	 * RFC 5321 dcontent allows '<' and '>', but a path must never carry
	 * them: the address is re-bracketed on the way upstream, where a
	 * stray '>' or '<' would change what the upstream parses.
	 */
	for (i = tag + 1; i < n; i++)
		if (in[i] < 33 || in[i] > 126 || in[i] == '[' ||
		    in[i] == '\\' || in[i] == ']' || in[i] == '<' ||
		    in[i] == '>')
			return "Bad address literal";
	return NULL;
}

/* Mailbox = Local-part "@" ( Domain / address-literal ), no brackets */
static const char *
check_mailbox(const char *s, size_t len, int utf8)
{
	const char	*err;
	size_t		 i;

	if (len > 0 && s[0] == '"') {
		/* the local part ends at the first unescaped quote */
		for (i = 1; i < len && s[i] != '"'; i++)
			if (s[i] == '\\')
				i++;
		if (i >= len)
			return "Unbalanced quotes in local part";
		i++;
		if ((err = check_quoted(s, i, utf8)) != NULL)
			return err;
	} else {
		for (i = 0; i < len && s[i] != '@'; i++)
			;
		if ((err = check_dotstring(s, i, utf8)) != NULL)
			return err;
	}
	if (i >= len || s[i] != '@')
		return "Address has no domain";
	i++;
	if (i < len && s[i] == '[')
		return check_literal(s + i, len - i);
	return check_domain(s + i, len - i, utf8, 0);
}

/*
 * A-d-l ":" in front of a mailbox ("@a,@b:"): every domain is checked
 * even though the route is then dropped (RFC 5321 4.1.1.3 and C).  *skip
 * is the length of the route with its colon.
 */
static const char *
check_route(const char *s, size_t len, size_t *skip)
{
	const char	*err;
	size_t		 i = 0, start;

	for (;;) {
		if (i >= len || s[i] != '@')
			return "Bad source route";
		start = ++i;
		while (i < len && s[i] != ',' && s[i] != ':')
			i++;
		if (i >= len)
			return "Bad source route";
		if ((err = check_domain(s + start, i - start, 0, 0)) != NULL)
			return "Bad source route";
		if (s[i++] == ':')
			break;
	}
	*skip = i;
	return NULL;
}

/*
 * path is "<...>" exactly, bracket to bracket.  The two allowed special
 * cases are recognised first, by an exact match of the whole path, and
 * return at once; every other path then goes through all the checks, and
 * the only way out with success is at the bottom.  An early "it's special"
 * return taken before the validators ran is CVE-2020-7247.
 */
static const char *
parse_path(const char *path, size_t len, enum path_kind kind, int utf8,
    char *addr)
{
	const char	*err, *box;
	size_t		 boxlen, skip = 0;

	addr[0] = '\0';
	if (kind == PATH_MAIL && len == 2 && memcmp(path, "<>", 2) == 0)
		return NULL;
	if (kind == PATH_RCPT && len == 12 &&
	    ieq_n(path, "<postmaster>", 12)) {
		memcpy(addr, path + 1, 10);
		addr[10] = '\0';
		return NULL;
	}

	/* RFC 5321 4.5.3.1.3: 256 octets, brackets included */
	if (len > SMTP_PATH_MAX)
		return "Address too long";
	if (len < 2 || path[0] != '<' || path[len - 1] != '>')
		return "Syntax error in address";
	box = path + 1;
	boxlen = len - 2;
	if (boxlen == 0)
		return "Empty address not allowed here";
	if (box[0] == '@') {
		if ((err = check_route(box, boxlen, &skip)) != NULL)
			return err;
		box += skip;
		boxlen -= skip;
	}
	if ((err = check_mailbox(box, boxlen, utf8)) != NULL)
		return err;
	/* cannot fail after the length check above; kept for the next editor */
	if (boxlen >= SMTP_PATH_MAX)
		return "Address too long";
	memcpy(addr, box, boxlen);
	addr[boxlen] = '\0';
	return NULL;
}

/*
 * Mail-parameters: esmtp-param *(SP esmtp-param), where
 * esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") and
 * esmtp-value = 1*(%d33-60 / %d62-126) (plus UTF-8 under SMTPUTF8).
 * Runs of spaces and trailing spaces are tolerated, duplicates are not:
 * two SIZE values could be read one way by us and another by the upstream.
 */
static const char *
parse_params(const char *s, int utf8, struct smtp_path *p)
{
	const unsigned char	*u;
	struct smtp_param	*pa;
	size_t			 kl, vl, i, n;

	for (;;) {
		while (*s == ' ')
			s++;
		if (*s == '\0')
			return NULL;
		if (p->nparams >= SMTP_PARAM_MAX)
			return "Too many parameters";
		pa = &p->params[p->nparams];

		for (kl = 0; s[kl] != '\0' && s[kl] != ' ' && s[kl] != '='; kl++)
			if (!is_alnum((unsigned char)s[kl]) &&
			    (kl == 0 || s[kl] != '-'))
				return "Bad parameter keyword";
		if (kl == 0)
			return "Bad parameter keyword";
		if (kl >= sizeof(pa->keyword))
			return "Parameter keyword too long";
		for (i = 0; i < p->nparams; i++)
			if (strlen(p->params[i].keyword) == kl &&
			    ieq_n(p->params[i].keyword, s, kl))
				return "Duplicate parameter";
		memcpy(pa->keyword, s, kl);
		pa->keyword[kl] = '\0';
		pa->value[0] = '\0';
		pa->has_value = 0;
		s += kl;

		if (*s == '=') {
			s++;
			u = (const unsigned char *)s;
			for (vl = 0; u[vl] != '\0' && u[vl] != ' '; ) {
				if (u[vl] >= 0x80) {
					n = utf8 ? utf8_len(u + vl, strlen(s + vl)) : 0;
					if (n == 0)
						return "Bad parameter value";
					vl += n;
				} else if (u[vl] < 33 || u[vl] > 126 || u[vl] == '=')
					return "Bad parameter value";
				else
					vl++;
			}
			/* "KEY=" is not "KEY": esmtp-value has at least one octet */
			if (vl == 0)
				return "Bad parameter value";
			if (vl >= sizeof(pa->value))
				return "Parameter value too long";
			memcpy(pa->value, s, vl);
			pa->value[vl] = '\0';
			pa->has_value = 1;
			s += vl;
		}
		p->nparams++;
		if (*s != '\0' && *s != ' ')
			return "Bad parameter";
	}
}

static const char *
parse_mail_rcpt(const char *args, const char *prefix, enum path_kind kind,
    int utf8, struct smtp_path *p)
{
	const char	*err, *s, *end;

	memset(p, 0, sizeof(*p));
	if (args == NULL)
		return "Syntax error";
	if ((err = check_bytes(args, utf8)) != NULL)
		return err;
	if ((s = iprefix(args, prefix)) == NULL)
		return "Syntax error";
	/* "MAIL FROM: <a@b>" from legacy programs: one space, no more */
	if (*s == ' ')
		s++;
	if (*s != '<')
		return "Syntax error in address";
	/* no '>' can be inside a valid path: the first one ends it */
	if ((end = strchr(s, '>')) == NULL)
		return "Syntax error in address";
	end++;
	if (*end != '\0' && *end != ' ')
		return "Syntax error in address";
	if ((err = parse_path(s, (size_t)(end - s), kind, utf8, p->addr)) != NULL) {
		memset(p, 0, sizeof(*p));
		return err;
	}
	if ((err = parse_params(end, utf8, p)) != NULL) {
		memset(p, 0, sizeof(*p));
		return err;
	}
	return NULL;
}

/* smtp_parse_command - split "VERB[ args]" into a verb and its arguments */
const char *
smtp_parse_command(const char *line, size_t len, enum smtp_verb *verb,
    const char **args)
{
	size_t	i, vl;

	*verb = SMTP_CMD_UNKNOWN;
	*args = "";
	/* bound first: nothing below may look past what the buffer allows */
	if (len > SMTP_MAILRCPT_LINE_MAX - 2)
		return "Line too long";
	/* a CR or LF here is a smuggled second command; NUL truncates it */
	for (i = 0; i < len; i++)
		if (line[i] == '\r' || line[i] == '\n' || line[i] == '\0')
			return "Bad character in command";
	for (vl = 0; vl < len && line[vl] != ' '; vl++)
		;
	if (vl < len)
		*args = line + vl + 1;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == vl &&
		    ieq_n(line, verbs[i].name, vl)) {
			*verb = verbs[i].verb;
			break;
		}
	}
	/* only MAIL and RCPT may use the room RFC 3461 gives DSN */
	if (len > SMTP_CMD_LINE_MAX - 2 && *verb != SMTP_CMD_MAIL &&
	    *verb != SMTP_CMD_RCPT) {
		*verb = SMTP_CMD_UNKNOWN;
		*args = "";
		return "Line too long";
	}
	return NULL;
}

/* smtp_parse_mail - reverse-path and parameters of MAIL */
const char *
smtp_parse_mail(const char *args, int utf8, struct smtp_path *p)
{
	return parse_mail_rcpt(args, "FROM:", PATH_MAIL, utf8, p);
}

/* smtp_parse_rcpt - forward-path and parameters of RCPT */
const char *
smtp_parse_rcpt(const char *args, int utf8, struct smtp_path *p)
{
	return parse_mail_rcpt(args, "TO:", PATH_RCPT, utf8, p);
}

/* smtp_parse_helo - the client's name: a domain or an address literal */
const char *
smtp_parse_helo(const char *args, char *name, size_t namelen)
{
	const char	*err;
	size_t		 len;

	if (namelen > 0)
		name[0] = '\0';
	if (args == NULL || *args == '\0')
		return "Domain name required";
	if ((err = check_bytes(args, 0)) != NULL)
		return err;
	len = strlen(args);
	if (args[0] == '[')
		err = check_literal(args, len);
	else
		err = check_domain(args, len, 0, 1);
	if (err != NULL)
		return err;
	if (len >= namelen)
		return "Domain too long";
	memcpy(name, args, len + 1);
	return NULL;
}

/* smtp_find_param - the parameter with this keyword (any case), or NULL */
const struct smtp_param *
smtp_find_param(const struct smtp_path *p, const char *kw)
{
	size_t	i, n = strlen(kw);

	for (i = 0; i < p->nparams && i < SMTP_PARAM_MAX; i++)
		if (strlen(p->params[i].keyword) == n &&
		    ieq_n(p->params[i].keyword, kw, n))
			return &p->params[i];
	return NULL;
}

/* smtp_parse_reply_line - one line of an upstream reply */
const char *
smtp_parse_reply_line(const char *line, size_t len, struct smtp_reply_line *r)
{
	const unsigned char	*u = (const unsigned char *)line;
	size_t			 i;

	memset(r, 0, sizeof(*r));
	/* lengths before offsets: "25" must not be read as "25?" (CVE-2020-8794) */
	if (len > TEXT_LINE_LEN)
		return "Reply line too long";
	if (len < 3)
		return "Reply line too short";
	if (u[0] < '2' || u[0] > '5' || u[1] < '0' || u[1] > '5' ||
	    u[2] < '0' || u[2] > '9')
		return "Bad reply code";
	if (len > 3 && u[3] != ' ' && u[3] != '-')
		return "Bad reply code separator";
	/*
	 * The text will be logged and may be passed to our client: no
	 * control character but TAB.  Bytes >= 0x80 are UTF-8 texts from
	 * servers that speak SMTPUTF8 and pass as they are.
	 */
	for (i = 4; i < len; i++)
		if ((u[i] < 0x20 && u[i] != '\t') || u[i] == 0x7f)
			return "Control character in reply";
	r->code = (u[0] - '0') * 100 + (u[1] - '0') * 10 + (u[2] - '0');
	r->more = len > 3 && u[3] == '-';
	r->text = line + (len > 3 ? 4 : 3);
	r->textlen = len > 3 ? len - 4 : 0;
	return NULL;
}

/* smtp_reply_reset - ready for a new reply */
void
smtp_reply_reset(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
}

/*
 * An enhanced status code "c.s.d " or "c.s.d" at the start of t: class
 * equal to the reply's first digit (2, 4 or 5), subject and detail of 1-3
 * digits (RFC 3463).  Returns 1 and *n, the octets to skip (with one
 * following space), or 0.
 */
static int
parse_enh(const char *t, size_t len, int code, size_t *n)
{
	size_t	i = 0, part, d;
	int	cls = code / 100;

	if (cls != 2 && cls != 4 && cls != 5)
		return 0;
	if (len < 5 || t[0] != '0' + cls || t[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (d = 0; i < len && d < 4 && is_digit((unsigned char)t[i]); d++)
			i++;
		if (d < 1 || d > 3)
			return 0;
		if (part == 0) {
			if (i >= len || t[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < len && t[i] != ' ')
		return 0;
	*n = i;
	return 1;
}

/* smtp_reply_feed - add one line to a (multi-line) reply */
const char *
smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
	struct smtp_reply_line	 rl;
	const char		*err, *t;
	size_t			 tl, n, need;

	if (r->done)
		return "Reply line after the end of the reply";
	if ((err = smtp_parse_reply_line(line, len, &rl)) != NULL)
		return err;
	if (r->nlines > 0 && rl.code != r->code)
		return "Reply code changed within a reply";
	if (r->nlines >= SMTP_REPLY_LINES_MAX)
		return "Too many reply lines";

	t = rl.text;
	tl = rl.textlen;
	if (r->nlines == 0) {
		if (parse_enh(t, tl, rl.code, &n)) {
			memcpy(r->enh, t, n);
			r->enh[n] = '\0';
			t += n;
			tl -= n;
			if (tl > 0) {
				t++;
				tl--;
			}
		}
	} else if ((n = strlen(r->enh)) > 0 && tl >= n &&
	    memcmp(t, r->enh, n) == 0 && (tl == n || t[n] == ' ')) {
		/* Postfix repeats the code on every line: "550-5.1.1 ..." */
		t += n;
		tl -= n;
		if (tl > 0) {
			t++;
			tl--;
		}
	}

	/* the joining '\n', the text, and the NUL must all fit */
	need = (r->nlines > 0 ? 1 : 0) + tl;
	if (need >= SMTP_REPLY_TEXT_MAX - r->textlen)
		return "Reply text too long";
	if (r->nlines == 0)
		r->code = rl.code;
	else
		r->text[r->textlen++] = '\n';
	memcpy(r->text + r->textlen, t, tl);
	r->textlen += tl;
	r->text[r->textlen] = '\0';
	r->nlines++;
	r->done = !rl.more;
	return NULL;
}

/* "SIZE" or "SIZE 1000": a value that is not a clean number means no limit known */
static void
ehlo_size(const char *s, size_t len, struct smtp_ext *ext)
{
	unsigned long long	v = 0;
	unsigned		d;
	size_t			i;

	ext->flags |= SMTP_EXT_SIZE;
	ext->size = 0;
	for (i = 0; i < len && s[i] == ' '; i++)
		;
	if (i == len)
		return;
	for (; i < len; i++) {
		if (!is_digit((unsigned char)s[i]))
			return;
		d = (unsigned)(s[i] - '0');
		/* an absurd value from a hostile upstream must not wrap */
		if (v > (~0ULL - d) / 10)
			return;
		v = v * 10 + d;
	}
	ext->size = v;
}

/*
 * Mechanism names from "AUTH A B" or the pre-RFC "AUTH=A B".  Names that
 * are not RFC 4422 sasl-mech (20 letters, digits, '-', '_') are dropped,
 * duplicates too; what does not fit in ext->auth is dropped, never cut.
 */
static void
ehlo_auth(const char *s, size_t len, struct smtp_ext *ext)
{
	const char	*m, *p;
	size_t		 i, ml, used, pl;
	int		 ok, dup;

	ext->flags |= SMTP_EXT_AUTH;
	i = 0;
	while (i < len) {
		while (i < len && s[i] == ' ')
			i++;
		m = s + i;
		for (ml = 0; i < len && s[i] != ' '; i++, ml++)
			;
		if (ml == 0)
			break;
		ok = ml <= SASL_MECH_MAX;
		for (pl = 0; ok && pl < ml; pl++)
			if (!is_alnum((unsigned char)m[pl]) && m[pl] != '-' &&
			    m[pl] != '_')
				ok = 0;
		if (!ok)
			continue;
		dup = 0;
		for (p = ext->auth; *p != '\0' && !dup; ) {
			for (pl = 0; p[pl] != '\0' && p[pl] != ' '; pl++)
				;
			if (pl == ml && ieq_n(p, m, ml))
				dup = 1;
			p += pl;
			if (*p == ' ')
				p++;
		}
		if (dup)
			continue;
		used = strlen(ext->auth);
		if (used + (used > 0) + ml >= sizeof(ext->auth))
			continue;
		if (used > 0)
			ext->auth[used++] = ' ';
		memcpy(ext->auth + used, m, ml);
		ext->auth[used + ml] = '\0';
	}
}

/* one ehlo-line: keyword, then parameters after a space */
static void
ehlo_line(const char *s, size_t len, struct smtp_ext *ext)
{
	size_t	kl, i;

	for (kl = 0; kl < len && s[kl] != ' '; kl++)
		;
	/* smtp-sink ends its reply with a keyword-less "250 " */
	if (kl == 0)
		return;
	if (kl == 4 && ieq_n(s, "SIZE", 4)) {
		ehlo_size(s + kl, len - kl, ext);
		return;
	}
	if (kl == 4 && ieq_n(s, "AUTH", 4)) {
		ehlo_auth(s + kl, len - kl, ext);
		return;
	}
	if (kl >= 5 && ieq_n(s, "AUTH=", 5)) {
		ehlo_auth(s + 5, len - 5, ext);
		return;
	}
	for (i = 0; i < sizeof(ehlo_keywords) / sizeof(ehlo_keywords[0]); i++)
		if (strlen(ehlo_keywords[i].name) == kl &&
		    ieq_n(s, ehlo_keywords[i].name, kl))
			ext->flags |= ehlo_keywords[i].flag;
}

/* smtp_parse_ehlo - the upstream's capabilities from its reply to EHLO */
void
smtp_parse_ehlo(const struct smtp_reply *r, struct smtp_ext *ext)
{
	const char	*s, *nl, *end;
	size_t		 ll;

	/* everything is learned anew: nothing from an earlier EHLO survives */
	memset(ext, 0, sizeof(*ext));
	if (r->code != 250 || r->textlen >= sizeof(r->text))
		return;
	end = r->text + r->textlen;
	/* the first line is the greeting, not a keyword */
	if ((nl = memchr(r->text, '\n', r->textlen)) == NULL)
		return;
	for (s = nl + 1; ; s = nl + 1) {
		nl = memchr(s, '\n', (size_t)(end - s));
		ll = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		ehlo_line(s, ll, ext);
		if (nl == NULL)
			break;
	}
}
