/*
 * test_smtp_data - the DATA stream machine and dot-stuffing.
 *
 * Every input is run four ways (in one piece, byte by byte, in random
 * chunks, and with an output buffer of 3 octets) and all four must agree.
 * Output buffers are allocated at exactly the size passed, so ASan sees an
 * overrun.  Random inputs are also checked against a whole-buffer reference
 * model of the rule "the end is the first CRLF.CRLF in CRLF + input".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/smtp_data.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define L(s)		s, sizeof(s) - 1
#define ALL		((size_t)-1)	/* want_consumed: the whole input */

#define CHECK(bad, cond, ...) do {					\
	if (!(cond)) {							\
		print_error(__VA_ARGS__);				\
		(bad)++;						\
	}								\
} while (0)

enum split {
	SPLIT_WHOLE,
	SPLIT_BYTE,
	SPLIT_RANDOM,
	SPLIT_TIGHT,
	SPLIT_MAX
};

static const char *const split_names[] = {
	"whole", "byte", "random", "tight"
};

struct result {
	char			*out;
	size_t			 outlen;
	size_t			 outcap;
	size_t			 consumed;
	int			 done;
	enum smtp_data_err	 err;
	unsigned long long	 size;
	int			 longline;
};

/* test_long_lines: smtp_data_linemax() after init when non-zero */
static size_t	 linemax_opt;

static const char *vis(const char *, size_t);
static void	 append(struct result *, const char *, size_t);
static int	 run(const char *, size_t, unsigned long long, int, enum split,
		    unsigned, struct result *);
static void	 ref(const char *, size_t, int, struct result *);
static int	 same(const char *, const char *, size_t, const struct result *,
		    const struct result *);
static int	 run_all(const char *, const char *, size_t, unsigned long long,
		    int, struct result *);
static void	 stuff_all(const char *, size_t, size_t, struct result *,
		    const char **);

static const char *
vis(const char *s, size_t n)
{
	static char	bufs[4][4096];
	static int	which;
	char		*b = bufs[which++ % 4];
	size_t		i, o = 0;

	for (i = 0; i < n && o + 8 < sizeof(bufs[0]); i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			b[o++] = (char)c;
		else if (c == '\r')
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\r");
		else if (c == '\n')
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o, "\\n");
		else
			o += (size_t)snprintf(b + o, sizeof(bufs[0]) - o,
			    "\\x%02x", c);
	}
	b[o] = '\0';
	return b;
}

static void
append(struct result *r, const char *p, size_t n)
{
	/* geometric growth: byte-by-byte feeding must stay linear */
	if (r->outlen + n + 1 > r->outcap) {
		size_t cap = r->outcap ? r->outcap : 64;

		while (cap < r->outlen + n + 1)
			cap *= 2;
		r->out = realloc(r->out, cap);
		assert_non_null(r->out);
		r->outcap = cap;
	}
	memcpy(r->out + r->outlen, p, n);
	r->outlen += n;
	r->out[r->outlen] = '\0';
}

/*
 * Feed in to a fresh machine, split as asked.  Returns 0, or -1 when the
 * machine broke its own contract (made no progress, wrote past outmax,
 * consumed input after done).
 */
static int
run(const char *in, size_t inlen, unsigned long long max, int normalize,
    enum split how, unsigned seed, struct result *r)
{
	struct smtp_data	 d;
	size_t			 pos = 0, chunk, omax, olen, n;
	char			*buf;
	int			 done = 0;

	memset(r, 0, sizeof(*r));
	append(r, "", 0);
	smtp_data_init(&d, max, normalize);
	if (linemax_opt != 0)
		smtp_data_linemax(&d, linemax_opt);
	while (pos < inlen && !done) {
		switch (how) {
		case SPLIT_BYTE:
			chunk = 1;
			break;
		case SPLIT_RANDOM:
			chunk = 1 + (size_t)rand_r(&seed) % 23;
			if (chunk > inlen - pos)
				chunk = inlen - pos;
			break;
		default:
			chunk = inlen - pos;
			break;
		}
		omax = how == SPLIT_TIGHT ? 3 : 2 * chunk + 2;
		buf = malloc(omax);
		assert_non_null(buf);
		n = smtp_data_feed(&d, in + pos, chunk, buf, omax, &olen, &done);
		if (n > chunk || olen > omax || (n == 0 && !done)) {
			print_error("feed(%zu) at %zu: consumed %zu, wrote %zu "
			    "of %zu, done %d\n", chunk, pos, n, olen, omax, done);
			free(buf);
			return -1;
		}
		append(r, buf, olen);
		free(buf);
		pos += n;
	}
	/* after the end, nothing more is taken */
	if (done && pos < inlen) {
		char one[4];

		n = smtp_data_feed(&d, in + pos, inlen - pos, one, sizeof(one),
		    &olen, &done);
		if (n != 0 || olen != 0 || !done) {
			print_error("feed after done consumed %zu\n", n);
			return -1;
		}
	}
	r->consumed = pos;
	r->done = done;
	r->err = d.err;
	r->size = d.size;
	r->longline = d.longline;
	return 0;
}

/*
 * The reference model, written as plainly as possible over the whole
 * buffer: the message ends at the first CRLF "." CRLF in CRLF + input; in
 * the message, a line begins only after a literal CRLF, a leading dot is
 * dropped, a bare CR or LF is an error (reject) or CRLF (normalize), and
 * a NUL is an error (reject) or dropped (normalize).
 * It needs a terminator in the input and does not model size or line limits.
 */
