/*
 * fuzz_data - the DATA stream machine (smtp_data_feed) and dot-stuffing
 * (smtp_stuff), under both bare-newline policies.
 *
 * The whole input is the client's stream after "DATA\r\n".  It is fed
 * once in one piece with room to spare (the reference), and then again in
 * chunks whose sizes, and output buffers of 3 octets up, come from a
 * generator seeded by the first input octets; the second chunked run also
 * has a size limit.  Each output buffer passed ends exactly where its
 * allocation ends, so a write past outmax is an ASan report.
 *
 * Invariants: the end is reported exactly at the first CRLF "." CRLF of
 * CRLF + input (memmem), and then nothing more is consumed; the split
 * does not matter; the output is CRLF-clean and free of NUL, its lines fit 998 octets
 * when there is no error, it never exceeds max, and with a size error it
 * is a prefix of the unlimited output; nothing is written once an error
 * is set.  Round trip: when the message was accepted, its output
 * dot-stuffed with smtp_stuff() and ended with smtp_stuff_end() reads back
 * through a fresh machine as the same output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/smtp_data.h"
#include "fuzz.h"

#define DATA_LINE_MAX	998
#define STUFF_OUT_MAX	65	/* smtp_stuff output buffers: 2..65 octets */

/* what one run over the whole input produced */
struct run {
	char			*out;
	size_t			 outlen;
	size_t			 consumed;
	int			 done;
	enum smtp_data_err	 err;
	unsigned long long	 size;
	int			 longline;
};

/* long_lines: 0 is the RFC's 998, else smtp_data_linemax() after init */
static size_t	 linemax;

static void	*xmalloc(size_t);
static void	run_data(const char *, size_t, int, unsigned long long,
		    uint32_t *, struct run *);
static void	check_output(const struct run *);
static void	check_end(const char *, size_t, const struct run *);
static void	check_same(const struct run *, const struct run *,
		    const char *);
static void	check_roundtrip(const struct run *, uint32_t *);

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	return p;
}

/*
 * Feed in[0..len) to a fresh machine.  rng == NULL: one call with
 * outmax = 2 * len + 2.  Else chunks of 1..64 octets (sometimes the rest)
 * with an outmax between 3 and the documented 2 * chunk + 2.
 */
static void
run_data(const char *in, size_t len, int normalize, unsigned long long max,
    uint32_t *rng, struct run *r)
{
	struct smtp_data	 d;
	char			*scratch, *buf;
	size_t			 off = 0, chunk, outmax, n, outlen, cap, scap;
	int			 done = 0, errbefore;

	memset(r, 0, sizeof(*r));
	cap = 2 * len + 2;
	r->out = xmalloc(cap);
	/* outmax is at most 2 * len + 4 (3 + 0..2 * chunk + 1) */
	scap = 2 * len + 4;
	scratch = xmalloc(scap);
	smtp_data_init(&d, max, normalize);
	if (linemax != 0)
		smtp_data_linemax(&d, linemax);
	do {
		if (rng == NULL) {
			chunk = len;
			outmax = 2 * len + 2;
		} else {
			chunk = rng_next(rng) % 8 == 0 ? len - off :
			    1 + rng_next(rng) % 64;
			if (chunk > len - off)
				chunk = len - off;
			outmax = 3 + rng_next(rng) % (2 * chunk + 2);
		}
		FUZZ_CHECK(outmax <= scap, "outmax %zu", outmax);
		buf = scratch + (scap - outmax);
		errbefore = d.err != SMTP_DATA_OK;
		n = smtp_data_feed(&d, in + off, chunk, buf, outmax, &outlen,
		    &done);
		FUZZ_CHECK(n <= chunk, "consumed %zu of %zu", n, chunk);
		FUZZ_CHECK(outlen <= outmax, "wrote %zu into %zu", outlen,
		    outmax);
		FUZZ_CHECK(!errbefore || outlen == 0,
		    "wrote %zu octets after error %d", outlen, (int)d.err);
		/* room for 3 octets is enough to move on */
		FUZZ_CHECK(n > 0 || done || chunk == 0, "no progress");
		FUZZ_CHECK(r->outlen + outlen <= cap, "output beyond 2n+2");
		memcpy(r->out + r->outlen, buf, outlen);
		r->outlen += outlen;
		off += n;
		if (r->err == SMTP_DATA_OK)
			r->err = d.err;
		FUZZ_CHECK(d.err == r->err, "error not sticky: %d then %d",
		    (int)r->err, (int)d.err);
	} while (!done && off < len);
	free(scratch);
	r->consumed = off;
	r->done = done;
	r->size = d.size;
	r->longline = d.longline;
	FUZZ_CHECK(r->size == r->outlen, "size %llu for %zu octets", r->size,
	    r->outlen);
	if (max != 0)
		FUZZ_CHECK(r->outlen <= max, "%zu octets over max %llu",
		    r->outlen, max);
	/* once done, the machine takes nothing more */
	if (done) {
		char	spare[8];

		n = smtp_data_feed(&d, ".\r\n", 3, spare, sizeof(spare),
		    &outlen, &done);
		FUZZ_CHECK(n == 0 && outlen == 0 && done, "fed after the end");
	}
	check_output(r);
}

