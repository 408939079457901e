/*
 * qenv - the envelope of a queued message, and its file format.
 *
 * A queued message is one file in the queue directory, ID.msg: the
 * message as it will be sent (signed, immutable), then this envelope (who
 * sent it, to whom, each recipient's state, when to try next) as it was
 * at acceptance, then a tail line giving the envelope's length
 * (qenv_tail_format): one file to write and fsync per message.  When a
 * recipient's state changes, the envelope is written whole to a second
 * file, ID.env (new file, fsync, rename), which from then on stands for
 * the one in ID.msg; so a crash leaves either the old or the new one,
 * never half of each.
 *
 * The format is text, one record a line, "KEY VALUE...", so that an
 * operator can read it with cat (smtpgate queue show prints it decoded):
 *
 *	smtpgate-queue 1
 *	id 3f2a9c0d11e84b27
 *	arrival 1733430000
 *	...
 *	rcpt pending - user@example.com ...
 *	end
 *
 * Every value is one token: octets outside 0x21..0x7e, and '%', are
 * written as %XX, so a hostile address cannot start a record of its own.
 * "-" is an empty value.  "end" must be the last line: a file cut short
 * by a crash, a full disk or an operator's editor is refused, not half
 * read.  Unknown keys are refused too (a newer version's file is not
 * silently misread).  Pure functions, no I/O: qenv_parse and qenv_format
 * have a fuzz target (tests/fuzz/fuzz_qenv.c).
 */
#ifndef GW_QENV_H
#define GW_QENV_H

#include <stddef.h>
#include <stdint.h>

#define QENV_VERSION		1
#define QENV_FILE_MAX		(4u << 20)	/* bytes of an envelope file */
/*
 * bytes of one record: the longest qenv_format can write, a recipient
 * with three values of QENV_TEXT_MAX octets each written as %XX
 */
#define QENV_LINE_MAX		(3 * 3 * QENV_TEXT_MAX + 256)
#define QENV_RCPT_MAX		10000
#define QENV_TEXT_MAX		1024		/* one decoded value */

/* the recipient's state; only PENDING ones are tried again */
enum qrcpt_state {
	QR_PENDING = 0,		/* not delivered yet (or 4xx so far) */
	QR_DELIVERED,		/* the upstream took it (250) */
	QR_FAILED,		/* 5xx or lifetime over: a DSN is owed */
	QR_DONE			/* failed, and the DSN was sent or not wanted */
};

/* RFC 3461 NOTIFY, as bits; 0 means the parameter was absent */
#define QN_NEVER	0x01u
#define QN_SUCCESS	0x02u
#define QN_FAILURE	0x04u
#define QN_DELAY	0x08u

/* RFC 3461 RET */
enum qret {
	QRET_NONE = 0,		/* absent: the whole message (our choice) */
	QRET_FULL,
	QRET_HDRS
};

struct qrcpt {
	char			*addr;		/* without <>; never empty */
	enum qrcpt_state	 state;
	unsigned		 notify;	/* QN_* */
	char			*orcpt;		/* "rfc822;addr" or NULL */
	char			*reply;		/* the last reply, or NULL */
};

#define QF_HOLD		0x01u	/* held by the operator: not tried */
#define QF_BOUNCE	0x02u	/* this message is a DSN: never bounce it */

struct qenv {
	uint64_t		 id;
	int64_t			 arrival;	/* unix seconds */
	int64_t			 next;		/* next attempt, unix seconds */
	unsigned		 attempts;
	unsigned		 flags;		/* QF_* */
	unsigned long long	 size;		/* octets of the message */
	char			*listener;	/* the listener that took it */
	char			*client;	/* client address, for logs */
	/* the client's login on the listener (auth = map picks the account) */
	char			*user;
	/*
	 * the sender whose route it follows, when not its own: a bounce
	 * (null sender) leaves as the original did
	 */
	char			*route;
	char			*sender;	/* without <>; "" is the null sender */
	char			*mail_params;	/* ESMTP MAIL params sent on, or NULL */
	char			*envid;		/* RFC 3461 ENVID (xtext), or NULL */
	enum qret		 ret;
	char			*last_error;	/* the last temporary failure */
	struct qrcpt		*rcpt;
	size_t			 nrcpt;
};

/* qenv_free - every string and the recipient array; *e is zeroed */
void	qenv_free(struct qenv *e);

/*
 * qenv_add_rcpt - append a recipient (PENDING), copying the strings.
 * -1 (ENOMEM, or more than QENV_RCPT_MAX) leaves e unchanged.
 */
int	qenv_add_rcpt(struct qenv *e, const char *addr, unsigned notify,
	    const char *orcpt);

/*
 * qenv_set - replace a string field (*field) with a copy of value (NULL
 * allowed).  -1 on ENOMEM, the old value kept.
 */
int	qenv_set(char **field, const char *value);

/*
 * qenv_format - the file text of e into a new malloc'd buffer (*out,
 * *outlen; NUL-terminated).  -1 on ENOMEM, or when a value is over
 * QENV_TEXT_MAX or the file over QENV_FILE_MAX (why says which).
 */
int	qenv_format(const struct qenv *e, char **out, size_t *outlen,
	    char *why, size_t whylen);

/*
 * qenv_parse - read a file's text into *e (which is overwritten; free it
 * with qenv_free also after a failure).  0, or -1 with why naming the
 * line and what is wrong with it.
 */
int	qenv_parse(const char *text, size_t len, struct qenv *e, char *why,
	    size_t whylen);

/*
 * The tail of ID.msg: "smtpgate-envelope " and the envelope's length in
 * 16 lowercase hex digits, then LF; the envelope's text ends where the
 * tail starts, and the message ends where the envelope starts.
 */
#define QENV_TAIL_LEN		35
/* qenv_tail_format - the tail for an envelope of len octets, NUL-ended */
void	qenv_tail_format(char out[QENV_TAIL_LEN + 1], size_t len);
/*
 * qenv_tail_parse - tail (n octets, the last of the file) to the
 * envelope's length *len: 0, or -1 if it is not a tail or the length is
 * over QENV_FILE_MAX
 */
int	qenv_tail_parse(const char *tail, size_t n, size_t *len);

/* qenv_pending - recipients still PENDING */
size_t	qenv_pending(const struct qenv *e);

const char *qrcpt_state_name(enum qrcpt_state);

#endif
