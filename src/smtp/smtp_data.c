/*
 * smtp_data - the DATA stream machine, both directions.
 *
 * Inbound, the one rule that matters (SMTP smuggling): the end of data is
 * recognised only as the literal input bytes CR LF "." CR LF, where the
 * first CR LF may be the one that ended the DATA command.  Every other
 * shape ("\n.\n", "\r.\r", "\n.\r\n", "\r\n.\n", ".\r\r\n" ...) is message
 * content, under both bare-newline policies.
 *
 * The input's line structure is likewise CRLF only: a line begins after a
 * literal CR LF, and only there is a leading dot unstuffed or a dot taken
 * as a possible terminator.  Normalisation (normalize = 1) only rewrites
 * output bytes: a bare LF or bare CR is written out as CR LF, but does not
 * start a new input line, so a dot after it is neither unstuffed nor a
 * terminator.  The output is then pure CRLF text, and smtp_stuff() will
 * stuff that dot when the message is sent on, so the upstream sees it as
 * the content it is.  Under reject (normalize = 0) a bare CR or LF sets
 * the sticky SMTP_DATA_BARE_NEWLINE and the scan goes on to the real end.
 *
 * Accounting: size is the octets written to out (unstuffed, normalised);
 * max == 0 means no limit.  linelen counts input octets of the current
 * line as transmitted (a stuffed dot included, the newline excluded); the
 * limit is 998, i.e. 1000 with CRLF (RFC 5321 4.5.3.1.6), or linemax
 * when the listener takes long lines (longline then says one was seen).
 * A normalised bare newline ends an output line, so it also resets
 * linelen.
 *
 * The state holds everything pending, so no input byte is ever buffered:
 * after a CR the CR is not yet written (it may become CRLF, or a
 * normalised bare CR, or an error), and a dot at the start of a line is
 * never written at all (unstuffed, or part of the terminator).
 */
#include <stddef.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "smtp/smtp_data.h"

#define DATA_OUT_WORST	3	/* output octets one input octet may cause */

enum {
	S_BOL = 0,	/* after CRLF (or DATA's CRLF): a line begins */
	S_TEXT,		/* inside a line */
	S_CR,		/* after a CR inside a line; the CR is pending */
	S_DOT,		/* after "." at the beginning of a line */
	S_DOTCR,	/* after ".\r" at the beginning of a line */
	S_NLBOL,	/* after a normalised bare newline: output line begins */
	S_DONE		/* CRLF.CRLF consumed */
};

/*
 * The output side of the machine: where octets go, or do not go once an
 * error is set.  Nothing is written after the first error, so a rejected
 * message never reaches the spool beyond the point of the error.
 */
struct sink {
	struct smtp_data	*d;
	char			*out;
	size_t			 outmax;
	size_t			*outlen;
};

static void	set_err(struct smtp_data *, enum smtp_data_err);
static void	emit(struct sink *, const char *, size_t);
static void	bare_newline(struct sink *);
static void	nul_byte(struct sink *);
static void	count(struct smtp_data *);
static void	text_byte(struct sink *, char);

static void
set_err(struct smtp_data *d, enum smtp_data_err e)
{
	/* sticky: the first error is the one the client hears about */
	if (d->err == SMTP_DATA_OK)
		d->err = e;
}

static void
emit(struct sink *k, const char *p, size_t n)
{
	struct smtp_data	*d = k->d;

	if (d->err != SMTP_DATA_OK)
		return;
	/*
	 * Over the limit: refuse the whole write rather than cut it, so
	 * out never holds more than max octets, nor half a CRLF.
	 */
	if (d->max != 0 && (n > d->max || d->size > d->max - n)) {
		set_err(d, SMTP_DATA_TOO_BIG);
		return;
	}
	memcpy(k->out + *k->outlen, p, n);
	*k->outlen += n;
	d->size += n;
}

/*
 * A CR not followed by LF, or an LF not preceded by CR.  Never a line end
 * for the input grammar (see the top of the file), only for the output.
 */
