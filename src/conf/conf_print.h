/*
 * conf_print - "smtpgate -n": the effective configuration, every section
 * and every key with its value, as postconf(1) shows Postfix's.
 *
 * Contract: driven by the key table (conf_keys.h), so a key added there
 * prints with no code here unless it brings a new value type.  The text
 * loads again to the same configuration and prints the same.  A value
 * equal to the key's default (derived defaults included) is followed by
 * "  ; default" (';' is the comment inih ends a value at).  Nothing is
 * opened: file keys (password_file, tls_key, key_file, ...) are paths in
 * the snapshot, and a secret's contents never reach this code.
 */
#ifndef GW_CONF_PRINT_H
#define GW_CONF_PRINT_H

#include <stddef.h>
#include <stdio.h>

#include "conf/conf.h"

#define CONF_PRINT_MARK		"  ; default"

/* conf_print - c as INI text on fp; 0, or -1 with why set */
int	conf_print(const struct gw_conf *c, FILE *fp, char *why, size_t wlen);

#endif
