/*
 * qenv.c - the envelope file: format and parse (see qenv.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/qenv.h"
#include "util/str.h"

#define QENV_MAGIC	"smtpgate-queue"
#define TOKENS_MAX	8	/* key and values of one record */

/* the single-valued records, each at most once */
enum {
	K_ID = 0, K_ARRIVAL, K_NEXT, K_ATTEMPTS, K_FLAGS, K_SIZE, K_LISTENER,
	K_CLIENT, K_SENDER, K_PARAMS, K_ENVID, K_RET, K_ERROR, K_USER, K_ROUTE,
	K_MAX
};
static const char *const keys[K_MAX] = {
	"id", "arrival", "next", "attempts", "flags", "size", "listener",
	"client", "sender", "mail-params", "envid", "ret", "last-error",
	"user", "route"
};

static const char *const states[] = {
	[QR_PENDING] = "pending",
	[QR_DELIVERED] = "delivered",
	[QR_FAILED] = "failed",
	[QR_DONE] = "done",
};

static const struct {
	const char	*name;
	unsigned	 bit;
} notify_words[] = {
	{ "never", QN_NEVER }, { "success", QN_SUCCESS },
	{ "failure", QN_FAILURE }, { "delay", QN_DELAY },
};

#define QENV_TAIL_TAG	"smtpgate-envelope "

/* qenv_tail_format - see qenv.h */
void
qenv_tail_format(char out[QENV_TAIL_LEN + 1], size_t len)
{
	(void)snprintf(out, QENV_TAIL_LEN + 1, "%s%016llx\n", QENV_TAIL_TAG,
	    (unsigned long long)len);
}

/* qenv_tail_parse - see qenv.h: the exact form only, lowercase hex */
int
qenv_tail_parse(const char *tail, size_t n, size_t *len)
{
	const size_t	 tag = sizeof(QENV_TAIL_TAG) - 1;
	uint64_t	 v;

	/* the tag, 16 digits, LF: QENV_TAIL_LEN */
	if (n != QENV_TAIL_LEN || memcmp(tail, QENV_TAIL_TAG, tag) != 0 ||
	    tail[n - 1] != '\n' || str_hex16(tail + tag, &v) == -1)
		return -1;
	if (v > QENV_FILE_MAX)
		return -1;
	*len = (size_t)v;
	return 0;
}

/* the output under construction; the first error sticks */
struct out {
	char	*p;
	size_t	 len;
	size_t	 cap;
	int	 err;
	char	*why;
	size_t	 whylen;
};

static void	out_fail(struct out *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	out_raw(struct out *, const char *, size_t);
static void	out_token(struct out *, const char *);
static void	out_num(struct out *, unsigned long long);
static void	out_notify(struct out *, unsigned);
static int	hexval(char);
static int	decode(const char *, char **);
static int	parse_num(const char *, unsigned long long,
		    unsigned long long *);
static int	parse_notify(const char *, unsigned *);
static int	parse_flags(const char *, unsigned *);
static int	parse_record(struct qenv *, char **, int, unsigned *,
		    const char **);
static int	parse_single(struct qenv *, int, const char *, const char **);
static int	parse_rcpt(struct qenv *, char **, int, const char **);

const char *
qrcpt_state_name(enum qrcpt_state s)
{
	return (unsigned)s < sizeof(states) / sizeof(states[0]) ?
	    states[s] : "?";
}

void
qenv_free(struct qenv *e)
{
	size_t	 i;

	for (i = 0; i < e->nrcpt; i++) {
		free(e->rcpt[i].addr);
		free(e->rcpt[i].orcpt);
		free(e->rcpt[i].reply);
	}
	free(e->rcpt);
	free(e->listener);
	free(e->client);
	free(e->user);
	free(e->route);
	free(e->sender);
	free(e->mail_params);
	free(e->envid);
	free(e->last_error);
	memset(e, 0, sizeof(*e));
}

int
qenv_set(char **field, const char *value)
{
	char	*copy = NULL;

	if (value != NULL && (copy = strdup(value)) == NULL)
		return -1;
	free(*field);
	*field = copy;
	return 0;
}

int
qenv_add_rcpt(struct qenv *e, const char *addr, unsigned notify,
    const char *orcpt)
{
	struct qrcpt	*r, nr;

	if (e->nrcpt >= QENV_RCPT_MAX || addr == NULL || *addr == '\0') {
		errno = EINVAL;
		return -1;
	}
	memset(&nr, 0, sizeof(nr));
	nr.state = QR_PENDING;
	nr.notify = notify;
	if ((nr.addr = strdup(addr)) == NULL ||
	    (orcpt != NULL && (nr.orcpt = strdup(orcpt)) == NULL)) {
		free(nr.addr);
		return -1;
	}
	if ((r = reallocarray(e->rcpt, e->nrcpt + 1, sizeof(*r))) == NULL) {
		free(nr.addr);
		free(nr.orcpt);
		return -1;
	}
	e->rcpt = r;
	e->rcpt[e->nrcpt++] = nr;
	return 0;
}

size_t
qenv_pending(const struct qenv *e)
{
	size_t	 i, n = 0;

	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i].state == QR_PENDING)
			n++;
	return n;
}

