/*
 * conf.c - read the INI file into a struct gw_conf through one typed key
 * table.
 *
 * Every key is a row of the key table (conf_table.c): section kind, name,
 * type, default (as the text a user would write), bounds and the offset of
 * its field.  The same
 * parser handles a value from the file and a default, so a default can never
 * be something the file could not say, and docs/configuration.md can be
 * checked against the table (tests/unit/test_conf.c does).
 *
 * The value parsers are in conf_value.c (conf_key_parse).
 *
 * inih splits "key = value" lines and strips comments; the line reader
 * below feeds it one line at a time.  The reader also counts lines, checks
 * the line syntax and opens sections itself, because Debian's libinih gives
 * the handler neither a line number nor a call for a section without keys.
 */
#include <sys/un.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ini.h>
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
#include "relay/route.h"
#include "util/base64.h"
#include "util/log.h"
#include "util/str.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

#define NSECS		(1 + CONF_MAX_LISTENERS + CONF_MAX_UPSTREAMS + \
			    CONF_MAX_DKIM + CONF_MAX_ROUTES + CONF_MAX_SMIME)
#define TITLE_MAX	(16 + CONF_NAME_MAX)
#define WHY_MAX		(CONF_TEXT_MAX + PATH_MAX + 256)
#define LINE_BUF	1024		/* longer lines are errors anyway */
#define FILE_MAX	(1024 * 1024)	/* "-c /dev/zero" must end */

/* one section of the file; secs[0] is [gateway], present or not */
struct sec {
	enum sec_kind	 kind;
	void		*base;		/* the struct its keys go into */
	int		 line;		/* of the header; 0 if absent */
	char		 title[TITLE_MAX];	/* "[upstream provider]" */
	int		 seen[CONF_KEYS_MAX];	/* line each key was set on, or 0 */
};

struct parse {
	const char	*path;
	FILE		*fp;
	char		 line[LINE_BUF];
	size_t		 nread;		/* bytes of the file so far */
	int		 lineno;
	int		 nerr;
	conf_error_fn	 err;
	void		*arg;
	struct gw_conf	*conf;
	struct sec	 secs[NSECS];
	size_t		 nsecs;
	struct sec	*cur;		/* NULL before the first section */
	int		 skip;		/* ignore keys: the header was bad */
};

