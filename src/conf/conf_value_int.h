/*
 * conf_value_int - what conf_value.c and conf_value_tls.c share; not for
 * use outside the two.  Each parser returns 0, or -1 with the reason in
 * why (without the value: key_parse puts it in front).
 */
#ifndef GW_CONF_VALUE_INT_H
#define GW_CONF_VALUE_INT_H

#include <stddef.h>

struct conf_key;

/* conf_value.c */
/* cval_unreadable - access(2) just failed: why names the user we run as */
int	cval_unreadable(char *why, size_t wlen);
/* cval_split - a comma list into items, held in copy: the count, or -1 */
int	cval_split(const char *val, char *copy, size_t copylen, char **items,
	    int max, char *why, size_t wlen);

/* conf_value_tls.c */
int	cval_cafile(const char *val, char *why, size_t wlen);
int	cval_pins(const struct conf_key *, void *base, const char *val,
	    char *why, size_t wlen);
int	cval_ciphers(const struct conf_key *, void *base, const char *val,
	    char *why, size_t wlen);
int	cval_tlsver(const char *val, int *out, char *why, size_t wlen);

#endif
