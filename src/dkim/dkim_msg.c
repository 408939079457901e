/*
 * dkim_msg - one message on its way through: the header block is kept
 * (bounded), the body only hashed, in both canonicalisations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dkim/dkim_local.h"

static void	body_sink(void *, const char *, size_t);
static int	hdr_append(struct dkim_msg *, const char *, size_t);
static void	hdr_split(struct dkim_msg *);
static void	from_find(struct dkim_msg *);
static void	unsignable(struct dkim_msg *, const char *);
static int	field_is(const struct dkim_msg *, const struct dkim_field *,
		    const char *);

static void
body_sink(void *arg, const char *p, size_t n)
{
	/* wc_Sha256Update only fails on NULL arguments */
	(void)wc_Sha256Update(arg, (const byte *)p, (word32)n);
}

struct dkim_msg *
dkim_msg_new(void)
{
	return dkim_msg_new_canons(DKIM_BODY_SIMPLE | DKIM_BODY_RELAXED);
}

struct dkim_msg *
dkim_msg_new_canons(unsigned mask)
{
	struct dkim_msg *m;
	int c;

	mask &= DKIM_BODY_SIMPLE | DKIM_BODY_RELAXED;
	if (mask == 0 || (m = calloc(1, sizeof *m)) == NULL)
		return NULL;
	m->canons = mask;
	for (c = 0; c < 2; c++) {
		if (wc_InitSha256(&m->sha[c]) != 0) {
			if (c == 1)
				wc_Sha256Free(&m->sha[0]);
			free(m);
			return NULL;
		}
		dkim_body_init(&m->body[c], (enum dkim_canon)c, body_sink,
		    &m->sha[c]);
	}
	m->state = DKIM_MSG_HEADER;
	return m;
}

void
dkim_msg_free(struct dkim_msg *m)
{
	if (m == NULL)
		return;
	wc_Sha256Free(&m->sha[0]);
	wc_Sha256Free(&m->sha[1]);
	free(m->hdr);
	free(m->fields);
	free(m);
}

static void
unsignable(struct dkim_msg *m, const char *why)
{
	m->state = DKIM_MSG_UNSIGNABLE;
	m->why = why;
}

static int
hdr_append(struct dkim_msg *m, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (m->hdrlen + n > DKIM_MAX_HEADER_BLOCK) {
		unsignable(m, "header block too large");
		return -1;
	}
	if (m->hdrlen + n > m->hdrcap) {
		size_t cap = m->hdrcap ? m->hdrcap : 4096;
		char *nh;

		while (cap < m->hdrlen + n)
			cap *= 2;
		if (cap > DKIM_MAX_HEADER_BLOCK)
			cap = DKIM_MAX_HEADER_BLOCK;
		if ((nh = realloc(m->hdr, cap)) == NULL) {
			unsignable(m, "out of memory");
			return -1;
		}
		m->hdr = nh;
		m->hdrcap = cap;
	}
	memcpy(m->hdr + m->hdrlen, p, n);
	m->hdrlen += n;
	return 0;
}

int
dkim_msg_write(struct dkim_msg *m, const char *p, size_t n)
{
	size_t i;
	int c;

	switch (m->state) {
	case DKIM_MSG_HEADER:
		/* find the CRLF CRLF that ends the header block */
		for (i = 0; i < n; i++) {
			char ch = p[i];

			if (ch == '\r')
				m->crlfs = (m->crlfs == 2) ? 3 : 1;
			else if (ch == '\n' && (m->crlfs == 1 || m->crlfs == 3))
				m->crlfs++;
			else
				m->crlfs = 0;
			/* a message may also start with its empty line */
			if (m->crlfs == 4 || (m->crlfs == 2 &&
			    m->hdrlen + i + 1 == 2)) {
				if (hdr_append(m, p, i + 1) == -1)
					return -1;
				m->state = DKIM_MSG_BODY;
				return dkim_msg_write(m, p + i + 1, n - i - 1);
			}
		}
		return hdr_append(m, p, n);
	case DKIM_MSG_BODY:
		for (c = 0; c < 2; c++)
			if (m->canons & (1u << c))
				dkim_body_update(&m->body[c], p, n);
		return 0;
	case DKIM_MSG_UNSIGNABLE:
		return -1;
	case DKIM_MSG_DONE:
	default:
		return -1;
	}
}