static void	 perr(struct parse *, int, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static const struct conf_key *key_find(enum sec_kind, const char *, size_t *);
static struct sec *section_new(struct parse *, enum sec_kind, const char *,
		    const char *);
static void	 section_begin(struct parse *, char *);
static int	 read_line(struct parse *, size_t *, int *);
static char	*reader(char *, int, void *);
static int	 handler(void *, const char *, const char *, const char *);
static int	 derive_default(struct parse *, struct sec *,
		    const struct conf_key *, char *, size_t);
static int	 key_line(const struct sec *, const char *);
static void	 gateway_finish(struct parse *, struct sec *);
static void	 section_finish(struct parse *, struct sec *);
static void	 paths_add(struct parse *, struct sec *);

/* report one error as "FILE:LINE: text" */
static void
perr(struct parse *p, int line, const char *fmt, ...)
{
	char	 text[WHY_MAX], msg[WHY_MAX + PATH_MAX + 32];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	(void)snprintf(msg, sizeof(msg), "%s:%d: %s", p->path, line, text);
	p->nerr++;
	if (p->err != NULL)
		p->err(p->arg, msg);
}


static const struct conf_key *
key_find(enum sec_kind kind, const char *name, size_t *idx)
{
	size_t	 i;

	for (i = 0; i < conf_nkeys; i++)
		if (conf_keys[i].sec == kind &&
		    strcmp(conf_keys[i].name, name) == 0) {
			*idx = i;
			return &conf_keys[i];
		}
	return NULL;
}

/*
 * A new named section of kind k: its struct in the snapshot and its
 * struct sec, or NULL (reported) when there are too many of its kind.
 */
static struct sec *
section_new(struct parse *p, enum sec_kind k, const char *name,
    const char *title)
{
	struct gw_conf	*c = p->conf;
	struct sec	*s;
	size_t		*count, max;
	const char	*what;
	char		*sname;
	int		*line;
	void		*base;

	switch (k) {
	case SEC_LISTENER:
		count = &c->nlisteners, max = CONF_MAX_LISTENERS;
		what = "listeners";
		break;
	case SEC_UPSTREAM:
		count = &c->nupstreams, max = CONF_MAX_UPSTREAMS;
		what = "upstreams";
		break;
	case SEC_DKIM:
		count = &c->ndkims, max = CONF_MAX_DKIM;
		what = "dkim sections";
		break;
	case SEC_ROUTE:
		count = &c->nroutes, max = CONF_MAX_ROUTES;
		what = "routes";
		break;
	case SEC_SMIME:
		count = &c->nsmimes, max = CONF_MAX_SMIME;
		what = "smime sections";
		break;
	default:
		fatalx("section_new: kind %d", (int)k);
	}
	if (*count == max) {
		perr(p, p->lineno, "%s: too many %s (at most %zu)", title,
		    what, max);
		return NULL;
	}
	if (k == SEC_LISTENER) {
		base = &c->listeners[*count];
		sname = c->listeners[*count].name;
		line = &c->listeners[*count].line;
	} else if (k == SEC_UPSTREAM) {
		base = &c->upstreams[*count];
		sname = c->upstreams[*count].name;
		line = &c->upstreams[*count].line;
	} else if (k == SEC_DKIM) {
		base = &c->dkims[*count];
		sname = c->dkims[*count].name;
		line = &c->dkims[*count].line;
	} else if (k == SEC_ROUTE) {
		base = &c->routes[*count];
		sname = c->routes[*count].name;
		line = &c->routes[*count].line;
	} else {
		base = &c->smimes[*count];
		sname = c->smimes[*count].name;
		line = &c->smimes[*count].line;
	}
	(*count)++;
	(void)str_copy(sname, name, CONF_NAME_MAX);
	*line = p->lineno;
	s = &p->secs[p->nsecs++];
	s->kind = k;
	s->line = p->lineno;
	s->base = base;
	(void)snprintf(s->title, sizeof(s->title), "%s", title);
	return s;
}

/*
 * Open the section named by a header's inside ("listener local").  On any
 * problem the section's keys are ignored: they cannot be attributed, and one
 * error for the header says it all.
 */
static void
section_begin(struct parse *p, char *inside)
{
	/* indexed by enum sec_kind */
	static const char *const kinds[] = {
		"gateway", "listener", "upstream", "dkim", "route", "smime"
	};
	struct sec	*s;
	char		 q[TITLE_MAX], title[TITLE_MAX], *kind, *name;
	size_t		 i;
	int		 k;

	p->skip = 1;
	p->cur = NULL;
	(void)conf_quote(q, sizeof(q), inside);
	kind = inside + strspn(inside, " \t");
	name = kind + strcspn(kind, " \t");
	if (*name != '\0')
		*name++ = '\0';
	name = str_trim(name);
	for (k = 0; k < (int)nitems(kinds); k++)
		if (strcmp(kind, kinds[k]) == 0)
			break;
	if (k == (int)nitems(kinds)) {
		perr(p, p->lineno, "[%s]: unknown section (expected [gateway], "
		    "[listener NAME], [upstream NAME], [dkim NAME], "
		    "[route NAME] or [smime NAME])", q);
		return;
	}
	if (k == SEC_GATEWAY) {
		if (*name != '\0') {
			perr(p, p->lineno, "[%s]: [gateway] takes no name", q);
			return;
		}
		if (p->secs[0].line != 0) {
			perr(p, p->lineno, "[gateway]: duplicate section "
			    "(first on line %d)", p->secs[0].line);
			return;
		}
		p->secs[0].line = p->lineno;
		p->cur = &p->secs[0];
		p->skip = 0;
		return;
	}
	if (*name == '\0') {
		perr(p, p->lineno, "[%s]: a name is required, as in [%s NAME]",
		    q, kind);
		return;
	}
	if (!conf_name_ok(name) || strlen(name) >= CONF_NAME_MAX) {
		perr(p, p->lineno, "[%s]: the name must be 1 to %d letters, "
		    "digits, '_', '.' or '-'", q, CONF_NAME_MAX - 1);
		return;
	}
	(void)snprintf(title, sizeof(title), "[%s %s]", kind, name);
	for (i = 1; i < p->nsecs; i++)
		if (strcmp(p->secs[i].title, title) == 0) {
			perr(p, p->lineno, "%s: duplicate section "
			    "(first on line %d)", title, p->secs[i].line);
			return;
		}
	if ((s = section_new(p, (enum sec_kind)k, name, title)) == NULL)
		return;
	p->cur = s;
	p->skip = 0;
}

/*
 * One physical line into p->line, without its '\n'; *lenp is its full
 * length even when only the start fit.  Returns -1 at the end of the file
 * or on a read error, -2 when the file is too large.
 */
static int
read_line(struct parse *p, size_t *lenp, int *nul)
{
	size_t	 len = 0;
	int	 c, any = 0;

	*nul = 0;
	while ((c = getc(p->fp)) != EOF) {
		any = 1;
		if (++p->nread > FILE_MAX)
			return -2;
		if (c == '\n')
			break;
		if (c == '\0')
			*nul = 1;
		if (len < sizeof(p->line) - 1)
			p->line[len] = (char)c;
		len++;
	}
	if (!any)
		return -1;
	p->line[len < sizeof(p->line) - 1 ? len : sizeof(p->line) - 1] = '\0';
	*lenp = len;
	return 0;
}

/*
 * The ini_reader: one physical line per call, so our count is inih's.
 * Lines inih would misread are reported here and handed on as blank lines:
 * leading blanks are removed because inih would take an indented line as
 * the continuation of the previous value, and a missing '=' would otherwise
 * be split at a ':' (inih's "name: value" form).
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parse	*p = stream;
	size_t		 len;
	char		*s, *e, *eq, *col;
	int		 nul, r;

	if ((r = read_line(p, &len, &nul)) == -2) {
		perr(p, p->lineno + 1, "file larger than %d bytes", FILE_MAX);
		return NULL;
	}
	if (r == -1)
		return NULL;
	p->lineno++;
	s = p->line;
	if (nul) {
		perr(p, p->lineno, "line contains a NUL byte");
		goto blank;
	}
	if (p->lineno == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0) {
		s += 3;
		len -= 3;
	}
	if (len > 0 && len < sizeof(p->line) && s[len - 1] == '\r')
		s[--len] = '\0';
	/* inih needs room for "\r\n\0"; longer lines it would split */
	if (num < 3 || len > (size_t)num - 3) {
		perr(p, p->lineno, "line longer than %d characters",
		    num < 3 ? 0 : num - 3);
		goto blank;
	}
	s += strspn(s, " \t");
	if (*s == '\0' || *s == ';' || *s == '#')
		goto blank;
	if (*s == '[') {
		/* keys after a broken header must not go to the last one */
		p->cur = NULL;
		p->skip = 1;
		if ((e = strchr(s, ']')) == NULL) {
			perr(p, p->lineno, "section header without ']'");
			goto blank;
		}
		*e++ = '\0';
		e += strspn(e, " \t");
		if (*e != '\0' && *e != ';' && *e != '#') {
			perr(p, p->lineno, "text after section header");
			goto blank;
		}
		section_begin(p, s + 1);
		goto blank;
	}
	eq = strchr(s, '=');
	col = strchr(s, ':');
	if (eq == NULL || (col != NULL && col < eq) || eq == s) {
		perr(p, p->lineno, "expected \"key = value\", \"[section]\" "
		    "or a comment");
		goto blank;
	}
	(void)snprintf(str, (size_t)num, "%s\n", s);
	return str;
blank:
	(void)snprintf(str, (size_t)num, "\n");
	return str;
}

