/*
 * fuzz_smime_mime - the header split of S/MIME (smime_split): which
 * header fields stay outside and which go into the signed entity.
 *
 * The input is a message.  Invariants on success: the two outputs hold
 * no more than the input and the default Content-Type line; the outer
 * fields hold no Content-* and no MIME-Version field; splitting the inner
 * entity again gives no outer field and the same entity (the split is
 * idempotent: the signed entity is a well-formed MIME entity with its own
 * Content-Type); the entity's body is the message's body, octet for octet.
 * A refusal leaves a reason.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "smime/smime_mime.h"
#include "fuzz.h"

#define CTD_LEN	(sizeof("Content-Type: text/plain; charset=us-ascii\r\n") - 1)

/* after the first line that is only CRLF (lines end at LF), or none */
static const char *
body_of(const char *m, size_t len, size_t *blen)
{
	const char	*nl;
	size_t		 off = 0;

	while (off < len) {
		if (m[off] == '\r' && off + 1 < len && m[off + 1] == '\n') {
			*blen = len - off - 2;
			return m + off + 2;
		}
		if ((nl = memchr(m + off, '\n', len - off)) == NULL)
			break;
		off = (size_t)(nl - m) + 1;
	}
	*blen = 0;
	return m + len;
}

/* no field of the outer block is Content-* or MIME-Version */
static void
check_outer(const char *o, size_t len)
{
	const char	*colon;
	size_t		 i, n;

	for (i = 0; i < len; i++) {
		if ((i != 0 && o[i - 1] != '\n') || o[i] == ' ' || o[i] == '\t')
			continue;
		colon = memchr(o + i, ':', len - i);
		FUZZ_CHECK(colon != NULL, "an outer line without a colon");
		for (n = (size_t)(colon - (o + i)); n > 0 &&
		    (o[i + n - 1] == ' ' || o[i + n - 1] == '\t'); n--)
			;
		FUZZ_CHECK(!(n > 8 && strncasecmp(o + i, "content-", 8) == 0),
		    "a Content-* field outside at %zu", i);
		FUZZ_CHECK(!(n == 12 && strncasecmp(o + i, "MIME-Version", 12)
		    == 0), "MIME-Version outside at %zu", i);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*m = (const char *)data, *why, *b1, *b2;
	struct buf	 outer, inner, o2, i2;
	size_t		 l1, l2;

	buf_init(&outer, smime_split_max(size));
	buf_init(&inner, smime_split_max(size));
	why = smime_split(m, size, &outer, &inner);
	if (why != NULL) {
		FUZZ_CHECK(*why != '\0', "empty reason");
		goto done;
	}
	FUZZ_CHECK(buf_len(&outer) + buf_len(&inner) <= size + CTD_LEN + 2,
	    "%zu + %zu from %zu", buf_len(&outer), buf_len(&inner), size);
	if (buf_len(&outer) > 0)
		check_outer(buf_data(&outer), buf_len(&outer));
	buf_init(&o2, smime_split_max(buf_len(&inner)));
	buf_init(&i2, smime_split_max(buf_len(&inner)));
	why = smime_split(buf_data(&inner), buf_len(&inner), &o2, &i2);
	FUZZ_CHECK(why == NULL, "the entity does not split again: %s", why);
	FUZZ_CHECK(buf_len(&o2) == 0, "outer fields in the entity");
	FUZZ_CHECK(buf_len(&i2) == buf_len(&inner) && memcmp(buf_data(&i2),
	    buf_data(&inner), buf_len(&inner)) == 0, "not idempotent");
	buf_release(&o2);
	buf_release(&i2);
	b1 = body_of(m, size, &l1);
	b2 = body_of(buf_data(&inner), buf_len(&inner), &l2);
	FUZZ_CHECK(l1 == l2 && memcmp(b1, b2, l1) == 0, "body changed");
done:
	buf_release(&outer);
	buf_release(&inner);
	return 0;
}
