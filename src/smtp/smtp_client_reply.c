/*
 * smtp_client_reply.c - what the upstream session does with each complete
 * reply (client_response), state by state: the banner, EHLO or HELO,
 * STARTTLS and AUTH of the set-up, then the transaction's replies, which
 * go to the owner.  A 421 anywhere, or a reply where none was asked,
 * ends the session through failed(), never as an owner's reply.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "net/io.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_parse.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

/* client_reply_text - "550 5.1.1 text" for logs and failed(), escaped */
static void
client_reply_text(const struct smtp_reply *r, char *out, size_t outlen)
{
	char	 flat[SMTP_REPLY_TEXT_MAX], vis[CLIENT_TEXT_MAX];
	size_t	 i, n;
	int	 w;

	n = r->textlen < sizeof(flat) - 1 ? r->textlen : sizeof(flat) - 1;
	for (i = 0; i < n; i++)
		flat[i] = r->text[i] == '\n' ? ' ' : r->text[i];
	(void)str_vis(vis, sizeof(vis), flat, n);
	w = snprintf(out, outlen, "%d%s%s %s", r->code,
	    r->enh[0] != '\0' ? " " : "", r->enh, vis);
	/* a log text may be cut, but visibly */
	if ((w < 0 || (size_t)w >= outlen) && outlen > 4)
		memcpy(out + outlen - 4, "...", 4);
}

/* client_no_tls - STARTTLS impossible: fail or carry on as the mode says */
static void
client_no_tls(struct smtp_client *c, const char *why)
{
	/* only starttls-optional may ever carry mail in cleartext (pitfall 3) */
	if (c->up->tls != TLS_STARTTLS_OPTIONAL) {
		client_fail(c, FAIL_STARTTLS_UNAVAILABLE, "%s; tls=%s requires TLS",
		    why, tls_mode_name(c->up->tls));
		return;
	}
	log_warnx("%016llx smtp-client upstream=%s:%u continuing without TLS "
	    "(tls=starttls-optional): %s", (unsigned long long)c->id,
	    c->up->host, c->up->port, why);
	client_auth_or_ready(c);
}

/* client_after_hello - the greeting was accepted: TLS next, or ready */
static void
client_after_hello(struct smtp_client *c)
{
	if ((c->flags & CF_TLS) || c->up->tls == TLS_NONE) {
		client_auth_or_ready(c);
		return;
	}
	if (!TLS_USES_STARTTLS(c->up->tls))
		fatalx("smtp_client: tls=%s without TLS after the greeting",
		    tls_mode_name(c->up->tls));
	if (c->flags & CF_HELO) {
		client_no_tls(c, "EHLO refused, HELO cannot negotiate STARTTLS");
		return;
	}
	if (!(c->ext.flags & SMTP_EXT_STARTTLS)) {
		client_no_tls(c, "STARTTLS not offered");
		return;
	}
	client_enter(c, CS_STARTTLS);
}

/*
 * client_tx_reply - the reply to MAIL, RCPT, DATA, RSET or the final dot:
 * the owner's (or detach's own RSET's), checked first.
 */
static void
client_tx_reply(struct smtp_client *c, const char *txt)
{
	struct smtp_reply	*r = &c->reply;
	int			 cls = r->code / 100;

	if (c->state == CS_DATA && r->code == 354) {
		client_enter(c, CS_BODY);
		return;
	}
	/*
	 * Only 354 lets the body go.  A 2xx here means the upstream took no
	 * message (a broken server, or someone on the path under tls =
	 * none): passed on, it would be a 250 for a message never sent.
	 * Refusals (4xx, 5xx) are replies.
	 */
	if (c->state == CS_DATA && cls != 4 && cls != 5) {
		client_fail(c, FAIL_PROTOCOL, "DATA answered with %s instead of "
		    "354: no message was sent", txt);
		return;
	}
	/*
	 * RFC 5321 4.3.2: no 3xx answers the others.  The upstream and we no
	 * longer agree on where the transaction is, so neither its 3xx nor a
	 * guess goes to the owner.
	 */
	if (cls == 3) {
		client_fail(c, FAIL_PROTOCOL, "%s answered with %s",
		    c->state == CS_DOT ? "final dot" :
		    client_strstate(c->state), txt);
		return;
	}
	if (c->state == CS_RSET && (c->flags & CF_RSET_OWN)) {
		client_own_rset_reply(c, txt);
		return;
	}
	if (c->state == CS_MAIL && cls == 2)
		c->tx = SMTP_TX_MAIL;
	else if (c->state == CS_RSET && cls == 2) {
		if (c->tx == SMTP_TX_MAIL)
			c->tx = SMTP_TX_NONE;
		/* a MAIL sent behind the RSET keeps it dirty */
		if (c->npipe == 0)
			c->flags &= ~CF_TX_DIRTY;
	}
	client_pipe_next(c);
	if (!(c->flags & CF_QUIET))
		c->cb.reply(c->arg, r);
	/* c may be freed here */
}