/* Cut the header block into fields: a line starting with WSP continues. */
static void
hdr_split(struct dkim_msg *m)
{
	size_t i = 0, cap = 0;

	while (i < m->hdrlen) {
		size_t start = i, end, k;
		struct dkim_field *f;

		/* the empty line ends the block */
		if (m->hdrlen - i >= 2 && m->hdr[i] == '\r' &&
		    m->hdr[i + 1] == '\n')
			break;
		end = i;
		for (;;) {
			while (end < m->hdrlen && m->hdr[end] != '\n')
				end++;
			if (end < m->hdrlen)
				end++;
			if (end >= m->hdrlen || (m->hdr[end] != ' ' &&
			    m->hdr[end] != '\t'))
				break;
		}
		i = end;
		if (m->nfields == DKIM_MAX_FIELDS) {
			unsignable(m, "too many header fields");
			return;
		}
		if (m->nfields == cap) {
			cap = cap ? cap * 2 : 32;
			if (cap > DKIM_MAX_FIELDS)
				cap = DKIM_MAX_FIELDS;
			f = realloc(m->fields, cap * sizeof *f);
			if (f == NULL) {
				unsignable(m, "out of memory");
				return;
			}
			m->fields = f;
		}
		f = &m->fields[m->nfields++];
		f->off = start;
		f->len = end - start;
		for (k = 0; k < f->len && m->hdr[start + k] != ':'; k++)
			;
		if (k == f->len || k == 0) {
			f->namelen = 0;	/* not a field: never selected */
			continue;
		}
		while (k > 0 && (m->hdr[start + k - 1] == ' ' ||
		    m->hdr[start + k - 1] == '\t'))
			k--;
		f->namelen = k;
	}
}

static int
field_is(const struct dkim_msg *m, const struct dkim_field *f,
    const char *name)
{
	return f->namelen == strlen(name) &&
	    strncasecmp(m->hdr + f->off, name, f->namelen) == 0;
}

static void
from_find(struct dkim_msg *m)
{
	const struct dkim_field *from = NULL;
	size_t i;

	for (i = 0; i < m->nfields; i++) {
		if (field_is(m, &m->fields[i], "From")) {
			m->from_count++;
			from = &m->fields[i];
		}
	}
	if (m->from_count == 0) {
		m->from_why = "no From header";
		return;
	}
	if (m->from_count > 1) {
		snprintf(m->whybuf, sizeof m->whybuf, "%d From headers",
		    m->from_count);
		m->from_why = m->whybuf;
		return;
	}
	{
		const char *v = m->hdr + from->off;
		size_t colon = 0;

		while (v[colon] != ':')
			colon++;
		m->from_why = dkim_from_parse(v + colon + 1,
		    from->len - colon - 1, m->from_domain,
		    sizeof m->from_domain);
	}
}

int
dkim_msg_end(struct dkim_msg *m)
{
	int c;

	if (m->state == DKIM_MSG_UNSIGNABLE || m->state == DKIM_MSG_DONE)
		return m->state == DKIM_MSG_DONE ? 0 : -1;
	/* no empty line: the whole message is header, the body is empty */
	for (c = 0; c < 2; c++) {
		if (!(m->canons & (1u << c)))
			continue;
		dkim_body_final(&m->body[c]);
		if (wc_Sha256Final(&m->sha[c], m->bh[c]) != 0) {
			unsignable(m, "hash failure");
			return -1;
		}
	}
	hdr_split(m);
	if (m->state == DKIM_MSG_UNSIGNABLE)
		return -1;
	from_find(m);
	m->state = DKIM_MSG_DONE;
	return 0;
}

const char *
dkim_msg_from_domain(const struct dkim_msg *m, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (m->state == DKIM_MSG_UNSIGNABLE) {
		*why = m->why;
		return NULL;
	}
	if (m->state != DKIM_MSG_DONE) {
		*why = "message not complete";
		return NULL;
	}
	if (m->from_why != NULL) {
		*why = m->from_why;
		return NULL;
	}
	*why = NULL;
	return m->from_domain;
}
