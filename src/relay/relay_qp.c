/*
 * relay_qp - re-encode a spooled message as quoted-printable
 * (long_lines = encode), or its 8-bit bodies as quoted-printable or
 * base64 (eight_bit = convert); see relay_qp.h.
 *
 * The whole message is spooled before the decision, because the header
 * block comes first and the long line may be anywhere after it.  The
 * header block is read into memory (bounded like DKIM's, 256 KiB), judged
 * and rewritten by mime_qp_headers(), and the body is streamed through
 * the encoder into a new spool.  DKIM sees the new message only, so the
 * signature covers what is sent.
 *
 * The two jobs differ only in which leaf entities are re-encoded and
 * how: a body with a line over 998 octets as quoted-printable; a body
 * with an 8-bit octet as mime_8bit_choose() says, and then in spite of a
 * DKIM-Signature of the sender's (an upstream without 8BITMIME must not
 * get 8-bit octets, RFC 6152 3: a broken signature is the lesser harm).
 */
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "relay/relay_qp.h"
#include "relay/spool.h"
#include "smtp/mime_8bit.h"
#include "smtp/mime_qp.h"
#include "smtp/mime_walk.h"
#include "smtp/smtp_data.h"

#define QP_HDR_MAX	(256 * 1024)	/* as dkim_msg's header bound */
#define QP_CHUNK	8192
#define QP_PARTS	256		/* parts of a multipart re-encoded at most */
#define QP_PART_HDR_MAX	(64 * 1024)	/* one part's header block */
/* a spooled line: smtp_data's hard bound, CRLF, and room to read on */
#define QP_LINE_BUF	(SMTP_DATA_LONG_LINE_MAX + QP_CHUNK)

/* the spool read back line by line (pass over a multipart message) */
struct qp_lines {
	struct spool	*sp;
	char		*buf;
	size_t		 off, len;
	int		 eof;
};

enum qp_mode {
	QM_LONG,	/* long_lines = encode */
	QM_8BIT		/* eight_bit = convert */
};

/* what the first pass over a multipart message found, per part */
struct qp_scan {
	enum qp_mode	 mode;
	unsigned char	 ok[QP_PARTS];		/* its header block allows it */
	unsigned char	 longl[QP_PARTS];	/* a body line over 998 */
	struct mime_stats st[QP_PARTS];		/* its body's octets */
	unsigned char	 enc[QP_PARTS];		/* enum mime_cte: re-encode */
	char		*hbuf, *tmp;		/* a part's header block */
	size_t		 hlen;
	int		 hover;			/* it did not fit */
};

struct qp_out {
	struct spool		*spool;
	struct dkim_msg		*dmsg;
	int			*dmsg_full;
};

/* one body's encoder: quoted-printable or base64 */
struct qp_enc {
	enum mime_cte		 cte;
	struct mime_qp		 q;
	struct mime_b64		 b;
};

static int	out_write(struct qp_out *, const char *, size_t, int);
static void	enc_init(struct qp_enc *, enum mime_cte);
static int	enc_write(struct qp_enc *, const char *, size_t,
		    struct qp_out *);
static int	enc_end(struct qp_enc *, struct qp_out *);
static int	read_headers(struct spool *, size_t, char *, size_t *, size_t *);
static int	body_stats(struct spool *, const char *, size_t,
		    struct mime_stats *);
static int	encode_body(struct spool *, const char *, size_t,
		    enum mime_cte, struct qp_out *);
static ssize_t	line_next(struct qp_lines *, const char **);
static void	hdr_add(struct qp_scan *, const char *, size_t);
static int	mp_scan(struct spool *, size_t, struct qp_scan *,
		    const char **);
static int	mp_copy_skip(struct spool *, size_t, struct qp_out *);
static int	mp_rewrite(struct spool *, size_t, struct qp_scan *,
		    struct qp_out *);
static int	multipart(struct spool *, size_t, enum qp_mode,
		    struct qp_out *, const char **);
static int	out_commit(struct qp_out *, struct spool **,
		    struct dkim_msg **, int *);
static int	convert(struct spool **, size_t, size_t, struct dkim_msg **,
		    unsigned, int *, enum qp_mode, const char **);

/* to the new spool, and (unless ours) to the new DKIM state */
static int
out_write(struct qp_out *o, const char *p, size_t n, int ours)
{
	if (n == 0)
		return 0;
	if (spool_write(o->spool, p, n) == -1)
		return -1;
	/* too large a header block makes the message unsignable, not failed */
	if (!ours && o->dmsg != NULL && !*o->dmsg_full &&
	    dkim_msg_write(o->dmsg, p, n) == -1)
		*o->dmsg_full = 1;
	return 0;
}

