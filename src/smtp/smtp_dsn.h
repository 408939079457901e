/*
 * smtp_dsn - pure checks of the DSN parameters of RFC 3461 (Delivery
 * Status Notifications) on MAIL and RCPT.
 *
 * Contract: as smtp_parse: NULL on success or a static error string fit
 * for a 501 reply; no I/O, no logging, no allocation.  Parameters arrive
 * already split by smtp_parse_mail/smtp_parse_rcpt (esmtp-value syntax,
 * bounds); these functions judge only the DSN meaning of a value.
 */
#ifndef GW_SMTP_DSN_H
#define GW_SMTP_DSN_H

#include <stddef.h>

#include "smtp/smtp_parse.h"

/*
 * DSN parameters (RFC 3461): RET and ENVID belong to MAIL, NOTIFY and
 * ORCPT to RCPT.  smtp_dsn_keyword - which one kw is for this command
 * (rcpt != 0: RCPT), or SMTP_DSN_NONE.
 */
enum smtp_dsn_kw {
	SMTP_DSN_NONE = 0,
	SMTP_DSN_RET, SMTP_DSN_ENVID, SMTP_DSN_NOTIFY, SMTP_DSN_ORCPT
};
#define SMTP_DSN_ENVID_MAX	100	/* RFC 3461 4.4, the xtext as sent */

enum smtp_dsn_kw smtp_dsn_keyword(const char *kw, int rcpt);
/*
 * smtp_check_dsn - the RFC 3461 syntax of one DSN parameter's value:
 * RET=FULL|HDRS; ENVID=xtext of at most SMTP_DSN_ENVID_MAX octets;
 * NOTIFY=NEVER or a list of SUCCESS, FAILURE, DELAY; ORCPT=addr-type;xtext.
 * xtext ("+" and two upper-case hex digits for an encoded octet) must
 * decode to printable US-ASCII (SP and HTAB allowed).
 */
const char *smtp_check_dsn(enum smtp_dsn_kw, const struct smtp_param *);
/*
 * smtp_xtext_decode - RFC 3461 4 xtext into out (NUL-terminated); *outlen
 * is the decoded length.  Errors: bad syntax, an encoded octet outside
 * printable US-ASCII, or no room in out.
 */
const char *smtp_xtext_decode(const char *s, char *out, size_t outsize,
	    size_t *outlen);

#endif
