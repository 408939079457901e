/*
 * dkim_canon - RFC 6376 §3.4 canonicalisation, pure (no keys, no I/O).
 *
 * Contract: the body canonicaliser is streaming: it takes bytes in any
 * chunking and hands canonical bytes to a sink in order, holding back only
 * a count of trailing empty lines (emitted once content follows) and one
 * pending CR or run of blanks.  The header canonicaliser works on one whole
 * header field (name, colon, value, folded lines, final CRLF optional).
 * Internal to gw_dkim; public for the unit tests.
 */
#ifndef GW_DKIM_CANON_H
#define GW_DKIM_CANON_H

#include <stddef.h>
#include "dkim/dkim.h"

typedef void (*dkim_sink_fn)(void *arg, const char *p, size_t n);

#define DKIM_CANON_OUTBUF	4096

struct dkim_body {
	enum dkim_canon	canon;
	dkim_sink_fn	sink;
	void		*arg;
	size_t		pending_crlf;	/* empty lines held back */
	int		cr;		/* a CR seen, LF may follow */
	int		wsp;		/* relaxed: blanks seen, not emitted */
	int		any;		/* any content emitted at all */
	unsigned long long total;	/* canonical bytes emitted */
	size_t		outlen;
	char		out[DKIM_CANON_OUTBUF];
};

/* dkim_body_init - start a body in canonicalisation c, output to sink */
void	dkim_body_init(struct dkim_body *, enum dkim_canon c, dkim_sink_fn,
	    void *arg);
void	dkim_body_update(struct dkim_body *, const char *p, size_t n);
/* dkim_body_final - apply the end-of-body rules and flush the sink */
void	dkim_body_final(struct dkim_body *);

/*
 * dkim_canon_header - canonicalise one header field into out, always ending
 * in CRLF.  Returns the length, or -1 if out is too small (len + 3 always
 * suffices).
 */
long	dkim_canon_header(enum dkim_canon, const char *h, size_t len, char *out,
	    size_t outlen);

/*
 * dkim_from_parse - the lowercase domain of the single mailbox in a From
 * field value (after the colon, may be folded).  NULL on success, else a
 * static reason.
 */
const char *dkim_from_parse(const char *value, size_t len, char *domain,
	    size_t domainlen);

#endif