static void
enc_init(struct qp_enc *e, enum mime_cte cte)
{
	e->cte = cte;
	mime_qp_init(&e->q);
	mime_b64_init(&e->b);
}

/* body octets through the encoder */
static int
enc_write(struct qp_enc *e, const char *p, size_t len, struct qp_out *o)
{
	char	 out[QP_CHUNK * 3];
	size_t	 used, w;

	while (len > 0) {
		used = e->cte == MIME_CTE_BASE64 ?
		    mime_b64_body(&e->b, p, len, out, sizeof(out), &w) :
		    mime_qp_body(&e->q, p, len, out, sizeof(out), &w);
		if (out_write(o, out, w, 0) == -1)
			return -1;
		p += used;
		len -= used;
	}
	return 0;
}

/* the end of a body: what the encoder holds */
static int
enc_end(struct qp_enc *e, struct qp_out *o)
{
	char	 out[64];
	size_t	 w;

	w = e->cte == MIME_CTE_BASE64 ?
	    mime_b64_body_end(&e->b, out, sizeof(out)) :
	    mime_qp_body_end(&e->q, out, sizeof(out));
	return out_write(o, out, w, 0);
}

/*
 * Read from the spool's start until the message's header block is in
 * buf: *have octets read, *hlen the block's length after skip (0: not
 * found within the bound or the message).  -1 on a read error.
 */
static int
read_headers(struct spool *sp, size_t skip, char *buf, size_t *have,
    size_t *hlen)
{
	ssize_t	 n;

	*have = 0;
	*hlen = 0;
	for (;;) {
		if (*have > skip &&
		    (*hlen = mime_header_end(buf + skip, *have - skip)) > 0)
			return 0;
		if (*have == skip + QP_HDR_MAX)
			return 0;
		n = spool_read(sp, buf + *have, skip + QP_HDR_MAX - *have);
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		*have += (size_t)n;
	}
}

/* the counts of the body: what was read past the header block, the rest */
static int
body_stats(struct spool *sp, const char *pre, size_t prelen,
    struct mime_stats *st)
{
	char	 in[QP_CHUNK];
	ssize_t	 n;

	mime_stats_add(st, pre, prelen);
	while ((n = spool_read(sp, in, sizeof(in))) > 0)
		mime_stats_add(st, in, (size_t)n);
	return n == -1 ? -1 : 0;
}

/* the body: what was read past the header block, then the rest */
static int
encode_body(struct spool *sp, const char *pre, size_t prelen,
    enum mime_cte cte, struct qp_out *o)
{
	struct qp_enc	 e;
	char		 in[QP_CHUNK];
	ssize_t		 n;

	enc_init(&e, cte);
	if (enc_write(&e, pre, prelen, o) == -1)
		return -1;
	while ((n = spool_read(sp, in, sizeof(in))) > 0)
		if (enc_write(&e, in, (size_t)n, o) == -1)
			return -1;
	if (n == -1)
		return -1;
	return enc_end(&e, o);
}

/*
 * The next line, CRLF included (the last one may lack it): its length,
 * 0 at the end, -1 on a read error.  Lines are at most smtp_data's hard
 * bound, so one always fits the buffer.
 */
static ssize_t
line_next(struct qp_lines *l, const char **line)
{
	const char	*e;
	size_t		 n;
	ssize_t		 r;

	for (;;) {
		e = l->len > l->off ? memmem(l->buf + l->off, l->len - l->off,
		    "\r\n", 2) : NULL;
		if (e != NULL || l->eof || l->len - l->off == QP_LINE_BUF) {
			n = e != NULL ? (size_t)(e - (l->buf + l->off)) + 2 :
			    l->len - l->off;
			*line = l->buf + l->off;
			l->off += n;
			return (ssize_t)n;
		}
		memmove(l->buf, l->buf + l->off, l->len - l->off);
		l->len -= l->off;
		l->off = 0;
		r = spool_read(l->sp, l->buf + l->len, QP_LINE_BUF - l->len);
		if (r == -1)
			return -1;
		if (r == 0)
			l->eof = 1;
		l->len += (size_t)r;
	}
}