/* ---- format ---- */

static void
out_fail(struct out *o, const char *fmt, ...)
{
	va_list	 ap;

	if (o->err)
		return;
	o->err = 1;
	va_start(ap, fmt);
	vsnprintf(o->why, o->whylen, fmt, ap);
	va_end(ap);
}

static void
out_raw(struct out *o, const char *s, size_t n)
{
	size_t	 cap;
	char	*p;

	if (o->err)
		return;
	if (n > QENV_FILE_MAX - o->len) {
		out_fail(o, "envelope over %u bytes", QENV_FILE_MAX);
		return;
	}
	if (o->len + n + 1 > o->cap) {
		cap = o->cap != 0 ? o->cap : 512;
		while (cap < o->len + n + 1)
			cap *= 2;
		if ((p = realloc(o->p, cap)) == NULL) {
			out_fail(o, "out of memory");
			return;
		}
		o->p = p;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* one value: "-" when empty, %XX outside 0x21..0x7e, for '%', and a lone "-" */
static void
out_token(struct out *o, const char *v)
{
	static const char	 hex[] = "0123456789ABCDEF";
	char			 esc[3];
	size_t			 i, n;

	out_raw(o, " ", 1);
	if (v == NULL || *v == '\0') {
		out_raw(o, "-", 1);
		return;
	}
	if ((n = strlen(v)) > QENV_TEXT_MAX) {
		out_fail(o, "a value of %zu bytes (at most %u)", n,
		    QENV_TEXT_MAX);
		return;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c > 0x20 && c < 0x7f && c != '%' &&
		    !(c == '-' && n == 1)) {
			out_raw(o, (const char *)&v[i], 1);
			continue;
		}
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 0xf];
		out_raw(o, esc, 3);
	}
}

static void
out_num(struct out *o, unsigned long long v)
{
	char	 b[24];

	out_raw(o, b, (size_t)snprintf(b, sizeof(b), " %llu", v));
}

static void
out_notify(struct out *o, unsigned bits)
{
	char	 b[64];
	size_t	 i, n = 0;

	b[0] = '\0';
	for (i = 0; i < sizeof(notify_words) / sizeof(notify_words[0]); i++) {
		if (!(bits & notify_words[i].bit))
			continue;
		/* four words of at most 7 octets and commas fit b */
		n += (size_t)snprintf(b + n, sizeof(b) - n, "%s%s",
		    n > 0 ? "," : "", notify_words[i].name);
	}
	out_token(o, b);
}

