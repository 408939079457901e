/*
 * conf_table - what the key table (conf_table.c) and its reader (conf.c)
 * share beyond conf_keys.h: size units and the bound on the table's size.
 * Internal to src/conf.
 */
#ifndef GW_CONF_TABLE_H
#define GW_CONF_TABLE_H

#define KB		1024ULL
#define GB		(1024ULL * 1024 * 1024)

/* rows in the table at most: conf.c keeps a line per key and section */
#define CONF_KEYS_MAX	192

#endif
