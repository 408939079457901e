/*
 * conf_value - the value parsers' helpers that conf.c's reader shares
 * (conf_key_parse itself is in conf_keys.h).
 */
#ifndef GW_CONF_VALUE_H
#define GW_CONF_VALUE_H

#include <stddef.h>

/* conf_quote - a value for an error message, escaped (it may be junk) */
const char *conf_quote(char *, size_t, const char *);
/* conf_name_ok - section and user names: a safe, printable alphabet */
int	conf_name_ok(const char *);
/* conf_fmt_duration - seconds as the shortest "90s", "5m", "2h", "1d" */
void	conf_fmt_duration(char *, size_t, unsigned long long);

#endif
