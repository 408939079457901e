/*
 * smtp_parse - pure parsers for SMTP commands (from the client) and replies
 * (from the upstream).
 *
 * Contract: every function returns NULL on success or a static error string
 * fit to follow an SMTP code in a reply ("Syntax error in parameters").
 * No I/O, no logging, no allocation: output goes into caller structs whose
 * sizes are the bounds.  Inputs are lines WITHOUT the CRLF; a CR, LF or NUL
 * inside any input is an error.
 */
#ifndef GW_SMTP_PARSE_H
#define GW_SMTP_PARSE_H

#include <stddef.h>

#define SMTP_CMD_LINE_MAX	512	/* RFC 5321 4.5.3.1.4, CRLF included */
/* RFC 3461 4: DSN lets MAIL grow by 100 octets and RCPT by 500 */
#define SMTP_MAILRCPT_LINE_MAX	(SMTP_CMD_LINE_MAX + 500)
#define SMTP_TEXT_LINE_MAX	1000	/* RFC 5321 4.5.3.1.6, CRLF included */
#define SMTP_REPLY_LINE_MAX	1000	/* we accept reply lines up to this (CRLF incl.) */
#define SMTP_PATH_MAX		256	/* RFC 5321 4.5.3.1.3, brackets incl. */
#define SMTP_DOMAIN_MAX		255
#define SMTP_PARAM_MAX		8	/* ESMTP parameters per MAIL/RCPT */
#define SMTP_PARAM_KW_MAX	32
#define SMTP_PARAM_VAL_MAX	501	/* ORCPT: up to 500 octets */
#define SMTP_REPLY_TEXT_MAX	4096	/* all lines of one reply, joined */
#define SMTP_REPLY_LINES_MAX	64	/* lines in one multi-line reply */

enum smtp_verb {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO, SMTP_CMD_EHLO, SMTP_CMD_MAIL, SMTP_CMD_RCPT,
	SMTP_CMD_DATA, SMTP_CMD_RSET, SMTP_CMD_NOOP, SMTP_CMD_QUIT,
	SMTP_CMD_HELP, SMTP_CMD_VRFY, SMTP_CMD_EXPN, SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH, SMTP_CMD_BDAT
};

/*
 * smtp_parse_command - split "VERB[ args]".  The verb is matched without
 * regard to case; *args points into line just past the single space after
 * the verb ("" if none).  A line is at most SMTP_CMD_LINE_MAX octets with
 * its CRLF, a MAIL or RCPT line SMTP_MAILRCPT_LINE_MAX.  An unknown verb is
 * not an error: *verb is SMTP_CMD_UNKNOWN and NULL is returned.  "MAIL FROM:" and "RCPT TO:" keep
 * "FROM:"/"TO:" inside args.
 */
const char *smtp_parse_command(const char *line, size_t len,
	    enum smtp_verb *verb, const char **args);

struct smtp_param {
	char	keyword[SMTP_PARAM_KW_MAX];	/* as sent (case kept) */
	char	value[SMTP_PARAM_VAL_MAX];	/* "" when has_value == 0 */
	int	has_value;
};

struct smtp_path {
	char	addr[SMTP_PATH_MAX];	/* mailbox without <>; "" for <> */
	struct smtp_param params[SMTP_PARAM_MAX];
	size_t	nparams;
};

/*
 * smtp_parse_mail - args of MAIL: "FROM:<a@b.c> SIZE=10 BODY=8BITMIME".
 * "<>" is allowed.  Source routes ("<@x:a@b>") are accepted and dropped as
 * RFC 5321 asks.  Non-ASCII in the address is allowed only if utf8 != 0.
 */
const char *smtp_parse_mail(const char *args, int utf8, struct smtp_path *p);
/* smtp_parse_rcpt - args of RCPT: "TO:<a@b.c>"; "<Postmaster>" allowed, "<>" not */
const char *smtp_parse_rcpt(const char *args, int utf8, struct smtp_path *p);
/* smtp_parse_helo - a domain or an address literal ("[192.0.2.1]", "[IPv6:...]") */
const char *smtp_parse_helo(const char *args, char *name, size_t namelen);
/* smtp_find_param - the parameter with this keyword (any case), or NULL */
const struct smtp_param *smtp_find_param(const struct smtp_path *p, const char *kw);

/* one reply line: "250-text" or "250 text" or "250" */
struct smtp_reply_line {
	int		 code;		/* 200..599 */
	int		 more;		/* 1 for "250-" */
	const char	*text;		/* points into the line, after "250-"/"250 " */
	size_t		 textlen;
};
/* smtp_parse_reply_line - three digits 2-5/0-5/0-9, then ' ', '-' or end */
const char *smtp_parse_reply_line(const char *line, size_t len,
	    struct smtp_reply_line *r);

/* a whole (possibly multi-line) reply, accumulated line by line */
struct smtp_reply {
	int	code;			/* 0 until the first line */
	char	enh[16];		/* "4.7.0" if the first line has one, else "" */
	char	text[SMTP_REPLY_TEXT_MAX]; /* lines' text joined by '\n', enh removed from line 1 */
	size_t	textlen;
	size_t	nlines;
	int	done;			/* the last line was seen */
};
/* smtp_reply_reset - ready for a new reply */
void	smtp_reply_reset(struct smtp_reply *);
/*
 * smtp_reply_feed - add one line.  Errors: bad syntax, a code differing from
 * the first line's, more than SMTP_REPLY_LINES_MAX lines or
 * SMTP_REPLY_TEXT_MAX text, a line fed after done.
 */
const char *smtp_reply_feed(struct smtp_reply *, const char *line, size_t len);

/* EHLO capabilities of the upstream */
#define SMTP_EXT_STARTTLS	0x0001u
#define SMTP_EXT_PIPELINING	0x0002u
#define SMTP_EXT_SIZE		0x0004u
#define SMTP_EXT_8BITMIME	0x0008u
#define SMTP_EXT_SMTPUTF8	0x0010u
#define SMTP_EXT_ENHANCEDSTATUSCODES 0x0020u
#define SMTP_EXT_AUTH		0x0040u
#define SMTP_EXT_DSN		0x0080u
#define SMTP_EXT_CHUNKING	0x0100u
#define SMTP_EXT_REQUIRETLS	0x0200u	/* RFC 8689 */

struct smtp_ext {
	unsigned		flags;
	unsigned long long	size;	/* SIZE value, 0 = none given */
	char			auth[256]; /* AUTH mechanisms, space separated */
};
/*
 * smtp_parse_ehlo - fill ext from a complete 250 reply to EHLO (r->text:
 * first line is the greeting, each later line one keyword with its params).
 * Unknown keywords and a keyword-less empty line are ignored.
 */
void	smtp_parse_ehlo(const struct smtp_reply *r, struct smtp_ext *ext);

#endif
