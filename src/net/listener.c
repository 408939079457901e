/*
 * listener.c - bind, accept, ACL and session limits.
 *
 * Refusals are written with one non-blocking send and the socket closed:
 * a client outside the ACL never gets a session, so it can never make the
 * gateway open an upstream connection.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "conf/conf.h"
#include "net/listener.h"
#include "net/proxyproto.h"
#include "net/proxywait.h"
#include "net/ratecheck.h"
#include "obs/metrics.h"
#include "util/addr.h"
#include "util/log.h"
#include "util/sockbind.h"
#include "util/str.h"

#define LISTEN_BACKLOG		128
#define ACCEPTS_PER_EVENT	32
#define MAX_SOCKETS		(CONF_MAX_LISTENERS * CONF_MAX_LISTEN)

struct lsock {
	int			 fd;
	struct event		*ev;
	char			 name[CONF_NAME_MAX];	/* listener section */
	struct hostport		 hp;
	const struct conf_listener *l;
	struct listener_set	*set;
};

/* one entry per client address with sessions open */
struct client_count {
	struct sockaddr_storage	 addr;
	unsigned		 n;
};

struct listener_set {
	struct lsock		 socks[MAX_SOCKETS];
	size_t			 nsocks;
	const struct gw_conf	*conf;
	listener_accept_fn	 fn;
	void			*arg;
	unsigned		 total;
	struct client_count	*clients;
	size_t			 nclients;
	size_t			 clientcap;
	struct event		*pause_ev;	/* after EMFILE */
	struct proxywait_set	*pw;		/* waiting for a PROXY header */
};

static void	listener_on_accept(evutil_socket_t, short, void *);
static void	listener_on_proxy(void *, int, const struct sockaddr *,
		    socklen_t, const struct proxy_hdr *);

static int
same_addr(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	if (a->sa_family != b->ss_family)
		return 0;
	if (a->sa_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		    &((const struct sockaddr_in *)b)->sin_addr,
		    sizeof(struct in_addr)) == 0;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		    &((const struct sockaddr_in6 *)b)->sin6_addr,
		    sizeof(struct in6_addr)) == 0;
	return 0;
}

static struct client_count *
client_find(struct listener_set *set, const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < set->nclients; i++)
		if (same_addr(sa, &set->clients[i].addr))
			return &set->clients[i];
	return NULL;
}

/* listeners_open - bind every configured address */
struct listener_set *
listeners_open(const struct gw_conf *conf, char *err, size_t errlen)
{
	struct listener_set	*set;
	const struct conf_listener *l;
	struct lsock		*s;
	size_t			 i, j;

	if ((set = calloc(1, sizeof(*set))) == NULL) {
		(void)snprintf(err, errlen, "out of memory");
		return NULL;
	}
	set->conf = conf;
	for (i = 0; i < conf->nlisteners; i++) {
		l = &conf->listeners[i];
		for (j = 0; j < l->nlisten; j++) {
			s = &set->socks[set->nsocks];
			s->set = set;
			s->l = l;
			s->hp = l->listen[j];
			(void)str_copy(s->name, l->name, sizeof(s->name));
			if ((s->fd = sock_bind_listen(l->listen[j].host,
			    l->listen[j].port, LISTEN_BACKLOG, "listen", err,
			    errlen)) == -1) {
				listeners_free(set);
				return NULL;
			}
			set->nsocks++;
		}
	}
	return set;
}

static void
listener_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener_set	*set = arg;
	size_t			 i;

	for (i = 0; i < set->nsocks; i++)
		if (set->socks[i].ev != NULL)
			event_add(set->socks[i].ev, NULL);
}

/* listeners_start - register accept events */
int
listeners_start(struct listener_set *set, struct event_base *base,
    listener_accept_fn fn, void *arg)
{
	size_t	i;

	set->fn = fn;
	set->arg = arg;
	if ((set->pause_ev = evtimer_new(base, listener_resume, set)) == NULL)
		return -1;
	if ((set->pw = proxywait_new(base, listener_on_proxy)) == NULL)
		return -1;
	for (i = 0; i < set->nsocks; i++) {
		set->socks[i].ev = event_new(base, set->socks[i].fd,
		    EV_READ | EV_PERSIST, listener_on_accept, &set->socks[i]);
		if (set->socks[i].ev == NULL || event_add(set->socks[i].ev, NULL) == -1)
			return -1;
		log_info("listening on %s%s%s:%u listener=%s",
		    strchr(set->socks[i].hp.host, ':') ? "[" : "",
		    set->socks[i].hp.host,
		    strchr(set->socks[i].hp.host, ':') ? "]" : "",
		    set->socks[i].hp.port, set->socks[i].name);
	}
	return 0;
}

