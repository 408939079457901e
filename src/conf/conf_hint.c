/*
 * conf_hint.c - the fix for an unknown key, when it is a known slip (see
 * conf_hint.h).  conf.c appends it to "KEY: unknown key in [SECTION]".
 */
#include <stddef.h>
#include <string.h>

#include "conf/conf_hint.h"
#include "util/str.h"

/*
 * Keys other software uses for the same thing.  A secret is never a key:
 * the file is often world-readable and its lines reach logs and -t output.
 */
static const struct {
	const char	*kind, *key, *hint;
} hints[] = {
	{ "upstream", "password", "put the password in a file (mode 0600) "
	    "and name it in password_file" },
	{ "upstream", "pass", "put the password in a file (mode 0600) and "
	    "name it in password_file" },
	{ "upstream", "secret", "put the password in a file (mode 0600) and "
	    "name it in password_file" },
	{ "upstream", "token", "use token_file or token_command" },
	{ "upstream", "user", "use username" },
	{ "upstream", "login", "use username" },
	{ "upstream", "server", "use host (and port)" },
	{ "upstream", "hostname", "use host (and port)" },
	{ "upstream", "starttls", "use tls = starttls" },
	{ "upstream", "ssl", "use tls = implicit or tls = starttls" },
	{ "upstream", "cafile", "use ca_file" },
	{ "upstream", "capath", "use ca_path" },
	{ "gateway", "loglevel", "use log_level" },
	{ "listener", "port", "use listen = ADDRESS:PORT" },
	{ "listener", "bind", "use listen = ADDRESS:PORT" },
};

/* conf_key_hint - see conf_hint.h */
const char *
conf_key_hint(const char *kind, const char *key)
{
	size_t	 i;

	for (i = 0; i < sizeof(hints) / sizeof(hints[0]); i++)
		if (strcmp(hints[i].kind, kind) == 0 &&
		    str_ieq(hints[i].key, key))
			return hints[i].hint;
	return NULL;
}