/* one line of a part's header block */
static void
hdr_add(struct qp_scan *sc, const char *p, size_t n)
{
	if (sc->hlen + n > QP_PART_HDR_MAX) {
		sc->hover = 1;
		return;
	}
	memcpy(sc->hbuf + sc->hlen, p, n);
	sc->hlen += n;
}

/*
 * Pass 1: which parts may be re-encoded (their header block allows it)
 * and need it (a body line over 998 octets, or an 8-bit octet), and how
 * (sc->enc).  0, or -1 on a read error.
 */
static int
mp_scan(struct spool *sp, size_t skip, struct qp_scan *sc, const char **why)
{
	struct qp_lines		 l;
	struct mime_walk	 w;
	const char		*line;
	ssize_t			 n;
	size_t			 blen, tl, i;
	unsigned		 part;
	int			 any = 0, rc = -1;

	memset(&l, 0, sizeof(l));
	l.sp = sp;
	if (spool_rewind(sp) == -1 || (l.buf = malloc(QP_LINE_BUF)) == NULL)
		return -1;
	mime_walk_init(&w);
	for (i = 0; i < skip; i += (size_t)n)
		if ((n = line_next(&l, &line)) <= 0)
			goto done;
	while ((n = line_next(&l, &line)) > 0) {
		blen = (size_t)n;
		if (blen >= 2 && line[blen - 2] == '\r' && line[blen - 1] == '\n')
			blen -= 2;
		switch (mime_walk_line(&w, line, blen, &part)) {
		case ML_HEADER:
			if (part != 0)
				hdr_add(sc, line, (size_t)n);
			break;
		case ML_HEADER_END:
			if (part == 0 || part >= QP_PARTS)
				break;
			hdr_add(sc, "\r\n", 2);
			sc->ok[part] = !sc->hover && mime_qp_headers(sc->hbuf,
			    sc->hlen, 0, sc->tmp, QP_PART_HDR_MAX +
			    MIME_QP_HDR_EXTRA, &tl) == NULL;
			sc->hlen = 0;
			sc->hover = 0;
			break;
		case ML_BODY:
			if (part >= QP_PARTS)
				break;
			if (blen > SMTP_DATA_LINE_MAX)
				sc->longl[part] = 1;
			mime_stats_add(&sc->st[part], line, (size_t)n);
			break;
		case ML_OTHER:
			break;
		}
	}
	if (n == -1)
		goto done;
	for (i = 0; i < QP_PARTS; i++) {
		if (!sc->ok[i])
			continue;
		if (sc->mode == QM_8BIT)
			sc->enc[i] = (unsigned char)mime_8bit_choose(&sc->st[i]);
		else if (sc->longl[i])
			sc->enc[i] = MIME_CTE_QP;
		if (sc->enc[i] != MIME_CTE_NONE)
			any = 1;
	}
	if (w.signed_top && sc->mode == QM_LONG)
		*why = "signed by the sender";
	else if (!any)
		*why = "multipart, no part that can be re-encoded";
	rc = 0;
done:
	free(l.buf);
	return rc;
}

/* our Received header, as it is */
static int
mp_copy_skip(struct spool *sp, size_t skip, struct qp_out *o)
{
	char	 buf[1024];
	size_t	 want;
	ssize_t	 n;

	while (skip > 0) {
		want = skip < sizeof(buf) ? skip : sizeof(buf);
		if ((n = spool_read(sp, buf, want)) <= 0 ||
		    out_write(o, buf, (size_t)n, 1) == -1)
			return -1;
		skip -= (size_t)n;
	}
	return 0;
}

/*
 * Pass 2: the parts found in pass 1 re-encoded, the rest as it is.  A
 * part's last CRLF belongs to the delimiter after it (RFC 2046 5.1.1):
 * quoted-printable keeps it as a line break, which decodes the same, but
 * base64 would make it data, so it is held back (held) and the
 * encoder's own last CRLF takes its place.
 */
static int
mp_rewrite(struct spool *sp, size_t skip, struct qp_scan *sc,
    struct qp_out *o)
{
	struct qp_lines		 l;
	struct mime_walk	 w;
	struct qp_enc		 e;
	const char		*line;
	ssize_t			 n;
	size_t			 blen, tl;
	unsigned		 part, cur = 0;
	enum mime_line		 cls;
	int			 enc = 0, flagged, held = 0, rc = -1;

