/*
 * smtp_client_idle.c - handing an upstream session from owner to owner
 * (attach, detach) and watching it while nobody owns it (see the
 * "Pooling" part of smtp_client.h).
 *
 * The watch needs no timer and no extra event: the io keeps reading
 * while the client idles (and pokes itself for records already
 * decrypted inside wolfSSL, which do not make the socket readable), so an
 * EOF, a reset, an alert or any text arrives through the session's
 * ordinary paths, and client_fail() sends it to the holder's dead()
 * instead of an owner's failed() while CF_DETACHED is set.  Post-handshake
 * TLS messages (a TLS 1.3 session ticket sent late) are consumed inside
 * wolfSSL and bring no input, so they do not kill the connection.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#include "net/io.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define IDLE_SHOW_MAX	80	/* octets of unsolicited text shown */

static const char *client_idle_probe(struct smtp_client *, char *, size_t);
static int	client_rset_refused(struct smtp_client *, const char *);

/* smtp_client_detach - the owner lets go of an idle client */
int
smtp_client_detach(struct smtp_client *c, const struct smtp_client_idle_cb *icb,
    void *arg)
{
	if (icb == NULL || icb->dead == NULL)
		fatalx("smtp_client_detach: no dead callback");
	if (c->flags & CF_DETACHED)
		fatalx("smtp_client_detach: already detached");
	if ((c->flags & (CF_FAILED | CF_QUIET | CF_FREE)) || c->io == NULL)
		return -1;
	/* an owner that attached during detach's RSET may give it back */
	if (c->state != CS_READY && !(c->flags & CF_PARKING))
		fatalx("smtp_client_detach: in state %s (a command is "
		    "outstanding)", client_strstate(c->state));
	client_hold(c);
	c->api++;	/* a failure from here is dead() from the loop */
	c->flags &= ~CF_READY_PENDING;
	c->flags |= CF_DETACHED;
	memset(&c->cb, 0, sizeof(c->cb));
	c->arg = NULL;
	c->icb = *icb;
	c->iarg = arg;
	log_trace(LOGF_PROTOCOL, "%016llx smtp-client upstream=%s:%u detached "
	    "messages=%lu%s", (unsigned long long)c->id, c->up->host,
	    c->up->port, c->messages, (c->flags & CF_TX_DIRTY) ?
	    ", RSET first" : "");
	/* an RSET already in flight goes on: idle at its 250 */
	/*
	 * Towards a pipelining upstream the RSET waits and leads the next
	 * MAIL in the same write (RFC 2920): a round trip less per reused
	 * message.  A connection that died meanwhile then fails before
	 * anything of that transaction was accepted, and is retried.
	 */
	if (!(c->flags & CF_PARKING) && (c->flags & CF_TX_DIRTY) &&
	    !(c->ext.flags & SMTP_EXT_PIPELINING)) {
		c->flags |= CF_PARKING;
		client_enter(c, CS_RSET);
	} else if (!(c->flags & CF_PARKING)) {
		if (c->flags & CF_TX_DIRTY)
			c->flags |= CF_RSET_DUE;
		io_trim(c->io);		/* idle now */
	}
	c->api--;
	client_release(c);
	return 0;
}

/*
 * client_idle_probe - is a detached idle connection still usable?  NULL
 * if it seems so, else why not.  A byte waiting in plaintext is text
 * nobody asked for; under TLS it may be a post-handshake message, so it
 * is left to the loop (a reply among it fails the new owner's session
 * before anything of its transaction was accepted: SMTP_TX_NONE).
 */
static const char *
client_idle_probe(struct smtp_client *c, char *why, size_t len)
{
	char	 b;
	ssize_t	 n;

	if (buf_len(io_in(c->io)) != 0)
		return "unsolicited data while idle";
	do
		n = recv(io_fileno(c->io), &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n == 0)
		return "connection closed by upstream while idle";
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK) {
		(void)snprintf(why, len, "connection lost while idle: %s",
		    strerror(errno));
		return why;
	}
	if (n == 1 && !(c->flags & CF_TLS))
		return "unsolicited data while idle";
	return NULL;
}

