/*
 * smtp_server_pipe.c - pipelining towards the owner (RFC 2920): while the
 * owner works on a MAIL or RCPT, a complete RCPT or DATA line behind it is
 * checked and handed on at once when the owner agrees; its WAIT state is
 * queued (ahead[]) and the replies settle the queue in order.
 */
#include <stdlib.h>
#include <string.h>

#include "net/io.h"
#include "smtp/smtp_server_int.h"
#include "util/buf.h"
#include "util/log.h"

void
smtp_server_lookahead(struct smtp_server *s,
    int (*ok)(void *, enum smtp_verb, const struct smtp_path *))
{
	s->ahead_ok = ok;
}

void
smtp_server_kick(struct smtp_server *s)
{
	if (s->ahead_ok != NULL && smtp_server_waiting(s) > 0)
		smtp_resume(s);
}

unsigned
smtp_server_waiting(const struct smtp_server *s)
{
	switch (s->state) {
	case STATE_WAIT_MAIL:
	case STATE_WAIT_RCPT:
	case STATE_WAIT_RSET:
	case STATE_WAIT_DATA:
	case STATE_WAIT_354:
	case STATE_WAIT_AUTH:
		return 1 + s->nahead;
	default:
		return 0;
	}
}

enum smtp_verb
smtp_server_awaits(const struct smtp_server *s)
{
	switch (s->state) {
	case STATE_WAIT_MAIL:
		return SMTP_CMD_MAIL;
	case STATE_WAIT_RCPT:
		return SMTP_CMD_RCPT;
	case STATE_WAIT_DATA:
	case STATE_WAIT_354:
		return SMTP_CMD_DATA;
	case STATE_WAIT_RSET:
		return SMTP_CMD_RSET;
	case STATE_WAIT_AUTH:
		return SMTP_CMD_AUTH;
	default:
		return SMTP_CMD_UNKNOWN;
	}
}

/*
 * smtp_ahead_settle - the reply to the command in flight is out: the
 * next one handed on behind it is in flight now, or the session settles
 * in after.
 */
void
smtp_ahead_settle(struct smtp_server *s, enum smtp_state after)
{
	enum smtp_state	 next;

	if (s->nahead == 0) {
		smtp_enter_state(s, after);
		return;
	}
	s->after = after;
	next = s->ahead[0];
	memmove(s->ahead, s->ahead + 1, --s->nahead * sizeof(s->ahead[0]));
	smtp_enter_state(s, next);
}

/* RCPTs handed on and not answered, the one in flight included */
static unsigned
smtp_ahead_rcpts(const struct smtp_server *s)
{
	unsigned	 i, n = s->state == STATE_WAIT_RCPT;

	for (i = 0; i < s->nahead; i++)
		n += s->ahead[i] == STATE_WAIT_RCPT;
	return n;
}

/*
 * smtp_rcpt_ahead - the checks of smtp_check_rcpt(), quietly: a RCPT
 * handed on ahead must be one that passes them all, since a refusal of
 * ours could not be sent before the replies owed.  s->path holds it.
 */
static int
smtp_rcpt_ahead(struct smtp_server *s, const char *args)
{
	const char	*enh;
	int		 code;

	if (s->nrcpt + smtp_ahead_rcpts(s) >= s->max_rcpt)
		return -1;
	if (s->path == NULL && (s->path = malloc(sizeof(*s->path))) == NULL)
		return -1;
	memset(s->path, 0, sizeof(*s->path));
	if (smtp_parse_rcpt(args, s->tx_utf8, s->path) != NULL)
		return -1;
	return smtp_rcpt_params_why(s, &code, &enh) == NULL ? 0 : -1;
}

/*
 * smtp_lookahead - RFC 2920 towards the owner: while it works on a MAIL
 * or RCPT, hand on a complete RCPT or DATA line behind it when every
 * check passes and the owner's ok() agrees; its reply waits its turn.
 * Room is kept in the output for a full reply to each command owed.
 * 1 if a command went on, 0 if the session waits as before.
 */
int
smtp_lookahead(struct smtp_server *s)
{
	struct buf	*in;
	char		 line[SMTP_MAILRCPT_LINE_MAX];
	const char	*args;
	enum smtp_verb	 verb;
	enum smtp_state	 last;
	size_t		 len;
	int		 r;

	if (s->ahead_ok == NULL || s->nahead >= SMTP_SRV_AHEAD_MAX ||
	    (s->flags & (SF_FREE | SF_SKIPLINE | SF_DRAIN | SF_EXPIRED |
	    SF_OVERFLOW)) || s->io == NULL)
		return 0;
	last = s->nahead > 0 ? s->ahead[s->nahead - 1] : s->state;
	if (last != STATE_WAIT_MAIL && last != STATE_WAIT_RCPT)
		return 0;
	if (io_outroom(s->io) < (s->nahead + 2) * SMTP_SRV_REPLY_ROOM)
		return 0;
	in = io_in(s->io);
	if (buf_findline(in, SMTP_MAILRCPT_LINE_MAX, &len) != BUF_LINE_OK ||
	    len >= sizeof(line))
		return 0;
	memcpy(line, buf_data(in), len);
	line[len] = '\0';
	if (smtp_parse_command(line, len, &verb, &args) != NULL)
		return 0;
	if (verb == SMTP_CMD_RCPT) {
		if (smtp_rcpt_ahead(s, args) == -1 ||
		    !s->ahead_ok(s->arg, verb, s->path))
			return 0;
	} else if (verb == SMTP_CMD_DATA) {
		/* DATA right after MAIL gets 503 the ordinary way */
		if (*args != '\0' || last != STATE_WAIT_RCPT ||
		    !s->ahead_ok(s->arg, verb, NULL))
			return 0;
	} else
		return 0;
	smtp_trace_in(s, line, len);
	buf_consume(in, len + 2);
	s->ncommands++;
	s->flags |= SF_AHEADCALL;
	if (verb == SMTP_CMD_RCPT) {
		s->nrcpt_seen++;
		s->ahead[s->nahead++] = STATE_WAIT_RCPT;
		s->cb->rcpt(s->arg, s->path);
	} else {
		s->ahead[s->nahead++] = STATE_WAIT_354;
		r = s->cb->data_begin(s->arg);
		if (!(s->flags & SF_FREE) && r != 1)
			fatalx("smtp_server: data_begin said %d to a DATA "
			    "handed on ahead", r);
	}
	s->flags &= ~SF_AHEADCALL;
	/* s may be freed here (the frame keeps it) */
	return 1;
}
