/*
 * relay_stream.c - a message streamed to the upstream as the client sends
 * it (stream_data = yes, no DKIM key for the listener, long lines not
 * re-encoded, an upstream with 8BITMIME or eight_bit = pass, not
 * auth = passthrough).
 *
 * The order of events: the client's DATA sends the upstream DATA
 * (uptx_data with relay_stream_body as the body source); the upstream's
 * 354 is the first call of the source, and only then does the client get
 * its 354.  Body octets go from the session (data_write) into a bounded
 * buffer and from there to the upstream when its output has room; a full
 * buffer pauses the client's reading, a drained one resumes it.  The
 * client's final dot ends the source (the upstream's dot follows), and
 * the upstream's reply to it is the client's.
 *
 * Anything that ends the body early on the client's side (a refusal by
 * the session: bare CR or LF, NUL, size, line length; a disconnect or a
 * timeout) closes the upstream connection before a final dot was ever
 * written: the upstream delivers nothing.  An upstream that fails while
 * the client is still sending is remembered, the rest of the body is
 * read and dropped, and the client's dot gets the 4xx for that failure.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "relay/relay_local.h"
#include "relay/signers.h"
#include "smtp/smtp_server.h"
#include "upstream/uptx.h"
#include "util/buf.h"
#include "util/log.h"

/* held between the client and the upstream; reading pauses above HIWAT */
#define STREAM_HIWAT	(64 * 1024)
#define STREAM_LOWAT	(16 * 1024)
/* HIWAT plus one data_write() (2 * SMTP_SRV_CHUNK + 2) and a Received */
#define STREAM_MAX	(STREAM_HIWAT + 16 * 1024)

enum stream_phase {
	SP_WAIT_354,	/* DATA sent upstream, its 354 awaited */
	SP_BODY,	/* the client sends the body */
	SP_EOF,		/* the client's dot came: the upstream's reply awaited */
};

struct relay_stream {
	enum stream_phase	 phase;
	struct buf		 buf;
	int			 paused;	/* the session's reading is */
	enum gw_fail		 failed;	/* the upstream failed mid-body */
	unsigned long long	 octets;	/* given to the upstream, Received too */
};

/*
 * relay_stream_wanted - may this message be streamed?  Not when it has
 * to be whole first: a DKIM key that may sign for the listener (the From
 * domain is known only at the end), long lines re-encoded, 8-bit octets
 * converted for an upstream without 8BITMIME, or an [smime] section for
 * the sender (signing and encryption need the whole message).
 */
int
relay_stream_wanted(const struct relay *r)
{
	/* delivery = queue: the whole message goes to the store first */
	if (!r->l->stream_data || r->l->delivery == DELIVERY_QUEUE)
		return 0;
	if (r->l->long_lines == LONG_LINES_ENCODE || relay_smime_applies(r))
		return 0;
	/*
	 * an upstream without 8BITMIME: the message may have to be
	 * converted, and 8-bit octets can be anywhere, BODY=8BITMIME or not
	 */
	if (relay_8bit_may(r))
		return 0;
	/*
	 * passthrough: an abort closes the upstream connection, and without
	 * the client's password no new one can be opened for the rest of
	 * the session; spooled, a refused message leaves it in step
	 */
	if (r->up->auth == AUTH_PASSTHROUGH)
		return 0;
	return signers_body_canons(r->env->signers, r->l) == 0;
}

void
relay_stream_free(struct relay *r)
{
	if (r->stream == NULL)
		return;
	buf_release(&r->stream->buf);
	free(r->stream);
	r->stream = NULL;
}

unsigned long long
relay_stream_size(const struct relay *r)
{
	return r->stream != NULL ? r->stream->octets : 0ULL;
}

/*
 * relay_stream_body - the upstream's body source.  Its first call is the
 * upstream's 354: the client's DATA is answered now.
 */
