/*
 * conf_print.c - the effective configuration as INI text (conf_print.h).
 *
 * Each value is formatted back from its field, by the type in the key
 * table, in the form the reader takes; the default is its text parsed
 * into a scratch field by the reader's own conf_key_parse() and formatted
 * the same way, so "default" means "the same value", whatever spelling
 * the file used.
 */
#include <arpa/inet.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_keys.h"
#include "conf/conf_print.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/ratelimit.h"
#include "util/str.h"

/* the longest value: a path, or a list of 32 header names */
#define VAL_MAX		(PATH_MAX + 64)
#define KB		1024ULL

/*
 * inih's longest line, less the "\r\n\0" conf.c's reader keeps room for:
 * a longer printed line would not load again
 */
#define LINE_MAX_LOAD	(INI_MAX_LINE - 3)

/* a bounded output buffer; over is set when something did not fit */
struct out {
	char		*buf;
	size_t		 len;
	size_t		 off;
	int		 over;
	const char	*sep;		/* between list items */
};

static void	 put(struct out *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
put(struct out *o, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	if (o->over)
		return;
	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->off, o->len - o->off, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->len - o->off)
		o->over = 1;
	else
		o->off += (size_t)n;
}

/* the field of k in base, and the item count of a list */
static const void *
field(const struct conf_key *k, const void *base)
{
	return (const char *)base + k->off;
}

static size_t
count(const struct conf_key *k, const void *base)
{
	size_t	 n;

	memcpy(&n, (const char *)base + k->noff, sizeof(n));
	return n;
}

static int
ival(const struct conf_key *k, const void *base)
{
	int	 v;

	memcpy(&v, field(k, base), sizeof(v));
	return v;
}

static unsigned
uval(const struct conf_key *k, const void *base)
{
	unsigned v;

	memcpy(&v, field(k, base), sizeof(v));
	return v;
}

/* the first word of k's list with this value (aliases come after it) */
static const char *
word_of(const struct conf_key *k, int value)
{
	const struct conf_word	*w;

	for (w = k->words; w != NULL && w->word != NULL; w++)
		if (w->value == value)
			return w->word;
	return NULL;
}

/* the largest unit that divides, as conf.c's bound messages do */
static void
put_size(struct out *o, unsigned long long v)
{
	static const char units[] = "TGMK";
	unsigned long long u = KB * KB * KB * KB;
	int	 i;

	for (i = 0; i < 4; i++, u /= KB)
		if (v != 0 && v % u == 0) {
			put(o, "%llu%c", v / u, units[i]);
			return;
		}
	put(o, "%llu", v);
}

