/*
 * fuzz_mime_qp - quoted-printable re-encoding (long_lines = encode): the
 * header block check and rewrite, and the body encoder.
 *
 * The input is a message.  Its header block (mime_header_end) goes to
 * mime_qp_headers(); the rest is encoded once whole and once in chunks
 * with the smallest output room allowed, sizes from a generator seeded by
 * the first input octets.
 *
 * Invariants: a rewritten header block stays within hlen +
 * MIME_QP_HDR_EXTRA, ends in its empty line, holds our
 * Content-Transfer-Encoding field, and is refused by a second
 * mime_qp_headers() as already encoded (never encoded twice).  The body
 * encoding does not depend on the split; every output line is at most 76
 * octets, holds only printable ASCII, space and tab, never ends in white
 * space, and every "=" starts a soft break or an upper-case hex escape;
 * decoded, it is the input body, octet for octet.
 *
 * eight_bit = convert: the choice is "none" exactly when the body has no
 * octet over 127; base64 in chunks with tight room writes CRLF-ended
 * lines of at most 76 octets that decode to the body.
 *
 * mime_walk over the input's CRLF lines (the structure relay_qp rewrites
 * multipart messages by, in two passes): a second walk classifies every
 * line the same; entities are numbered in order; an entity's header lines
 * come before its one header end, its body lines after; at most
 * MIME_WALK_DEPTH boundaries are open.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtp/mime_8bit.h"
#include "smtp/mime_qp.h"
#include "util/base64.h"
#include "smtp/mime_walk.h"
#include "fuzz.h"

static void	*xmalloc(size_t);
static char	*encode(const char *, size_t, uint32_t *, size_t *);
static void	 check_decode(const char *, size_t, const char *, size_t);
static void	 check_headers(const char *, size_t);
static void	 check_walk(const char *, size_t);
static void	 check_8bit(const char *, size_t, uint32_t *);

static void *
xmalloc(size_t n)
{
	void	*p;

	if ((p = malloc(n > 0 ? n : 1)) == NULL)
		abort();
	return p;
}

/* rng == NULL: one call with ample room; else chunks, tight room */
static char *
encode(const char *in, size_t len, uint32_t *rng, size_t *outlen)
{
	struct mime_qp	 q;
	char		*out, *scratch, *buf;
	size_t		 cap = 24 * len + MIME_QP_OUT_ROOM, n = 0, pos = 0;
	size_t		 chunk, room, used, w, scap = 4 * MIME_QP_OUT_ROOM;

	out = xmalloc(cap);
	scratch = xmalloc(cap > scap ? cap : scap);
	mime_qp_init(&q);
	while (pos < len) {
		if (rng == NULL) {
			chunk = len - pos;
			room = cap;
		} else {
			chunk = 1 + rng_next(rng) % 64;
			if (chunk > len - pos)
				chunk = len - pos;
			room = MIME_QP_OUT_ROOM + rng_next(rng) % (scap -
			    MIME_QP_OUT_ROOM);
		}
		/* the buffer ends where its room ends: ASan sees an overrun */
		buf = scratch + ((cap > scap ? cap : scap) - room);
		used = mime_qp_body(&q, in + pos, chunk, buf, room, &w);
		FUZZ_CHECK(used > 0 && used <= chunk && w <= room,
		    "consumed %zu of %zu, wrote %zu into %zu", used, chunk, w,
		    room);
		FUZZ_CHECK(n + w <= cap, "output over 24 per octet");
		memcpy(out + n, buf, w);
		n += w;
		pos += used;
	}
	buf = scratch + ((cap > scap ? cap : scap) - MIME_QP_OUT_ROOM);
	w = mime_qp_body_end(&q, buf, MIME_QP_OUT_ROOM);
	FUZZ_CHECK(w <= MIME_QP_OUT_ROOM && n + w <= cap, "end wrote %zu", w);
	memcpy(out + n, buf, w);
	n += w;
	free(scratch);
	*outlen = n;
	return out;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
check_decode(const char *p, size_t len, const char *want, size_t wlen)
{
	char	*out = xmalloc(len + 1);
	size_t	 i, n = 0, col = 0;
	int	 h, l;

	for (i = 0; i < len; i++) {
		unsigned char	 c = (unsigned char)p[i];

		if (c == '\r') {
			FUZZ_CHECK(i + 1 < len && p[i + 1] == '\n',
			    "bare CR at %zu", i);
			FUZZ_CHECK(i == 0 || (p[i - 1] != ' ' &&
			    p[i - 1] != '\t'), "white space before CRLF at %zu",
			    i);
			out[n++] = '\r';
			out[n++] = '\n';
			i++;
			col = 0;
			continue;
		}
		FUZZ_CHECK(c != '\n', "bare LF at %zu", i);
		if (c == '=' && i + 2 < len && p[i + 1] == '\r' &&
		    p[i + 2] == '\n') {
			FUZZ_CHECK(col + 1 <= MIME_QP_LINE, "line over 76");
			i += 2;
			col = 0;
			continue;
		}
		if (c == '=') {
			FUZZ_CHECK(i + 2 < len, "cut escape at %zu", i);
			h = hexval(p[i + 1]);
			l = hexval(p[i + 2]);
			FUZZ_CHECK(h >= 0 && l >= 0, "bad escape at %zu", i);
			out[n++] = (char)(h * 16 + l);
			i += 2;
			col += 3;
		} else {
			FUZZ_CHECK((c >= 33 && c <= 126) || c == ' ' ||
			    c == '\t', "octet 0x%02x left as it is", c);
			out[n++] = (char)c;
			col++;
		}
		FUZZ_CHECK(col <= MIME_QP_LINE, "line over 76 at %zu", i);
	}
	FUZZ_CHECK(len == 0 || (p[len - 1] != ' ' && p[len - 1] != '\t'),
	    "white space at the end");
	FUZZ_CHECK(n == wlen && memcmp(out, want, n) == 0,
	    "decodes to %zu octets, not the %zu sent", n, wlen);
	free(out);
}

static void
check_headers(const char *hdr, size_t hlen)
{
	char		*out, *again, *p;
	const char	*why;
	size_t		 n, n2, cte = 0;

	out = xmalloc(hlen + MIME_QP_HDR_EXTRA);
	why = mime_qp_headers(hdr, hlen, MIME_HDR_TOP, out,
	    hlen + MIME_QP_HDR_EXTRA, &n);
	if (why != NULL) {
		free(out);
		return;
	}
	FUZZ_CHECK(n <= hlen + MIME_QP_HDR_EXTRA, "header block grew to %zu",
	    n);
	FUZZ_CHECK(mime_header_end(out, n) == n, "rewritten block does not "
	    "end at its empty line");
	for (p = out; (p = memmem(p, (size_t)(out + n - p),
	    "Content-Transfer-Encoding:", 26)) != NULL; p++)
		cte++;
	FUZZ_CHECK(cte >= 1, "no Content-Transfer-Encoding added");
	/* our own output reads as encoded: never encoded twice */
	again = xmalloc(n + MIME_QP_HDR_EXTRA);
	why = mime_qp_headers(out, n, MIME_HDR_TOP, again,
	    n + MIME_QP_HDR_EXTRA, &n2);
	FUZZ_CHECK(why != NULL && strcmp(why, "body already encoded") == 0,
	    "second rewrite: %s", why != NULL ? why : "accepted");
	free(again);
	free(out);
}

#define WALK_PARTS	4096

static void
check_walk(const char *in, size_t len)
{
	struct mime_walk	 a, b;
	static unsigned char	 ended[WALK_PARTS];
	const char		*p, *e;
	unsigned		 pa, pb;
	enum mime_line		 ca, cb;

	memset(ended, 0, sizeof(ended));
	mime_walk_init(&a);
	mime_walk_init(&b);
	for (p = in; p < in + len; p = e + 2) {
		if ((e = memmem(p, (size_t)(in + len - p), "\r\n", 2)) == NULL)
			e = in + len;
		ca = mime_walk_line(&a, p, (size_t)(e - p), &pa);
		cb = mime_walk_line(&b, p, (size_t)(e - p), &pb);
		FUZZ_CHECK(ca == cb && pa == pb, "second walk differs: %d/%u "
		    "vs %d/%u", (int)ca, pa, (int)cb, pb);
		FUZZ_CHECK(pa < a.nparts && a.depth >= 0 &&
		    a.depth <= MIME_WALK_DEPTH, "part %u of %u, depth %d", pa,
		    a.nparts, a.depth);
		if (pa < WALK_PARTS) {
			if (ca == ML_HEADER || ca == ML_HEADER_END)
				FUZZ_CHECK(!ended[pa], "header line of part %u "
				    "after its end", pa);
			if (ca == ML_HEADER_END)
				ended[pa] = 1;
			if (ca == ML_BODY)
				FUZZ_CHECK(ended[pa], "body of part %u before "
				    "its header end", pa);
		}
		if (e == in + len)
			break;
	}
}

/* the choice, and base64 in chunks with tight room, decoded back */
static void
check_8bit(const char *in, size_t len, uint32_t *rng)
{
	struct mime_stats	 st;
	struct mime_b64		 b;
	char			*out, *flat, *dec, room[MIME_B64_OUT_ROOM + 64];
	size_t			 cap = 2 * len + 16, n = 0, fn = 0, pos = 0;
	size_t			 chunk, r, used, w, i, col = 0;
	ssize_t			 d;

	memset(&st, 0, sizeof(st));
	mime_stats_add(&st, in, len);
	FUZZ_CHECK((mime_8bit_choose(&st) == MIME_CTE_NONE) ==
	    (st.high == 0), "choice and 8-bit octets disagree");
	out = xmalloc(cap);
	mime_b64_init(&b);
	while (pos < len) {
		chunk = 1 + rng_next(rng) % 64;
		if (chunk > len - pos)
			chunk = len - pos;
		r = MIME_B64_OUT_ROOM + rng_next(rng) % 64;
		used = mime_b64_body(&b, in + pos, chunk, room, r, &w);
		FUZZ_CHECK(used > 0 && w <= r && n + w <= cap, "b64 step");
		memcpy(out + n, room, w);
		n += w;
		pos += used;
	}
	w = mime_b64_body_end(&b, room, MIME_B64_OUT_ROOM);
	FUZZ_CHECK(n + w <= cap, "b64 end");
	memcpy(out + n, room, w);
	n += w;
	flat = xmalloc(n);
	for (i = 0; i < n; i++) {
		if (out[i] == '\r') {
			FUZZ_CHECK(i + 1 < n && out[i + 1] == '\n' && col > 0 &&
			    col <= MIME_B64_LINE, "b64 line of %zu", col);
			i++;
			col = 0;
			continue;
		}
		flat[fn++] = out[i];
		col++;
	}
	FUZZ_CHECK(col == 0, "b64 output does not end in CRLF");
	dec = xmalloc(len);
	d = base64_decode(flat, fn, dec, len);
	FUZZ_CHECK(d == (ssize_t)len && memcmp(dec, in, len) == 0,
	    "b64 decodes to something else");
	free(dec);
	free(flat);
	free(out);
}

/* LLVMFuzzerTestOneInput - the input as a message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*in = (const char *)data;
	char		*a, *b;
	size_t		 hlen, alen, blen, i;
	uint32_t	 rng = 2166136261u;

	for (i = 0; i < size && i < 8; i++)
		rng = (rng ^ data[i]) * 16777619u;
	check_walk(in, size);
	hlen = mime_header_end(in, size);
	if (hlen > 0)
		check_headers(in, hlen);
	a = encode(in + hlen, size - hlen, NULL, &alen);
	b = encode(in + hlen, size - hlen, &rng, &blen);
	FUZZ_CHECK(alen == blen && memcmp(a, b, alen) == 0,
	    "split changed the encoding: %zu vs %zu octets", alen, blen);
	check_decode(a, alen, in + hlen, size - hlen);
	check_8bit(in + hlen, size - hlen, &rng);
	free(a);
	free(b);
	return 0;
}
