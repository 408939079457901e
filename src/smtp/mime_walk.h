/*
 * mime_walk - where each line of a MIME message belongs: the header block
 * or the body of which entity, for long_lines = encode in multipart mail.
 *
 * Contract: pure; fed the message one line at a time (without its CRLF).
 * Entities are numbered in order of appearance, the message itself 0.
 * Nested multiparts are followed up to MIME_WALK_DEPTH levels; a deeper
 * one is treated as a leaf whose body is not to be touched (its type is
 * multipart, so nothing re-encodes it).
 */
#ifndef GW_MIME_WALK_H
#define GW_MIME_WALK_H

#include <stddef.h>

#define MIME_WALK_DEPTH		8
#define MIME_BOUNDARY_MAX	70	/* RFC 2046 5.1.1 */
#define MIME_FIELD_MAX		1024	/* the start of a field we look at */

enum mime_line {
	ML_HEADER,	/* a line of the header block of entity *part */
	ML_HEADER_END,	/* the empty line that ends it */
	ML_BODY,	/* a body line of leaf entity *part */
	ML_OTHER	/* delimiter, preamble, epilogue */
};

struct mime_walk {
	int		 state;		/* private */
	unsigned	 part;		/* current entity */
	unsigned	 nparts;	/* entities seen so far */
	int		 depth;		/* boundaries open */
	char		 bound[MIME_WALK_DEPTH][MIME_BOUNDARY_MAX + 1];
	char		 field[MIME_FIELD_MAX + 1];	/* current field, unfolded */
	size_t		 flen;
	char		 newbound[MIME_BOUNDARY_MAX + 1];	/* multipart's */
	int		 multipart;	/* the current entity is one */
	int		 signed_top;	/* the message has a DKIM-Signature */
};

void	mime_walk_init(struct mime_walk *);
/* mime_walk_line - classify one line (len octets, CRLF excluded) */
enum mime_line mime_walk_line(struct mime_walk *, const char *line,
	    size_t len, unsigned *part);

#endif
