/*
 * conf_value.c - one key's value, from text into its field: the typed
 * parsers behind conf_key_parse() (sizes, durations, words, lists, host
 * and port, paths, names; the TLS values in conf_value_tls.c), for a
 * value from the file and for a default alike.  No file or section
 * state: conf.c reads the file and calls in here per key.
 */
#include <sys/un.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_files.h"
#include "conf/conf_hint.h"
#include "conf/conf_keys.h"
#include "conf/conf_table.h"
#include "conf/conf_value.h"
#include "conf/conf_value_int.h"
#include "relay/route.h"
#include "util/log.h"
#include "util/str.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define WHY_MAX		(CONF_TEXT_MAX + PATH_MAX + 256)
#define LINE_BUF	1024		/* as conf.c's line buffer */

/* enum fields are written as int: make sure that is their size */
_Static_assert(sizeof(enum tls_mode) == sizeof(int), "enum tls_mode size");
_Static_assert(sizeof(enum bare_newline) == sizeof(int),
    "enum bare_newline size");
_Static_assert(sizeof(enum long_lines) == sizeof(int),
    "enum long_lines size");
_Static_assert(sizeof(enum eight_bit) == sizeof(int), "enum eight_bit size");
_Static_assert(sizeof(enum crl_check) == sizeof(int), "enum crl_check size");
_Static_assert(sizeof(enum ocsp_mode) == sizeof(int), "enum ocsp_mode size");
_Static_assert(sizeof(enum auth_mode) == sizeof(int), "enum auth_mode size");
_Static_assert(sizeof(enum ocsp_stapling) == sizeof(int),
    "enum ocsp_stapling size");
_Static_assert(sizeof(enum pop_tls_mode) == sizeof(int),
    "enum pop_tls_mode size");