static ssize_t
relay_stream_body(void *arg, char *out, size_t len)
{
	struct relay		*r = arg;
	struct relay_stream	*st = r->stream;
	size_t			 n;

	if (st == NULL)
		return -1;	/* aborted: never a final dot */
	if (st->phase == SP_WAIT_354) {
		st->phase = SP_BODY;
		smtp_server_reply(r->srv, 354, NULL, "Go ahead");
	}
	if ((n = buf_len(&st->buf)) == 0) {
		if (st->phase == SP_EOF)
			return 0;
		return SMTP_BODY_WAIT;
	}
	if (n > len)
		n = len;
	memcpy(out, buf_data(&st->buf), n);
	buf_consume(&st->buf, n);
	st->octets += n;
	if (st->paused && buf_len(&st->buf) <= STREAM_LOWAT) {
		st->paused = 0;
		smtp_server_body_resume(r->srv);
	}
	return (ssize_t)n;
}

/*
 * relay_stream_begin - DATA: the upstream's DATA goes now.  hdr is our
 * Received header (hdrlen 0: none), the first octets of the message.
 * 1: the session waits for the 354 (smtp_server data_begin's 1); -1: no.
 */
int
relay_stream_begin(struct relay *r, const char *hdr, size_t hdrlen)
{
	struct relay_stream	*st;

	relay_stream_free(r);
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return -1;
	buf_init(&st->buf, STREAM_MAX);
	buf_plain(&st->buf);	/* the message, not a credential */
	if (hdrlen > 0 && buf_append(&st->buf, hdr, hdrlen) == -1) {
		buf_release(&st->buf);
		free(st);
		return -1;
	}
	st->phase = SP_WAIT_354;
	st->failed = FAIL_NONE;
	r->stream = st;
	/* what the client waits for now is the reply to DATA */
	(void)clock_gettime(CLOCK_MONOTONIC, &r->dot_start);
	relay_enter(r, R_DATA);
	uptx_data(r->tx, relay_stream_body, r);
	return 1;
}

/* relay_stream_write - body octets from the session: 0, 1 to pause, -1 */
int
relay_stream_write(struct relay *r, const char *p, size_t len)
{
	struct relay_stream	*st = r->stream;

	if (st == NULL)
		return -1;
	/* the upstream is gone: read the rest, answer at the dot */
	if (st->failed != FAIL_NONE) {
		st->octets += len;
		return 0;
	}
	if (buf_append(&st->buf, p, len) == -1)
		return -1;	/* cannot happen: paused at HIWAT */
	uptx_body_more(r->tx);
	if (buf_len(&st->buf) >= STREAM_HIWAT) {
		st->paused = 1;
		return 1;
	}
	return 0;
}

/*
 * relay_stream_failed - the upstream failed while the client is still
 * sending (tx_failed in R_DATA): 1 if the stream took it (the reply waits
 * for the client's dot), 0 if the caller answers now.
 */
int
relay_stream_failed(struct relay *r, enum gw_fail cls)
{
	struct relay_stream	*st = r->stream;

	if (st == NULL || st->phase != SP_BODY)
		return 0;
	st->failed = cls;
	st->octets += buf_len(&st->buf);
	buf_release(&st->buf);
	if (st->paused) {
		st->paused = 0;
		smtp_server_body_resume(r->srv);
	}
	return 1;
}

/*
 * relay_stream_end - the client's final dot.  0: the upstream's dot goes
 * and its reply will answer; else the failure the client is answered with.
 */
enum gw_fail
relay_stream_end(struct relay *r)
{
	struct relay_stream	*st = r->stream;

	if (st == NULL)
		return FAIL_INTERNAL;
	if (st->failed != FAIL_NONE)
		return st->failed;
	st->phase = SP_EOF;
	uptx_body_more(r->tx);
	return FAIL_NONE;
}

/*
 * relay_stream_abort - the session ended the body early (refusal,
 * disconnect, timeout): close the upstream connection with no final dot.
 */
void
relay_stream_abort(struct relay *r)
{
	if (r->stream == NULL)
		return;
	if (r->stream->failed == FAIL_NONE) {
		log_info("%016" PRIx64 " relay upstream=%s:%u message aborted "
		    "mid-stream: connection closed before the final dot",
		    r->id, r->up->host, r->up->port);
		uptx_abort(r->tx);
	}
	relay_stream_free(r);
	relay_enter(r, R_IDLE);
}
