/*
 * relay_qp - re-encode a spooled message as quoted-printable
 * (long_lines = encode); see relay_qp.h.
 *
 * The whole message is spooled before the decision, because the header
 * block comes first and the long line may be anywhere after it.  The
 * header block is read into memory (bounded like DKIM's, 256 KiB), judged
 * and rewritten by mime_qp_headers(), and the body is streamed through
 * the encoder into a new spool.  DKIM sees the new message only, so the
 * signature covers what is sent.
 */
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim.h"
#include "relay/relay_qp.h"
#include "relay/spool.h"
#include "smtp/mime_qp.h"

#define QP_HDR_MAX	(256 * 1024)	/* as dkim_msg's header bound */
#define QP_CHUNK	8192

struct qp_out {
	struct spool		*spool;
	struct dkim_msg		*dmsg;
	int			*dmsg_full;
};

static int	out_write(struct qp_out *, const char *, size_t, int);
static int	read_headers(struct spool *, size_t, char *, size_t *, size_t *);
static int	encode_body(struct spool *, const char *, size_t,
		    struct qp_out *);

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

/* the body: what was read past the header block, then the rest */
static int
encode_body(struct spool *sp, const char *pre, size_t prelen,
    struct qp_out *o)
{
	struct mime_qp	 q;
	char		 in[QP_CHUNK], out[QP_CHUNK * 3];
	const char	*p = pre;
	size_t		 len = prelen, used, w;
	ssize_t		 n;

	mime_qp_init(&q);
	for (;;) {
		while (len > 0) {
			used = mime_qp_body(&q, p, len, out, sizeof(out), &w);
			if (out_write(o, out, w, 0) == -1)
				return -1;
			p += used;
			len -= used;
		}
		if ((n = spool_read(sp, in, sizeof(in))) == -1)
			return -1;
		if (n == 0)
			break;
		p = in;
		len = (size_t)n;
	}
	w = mime_qp_body_end(&q, out, sizeof(out));
	return out_write(o, out, w, 0);
}

/* relay_qp_encode - the spooled message with a quoted-printable body */
int
relay_qp_encode(struct spool **spp, size_t skip, size_t memthresh,
    struct dkim_msg **dmsgp, unsigned canons, int *dmsg_full,
    const char **why)
{
	struct qp_out	 o;
	char		*buf, *hdr = NULL;
	size_t		 have, hlen, newlen;
	unsigned long long max;
	int		 full = 0, rc = -1;

	*why = NULL;
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
	if ((*why = mime_qp_headers(buf + skip, hlen, hdr,
	    hlen + MIME_QP_HDR_EXTRA, &newlen)) != NULL) {
		rc = 0;
		goto done;
	}
	/* quoted-printable at most triples the body, plus soft breaks */
	max = 4 * spool_size(*spp) + MIME_QP_HDR_EXTRA + 4096;
	if ((o.spool = spool_new(memthresh, max, NULL)) == NULL)
		goto done;
	if (canons != 0 && (o.dmsg = dkim_msg_new_canons(canons)) == NULL)
		goto done;
	if (out_write(&o, buf, skip, 1) == -1 ||
	    out_write(&o, hdr, newlen, 0) == -1 ||
	    encode_body(*spp, buf + skip + hlen, have - skip - hlen, &o) == -1)
		goto done;
	if (spool_rewind(o.spool) == -1)
		goto done;
	spool_free(*spp);
	*spp = o.spool;
	o.spool = NULL;
	if (*dmsgp != NULL || o.dmsg != NULL) {
		dkim_msg_free(*dmsgp);
		*dmsgp = o.dmsg;
		o.dmsg = NULL;
		*dmsg_full = full;
	}
	rc = 1;
done:
	if (rc != 1 && spool_rewind(*spp) == -1)
		rc = -1;
	spool_free(o.spool);
	dkim_msg_free(o.dmsg);
	free(hdr);
	free(buf);
	return rc;
}
