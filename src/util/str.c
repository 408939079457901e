/*
 * str - string helpers: bounded copies, strict number/size/time/bool
 * parsing, list splitting, escaping for logs.
 *
 * Everything here is ASCII-only on purpose: configuration keywords and
 * SMTP verbs are ASCII, and the C library's locale-aware <ctype.h> could
 * make "I" and "i" differ under a Turkish locale.
 */
#include <limits.h>
#include <string.h>

#include "util/str.h"

static int	ascii_lower(int);
static int	ascii_digit(int);
static int	ascii_blank(int);
static const char *parse_digits(const char **, unsigned long long *);

static int
ascii_lower(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

static int
ascii_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
ascii_blank(int c)
{
	return c == ' ' || c == '\t';
}

/* gw_strlcpy - BSD strlcpy: copy with truncation, return strlen(src) */
size_t
gw_strlcpy(char *dst, const char *src, size_t size)
{
	size_t	 srclen = strlen(src);

	if (size > 0) {
		size_t	 n = srclen < size - 1 ? srclen : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return srclen;
}

/* gw_strlcat - BSD strlcat: append with truncation, return length tried */
size_t
gw_strlcat(char *dst, const char *src, size_t size)
{
	size_t	 dlen;

	/*
	 * dst may not be terminated within size (BSD semantics): then
	 * nothing is appended and the result is size + strlen(src), so the
	 * caller's "result >= size" check still fires.
	 */
	for (dlen = 0; dlen < size && dst[dlen] != '\0'; dlen++)
		;
	if (dlen == size)
		return size + strlen(src);
	return dlen + gw_strlcpy(dst + dlen, src, size - dlen);
}

/* str_copy - copy src whole into dst or fail with dst = "" */
int
str_copy(char *dst, const char *src, size_t size)
{
	if (size == 0)
		return -1;
	if (gw_strlcpy(dst, src, size) >= size) {
		/* a truncated value is a different value: leave nothing */
		dst[0] = '\0';
		return -1;
	}
	return 0;
}

/*
 * parse_digits - one or more decimal digits at *sp into *out; *sp is left
 * on the first non-digit.  Overflow of unsigned long long is an error.
 */
static const char *
parse_digits(const char **sp, unsigned long long *out)
{
	const char		*s = *sp;
	unsigned long long	 v = 0;

	if (!ascii_digit((unsigned char)*s))
		return "not a number";
	for (; ascii_digit((unsigned char)*s); s++) {
		unsigned	 d = (unsigned)(*s - '0');

		if (v > (ULLONG_MAX - d) / 10)
			return "number too large";
		v = v * 10 + d;
	}
	*sp = s;
	*out = v;
	return NULL;
}

/* str_tonum - strict decimal integer in [min,max], whole string */
const char *
str_tonum(const char *s, long long min, long long max, long long *out)
{
	unsigned long long	 mag;
	const char		*err;
	long long		 v;
	int			 neg = 0;

	if (s == NULL || *s == '\0')
		return "empty number";
	/*
	 * strtoll() would accept leading blanks, a '+' and "-0" for an
	 * unsigned range; a configuration value with any of those is more
	 * likely a mistake than an intent, so only digits, and a '-' where
	 * negative values are allowed at all, get through.
	 */
	if (*s == '-') {
		if (min >= 0)
			return "negative number not allowed";
		neg = 1;
		s++;
	}
	if ((err = parse_digits(&s, &mag)) != NULL)
		return err;
	if (*s != '\0')
		return "trailing garbage after number";
	if (neg) {
		/* -LLONG_MIN does not fit in a long long: compare magnitudes */
		if (mag > (unsigned long long)LLONG_MAX + 1)
			return "number too small";
		v = mag == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN :
		    -(long long)mag;
	} else {
		if (mag > (unsigned long long)LLONG_MAX)
			return "number too large";
		v = (long long)mag;
	}
	if (v < min)
		return "number too small";
	if (v > max)
		return "number too large";
	*out = v;
	return NULL;
}

/* str_parse_size - "1048576", "512K", "10M", "1g", "1T" (powers of 1024) */
const char *
str_parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
	unsigned long long	 v, mult = 1;
	const char		*err;

	if (s == NULL || *s == '\0')
		return "empty size";
	if ((err = parse_digits(&s, &v)) != NULL)
		return err;
	switch (ascii_lower((unsigned char)*s)) {
	case '\0':
		break;
	case 'k':
		mult = 1024ULL;
		s++;
		break;
	case 'm':
		mult = 1024ULL * 1024;
		s++;
		break;
	case 'g':
		mult = 1024ULL * 1024 * 1024;
		s++;
		break;
	case 't':
		mult = 1024ULL * 1024 * 1024 * 1024;
		s++;
		break;
	default:
		return "bad size suffix (use K, M, G or T)";
	}
	if (*s != '\0')
		return "trailing garbage after size";
	if (v > ULLONG_MAX / mult)
		return "size too large";
	v *= mult;
	if (v > max)
		return "size too large";
	*out = v;
	return NULL;
}

/* str_parse_duration - "30", "30s", "5m", "1h", "5d" into seconds */
const char *
str_parse_duration(const char *s, unsigned max, unsigned *out)
{
	unsigned long long	 v, mult = 1;
	const char		*err;

	if (s == NULL || *s == '\0')
		return "empty duration";
	if ((err = parse_digits(&s, &v)) != NULL)
		return err;
	switch (ascii_lower((unsigned char)*s)) {
	case '\0':
		break;
	case 's':
		s++;
		break;
	case 'm':
		mult = 60;
		s++;
		break;
	case 'h':
		mult = 3600;
		s++;
		break;
	case 'd':
		mult = 86400;
		s++;
		break;
	default:
		return "bad duration suffix (use s, m, h or d)";
	}
	if (*s != '\0')
		return "trailing garbage after duration";
	if (v > ULLONG_MAX / mult || v * mult > max)
		return "duration too large";
	*out = (unsigned)(v * mult);
	return NULL;
}

/* str_parse_bool - yes/no, true/false, on/off in any case */
const char *
str_parse_bool(const char *s, int *out)
{
	if (s == NULL)
		return "empty boolean";
	if (str_ieq(s, "yes") || str_ieq(s, "true") || str_ieq(s, "on")) {
		*out = 1;
		return NULL;
	}
	if (str_ieq(s, "no") || str_ieq(s, "false") || str_ieq(s, "off")) {
		*out = 0;
		return NULL;
	}
	return "not a boolean (use yes or no)";
}

/* str_trim - strip leading and trailing blanks in place */
char *
str_trim(char *s)
{
	size_t	 n;

	while (ascii_blank((unsigned char)*s))
		s++;
	n = strlen(s);
	while (n > 0 && ascii_blank((unsigned char)s[n - 1]))
		n--;
	s[n] = '\0';
	return s;
}

/* str_split_list - "a, b ,c" into trimmed items; count or -1 */
int
str_split_list(char *s, char **items, int max)
{
	char	*p, *comma;
	int	 n = 0;

	for (p = s;; p = comma + 1) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma = '\0';
		p = str_trim(p);
		/*
		 * "a,,b" or a trailing comma is almost certainly a typo in
		 * an address list; silently dropping the item could widen
		 * or narrow an ACL, so the whole list is refused.
		 */
		if (*p == '\0' || n >= max)
			return -1;
		items[n++] = p;
		if (comma == NULL)
			break;
	}
	return n;
}