static void
put_duration(struct out *o, unsigned v)
{
	if (v != 0 && v % 86400 == 0)
		put(o, "%ud", v / 86400);
	else if (v != 0 && v % 3600 == 0)
		put(o, "%uh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		put(o, "%um", v / 60);
	else
		put(o, "%us", v);
}

/* "host:port", brackets around an IPv6 address */
static void
put_hostport(struct out *o, const struct hostport *hp)
{
	put(o, strchr(hp->host, ':') != NULL ? "[%s]:%u" : "%s:%u", hp->host,
	    hp->port);
}

/* log_level: the reader's own parser says which name is which level */
static int
put_loglevel(struct out *o, int level)
{
	static const char *const names[] = {
		"error", "warning", "info", "debug"
	};
	size_t	 i;
	int	 v;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (log_level_parse(names[i], &v) == NULL && v == level) {
			put(o, "%s", names[i]);
			return 0;
		}
	return -1;
}

/*
 * log_facilities: the names the parser knows today; a bit no name
 * covers (a facility added to log.c only) is an error, not a quiet loss.
 */
static int
put_logfac(struct out *o, unsigned mask)
{
	static const char *const names[] = {
		"protocol", "tls", "auth", "dkim", "proxy"
	};
	unsigned bit, done = 0;
	size_t	 i;

	if (mask == LOGF_ALL || mask == 0) {
		put(o, "%s", mask == 0 ? "none" : "all");
		return 0;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (log_facilities_parse(names[i], &bit) == NULL &&
		    (mask & bit) != 0) {
			put(o, "%s%s", done != 0 ? o->sep : "", names[i]);
			done |= bit;
		}
	return done == mask ? 0 : -1;
}

/* accept: each bit's word once, in the table's order */
static int
put_flags(const struct conf_key *k, struct out *o, unsigned bits)
{
	const struct conf_word	*w;
	unsigned		 done = 0;

	for (w = k->words; w->word != NULL; w++)
		if ((bits & (unsigned)w->value) != 0 &&
		    (done & (unsigned)w->value) == 0) {
			put(o, "%s%s", done != 0 ? o->sep : "", w->word);
			done |= (unsigned)w->value;
		}
	return done == bits ? 0 : -1;
}

/* listen, allow, proxy_from */
static int
put_addrs(const struct conf_key *k, const void *base, struct out *o)
{
	const struct hostport	*hp = field(k, base);
	const struct cidr	*cidr = field(k, base);
	char			 a[INET6_ADDRSTRLEN];
	size_t			 i, n = count(k, base);

	for (i = 0; i < n; i++) {
		if (i > 0)
			put(o, "%s", o->sep);
		if (k->type == KT_LISTEN) {
			put_hostport(o, &hp[i]);
			continue;
		}
		if (inet_ntop(cidr[i].family, cidr[i].addr, a,
		    sizeof(a)) == NULL)
			return -1;
		/* a host route as the bare address, as it may be written */
		if (cidr[i].prefix == (cidr[i].family == AF_INET ? 32u : 128u))
			put(o, "%s", a);
		else
			put(o, "%s/%u", a, cidr[i].prefix);
	}
	return 0;
}

/* lists of words, pins and names */
static int
put_list(const struct conf_key *k, const void *base, struct out *o)
{
	const unsigned char	*pins = field(k, base);
	const int		*vals = field(k, base);
	const char		*names = field(k, base), *w;
	char			 b64[64];
	size_t			 i, n = count(k, base), width;

	width = conf_names_width(k->type);
	if (k->type == KT_MECHS && n == 0) {
		put(o, "all");
		return 0;
	}
	for (i = 0; i < n; i++) {
		if (i > 0)
			put(o, "%s", o->sep);
		switch (k->type) {
		case KT_PINS:
			if (base64_encode(pins + i * CONF_PIN_LEN,
			    CONF_PIN_LEN, b64, sizeof(b64)) < 0)
				return -1;
			put(o, "%s", b64);
			break;
		case KT_CURVES:
		case KT_MECHS:
			if ((w = word_of(k, vals[i])) == NULL)
				return -1;
			put(o, "%s", w);
			break;
		default:
			put(o, "%.*s", (int)width, names + i * width);
			break;
		}
	}
	return 0;
}

/* fmt_scalar - a number, a word or a rate (the types parse_scalar reads) */
static int
fmt_scalar(const struct conf_key *k, const void *base, struct out *o)
{
	unsigned long long	 ull;
	const char		*w;
	char			 rate[64];

	switch (k->type) {
	case KT_UINT:
		put(o, "%u", uval(k, base));
		return 0;
	case KT_SIZE:
		memcpy(&ull, field(k, base), sizeof(ull));
		put_size(o, ull);
		return 0;
	case KT_DURATION:
		put_duration(o, uval(k, base));
		return 0;
	case KT_BOOL:
	case KT_NBOOL:
		put(o, "%s", (ival(k, base) != 0) == (k->type == KT_BOOL) ?
		    "yes" : "no");
		return 0;
	case KT_ENUM:
		if ((w = word_of(k, ival(k, base))) == NULL)
			return -1;
		put(o, "%s", w);
		return 0;
	case KT_LOGLEVEL:
		return put_loglevel(o, ival(k, base));
	case KT_LOGFAC:
		return put_logfac(o, uval(k, base));
	case KT_TLSVER:
		put(o, "1.%d", ival(k, base) - 10);
		return 0;
	case KT_RATE:
		put(o, "%s", ratelimit_format(field(k, base), rate,
		    sizeof(rate)));
		return 0;
	default:
		return -1;
	}
}

/*
 * fmt_value - k's value in base as the reader takes it.  0, or -1 for a
 * value or a type this printer cannot write (a new KT_ without a case
 * here fails the tests rather than printing something wrong).
 */
static int
fmt_value(const struct conf_key *k, const void *base, struct out *o)
{
	const struct hostport	*hp;
	const int		*canon;
	char			 url[PROXY_USER_MAX + PROXY_HOST_MAX + 32];

	switch (k->type) {
	case KT_BANNER:
	case KT_NAME:
	case KT_HOST:
	case KT_CAFILE:
	case KT_FILE:
	case KT_DIR:
	case KT_SECRET:		/* a path: the secret is never read here */
	case KT_DOMAIN:
	case KT_IDENTITY:
	case KT_PATH:
	case KT_CIPHERS12:
	case KT_CIPHERS13:
		put(o, "%.*s", (int)k->size, (const char *)field(k, base));
		return 0;
	case KT_UINT:
	case KT_SIZE:
	case KT_DURATION:
	case KT_BOOL:
	case KT_NBOOL:
	case KT_ENUM:
	case KT_LOGLEVEL:
	case KT_LOGFAC:
	case KT_TLSVER:
	case KT_RATE:
		return fmt_scalar(k, base, o);
	case KT_LISTEN:
	case KT_CIDRS:
		return put_addrs(k, base, o);
	case KT_FLAGS:
		return put_flags(k, o, uval(k, base));
	case KT_PINS:
	case KT_CURVES:
	case KT_MECHS:
	case KT_HDRLIST:
	case KT_NAMES:
	case KT_SENDERS:
		return put_list(k, base, o);
	case KT_HOSTPORT:
		hp = field(k, base);
		if (hp->host[0] != '\0')
			put_hostport(o, hp);
		return 0;
	case KT_PROXY:
		if (proxyurl_format(field(k, base), url, sizeof(url)) == -1)
			return -1;
		put(o, "%s", url);
		return 0;
	case KT_CANON:
		canon = field(k, base);
		put(o, "%s/%s", canon[0] == CONF_CANON_SIMPLE ? "simple" :
		    "relaxed", canon[1] == CONF_CANON_SIMPLE ? "simple" :
		    "relaxed");
		return 0;
	default:
		return -1;
	}
}

/*
 * is_default - 1 if val (k's value in section base) is k's default.
 * The default's text goes through the reader into scratch (only k's own
 * field and count are touched) and is formatted like the value.
 */
static int
is_default(const struct gw_conf *c, const struct conf_key *k,
    enum sec_kind kind, const void *base, void *scratch, const char *val)
{
	char		 text[CONF_TEXT_MAX * 2], why[512], def[VAL_MAX] = "";
	struct out	 o = { def, sizeof(def), 0, 0, ", " };

	if (conf_key_default(k, c, base, text, sizeof(text)) != 1)
		return 0;
	memset((char *)scratch + k->off, 0, k->size);
	if (k->noff != 0)
		memset((char *)scratch + k->noff, 0, sizeof(size_t));
	/* a derived default may not parse (an odd system host name) */
	if (conf_key_parse(k, scratch, text, why, sizeof(why)) == -1 ||
	    fmt_value(k, scratch, &o) == -1 || o.over)
		return 0;
	/* "tls = auto" is resolved by the port once the section is read */
	if (kind == SEC_UPSTREAM && k->type == KT_ENUM &&
	    strcmp(def, "auto") == 0)
		(void)snprintf(def, sizeof(def), "%s", tls_mode_name(
		    TLS_AUTO_MODE(((const struct conf_upstream *)base)->port)));
	return strcmp(def, val) == 0;
}

/*
 * print_key - "key = value", with the default mark; a line too long to
 * load again is written "key=value" with lists joined by "," and no
 * mark, which is never longer than the line the value came from.
 */
static int
print_key(const struct gw_conf *c, const struct conf_key *k,
    enum sec_kind kind, const void *base, void *scratch, FILE *fp)
{
	char		 val[VAL_MAX];
	struct out	 o;
	int		 compact, n;

	for (compact = 0; compact < 2; compact++) {
		val[0] = '\0';
		o = (struct out){ val, sizeof(val), 0, 0, compact ? "," : ", " };
		if (fmt_value(k, base, &o) == -1 || o.over)
			return -1;
		if (compact)
			n = fprintf(fp, "%s=%s\n", k->name, val) - 1;
		else if ((n = (int)strlen(k->name) + 3 + (int)o.off +
		    (int)strlen(CONF_PRINT_MARK)) > LINE_MAX_LOAD)
			continue;
		else
			/* "key =" for an empty value: no blank at the end */
			n = fprintf(fp, "%s =%s%s%s\n", k->name,
			    val[0] != '\0' ? " " : "", val,
			    is_default(c, k, kind, base, scratch, val) ?
			    CONF_PRINT_MARK : "") - 1;
		return n <= LINE_MAX_LOAD ? 0 : -1;
	}
	return -1;
}

/* one section: its header, then every key of its kind in table order */
static int
print_section(const struct gw_conf *c, enum sec_kind kind, const char *name,
    const void *base, void *scratch, FILE *fp, char *why, size_t wlen)
{
	const struct conf_key	*k;
	size_t			 i;

	if (kind == SEC_GATEWAY)
		fprintf(fp, "[gateway]\n");
	else
		fprintf(fp, "\n[%s %s]\n", conf_sec_name(kind), name);
	for (i = 0; i < conf_nkeys; i++) {
		k = &conf_keys[i];
		if (k->sec != kind || print_key(c, k, kind, base, scratch,
		    fp) == 0)
			continue;
		(void)snprintf(why, wlen, "[%s%s%s] %s: no printer for its "
		    "value or type, or too long (src/conf/conf_print.c)",
		    conf_sec_name(kind), kind == SEC_GATEWAY ? "" : " ",
		    kind == SEC_GATEWAY ? "" : name, k->name);
		return -1;
	}
	return 0;
}

/* conf_print - see conf_print.h */
int
conf_print(const struct gw_conf *c, FILE *fp, char *why, size_t wlen)
{
	void	*scratch;
	size_t	 i;
	int	 r;

	/* room for any section's fields: gw_conf holds them all */
	if ((scratch = calloc(1, sizeof(struct gw_conf))) == NULL) {
		(void)snprintf(why, wlen, "out of memory");
		return -1;
	}
	/* no path or time: the same configuration prints the same text */
	fprintf(fp, "; smtpgate -n: the effective configuration\n; \"%s\": "
	    "the value is the built-in default\n\n", &CONF_PRINT_MARK[2]);
	r = print_section(c, SEC_GATEWAY, NULL, c, scratch, fp, why, wlen);
	for (i = 0; r == 0 && i < c->nlisteners; i++)
		r = print_section(c, SEC_LISTENER, c->listeners[i].name,
		    &c->listeners[i], scratch, fp, why, wlen);
	for (i = 0; r == 0 && i < c->nupstreams; i++)
		r = print_section(c, SEC_UPSTREAM, c->upstreams[i].name,
		    &c->upstreams[i], scratch, fp, why, wlen);
	for (i = 0; r == 0 && i < c->ndkims; i++)
		r = print_section(c, SEC_DKIM, c->dkims[i].name, &c->dkims[i],
		    scratch, fp, why, wlen);
	for (i = 0; r == 0 && i < c->nroutes; i++)
		r = print_section(c, SEC_ROUTE, c->routes[i].name,
		    &c->routes[i], scratch, fp, why, wlen);
	for (i = 0; r == 0 && i < c->nsmimes; i++)
		r = print_section(c, SEC_SMIME, c->smimes[i].name,
		    &c->smimes[i], scratch, fp, why, wlen);
	free(scratch);
	if (r == 0 && (fflush(fp) == EOF || ferror(fp))) {
		(void)snprintf(why, wlen, "write error");
		r = -1;
	}
	return r;
}
