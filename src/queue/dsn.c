/*
 * dsn.c - the delivery status notification (see dsn.h).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/dsn.h"
#include "util/buf.h"

#define DSN_SLACK	(64u * 1024)	/* the DSN's own text, all recipients */
#define DSN_REDACTED	2	/* "full": nothing of the original returned */

static void	put(struct buf *, int *, const char *);
static void	put_clean(struct buf *, int *, const char *, size_t);
static void	put_date(struct buf *, int *, int64_t);
static void	status_of(const char *, char *, size_t);
static size_t	header_block(const char *, size_t);
static int	boundary_free(const char *, size_t, const char *);

int
dsn_wanted(const struct qrcpt *r)
{
	if (r->state != QR_FAILED)
		return 0;
	return r->notify == 0 || (r->notify & QN_FAILURE) != 0;
}

/*
 * want - does recipient i go into this report?  relayed NULL: a failure
 * report (dsn_wanted); else the recipients relayed[i] marks.
 */
static int
want(const struct qenv *e, const unsigned char *relayed, size_t i)
{
	return relayed == NULL ? dsn_wanted(&e->rcpt[i]) : relayed[i] != 0;
}

/* append s; *err sticks on the first failure (the bound, or ENOMEM) */
static void
put(struct buf *b, int *err, const char *s)
{
	if (*err == 0 && buf_append(b, s, strlen(s)) < 0)
		*err = 1;
}

/* at most max octets of s, every control octet (CR, LF too) a space */
static void
put_clean(struct buf *b, int *err, const char *s, size_t max)
{
	char	 c;
	size_t	 i;

	for (i = 0; s != NULL && s[i] != '\0' && i < max && *err == 0; i++) {
		c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
		if (buf_append(b, &c, 1) < 0)
			*err = 1;
	}
}

