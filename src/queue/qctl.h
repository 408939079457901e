/*
 * qctl - the queue's control socket: "smtpgate queue -c FILE CMD" talks
 * to the running gateway through DIR/control, a Unix stream socket of
 * mode 0600 in the queue directory (owned by the gateway's user, so only
 * that user and root can use it).
 *
 * Protocol (docs/queue.md, "Control"): the client sends one command line
 * ("list", "show ID", "flush", "flush ID", "delete ID", "hold ID",
 * "release ID"), at most QCTL_LINE_MAX octets ending in LF; the server
 * answers with lines of text and a last line "ok" or "error: why", then
 * closes.  One command per connection; a connection that sends nothing
 * for QCTL_TIMEOUT seconds, or too long a line, is closed with an error.
 *
 * Parsing is pure (qctl_parse, with a fuzz target); the server runs on
 * the gateway's event loop and hands each command to struct qctl_ops
 * (the queue runner implements them).
 */
#ifndef GW_QCTL_H
#define GW_QCTL_H

#include <stddef.h>
#include <stdint.h>

#define QCTL_LINE_MAX	128
#define QCTL_TIMEOUT	10
#define QCTL_OUT_MAX	(16u << 20)	/* one answer, bytes */

enum qctl_cmd {
	QCTL_LIST = 1,
	QCTL_SHOW,
	QCTL_FLUSH,		/* id 0: every message */
	QCTL_DELETE,
	QCTL_HOLD,
	QCTL_RELEASE
};

struct qctl_req {
	enum qctl_cmd	 cmd;
	uint64_t	 id;	/* 0 when none was given (flush only) */
};

/* qctl_parse - one line (without its LF) to *req: NULL, or why not */
const char	*qctl_parse(const char *line, size_t len, struct qctl_req *req);
/* qctl_cmd_name - "list", ... */
const char	*qctl_cmd_name(enum qctl_cmd);

struct buf;
/*
 * What the runner does for each command: append the answer's lines
 * (without the final "ok") to out and return 0, or return -1 with why
 * (the final line becomes "error: why").
 */
struct qctl_ops {
	int	(*run)(void *arg, const struct qctl_req *, struct buf *out,
		    char *why, size_t whylen);
	void	*arg;
};

struct event_base;
struct qctl;
/*
 * qctl_listen - bind path (an old socket there is removed first), mode
 * 0600, and serve commands on base.  NULL with why.
 */
struct qctl	*qctl_listen(struct event_base *, const char *path,
		    const struct qctl_ops *, char *why, size_t whylen);
/* qctl_free - stop serving; the socket file is removed */
void		 qctl_free(struct qctl *);

/*
 * qctl_client - the CLI's side: connect to path, send line, copy the
 * answer to stdout (and "error: ..." to stderr).  Returns the process
 * exit code: 0 for "ok", 1 for an error answer, 2 when the gateway
 * could not be reached (why on stderr).
 */
int		 qctl_client(const char *path, const char *line);

#endif
