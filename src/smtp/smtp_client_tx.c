/*
 * smtp_client_tx.c - one transaction on a ready upstream session: MAIL,
 * RCPT, DATA with the body pumped from the owner's source (dot-stuffed,
 * bounded, with backpressure), RSET and QUIT; commands sent behind the
 * one awaited when the upstream offers PIPELINING.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "net/io.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_client_int.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"
#include "auth/sasl.h"
#include "tls/tls.h"
#include "tls/upconn.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

static void	client_command(struct smtp_client *, const char *,
		    enum client_state, const char *);
static void	client_pipe_send(struct smtp_client *, enum client_state);

void
client_body_release(struct smtp_client *c)
{
	free(c->bodybuf);
	free(c->stuffbuf);
	c->bodybuf = c->stuffbuf = NULL;
}

/*
 * client_body_pump - move body octets into the output while it has room;
 * IO_LOWAT brings us back.  At most one chunk of the message is held here.
 */
void
client_body_pump(struct smtp_client *c)
{
	const char	*end;
	size_t		 room, used, outlen, outmax;
	ssize_t		 n;

	for (;;) {
		if (c->bodyoff == c->bodylen && !c->body_eof) {
			n = c->bodyfn(c->bodyarg, c->bodybuf, BODY_CHUNK);
			/* the owner's body source may have freed us */
			if (c->flags & (CF_FREE | CF_FAILED))
				return;
			if (n == SMTP_BODY_WAIT) {
				/*
				 * streamed: smtp_client_body_more() resumes.
				 * No upstream timer meanwhile: the wait is the
				 * client's, bounded by its own session limits
				 * (data_timeout, min_data_rate, which end it
				 * with an abort); a client pausing longer than
				 * command_timeout would lose the message.
				 */
				c->flags |= CF_BODY_WAIT;
				(void)evtimer_del(c->ev_timer);
				return;
			}
			if (n < 0) {
				/*
				 * Without the final dot the upstream discards
				 * what it got: close now, never send ".".
				 */
				client_fail(c, FAIL_INTERNAL, "message body could "
				    "not be read; aborted before the final dot");
				return;
			}
			if ((size_t)n > BODY_CHUNK)
				fatalx("smtp_client: body source returned %zd > %d",
				    n, BODY_CHUNK);
			if (n == 0)
				c->body_eof = 1;
			c->bodyoff = 0;
			c->bodylen = (size_t)n;
			c->body_octets += (unsigned long long)n;
		}
		room = io_outroom(c->io);
		if (c->body_eof && c->bodyoff == c->bodylen) {
			end = smtp_stuff_end(&c->stuff);
			if (room < strlen(end))
				return;	/* IO_LOWAT will call again */
			if (io_write(c->io, end, strlen(end)) == -1) {
				client_fail(c, FAIL_INTERNAL, "cannot queue the final dot");
				return;
			}
			log_trace(LOGF_PROTOCOL, "%016llx > (%llu body octets) .",
			    (unsigned long long)c->id, c->body_octets);
			client_body_release(c);
			client_enter(c, CS_DOT);
			return;
		}
		if (room < BODY_ROOM_MIN)
			return;	/* IO_LOWAT will call again */
		outmax = room < BODY_STUFF_MAX ? room : BODY_STUFF_MAX;
		used = smtp_stuff(&c->stuff, c->bodybuf + c->bodyoff,
		    c->bodylen - c->bodyoff, c->stuffbuf, outmax, &outlen);
		/* with at least BODY_ROOM_MIN of room, a step always moves */
		if (used == 0)
			fatalx("smtp_client: dot-stuffing made no progress");
		if (io_write(c->io, c->stuffbuf, outlen) == -1) {
			client_fail(c, FAIL_INTERNAL, "cannot queue message data");
			return;
		}
		c->bodyoff += used;
	}
}

/*
 * client_command - the common part of MAIL/RCPT/DATA/RSET: the state must
 * be READY (anything else is a bug in the owner), TLS as the mode demands.
 */
static void
client_command(struct smtp_client *c, const char *verb, enum client_state s,
    const char *args)
{
	client_hold(c);
	c->api++;
	/* a failure is being reported on its way: the command is moot */
	if (c->flags & CF_FAILED)
		goto out;
	if (c->state != CS_READY && !smtp_client_can_pipeline(c))
		fatalx("smtp_client: %s in state %s", verb,
		    client_strstate(c->state));
	if (c->state != CS_READY && s == CS_RSET)
		fatalx("smtp_client: RSET pipelined");
	/* a detached client has no owner; a new one waits for ready() */
	if (c->flags & (CF_DETACHED | CF_READY_PENDING))
		fatalx("smtp_client: %s %s", verb, (c->flags & CF_DETACHED) ?
		    "on a detached client" : "before ready()");
	if (TLS_REQUIRED(c->up->tls) && !(c->flags & CF_TLS))
		fatalx("smtp_client: %s in cleartext with tls=%s", verb,
		    tls_mode_name(c->up->tls));
	if (args != NULL) {
		/*
		 * The arguments come from our client through relay; a CR or
		 * LF here would smuggle a second command upstream.  relay
		 * should have refused them: fail this session, not the daemon.
		 */
		if (!client_text_ok(args)) {
			client_fail(c, FAIL_INTERNAL, "%s arguments contain "
			    "control characters", verb);
			goto out;
		}
		if (str_copy(c->cmdarg, args, sizeof(c->cmdarg) - 16) == -1) {
			client_fail(c, FAIL_INTERNAL, "%s arguments too long", verb);
			goto out;
		}
	}
	/*
	 * Towards a pipelining upstream the owner may give more commands
	 * in this turn (a client's batch): they leave in one send.
	 */
	if ((c->ext.flags & SMTP_EXT_PIPELINING) && s != CS_RSET)
		io_cork(c->io);
	if ((c->flags & CF_RSET_DUE) && c->state == CS_READY &&
	    (s == CS_MAIL || s == CS_RSET)) {
		c->flags &= ~CF_RSET_DUE;
		if (s == CS_MAIL) {
			/* detach's RSET, then this MAIL, in one write */
			c->flags |= CF_RSET_OWN;
			client_enter(c, CS_RSET);
			client_pipe_send(c, s);
			goto out;
		}
	}
	if (c->state != CS_READY)
		client_pipe_send(c, s);
	else
		client_enter(c, s);
out:
	c->api--;
	client_release(c);
}

