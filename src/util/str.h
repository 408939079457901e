/*
 * str - string helpers: bounded copies, strict number/size/time/bool
 * parsing, list splitting, escaping for logs.
 *
 * Contract: parsers return NULL on success or a static error string;
 * they never allocate or log.
 */
#ifndef GW_STR_H
#define GW_STR_H

#include <stddef.h>
#include <stdint.h>

/* gw_strlcpy/gw_strlcat - BSD semantics: return the length tried */
size_t	gw_strlcpy(char *dst, const char *src, size_t size);
size_t	gw_strlcat(char *dst, const char *src, size_t size);
/* str_copy - copy; -1 if src does not fit (dst then holds "") */
int	str_copy(char *dst, const char *src, size_t size);

/* str_tonum - decimal integer within [min,max], whole string, no sign games */
const char *str_tonum(const char *s, long long min, long long max, long long *out);
/* str_parse_size - bytes, or with K/M/G/T suffix (powers of 1024), <= max */
const char *str_parse_size(const char *s, unsigned long long max, unsigned long long *out);
/* str_parse_duration - seconds, or with s/m/h/d suffix, <= max seconds */
const char *str_parse_duration(const char *s, unsigned max, unsigned *out);
/* str_parse_bool - yes/no/true/false/on/off (any case) -> 1/0 */
const char *str_parse_bool(const char *s, int *out);

/* str_trim - strip leading and trailing blanks in place; returns start */
char	*str_trim(char *s);
/*
 * str_split_list - split s in place at commas, trimming blanks; empty items
 * are an error.  Returns the count, or -1 if more than max items or an item
 * is empty.
 */
int	str_split_list(char *s, char **items, int max);
/*
 * str_hex16 - the 16 lowercase hex digits at s (ids, lengths; what
 * follows them is the caller's) to *v: 0, or -1 if they are not
 */
int	str_hex16(const char *s, uint64_t *v);
/* str_ieq - ASCII case-insensitive equality */
int	str_ieq(const char *a, const char *b);
/* str_iprefix - if s starts with prefix (any case), pointer past it, else NULL */
const char *str_iprefix(const char *s, const char *prefix);

/*
 * str_vis - escape src for a log line: printable ASCII kept, others as \xNN,
 * backslash as \\.  Always NUL-terminates dst (dstlen > 0); truncates with
 * "..." at the end if needed.  Returns dst.
 */
char	*str_vis(char *dst, size_t dstlen, const char *src, size_t srclen);

#endif