/* str_hex16 - see str.h; reads 16 octets at most, stops at the first bad */
int
str_hex16(const char *s, uint64_t *v)
{
	uint64_t	x = 0;
	int		i;

	for (i = 0; i < 16; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			x = x << 4 | (uint64_t)(s[i] - '0');
		else if (s[i] >= 'a' && s[i] <= 'f')
			x = x << 4 | (uint64_t)(s[i] - 'a' + 10);
		else
			return -1;
	}
	*v = x;
	return 0;
}

/* str_ieq - ASCII case-insensitive equality */
int
str_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower((unsigned char)*a) !=
		    ascii_lower((unsigned char)*b))
			return 0;
	return *a == *b;
}

/* str_iprefix - pointer past prefix if s starts with it (any case) */
const char *
str_iprefix(const char *s, const char *prefix)
{
	for (; *prefix != '\0'; s++, prefix++)
		if (ascii_lower((unsigned char)*s) !=
		    ascii_lower((unsigned char)*prefix))
			return NULL;
	return s;
}

/*
 * str_vis - escape src for a log line (\\, \", \xNN for the rest outside
 * printable ASCII), truncating with "..."
 */
char *
str_vis(char *dst, size_t dstlen, const char *src, size_t srclen)
{
	static const char	 hex[] = "0123456789abcdef";
	static const char	 dots[] = "...";
	size_t			 i, need = 0, avail, pos = 0;
	unsigned char		 c;

	if (dstlen == 0)
		return dst;
	for (i = 0; i < srclen; i++) {
		c = (unsigned char)src[i];
		need += (c == '\\' || c == '"') ? 2 :
		    (c >= 0x20 && c < 0x7f) ? 1 : 4;
	}
	/*
	 * Decide up front whether the "..." marker is needed, so that an
	 * escape sequence is never cut in half: a half "\x0" would read as
	 * a different byte.
	 */
	avail = dstlen - 1;
	if (need > avail)
		avail = avail > 3 ? avail - 3 : 0;
	for (i = 0; i < srclen; i++) {
		c = (unsigned char)src[i];
		if (c == '\\' || c == '"') {
			/* '"' too: peer text sits in key="..." fields */
			if (pos + 2 > avail)
				break;
			dst[pos++] = '\\';
			dst[pos++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			if (pos + 1 > avail)
				break;
			dst[pos++] = (char)c;
		} else {
			if (pos + 4 > avail)
				break;
			dst[pos++] = '\\';
			dst[pos++] = 'x';
			dst[pos++] = hex[c >> 4];
			dst[pos++] = hex[c & 0xf];
		}
	}
	if (need > dstlen - 1)
		for (i = 0; i < 3 && pos < dstlen - 1; i++)
			dst[pos++] = dots[i];
	dst[pos] = '\0';
	return dst;
}