	memset(&l, 0, sizeof(l));
	l.sp = sp;
	if (spool_rewind(sp) == -1 || mp_copy_skip(sp, skip, o) == -1 ||
	    (l.buf = malloc(QP_LINE_BUF)) == NULL)
		return -1;
	mime_walk_init(&w);
	enc_init(&e, MIME_CTE_QP);
	while ((n = line_next(&l, &line)) > 0) {
		blen = (size_t)n;
		if (blen >= 2 && line[blen - 2] == '\r' && line[blen - 1] == '\n')
			blen -= 2;
		cls = mime_walk_line(&w, line, blen, &part);
		flagged = part != 0 && part < QP_PARTS &&
		    sc->enc[part] != MIME_CTE_NONE;
		if (enc && (cls != ML_BODY || part != cur)) {
			if (enc_end(&e, o) == -1)
				goto done;
			enc = 0;
		}
		if (flagged && cls == ML_HEADER) {
			hdr_add(sc, line, (size_t)n);
			continue;
		}
		if (flagged && cls == ML_HEADER_END) {
			hdr_add(sc, "\r\n", 2);
			/* pass 1 accepted this very block */
			if (sc->hover || mime_qp_headers(sc->hbuf, sc->hlen,
			    sc->enc[part] == MIME_CTE_BASE64 ? MIME_HDR_BASE64 :
			    0, sc->tmp, QP_PART_HDR_MAX + MIME_QP_HDR_EXTRA,
			    &tl) != NULL || out_write(o, sc->tmp, tl, 0) == -1)
				goto done;
			sc->hlen = 0;
			enc_init(&e, (enum mime_cte)sc->enc[part]);
			enc = 1;
			held = 0;
			cur = part;
			continue;
		}
		if (enc && e.cte == MIME_CTE_BASE64) {
			if ((held && enc_write(&e, "\r\n", 2, o) == -1) ||
			    enc_write(&e, line, blen, o) == -1)
				goto done;
			held = blen < (size_t)n;
			continue;
		}
		if (enc) {
			if (enc_write(&e, line, (size_t)n, o) == -1)
				goto done;
			continue;
		}
		if (out_write(o, line, (size_t)n, 0) == -1)
			goto done;
	}
	if (n == -1)
		goto done;
	/* a part open at the end: no delimiter follows, its CRLF is data */
	if (enc && ((held && enc_write(&e, "\r\n", 2, o) == -1) ||
	    enc_end(&e, o) == -1))
		goto done;
	rc = 0;
done:
	free(l.buf);
	return rc;
}

/*
 * A multipart message: two passes over the spool, as a part's header
 * block comes before the long line that decides whether to rewrite it.
 * Returns 1 rewritten into o, 0 not (*why set), -1 error.
 */
static int
multipart(struct spool *sp, size_t skip, enum qp_mode mode, struct qp_out *o,
    const char **why)
{
	struct qp_scan	*sc;
	int		 rc = -1;

	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return -1;
	sc->mode = mode;
	sc->hbuf = malloc(QP_PART_HDR_MAX);
	sc->tmp = malloc(QP_PART_HDR_MAX + MIME_QP_HDR_EXTRA);
	if (sc->hbuf == NULL || sc->tmp == NULL)
		goto done;
	*why = NULL;
	if (mp_scan(sp, skip, sc, why) == -1)
		goto done;
	if (*why != NULL) {
		rc = 0;
		goto done;
	}
	sc->hlen = 0;
	sc->hover = 0;
	rc = mp_rewrite(sp, skip, sc, o) == -1 ? -1 : 1;
done:
	free(sc->hbuf);
	free(sc->tmp);
	free(sc);
	return rc;
}

/*
 * The encoding of a single-part message's body: quoted-printable for
 * long lines; for 8-bit octets, what they call for (a pass over the
 * spool, then the header block read again).  MIME_CTE_NONE: nothing to
 * do.  0, or -1 on a read error.
 */
static int
leaf_cte(struct spool *sp, size_t skip, enum qp_mode mode, char *buf,
    size_t *have, size_t hlen, enum mime_cte *cte)
{
	struct mime_stats	 st;
	size_t			 again;

	*cte = MIME_CTE_QP;
	if (mode == QM_LONG)
		return 0;
	memset(&st, 0, sizeof(st));
	if (body_stats(sp, buf + skip + hlen, *have - skip - hlen, &st) == -1 ||
	    spool_rewind(sp) == -1 ||
	    read_headers(sp, skip, buf, have, &again) == -1 || again != hlen)
		return -1;
	*cte = mime_8bit_choose(&st);
	return 0;
}

