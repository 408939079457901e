/*
 * pop3_parse - pure parsers for what a POP3 server sends (RFC 1939, RFC
 * 2449), and the APOP digest.
 *
 * Contract: every function returns NULL on success or a static error
 * string.  No I/O, no logging, no allocation: output goes into caller
 * structs whose sizes are the bounds.  Inputs are lines WITHOUT the CRLF;
 * a CR, LF, NUL or other control character (TAB excepted) in a line is an
 * error.  A function that fails leaves its output empty (zeroed), never
 * half filled.
 */
#ifndef GW_POP3_PARSE_H
#define GW_POP3_PARSE_H

#include <stddef.h>

#define POP3_LINE_MAX		512	/* RFC 2449 section 4, CRLF included */
#define POP3_TIMESTAMP_MAX	256	/* "<...@...>", brackets included */
#define POP3_CAPA_LINES_MAX	64	/* capability lines in one CAPA reply */
#define POP3_ARG_MAX		255	/* a USER/PASS argument (RFC 2449: line 255) */
#define POP3_DIGEST_LEN		32	/* MD5 in lower-case hex */

struct pop3_status {
	int		 ok;		/* 1 for +OK, 0 for -ERR */
	const char	*text;		/* into the line, after "+OK " / "-ERR " */
	size_t		 textlen;
};

/*
 * pop3_parse_status - "+OK[ text]" or "-ERR[ text]".  The indicator is
 * upper case as RFC 1939 section 3 writes it; text is printable (TAB
 * allowed) and the line at most POP3_LINE_MAX - 2 octets.
 */
const char *pop3_parse_status(const char *line, size_t len,
	    struct pop3_status *st);

/*
 * pop3_parse_greeting - a status line that must be +OK; ts receives the
 * APOP timestamp (RFC 1939 section 7) with its brackets, or "" if the
 * greeting offers none.  A timestamp is the first "<...>" of the text: no
 * space, '<' or control character inside, exactly one '@' with text on
 * both sides, at most POP3_TIMESTAMP_MAX - 1 octets.  Anything else that
 * looks like one is not a timestamp: the client then does not use APOP.
 */
const char *pop3_parse_greeting(const char *line, size_t len, char *ts,
	    size_t tslen);

#define POP3_CAPA_STLS	0x01u
#define POP3_CAPA_USER	0x02u
#define POP3_CAPA_SASL	0x04u

/* the state of a multi-line CAPA reply being read */
struct pop3_capa {
	unsigned	 flags;		/* POP3_CAPA_* */
	size_t		 nlines;	/* capability lines seen */
	int		 started;	/* the +OK line was read */
	int		 done;		/* the "." line was read */
	int		 refused;	/* the server answered -ERR (done too) */
};

/* pop3_capa_reset - before the reply's first line */
void	pop3_capa_reset(struct pop3_capa *);
/*
 * pop3_capa_feed - one line of the reply: first the status line (a -ERR
 * sets refused and done: old servers have no CAPA), then capability lines
 * (dot-stuffed, RFC 1939 section 3) until ".".  Keywords are matched
 * without regard to case.  A line after done, more than
 * POP3_CAPA_LINES_MAX lines or a bad line is an error, and the state is
 * left as it was.
 */
const char *pop3_capa_feed(struct pop3_capa *, const char *line, size_t len);

/*
 * pop3_arg_ok - an argument we are about to send (user name, password):
 * 1 to 255 octets without control characters, spaces allowed (RFC
 * 1939's PASS takes the rest of the line).  NULL if it may go on the wire.
 */
const char *pop3_arg_ok(const char *arg);

/*
 * pop3_apop_digest - MD5(timestamp secret) in lower-case hex into hex
 * (POP3_DIGEST_LEN + 1 octets).  The timestamp must be one that
 * pop3_parse_greeting returned.  The intermediate buffer is wiped.
 */
const char *pop3_apop_digest(const char *timestamp, const char *secret,
	    char *hex, size_t hexlen);

#endif