static void
bare_newline(struct sink *k)
{
	if (!k->d->normalize)
		set_err(k->d, SMTP_DATA_BARE_NEWLINE);
	else
		emit(k, "\r\n", 2);
	k->d->linelen = 0;
	k->d->state = k->d->normalize ? S_NLBOL : S_TEXT;
}

/*
 * A NUL octet.  It has no place in a mail message (RFC 5322 2.3), and a
 * peer that reads text as C strings may end a line or the data at it:
 * "\r\n\0.\r\n" is one of the published smuggling probes.  Under reject
 * it refuses the message; under normalize it is dropped.  Dropped, it
 * still was an input octet, so a dot after it is content, not an end or
 * a stuffed dot: the state notes only whether the output is at the start
 * of a line (S_NLBOL), where smtp_stuff() will double that dot.
 */
static void
nul_byte(struct sink *k)
{
	struct smtp_data	*d = k->d;

	if (!d->normalize)
		set_err(d, SMTP_DATA_NUL);
	if (d->state == S_BOL || d->state == S_NLBOL || d->state == S_DOT)
		d->state = S_NLBOL;
	else
		d->state = S_TEXT;
}

/*
 * One more octet of the current line.  Past 998 (RFC 5321) the line is
 * refused, unless the listener takes long lines (long_lines = pass or
 * encode): then it is only noted, up to the hard bound linemax.
 */
static void
count(struct smtp_data *d)
{
	if (++d->linelen <= SMTP_DATA_LINE_MAX)
		return;
	if (d->linelen > d->linemax)
		set_err(d, SMTP_DATA_LINE_TOO_LONG);
	else if (d->err == SMTP_DATA_OK)
		d->longline = 1;
}

/* a byte in S_TEXT (or one that leaves S_BOL/S_DOT for S_TEXT) */
static void
text_byte(struct sink *k, char c)
{
	struct smtp_data	*d = k->d;

	if (c == '\r') {
		d->state = S_CR;
		return;
	}
	if (c == '\n') {
		bare_newline(k);
		return;
	}
	if (c == '\0') {
		nul_byte(k);
		return;
	}
	/*
	 * After a normalised bare newline the output is at the start of a
	 * line, so smtp_stuff() will send this dot doubled: count both, or
	 * a 998-octet line would leave as 999 (found by fuzz_data).
	 */
	if (c == '.' && d->state == S_NLBOL)
		count(d);
	count(d);
	emit(k, &c, 1);
	d->state = S_TEXT;
}

/* smtp_data_init - start of a message body */
void
smtp_data_init(struct smtp_data *d, unsigned long long max, int normalize)
{
	memset(d, 0, sizeof(*d));
	d->state = S_BOL;
	d->normalize = normalize != 0;
	d->max = max;
	d->linemax = SMTP_DATA_LINE_MAX;
	d->err = SMTP_DATA_OK;
}

/* smtp_data_linemax - the longest line taken, for long_lines */
void
smtp_data_linemax(struct smtp_data *d, size_t n)
{
	if (n < SMTP_DATA_LINE_MAX)
		n = SMTP_DATA_LINE_MAX;
	if (n > SMTP_DATA_LONG_LINE_MAX)
		n = SMTP_DATA_LONG_LINE_MAX;
	d->linemax = n;
}

/*
 * scan_special - the offset of the first CR, LF or NUL in p[0..n), or n.
 * Sixteen octets a step with SSE2 (x86-64's baseline), so that a scan
 * over many lines costs under an instruction an octet; the plain loop
 * elsewhere.
 */
static size_t
scan_special(const char *p, size_t n)
{
	size_t	 i = 0;

#if defined(__SSE2__)
	const __m128i	 cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
	const __m128i	 nul = _mm_setzero_si128();
	__m128i		 v;
	unsigned	 m;

	for (; n - i >= 16; i += 16) {
		v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		m = (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(
		    _mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)),
		    _mm_cmpeq_epi8(v, nul)));
		if (m != 0)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	for (; i < n; i++)
		if (p[i] == '\r' || p[i] == '\n' || p[i] == '\0')
			return i;
	return n;
}

