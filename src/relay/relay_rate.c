/*
 * relay_rate.c - the listener's rate limits at MAIL and RCPT
 * (rate_messages, rate_user_messages, rate_recipients; net/ratecheck.c
 * decides).  Checked before the upstream is involved: over a limit the
 * client gets 450 4.7.1, transient, so that a real client keeps its
 * message and retries later, and an info line says which limit.
 *
 * A message counts at MAIL, accepted or not by the upstream later: it
 * bounds attempts, and a refused MAIL or RCPT is not counted.
 */
#include <sys/queue.h>

#include <inttypes.h>
#include <string.h>

#include "conf/conf.h"
#include "net/ratecheck.h"
#include "relay/relay_local.h"
#include "relay/txlog.h"
#include "smtp/smtp_server.h"
#include "util/log.h"
#include "util/str.h"

static void	refuse(struct relay *, const char *, const char *, const char *,
		    const char *);

/*
 * The lines, then the reply: the limit that was hit, and the refusal
 * line every refused sender or recipient gets (txlog_refused).
 */
static void
refuse(struct relay *r, const char *limit, const char *user,
    const char *from, const char *text)
{
	char	 rate[RATELIMIT_TEXT_MAX], uvis[SMTP_SASL_ID_MAX * 4 + 1];
	const char *cmd = strcmp(limit, "rate_recipients") == 0 ?
		    "RCPT" : "MAIL";

	(void)ratecheck_text(r->l, limit, rate, sizeof(rate));
	if (user != NULL && *user != '\0')
		log_info("%016" PRIx64 " rate limit client=%s user=\"%s\" "
		    "limit=%s rate=%s cmd=%s", r->id,
		    smtp_server_info(r->srv)->peer,
		    str_vis(uvis, sizeof(uvis), user, strlen(user)), limit,
		    rate, cmd);
	else
		log_info("%016" PRIx64 " rate limit client=%s limit=%s "
		    "rate=%s cmd=%s", r->id, smtp_server_info(r->srv)->peer,
		    limit, rate, cmd);
	txlog_refused(r->id, *cmd == 'R' ? "rcpt" : "mail", "gateway",
	    smtp_server_info(r->srv)->peer, smtp_server_info(r->srv)->proxy,
	    from, *cmd == 'R' ? r->rcpt : NULL, 450, "4.7.1", text);
	smtp_server_reply(r->srv, 450, "4.7.1", text);
}

/* relay_rate_mail - 1 if MAIL was over a limit and has been answered */
int
relay_rate_mail(struct relay *r, const char *from)
{
	const char	*user = NULL, *limit;

	/* a login on the listener exists only under these two modes */
	if (r->up->auth == AUTH_PASSTHROUGH || r->up->auth == AUTH_MAP)
		user = smtp_server_info(r->srv)->auth_user;
	if ((limit = ratecheck_mail(r->l, (struct sockaddr *)&r->peer,
	    user)) == NULL)
		return 0;
	refuse(r, limit, user, from, strcmp(limit, "rate_user_messages") == 0 ?
	    "Too many messages from this user, try again later" :
	    "Too many messages from your address, try again later");
	return 1;
}

/* relay_rate_rcpt - 1 if RCPT was over rate_recipients and answered */
int
relay_rate_rcpt(struct relay *r)
{
	const char	*user = NULL, *limit;

	if ((limit = ratecheck_rcpt(r->l, (struct sockaddr *)&r->peer)) ==
	    NULL)
		return 0;
	if (r->up->auth == AUTH_PASSTHROUGH || r->up->auth == AUTH_MAP)
		user = smtp_server_info(r->srv)->auth_user;
	refuse(r, limit, user, r->from != NULL ? r->from->addr : "",
	    "Too many recipients from your address, try again later");
	return 1;
}