/* the ini_handler: section is unused, the reader tracks sections */
static int
handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse		*p = user;
	const struct conf_key	*k;
	char			 why[WHY_MAX], q[64];
	size_t			 i;

	(void)section;
	if (p->cur == NULL) {
		if (!p->skip)
			perr(p, p->lineno, "%s: key outside of any section",
			    conf_quote(q, sizeof(q), name));
		return 1;
	}
	if ((k = key_find(p->cur->kind, name, &i)) == NULL) {
		const char	*hint = conf_key_hint(conf_sec_name(p->cur->kind),
		    name);

		perr(p, p->lineno, "%s: unknown key in %s%s%s",
		    conf_quote(q, sizeof(q), name), p->cur->title,
		    hint != NULL ? "; " : "", hint != NULL ? hint : "");
		return 1;
	}
	/* a second value would silently win; say which line had the first */
	if (p->cur->seen[i] != 0) {
		perr(p, p->lineno, "%s: duplicate key (first set on line %d)",
		    name, p->cur->seen[i]);
		return 1;
	}
	p->cur->seen[i] = p->lineno;
	if (conf_key_parse(k, p->cur->base, value, why, sizeof(why)) == -1)
		perr(p, p->lineno, "%s: %s", name, why);
	/* errors are counted by perr(); inih's own count would stop nothing */
	return 1;
}