int
qenv_format(const struct qenv *e, char **out, size_t *outlen, char *why,
    size_t whylen)
{
	struct out	 o = { NULL, 0, 0, 0, why, whylen };
	static const char *const rets[] = { NULL, "full", "hdrs" };
	char		 line[64];
	size_t		 i;

	snprintf(line, sizeof(line), "%s %d\nid %016" PRIx64 "\n",
	    QENV_MAGIC, QENV_VERSION, e->id);
	out_raw(&o, line, strlen(line));
	out_raw(&o, "arrival", 7);
	out_num(&o, (unsigned long long)(e->arrival < 0 ? 0 : e->arrival));
	out_raw(&o, "\nnext", 5);
	out_num(&o, (unsigned long long)(e->next < 0 ? 0 : e->next));
	out_raw(&o, "\nattempts", 9);
	out_num(&o, e->attempts);
	out_raw(&o, "\nflags", 6);
	out_token(&o, (e->flags & QF_HOLD) ? ((e->flags & QF_BOUNCE) ?
	    "hold,bounce" : "hold") : ((e->flags & QF_BOUNCE) ? "bounce" : ""));
	out_raw(&o, "\nsize", 5);
	out_num(&o, e->size);
	out_raw(&o, "\nlistener", 9);
	out_token(&o, e->listener);
	out_raw(&o, "\nclient", 7);
	out_token(&o, e->client);
	out_raw(&o, "\nuser", 5);
	out_token(&o, e->user);
	out_raw(&o, "\nroute", 6);
	out_token(&o, e->route);
	out_raw(&o, "\nsender", 7);
	out_token(&o, e->sender);
	out_raw(&o, "\nmail-params", 12);
	out_token(&o, e->mail_params);
	out_raw(&o, "\nenvid", 6);
	out_token(&o, e->envid);
	out_raw(&o, "\nret", 4);
	out_token(&o, rets[e->ret <= QRET_HDRS ? e->ret : 0]);
	out_raw(&o, "\nlast-error", 11);
	out_token(&o, e->last_error);
	out_raw(&o, "\n", 1);
	for (i = 0; i < e->nrcpt; i++) {
		out_raw(&o, "rcpt", 4);
		out_token(&o, qrcpt_state_name(e->rcpt[i].state));
		out_notify(&o, e->rcpt[i].notify);
		out_token(&o, e->rcpt[i].orcpt);
		out_token(&o, e->rcpt[i].reply);
		out_token(&o, e->rcpt[i].addr);
		out_raw(&o, "\n", 1);
	}
	out_raw(&o, "end\n", 4);
	if (o.err) {
		free(o.p);
		return -1;
	}
	*out = o.p;
	*outlen = o.len;
	return 0;
}

