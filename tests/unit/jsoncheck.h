/*
 * jsoncheck - a strict check that a buffer is exactly one JSON object
 * (RFC 8259): strings with valid escapes, no raw control characters and
 * valid UTF-8, numbers in JSON's grammar, nothing after the object.
 * For test_logfmt and fuzz_logjson; header-only, no allocation.
 */
#ifndef GW_JSONCHECK_H
#define GW_JSONCHECK_H

#include <stddef.h>
#include <string.h>

struct jc {
	const unsigned char	*p;
	size_t			 n, i;
	int			 depth;
};

static int	jc_value(struct jc *);

static void
jc_ws(struct jc *c)
{
	while (c->i < c->n && (c->p[c->i] == ' ' || c->p[c->i] == '\t' ||
	    c->p[c->i] == '\n' || c->p[c->i] == '\r'))
		c->i++;
}

static int
jc_hex(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	    (ch >= 'A' && ch <= 'F');
}

/* the length of a valid UTF-8 sequence at p, or 0 */
static size_t
jc_utf8(const unsigned char *p, size_t n)
{
	size_t		 need, k;
	unsigned	 cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		need = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		need = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		need = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (k = 1; k < need; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

static int
jc_string(struct jc *c)
{
	size_t	 k;

	if (c->i >= c->n || c->p[c->i] != '"')
		return 0;
	c->i++;
	while (c->i < c->n) {
		unsigned char	ch = c->p[c->i];

		if (ch == '"') {
			c->i++;
			return 1;
		}
		if (ch < 0x20)
			return 0;
		if (ch == '\\') {
			if (c->i + 1 >= c->n)
				return 0;
			ch = c->p[c->i + 1];
			if (ch == 'u') {
				if (c->i + 6 > c->n)
					return 0;
				for (k = 2; k < 6; k++)
					if (!jc_hex(c->p[c->i + k]))
						return 0;
				c->i += 6;
				continue;
			}
			if (strchr("\"\\/bfnrt", ch) == NULL || ch == '\0')
				return 0;
			c->i += 2;
			continue;
		}
		if ((k = jc_utf8(c->p + c->i, c->n - c->i)) == 0)
			return 0;
		c->i += k;
	}
	return 0;
}

static int
jc_digits(struct jc *c)
{
	size_t	 start = c->i;

	while (c->i < c->n && c->p[c->i] >= '0' && c->p[c->i] <= '9')
		c->i++;
	return c->i > start;
}

static int
jc_number(struct jc *c)
{
	if (c->i < c->n && c->p[c->i] == '-')
		c->i++;
	if (c->i < c->n && c->p[c->i] == '0')
		c->i++;
	else if (!jc_digits(c))
		return 0;
	if (c->i < c->n && c->p[c->i] == '.') {
		c->i++;
		if (!jc_digits(c))
			return 0;
	}
	if (c->i < c->n && (c->p[c->i] == 'e' || c->p[c->i] == 'E')) {
		c->i++;
		if (c->i < c->n && (c->p[c->i] == '+' || c->p[c->i] == '-'))
			c->i++;
		if (!jc_digits(c))
			return 0;
	}
	return 1;
}

static int
jc_word(struct jc *c, const char *w)
{
	size_t	 len = strlen(w);

	if (c->n - c->i < len || memcmp(c->p + c->i, w, len) != 0)
		return 0;
	c->i += len;
	return 1;
}

static int
jc_members(struct jc *c, char close, int keyed)
{
	c->i++;
	jc_ws(c);
	if (c->i < c->n && c->p[c->i] == (unsigned char)close) {
		c->i++;
		return 1;
	}
	for (;;) {
		jc_ws(c);
		if (keyed) {
			if (!jc_string(c))
				return 0;
			jc_ws(c);
			if (c->i >= c->n || c->p[c->i] != ':')
				return 0;
			c->i++;
		}
		if (!jc_value(c))
			return 0;
		jc_ws(c);
		if (c->i >= c->n)
			return 0;
		if (c->p[c->i] == (unsigned char)close) {
			c->i++;
			return 1;
		}
		if (c->p[c->i] != ',')
			return 0;
		c->i++;
	}
}

static int
jc_value(struct jc *c)
{
	int	 ok;

	jc_ws(c);
	if (c->i >= c->n || ++c->depth > 64)
		return 0;
	switch (c->p[c->i]) {
	case '{':
		ok = jc_members(c, '}', 1);
		break;
	case '[':
		ok = jc_members(c, ']', 0);
		break;
	case '"':
		ok = jc_string(c);
		break;
	case 't':
		ok = jc_word(c, "true");
		break;
	case 'f':
		ok = jc_word(c, "false");
		break;
	case 'n':
		ok = jc_word(c, "null");
		break;
	default:
		ok = jc_number(c);
		break;
	}
	c->depth--;
	return ok;
}

/* json_object_ok - is p[0..n) one JSON object and nothing else? */
static inline int
json_object_ok(const char *p, size_t n)
{
	struct jc	 c = { (const unsigned char *)p, n, 0, 0 };

	jc_ws(&c);
	if (c.i >= n || p[c.i] != '{' || !jc_value(&c))
		return 0;
	jc_ws(&c);
	return c.i == n;
}

#endif
