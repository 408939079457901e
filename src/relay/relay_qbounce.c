/*
 * relay_qbounce.c - the bounce of a queued message (docs/queue.md,
 * "Bounces"): one RFC 3464 report (dsn_build) for the recipients that
 * failed for good, queued as a message of its own from the null sender
 * to the original sender, marked QF_BOUNCE so that it is never bounced
 * in turn.  It leaves through the upstreams the original's sender is
 * routed to (qenv route), on the same listener.
 *
 * The bounce is committed before the original's envelope records its
 * recipients as done: a crash between the two sends the bounce twice
 * (as the window of docs/queue.md), never not at all.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "queue/dsn.h"
#include "queue/qenv.h"
#include "queue/qstore.h"
#include "relay/relay_local.h"
#include "relay/relay_queue.h"
#include "util/log.h"
#include "util/str.h"

/*
 * read_original - the first DSN_FULL_MAX + 1 octets of ID.msg's message
 * (of size octets, its envelope after them): enough for RET=FULL to see
 * whether the whole fits, and for the header block
 */
static char *
read_original(int fd, unsigned long long size, size_t *len)
{
	size_t	 cap = DSN_FULL_MAX + 1, off = 0;
	ssize_t	 n;
	char	*buf;

	if (size < cap)
		cap = (size_t)size;
	if ((buf = malloc(cap > 0 ? cap : 1)) == NULL)
		return NULL;
	while (off < cap) {
		n = pread(fd, buf + off, cap - off, (off_t)off);
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		off += (size_t)n;
	}
	*len = off;
	return buf;
}

/*
 * requiretls - was the message sent with REQUIRETLS?  Its reports are then
 * redacted (RFC 8689 5): they leave without REQUIRETLS, so they carry
 * nothing of the original that the sender asked to keep off plaintext.
 */
static int
requiretls(const struct qenv *e)
{
	const char	*p = e->mail_params;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		n = strcspn(p, " ");
		if (n == 10 && strncasecmp(p, "REQUIRETLS", 10) == 0)
			return 1;
		p += n;
		p += strspn(p, " ");
	}
	return 0;
}

/* store - the report as a new queued message to sender */
static int
store(const struct qenv *orig, const char *text, size_t len, uint64_t *bid)
{
	struct qstore		*qs = qrun_store();
	struct qstore_msg	*m;
	struct qenv		 b;
	char			 why[QSTORE_WHY_MAX];
	int			 rc = -1;

	memset(&b, 0, sizeof(b));
	b.id = qstore_new_id();
	b.arrival = b.next = (int64_t)time(NULL);
	b.flags = QF_BOUNCE;
	/* no NOTIFY: a bounce is never reported on (QF_BOUNCE) */
	if (qenv_set(&b.sender, "") == -1 ||
	    qenv_set(&b.listener, orig->listener) == -1 ||
	    qenv_set(&b.client, "bounce") == -1 ||
	    qenv_set(&b.user, orig->user) == -1 ||
	    /* routed as the original: through the same upstreams */
	    qenv_set(&b.route, orig->route != NULL ? orig->route :
	    orig->sender) == -1 ||
	    qenv_add_rcpt(&b, orig->sender, 0, NULL) == -1) {
		(void)snprintf(why, sizeof(why), "out of memory");
		goto out;
	}
	if ((m = qstore_msg_begin(qs, b.id, why, sizeof(why))) == NULL)
		goto out;
	if (qstore_msg_write(m, text, len, why, sizeof(why)) == -1) {
		qstore_msg_abort(m);
		goto out;
	}
	if (qstore_msg_commit(m, &b, why, sizeof(why)) == -1)
		goto out;
	qrun_add(&b);
	*bid = b.id;
	rc = 0;
out:
	if (rc == -1)
		log_warnx("queue %016" PRIx64 ": cannot queue its bounce: %s",
		    orig->id, why);
	qenv_free(&b);
	return rc;
}

/*
 * qjob_relayed - the "relayed" report for the recipients relayed marks
 * (NOTIFY=SUCCESS, handed on to a server without DSN); best effort: a
 * failure is logged, the delivery stands
 */
void
qjob_relayed(struct relay_env *env, const struct qenv *e, int msgfd,
    const unsigned char *relayed)
{
	char		*orig, *text = NULL;
	size_t		 olen = 0, tlen = 0;
	uint64_t	 bid = 0;
	int		 n;

	if ((orig = read_original(msgfd, e->size, &olen)) == NULL) {
		log_warnx("queue %016" PRIx64 ": cannot read it for its "
		    "relayed report", e->id);
		return;
	}
	n = dsn_build_relayed(e, relayed, env->conf->hostname,
	    (int64_t)time(NULL), requiretls(e) ? NULL : orig, olen, &text,
	    &tlen);
	free(orig);
	if (n > 0 && store(e, text, tlen, &bid) == 0)
		log_info("queue %016" PRIx64 " relayed report %016" PRIx64
		    " queued for %d recipient(s) (NOTIFY=SUCCESS, the "
		    "upstream has no DSN)", e->id, bid, n);
	else if (n != 0)
		log_warnx("queue %016" PRIx64 ": no relayed report (out of "
		    "memory or the queue)", e->id);
	free(text);
}

int
qjob_bounce(struct relay_env *env, struct qenv *e, int msgfd)
{
	char		*orig, *text = NULL;
	size_t		 olen = 0, tlen = 0, i;
	uint64_t	 bid = 0;
	int		 n;

	if ((orig = read_original(msgfd, e->size, &olen)) == NULL) {
		log_warnx("queue %016" PRIx64 ": cannot read it for its "
		    "bounce", e->id);
		return -1;
	}
	n = dsn_build(e, env->conf->hostname, (int64_t)time(NULL),
	    requiretls(e) ? NULL : orig, olen, &text, &tlen);
	free(orig);
	if (n == -1) {
		log_warnx("queue %016" PRIx64 ": out of memory for its bounce",
		    e->id);
		return -1;
	}
	if (n > 0 && store(e, text, tlen, &bid) == -1) {
		free(text);
		return -1;
	}
	free(text);
	if (n > 0) {
		char	 vis[QENV_TEXT_MAX * 4 + 1];

		(void)str_vis(vis, sizeof(vis), e->sender, strlen(e->sender));
		log_info("queue %016" PRIx64 " bounce %016" PRIx64 " queued "
		    "to <%s> for %d recipient(s)", e->id, bid, vis, n);
	}
	else
		log_info("queue %016" PRIx64 " no bounce: NOTIFY leaves out "
		    "FAILURE", e->id);
	for (i = 0; i < e->nrcpt; i++)
		if (e->rcpt[i].state == QR_FAILED)
			e->rcpt[i].state = QR_DONE;
	return 0;
}