/*
 * client_setup_reply - a reply while the connection is being set up
 * (banner, EHLO or HELO, STARTTLS), or one in a state that asked nothing
 */
static void
client_setup_reply(struct smtp_client *c, const char *txt)
{
	struct smtp_reply	*r = &c->reply;
	int			 cls = r->code / 100;

	switch (c->state) {
	case CS_BANNER:
		if (r->code != 220) {
			client_fail(c, FAIL_REJECTED, "banner: %s", txt);
			return;
		}
		client_enter(c, CS_EHLO);
		break;
	case CS_EHLO:
	case CS_EHLO_TLS:
		if (cls == 2) {
			smtp_parse_ehlo(r, &c->ext);
			client_after_hello(c);
		} else if (cls == 5)
			client_enter(c, CS_HELO);
		else
			client_fail(c, FAIL_REJECTED, "EHLO: %s", txt);
		break;
	case CS_HELO:
		if (cls != 2) {
			client_fail(c, FAIL_REJECTED, "HELO: %s", txt);
			return;
		}
		client_after_hello(c);
		break;
	case CS_STARTTLS:
		if (r->code != 220) {
			client_no_tls(c, "STARTTLS refused");
			return;
		}
		/*
		 * client_datain() already refused bytes after this reply; the
		 * check is repeated where it matters, next to the switch.
		 */
		if (buf_len(io_in(c->io)) != 0) {
			client_fail(c, FAIL_PROTOCOL, "data after the 220 to STARTTLS");
			return;
		}
		client_enter(c, CS_TLS_STARTTLS);
		break;
	default:
		/* nothing was asked: a reply now means the peer is confused */
		client_fail(c, FAIL_PROTOCOL, "unexpected reply in state %s: %s",
		    client_strstate(c->state), txt);
		break;
	}
}

/*
 * client_response - react to one complete reply in the current state.
 */
void
client_response(struct smtp_client *c)
{
	struct smtp_reply	*r = &c->reply;
	char			 txt[CLIENT_TEXT_MAX];

	client_reply_text(r, txt, sizeof(txt));
	if (c->state == CS_DOT)
		c->messages++;	/* carried, whatever the answer */
	if (c->state == CS_QUIT) {
		client_finish(c);
		return;
	}
	/*
	 * 421: the upstream is closing the connection.  Even in the middle of
	 * a transaction this is reported as failed(), never as a reply: the
	 * connection is gone and the owner must not issue another command.
	 */
	if (r->code == 421) {
		client_fail(c, FAIL_REJECTED, "upstream is closing in %s: %s",
		    client_strstate(c->state), txt);
		return;
	}
	if (c->flags & CF_PARKING) {
		client_park_reply(c, txt);
		return;
	}

	switch (c->state) {
	case CS_AUTH:
		client_auth_response(c, txt);
		break;
	case CS_DATA:
	case CS_MAIL:
	case CS_RCPT:
	case CS_RSET:
	case CS_DOT:
		client_tx_reply(c, txt);
		/* c may be freed here */
		break;
	default:
		client_setup_reply(c, txt);
		break;
	}
}