static void
ref(const char *in, size_t n, int normalize, struct result *r)
{
	static const char	 term[] = "\r\n.\r\n";
	size_t			 j, k, end = 0, i;
	int			 found = 0, bol = 1, stopped = 0;
	char			 c;

	memset(r, 0, sizeof(*r));
	append(r, "", 0);
	for (j = 0; j + 5 <= n + 2 && !found; j++) {
		for (k = 0; k < 5; k++) {
			c = j + k < 2 ? "\r\n"[j + k] : in[j + k - 2];
			if (c != term[k])
				break;
		}
		if (k == 5) {
			found = 1;
			end = j;
		}
	}
	assert_true(found);
	for (i = 0; i < end; i++) {
		c = in[i];
		if (bol && c == '.') {
			bol = 0;
			continue;
		}
		bol = 0;
		if (c == '\r' && i + 1 < end && in[i + 1] == '\n') {
			if (!stopped)
				append(r, "\r\n", 2);
			i++;
			bol = 1;
		} else if (c == '\r' || c == '\n') {
			if (!normalize) {
				if (!stopped)
					r->err = SMTP_DATA_BARE_NEWLINE;
				stopped = 1;
			} else
				append(r, "\r\n", 2);
		} else if (c == '\0') {
			/* refused, or dropped; never a line start either way */
			if (!normalize) {
				if (!stopped)
					r->err = SMTP_DATA_NUL;
				stopped = 1;
			}
		} else if (!stopped)
			append(r, &c, 1);
	}
	r->consumed = end + 3;
	r->done = 1;
	r->size = r->outlen;
}

static int
same(const char *what, const char *in, size_t inlen, const struct result *a,
    const struct result *b)
{
	int	bad = 0;

	CHECK(bad, a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0,
	    "%s \"%s\": got out \"%s\", want \"%s\"\n", what, vis(in, inlen),
	    vis(a->out, a->outlen), vis(b->out, b->outlen));
	CHECK(bad, a->consumed == b->consumed, "%s \"%s\": got consumed %zu, "
	    "want %zu\n", what, vis(in, inlen), a->consumed, b->consumed);
	CHECK(bad, a->done == b->done, "%s \"%s\": got done %d, want %d\n",
	    what, vis(in, inlen), a->done, b->done);
	CHECK(bad, a->err == b->err, "%s \"%s\": got err %d, want %d\n", what,
	    vis(in, inlen), a->err, b->err);
	CHECK(bad, a->size == b->size, "%s \"%s\": got size %llu, want %llu\n",
	    what, vis(in, inlen), a->size, b->size);
	return bad;
}

/* run every split; all must equal the one-piece run, returned in *whole */
static int
run_all(const char *name, const char *in, size_t inlen,
    unsigned long long max, int normalize, struct result *whole)
{
	struct result	 r;
	char		 what[256];
	int		 bad = 0, how;
	unsigned	 seed;

	if (run(in, inlen, max, normalize, SPLIT_WHOLE, 0, whole) != 0)
		return 1;
	for (how = SPLIT_BYTE; how < SPLIT_MAX; how++) {
		for (seed = 1; seed <= (how == SPLIT_RANDOM ? 5u : 1u); seed++) {
			snprintf(what, sizeof(what), "%s [%s split, seed %u, "
			    "normalize %d]", name, split_names[how], seed,
			    normalize);
			if (run(in, inlen, max, normalize, (enum split)how,
			    seed, &r) != 0) {
				print_error("%s: contract broken\n", what);
				bad++;
				continue;
			}
			bad += same(what, in, inlen, &r, whole);
			free(r.out);
		}
	}
	return bad;
}

/* ---- table of inbound cases ---- */