static const char *host_check(const char *);
static void	 fmt_size(char *, size_t, unsigned long long);
static int	 store_text(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_proxy(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_hostport(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_list(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_path(const char *, int, const char *, char *, size_t);
static int	 port_in_host(const struct conf_key *, const char *, char *,
		    size_t);
static int	 secret_mode_ok(const char *, char *, size_t);
static const struct conf_word *word_find(const struct conf_key *,
		    const char *);
static int	 parse_words(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_canon(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_names(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_identity(const char *, char *, size_t);
static int	 parse_ranged(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 parse_scalar(const struct conf_key *, void *, const char *,
		    char *, size_t);
static int	 key_parse(const struct conf_key *, void *, const char *,
		    char *, size_t);

/* a value in an error message: escaped, because it may be binary junk */
const char *
conf_quote(char *buf, size_t len, const char *s)
{
	return str_vis(buf, len, s, strlen(s));
}

/* section names and user names: a safe, printable alphabet */
int
conf_name_ok(const char *s)
{
	const char	*c;

	if (*s == '\0')
		return 0;
	for (c = s; *c != '\0'; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' ||
		    *c == '-'))
			return 0;
	return 1;
}

/*
 * A host name goes into EHLO, DNS queries and certificate name checks;
 * accept only what those accept: RFC 1123 labels, or an IP address.
 */
static const char *
host_check(const char *s)
{
	struct in6_addr	 in6;
	struct in_addr	 in4;
	const char	*c, *label;

	if (*s == '\0')
		return "empty host name";
	if (strchr(s, ':') != NULL)
		return inet_pton(AF_INET6, s, &in6) == 1 ? NULL :
		    "not a host name or IPv6 address";
	if (strlen(s) > 253)
		return "host name longer than 253 characters";
	for (label = c = s;; c++) {
		if (*c == '.' || *c == '\0') {
			if (c == label)
				return "empty label in host name";
			if (c - label > 63)
				return "label longer than 63 characters";
			if (*label == '-' || c[-1] == '-')
				return "label starts or ends with '-'";
			if (*c == '\0')
				break;
			label = c + 1;
		} else if (!((*c >= 'a' && *c <= 'z') ||
		    (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		    *c == '-'))
			return "invalid character in host name";
	}
	/*
	 * A last label of digits only is no DNS name (RFC 3696 section 2):
	 * "127.1" or "10.0.0.010" is an address inet_pton() refuses, which
	 * the resolver would look up as a name and the host-name check
	 * never matches (tls_name.c).
	 */
	if (strspn(label, "0123456789") == strlen(label) &&
	    inet_pton(AF_INET, s, &in4) != 1)
		return "not a host name (its last label is all digits) nor an "
		    "IPv4 address in dotted-quad form (like 192.0.2.1)";
	return NULL;
}

/* sizes and durations in bound messages, as a user would write them */
static void
fmt_size(char *buf, size_t len, unsigned long long v)
{
	if (v != 0 && v % (GB * KB) == 0)
		(void)snprintf(buf, len, "%lluT", v / (GB * KB));
	else if (v != 0 && v % GB == 0)
		(void)snprintf(buf, len, "%lluG", v / GB);
	else if (v != 0 && v % (1024 * KB) == 0)
		(void)snprintf(buf, len, "%lluM", v / (1024 * KB));
	else if (v != 0 && v % KB == 0)
		(void)snprintf(buf, len, "%lluK", v / KB);
	else
		(void)snprintf(buf, len, "%llu", v);
}

void
conf_fmt_duration(char *buf, size_t len, unsigned long long v)
{
	if (v != 0 && v % 86400 == 0)
		(void)snprintf(buf, len, "%llud", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		(void)snprintf(buf, len, "%lluh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		(void)snprintf(buf, len, "%llum", v / 60);
	else
		(void)snprintf(buf, len, "%llus", v);
}

/* string types: check the alphabet, then copy whole or not at all */
static int
store_text(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	const unsigned char	*c;
	const char		*e = NULL;

	if (*val == '\0' && !k->empty_ok) {
		(void)snprintf(why, wlen, "empty value");
		return -1;
	}
	for (c = (const unsigned char *)val; *c != '\0'; c++) {
		/* control characters would end up in logs and replies */
		if (*c < 0x20 || *c == 0x7f)
			e = "control characters are not allowed";
		else if (k->type == KT_BANNER && *c > 0x7e)
			e = "only printable ASCII is allowed";
	}
	if (e == NULL && k->type == KT_NAME && *val != '\0' && !conf_name_ok(val))
		e = "only letters, digits, '_', '.' and '-' are allowed";
	if (e == NULL && (k->type == KT_HOST || k->type == KT_DOMAIN))
		e = host_check(val);
	if (e != NULL && k->type == KT_HOST && port_in_host(k, val, why, wlen))
		return -1;
	/* a DKIM domain or selector is looked up in DNS: no address */
	if (e == NULL && k->type == KT_DOMAIN &&
	    (strspn(val, "0123456789.") == strlen(val) ||
	    strchr(val, ':') != NULL))
		e = "an IP address is not a DNS name";
	if (e == NULL && k->type == KT_IDENTITY && *val != '\0' &&
	    parse_identity(val, why, wlen) == -1)
		return -1;
	if (e == NULL && k->type == KT_CAFILE && strcmp(val, "system") != 0 &&
	    strcmp(val, "none") != 0 && cval_cafile(val, why, wlen) == -1)
		return -1;
	/* queue_dir: the gateway makes it, so it need not exist yet */
	if (e == NULL && k->type == KT_PATH && *val != '\0' && *val != '/')
		e = "must be an absolute path";
	/* its control socket, DIR/control, must fit a Unix socket's name */
	if (e == NULL && k->type == KT_PATH && strlen(val) +
	    sizeof("/control") > sizeof(((struct sockaddr_un *)0)->sun_path))
		e = "too long: DIR/control must fit a socket's 107 octets";
	if (e == NULL && (k->type == KT_FILE || k->type == KT_DIR ||
	    k->type == KT_SECRET) && *val != '\0' &&
	    parse_path(val, k->type == KT_DIR, strcmp(k->name, "crl_file") ==
	    0 ? "crl_path" : NULL, why, wlen) == -1)
		return -1;
	if (e != NULL) {
		(void)snprintf(why, wlen, "%s", e);
		return -1;
	}
	if (str_copy((char *)base + k->off, val, k->size) == -1) {
		(void)snprintf(why, wlen, "longer than %zu characters",
		    k->size - 1);
		return -1;
	}
	/* DNS names compare in any case; one spelling makes matching simple */
	if (k->type == KT_DOMAIN) {
		char	*d;

		for (d = (char *)base + k->off; *d != '\0'; d++)
			if (*d >= 'A' && *d <= 'Z')
				*d = (char)(*d - 'A' + 'a');
	}
	return 0;
}

/*
 * "host = smtp.example.com:587" is the commonest slip: say where the port
 * goes instead of "not a host name".  1 with why set if val is HOST:PORT.
 */
static int
port_in_host(const struct conf_key *k, const char *val, char *why,
    size_t wlen)
{
	struct hostport	 hp;

	if (addr_parse_hostport(val, &hp) != NULL || host_check(hp.host) != NULL)
		return 0;
	if (strcmp(k->name, "host") == 0)
		(void)snprintf(why, wlen, "a port does not go in host; write "
		    "host = %s and port = %u", hp.host, hp.port);
	else
		(void)snprintf(why, wlen, "a port does not go in %s; write "
		    "%s = %s", k->name, k->name, hp.host);
	return 1;
}

/*
 * identity (DKIM i=): "[local-part]@domain".  Whether the domain is the
 * section's domain or under it is checked by conf_check, once both are known.
 */
static int
parse_identity(const char *val, char *why, size_t wlen)
{
	const char	*at, *c, *e;

	if ((at = strrchr(val, '@')) == NULL) {
		(void)snprintf(why, wlen, "must be [local-part]@domain");
		return -1;
	}
	for (c = val; c < at; c++)
		/* RFC 5322 dot-atom text: no quoting, no blanks */
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~.", *c) != NULL)) {
			(void)snprintf(why, wlen, "local part: only letters, "
			    "digits, '.' and !#$%%&'*+-/=?^_`{|}~ are allowed");
			return -1;
		}
	if ((e = host_check(at + 1)) != NULL || strchr(at + 1, ':') != NULL) {
		(void)snprintf(why, wlen, "domain: %s",
		    e != NULL ? e : "not a DNS name");
		return -1;
	}
	return 0;
}

/*
 * DKIM canonicalization: "header/body", or one word for the header with
 * "simple" for the body (RFC 6376 3.5, c=).
 */
static int
parse_canon(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	static const char *const names[] = { "simple", "relaxed" };
	const char	*slash = strchr(val, '/');
	char		 part[2][16];
	int		 c[2], i, j;

	c[1] = CONF_CANON_SIMPLE;
	if (slash == NULL) {
		if (str_copy(part[0], val, sizeof(part[0])) == -1)
			goto bad;
	} else if ((size_t)(slash - val) >= sizeof(part[0]) ||
	    str_copy(part[1], slash + 1, sizeof(part[1])) == -1)
		goto bad;
	else {
		memcpy(part[0], val, (size_t)(slash - val));
		part[0][slash - val] = '\0';
	}
	for (i = 0; i < (slash == NULL ? 1 : 2); i++) {
		for (j = 0; j < 2; j++)
			if (str_ieq(part[i], names[j]))
				break;
		if (j == 2)
			goto bad;
		c[i] = j == 0 ? CONF_CANON_SIMPLE : CONF_CANON_RELAXED;
	}
	memcpy((char *)base + k->off, c, sizeof(c));
	return 0;
bad:
	(void)snprintf(why, wlen, "must be simple, relaxed, or HEADER/BODY "
	    "with each simple or relaxed");
	return -1;
}

/* conf_names_width - see conf_keys.h */
size_t
conf_names_width(enum key_type t)
{
	if (t == KT_NAMES)
		return CONF_NAME_MAX;
	if (t == KT_SENDERS)
		return CONF_ADDR_MAX;
	return CONF_HDR_NAME_MAX;
}

/*
 * headers, oversign (header field names), a listener's dkim and upstream
 * (section names) and a route's sender (patterns): comma lists of
 * distinct items into a char[][] and its count.
 */
static int
parse_names(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	/* the longest of the lists this parses */
	enum { LIST_MAX = CONF_DKIM_HEADERS > CONF_ROUTE_SENDERS ?
	    CONF_DKIM_HEADERS : CONF_ROUTE_SENDERS };
	char		 copy[LINE_BUF], q[64], *items[LIST_MAX + 1];
	const char	*c, *e;
	size_t		 n, width = conf_names_width(k->type);
	char		*dst = (char *)base + k->off;
	int		 i, j, count;

	if ((count = cval_split(val, copy, sizeof(copy), items,
	    (int)nitems(items), why, wlen)) == -1)
		return -1;
	if ((unsigned long long)count > k->max) {
		(void)snprintf(why, wlen, "more than %llu items", k->max);
		return -1;
	}
	if ((unsigned long long)count < k->min) {
		(void)snprintf(why, wlen, "empty list");
		return -1;
	}
	for (i = 0; i < count; i++) {
		(void)conf_quote(q, sizeof(q), items[i]);
		if (k->type == KT_NAMES && !conf_name_ok(items[i])) {
			(void)snprintf(why, wlen, "\"%s\": not a section name",
			    q);
			return -1;
		}
		/* an address as it comes in MAIL FROM: printable ASCII */
		for (c = items[i]; k->type == KT_SENDERS && *c != '\0'; c++)
			if (*c < 33 || *c > 126) {
				(void)snprintf(why, wlen, "\"%s\": only "
				    "printable ASCII without blanks", q);
				return -1;
			}
		if (k->type == KT_SENDERS &&
		    (e = route_pattern_ok(items[i])) != NULL) {
			(void)snprintf(why, wlen, "\"%s\": %s", q, e);
			return -1;
		}
		/* RFC 5322 2.2: printable ASCII but ':' */
		for (c = items[i]; k->type == KT_HDRLIST && *c != '\0'; c++)
			if (*c < 33 || *c > 126 || *c == ':') {
				(void)snprintf(why, wlen, "\"%s\": not a "
				    "header field name", q);
				return -1;
			}
		if (strlen(items[i]) >= width) {
			(void)snprintf(why, wlen, "\"%s\": longer than %zu "
			    "characters", q, width - 1);
			return -1;
		}
		for (j = 0; j < i; j++)
			if (str_ieq(items[j], items[i])) {
				(void)snprintf(why, wlen, "\"%s\": listed "
				    "twice", q);
				return -1;
			}
	}
	for (i = 0; i < count; i++)
		(void)str_copy(dst + (size_t)i * width, items[i], width);
	n = (size_t)count;
	memcpy((char *)base + k->noff, &n, sizeof(n));
	return 0;
}

/*
 * access(2) failed: on SIGHUP we run as [gateway] user, so name the user,
 * as conf_files_check() does at start and for -t.
 */
int
cval_unreadable(char *why, size_t wlen)
{
	char	 me[64];
	int	 e = errno;

	(void)snprintf(why, wlen, "not readable by user %s (%s)",
	    conf_self_name(me, sizeof(me)), strerror(e));
	return -1;
}

/*
 * Certificate, key, CRL and password files and directories: named here,
 * read by tls_ctx; checked now for the same reason as ca_file.
 */
static int
parse_path(const char *val, int dir, const char *dirkey, char *why,
    size_t wlen)
{
	struct stat	 st;

	if (val[0] != '/') {
		(void)snprintf(why, wlen, "must be an absolute path");
		return -1;
	}
	if (stat(val, &st) == -1) {
		(void)snprintf(why, wlen, "%s", strerror(errno));
		return -1;
	}
	if (dir && !S_ISDIR(st.st_mode)) {
		(void)snprintf(why, wlen, "not a directory");
		return -1;
	}
	if (!dir && S_ISDIR(st.st_mode) && dirkey != NULL) {
		(void)snprintf(why, wlen, "a directory; use %s = %s for a "
		    "directory", dirkey, val);
		return -1;
	}
	if (!dir && !S_ISREG(st.st_mode)) {
		(void)snprintf(why, wlen, "not a regular file");
		return -1;
	}
	if (access(val, R_OK | (dir ? X_OK : 0)) == -1)
		return cval_unreadable(why, wlen);
	return 0;
}

/*
 * Password and token files: a copy others can read is a leaked secret, and
 * one others can write lets them choose what we send.  Refused, with the
 * fix in the message, rather than silently tolerated.
 */
static int
secret_mode_ok(const char *val, char *why, size_t wlen)
{
	struct stat	 st;

	if (stat(val, &st) == -1) {
		(void)snprintf(why, wlen, "%s: %s", val, strerror(errno));
		return 0;
	}
	if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
		(void)snprintf(why, wlen, "%s is readable by group or others; "
		    "chmod 600 %s", val, val);
		return 0;
	}
	if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		(void)snprintf(why, wlen, "%s is writable by group or others; "
		    "chmod 600 %s", val, val);
		return 0;
	}
	return 1;
}

/*
 * cval_split - a comma list into items, held in copy; "" is no items.
 * Returns the count, or -1 with why set.
 */
int
cval_split(const char *val, char *copy, size_t copylen, char **items,
    int max, char *why, size_t wlen)
{
	int	 count;

	if (*val == '\0')
		return 0;
	if (str_copy(copy, val, copylen) == -1) {
		(void)snprintf(why, wlen, "list too long");
		return -1;
	}
	if ((count = str_split_list(copy, items, max)) == -1) {
		(void)snprintf(why, wlen, "empty item in list");
		return -1;
	}
	return count;
}

/* a word of k->words, any case; NULL if none */
static const struct conf_word *
word_find(const struct conf_key *k, const char *s)
{
	const struct conf_word	*w;

	for (w = k->words; w->word != NULL; w++)
		if (str_ieq(s, w->word))
			return w;
	return NULL;
}

/*
 * accept (a set of bits) and curves (an ordered list): comma lists of the
 * key's words.  An unknown word refuses the whole list: a typo in accept
 * must not quietly accept less or more than was meant.
 */
static int
parse_words(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	const struct conf_word	*w;
	char			 copy[CONF_TEXT_MAX], q[64], *items[16];
	unsigned		 bits = 0;
	int			 i, j, count, vals[16];
	size_t			 n;

	if ((count = cval_split(val, copy, sizeof(copy), items,
	    (int)nitems(items), why, wlen)) == -1)
		return -1;
	for (i = 0; i < count; i++) {
		if ((w = word_find(k, items[i])) == NULL) {
			(void)snprintf(why, wlen, "\"%s\": not one of",
			    conf_quote(q, sizeof(q), items[i]));
			for (w = k->words; w->word != NULL; w++) {
				/* aliases map to a value listed before */
				for (j = 0; &k->words[j] < w; j++)
					if (k->words[j].value == w->value)
						break;
				if (&k->words[j] != w)
					continue;
				n = strlen(why);
				(void)snprintf(why + n, wlen - n, "%s %s",
				    w == k->words ? "" : ",", w->word);
			}
			return -1;
		}
		vals[i] = w->value;
		bits |= (unsigned)w->value;
		for (j = 0; j < i; j++)
			if (vals[j] == vals[i]) {
				(void)snprintf(why, wlen, "\"%s\": listed twice",
				    conf_quote(q, sizeof(q), items[i]));
				return -1;
			}
	}
	if (k->type == KT_FLAGS) {
		memcpy((char *)base + k->off, &bits, sizeof(bits));
		return 0;
	}
	if ((unsigned long long)count > k->max) {
		(void)snprintf(why, wlen, "more than %llu items", k->max);
		return -1;
	}
	memcpy((char *)base + k->off, vals, (size_t)count * sizeof(int));
	n = (size_t)count;
	memcpy((char *)base + k->noff, &n, sizeof(n));
	return 0;
}

/* listen and allow: comma lists into a fixed array and its count */
static int
parse_list(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	char		 copy[CONF_TEXT_MAX * 4], q[64], *items[128];
	struct hostport	*hp = (struct hostport *)((char *)base + k->off);
	struct cidr	*cidr = (struct cidr *)((char *)base + k->off);
	struct in6_addr	 a6;
	struct in_addr	 a4;
	const char	*e;
	size_t		 n;
	int		 i, j, count;

	if (str_copy(copy, val, sizeof(copy)) == -1) {
		(void)snprintf(why, wlen, "list too long");
		return -1;
	}
	/* proxy_from may be empty (the default); allow and listen may not */
	if (k->min == 0 && *str_trim(copy) == '\0') {
		n = 0;
		memcpy((char *)base + k->noff, &n, sizeof(n));
		return 0;
	}
	if ((count = str_split_list(copy, items, (int)nitems(items))) == -1) {
		(void)snprintf(why, wlen, "empty item in list");
		return -1;
	}
	if ((unsigned long long)count > k->max) {
		(void)snprintf(why, wlen, "more than %llu items", k->max);
		return -1;
	}
	for (i = 0; i < count; i++) {
		if (k->type == KT_LISTEN) {
			e = addr_parse_hostport(items[i], &hp[i]);
			/* binding a name would need DNS before the loop runs */
			if (e == NULL &&
			    inet_pton(AF_INET, hp[i].host, &a4) != 1 &&
			    inet_pton(AF_INET6, hp[i].host, &a6) != 1)
				e = "not a numeric IPv4 or [IPv6] address";
			for (j = 0; e == NULL && j < i; j++)
				if (hp[j].port == hp[i].port &&
				    strcmp(hp[j].host, hp[i].host) == 0)
					e = "listed twice";
		} else
			e = cidr_parse(items[i], &cidr[i]);
		if (e != NULL) {
			(void)snprintf(why, wlen, "\"%s\": %s",
			    conf_quote(q, sizeof(q), items[i]), e);
			return -1;
		}
	}
	n = (size_t)count;
	memcpy((char *)base + k->noff, &n, sizeof(n));
	return 0;
}

/* pop_before_smtp: "" (off) or one HOST:PORT, looked up when used */
static int
parse_hostport(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	struct hostport	 hp;
	const char	*e;

	memset(&hp, 0, sizeof(hp));
	if (*val != '\0') {
		if ((e = addr_parse_hostport(val, &hp)) == NULL)
			e = host_check(hp.host);
		if (e != NULL) {
			(void)snprintf(why, wlen, "%s", e);
			return -1;
		}
	}
	memcpy((char *)base + k->off, &hp, sizeof(hp));
	return 0;
}

/* proxy: "" (none) or socks5:// or http://[user@]host:port */
static int
parse_proxy(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	struct proxy_url	 p;
	const char		*e;

	if ((e = proxyurl_parse(val, &p)) == NULL && p.kind != PROXY_NONE)
		e = host_check(p.host);
	if (e != NULL) {
		(void)snprintf(why, wlen, "%s", e);
		return -1;
	}
	memcpy((char *)base + k->off, &p, sizeof(p));
	return 0;
}

/*
 * parse_ranged - a number with a unit and a range (KT_UINT, KT_SIZE,
 * KT_DURATION): the range is said in the key's own unit
 */
static int
parse_ranged(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	unsigned long long	 ull = 0;
	long long		 ll;
	unsigned		 u = 0;
	char			 lo[32], hi[32];
	const char		*e = NULL;

	switch (k->type) {
	case KT_UINT:
		if ((e = str_tonum(val, 0, LLONG_MAX, &ll)) != NULL)
			break;
		if ((unsigned long long)ll < k->min ||
		    (unsigned long long)ll > k->max) {
			(void)snprintf(why, wlen,
			    "must be between %llu and %llu", k->min, k->max);
			return -1;
		}
		u = (unsigned)ll;
		memcpy((char *)base + k->off, &u, sizeof(u));
		return 0;
	case KT_SIZE:
		if ((e = str_parse_size(val, ULLONG_MAX, &ull)) != NULL)
			break;
		if (ull < k->min || ull > k->max) {
			fmt_size(lo, sizeof(lo), k->min);
			fmt_size(hi, sizeof(hi), k->max);
			(void)snprintf(why, wlen, "must be between %s and %s",
			    lo, hi);
			return -1;
		}
		memcpy((char *)base + k->off, &ull, sizeof(ull));
		return 0;
	case KT_DURATION:
		if ((e = str_parse_duration(val, UINT_MAX, &u)) != NULL)
			break;
		if (u < k->min || u > k->max) {
			conf_fmt_duration(lo, sizeof(lo), k->min);
			conf_fmt_duration(hi, sizeof(hi), k->max);
			(void)snprintf(why, wlen, "must be between %s and %s",
			    lo, hi);
			return -1;
		}
		memcpy((char *)base + k->off, &u, sizeof(u));
		return 0;
	default:
		fatalx("conf: key %s: type %d has no range", k->name,
		    (int)k->type);
	}
	(void)snprintf(why, wlen, "%s", e);
	return -1;
}

/*
 * parse_scalar - the numbers, durations, sizes, rates, booleans and the
 * enumerated words: the value into its field at k->off (int, unsigned,
 * unsigned long long or struct rate, by type)
 */
static int
parse_scalar(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	const struct conf_word	*w;
	unsigned		 u = 0;
	struct rate		 rate;
	const char		*e = NULL;
	int			 iv = 0, len;

	switch (k->type) {
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
		return parse_ranged(k, base, val, why, wlen);
	case KT_RATE:
		if ((e = ratelimit_parse(val, &rate)) != NULL)
			break;
		memcpy((char *)base + k->off, &rate, sizeof(rate));
		return 0;
	case KT_LOGFAC:
		if ((e = log_facilities_parse(val, &u)) != NULL)
			break;
		memcpy((char *)base + k->off, &u, sizeof(u));
		return 0;
	case KT_BOOL:
	case KT_NBOOL:
		e = str_parse_bool(val, &iv);
		if (e == NULL && k->type == KT_NBOOL)
			iv = !iv;
		goto store_int;
	case KT_LOGLEVEL:
		if (log_level_parse(val, &iv) != NULL)
			e = "must be one of error, warning, info, debug";
		goto store_int;
	case KT_TLSVER:
		if (cval_tlsver(val, &iv, why, wlen) == -1)
			return -1;
		goto store_int;
	case KT_ENUM:
		for (w = k->words; w->word != NULL; w++)
			if (str_ieq(val, w->word))
				break;
		if (w->word == NULL) {
			len = snprintf(why, wlen, "must be one of");
			for (w = k->words; w->word != NULL && len > 0 &&
			    (size_t)len < wlen; w++)
				len += snprintf(why + len, wlen - (size_t)len,
				    "%s %s", w == k->words ? "" : ",", w->word);
			return -1;
		}
		iv = w->value;
	store_int:
		if (e != NULL)
			break;
		memcpy((char *)base + k->off, &iv, sizeof(iv));
		return 0;
	default:
		fatalx("conf: key %s: type %d is not a scalar", k->name,
		    (int)k->type);
	}
	(void)snprintf(why, wlen, "%s", e);
	return -1;
}

/*
 * key_parse - the one path from text to field, for file values and
 * defaults alike, by type.  On error, why holds the text after "key: ".
 */
static int
key_parse(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	char	 reason[WHY_MAX - 128], v[64];

	switch (k->type) {
	case KT_BANNER:
	case KT_NAME:
	case KT_HOST:
	case KT_CAFILE:
	case KT_FILE:
	case KT_DIR:
	case KT_DOMAIN:
	case KT_IDENTITY:
	case KT_PATH:
		if (store_text(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_CANON:
		if (parse_canon(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_HDRLIST:
	case KT_NAMES:
	case KT_SENDERS:
		if (parse_names(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_SECRET:
		if (store_text(k, base, val, why, wlen) == -1)
			goto bad;
		/* the message names the path itself: no "value": prefix */
		if (*val != '\0' && !secret_mode_ok(val, why, wlen))
			return -1;
		return 0;
	case KT_MECHS:
		/* "all": no list, the choice then follows the secret */
		if (str_ieq(val, "all")) {
			memset((char *)base + k->noff, 0, sizeof(size_t));
			return 0;
		}
		if (*val == '\0') {
			(void)snprintf(why, wlen, "empty value");
			goto bad;
		}
		/* FALLTHROUGH */
	case KT_FLAGS:
	case KT_CURVES:
		if (parse_words(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_PINS:
		if (cval_pins(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_CIPHERS12:
	case KT_CIPHERS13:
		if (cval_ciphers(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_LISTEN:
	case KT_CIDRS:
		return parse_list(k, base, val, why, wlen);
	case KT_HOSTPORT:
		if (parse_hostport(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	case KT_PROXY:
		if (parse_proxy(k, base, val, why, wlen) == 0)
			return 0;
		/* "user:password@": a password must not reach the log */
		if (strchr(val, '@') != NULL)
			return -1;
		goto bad;
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
	case KT_RATE:
	case KT_LOGFAC:
	case KT_BOOL:
	case KT_NBOOL:
	case KT_LOGLEVEL:
	case KT_TLSVER:
	case KT_ENUM:
		if (parse_scalar(k, base, val, why, wlen) == 0)
			return 0;
		goto bad;
	}
bad:
	/* "key: "value": why" reads best; prefix the value here */
	(void)snprintf(reason, sizeof(reason), "%s", why);
	(void)snprintf(why, wlen, "\"%s\": %s", conf_quote(v, sizeof(v), val),
	    reason);
	return -1;
}

/* conf_key_parse - see conf_keys.h */
int
conf_key_parse(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	return key_parse(k, base, val, why, wlen);
}
