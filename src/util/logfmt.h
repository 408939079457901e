/*
 * logfmt - one log event rendered as a text line or as a JSON object
 * (log_format = text | json).  Pure: no I/O, no clock, no allocation;
 * log.c adds the time, level and target.
 *
 * Contract: values are raw (unescaped, possibly hostile: CR, LF, quotes,
 * invalid UTF-8); each renderer escapes them for its own form.  The text
 * form is "ID event key=value ...", as the callers wrote it before the
 * structured fields existed; the JSON form is one object on one line,
 * always well-formed, however small the buffer (values are cut with
 * "..." and "truncated":true is added) and whatever the bytes.
 */
#ifndef GW_LOGFMT_H
#define GW_LOGFMT_H

#include <stddef.h>
#include <stdint.h>

/* how a field is written in the text form (JSON: string, number, bool) */
enum logt {
	LOGT_WORD,		/* key=value (escaped, no quotes) */
	LOGT_QUOTED,		/* key="value" */
	LOGT_ADDR,		/* key=<value> */
	LOGT_UINT,		/* key=N; JSON number */
	LOGT_SECS,		/* key=N.NNNs; JSON seconds as a number */
	LOGT_BOOL,		/* key=yes|no; JSON true|false */
	LOGT_FLAG,		/* key alone; JSON true; left out when false */
};

/* the value is escaped already (str_vis): the text form writes it as is */
#define LOGT_VIS	0x100

struct log_field {
	const char		*key;	/* [a-z_0-9]+, never "time", "level" ... */
	int			 type;	/* enum logt, maybe | LOGT_VIS */
	const char		*s;	/* string types; NULL: field left out */
	unsigned long long	 u;	/* LOGT_UINT, LOGT_BOOL */
	double			 d;	/* LOGT_SECS */
};

#define LOGK_WORD(k, v)	((struct log_field){ (k), LOGT_WORD, (v), 0, 0 })
#define LOGK_STR(k, v)	((struct log_field){ (k), LOGT_QUOTED, (v), 0, 0 })
#define LOGK_ADDR(k, v)	((struct log_field){ (k), LOGT_ADDR, (v), 0, 0 })
#define LOGK_UINT(k, v)	((struct log_field){ (k), LOGT_UINT, "", (v), 0 })
#define LOGK_SECS(k, v)	((struct log_field){ (k), LOGT_SECS, "", 0, (v) })
#define LOGK_BOOL(k, v)	((struct log_field){ (k), LOGT_BOOL, "", !!(v), 0 })
#define LOGK_FLAG(k, v)	((struct log_field){ (k), LOGT_FLAG, "", !!(v), 0 })
/* the same with LOGT_VIS: a value escaped already */
#define LOGK_WORDV(k, v) ((struct log_field){ (k), LOGT_WORD | LOGT_VIS, \
			    (v), 0, 0 })
#define LOGK_STRV(k, v)	((struct log_field){ (k), LOGT_QUOTED | LOGT_VIS, \
			    (v), 0, 0 })

/* what every JSON line starts with */
struct logfmt_head {
	const char	*time;		/* "2026-12-05T20:21:51.123Z" */
	long		 pid;
	const char	*level;		/* "info" */
	const char	*facility;	/* debug traces: "protocol"; or NULL */
};

/* the smallest buffer the JSON renderers write into */
#define LOGFMT_JSON_MIN	128

/*
 * logfmt_text - "%016x event key=value ..." into buf (id 0: no id);
 * a line that does not fit ends in "...".  Returns the length.
 */
size_t	logfmt_text(char *buf, size_t len, uint64_t id, const char *event,
	    const struct log_field *f, size_t n);
/*
 * logfmt_json - the event as one JSON object (no newline): head,
 * "session" (id 0: none), "event", then the fields.  Returns the length;
 * 0 (and "") when len < LOGFMT_JSON_MIN.
 */
size_t	logfmt_json(char *buf, size_t len, const struct logfmt_head *h,
	    uint64_t id, const char *event, const struct log_field *f,
	    size_t n);
/*
 * logfmt_json_msg - a free-text line as JSON: head, "session" when msg
 * starts with a 16-hex-digit id and a space (taken off the text), and
 * "msg".  msg is the first msglen bytes (any bytes).
 */
size_t	logfmt_json_msg(char *buf, size_t len, const struct logfmt_head *h,
	    const char *msg, size_t msglen);

#endif
