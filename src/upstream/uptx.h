/*
 * uptx - the upstream side of one transaction.
 *
 * Only its first piece exists so far: the arguments of MAIL and RCPT as
 * the upstream will read them (uptx_path_args), pure and tested alone.
 * The transaction object itself (start it with a sender, add recipients,
 * hand it a body, get each reply back), which the client session drives
 * today and a queue runner will drive later, is still relay.c's lockstep
 * (issue 11, part 1: not done).
 */
#ifndef GW_UPTX_H
#define GW_UPTX_H

#include <stddef.h>

#include "smtp/smtp_parse.h"

/* room for any parsed path with all its parameters */
#define UPTX_ARGS_MAX	(SMTP_PATH_MAX + SMTP_PARAM_MAX * \
			    (SMTP_PARAM_KW_MAX + SMTP_PARAM_VAL_MAX + 2))
/* the DSN keywords left out, comma-separated */
#define UPTX_DROPPED_MAX	(SMTP_PARAM_MAX * SMTP_PARAM_KW_MAX)

/*
 * uptx_path_args - "<addr> PARAMS" for the upstream's MAIL (rcpt 0) or
 * RCPT (rcpt 1), given the upstream's EHLO flags (SMTP_EXT_*): only
 * parameters the upstream announced are passed on, exactly as the client
 * sent them.  SIZE and BODY go only to an upstream that offers them
 * (8BITMIME bodies are passed through unchanged: no downgrade).  The DSN
 * ones (RFC 3461) go to an upstream without DSN as RFC 3461 4 says a
 * relay to a non-DSN server does: the command goes without them, and
 * their keywords are put in dropped ("" if none) for the caller to log.
 * Returns NULL, or the reason to refuse (SMTPUTF8 to an upstream without
 * it, a buffer too small).
 */
const char *uptx_path_args(unsigned ext_flags, const struct smtp_path *,
		    int rcpt, char *buf, size_t len, char *dropped,
		    size_t droppedlen);

#endif