/* conf_key_default - see conf_keys.h */
int
conf_key_default(const struct conf_key *k, const struct gw_conf *c,
    const void *base, char *buf, size_t len)
{
	const char	*src = k->def;

	switch (k->derive) {
	case DERIVE_NONE:
		break;
	case DERIVE_SYSHOST:
		if (gethostname(buf, len) == -1)
			return -1;
		buf[len - 1] = '\0';
		return 1;
	case DERIVE_GWHOST:
	case DERIVE_BANNER:
		src = c->hostname;
		break;
	case DERIVE_UPHOST:
		src = ((const struct conf_upstream *)base)->host;
		break;
	}
	if (src == NULL)
		return 0;
	if (k->derive != DERIVE_NONE && *src == '\0')
		return -1;
	if (k->derive == DERIVE_BANNER)
		(void)snprintf(buf, len, "%s ESMTP smtpgate", src);
	else
		(void)snprintf(buf, len, "%s", src);
	return 1;
}

/*
 * Text of a default, derived ones included.  Returns -1 if a value it
 * depends on is missing (already reported).
 */
static int
derive_default(struct parse *p, struct sec *s, const struct conf_key *k,
    char *buf, size_t len)
{
	int	 r = conf_key_default(k, p->conf, s->base, buf, len);

	if (r == -1 && k->derive == DERIVE_SYSHOST)
		perr(p, s->line, "[gateway]: hostname: cannot get the system "
		    "host name (%s); set hostname", strerror(errno));
	return r == 1 ? 0 : -1;
}

/* the line of key name in section s, or the section's own */
static int
key_line(const struct sec *s, const char *name)
{
	size_t	 i;

	return key_find(s->kind, name, &i) != NULL && s->seen[i] != 0 ?
	    s->seen[i] : s->line;
}

/*
 * [gateway]: a maximum below the value it doubles from.  Each bound is at
 * least 1s: a 0 is a value refused already, not to be reported twice.
 */
static void
gateway_finish(struct parse *p, struct sec *s)
{
	const struct gw_conf	*c = p->conf;
	char			 a[32], b[32];

	conf_fmt_duration(a, sizeof(a), c->upstream_down_time_max);
	conf_fmt_duration(b, sizeof(b), c->upstream_down_time);
	if (c->upstream_down_time_max != 0 &&
	    c->upstream_down_time_max < c->upstream_down_time)
		perr(p, key_line(s, "upstream_down_time_max"), "[gateway]: "
		    "upstream_down_time_max: %s is less than "
		    "upstream_down_time %s", a, b);
	conf_fmt_duration(a, sizeof(a), c->queue_retry_max);
	conf_fmt_duration(b, sizeof(b), c->queue_retry);
	if (c->queue_retry_max != 0 && c->queue_retry_max < c->queue_retry)
		perr(p, key_line(s, "queue_retry_max"), "[gateway]: "
		    "queue_retry_max: %s is less than queue_retry %s", a, b);
}