/* listeners_update - point every socket at its listener in the new conf */
int
listeners_update(struct listener_set *set, const struct gw_conf *conf,
    char *err, size_t errlen)
{
	const struct conf_listener *l;
	size_t			 i, j, k, n = 0;
	int			 found;

	/* first check that the new file binds exactly what we have bound */
	for (i = 0; i < conf->nlisteners; i++)
		n += conf->listeners[i].nlisten;
	if (n != set->nsocks) {
		(void)snprintf(err, errlen,
		    "listen addresses changed: a restart is needed for that");
		return -1;
	}
	for (k = 0; k < set->nsocks; k++) {
		found = 0;
		for (i = 0; i < conf->nlisteners && !found; i++) {
			l = &conf->listeners[i];
			if (strcmp(l->name, set->socks[k].name) != 0)
				continue;
			for (j = 0; j < l->nlisten; j++)
				if (strcmp(l->listen[j].host, set->socks[k].hp.host) == 0 &&
				    l->listen[j].port == set->socks[k].hp.port)
					found = 1;
		}
		if (!found) {
			(void)snprintf(err, errlen, "listen addresses changed: "
			    "a restart is needed for that");
			return -1;
		}
	}
	for (k = 0; k < set->nsocks; k++)
		for (i = 0; i < conf->nlisteners; i++)
			if (strcmp(conf->listeners[i].name, set->socks[k].name) == 0)
				set->socks[k].l = &conf->listeners[i];
	set->conf = conf;
	return 0;
}

static void
refuse(int fd, const char *reply, const char *peer, const char *proxy,
    const char *why, enum mx_refuse mx)
{
	metrics_refused(mx);
	/* best effort: the socket is fresh, the reply fits its buffer */
	(void)send(fd, reply, strlen(reply), MSG_DONTWAIT | MSG_NOSIGNAL);
	close(fd);
	log_info("refused client=%s%s%s reason=%s", peer, proxy ? " proxy=" :
	    "", proxy ? proxy : "", why);
}

static int
in_cidrs(const struct cidr *list, size_t n, const struct sockaddr *sa)
{
	size_t	i;

	for (i = 0; i < n; i++)
		if (cidr_match(&list[i], sa))
			return 1;
	return 0;
}

/*
 * admit - the checks every client passes before it gets a session: the
 * allow list, the global and the per-client session limits.  sa is the
 * client (carried by a PROXY header, or the peer); proxy is the balancer
 * or NULL.  One place, so that a new check (a rate limit) applies to
 * both kinds of listener.
 */
static void
admit(struct lsock *s, int fd, const struct sockaddr *sa, socklen_t sl,
    const struct sockaddr *proxy)
{
	struct listener_set	*set = s->set;
	struct client_count	*cc, *ncl;
	char			 peer[64], pbuf[64];
	const char		*pr = NULL;
	int			 on = 1;

	(void)addr_ntop(sa, peer, sizeof(peer));
	if (proxy != NULL)
		pr = addr_ntop(proxy, pbuf, sizeof(pbuf));
	if (!in_cidrs(s->l->allow, s->l->nallow, sa)) {
		refuse(fd, "554 5.7.1 Relaying not allowed from your address\r\n",
		    peer, pr, "not-allowed", MX_REF_NOT_ALLOWED);
		return;
	}
	if (set->total >= set->conf->max_sessions) {
		refuse(fd, "421 4.3.2 Too many sessions, try again later\r\n",
		    peer, pr, "max-sessions", MX_REF_MAX_SESSIONS);
		return;
	}
	cc = client_find(set, sa);
	if (cc != NULL && cc->n >= s->l->max_sessions_per_client) {
		refuse(fd, "421 4.7.0 Too many sessions from your address\r\n",
		    peer, pr, "max-sessions-per-client",
		    MX_REF_PER_CLIENT);
		return;
	}
	/* last: only a connection let in counts toward the rate */
	if (!ratecheck_connection(s->l, sa)) {
		refuse(fd, "421 4.7.0 Too many connections from your "
		    "address, try again later\r\n", peer, pr,
		    "rate-connections", MX_REF_RATE);
		return;
	}
	if (cc == NULL) {
		if (set->nclients == set->clientcap) {
			size_t ncap = set->clientcap ? set->clientcap * 2 : 64;

			ncl = reallocarray(set->clients, ncap, sizeof(*ncl));
			if (ncl == NULL) {
				refuse(fd, "421 4.3.0 Out of memory\r\n",
				    peer, pr, "enomem", MX_REF_ENOMEM);
				return;
			}
			set->clients = ncl;
			set->clientcap = ncap;
		}
		cc = &set->clients[set->nclients++];
		memset(cc, 0, sizeof(*cc));
		memcpy(&cc->addr, sa, sl);
	}
	cc->n++;
	set->total++;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	metrics_accepted();
	set->fn(set->arg, s->l, fd, sa, sl, proxy);
}

