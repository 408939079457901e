/*
 * mime_walk - the MIME structure of a message, one line at a time
 * (RFC 2045, RFC 2046 5.1).
 *
 * An entity is a header block, an empty line, and a body.  The body of a
 * multipart entity (with a usable boundary parameter) is a preamble, then
 * parts, each after a line "--boundary", the last closed by
 * "--boundary--", then an epilogue; every part is an entity again.  A
 * delimiter may be followed by white space (transport padding).  A
 * delimiter of an outer multipart also ends the inner ones (a message
 * that forgot to close them), as mail readers do.
 *
 * Only what long_lines = encode needs is kept: the open boundaries and, of
 * the header block being read, whether it is multipart and its boundary;
 * and for the message itself whether it carries a DKIM-Signature.
 */
#include <stddef.h>
#include <string.h>

#include "smtp/mime_walk.h"

enum {
	W_HDR = 0,	/* in a header block */
	W_BODY,		/* in the body of a leaf entity */
	W_PRE		/* preamble or epilogue of a multipart */
};

static int	lower(int);
static int	iprefix(const char *, size_t, const char *);
static void	field_done(struct mime_walk *);
static void	boundary_param(struct mime_walk *, const char *);
static int	delimiter(const struct mime_walk *, const char *, size_t,
		    int *);

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c;
}

/* p[0..len) starts with the lower-case word w, in any case */
static int
iprefix(const char *p, size_t len, const char *w)
{
	size_t	 i, n = strlen(w);

	if (len < n)
		return 0;
	for (i = 0; i < n; i++)
		if (lower((unsigned char)p[i]) != w[i])
			return 0;
	return 1;
}

void
mime_walk_init(struct mime_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->state = W_HDR;
	w->nparts = 1;
}

/* the boundary parameter of a Content-Type value, if usable */
static void
boundary_param(struct mime_walk *w, const char *v)
{
	const char	*p;
	size_t		 n = 0;

	w->newbound[0] = '\0';
	for (p = v; (p = strchr(p, ';')) != NULL;) {
		p++;
		while (*p == ' ' || *p == '\t')
			p++;
		if (!iprefix(p, strlen(p), "boundary"))
			continue;
		p += 8;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '"') {
			for (p++; *p != '\0' && *p != '"'; p++) {
				if (*p == '\\' && p[1] != '\0')
					p++;
				if (n == MIME_BOUNDARY_MAX)
					goto unusable;
				w->newbound[n++] = *p;
			}
			if (*p != '"')
				goto unusable;
		} else {
			for (; *p != '\0' && *p != ';' && *p != ' ' &&
			    *p != '\t'; p++) {
				if (n == MIME_BOUNDARY_MAX)
					goto unusable;
				w->newbound[n++] = *p;
			}
		}
		w->newbound[n] = '\0';
		return;
	}
	return;
unusable:
	/* too long, or an open quote: no boundary, so a leaf */
	w->newbound[0] = '\0';
}

/* a header field is complete: is it the one we look for? */
static void
field_done(struct mime_walk *w)
{
	const char	*v;

	if (w->flen == 0)
		return;
	w->field[w->flen] = '\0';
	if (iprefix(w->field, w->flen, "content-type:")) {
		for (v = w->field + 13; *v == ' ' || *v == '\t'; v++)
			;
		if (iprefix(v, strlen(v), "multipart/")) {
			w->multipart = 1;
			boundary_param(w, v);
		}
	}
	if (w->part == 0 && iprefix(w->field, w->flen, "dkim-signature:"))
		w->signed_top = 1;
	w->flen = 0;
}

/*
 * "--" boundary, then "--" for the close delimiter, then white space
 * only: the level it closes or opens (innermost first), or -1.
 */
static int
delimiter(const struct mime_walk *w, const char *p, size_t len, int *close)
{
	size_t	 bl, i;
	int	 k;

	if (len < 3 || p[0] != '-' || p[1] != '-')
		return -1;
	for (k = w->depth - 1; k >= 0; k--) {
		bl = strlen(w->bound[k]);
		if (len < 2 + bl || memcmp(p + 2, w->bound[k], bl) != 0)
			continue;
		i = 2 + bl;
		*close = len >= i + 2 && p[i] == '-' && p[i + 1] == '-';
		if (*close)
			i += 2;
		for (; i < len; i++)
			if (p[i] != ' ' && p[i] != '\t')
				break;
		if (i == len)
			return k;
	}
	return -1;
}

/* mime_walk_line - where one line belongs */
enum mime_line
mime_walk_line(struct mime_walk *w, const char *p, size_t len,
    unsigned *part)
{
	size_t	 n;
	int	 k, close;

	*part = w->part;
	if (w->state == W_HDR) {
		if (len == 0) {
			field_done(w);
			if (w->multipart && w->newbound[0] != '\0' &&
			    w->depth < MIME_WALK_DEPTH) {
				memcpy(w->bound[w->depth], w->newbound,
				    sizeof(w->newbound));
				w->depth++;
				w->state = W_PRE;
			} else
				w->state = W_BODY;
			return ML_HEADER_END;
		}
		if (p[0] != ' ' && p[0] != '\t')
			field_done(w);
		/* unfolded: the start of the field is enough */
		n = len < MIME_FIELD_MAX - w->flen ? len :
		    MIME_FIELD_MAX - w->flen;
		memcpy(w->field + w->flen, p, n);
		w->flen += n;
		return ML_HEADER;
	}
	if ((k = delimiter(w, p, len, &close)) >= 0) {
		if (close) {
			w->depth = k;
			w->state = W_PRE;
		} else {
			w->depth = k + 1;
			w->part = w->nparts++;
			w->state = W_HDR;
			w->multipart = 0;
			w->newbound[0] = '\0';
			w->flen = 0;
		}
		return ML_OTHER;
	}
	return w->state == W_BODY ? ML_BODY : ML_OTHER;
}
