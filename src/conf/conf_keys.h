/*
 * conf_keys - the key table's row type, shared by the reader (conf.c), the
 * printer of the effective configuration (conf_print.c) and the tests that
 * check the documentation against the table.
 *
 * Contract: conf_keys[] is conf.c's table, read-only; conf_key_parse() is
 * the one path from text to field (file values and defaults alike), and
 * conf_key_default() the text of a key's default for a loaded section,
 * derived defaults included.  Not for the rest of the gateway, which reads
 * struct gw_conf (conf.h).
 */
#ifndef GW_CONF_KEYS_H
#define GW_CONF_KEYS_H

#include <stddef.h>

#include "conf/conf.h"

/*
 * "auto" is kept in the tls field until the whole section is read (the port
 * may come after it) and then resolved; it never leaves conf_load().
 */
#define TLS_AUTO	((int)TLS_IMPLICIT + 1)
/* what "auto" becomes: implicit TLS on 465, STARTTLS on any other port */
#define TLS_AUTO_MODE(port)	((port) == 465 ? TLS_IMPLICIT : TLS_STARTTLS)

enum sec_kind {
	SEC_GATEWAY,
	SEC_LISTENER,
	SEC_UPSTREAM,
	SEC_DKIM,
	SEC_ROUTE
};

enum key_type {
	KT_BANNER,	/* printable ASCII: it goes on the wire */
	KT_NAME,	/* [A-Za-z0-9_.-] */
	KT_HOST,	/* DNS name or IP address */
	KT_CAFILE,	/* "system" or an absolute path to a readable file */
	KT_UINT,
	KT_SIZE,
	KT_DURATION,
	KT_BOOL,
	KT_NBOOL,	/* boolean stored inverted */
	KT_ENUM,
	KT_LOGLEVEL,
	KT_LOGFAC,
	KT_TLSVER,
	KT_LISTEN,	/* list of numeric ADDR:PORT */
	KT_CIDRS,	/* list of CIDR */
	KT_FILE,	/* "" or an absolute path to a readable regular file */
	KT_DIR,		/* "" or an absolute path to a directory */
	KT_FLAGS,	/* list of words, OR-ed into an unsigned */
	KT_PINS,	/* list of base64 SHA-256 digests */
	KT_CIPHERS12,	/* ':'-separated TLS 1.2 cipher names */
	KT_CIPHERS13,	/* ':'-separated TLS 1.3 suite names */
	KT_CURVES,	/* list of curve names, in order */
	KT_MECHS,	/* "all", or a list of SASL mechanisms, in order */
	KT_SECRET,	/* KT_FILE, and no access for group or others */
	KT_HOSTPORT,	/* "" or one HOST:PORT, the host a name or address */
	KT_DOMAIN,	/* DNS name (no address), stored lowercase */
	KT_CANON,	/* DKIM "header/body" canonicalisation: int[2] */
	KT_HDRLIST,	/* list of header field names */
	KT_NAMES,	/* list of section names */
	KT_IDENTITY,	/* DKIM i=: "" or "[local]@domain" */
	KT_RATE,	/* "COUNT/PERIOD" or "off": struct rate */
	KT_SENDERS,	/* list of sender patterns (relay/route.h) */
	KT_PATH,	/* "" or an absolute path, not looked at here */
	KT_PROXY	/* "" or socks5:// / http://[user@]host:port */
};

/* defaults that come from other values, computed once those are known */
enum key_derive {
	DERIVE_NONE,
	DERIVE_SYSHOST,		/* gethostname() */
	DERIVE_GWHOST,		/* [gateway] hostname */
	DERIVE_UPHOST,		/* host of the same [upstream] */
	DERIVE_BANNER		/* "<hostname> ESMTP smtpgate" */
};

struct conf_word {
	const char	*word;
	int		 value;
};

struct conf_key {
	enum sec_kind	 sec;
	const char	*name;
	enum key_type	 type;
	const char	*def;		/* default as file text, or NULL */
	enum key_derive	 derive;	/* DERIVE_NONE and def NULL: required */
	unsigned long long min, max;
	size_t		 off;		/* field in the section's struct */
	size_t		 size;		/* sizeof the field */
	size_t		 noff;		/* lists: the size_t item count */
	const struct conf_word *words;	/* KT_ENUM, NULL-terminated */
	int		 empty_ok;	/* "" is a meaningful value */
};

/* conf_keys, conf_nkeys - the table, in the order of docs and printing */
extern const struct conf_key *const conf_keys;
extern const size_t conf_nkeys;

/*
 * conf_key_parse - text into k's field of base (a section's struct).  0,
 * or -1 with why set (the text after "key: ").
 */
int	conf_key_parse(const struct conf_key *k, void *base, const char *val,
	    char *why, size_t wlen);
/*
 * conf_key_default - the text of k's default in section base of c (derived
 * ones from the values they follow).  1 with buf set; 0 for a required
 * key (no default); -1 when it cannot be derived.
 */
int	conf_key_default(const struct conf_key *k, const struct gw_conf *c,
	    const void *base, char *buf, size_t len);
/*
 * conf_names_width - the width of one item of a KT_NAMES, KT_HDRLIST or
 * KT_SENDERS list field (a char[][width])
 */
size_t	conf_names_width(enum key_type);
/* conf_sec_name - "gateway", "listener", "upstream", "dkim", "route" */
const char *conf_sec_name(enum sec_kind);

#endif