/* the new spool and DKIM state replace the old ones: 1, or -1 */
static int
out_commit(struct qp_out *o, struct spool **spp, struct dkim_msg **dmsgp,
    int *dmsg_full)
{
	if (spool_rewind(o->spool) == -1)
		return -1;
	spool_free(*spp);
	*spp = o->spool;
	o->spool = NULL;
	if (*dmsgp != NULL || o->dmsg != NULL) {
		dkim_msg_free(*dmsgp);
		*dmsgp = o->dmsg;
		o->dmsg = NULL;
		*dmsg_full = *o->dmsg_full;
	}
	return 1;
}

/* the rewrite for both jobs: see relay_qp_encode and relay_qp_8bit */
static int
convert(struct spool **spp, size_t skip, size_t memthresh,
    struct dkim_msg **dmsgp, unsigned canons, int *dmsg_full,
    enum qp_mode mode, const char **why)
{
	struct qp_out	 o;
	char		*buf, *hdr = NULL;
	size_t		 have, hlen, newlen;
	unsigned long long max;
	enum mime_cte	 cte = MIME_CTE_QP;
	unsigned	 hf = MIME_HDR_TOP;
	int		 full = 0, rc = -1;

	*why = NULL;
	if (mode == QM_8BIT)
		hf |= MIME_HDR_SIGNED_OK;
	if (spool_rewind(*spp) == -1)
		return -1;
	if ((buf = malloc(skip + QP_HDR_MAX)) == NULL)
		return -1;
	memset(&o, 0, sizeof(o));
	o.dmsg_full = &full;
	if (read_headers(*spp, skip, buf, &have, &hlen) == -1)
		goto done;
	if (hlen == 0) {
		*why = "header block not found or too large";
		rc = 0;
		goto done;
	}
	if ((hdr = malloc(hlen + MIME_QP_HDR_EXTRA)) == NULL)
		goto done;
	*why = mime_qp_headers(buf + skip, hlen, hf, hdr,
	    hlen + MIME_QP_HDR_EXTRA, &newlen);
	if (*why != NULL && strcmp(*why, "multipart") != 0) {
		rc = 0;
		goto done;
	}
	if (*why == NULL) {
		if (leaf_cte(*spp, skip, mode, buf, &have, hlen, &cte) == -1)
			goto done;
		if (cte == MIME_CTE_NONE) {
			*why = "no 8-bit octet in the body";
			rc = 0;
			goto done;
		}
		if (cte == MIME_CTE_BASE64)
			(void)mime_qp_headers(buf + skip, hlen,
			    hf | MIME_HDR_BASE64, hdr, hlen + MIME_QP_HDR_EXTRA,
			    &newlen);
	}
	/* quoted-printable at most triples the body, plus soft breaks */
	max = 4 * spool_size(*spp) + 4 * QP_PARTS * MIME_QP_HDR_EXTRA + 4096;
	if ((o.spool = spool_new(memthresh, max, NULL)) == NULL)
		goto done;
	if (canons != 0 && (o.dmsg = dkim_msg_new_canons(canons)) == NULL)
		goto done;
	if (*why != NULL) {
		/* the parts that need it, each re-encoded on its own */
		if ((rc = multipart(*spp, skip, mode, &o, why)) != 1)
			goto done;
		rc = -1;
	} else if (out_write(&o, buf, skip, 1) == -1 ||
	    out_write(&o, hdr, newlen, 0) == -1 ||
	    encode_body(*spp, buf + skip + hlen, have - skip - hlen, cte,
	    &o) == -1)
		goto done;
	rc = out_commit(&o, spp, dmsgp, dmsg_full);
done:
	if (rc != 1 && spool_rewind(*spp) == -1)
		rc = -1;
	spool_free(o.spool);
	dkim_msg_free(o.dmsg);
	free(hdr);
	free(buf);
	return rc;
}

/* relay_qp_encode - the spooled message with a quoted-printable body */
int
relay_qp_encode(struct spool **spp, size_t skip, size_t memthresh,
    struct dkim_msg **dmsgp, unsigned canons, int *dmsg_full,
    const char **why)
{
	return convert(spp, skip, memthresh, dmsgp, canons, dmsg_full,
	    QM_LONG, why);
}

/* relay_qp_8bit - the spooled message with its 8-bit bodies encoded */
int
relay_qp_8bit(struct spool **spp, size_t skip, size_t memthresh,
    struct dkim_msg **dmsgp, unsigned canons, int *dmsg_full,
    const char **why)
{
	return convert(spp, skip, memthresh, dmsgp, canons, dmsg_full,
	    QM_8BIT, why);
}