/* CRLF-clean output; lines within the limit unless there was an error */
static void
check_output(const struct run *r)
{
	size_t	i, line = 0, longest = 0, lmax;

	for (i = 0; i < r->outlen; i++) {
		if (r->out[i] == '\r') {
			FUZZ_CHECK(i + 1 < r->outlen && r->out[i + 1] == '\n',
			    "bare CR at %zu of the output", i);
			continue;
		}
		if (r->out[i] == '\n') {
			FUZZ_CHECK(i > 0 && r->out[i - 1] == '\r',
			    "bare LF at %zu of the output", i);
			line = 0;
			continue;
		}
		/* a NUL is refused or dropped, never passed on */
		FUZZ_CHECK(r->out[i] != '\0', "NUL at %zu of the output", i);
		line++;
		if (line > longest)
			longest = line;
		lmax = linemax != 0 ? linemax : DATA_LINE_MAX;
		FUZZ_CHECK(r->err != SMTP_DATA_OK || line <= lmax,
		    "output line of %zu octets", line);
	}
	/* a line over 998 is noted (a stuffed dot may count one more) */
	if (r->err == SMTP_DATA_OK)
		FUZZ_CHECK(longest <= DATA_LINE_MAX || r->longline,
		    "line of %zu octets not noted", longest);
	if (r->done && r->err == SMTP_DATA_OK)
		FUZZ_CHECK(r->outlen == 0 || (r->outlen >= 2 &&
		    memcmp(r->out + r->outlen - 2, "\r\n", 2) == 0),
		    "accepted message without a final CRLF");
}

/* the end of data is the first CRLF.CRLF of CRLF + input, and only that */
static void
check_end(const char *in, size_t len, const struct run *r)
{
	char	*pre;
	char	*hit;

	pre = xmalloc(len + 2);
	memcpy(pre, "\r\n", 2);
	memcpy(pre + 2, in, len);
	hit = memmem(pre, len + 2, "\r\n.\r\n", 5);
	if (hit == NULL)
		FUZZ_CHECK(!r->done && r->consumed == len,
		    "done %d after %zu of %zu octets without CRLF.CRLF",
		    r->done, r->consumed, len);
	else
		FUZZ_CHECK(r->done &&
		    r->consumed == (size_t)(hit - pre) + 5 - 2,
		    "done %d after %zu octets, CRLF.CRLF ends at %zu",
		    r->done, r->consumed, (size_t)(hit - pre) + 3);
	free(pre);
}

static void
check_same(const struct run *a, const struct run *b, const char *what)
{
	FUZZ_CHECK(a->done == b->done && a->consumed == b->consumed &&
	    a->err == b->err && a->outlen == b->outlen &&
	    memcmp(a->out, b->out, a->outlen) == 0,
	    "%s: done %d/%d consumed %zu/%zu err %d/%d outlen %zu/%zu", what,
	    a->done, b->done, a->consumed, b->consumed, (int)a->err,
	    (int)b->err, a->outlen, b->outlen);
}