/* ---- parse ---- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* decode one token into a new string; "-" is NULL.  -1 on bad %XX/ENOMEM */
static int
decode(const char *t, char **out)
{
	size_t	 i, n = 0, len = strlen(t);
	char	*p;
	int	 hi, lo;

	*out = NULL;
	if (strcmp(t, "-") == 0)
		return 0;
	if (len > 3 * QENV_TEXT_MAX || (p = malloc(len + 1)) == NULL)
		return -1;
	for (i = 0; i < len; i++) {
		if (t[i] != '%') {
			p[n++] = t[i];
			continue;
		}
		if (i + 2 >= len || (hi = hexval(t[i + 1])) < 0 ||
		    (lo = hexval(t[i + 2])) < 0 || (hi == 0 && lo == 0)) {
			free(p);
			return -1;
		}
		p[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	p[n] = '\0';
	if (n > QENV_TEXT_MAX) {
		free(p);
		return -1;
	}
	*out = p;
	return 0;
}

static int
parse_num(const char *t, unsigned long long max, unsigned long long *v)
{
	char	*end;

	if (t[0] < '0' || t[0] > '9' || (t[0] == '0' && t[1] != '\0') ||
	    strlen(t) > 20)
		return -1;
	errno = 0;
	*v = strtoull(t, &end, 10);
	return errno != 0 || *end != '\0' || *v > max ? -1 : 0;
}

/* a comma list of words from table; "-" is none */
static int
parse_words(const char *t, const char *const *names, const unsigned *bits,
    size_t n, unsigned *out)
{
	const char	*p = t, *c;
	size_t		 i, wl;

	*out = 0;
	if (strcmp(t, "-") == 0)
		return 0;
	for (;;) {
		c = strchr(p, ',');
		wl = c != NULL ? (size_t)(c - p) : strlen(p);
		for (i = 0; i < n; i++)
			if (strlen(names[i]) == wl &&
			    strncmp(p, names[i], wl) == 0)
				break;
		if (i == n || (*out & bits[i]))
			return -1;
		*out |= bits[i];
		if (c == NULL)
			return 0;
		p = c + 1;
	}
}

static int
parse_notify(const char *t, unsigned *out)
{
	static const char *const names[] = {
		"never", "success", "failure", "delay"
	};
	static const unsigned bits[] = {
		QN_NEVER, QN_SUCCESS, QN_FAILURE, QN_DELAY
	};

	if (parse_words(t, names, bits, 4, out) < 0)
		return -1;
	/* RFC 3461 4.1: NEVER stands alone */
	return (*out & QN_NEVER) && *out != QN_NEVER ? -1 : 0;
}

static int
parse_flags(const char *t, unsigned *out)
{
	static const char *const names[] = { "hold", "bounce" };
	static const unsigned bits[] = { QF_HOLD, QF_BOUNCE };

	return parse_words(t, names, bits, 2, out);
}

static int
parse_single(struct qenv *e, int k, const char *t, const char **what)
{
	unsigned long long	 v;
	char			*s;

	switch (k) {
	case K_ID:
		if (strlen(t) != 16 || strspn(t, "0123456789abcdef") != 16) {
			*what = "an id of 16 lower-case hex digits";
			return -1;
		}
		e->id = strtoull(t, NULL, 16);
		return 0;
	case K_ARRIVAL:
	case K_NEXT:
		if (parse_num(t, INT64_MAX, &v) < 0) {
			*what = "a time in unix seconds";
			return -1;
		}
		*(k == K_ARRIVAL ? &e->arrival : &e->next) = (int64_t)v;
		return 0;
	case K_ATTEMPTS:
		if (parse_num(t, 1000000, &v) < 0) {
			*what = "a count up to 1000000";
			return -1;
		}
		e->attempts = (unsigned)v;
		return 0;
	case K_SIZE:
		if (parse_num(t, 1ull << 40, &v) < 0) {
			*what = "a size in octets";
			return -1;
		}
		e->size = v;
		return 0;
	case K_FLAGS:
		*what = "flags hold, bounce or -";
		return parse_flags(t, &e->flags);
	case K_RET:
		*what = "ret full, hdrs or -";
		if (strcmp(t, "full") == 0)
			e->ret = QRET_FULL;
		else if (strcmp(t, "hdrs") == 0)
			e->ret = QRET_HDRS;
		else if (strcmp(t, "-") != 0)
			return -1;
		return 0;
	default:
		break;
	}
	*what = "a value (%XX escapes, at most 1024 octets)";
	if (decode(t, &s) < 0)
		return -1;
	switch (k) {
	case K_LISTENER: e->listener = s; break;
	case K_CLIENT: e->client = s; break;
	case K_SENDER: e->sender = s; break;
	case K_PARAMS: e->mail_params = s; break;
	case K_ENVID: e->envid = s; break;
	case K_USER: e->user = s; break;
	case K_ROUTE: e->route = s; break;
	default: e->last_error = s; break;
	}
	return 0;
}

/* rcpt STATE NOTIFY ORCPT REPLY ADDR */
static int
parse_rcpt(struct qenv *e, char **tok, int ntok, const char **what)
{
	struct qrcpt	*r;
	unsigned	 notify;
	size_t		 s;
	char		*orcpt = NULL, *reply = NULL, *addr = NULL;

	*what = "rcpt STATE NOTIFY ORCPT REPLY ADDRESS";
	if (ntok != 6)
		return -1;
	for (s = 0; s < sizeof(states) / sizeof(states[0]); s++)
		if (strcmp(tok[1], states[s]) == 0)
			break;
	if (s == sizeof(states) / sizeof(states[0]) ||
	    parse_notify(tok[2], &notify) < 0)
		return -1;
	if (decode(tok[3], &orcpt) < 0 || decode(tok[4], &reply) < 0 ||
	    decode(tok[5], &addr) < 0 || addr == NULL ||
	    qenv_add_rcpt(e, addr, notify, orcpt) < 0) {
		free(orcpt);
		free(reply);
		free(addr);
		return -1;
	}
	r = &e->rcpt[e->nrcpt - 1];
	r->state = (enum qrcpt_state)s;
	r->reply = reply;
	free(orcpt);
	free(addr);
	return 0;
}

/* one record after the first line; *seen marks single keys; 1 at "end" */
static int
parse_record(struct qenv *e, char **tok, int ntok, unsigned *seen,
    const char **what)
{
	int	 k;

	if (strcmp(tok[0], "end") == 0) {
		*what = "end alone";
		return ntok == 1 ? 1 : -1;
	}
	if (strcmp(tok[0], "rcpt") == 0)
		return parse_rcpt(e, tok, ntok, what);
	for (k = 0; k < K_MAX; k++)
		if (strcmp(tok[0], keys[k]) == 0)
			break;
	if (k == K_MAX) {
		*what = "a known record (a newer version's file?)";
		return -1;
	}
	if (*seen & (1u << k)) {
		*what = "each record once";
		return -1;
	}
	*seen |= 1u << k;
	if (ntok != 2) {
		*what = "one value";
		return -1;
	}
	return parse_single(e, k, tok[1], what);
}

/* split line (NUL-terminated, modified) at single spaces */
static int
split(char *line, char **tok)
{
	int	 n = 0;
	char	*p = line;

	for (;;) {
		if (*p == '\0' || *p == ' ' || n == TOKENS_MAX)
			return -1;	/* empty token, or too many */
		tok[n++] = p;
		if ((p = strchr(p, ' ')) == NULL)
			return n;
		*p++ = '\0';
	}
}

int
qenv_parse(const char *text, size_t len, struct qenv *e, char *why,
    size_t whylen)
{
	/* tok: only the ntok split() filled are read; zeroed for -O3's sake */
	char		 line[QENV_LINE_MAX + 1], *tok[TOKENS_MAX] = { NULL };
	const char	*p = text, *nl, *what = "";
	size_t		 ll, lineno = 0;
	unsigned	 seen = 0;
	int		 ntok, r = 0, magic = 0;
	unsigned long long v;

	memset(e, 0, sizeof(*e));
	if (len > QENV_FILE_MAX) {
		snprintf(why, whylen, "over %u bytes", QENV_FILE_MAX);
		return -1;
	}
	while (r == 0) {
		lineno++;
		if (p >= text + len) {
			snprintf(why, whylen, "line %zu: the file ends before "
			    "\"end\" (cut short?)", lineno);
			return -1;
		}
		if ((nl = memchr(p, '\n', (size_t)(text + len - p))) == NULL ||
		    (ll = (size_t)(nl - p)) > QENV_LINE_MAX ||
		    memchr(p, '\0', ll) != NULL) {
			snprintf(why, whylen, "line %zu: %s", lineno, nl ==
			    NULL ? "no line end (cut short?)" :
			    "too long or holds a NUL");
			return -1;
		}
		memcpy(line, p, ll);
		line[ll] = '\0';
		p = nl + 1;
		if ((ntok = split(line, tok)) < 0) {
			snprintf(why, whylen, "line %zu: empty or too many "
			    "fields", lineno);
			return -1;
		}
		if (!magic) {
			if (ntok != 2 || strcmp(tok[0], QENV_MAGIC) != 0 ||
			    parse_num(tok[1], 1000, &v) < 0 ||
			    v != QENV_VERSION) {
				snprintf(why, whylen, "line 1: not an envelope "
				    "of version %d", QENV_VERSION);
				return -1;
			}
			magic = 1;
			continue;
		}
		if ((r = parse_record(e, tok, ntok, &seen, &what)) < 0) {
			snprintf(why, whylen, "line %zu: \"%.32s\": want %s",
			    lineno, tok[0], what);
			return -1;
		}
	}
	if (p != text + len) {
		snprintf(why, whylen, "line %zu: text after \"end\"", lineno);
		return -1;
	}
	if (!(seen & (1u << K_ID)) || !(seen & (1u << K_SENDER)) ||
	    !(seen & (1u << K_ARRIVAL)) || e->nrcpt == 0) {
		snprintf(why, whylen, "id, arrival, sender and a rcpt are "
		    "required");
		return -1;
	}
	if (e->sender == NULL && (e->sender = strdup("")) == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return 0;
}