/*
 * plain_next_line - at p[0..n) a CR: is it CRLF followed by a line the
 * fast paths may enter (its first octet there, and not a dot, CR, LF or
 * NUL)?  The dot is the one octet whose meaning depends on the line start.
 */
static int
plain_next_line(const char *p, size_t n)
{
	return n >= 3 && p[0] == '\r' && p[1] == '\n' && p[2] != '.' &&
	    p[2] != '\r' && p[2] != '\n' && p[2] != '\0';
}

/*
 * text_run - how many octets from in the byte machine would copy one by
 * one with nothing happening but plain text and CRLF line ends: no bare
 * CR or LF, no NUL, no line past 998, no dot at a line start, within the
 * size limit and room (octets that may be written).  *linelen is the
 * current line's length, updated for the run.  The run may cross many
 * line ends, and always ends inside a line (in S_TEXT).  The hot path
 * copies such a run at once; everything else goes byte by byte.
 */
static size_t
text_run(const struct smtp_data *d, const char *in, size_t len, size_t room,
    size_t *linelen)
{
	size_t	 n = len < room ? len : room, i = 0, lim, k;

	if (d->max != 0) {
		if (d->size >= d->max)
			return 0;
		if (n > d->max - d->size)
			n = (size_t)(d->max - d->size);
	}
	for (;;) {
		if (*linelen >= SMTP_DATA_LINE_MAX)
			return i;
		lim = SMTP_DATA_LINE_MAX - *linelen;
		if (lim > n - i)
			lim = n - i;
		k = scan_special(in + i, lim);
		*linelen += k;
		i += k;
		if (k == lim || !plain_next_line(in + i, n - i))
			return i;
		/* CRLF and the first octet of the next line */
		i += 3;
		*linelen = 1;
	}
}

/* one input octet through the machine (smtp_data_feed) */
static void
feed_byte(struct sink *k, char c)
{
	struct smtp_data	*d = k->d;

	switch (d->state) {
	case S_BOL:
		if (c == '.') {
			count(d);
			d->state = S_DOT;
		} else
			text_byte(k, c);
		break;
	case S_TEXT:
	case S_NLBOL:
		text_byte(k, c);
		break;
	case S_CR:
		if (c == '\n') {
			emit(k, "\r\n", 2);
			d->linelen = 0;
			d->state = S_BOL;
		} else {
			/* the pending CR was bare; c starts afresh */
			bare_newline(k);
			text_byte(k, c);
		}
		break;
	case S_DOT:
		/* the first dot of the line is dropped whatever follows */
		if (c == '\r')
			d->state = S_DOTCR;
		else
			text_byte(k, c);
		break;
	case S_DOTCR:
		if (c == '\n') {
			/* CRLF "." CRLF: the only end of data */
			d->linelen = 0;
			d->state = S_DONE;
		} else {
			/* ".\r" + something: a bare CR after a line "." */
			bare_newline(k);
			text_byte(k, c);
		}
		break;
	default:
		/*
		 * A corrupted state.  Ending the data here would hand the
		 * rest of the body to the command parser, so go on scanning
		 * for the real terminator instead.
		 */
		text_byte(k, c);
		break;
	}
}

