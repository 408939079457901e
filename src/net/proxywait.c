/*
 * proxywait.c - read a PROXY protocol header without reading past it.
 *
 * The peek-then-consume dance exists because the octets after the header
 * belong to whoever gets the fd next (with implicit TLS, the ClientHello
 * must still be in the socket for the TLS layer).  The parser's
 * NEED_MORE means every octet it was shown is header, so what was peeked
 * may be consumed into our own buffer; that keeps a level-triggered read
 * event from firing again for octets already seen.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/proxyproto.h"
#include "net/proxywait.h"
#include "obs/metrics.h"
#include "util/addr.h"
#include "util/log.h"

struct pwait {
	TAILQ_ENTRY(pwait)	 entry;
	struct proxywait_set	*set;
	struct event		*ev;
	int			 fd;
	int			 accept;
	void			*arg;
	struct timespec		 deadline;	/* CLOCK_MONOTONIC */
	struct sockaddr_storage	 peer;
	socklen_t		 peerlen;
	size_t			 nhave;
	unsigned char		 have[PROXY_MAX_LEN];
};

struct proxywait_set {
	struct event_base	*base;
	proxywait_fn		 done;
	size_t			 count;
	TAILQ_HEAD(, pwait)	 list;
};

static void	pw_on_read(evutil_socket_t, short, void *);

/* proxywait_new - see proxywait.h */
struct proxywait_set *
proxywait_new(struct event_base *base, proxywait_fn done)
{
	struct proxywait_set	*set;

	if ((set = calloc(1, sizeof(*set))) == NULL)
		return NULL;
	set->base = base;
	set->done = done;
	TAILQ_INIT(&set->list);
	return set;
}

static void
pw_free(struct pwait *pw)
{
	TAILQ_REMOVE(&pw->set->list, pw, entry);
	pw->set->count--;
	event_free(pw->ev);
	free(pw);
}

static void
pw_fail(struct pwait *pw, const char *reason, const char *detail)
{
	char	 peer[64];

	metrics_refused(MX_REF_PROXY_HEADER);
	(void)addr_ntop((struct sockaddr *)&pw->peer, peer, sizeof(peer));
	log_info("refused proxy=%s reason=%s detail=\"%s\" octets=%zu", peer,
	    reason, detail, pw->nhave);
	close(pw->fd);
	pw_free(pw);
}

/* wait again for what is left of the deadline; 0, or -1 when it passed */
static int
pw_rearm(struct pwait *pw)
{
	struct timespec	 now;
	struct timeval	 tv;
	long long	 ms;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long long)(pw->deadline.tv_sec - now.tv_sec) * 1000 +
	    (pw->deadline.tv_nsec - now.tv_nsec) / 1000000;
	if (ms <= 0)
		return -1;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return event_add(pw->ev, &tv);
}

/* proxywait_add - see proxywait.h */
int
proxywait_add(struct proxywait_set *set, int fd, const struct sockaddr *peer,
    socklen_t peerlen, int accept, unsigned timeout, void *arg)
{
	struct pwait	*pw;

	if (peerlen > sizeof(pw->peer) || (pw = calloc(1, sizeof(*pw))) == NULL)
		return -1;
	if ((pw->ev = event_new(set->base, fd, EV_READ, pw_on_read, pw)) ==
	    NULL) {
		free(pw);
		return -1;
	}
	pw->set = set;
	pw->fd = fd;
	pw->accept = accept;
	pw->arg = arg;
	memcpy(&pw->peer, peer, peerlen);
	pw->peerlen = peerlen;
	(void)clock_gettime(CLOCK_MONOTONIC, &pw->deadline);
	pw->deadline.tv_sec += timeout;
	TAILQ_INSERT_TAIL(&set->list, pw, entry);
	set->count++;
	if (pw_rearm(pw) == -1) {
		TAILQ_REMOVE(&set->list, pw, entry);
		set->count--;
		event_free(pw->ev);
		free(pw);
		return -1;
	}
	return 0;
}

/* hand the fd over: pw is freed first, so done() may add or free freely */
static void
pw_done(struct pwait *pw, const struct proxy_hdr *h)
{
	struct proxywait_set	*set = pw->set;
	struct sockaddr_storage	 peer = pw->peer;
	socklen_t		 peerlen = pw->peerlen;
	void			*arg = pw->arg;
	int			 fd = pw->fd;

	pw_free(pw);
	set->done(arg, fd, (struct sockaddr *)&peer, peerlen, h);
}

static void
pw_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct pwait		*pw = arg;
	unsigned char		 buf[PROXY_MAX_LEN];
	struct proxy_hdr	 h;
	const char		*why = "";
	enum proxy_result	 r;
	ssize_t			 n, got;
	size_t			 take;

	if (what & EV_TIMEOUT) {
		pw_fail(pw, "proxy-timeout", "no complete header in time");
		return;
	}
	memcpy(buf, pw->have, pw->nhave);
	n = recv(fd, buf + pw->nhave, sizeof(buf) - pw->nhave, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		goto again;
	if (n <= 0) {
		pw_fail(pw, "proxy-header", n == 0 ?
		    "closed before the header's end" : strerror(errno));
		return;
	}
	r = proxyproto_parse(buf, pw->nhave + (size_t)n, pw->accept, &h, &why);
	if (r == PROXY_ERROR) {
		pw_fail(pw, "proxy-header", why);
		return;
	}
	/* NEED_MORE: all of it is header; DONE: up to its end, not one more */
	take = r == PROXY_DONE ? h.len - pw->nhave : (size_t)n;
	got = recv(fd, pw->have + pw->nhave, take, 0);
	if (got < 0 || (size_t)got != take) {
		pw_fail(pw, "proxy-header", "short read of peeked octets");
		return;
	}
	pw->nhave += take;
	if (r == PROXY_DONE) {
		pw_done(pw, &h);
		return;
	}
again:
	if (pw_rearm(pw) == -1)
		pw_fail(pw, "proxy-timeout", "no complete header in time");
}

/* proxywait_count - see proxywait.h */
size_t
proxywait_count(const struct proxywait_set *set)
{
	return set != NULL ? set->count : 0;
}

/* proxywait_free - see proxywait.h */
void
proxywait_free(struct proxywait_set *set)
{
	struct pwait	*pw;

	if (set == NULL)
		return;
	while ((pw = TAILQ_FIRST(&set->list)) != NULL) {
		close(pw->fd);
		pw_free(pw);
	}
	free(set);
}
