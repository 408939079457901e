/*
 * txlog.c - the info lines of transactions, refused senders and refused
 * recipients (what an operator greps for when a user asks "where is my
 * mail?").  Kept out of relay.c: formatting only, no session state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "relay/txlog.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

/*
 * txlog_reply_raw - the client's reply as it read it, not yet escaped:
 * smtp_server sends each line with its control and non-ASCII bytes (TAB,
 * UTF-8 from an SMTPUTF8 upstream) as '?', so that is what is logged,
 * not the upstream's bytes; '\n' separates the lines.
 */
char *
txlog_reply_raw(char *buf, size_t len, int code, const char *enh,
    const char *text)
{
	size_t		 i;
	int		 n;
	unsigned char	 c;

	if (len == 0)
		return buf;
	if (enh == NULL)
		enh = "";
	if (text == NULL)
		text = "";
	/* smtp_server writes "NNN text" without an enhanced code */
	n = snprintf(buf, len, "%d%s%s%s", code, *enh ? " " : "", enh,
	    *text ? " " : "");
	if (n < 0 || (size_t)n >= len)
		return buf;
	for (i = 0; text[i] != '\0' && (size_t)n + i < len - 1; i++) {
		c = (unsigned char)text[i];
		buf[n + i] = c == '\n' || (c >= 0x20 && c < 0x7f) ? (char)c :
		    '?';
	}
	buf[n + i] = '\0';
	return buf;
}