/*
 * A PROXY listener: the peer must be a listed balancer, and its header
 * comes first.  Waiting connections count against max_sessions, so a
 * flood of silent ones is bounded like sessions are (each holds an fd).
 */
static void
proxy_start(struct lsock *s, int fd, const struct sockaddr *sa, socklen_t sl)
{
	struct listener_set	*set = s->set;
	char			 peer[64];

	(void)addr_ntop(sa, peer, sizeof(peer));
	if (!in_cidrs(s->l->proxy_from, s->l->nproxy_from, sa)) {
		/* not a balancer: no reply, it does not speak for a client */
		close(fd);
		metrics_refused(MX_REF_PROXY_NOT_TRUSTED);
		log_info("refused client=%s reason=proxy-not-trusted", peer);
		return;
	}
	if (set->total + proxywait_count(set->pw) >= set->conf->max_sessions) {
		refuse(fd, "421 4.3.2 Too many sessions, try again later\r\n",
		    peer, NULL, "max-sessions", MX_REF_MAX_SESSIONS);
		return;
	}
	if (proxywait_add(set->pw, fd, sa, sl, (int)s->l->proxy_protocol,
	    s->l->proxy_timeout, s) == -1)
		refuse(fd, "421 4.3.0 Out of memory\r\n", peer, NULL,
		    "enomem", MX_REF_ENOMEM);
}

/* the header is in: admit the client it names (LOCAL, UNKNOWN: the peer) */
static void
listener_on_proxy(void *arg, int fd, const struct sockaddr *peer,
    socklen_t peerlen, const struct proxy_hdr *h)
{
	struct lsock	*s = arg;
	char		 c[64], p[64];

	log_trace(LOGF_PROXY, "proxy header v%d client=%s proxy=%s len=%zu",
	    h->version, h->local ? "local" : addr_ntop((const struct sockaddr *)
	    &h->src, c, sizeof(c)), addr_ntop(peer, p, sizeof(p)), h->len);
	if (h->local)
		admit(s, fd, peer, peerlen, peer);
	else
		admit(s, fd, (const struct sockaddr *)&h->src, h->srclen, peer);
}

static void
listener_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct lsock		*s = arg;
	struct listener_set	*set = s->set;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	int			 fd, i;

	for (i = 0; i < ACCEPTS_PER_EVENT; i++) {
		sl = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE) {
				/* out of descriptors: stop accepting for a second */
				struct timeval tv = { 1, 0 };
				size_t k;

				log_warnx("accept: %s; pausing", strerror(errno));
				for (k = 0; k < set->nsocks; k++)
					event_del(set->socks[k].ev);
				event_add(set->pause_ev, &tv);
			}
			return;
		}
		if (s->l->proxy_protocol != PROXY_PROTOCOL_NO)
			proxy_start(s, fd, (struct sockaddr *)&ss, sl);
		else
			admit(s, fd, (struct sockaddr *)&ss, sl, NULL);
	}
}

/* listeners_session_done - account for a finished session */
void
listeners_session_done(struct listener_set *set, const struct sockaddr *peer)
{
	struct client_count	*cc;

	if (set->total > 0)
		set->total--;
	if ((cc = client_find(set, peer)) == NULL)
		return;
	if (--cc->n == 0)
		*cc = set->clients[--set->nclients];
}

/* listeners_stop - close the listening sockets */
void
listeners_stop(struct listener_set *set)
{
	size_t	i;

	for (i = 0; i < set->nsocks; i++) {
		if (set->socks[i].ev != NULL) {
			event_free(set->socks[i].ev);
			set->socks[i].ev = NULL;
		}
		if (set->socks[i].fd != -1) {
			close(set->socks[i].fd);
			set->socks[i].fd = -1;
		}
	}
	if (set->pause_ev != NULL)
		event_del(set->pause_ev);
	/* a connection still waiting for its header never got a session */
	proxywait_free(set->pw);
	set->pw = NULL;
}

/* listeners_free - stop and release */
void
listeners_free(struct listener_set *set)
{
	if (set == NULL)
		return;
	listeners_stop(set);
	if (set->pause_ev != NULL)
		event_free(set->pause_ev);
	free(set->clients);
	free(set);
}