int
smtp_client_can_pipeline(const struct smtp_client *c)
{
	if (!(c->ext.flags & SMTP_EXT_PIPELINING) || (c->flags &
	    (CF_FAILED | CF_PARKING | CF_DETACHED | CF_READY_PENDING)))
		return 0;
	if (c->state != CS_MAIL && c->state != CS_RCPT && c->state != CS_RSET)
		return 0;
	if (c->npipe >= CLIENT_PIPE_MAX)
		return 0;
	return c->npipe == 0 || c->pipe[c->npipe - 1] != CS_DATA;
}

/*
 * client_pipe_send - a command behind the ones awaited (RFC 2920): on
 * the wire now, its state queued for when the replies before it are in.
 */
static void
client_pipe_send(struct smtp_client *c, enum client_state s)
{
	if (s != CS_MAIL && s != CS_RCPT && s != CS_DATA)
		fatalx("smtp_client: %s pipelined", client_strstate(s));
	c->pipe[c->npipe++] = s;
	client_send_verb(c, s);
}

/*
 * client_pipe_next - a reply to the command awaited is in: the next one
 * sent behind it is awaited now (its line is already out), or none.
 */
void
client_pipe_next(struct smtp_client *c)
{
	enum client_state	 next;

	if (c->npipe == 0) {
		client_enter(c, CS_READY);
		return;
	}
	next = c->pipe[0];
	memmove(c->pipe, c->pipe + 1, --c->npipe * sizeof(c->pipe[0]));
	log_trace(LOGF_PROTOCOL, "%016llx smtp-client %s -> %s (pipelined)",
	    (unsigned long long)c->id, client_strstate(c->state),
	    client_strstate(next));
	c->state = next;
	client_timer(c, c->up->command_timeout);
}

/* smtp_client_mail - MAIL FROM */
void
smtp_client_mail(struct smtp_client *c, const char *args)
{
	client_command(c, "MAIL", CS_MAIL, args);
}

/* smtp_client_rcpt - RCPT TO */
void
smtp_client_rcpt(struct smtp_client *c, const char *args)
{
	client_command(c, "RCPT", CS_RCPT, args);
}

/*
 * smtp_client_body_more - resume a pump the body source paused.  Deferred
 * to the loop: the source's owner is usually inside its own io callback,
 * and what it adds in one turn then goes out as one write.  The upstream
 * timer restarts: the wait was the client's, bounded by its own session.
 */
void
smtp_client_body_more(struct smtp_client *c)
{
	if (c == NULL || c->state != CS_BODY || !(c->flags & CF_BODY_WAIT) ||
	    (c->flags & CF_FAILED))
		return;
	c->flags &= ~CF_BODY_WAIT;
	client_timer(c, c->up->command_timeout);
	c->flags |= CF_BODY_KICK;
	event_active(c->ev_defer, EV_TIMEOUT, 1);
}

/* smtp_client_rset - RSET */
void
smtp_client_rset(struct smtp_client *c)
{
	client_command(c, "RSET", CS_RSET, NULL);
}

/* smtp_client_data - DATA, the body, the final dot */
void
smtp_client_data(struct smtp_client *c, smtp_body_fn fn, void *arg)
{
	if (fn == NULL)
		fatalx("smtp_client_data: no body source");
	if (!(c->flags & CF_FAILED) && (c->state == CS_READY ||
	    smtp_client_can_pipeline(c))) {
		c->bodyfn = fn;
		c->bodyarg = arg;
		client_body_release(c);
		c->bodybuf = malloc(BODY_CHUNK);
		c->stuffbuf = malloc(BODY_STUFF_MAX);
		if (c->bodybuf == NULL || c->stuffbuf == NULL) {
			client_hold(c);
			c->api++;
			client_fail(c, FAIL_INTERNAL, "out of memory for DATA");
			c->api--;
			client_release(c);
			return;
		}
	}
	client_command(c, "DATA", CS_DATA, NULL);
}

/* smtp_client_quit - QUIT if idle, then close; no more callbacks */
void
smtp_client_quit(struct smtp_client *c)
{
	if (c == NULL)
		return;
	c->flags |= CF_QUIET;
	if (c->state == CS_QUIT)
		return;
	/* during detach's own RSET, QUIT follows it on the wire */
	if ((c->state != CS_READY && !(c->flags & CF_PARKING)) ||
	    c->io == NULL || (c->flags & CF_FAILED)) {
		smtp_client_free(c);
		return;
	}
	client_hold(c);
	c->api++;
	client_enter(c, CS_QUIT);
	if (c->flags & CF_FAILED)
		client_finish(c);	/* could not even queue QUIT */
	c->api--;
	client_release(c);
	/* c may be freed here */
}
