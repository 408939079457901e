/*
 * logfmt.c - an event as a text line or a JSON object (logfmt.h).
 *
 * The JSON writer keeps room to close what it opened at every step: a
 * value that does not fit is cut (with "..." inside the string) and the
 * fields after it are left out, so the result always parses.  Strings
 * are escaped byte by byte: control characters, quote and backslash as
 * JSON escapes, valid UTF-8 as it is, every other byte as U+FFFD.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "util/logfmt.h"
#include "util/str.h"

/* room always kept for ,"truncated":true} and the NUL */
#define JW_RESERVE	20
/* room for ..." that ends a cut string */
#define JW_CUT		4
/* one escaped text value (str_vis: up to 4 octets per octet) */
#define TEXT_VALUE_MAX	4096

struct jw {
	char	*p;
	size_t	 len;		/* of p */
	size_t	 off;
	int	 cut;		/* something was left out */
};

struct tw {
	char	*p;
	size_t	 len;
	size_t	 off;
	int	 full;
};

static size_t	utf8_seq(const unsigned char *, size_t);
static int	jw_fits(const struct jw *, size_t);
static void	jw_put(struct jw *, const char *, size_t);
static int	jw_key(struct jw *, const char *, size_t);
static void	jw_string(struct jw *, const char *, size_t);
static void	jw_field(struct jw *, const struct log_field *);
static int	jw_head(struct jw *, char *, size_t, const struct logfmt_head *,
		    uint64_t);
static size_t	jw_end(struct jw *);
static void	tw_put(struct tw *, const char *, size_t);
static void	tw_field(struct tw *, const struct log_field *);

/*
 * utf8_seq - the length of the valid UTF-8 sequence at s (n bytes
 * left), or 0: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	size_t		 need, i;
	unsigned	 cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return need;
}

/* jw_fits - n more octets, with the reserve kept */
static int
jw_fits(const struct jw *w, size_t n)
{
	return !w->cut && w->off + n + JW_RESERVE <= w->len;
}

/* jw_put - octets the caller made room for (jw_fits) */
static void
jw_put(struct jw *w, const char *s, size_t n)
{
	memcpy(w->p + w->off, s, n);
	w->off += n;
}

/*
 * jw_key - ,"key": with room behind it for need more octets; 0 if it
 * does not fit (then the object is cut there).  Keys are ours: plain.
 */
static int
jw_key(struct jw *w, const char *key, size_t need)
{
	size_t	 klen = strlen(key);

	if (!jw_fits(w, klen + 4 + need)) {
		w->cut = 1;
		return 0;
	}
	jw_put(w, w->p[w->off - 1] == '{' ? "\"" : ",\"", w->p[w->off - 1] ==
	    '{' ? 1 : 2);
	jw_put(w, key, klen);
	jw_put(w, "\":", 2);
	return 1;
}

/*
 * jw_string - a string value; its opening quote and room for the cut
 * marker were made sure of by jw_key.  Octets that no longer fit end
 * the string with ..." and the object there.
 */