static const struct {
	const char		*name;
	const char		*in;
	size_t			 inlen;
	int			 normalize;
	unsigned long long	 max;
	const char		*out;
	size_t			 outlen;
	size_t			 consumed;
	int			 done;
	enum smtp_data_err	 err;
} cases[] = {
	{ "simple", L("Subject: x\r\n\r\nhello\r\n.\r\n"), 0, 0,
	    L("Subject: x\r\n\r\nhello\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "empty body", L(".\r\n"), 0, 0, L(""), ALL, 1, SMTP_DATA_OK },
	{ "one empty line", L("\r\n.\r\n"), 0, 0, L("\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "first line stuffed", L("..x\r\n.\r\n"), 0, 0, L(".x\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "first line is a stuffed dot", L("..\r\n.\r\n"), 0, 0, L(".\r\n"),
	    ALL, 1, SMTP_DATA_OK },
	{ "stuffed dot line", L("a\r\n..\r\n.\r\n"), 0, 0, L("a\r\n.\r\n"),
	    ALL, 1, SMTP_DATA_OK },
	{ "stuffed two dots", L("a\r\n...\r\n.\r\n"), 0, 0, L("a\r\n..\r\n"),
	    ALL, 1, SMTP_DATA_OK },
	{ "unstuffed leading dot dropped", L("a\r\n.b\r\n.\r\n"), 0, 0,
	    L("a\r\nb\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "dot inside line kept", L("a.\r\nb.c\r\n.\r\n"), 0, 0,
	    L("a.\r\nb.c\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "space before dot", L(" .\r\n.\r\n"), 0, 0, L(" .\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "no final CRLF in body", L("a\r\n.\r\n"), 0, 0, L("a\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "next command not consumed", L("a\r\n.\r\nQUIT\r\n"), 0, 0,
	    L("a\r\n"), 6, 1, SMTP_DATA_OK },
	{ "pipelined MAIL not consumed", L(".\r\nMAIL FROM:<a@b>\r\n"), 0, 0,
	    L(""), 3, 1, SMTP_DATA_OK },
	{ "incomplete: dot CR", L("a\r\n.\r"), 0, 0, L("a\r\n"), ALL, 0,
	    SMTP_DATA_OK },
	{ "incomplete: dot", L("a\r\n."), 0, 0, L("a\r\n"), ALL, 0,
	    SMTP_DATA_OK },
	{ "incomplete: CR", L("a\r"), 0, 0, L("a"), ALL, 0, SMTP_DATA_OK },
	{ "incomplete: line", L("a\r\n"), 0, 0, L("a\r\n"), ALL, 0,
	    SMTP_DATA_OK },
	{ "incomplete: nothing", L(""), 0, 0, L(""), 0, 0, SMTP_DATA_OK },
	{ "8-bit passes", L("\x01\xff\xc3\xa9\r\n.\r\n"), 0, 0,
	    L("\x01\xff\xc3\xa9\r\n"), ALL, 1, SMTP_DATA_OK },

	/* NUL: refused (reject) or dropped (normalize), never relayed */
	{ "NUL rejected", L("a\x00" "b\r\n.\r\n"), 0, 0, L("a"), ALL, 1,
	    SMTP_DATA_NUL },
	{ "NUL first byte rejected", L("\x00\r\n.\r\n"), 0, 0, L(""), ALL,
	    1, SMTP_DATA_NUL },
	{ "NUL dot probe rejected", L("a\r\n\x00.\r\nMAIL\r\n.\r\n"), 0,
	    0, L("a\r\n"), ALL, 1, SMTP_DATA_NUL },
	{ "NUL then bare LF: NUL first", L("\x00\n\r\n.\r\n"), 0, 0, L(""),
	    ALL, 1, SMTP_DATA_NUL },
	{ "bare LF then NUL: bare first", L("\n\x00\r\n.\r\n"), 0, 0, L(""),
	    ALL, 1, SMTP_DATA_BARE_NEWLINE },
	{ "normalize: NUL dropped", L("a\x00" "b\r\n.\r\n"), 1, 0,
	    L("ab\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: NUL dot probe is content",
	    L("a\r\n\x00.\r\nMAIL\r\n.\r\n"), 1, 0,
	    L("a\r\n.\r\nMAIL\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: NUL after dot", L("a\r\n.\x00\r\n.\r\n"), 1, 0,
	    L("a\r\n\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: NUL after dot, then dot", L(".\x00.x\r\n.\r\n"), 1, 0,
	    L(".x\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: only NULs", L("\x00\x00\r\n.\r\n"), 1, 0, L("\r\n"),
	    ALL, 1, SMTP_DATA_OK },

	/* reject policy: first error sticky, no output after it, read to the end */
	{ "bare LF rejected", L("a\nb\r\n.\r\n"), 0, 0, L("a"), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "bare CR rejected", L("a\rb\r\n.\r\n"), 0, 0, L("a"), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "bare LF first byte", L("\n.\r\n.\r\n"), 0, 0, L(""), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "CR CR LF", L("a\r\r\n.\r\n"), 0, 0, L("a"), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "bare LF after dot", L("a\r\n.\nb\r\n.\r\n"), 0, 0, L("a\r\n"), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "bare CR after dot", L("a\r\n.\rb\r\n.\r\n"), 0, 0, L("a\r\n"), ALL,
	    1, SMTP_DATA_BARE_NEWLINE },
	{ "dot CR CR LF", L("a\r\n.\r\r\n.\r\n"), 0, 0, L("a\r\n"), ALL, 1,
	    SMTP_DATA_BARE_NEWLINE },
	{ "error then real end then more", L("a\nb\r\n.\r\nRSET\r\n"), 0, 0,
	    L("a"), 8, 1, SMTP_DATA_BARE_NEWLINE },

	/* normalize policy: bare newline -> CRLF; a line starts only after CRLF */
	{ "normalize LF", L("a\nb\r\n.\r\n"), 1, 0, L("a\r\nb\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "normalize CR", L("a\rb\r\n.\r\n"), 1, 0, L("a\r\nb\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "normalize CR CR LF", L("a\r\r\n.\r\n"), 1, 0, L("a\r\n\r\n"), ALL,
	    1, SMTP_DATA_OK },
	{ "normalize LF LF", L("a\n\nb\r\n.\r\n"), 1, 0, L("a\r\n\r\nb\r\n"),
	    ALL, 1, SMTP_DATA_OK },
	{ "normalize: dot after bare LF is content",
	    L("a\n.\nb\r\n.\r\n"), 1, 0, L("a\r\n.\r\nb\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "normalize: no unstuffing after bare LF", L("a\n..b\r\n.\r\n"), 1, 0,
	    L("a\r\n..b\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: line dot LF", L("a\r\n.\nb\r\n.\r\n"), 1, 0,
	    L("a\r\n\r\nb\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: dot CR x", L("a\r\n.\rb\r\n.\r\n"), 1, 0,
	    L("a\r\n\r\nb\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: first byte LF", L("\n.\r\n.\r\n"), 1, 0,
	    L("\r\n.\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "normalize: CR at end of input", L("a\r"), 1, 0, L("a"), ALL, 0,
	    SMTP_DATA_OK },

	/* size: counted on output octets, out never passes max */
	{ "size exact", L("0123456789\r\n.\r\n"), 0, 12,
	    L("0123456789\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "size CRLF over", L("0123456789\r\n.\r\n"), 0, 11,
	    L("0123456789"), ALL, 1, SMTP_DATA_TOO_BIG },
	{ "size text over", L("0123456789\r\n.\r\n"), 0, 5, L("01234"), ALL,
	    1, SMTP_DATA_TOO_BIG },
	{ "size counts unstuffed", L("..\r\n.\r\n"), 0, 3, L(".\r\n"), ALL, 1,
	    SMTP_DATA_OK },
	{ "size 1", L("ab\r\n.\r\n"), 0, 1, L("a"), ALL, 1, SMTP_DATA_TOO_BIG },
	{ "size 0 is no limit", L("0123456789\r\n.\r\n"), 0, 0,
	    L("0123456789\r\n"), ALL, 1, SMTP_DATA_OK },
	{ "size normalize doubles", L("a\nb\r\n.\r\n"), 1, 3, L("a\r\n"), ALL,
	    1, SMTP_DATA_TOO_BIG },
	/* sticky: the first error stays */
	{ "too big then bare", L("0123456789\nx\r\n.\r\n"), 0, 4, L("0123"),
	    ALL, 1, SMTP_DATA_TOO_BIG },
	{ "bare then too big", L("0\n123456789\r\n.\r\n"), 0, 4, L("0"), ALL,
	    1, SMTP_DATA_BARE_NEWLINE },
};

static void
test_cases(void **state)
{
	struct result	 r;
	size_t		 i, want_consumed;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		bad += run_all(cases[i].name, cases[i].in, cases[i].inlen,
		    cases[i].max, cases[i].normalize, &r);
		want_consumed = cases[i].consumed == ALL ? cases[i].inlen :
		    cases[i].consumed;
		CHECK(bad, r.outlen == cases[i].outlen &&
		    memcmp(r.out, cases[i].out, r.outlen) == 0,
		    "%s \"%s\": got out \"%s\", want \"%s\"\n", cases[i].name,
		    vis(cases[i].in, cases[i].inlen), vis(r.out, r.outlen),
		    vis(cases[i].out, cases[i].outlen));
		CHECK(bad, r.consumed == want_consumed, "%s: got consumed %zu, "
		    "want %zu\n", cases[i].name, r.consumed, want_consumed);
		CHECK(bad, r.done == cases[i].done, "%s: got done %d, want %d\n",
		    cases[i].name, r.done, cases[i].done);
		CHECK(bad, r.err == cases[i].err, "%s: got err %d, want %d\n",
		    cases[i].name, r.err, cases[i].err);
		CHECK(bad, r.size == r.outlen, "%s: got size %llu, want %zu\n",
		    cases[i].name, r.size, r.outlen);
		free(r.out);
	}
	assert_int_equal(bad, 0);
}

/* ---- SMTP smuggling ---- */

/*
 * End-of-data look-alikes from the 2023 SMTP smuggling research and the
 * follow-ups (Postfix, Sendmail, Exim, Microsoft, Cisco variants).  None
 * may end the data: only the real CRLF.CRLF after the smuggled part does.
 */
static const struct {
	const char	*v;
	size_t		 len;
} vectors[] = {
	{ L("\n.\n") },
	{ L("\n.\r\n") },
	{ L("\r\n.\n") },
	{ L("\r.\r") },
	{ L("\r.\r\n") },
	{ L("\r\n.\r") },
	{ L("\n.\r") },
	{ L("\r.\n") },
	{ L("\r\n.\r\r\n") },
	{ L("\r\n.\r\x00\n") },
	{ L("\r\n\x00.\r\n") },
	{ L("\r\n.\x00\r\n") },
	{ L("\r\n .\r\n") },
	{ L("\r\n. \r\n") },
	{ L("\r\n..\r\n") },
	{ L("\r\n.\n\r\n") },
	{ L("\n\n.\n\n") },
	{ L("\r\r.\r\r") },
	{ L("\r\n\r.\r\n") },
	{ L("\r\n\n.\r\n") },
};

static const struct {
	const char	*p;
	size_t		 len;
} pre[] = {
	{ L("From: a@b.example\r\nSubject: t\r\n\r\nbody") },
	{ L("") },				/* right after DATA */
	{ L("line\r\n") },			/* at the start of a line */
	{ L("x\r") },				/* after a bare CR */
};

#define SMUGGLED	"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@y.example>\r\n" \
			"DATA\r\nFrom: ceo@y.example\r\n\r\nsmuggled\r\n"

static void
test_smuggling(void **state)
{
	struct result	 r, want, again;
	char		 msg[512], name[128], *stuffed;
	const char	*end;
	size_t		 i, j, n, sn;
	int		 bad = 0, norm;

	(void)state;
	for (i = 0; i < NELEM(vectors); i++) {
		for (j = 0; j < NELEM(pre); j++) {
			/* a real terminator inside the vector is no smuggling */
			n = 0;
			memcpy(msg, pre[j].p, pre[j].len);
			n += pre[j].len;
			memcpy(msg + n, vectors[i].v, vectors[i].len);
			n += vectors[i].len;
			if (memmem(msg, n, "\r\n.\r\n", 5) != NULL ||
			    (n >= 3 && memcmp(msg, ".\r\n", 3) == 0))
				continue;
			memcpy(msg + n, SMUGGLED, sizeof(SMUGGLED) - 1);
			n += sizeof(SMUGGLED) - 1;

			for (norm = 0; norm <= 1; norm++) {
				snprintf(name, sizeof(name), "vector %zu pre %zu",
				    i, j);
				/* without the real terminator: never done */
				bad += run_all(name, msg, n, 0, norm, &r);
				CHECK(bad, !r.done && r.consumed == n, "%s "
				    "\"%s\" normalize %d: data ended early at "
				    "%zu\n", name, vis(msg, n), norm, r.consumed);
				free(r.out);

				/* with it: done exactly there, as the model says */
				memcpy(msg + n, ".\r\n", 3);
				bad += run_all(name, msg, n + 3, 0, norm, &r);
				ref(msg, n + 3, norm, &want);
				bad += same(name, msg, n + 3, &r, &want);
				CHECK(bad, r.done && r.consumed == n + 3, "%s: "
				    "got done %d at %zu, want end %zu\n", name,
				    r.done, r.consumed, n + 3);
				if (!norm) {
					free(r.out);
					free(want.out);
					continue;
				}
				/*
				 * Normalised output is clean CRLF text: no bare
				 * newline, and once stuffed it reads back
				 * unchanged under the reject policy.
				 */
				for (sn = 0; sn < r.outlen; sn++) {
					int lf = r.out[sn] == '\n';
					int cr = r.out[sn] == '\r';

					CHECK(bad, !(cr && (sn + 1 == r.outlen ||
					    r.out[sn + 1] != '\n')) && !(lf &&
					    (sn == 0 || r.out[sn - 1] != '\r')),
					    "%s: bare newline in normalised "
					    "output at %zu\n", name, sn);
				}
				stuff_all(r.out, r.outlen, 0, &again, &end);
				append(&again, end, strlen(end));
				stuffed = again.out;
				sn = again.outlen;
				bad += run_all(name, stuffed, sn, 0, 0, &again);
				CHECK(bad, again.done && again.consumed == sn &&
				    again.err == SMTP_DATA_OK &&
				    again.outlen == r.outlen &&
				    memcmp(again.out, r.out, r.outlen) == 0,
				    "%s: restuffed output \"%s\" does not read "
				    "back\n", name, vis(stuffed, sn));
				free(stuffed);
				free(again.out);
				free(r.out);
				free(want.out);
			}
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- line length ---- */

static void
test_line_length(void **state)
{
	struct result	 r;
	char		 in[4096];
	size_t		 n;
	int		 bad = 0;

	(void)state;
	/* 998 octets + CRLF: fine */
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	bad += run_all("998", in, 1003, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.outlen, 1000);
	assert_true(r.done);
	free(r.out);

	/* 999: too long; nothing written past the limit; read to the end */
	memset(in, 'x', 999);
	memcpy(in + 999, "\r\nmore\r\n.\r\nQUIT\r\n", 17);
	bad += run_all("999", in, 1016, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	assert_int_equal(r.outlen, 998);
	assert_int_equal(r.consumed, 1010);
	assert_true(r.done);
	free(r.out);

	/* the stuffed dot counts: it is on the wire */
	in[0] = '.';
	memset(in + 1, 'x', 998);
	memcpy(in + 999, "\r\n.\r\n", 5);
	bad += run_all("dot+998", in, 1004, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	free(r.out);
	in[0] = in[1] = '.';
	memset(in + 2, 'x', 996);
	memcpy(in + 998, "\r\n.\r\n", 5);
	bad += run_all("..+996", in, 1003, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.outlen, 999);
	free(r.out);

	/* a line "." + 997 at the very start (after DATA) */
	in[0] = '.';
	memset(in + 1, 'y', 997);
	memcpy(in + 998, "\r\n.\r\n", 5);
	bad += run_all("first .+997", in, 1003, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.outlen, 999);
	free(r.out);

	/* many short lines add up to nothing */
	for (n = 0; n + 10 < 3000; n += 10)
		memcpy(in + n, "123456789\n", 10);
	memcpy(in + n, "\r\n.\r\n", 5);
	bad += run_all("short LF lines, normalize", in, n + 5, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);
	bad += run_all("short LF lines, reject", in, n + 5, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_BARE_NEWLINE);
	free(r.out);

	/* a long line after a normalised newline is measured from there */
	memset(in, 'z', 10);
	in[10] = '\n';
	memset(in + 11, 'z', 999);
	memcpy(in + 1010, "\r\n.\r\n", 5);
	bad += run_all("999 after LF", in, 1015, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	free(r.out);
	memcpy(in + 1009, "\r\n.\r\n", 5);
	bad += run_all("998 after LF", in, 1014, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);
	in[10] = '\r';
	bad += run_all("998 after CR", in, 1014, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);
	memset(in, 'z', 2000);
	in[998] = '\n';
	in[1997] = '\n';
	bad += run_all("998 LF 998 LF 2", in, 2005, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);

	/*
	 * fuzz_data: a dot after a normalised bare LF goes out stuffed, so a
	 * line ".x{997}" there is 999 octets on the wire and must be refused;
	 * ".x{996}" (998 on the wire) passes.  After a real CRLF the dot is
	 * stuffed already in the input and counted there.
	 */
	memcpy(in, "a\n.", 3);
	memset(in + 3, 'x', 997);
	memcpy(in + 1000, "\r\n.\r\n", 5);
	bad += run_all("dot after LF, 999 stuffed", in, 1005, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	free(r.out);
	memcpy(in + 999, "\r\n.\r\n", 5);
	bad += run_all("dot after LF, 998 stuffed", in, 1004, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);
	in[1] = '\r';
	memcpy(in + 999, "\r\n.\r\n", 5);
	bad += run_all("dot after CR, 998 stuffed", in, 1004, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);
	in[999] = 'x';
	memcpy(in + 1000, "\r\n.\r\n", 5);
	bad += run_all("dot after CR, 999 stuffed", in, 1005, 0, 1, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	free(r.out);

	/* size and line errors: first one wins */
	memset(in, 'w', 1500);
	memcpy(in + 1500, "\r\n.\r\n", 5);
	bad += run_all("too big first", in, 1505, 100, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_TOO_BIG);
	assert_int_equal(r.outlen, 100);
	free(r.out);
	bad += run_all("line first", in, 1505, 1200, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	assert_int_equal(r.outlen, 998);
	free(r.out);
	assert_int_equal(bad, 0);
}

/* long_lines = pass: lines over 998 noted, up to the hard bound */
static void
test_long_lines(void **state)
{
	struct result	 r;
	char		*in;
	size_t		 n;
	int		 bad = 0;

	(void)state;
	in = malloc(SMTP_DATA_LONG_LINE_MAX + 64);
	assert_non_null(in);

	/* 998: not a long line either way */
	linemax_opt = SMTP_DATA_LONG_LINE_MAX;
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	bad += run_all("998, pass", in, 1003, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.longline, 0);
	free(r.out);

	/* 5000 passes, noted, byte for byte */
	memcpy(in, "Subject: x\r\n\r\n", 14);
	memset(in + 14, 'h', 5000);
	memcpy(in + 5014, "\r\nend\r\n.\r\n", 10);
	bad += run_all("5000, pass", in, 5024, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.longline, 1);
	assert_int_equal(r.outlen, 5021);
	assert_memory_equal(r.out, in, 5021);
	free(r.out);

	/* the hard bound, then one more */
	n = SMTP_DATA_LONG_LINE_MAX;
	memset(in, 'y', n);
	memcpy(in + n, "\r\n.\r\n", 5);
	assert_int_equal(run(in, n + 5, 0, 0, SPLIT_WHOLE, 0, &r), 0);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.longline, 1);
	assert_int_equal(r.outlen, n + 2);
	free(r.out);
	in[n] = 'y';
	memcpy(in + n + 1, "\r\n.\r\nQUIT\r\n", 11);
	assert_int_equal(run(in, n + 12, 0, 0, SPLIT_WHOLE, 0, &r), 0);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	assert_int_equal(r.outlen, n);
	assert_int_equal(r.consumed, n + 6);
	assert_true(r.done);
	free(r.out);

	/* clamped: below 998 means 998 */
	linemax_opt = 10;
	memset(in, 'x', 998);
	memcpy(in + 998, "\r\n.\r\n", 5);
	bad += run_all("998, linemax 10", in, 1003, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	free(r.out);

	/* a small bound: a long line noted, a longer one refused, first error wins */
	linemax_opt = 1500;
	memset(in, 'x', 1200);
	memcpy(in + 1200, "\r\n", 2);
	memset(in + 1202, 'x', 1501);
	memcpy(in + 2703, "\r\n.\r\n", 5);
	bad += run_all("1200 then 1501, linemax 1500", in, 2708, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_LINE_TOO_LONG);
	assert_int_equal(r.outlen, 1202 + 1500);
	free(r.out);
	in[500] = '\n';
	bad += run_all("bare LF first, linemax 1500", in, 2708, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_BARE_NEWLINE);
	assert_int_equal(r.longline, 0);
	free(r.out);

	linemax_opt = 0;
	free(in);
	assert_int_equal(bad, 0);
}

/* a large body fed in pieces: size counts, big max fine */
static void
test_large(void **state)
{
	struct result	 r;
	char		*in;
	size_t		 n = 0, lines = 5000, i;
	int		 bad = 0;

	(void)state;
	in = malloc(lines * 80 + 8);
	assert_non_null(in);
	for (i = 0; i < lines; i++) {
		memset(in + n, i % 7 == 0 ? '.' : 'm', 78);
		memcpy(in + n + 78, "\r\n", 2);
		n += 80;
	}
	memcpy(in + n, ".\r\n", 3);
	n += 3;
	bad += run_all("large", in, n, 0, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_OK);
	assert_int_equal(r.outlen, lines * 80 - (lines + 6) / 7);
	assert_int_equal(r.size, r.outlen);
	free(r.out);
	bad += run_all("large, limit", in, n, 1000, 0, &r);
	assert_int_equal(r.err, SMTP_DATA_TOO_BIG);
	assert_int_equal(r.outlen, 1000);
	assert_true(r.done);
	assert_int_equal(r.consumed, n);
	free(r.out);
	free(in);
	assert_int_equal(bad, 0);
}

/* random inputs against the reference model, under both policies */
static void
test_random_vs_model(void **state)
{
	static const char	 alpha[] = "\r\n.a.\r\n\0";
	struct result		 r, want;
	char			 in[512], name[64];
	unsigned		 seed = 20240104;
	size_t			 n, len, iter;
	int			 bad = 0, norm;

	(void)state;
	for (iter = 0; iter < 3000 && bad == 0; iter++) {
		len = (size_t)rand_r(&seed) % 300;
		for (n = 0; n < len; n++) {
			if (rand_r(&seed) % 4 == 0)
				in[n] = (char)('b' + rand_r(&seed) % 20);
			else	/* the NUL that ends alpha included */
				in[n] = alpha[rand_r(&seed) % sizeof(alpha)];
		}
		memcpy(in + n, "\r\n.\r\n", 5);
		n += 5;
		for (norm = 0; norm <= 1; norm++) {
			snprintf(name, sizeof(name), "random %zu", iter);
			bad += run_all(name, in, n, 0, norm, &r);
			ref(in, n, norm, &want);
			bad += same(name, in, n, &r, &want);
			free(r.out);
			free(want.out);
		}
	}
	assert_int_equal(bad, 0);
}

/*
 * The same against the model, with the shape of real mail: plain runs of
 * up to 70 octets between CRLFs (so the 16-octet scan and the runs that
 * cross line ends are exercised), and now and then a leading dot, an
 * empty line, a bare CR or LF, or a NUL.
 */
static void
test_random_lines_vs_model(void **state)
{
	static const char *const odd[] = {
		".", "..", "\r\n", "\n", "\r", "\0", "\r\n.", "\r\n\r\n"
	};
	struct result		 r, want;
	char			 in[4096], name[64];
	unsigned		 seed = 20261205;
	size_t			 n, k, iter, tok;
	int			 bad = 0, norm;

	(void)state;
	for (iter = 0; iter < 1500 && bad == 0; iter++) {
		n = 0;
		for (tok = 1 + (size_t)rand_r(&seed) % 40; tok > 0; tok--) {
			if (rand_r(&seed) % 8 == 0) {
				const char *o = odd[rand_r(&seed) % 8];
				/* "\0" is the one entry strlen cannot measure */
				size_t ol = o[0] == '\0' ? 1 : strlen(o);

				memcpy(in + n, o, ol);
				n += ol;
				continue;
			}
			for (k = (size_t)rand_r(&seed) % 71; k > 0; k--)
				in[n++] = (char)('a' + rand_r(&seed) % 26);
			in[n++] = '\r';
			in[n++] = '\n';
		}
		memcpy(in + n, "\r\n.\r\n", 5);
		n += 5;
		for (norm = 0; norm <= 1; norm++) {
			snprintf(name, sizeof(name), "lines %zu", iter);
			bad += run_all(name, in, n, 0, norm, &r);
			ref(in, n, norm, &want);
			bad += same(name, in, n, &r, &want);
			free(r.out);
			free(want.out);
		}
	}
	assert_int_equal(bad, 0);
}

/* ---- outbound: smtp_stuff ---- */

/* stuff in pieces of at most chunk octets (0: whole), out exact-size */
static void
stuff_all(const char *in, size_t inlen, size_t chunk, struct result *r,
    const char **end)
{
	struct smtp_stuff		 st;
	size_t				 pos = 0, c, n, olen, omax;
	char				*buf;

	memset(r, 0, sizeof(*r));
	append(r, "", 0);
	smtp_stuff_init(&st);
	while (pos < inlen) {
		c = chunk == 0 ? inlen - pos : chunk;
		if (c > inlen - pos)
			c = inlen - pos;
		omax = chunk == 0 ? 2 * c : 2;
		buf = malloc(omax);
		assert_non_null(buf);
		n = smtp_stuff(&st, in + pos, c, buf, omax, &olen);
		assert_true(n > 0 && n <= c && olen <= omax);
		append(r, buf, olen);
		free(buf);
		pos += n;
	}
	r->consumed = pos;
	*end = smtp_stuff_end(&st);
}

static void
test_stuff(void **state)
{
	static const struct {
		const char	*in;
		size_t		 inlen;
		const char	*out;
		size_t		 outlen;
		const char	*end;
	} t[] = {
		{ L(""), L(""), ".\r\n" },
		{ L("a\r\n"), L("a\r\n"), ".\r\n" },
		{ L("a"), L("a"), "\r\n.\r\n" },
		{ L(".a\r\n"), L("..a\r\n"), ".\r\n" },
		{ L("."), L(".."), "\r\n.\r\n" },
		{ L(".\r\n"), L("..\r\n"), ".\r\n" },
		{ L("a\r\n.\r\n"), L("a\r\n..\r\n"), ".\r\n" },
		{ L("a\r\n..\r\nb.c\r\n"), L("a\r\n...\r\nb.c\r\n"), ".\r\n" },
		{ L("a.\r\n"), L("a.\r\n"), ".\r\n" },
		{ L("\r\n\r\n.x"), L("\r\n\r\n..x"), "\r\n.\r\n" },
		/* a body ending in CR, or in a bare LF, is not at a line end */
		{ L("a\r"), L("a\r"), "\r\n.\r\n" },
		{ L("a\n"), L("a\n"), "\r\n.\r\n" },
		{ L("a\n\r\n"), L("a\n\r\n"), ".\r\n" },
		/* a dot after a bare newline is stuffed too (defence in depth) */
		{ L("a\n.\r\n"), L("a\n..\r\n"), ".\r\n" },
		{ L("a\r.\r\n"), L("a\r..\r\n"), ".\r\n" },
		{ L("a\r\r\n.\r\n"), L("a\r\r\n..\r\n"), ".\r\n" },
	};
	struct result	 r;
	const char	*end;
	size_t		 i, chunk;
	int		 bad = 0;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		for (chunk = 0; chunk <= 3; chunk++) {
			stuff_all(t[i].in, t[i].inlen, chunk, &r, &end);
			CHECK(bad, r.outlen == t[i].outlen &&
			    memcmp(r.out, t[i].out, r.outlen) == 0,
			    "stuff %zu \"%s\" chunk %zu: got \"%s\", want "
			    "\"%s\"\n", i, vis(t[i].in, t[i].inlen), chunk,
			    vis(r.out, r.outlen), vis(t[i].out, t[i].outlen));
			CHECK(bad, strcmp(end, t[i].end) == 0, "stuff %zu "
			    "\"%s\" chunk %zu: got end \"%s\", want \"%s\"\n",
			    i, vis(t[i].in, t[i].inlen), chunk,
			    vis(end, strlen(end)), vis(t[i].end,
			    strlen(t[i].end)));
			free(r.out);
		}
	}
	assert_int_equal(bad, 0);
}

/* smtp_stuff stops when out is full and resumes in the right state */
static void
test_stuff_full(void **state)
{
	struct smtp_stuff	st;
	char			out[8];
	size_t			olen;

	(void)state;
	smtp_stuff_init(&st);
	assert_int_equal(st.bol, 1);
	/* the doubled dot needs two octets: none consumed with one */
	assert_int_equal(smtp_stuff(&st, ".x", 2, out, 1, &olen), 0);
	assert_int_equal(olen, 0);
	assert_int_equal(smtp_stuff(&st, ".x", 2, out, 2, &olen), 1);
	assert_int_equal(olen, 2);
	assert_memory_equal(out, "..", 2);
	assert_int_equal(smtp_stuff(&st, "x", 1, out, 0, &olen), 0);
	assert_int_equal(smtp_stuff(&st, "x\r", 2, out, 1, &olen), 1);
	assert_int_equal(smtp_stuff(&st, "\r\n.", 3, out, 2, &olen), 2);
	assert_memory_equal(out, "\r\n", 2);
	assert_string_equal(smtp_stuff_end(&st), ".\r\n");
	assert_int_equal(smtp_stuff(&st, ".", 1, out, sizeof(out), &olen), 1);
	assert_int_equal(olen, 2);
}

/*
 * Round trip: stuff(unstuff(x)) == x for a canonically stuffed x, and
 * unstuff(stuff(b)) == b (plus the CRLF a body without one gets).
 */
static void
test_round_trip(void **state)
{
	static const struct {
		const char	*x;
		size_t		 len;
	} wire[] = {
		{ L(".\r\n") },
		{ L("\r\n.\r\n") },
		{ L("..a\r\nb\r\n.\r\n") },
		{ L("...\r\n.\r\n") },
		{ L("a\r\n..\r\n\r\n.\r\n") },
		{ L("Subject: x\r\n\r\n..\r\n...\r\n.. .\r\nend\r\n.\r\n") },
	};
	static const char	 alpha[] = "..a. ";
	struct result		 body, x, back;
	const char		*end;
	char			 b[600];
	unsigned		 seed = 42;
	size_t			 i, n, want;
	int			 bad = 0, chunk;

	(void)state;
	for (i = 0; i < NELEM(wire); i++) {
		bad += run_all("round trip", wire[i].x, wire[i].len, 0, 0, &body);
		assert_true(body.done && body.err == SMTP_DATA_OK);
		stuff_all(body.out, body.outlen, 0, &x, &end);
		append(&x, end, strlen(end));
		CHECK(bad, x.outlen == wire[i].len &&
		    memcmp(x.out, wire[i].x, x.outlen) == 0, "round trip %zu: "
		    "got \"%s\", want \"%s\"\n", i, vis(x.out, x.outlen),
		    vis(wire[i].x, wire[i].len));
		free(body.out);
		free(x.out);
	}

	for (i = 0; i < 2000 && bad == 0; i++) {
		/* random CRLF-only bodies, heavy on dots, maybe no final CRLF */
		n = 0;
		while (n < 400 && rand_r(&seed) % 40 != 0) {
			if (rand_r(&seed) % 5 == 0) {
				memcpy(b + n, "\r\n", 2);
				n += 2;
			} else
				b[n++] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		}
		chunk = rand_r(&seed) % 4;
		stuff_all(b, n, (size_t)chunk, &x, &end);
		append(&x, end, strlen(end));
		bad += run_all("random round trip", x.out, x.outlen, 0, 0, &back);
		want = n;
		if (n > 0 && (n < 2 || memcmp(b + n - 2, "\r\n", 2) != 0))
			want += 2;
		CHECK(bad, back.done && back.consumed == x.outlen &&
		    back.err == SMTP_DATA_OK, "random round trip %zu: \"%s\" "
		    "did not end cleanly\n", i, vis(x.out, x.outlen));
		CHECK(bad, back.outlen == want && memcmp(back.out, b, n) == 0 &&
		    (want == n || memcmp(back.out + n, "\r\n", 2) == 0),
		    "random round trip %zu: body \"%s\" came back as \"%s\"\n",
		    i, vis(b, n), vis(back.out, back.outlen));
		/* and stuffing what came back gives the same wire bytes */
		if (want == n) {
			struct result	x2;

			stuff_all(back.out, back.outlen, 0, &x2, &end);
			append(&x2, end, strlen(end));
			CHECK(bad, x2.outlen == x.outlen &&
			    memcmp(x2.out, x.out, x.outlen) == 0,
			    "random round trip %zu: restuffed differs\n", i);
			free(x2.out);
		}
		free(x.out);
		free(back.out);
	}
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_smuggling),
		cmocka_unit_test(test_line_length),
		cmocka_unit_test(test_long_lines),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_random_vs_model),
		cmocka_unit_test(test_random_lines_vs_model),
		cmocka_unit_test(test_stuff),
		cmocka_unit_test(test_stuff_full),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
