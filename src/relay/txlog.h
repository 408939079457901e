/*
 * txlog - the info lines that say what became of mail: one line per
 * message (relayed, refused or failed) and one per sender or recipient
 * refused, by the upstream or by the gateway.
 *
 * Contract: the reply logged is the reply the client is sent (code,
 * enhanced code, text), so callers log and answer from the same values.
 * Addresses and reply texts are peer text: escaped here (str_vis).  Never
 * hand it a secret.  txlog_reply() is pure.
 */
#ifndef GW_TXLOG_H
#define GW_TXLOG_H

#include <stddef.h>
#include <stdint.h>

/* room for a whole upstream reply text, escaped */
#define TXLOG_REPLY_MAX	1024

struct tls_info;

struct txlog_tx {
	uint64_t		 id;
	const char		*client;	/* "127.0.0.1" */
	const struct tls_info	*ctls;		/* client side's TLS, or NULL */
	const char		*proxy;		/* PROXY balancer; NULL, "": none */
	const char		*from;		/* MAIL FROM, unescaped */
	unsigned		 nrcpt;		/* recipients accepted */
	unsigned long long	 size;		/* message octets, 0 if none */
	const char		*host;		/* upstream */
	unsigned		 port;
	const char		*tls;		/* "TLSv1.3 ..." or "none" */
	int			 resumed;	/* the TLS session was resumed */
	int			 reused;	/* the connection came from the pool */
	unsigned		 carried;	/* messages it carried before */
	const char		*dkim;		/* NULL: no dkim= field */
	double			 duration;	/* seconds since MAIL */
	int			 code;		/* the reply the client got */
	int			 queued;	/* delivery = queue: 2xx is "queued" */
	const char		*enh;		/* NULL or "" when none */
	const char		*text;
};

/*
 * The recipients the upstream accepted in one transaction, so that its
 * end can log one line for each with its result, as Postfix's
 * "to=<...> status=" lines: "ID relay rcpt done to=<ADDR> status=sent".
 * Bounded by the listener's max_recipients (the RCPTs accepted).
 */
struct txlog_rcpts {
	char		**addr;
	unsigned	  n;
	unsigned	  cap;
};

/* txlog_rcpts_add - keep a copy; -1 on ENOMEM (the line is then lost) */
int	txlog_rcpts_add(struct txlog_rcpts *, const char *addr);
/* txlog_rcpts_clear - forget them all (a new transaction); keeps storage */
void	txlog_rcpts_clear(struct txlog_rcpts *);
/* txlog_rcpts_free - the storage too */
void	txlog_rcpts_free(struct txlog_rcpts *);
/*
 * txlog_rcpts_log - one info line each, with the transaction's result
 * (queued: delivery = queue, a 2xx is "queued", not "sent")
 */
void	txlog_rcpts_log(uint64_t id, const struct txlog_rcpts *, int code,
	    int queued);

/* txlog_tx - the one info line of a transaction */
void	txlog_tx(const struct txlog_tx *);
/*
 * txlog_refused - an info line for a refused MAIL ("mail") or RCPT
 * ("rcpt"); by is "upstream" or "gateway"; proxy (the balancer that
 * carried the client's address) may be NULL or ""; to may be NULL (MAIL).
 */
void	txlog_refused(uint64_t id, const char *what, const char *by,
	    const char *client, const char *proxy, const char *from,
	    const char *to, int code, const char *enh, const char *text);
/*
 * txlog_slow_reply - a warning when the reply to the final dot came
 * waited >= limit seconds after the client's final dot (limit 0: never).
 */
void	txlog_slow_reply(uint64_t id, const char *host, unsigned port,
	    double waited, unsigned limit, int code);
/*
 * txlog_reply - "451 4.4.2 text" as the client reads it, escaped for a
 * key="..." field: control and non-ASCII bytes as the '?' smtp_server
 * sends for them, a multi-line text's line breaks as \x0a.  Returns buf.
 */
char	*txlog_reply(char *buf, size_t len, int code, const char *enh,
	    const char *text);
/* txlog_reply_raw - the same, not escaped (log_kv escapes); returns buf */
char	*txlog_reply_raw(char *buf, size_t len, int code, const char *enh,
	    const char *text);
/* txlog_status - "sent" (2xx), "deferred" (4xx), "refused" (5xx) */
const char *txlog_status(int code);

#endif
