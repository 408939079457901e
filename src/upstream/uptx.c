/*
 * uptx.c - the upstream side of one transaction (its first piece: the
 * MAIL and RCPT arguments).  Pure, no I/O.
 */
#include <stdio.h>

#include "smtp/smtp_dsn.h"
#include "upstream/uptx.h"
#include "util/str.h"

/* uptx_dropped - one more DSN keyword left out */
static void
uptx_dropped(char *dropped, size_t len, const char *keyword)
{
	/* keywords are checked letters, digits and '-' */
	if (dropped[0] != '\0')
		(void)gw_strlcat(dropped, ",", len);
	(void)gw_strlcat(dropped, keyword, len);
}

const char *
uptx_path_args(unsigned flags, const struct smtp_path *path, int rcpt,
    char *buf, size_t len, char *dropped, size_t droppedlen)
{
	const struct smtp_param	*p;
	size_t			 i;
	int			 n;

	dropped[0] = '\0';
	n = snprintf(buf, len, "<%s>", path->addr);
	if (n < 0 || (size_t)n >= len)
		return "path too long";
	for (i = 0; i < path->nparams; i++) {
		p = &path->params[i];
		if (str_ieq(p->keyword, "SIZE") && !(flags & SMTP_EXT_SIZE))
			continue;
		/* 8BITMIME bodies are passed through unchanged: no downgrade */
		if (str_ieq(p->keyword, "BODY") && !(flags & SMTP_EXT_8BITMIME))
			continue;
		if (str_ieq(p->keyword, "SMTPUTF8") &&
		    !(flags & SMTP_EXT_SMTPUTF8))
			return "upstream does not support SMTPUTF8";
		if (smtp_dsn_keyword(p->keyword, rcpt) != SMTP_DSN_NONE &&
		    !(flags & SMTP_EXT_DSN)) {
			uptx_dropped(dropped, droppedlen, p->keyword);
			continue;
		}
		if (gw_strlcat(buf, " ", len) >= len ||
		    gw_strlcat(buf, p->keyword, len) >= len)
			return "parameters too long";
		if (p->has_value && (gw_strlcat(buf, "=", len) >= len ||
		    gw_strlcat(buf, p->value, len) >= len))
			return "parameters too long";
	}
	return NULL;
}