/* smtp_data_feed - consume DATA input, write the unstuffed message */
size_t
smtp_data_feed(struct smtp_data *d, const char *in, size_t inlen, char *out,
    size_t outmax, size_t *outlen, int *done)
{
	struct sink	k;
	size_t		i = 0, n, linelen;

	*outlen = 0;
	*done = d->state == S_DONE;
	k.d = d;
	k.out = out;
	k.outmax = outmax;
	k.outlen = outlen;

	while (i < inlen && d->state != S_DONE) {
		/*
		 * Stop before a byte whose output might not fit; the caller
		 * comes back with the rest.  Once an error is set nothing is
		 * written, so the input is consumed regardless.
		 */
		if (d->err == SMTP_DATA_OK && outmax - *outlen < DATA_OUT_WORST)
			break;
		/*
		 * Inside a line, a run of plain octets is copied whole: what
		 * the byte machine would do, octet for octet, at memchr's
		 * speed.  (Room: the byte loop writes one octet while at
		 * least DATA_OUT_WORST are free.)
		 */
		if (d->err == SMTP_DATA_OK && (d->state == S_TEXT ||
		    (d->state == S_BOL && in[i] != '.'))) {
			linelen = d->state == S_BOL ? 0 : d->linelen;
			n = text_run(d, in + i, inlen - i,
			    outmax - *outlen - (DATA_OUT_WORST - 1), &linelen);
			if (n > 0) {
				memcpy(out + *outlen, in + i, n);
				*outlen += n;
				d->size += n;
				d->linelen = linelen;
				d->state = S_TEXT;
				i += n;
				continue;
			}
		}
		feed_byte(&k, in[i]);
		i++;
	}
	*done = d->state == S_DONE;
	return i;
}

/* smtp_stuff_init - the first byte sent is at the beginning of a line */
void
smtp_stuff_init(struct smtp_stuff *st)
{
	st->bol = 1;
}

/*
 * Outbound state, kept in st->bol (non-zero means "a line begins here" as
 * the header promises):
 *   STUFF_MID	inside a line
 *   STUFF_BOL	after CRLF, or nothing sent yet
 *   STUFF_CR	after a CR (a CRLF may be half sent)
 *   STUFF_LF	after an LF that did not follow a CR
 * A dot is doubled after any CR or LF, not only after CRLF: our own input
 * side never yields bare newlines, and if something else ever does, an
 * upstream that takes "\n.\r\n" for the end of data must still not see
 * one.  The terminator, though, counts only a real CRLF as a line end.
 */
#define STUFF_MID	0
#define STUFF_BOL	1
#define STUFF_CR	2
#define STUFF_LF	3

/*
 * stuff_run - how many octets of in[0..n) copy unchanged from inside a
 * line: up to the next CR, LF or NUL (a NUL only to keep one scanner),
 * crossing each CRLF whose next line starts with a plain octet.
 */
static size_t
stuff_run(const char *in, size_t n)
{
	size_t	 i = 0;

	for (;;) {
		i += scan_special(in + i, n - i);
		if (i == n || !plain_next_line(in + i, n - i))
			return i;
		i += 3;
	}
}

/* smtp_stuff - copy, doubling a dot that begins a line */
size_t
smtp_stuff(struct smtp_stuff *st, const char *in, size_t inlen, char *out,
    size_t outmax, size_t *outlen)
{
	size_t		 i = 0, n = 0, run;
	char		 c;

	while (i < inlen) {
		/* inside a line, up to the next CR or LF: a plain copy */
		if (st->bol == STUFF_MID) {
			run = stuff_run(in + i, inlen - i < outmax - n ?
			    inlen - i : outmax - n);
			memcpy(out + n, in + i, run);
			n += run;
			i += run;
			if (i == inlen)
				break;
		}
		c = in[i];
		if (c == '.' && st->bol != STUFF_MID) {
			if (outmax - n < 2)
				break;
			out[n++] = '.';
		} else if (outmax - n < 1)
			break;
		out[n++] = c;
		i++;
		if (c == '\r')
			st->bol = STUFF_CR;
		else if (c == '\n')
			st->bol = st->bol == STUFF_CR ? STUFF_BOL : STUFF_LF;
		else
			st->bol = STUFF_MID;
	}
	*outlen = n;
	return i;
}

/* smtp_stuff_end - what to send after the body so that it ends in CRLF.CRLF */
const char *
smtp_stuff_end(const struct smtp_stuff *st)
{
	return st->bol == STUFF_BOL ? ".\r\n" : "\r\n.\r\n";
}