/* txlog_reply - the client's reply, escaped for a log field */
char *
txlog_reply(char *buf, size_t len, int code, const char *enh,
    const char *text)
{
	char		 head[32], seen[TXLOG_REPLY_MAX];
	size_t		 i;
	int		 n;
	unsigned char	 c;

	if (len == 0)
		return buf;
	if (enh == NULL)
		enh = "";
	if (text == NULL)
		text = "";
	n = snprintf(head, sizeof(head), "%d%s%s%s", code, *enh ? " " : "",
	    enh, *text ? " " : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		(void)snprintf(head, sizeof(head), "%d ", code);
	n = snprintf(buf, len, "%s", head);
	if (n < 0 || (size_t)n >= len)
		return buf;
	/* as txlog_reply_raw, then escaped ('\n' as \x0a) */
	for (i = 0; text[i] != '\0' && i < sizeof(seen) - 1; i++) {
		c = (unsigned char)text[i];
		seen[i] = c == '\n' || (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	seen[i] = '\0';
	(void)str_vis(buf + n, len - (size_t)n, seen, i);
	return buf;
}

/* the "relay" line's fields before the reply; returns the count */
static size_t
txlog_tx_fields(struct log_field *f, const struct txlog_tx *t, char *up,
    size_t uplen)
{
	const struct tls_info	*ti = t->ctls;
	size_t			 n = 0;

	f[n++] = LOGK_WORD("client", t->client);
	/* behind a balancer, the balancer's address */
	if (t->proxy != NULL && t->proxy[0] != '\0')
		f[n++] = LOGK_WORD("proxy", t->proxy);
	/*
	 * The client side's TLS: version, and the client certificate's
	 * subject (escaped when it was read) and SHA-256 fingerprint when
	 * one was presented.  Nothing in plaintext.
	 */
	if (ti != NULL) {
		f[n++] = LOGK_WORD("client_tls", ti->version);
		if (strcmp(ti->fingerprint, "-") != 0) {
			f[n++] = LOGK_STRV("client_cert", ti->subject);
			f[n++] = LOGK_WORD("client_cert_sha256",
			    ti->fingerprint);
		}
	}
	f[n++] = LOGK_ADDR("from", t->from);
	f[n++] = LOGK_UINT("rcpts", t->nrcpt);
	f[n++] = LOGK_UINT("size", t->size);
	if (t->port == 0)	/* delivery = queue: "queue" */
		(void)snprintf(up, uplen, "%s", t->host);
	else
		(void)snprintf(up, uplen, "%s:%u", t->host, t->port);
	f[n++] = LOGK_WORD("upstream", up);
	f[n++] = LOGK_STR("tls", t->tls);
	f[n++] = LOGK_BOOL("resumed", t->resumed);
	f[n++] = LOGK_WORD("conn", t->reused ? "reused" : "new");
	f[n++] = LOGK_UINT("carried", t->carried);
	if (t->dkim != NULL)
		f[n++] = LOGK_STRV("dkim", t->dkim);
	return n;
}

/* txlog_tx - the one info line of a transaction */
void
txlog_tx(const struct txlog_tx *t)
{
	struct log_field	 f[20];
	char			 reply[TXLOG_REPLY_MAX], up[300];
	size_t			 n;

	/* per message: nothing is formatted when the level is off */
	if (!log_would(GW_LOG_INFO))
		return;
	n = txlog_tx_fields(f, t, up, sizeof(up));
	f[n++] = LOGK_STR("reply", txlog_reply_raw(reply, sizeof(reply),
	    t->code, t->enh, t->text));
	f[n++] = LOGK_WORD("status", t->queued && t->code < 300 ? "queued" :
	    txlog_status(t->code));
	f[n++] = LOGK_SECS("duration", t->duration);
	log_kv(GW_LOG_INFO, t->id, "relay", f, n);
}

/* txlog_status - what became of the mail, as Postfix's status= says */
const char *
txlog_status(int code)
{
	if (code >= 200 && code < 300)
		return "sent";
	if (code >= 400 && code < 500)
		return "deferred";
	return "refused";
}

int
txlog_rcpts_add(struct txlog_rcpts *rc, const char *addr)
{
	char		**na, *copy;
	unsigned	  ncap;

	if (rc->n == rc->cap) {
		ncap = rc->cap > 0 ? rc->cap * 2 : 8;
		if ((na = reallocarray(rc->addr, ncap, sizeof(*na))) == NULL)
			return -1;
		rc->addr = na;
		rc->cap = ncap;
	}
	if ((copy = strdup(addr)) == NULL)
		return -1;
	rc->addr[rc->n++] = copy;
	return 0;
}

void
txlog_rcpts_clear(struct txlog_rcpts *rc)
{
	unsigned	 i;

	for (i = 0; i < rc->n; i++)
		free(rc->addr[i]);
	rc->n = 0;
}

void
txlog_rcpts_free(struct txlog_rcpts *rc)
{
	txlog_rcpts_clear(rc);
	free(rc->addr);
	rc->addr = NULL;
	rc->cap = 0;
}

void
txlog_rcpts_log(uint64_t id, const struct txlog_rcpts *rc, int code,
    int queued)
{
	struct log_field	 f[2];
	unsigned		 i;

	if (!log_would(GW_LOG_INFO))
		return;
	for (i = 0; i < rc->n; i++) {
		f[0] = LOGK_ADDR("to", rc->addr[i]);
		f[1] = LOGK_WORD("status", queued && code < 300 ? "queued" :
		    txlog_status(code));
		log_kv(GW_LOG_INFO, id, "relay rcpt done", f, 2);
	}
}

/* txlog_refused - one info line per refused MAIL or RCPT */
void
txlog_refused(uint64_t id, const char *what, const char *by,
    const char *client, const char *proxy, const char *from, const char *to,
    int code, const char *enh, const char *text)
{
	struct log_field	 f[8];
	char			 reply[TXLOG_REPLY_MAX], ev[32];
	size_t			 n = 0;

	if (!log_would(GW_LOG_INFO))
		return;
	(void)snprintf(ev, sizeof(ev), "relay %s refused", what);
	f[n++] = LOGK_WORD("by", by);
	f[n++] = LOGK_WORD("client", client);
	/* behind a balancer, the balancer's address too (as on txlog_tx) */
	if (proxy != NULL && proxy[0] != '\0')
		f[n++] = LOGK_WORD("proxy", proxy);
	f[n++] = LOGK_ADDR("from", from);
	/* to NULL: a MAIL, no to= */
	f[n++] = LOGK_ADDR("to", to);
	f[n++] = LOGK_STR("reply", txlog_reply_raw(reply, sizeof(reply), code,
	    enh, text));
	f[n++] = LOGK_WORD("status", txlog_status(code));
	log_kv(GW_LOG_INFO, id, ev, f, n);
}

/*
 * txlog_slow_reply - the client waited for the final reply as long as
 * the upstream took.  Many clients give up after 30 s and send the
 * message again later while the upstream may still deliver it: say so,
 * so that an operator can explain a duplicate.
 */
void
txlog_slow_reply(uint64_t id, const char *host, unsigned port,
    double waited, unsigned limit, int code)
{
	if (limit == 0 || waited < (double)limit)
		return;
	log_warnx("%016" PRIx64 " relay slow-reply upstream=%s:%u "
	    "waited=%.1fs limit=%us code=%d hint=\"the client waited this "
	    "long after its final dot; one that gave up earlier may send "
	    "the message again (a duplicate)\"", id, host, port, waited,
	    limit, code);
}
