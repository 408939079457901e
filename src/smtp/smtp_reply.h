/*
 * smtp_reply - the replies smtpgate itself generates, and the mapping from
 * an upstream failure class to the reply the legacy client sees.
 *
 * Contract: pure.  Upstream failures always map to 4xx (the client keeps
 * the message and retries); the class name appears in the reply text so an
 * operator can match a client's log against ours.
 */
#ifndef GW_SMTP_REPLY_H
#define GW_SMTP_REPLY_H

#include <stddef.h>
#include "util/fail.h"

struct smtp_reply_map {
	int		 code;		/* 421 or 451 ... */
	const char	*enh;		/* "4.4.1" */
	const char	*text;		/* "Upstream unreachable" */
};

/* smtp_reply_fail_map - the fixed mapping for a class (never NULL) */
const struct smtp_reply_map *smtp_reply_fail_map(enum gw_fail cls);
/*
 * smtp_reply_for_fail - "451 4.4.1 Upstream unreachable (connect)" into buf,
 * no CRLF.  Returns the length, or -1 if it does not fit.
 */
int	smtp_reply_for_fail(enum gw_fail cls, char *buf, size_t len);

/* the command an upstream reply answers, for smtp_reply_enh() */
enum smtp_reply_cmd {
	SMTP_RC_MAIL,
	SMTP_RC_RCPT,
	SMTP_RC_DATA,		/* the DATA command itself */
	SMTP_RC_DOT,		/* the end of the message data */
	SMTP_RC_RSET,
	SMTP_RC_AUTH,
	SMTP_RC_OTHER
};

/*
 * smtp_reply_enh - the enhanced status code (RFC 3463) the client gets
 * with an upstream reply: the upstream's own code when it gave a valid
 * one (given, may be NULL or ""), else the one that fits the command and
 * the reply code (docs/replies.md).  NULL for replies that have none: the
 * 3xx intermediates (RFC 3463 has no class 3) and codes outside 2xx-5xx.
 */
const char *smtp_reply_enh(enum smtp_reply_cmd, int code, const char *given);

#endif