/* RFC 5322 date-time in UTC; the C locale's names are the RFC's */
static void
put_date(struct buf *b, int *err, int64_t t)
{
	static const char *const days[] = {
		"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
	};
	static const char *const months[] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
		"Oct", "Nov", "Dec"
	};
	struct tm	 tm;
	time_t		 tt = (time_t)t;
	char		 s[64];

	if (gmtime_r(&tt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	snprintf(s, sizeof(s), "%s, %02d %s %04d %02d:%02d:%02d +0000",
	    days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	put(b, err, s);
}

/*
 * The Status field from a reply: its enhanced code when it has one of
 * class 4 or 5 (RFC 3463), else the reply's class with .0.0; no reply
 * (the lifetime ran out before any answer) is 4.4.7.
 */
static void
status_of(const char *reply, char *out, size_t outlen)
{
	const char	*p;
	unsigned	 a, b2, c;
	int		 n = 0;

	if (reply == NULL || strlen(reply) < 3) {
		snprintf(out, outlen, "4.4.7");
		return;
	}
	p = reply + 3;
	while (*p == ' ' || *p == '-')
		p++;
	if (sscanf(p, "%1u.%3u.%3u%n", &a, &b2, &c, &n) == 3 && n > 0 &&
	    (p[n] == '\0' || p[n] == ' ') && (a == 4 || a == 5) &&
	    (unsigned)(reply[0] - '0') == a) {
		snprintf(out, outlen, "%u.%u.%u", a, b2, c);
		return;
	}
	snprintf(out, outlen, "%c.0.0", reply[0] == '4' ? '4' : '5');
}

/* the length of the header block, its blank line not included */
static size_t
header_block(const char *msg, size_t len)
{
	size_t	 i;

	if (len >= 2 && msg[0] == '\r' && msg[1] == '\n')
		return 0;
	for (i = 0; i + 3 < len; i++)
		if (memcmp(msg + i, "\r\n\r\n", 4) == 0)
			return i + 2;
	return len;
}

static int
boundary_free(const char *s, size_t len, const char *boundary)
{
	return memmem(s, len, boundary, strlen(boundary)) == NULL;
}

/* the human part: who failed and why, in plain words */
static void
put_text(struct buf *b, int *err, const struct qenv *e,
    const unsigned char *relayed, const char *mta, int full)
{
	size_t	 i;

	put(b, err, "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
	    "This is the mail gateway at ");
	put_clean(b, err, mta, 255);
	put(b, err, relayed == NULL ? ".\r\n\r\nYour message could not be "
	    "delivered to the recipients below.\r\nThe reason the receiving "
	    "server gave follows each address.\r\n\r\n" :
	    ".\r\n\r\nYour message was handed on for the recipients below "
	    "to a server\r\nthat does not send delivery notifications: this "
	    "is the last one\r\nyou will get for them.\r\n\r\n");
	for (i = 0; i < e->nrcpt; i++) {
		if (!want(e, relayed, i))
			continue;
		put(b, err, "<");
		put_clean(b, err, e->rcpt[i].addr, QENV_TEXT_MAX);
		put(b, err, ">: ");
		put_clean(b, err, e->rcpt[i].reply != NULL ? e->rcpt[i].reply :
		    "the message stayed in the queue for its whole lifetime "
		    "without being accepted", DSN_DIAG_MAX);
		put(b, err, "\r\n");
	}
	put(b, err, full == DSN_REDACTED ? "\r\nThe message was sent with "
	    "REQUIRETLS (RFC 8689): neither it nor its\r\nheader is "
	    "returned.\r\n" : full ? "\r\nThe message follows.\r\n" :
	    "\r\nThe header of the message follows.\r\n");
}

/* the machine part (RFC 3464 2.2, 2.3) */
static void
put_status(struct buf *b, int *err, const struct qenv *e,
    const unsigned char *relayed, const char *mta)
{
	char	 st[16];
	size_t	 i;

	put(b, err, "Content-Type: message/delivery-status\r\n\r\n"
	    "Reporting-MTA: dns; ");
	put_clean(b, err, mta, 255);
	put(b, err, "\r\n");
	if (e->envid != NULL) {
		put(b, err, "Original-Envelope-Id: ");
		put_clean(b, err, e->envid, 100);
		put(b, err, "\r\n");
	}
	put(b, err, "Arrival-Date: ");
	put_date(b, err, e->arrival);
	put(b, err, "\r\n");
	for (i = 0; i < e->nrcpt; i++) {
		const struct qrcpt *r = &e->rcpt[i];

		if (!want(e, relayed, i))
			continue;
		put(b, err, "\r\n");
		if (r->orcpt != NULL) {
			put(b, err, "Original-Recipient: ");
			put_clean(b, err, r->orcpt, QENV_TEXT_MAX);
			put(b, err, "\r\n");
		}
		put(b, err, "Final-Recipient: rfc822; ");
		put_clean(b, err, r->addr, QENV_TEXT_MAX);
		if (relayed != NULL)
			snprintf(st, sizeof(st), "2.0.0");
		else
			status_of(r->reply, st, sizeof(st));
		put(b, err, relayed != NULL ? "\r\nAction: relayed\r\n"
		    "Status: " : "\r\nAction: failed\r\nStatus: ");
		put(b, err, st);
		put(b, err, "\r\n");
		if (r->reply != NULL) {
			put(b, err, "Diagnostic-Code: smtp; ");
			put_clean(b, err, r->reply, DSN_DIAG_MAX);
			put(b, err, "\r\n");
		}
	}
}

/* the third part: the original, or its header block */
static void
put_original(struct buf *b, int *err, const char *bnd, int full,
    const char *msg, size_t keep)
{
	put(b, err, "\r\n--");
	put(b, err, bnd);
	put(b, err, full ? "\r\nContent-Type: message/rfc822\r\n\r\n" :
	    "\r\nContent-Type: text/rfc822-headers\r\n\r\n");
	if (*err == 0 && buf_append(b, msg, keep) < 0)
		*err = 1;
	if (keep < 2 || memcmp(msg + keep - 2, "\r\n", 2) != 0)
		put(b, err, "\r\n");
}

static int
build(const struct qenv *e, const unsigned char *relayed, const char *mta,
    int64_t now, const char *msg, size_t msglen, char **out, size_t *outlen)
{
	struct buf	 b;
	char		 bnd[80], *p;
	size_t		 i, n = 0, keep;
	int		 err = 0, full, tries;

	*out = NULL;
	*outlen = 0;
	for (i = 0; i < e->nrcpt; i++)
		n += want(e, relayed, i) != 0;
	if (n == 0)
		return 0;
	/* RET=FULL is for failures; a relayed report returns the header */
	full = relayed == NULL && e->ret == QRET_FULL && msglen <= DSN_FULL_MAX;
	if (msg == NULL) {
		full = DSN_REDACTED;
		msg = "";
		msglen = 0;
	}
	keep = full == 1 ? msglen : header_block(msg, msglen);	/* 0 redacted */
	if (keep > DSN_FULL_MAX)
		keep = DSN_FULL_MAX;
	/* a boundary that the returned text does not contain */
	for (tries = 0; tries < 100; tries++) {
		snprintf(bnd, sizeof(bnd), "=_smtpgate_%016" PRIx64 "_%d",
		    e->id, tries);
		if (boundary_free(msg, keep, bnd))
			break;
	}
	if (tries == 100)
		return -1;
	buf_init(&b, keep + DSN_SLACK + n * (2 * QENV_TEXT_MAX + 2 *
	    DSN_DIAG_MAX + 200));
	put(&b, &err, "From: Mail Delivery System <MAILER-DAEMON@");
	put_clean(&b, &err, mta, 255);
	put(&b, &err, ">\r\nTo: <");
	put_clean(&b, &err, e->sender, QENV_TEXT_MAX);
	put(&b, &err, relayed == NULL ? ">\r\nSubject: Undelivered Mail "
	    "Returned to Sender\r\nDate: " : ">\r\nSubject: Delivery Status "
	    "Notification (Relayed)\r\nDate: ");
	put_date(&b, &err, now);
	put(&b, &err, "\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0"
	    "\r\nContent-Type: multipart/report; report-type=delivery-status;"
	    "\r\n\tboundary=\"");
	put(&b, &err, bnd);
	put(&b, &err, "\"\r\n\r\nThis is a MIME-encapsulated message.\r\n\r\n--");
	put(&b, &err, bnd);
	put(&b, &err, "\r\n");
	put_text(&b, &err, e, relayed, mta, full);
	put(&b, &err, "\r\n--");
	put(&b, &err, bnd);
	put(&b, &err, "\r\n");
	put_status(&b, &err, e, relayed, mta);
	if (full != DSN_REDACTED)
		put_original(&b, &err, bnd, full, msg, keep);
	put(&b, &err, "\r\n--");
	put(&b, &err, bnd);
	put(&b, &err, "--\r\n");
	if (err != 0 || (p = malloc(buf_len(&b) + 1)) == NULL) {
		buf_release(&b);
		return -1;
	}
	memcpy(p, buf_data(&b), buf_len(&b));
	p[buf_len(&b)] = '\0';
	*out = p;
	*outlen = buf_len(&b);
	buf_release(&b);
	return (int)n;
}

int
dsn_build(const struct qenv *e, const char *mta, int64_t now,
    const char *msg, size_t msglen, char **out, size_t *outlen)
{
	return build(e, NULL, mta, now, msg, msglen, out, outlen);
}

int
dsn_build_relayed(const struct qenv *e, const unsigned char *relayed,
    const char *mta, int64_t now, const char *msg, size_t msglen, char **out,
    size_t *outlen)
{
	return build(e, relayed, mta, now, msg, msglen, out, outlen);
}