/* stuff the accepted output as the relay sends it, and read it back */
static void
check_roundtrip(const struct run *r, uint32_t *rng)
{
	struct smtp_stuff	 st;
	struct run		 back;
	const char		*end;
	char			*wire, *scratch, *buf;
	size_t			 cap, wl = 0, off = 0, n, outlen, outmax;

	/* each octet at most doubled, plus "\r\n.\r\n" */
	cap = 2 * r->outlen + 5;
	wire = xmalloc(cap);
	scratch = xmalloc(STUFF_OUT_MAX);
	smtp_stuff_init(&st);
	while (off < r->outlen) {
		outmax = 2 + rng_next(rng) % (STUFF_OUT_MAX - 1);
		buf = scratch + (STUFF_OUT_MAX - outmax);
		n = smtp_stuff(&st, r->out + off, r->outlen - off, buf, outmax,
		    &outlen);
		FUZZ_CHECK(outlen <= outmax && n > 0 && n <= outlen,
		    "smtp_stuff consumed %zu, wrote %zu into %zu", n, outlen,
		    outmax);
		memcpy(wire + wl, buf, outlen);
		wl += outlen;
		off += n;
	}
	free(scratch);
	end = smtp_stuff_end(&st);
	FUZZ_CHECK(strcmp(end, ".\r\n") == 0, "terminator \"%s\" after a "
	    "message ending in CRLF", end);
	memcpy(wire + wl, end, strlen(end));
	wl += strlen(end);

	/* the stuffed stream is pure CRLF: the strict policy must take it */
	run_data(wire, wl, 0, 0, rng, &back);
	FUZZ_CHECK(back.done && back.consumed == wl &&
	    back.err == SMTP_DATA_OK && back.outlen == r->outlen &&
	    memcmp(back.out, r->out, r->outlen) == 0,
	    "round trip: done %d consumed %zu/%zu err %d outlen %zu/%zu",
	    back.done, back.consumed, wl, (int)back.err, back.outlen,
	    r->outlen);
	free(back.out);
	free(wire);
}

/* LLVMFuzzerTestOneInput - the input as a DATA stream, both policies */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char		*in = (const char *)data;
	struct run		 ref, split, lim;
	unsigned long long	 max;
	uint32_t		 seed = 2166136261u, rng;
	size_t			 i;
	int			 normalize;

	/* FNV-1a of the first octets: the split pattern and the limit */
	for (i = 0; i < size && i < 8; i++)
		seed = (seed ^ data[i]) * 16777619u;

	for (normalize = 0; normalize <= 1; normalize++) {
		rng = seed + (uint32_t)normalize;
		run_data(in, size, normalize, 0, NULL, &ref);
		check_end(in, size, &ref);

		run_data(in, size, normalize, 0, &rng, &split);
		check_same(&ref, &split, "chunked");

		/* a limit somewhere around the message size */
		max = 1 + rng_next(&rng) % (ref.outlen + 2);
		run_data(in, size, normalize, max, &rng, &lim);
		FUZZ_CHECK(lim.done == ref.done && lim.consumed == ref.consumed,
		    "limit changed the end: done %d/%d consumed %zu/%zu",
		    lim.done, ref.done, lim.consumed, ref.consumed);
		FUZZ_CHECK(lim.outlen <= ref.outlen &&
		    memcmp(lim.out, ref.out, lim.outlen) == 0,
		    "limited output is not a prefix");
		if (ref.outlen <= max)
			check_same(&ref, &lim, "under the limit");
		else
			FUZZ_CHECK(lim.err != SMTP_DATA_OK,
			    "%zu octets passed max %llu", ref.outlen, max);

		if (ref.done && ref.err == SMTP_DATA_OK)
			check_roundtrip(&ref, &rng);
		free(ref.out);
		free(split.out);
		free(lim.out);

		/*
		 * long_lines = pass, with a bound low enough for the fuzzer
		 * to reach: same end, lines up to the bound, noted.
		 */
		linemax = 1000 + rng_next(&rng) % 1000;
		run_data(in, size, normalize, 0, NULL, &ref);
		check_end(in, size, &ref);
		run_data(in, size, normalize, 0, &rng, &split);
		check_same(&ref, &split, "chunked, long lines");
		linemax = 0;
		if (ref.done && ref.err == SMTP_DATA_OK && !ref.longline)
			check_roundtrip(&ref, &rng);
		free(ref.out);
		free(split.out);
	}
	return 0;
}