/* defaults for keys not set, required keys, values that need the section */
static void
section_finish(struct parse *p, struct sec *s)
{
	const struct conf_key	*k;
	struct conf_upstream	*u;
	struct conf_listener	*l;
	char			 def[CONF_TEXT_MAX * 2], why[WHY_MAX];
	const char		*title = s->title;
	size_t			 i;
	int			 tls;

	for (i = 0; i < conf_nkeys; i++) {
		k = &conf_keys[i];
		if (k->sec != s->kind || s->seen[i] != 0)
			continue;
		if (k->def == NULL && k->derive == DERIVE_NONE) {
			perr(p, s->line, "%s: %s: required key missing",
			    title, k->name);
			continue;
		}
		if (derive_default(p, s, k, def, sizeof(def)) == -1)
			continue;
		if (conf_key_parse(k, s->base, def, why, sizeof(why)) == -1)
			perr(p, s->line, "%s: %s: default %s; set %s",
			    title, k->name, why, k->name);
	}
	if (s->kind == SEC_GATEWAY)
		gateway_finish(p, s);
	/* the first of the list is the listener's upstream for older code */
	if (s->kind == SEC_LISTENER) {
		l = s->base;
		if (l->upstreams.n > 0)
			(void)str_copy(l->upstream_name, l->upstreams.names[0],
			    sizeof(l->upstream_name));
	}
	if (s->kind != SEC_UPSTREAM)
		return;
	u = s->base;
	memcpy(&tls, &u->tls, sizeof(tls));
	if (tls == TLS_AUTO)
		u->tls = TLS_AUTO_MODE(u->port);
}

/*
 * The files, directories and the command a section names, with the line of
 * their key, for conf_files_check(): they are used again after start, as
 * [gateway] user.
 */
static void
paths_add(struct parse *p, struct sec *s)
{
	const struct conf_key	*k;
	struct conf_path	*cp;
	const char		*v;
	size_t			 i;
	int			 kind;

	for (i = 0; i < conf_nkeys; i++) {
		k = &conf_keys[i];
		if (k->sec != s->kind || s->seen[i] == 0)
			continue;
		if (k->sec == SEC_GATEWAY && strcmp(k->name, "user") == 0)
			p->conf->user_line = s->seen[i];
		if (k->type == KT_FILE || k->type == KT_SECRET ||
		    k->type == KT_CAFILE)
			kind = CONF_PATH_FILE;
		else if (k->type == KT_DIR)
			kind = CONF_PATH_DIR;
		else if (strcmp(k->name, "token_command") == 0)
			kind = CONF_PATH_COMMAND;
		else
			continue;
		v = (const char *)s->base + k->off;
		if (*v == '\0' || (k->type == KT_CAFILE &&
		    (strcmp(v, "system") == 0 || strcmp(v, "none") == 0)))
			continue;
		if (p->conf->npaths == CONF_MAX_PATHS)
			fatalx("conf: more than %d paths", CONF_MAX_PATHS);
		cp = &p->conf->paths[p->conf->npaths++];
		cp->key = k->name;
		cp->value = v;
		cp->line = s->seen[i];
		cp->kind = (enum conf_path_kind)kind;
	}
}