static void
jw_string(struct jw *w, const char *s, size_t n)
{
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*u = (const unsigned char *)s;
	char			 esc[8];
	size_t			 i = 0, k, seq;

	jw_put(w, "\"", 1);
	while (i < n) {
		seq = 1;
		if (u[i] == '"' || u[i] == '\\') {
			esc[0] = '\\';
			esc[1] = (char)u[i];
			k = 2;
		} else if (u[i] == '\n' || u[i] == '\r' || u[i] == '\t') {
			esc[0] = '\\';
			esc[1] = u[i] == '\n' ? 'n' : u[i] == '\r' ? 'r' : 't';
			k = 2;
		} else if (u[i] < 0x20 || u[i] == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[u[i] >> 4];
			esc[5] = hex[u[i] & 0xf];
			k = 6;
		} else if (u[i] < 0x80) {
			esc[0] = (char)u[i];
			k = 1;
		} else if ((seq = utf8_seq(u + i, n - i)) == 0) {
			/* not UTF-8: one replacement character per octet */
			memcpy(esc, "\\ufffd", 6);
			k = 6;
			seq = 1;
		} else if (seq == 3 && u[i] == 0xe2 && u[i + 1] == 0x80 &&
		    (u[i + 2] == 0xa8 || u[i + 2] == 0xa9)) {
			/* U+2028/9 end a line in JavaScript: escaped too */
			memcpy(esc, u[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			k = 6;
		} else {
			memcpy(esc, u + i, seq);
			k = seq;
		}
		if (!jw_fits(w, k + JW_CUT)) {
			jw_put(w, "...\"", JW_CUT);
			w->cut = 1;
			return;
		}
		jw_put(w, esc, k);
		i += seq;
	}
	jw_put(w, "\"", 1);
}

/* jw_field - one field in its JSON type; a NULL string is left out */
static void
jw_field(struct jw *w, const struct log_field *f)
{
	char	 num[48];
	int	 n;

	switch (f->type & ~LOGT_VIS) {
	case LOGT_UINT:
		n = snprintf(num, sizeof(num), "%llu", f->u);
		break;
	case LOGT_SECS:
		n = snprintf(num, sizeof(num), "%.3f",
		    isfinite(f->d) && f->d >= 0 ? f->d : 0.0);
		break;
	case LOGT_BOOL:
	case LOGT_FLAG:
		if ((f->type & ~LOGT_VIS) == LOGT_FLAG && !f->u)
			return;
		n = snprintf(num, sizeof(num), "%s", f->u ? "true" : "false");
		break;
	default:
		if (f->s == NULL)
			return;
		if (jw_key(w, f->key, 1 + JW_CUT))
			jw_string(w, f->s, strlen(f->s));
		return;
	}
	if (n > 0 && (size_t)n < sizeof(num) && jw_key(w, f->key, (size_t)n))
		jw_put(w, num, (size_t)n);
}

/* jw_head - {"time":...,"level":...,"pid":N[,"facility"][,"session"] */
static int
jw_head(struct jw *w, char *buf, size_t len, const struct logfmt_head *h,
    uint64_t id)
{
	char	 num[24];

	w->p = buf;
	w->len = len;
	w->off = 0;
	w->cut = 0;
	if (len < LOGFMT_JSON_MIN) {
		if (len > 0)
			buf[0] = '\0';
		return -1;
	}
	jw_put(w, "{", 1);
	if (jw_key(w, "time", 1 + JW_CUT))
		jw_string(w, h->time, strlen(h->time));
	if (jw_key(w, "level", 1 + JW_CUT))
		jw_string(w, h->level, strlen(h->level));
	(void)snprintf(num, sizeof(num), "%ld", h->pid);
	if (jw_key(w, "pid", strlen(num)))
		jw_put(w, num, strlen(num));
	if (h->facility != NULL && jw_key(w, "facility", 1 + JW_CUT))
		jw_string(w, h->facility, strlen(h->facility));
	if (id != 0 && jw_key(w, "session", 18)) {
		(void)snprintf(num, sizeof(num), "\"%016llx\"",
		    (unsigned long long)id);
		jw_put(w, num, 18);
	}
	return 0;
}

/* jw_end - close the object (the reserve always has room for it) */
static size_t
jw_end(struct jw *w)
{
	if (w->cut) {
		memcpy(w->p + w->off, ",\"truncated\":true}", 18);
		w->off += 18;
	} else
		w->p[w->off++] = '}';
	w->p[w->off] = '\0';
	return w->off;
}

/* logfmt_json - the event as one JSON object */
size_t
logfmt_json(char *buf, size_t len, const struct logfmt_head *h, uint64_t id,
    const char *event, const struct log_field *f, size_t n)
{
	struct jw	 w;
	size_t		 i;

	if (jw_head(&w, buf, len, h, id) == -1)
		return 0;
	if (jw_key(&w, "event", 1 + JW_CUT))
		jw_string(&w, event, strlen(event));
	for (i = 0; i < n && !w.cut; i++)
		jw_field(&w, &f[i]);
	return jw_end(&w);
}

/* is the text at msg a session id and a space (or its end)? */
static int
msg_has_id(const char *msg, size_t len, uint64_t *id)
{
	uint64_t	v;

	if (len < 16 || (len > 16 && msg[16] != ' ') ||
	    str_hex16(msg, &v) == -1)
		return 0;
	*id = v;
	return v != 0;
}

/* logfmt_json_msg - a free-text line as JSON, its session id apart */
size_t
logfmt_json_msg(char *buf, size_t len, const struct logfmt_head *h,
    const char *msg, size_t msglen)
{
	struct jw	 w;
	uint64_t	 id = 0;

	if (msg_has_id(msg, msglen, &id)) {
		msg += msglen > 16 ? 17 : 16;
		msglen -= msglen > 16 ? 17 : 16;
	}
	if (jw_head(&w, buf, len, h, id) == -1)
		return 0;
	if (jw_key(&w, "msg", 1 + JW_CUT))
		jw_string(&w, msg, msglen);
	return jw_end(&w);
}

/* tw_put - append what fits; the rest marks the line full */
static void
tw_put(struct tw *w, const char *s, size_t n)
{
	if (w->full)
		return;
	if (w->off + n >= w->len) {
		n = w->len - 1 - w->off;
		w->full = 1;
	}
	memcpy(w->p + w->off, s, n);
	w->off += n;
}

/* tw_field - " key=value" in the field's text form */
static void
tw_field(struct tw *w, const struct log_field *f)
{
	char		 v[TEXT_VALUE_MAX];
	const char	*open = "", *close = "";
	int		 type = f->type & ~LOGT_VIS;

	switch (type) {
	case LOGT_UINT:
		(void)snprintf(v, sizeof(v), "%llu", f->u);
		break;
	case LOGT_SECS:
		(void)snprintf(v, sizeof(v), "%.3fs", f->d);
		break;
	case LOGT_BOOL:
		(void)snprintf(v, sizeof(v), "%s", f->u ? "yes" : "no");
		break;
	case LOGT_FLAG:
		if (f->u) {
			tw_put(w, " ", 1);
			tw_put(w, f->key, strlen(f->key));
		}
		return;
	default:
		if (f->s == NULL)
			return;
		if (f->type & LOGT_VIS)
			(void)gw_strlcpy(v, f->s, sizeof(v));
		else
			(void)str_vis(v, sizeof(v), f->s, strlen(f->s));
		if (type == LOGT_QUOTED)
			open = close = "\"";
		else if (type == LOGT_ADDR) {
			open = "<";
			close = ">";
		}
		break;
	}
	tw_put(w, " ", 1);
	tw_put(w, f->key, strlen(f->key));
	tw_put(w, "=", 1);
	tw_put(w, open, strlen(open));
	tw_put(w, v, strlen(v));
	tw_put(w, close, strlen(close));
}

/* logfmt_text - "%016x event key=value ..."; "..." ends a cut line */
size_t
logfmt_text(char *buf, size_t len, uint64_t id, const char *event,
    const struct log_field *f, size_t n)
{
	struct tw	 w = { buf, len, 0, 0 };
	char		 ids[24];
	size_t		 i;

	if (len < 4) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	if (id != 0) {
		(void)snprintf(ids, sizeof(ids), "%016llx ",
		    (unsigned long long)id);
		tw_put(&w, ids, strlen(ids));
	}
	tw_put(&w, event, strlen(event));
	for (i = 0; i < n; i++)
		tw_field(&w, &f[i]);
	if (w.full)
		memcpy(buf + len - 4, "...", 3);
	buf[w.off] = '\0';
	return w.off;
}
