/*
 * smtp_data - the DATA stream machine, both directions.
 *
 * Contract: pure and streaming (input may arrive in any split, even one
 * byte at a time).  Inbound: only CRLF ends a line; the only end of data
 * is CRLF.CRLF (the first line may be ".\r\n" right after DATA); leading
 * dots are unstuffed; bare CR/LF are refused or normalised to CRLF by
 * policy, and NUL octets refused or dropped by the same policy; size and line length are counted.  An error is sticky: the machine
 * keeps consuming to the real end of data and then reports it, so the
 * caller replies once and the next command is parsed in sync.
 * Outbound: smtp_stuff doubles a leading dot on every line.
 */
#ifndef GW_SMTP_DATA_H
#define GW_SMTP_DATA_H

#include <stddef.h>

enum smtp_data_err {
	SMTP_DATA_OK = 0,
	SMTP_DATA_TOO_BIG,		/* over max: 552 5.3.4 */
	SMTP_DATA_BARE_NEWLINE,		/* bare CR or LF under reject policy: 550 5.6.0 */
	SMTP_DATA_LINE_TOO_LONG,	/* over linemax + CRLF: 550 5.6.0 */
	SMTP_DATA_NUL			/* NUL under reject policy: 550 5.6.0 */
};

#define SMTP_DATA_LINE_MAX	998	/* RFC 5321 4.5.3.1.6, CRLF excluded */
#define SMTP_DATA_LONG_LINE_MAX	(1024 * 1024)	/* hard bound for long_lines */

struct smtp_data {
	int			 state;	/* private */
	int			 normalize;	/* 1: bare newline -> CRLF, NUL dropped */
	size_t			 linemax; /* octets before CRLF, default 998 */
	int			 longline; /* a line over 998 octets was accepted */
	unsigned long long	 max;	/* max message size (unstuffed octets) */
	unsigned long long	 size;	/* unstuffed octets so far */
	size_t			 linelen; /* private: octets in the current line */
	enum smtp_data_err	 err;	/* first error, sticky */
};

/* smtp_data_init - start of a message body */
void	smtp_data_init(struct smtp_data *, unsigned long long max, int normalize);
/*
 * smtp_data_linemax - accept lines up to n octets (CRLF excluded), for
 * long_lines = pass or encode; n is clamped to 998 ..
 * SMTP_DATA_LONG_LINE_MAX.  Call right after smtp_data_init.  A line over
 * 998 octets then sets longline instead of SMTP_DATA_LINE_TOO_LONG.
 */
void	smtp_data_linemax(struct smtp_data *, size_t n);
/*
 * smtp_data_feed - consume input, append unstuffed message octets to out.
 * outmax must be >= 2 * inlen + 2 (normalising may double); fewer bytes
 * are then consumed.  Returns octets consumed; *outlen octets were written;
 * *done is set once CRLF.CRLF was consumed (the terminator itself is not
 * part of the output, the CRLF before the dot is).  Bytes after the
 * terminator are not consumed: they are the next command.  Once an error
 * is set, nothing more is written to out (but input is still consumed).
 */
size_t	smtp_data_feed(struct smtp_data *, const char *in, size_t inlen,
	    char *out, size_t outmax, size_t *outlen, int *done);

struct smtp_stuff {
	int	bol;	/* at beginning of a line */
};
/* smtp_stuff_init - the first byte sent is at the beginning of a line */
void	smtp_stuff_init(struct smtp_stuff *);
/*
 * smtp_stuff - copy in to out, doubling a '.' at the start of each line.
 * Returns input octets consumed (stops when out is full); *outlen written.
 */
size_t	smtp_stuff(struct smtp_stuff *, const char *in, size_t inlen,
	    char *out, size_t outmax, size_t *outlen);
/*
 * smtp_stuff_end - the terminator to send after the body: ".\r\n" if the
 * body ended with CRLF (or was empty), else "\r\n.\r\n".
 */
const char *smtp_stuff_end(const struct smtp_stuff *);

#endif