/* conf_load - read and check path; see conf.h */
int
conf_load(const char *path, struct gw_conf **out, conf_error_fn err, void *arg)
{
	struct parse	*p;
	struct gw_conf	*c;
	char		 why[PATH_MAX + 128];
	size_t		 i;
	int		 r, nerr;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		free(p);
		if (err != NULL) {
			char	 msg[PATH_MAX + 32];

			(void)snprintf(msg, sizeof(msg), "%s:0: out of memory",
			    path);
			err(arg, msg);
		}
		return 1;
	}
	p->path = path;
	p->err = err;
	p->arg = arg;
	p->conf = c;
	p->secs[0].kind = SEC_GATEWAY;
	p->secs[0].base = c;
	(void)snprintf(p->secs[0].title, sizeof(p->secs[0].title),
	    "[gateway]");
	p->nsecs = 1;
	c->refcnt = 1;
	if (str_copy(c->path, path, sizeof(c->path)) == -1)
		perr(p, 0, "path longer than %d characters", PATH_MAX - 1);
	if ((p->fp = conf_file_open(path, why, sizeof(why))) == NULL) {
		perr(p, 0, "%s", why);
		goto done;
	}
	r = ini_parse_stream(reader, p, handler, p);
	if (ferror(p->fp))
		perr(p, p->lineno, "read error: %s", strerror(errno));
	else if (r != 0)
		/* the reader hands inih only lines it accepts: a bug if so */
		perr(p, r > 0 ? r : 0, "the INI parser failed (%d)", r);
	(void)fclose(p->fp);

	/* [gateway] first: other sections' defaults use its hostname */
	for (i = 0; i < p->nsecs; i++) {
		section_finish(p, &p->secs[i]);
		paths_add(p, &p->secs[i]);
	}
	p->nerr += conf_check(c, err, arg);
done:
	nerr = p->nerr;
	free(p);
	if (nerr != 0) {
		free(c);
		return nerr;
	}
	*out = c;
	return 0;
}

/* conf_ref - take one more reference */
struct gw_conf *
conf_ref(struct gw_conf *c)
{
	c->refcnt++;
	return c;
}

/* conf_unref - drop a reference; the last one frees the snapshot */
void
conf_unref(struct gw_conf *c)
{
	if (c == NULL)
		return;
	if (c->refcnt <= 0)
		fatalx("conf_unref: refcnt %d", c->refcnt);
	if (--c->refcnt == 0)
		free(c);
}

/* conf_pool_max_idle - see conf.h */
unsigned
conf_pool_max_idle(const struct conf_upstream *u)
{
	if (u->pool_max_idle == 0 || u->pool_queue_idle <= u->pool_max_idle)
		return u->pool_max_idle;
	return u->pool_queue_idle;
}

/* conf_find_upstream - the [upstream NAME] section, or NULL */
const struct conf_upstream *
conf_find_upstream(const struct gw_conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return &c->upstreams[i];
	return NULL;
}



/* conf_find_dkim - the [dkim NAME] section, or NULL */
const struct conf_dkim *
conf_find_dkim(const struct gw_conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->ndkims; i++)
		if (strcmp(c->dkims[i].name, name) == 0)
			return &c->dkims[i];
	return NULL;
}

/* conf_find_smime - the [smime NAME] section, or NULL */
const struct conf_smime *
conf_find_smime(const struct gw_conf *c, const char *name)
{
	size_t	 i;

	for (i = 0; i < c->nsmimes; i++)
		if (strcmp(c->smimes[i].name, name) == 0)
			return &c->smimes[i];
	return NULL;
}

/* conf_domain_within - domain is parent or under it; see conf.h */
int
conf_domain_within(const char *domain, const char *parent)
{
	size_t	 dl = strlen(domain), pl = strlen(parent);

	if (pl == 0 || dl < pl)
		return 0;
	if (dl == pl)
		return str_ieq(domain, parent);
	return domain[dl - pl - 1] == '.' && str_ieq(domain + dl - pl, parent);
}

/* tls_mode_name - the word the file uses for a resolved mode */
const char *
tls_mode_name(enum tls_mode m)
{
	switch (m) {
	case TLS_NONE:
		return "none";
	case TLS_STARTTLS_OPTIONAL:
		return "starttls-optional";
	case TLS_STARTTLS:
		return "starttls";
	case TLS_IMPLICIT:
		return "implicit";
	}
	return "unknown";
}
