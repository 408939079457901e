/*
 * txlog.c - the info lines of transactions, refused senders and refused
 * recipients (what an operator greps for when a user asks "where is my
 * mail?").  Kept out of relay.c: formatting only, no session state.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "relay/txlog.h"
#include "tls/tls.h"
#include "util/log.h"
#include "util/str.h"

/* an address escaped: up to four octets of log per octet of address */
#define ADDR_LOG_MAX	(256 * 4 + 1)

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
	/* smtp_server writes "NNN text" without an enhanced code */
	n = snprintf(head, sizeof(head), "%d%s%s%s", code, *enh ? " " : "",
	    enh, *text ? " " : "");
	if (n < 0 || (size_t)n >= sizeof(head))
		(void)snprintf(head, sizeof(head), "%d ", code);
	n = snprintf(buf, len, "%s", head);
	if (n < 0 || (size_t)n >= len)
		return buf;
	/*
	 * smtp_server sends each line with its control and non-ASCII bytes
	 * (TAB, UTF-8 from an SMTPUTF8 upstream) as '?': log that, not the
	 * upstream's bytes.  '\n' separates the lines (escaped below).
	 */
	for (i = 0; text[i] != '\0' && i < sizeof(seen) - 1; i++) {
		c = (unsigned char)text[i];
		seen[i] = c == '\n' || (c >= 0x20 && c < 0x7f) ? (char)c : '?';
	}
	seen[i] = '\0';
	(void)str_vis(buf + n, len - (size_t)n, seen, i);
	return buf;
}

/*
 * The client side's TLS on the transaction line: version, and the
 * client certificate's subject (escaped when it was read) and SHA-256
 * fingerprint when one was presented.  Nothing in plaintext.
 */
static void
txlog_client_tls(char *buf, size_t len, const struct tls_info *ti)
{
	buf[0] = '\0';
	if (ti == NULL)
		return;
	if (strcmp(ti->fingerprint, "-") == 0)
		(void)snprintf(buf, len, " client_tls=%s", ti->version);
	else
		(void)snprintf(buf, len, " client_tls=%s client_cert=\"%s\" "
		    "client_cert_sha256=%s", ti->version, ti->subject,
		    ti->fingerprint);
}

/* txlog_tx - the one info line of a transaction */
void
txlog_tx(const struct txlog_tx *t)
{
	char	 from[ADDR_LOG_MAX], reply[TXLOG_REPLY_MAX], dkim[600];
	char	 ctls[512], proxy[80];

	(void)str_vis(from, sizeof(from), t->from, strlen(t->from));
	txlog_client_tls(ctls, sizeof(ctls), t->ctls);
	(void)txlog_reply(reply, sizeof(reply), t->code, t->enh, t->text);
	dkim[0] = '\0';
	if (t->dkim != NULL)
		(void)snprintf(dkim, sizeof(dkim), " dkim=\"%s\"", t->dkim);
	proxy[0] = '\0';
	if (t->proxy != NULL && t->proxy[0] != '\0')
		(void)snprintf(proxy, sizeof(proxy), " proxy=%s", t->proxy);
	log_info("%016" PRIx64 " relay client=%s%s%s from=<%s> rcpts=%u "
	    "size=%llu upstream=%s:%u tls=\"%s\" resumed=%s conn=%s "
	    "carried=%u%s reply=\"%s\" duration=%.3fs", t->id, t->client,
	    proxy, ctls, from, t->nrcpt, t->size, t->host, t->port, t->tls,
	    t->resumed ? "yes" : "no", t->reused ? "reused" : "new",
	    t->carried, dkim, reply, t->duration);
}

/* txlog_refused - one info line per refused MAIL or RCPT */
void
txlog_refused(uint64_t id, const char *what, const char *by,
    const char *client, const char *proxy, const char *from, const char *to,
    int code, const char *enh, const char *text)
{
	char	 f[ADDR_LOG_MAX], r[ADDR_LOG_MAX], reply[TXLOG_REPLY_MAX];
	char	 px[80] = "";

	/* behind a balancer, the balancer's address too (as on txlog_tx) */
	if (proxy != NULL && proxy[0] != '\0')
		(void)snprintf(px, sizeof(px), " proxy=%s", proxy);
	(void)str_vis(f, sizeof(f), from, strlen(from));
	(void)txlog_reply(reply, sizeof(reply), code, enh, text);
	if (to == NULL) {
		log_info("%016" PRIx64 " relay %s refused by=%s client=%s%s "
		    "from=<%s> reply=\"%s\"", id, what, by, client, px, f,
		    reply);
		return;
	}
	(void)str_vis(r, sizeof(r), to, strlen(to));
	log_info("%016" PRIx64 " relay %s refused by=%s client=%s%s "
	    "from=<%s> to=<%s> reply=\"%s\"", id, what, by, client, px, f, r,
	    reply);
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