/* smtp_client_attach - a new owner for a detached client */
int
smtp_client_attach(struct smtp_client *c, const struct smtp_client_cb *cb,
    void *arg)
{
	char		 buf[128];
	const char	*why;

	if (cb == NULL || cb->ready == NULL || cb->reply == NULL ||
	    cb->failed == NULL)
		fatalx("smtp_client_attach: missing callbacks");
	if (!(c->flags & CF_DETACHED))
		fatalx("smtp_client_attach: the client has an owner");
	if ((c->flags & (CF_FAILED | CF_QUIET | CF_FREE)) || c->io == NULL) {
		c->flags |= CF_QUIET;	/* a dead() on its way is dropped */
		return -1;
	}
	if (c->state == CS_READY &&
	    (why = client_idle_probe(c, buf, sizeof(buf))) != NULL) {
		log_info("%016llx smtp-client upstream=%s:%u idle connection "
		    "dropped at reuse: %s", (unsigned long long)c->id,
		    c->up->host, c->up->port, why);
		c->flags |= CF_QUIET;
		client_fail(c, FAIL_CLOSED, "%s", why);	/* closes, no callback */
		return -1;
	}
	memset(&c->icb, 0, sizeof(c->icb));
	c->iarg = NULL;
	c->cb = *cb;
	c->arg = arg;
	c->flags &= ~CF_DETACHED;
	c->tx = SMTP_TX_NONE;
	c->owners++;
	log_trace(LOGF_PROTOCOL, "%016llx smtp-client upstream=%s:%u attached "
	    "owner=%u messages=%lu", (unsigned long long)c->id, c->up->host,
	    c->up->port, c->owners, c->messages);
	/* during detach's RSET, ready() comes with its 250 (client_park_reply) */
	if (!(c->flags & CF_PARKING)) {
		c->flags |= CF_READY_PENDING;
		event_active(c->ev_defer, EV_TIMEOUT, 0);
	}
	return 0;
}

/*
 * client_rset_refused - a reply other than 2xx to our own RSET: the
 * connection is unusable, failed here (1); 0 for a 2xx
 */
static int
client_rset_refused(struct smtp_client *c, const char *txt)
{
	if (c->reply.code / 100 == 2)
		return 0;
	client_fail(c, c->reply.code / 100 == 3 ? FAIL_PROTOCOL :
	    FAIL_REJECTED, "RSET before reuse answered %s", txt);
	return 1;
}

/*
 * client_park_reply - the reply to detach's own RSET: idle on 250, else
 * the connection is unusable (dead(), or failed() to an owner that
 * attached meanwhile, with nothing of its transaction sent).
 */
void
client_park_reply(struct smtp_client *c, const char *txt)
{
	c->flags &= ~CF_PARKING;
	if (client_rset_refused(c, txt))
		return;
	c->flags &= ~CF_TX_DIRTY;
	client_enter(c, CS_READY);
	if (!(c->flags & (CF_DETACHED | CF_QUIET)))
		c->cb.ready(c->arg);
	/* c may be freed here */
}

/*
 * client_own_rset_reply - the reply to detach's RSET that led a MAIL: on
 * 250 the MAIL's reply is awaited next; else the connection is unusable,
 * with nothing of the owner's transaction accepted (so it is retried).
 */
void
client_own_rset_reply(struct smtp_client *c, const char *txt)
{
	c->flags &= ~CF_RSET_OWN;
	if (client_rset_refused(c, txt))
		return;
	client_pipe_next(c);
}

/* client_idle_defer - from on_defer: ready() to the owner that attached */
void
client_idle_defer(struct smtp_client *c)
{
	if (!(c->flags & CF_READY_PENDING))
		return;
	c->flags &= ~CF_READY_PENDING;
	if ((c->flags & (CF_FAILED | CF_QUIET | CF_DETACHED)) ||
	    c->state != CS_READY)
		return;
	c->cb.ready(c->arg);
	/* c may be freed here */
}

/*
 * client_idle_datain - input while detached and idle: nothing was asked,
 * so whatever it is (a 421 before the server closes, a banner of some
 * other service, garbage) the connection is out of step.  A partial line
 * counts too: no reason to wait for its end.
 */
void
client_idle_datain(struct smtp_client *c)
{
	struct buf	*in = io_in(c->io);
	char		 vis[IDLE_SHOW_MAX * 4 + 1];
	const char	*p;
	size_t		 n, i;

	if ((n = buf_len(in)) == 0) {
		io_trim(c->io);		/* idle from here: keep no buffers */
		return;
	}
	p = buf_data(in);
	for (i = 0; i < n && i < IDLE_SHOW_MAX; i++)
		if (p[i] == '\r' || p[i] == '\n')
			break;
	(void)str_vis(vis, sizeof(vis), p, i);
	if (n >= 3 && memcmp(p, "421", 3) == 0)
		client_fail(c, FAIL_REJECTED, "421 while idle: %s", vis);
	else
		client_fail(c, FAIL_PROTOCOL, "unsolicited data while idle: %s",
		    vis);
}

/* smtp_client_idle - detached, in step, not resetting */
int
smtp_client_idle(const struct smtp_client *c)
{
	return (c->flags & CF_DETACHED) && c->state == CS_READY &&
	    !(c->flags & (CF_PARKING | CF_FAILED | CF_QUIET)) && c->io != NULL;
}

/* smtp_client_tx_state - how far the upstream got (the retry rule) */
enum smtp_client_tx
smtp_client_tx_state(const struct smtp_client *c)
{
	return c->tx;
}

/* smtp_client_messages - final-dot replies received on this connection */
unsigned long
smtp_client_messages(const struct smtp_client *c)
{
	return c->messages;
}
