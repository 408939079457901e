/*
 * metrics - the gateway's counters, gauges and histograms, and their
 * Prometheus text exposition (docs/operations.md lists them).
 *
 * Contract: one process-wide registry (the gateway is one thread on one
 * event loop; the hash workers never count).  The counting calls are
 * cheap: an array index and an add, no formatting, no allocation, no
 * lookup by name.  A per-upstream slot is found by name once, when a
 * configuration snapshot is built (metrics_up()), and kept by the caller;
 * slots are never freed, so SIGHUP keeps every count.  metrics_format()
 * is pure: it writes the registry as it is into a bounded buffer.
 */
#ifndef GW_METRICS_H
#define GW_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "util/fail.h"

struct buf;

/* upstream names are section names (CONF_NAME_MAX) */
#define MX_NAME_MAX	64
/* slots for distinct upstream names over the process's life */
#define MX_UP_MAX	64
/* histogram buckets, +Inf not counted */
#define MX_HIST_MAX	16

/* why a client connection got no session (listener.c's reason=) */
enum mx_refuse {
	MX_REF_NOT_ALLOWED,		/* "not-allowed" */
	MX_REF_MAX_SESSIONS,		/* "max-sessions" */
	MX_REF_PER_CLIENT,		/* "max-sessions-per-client" */
	MX_REF_RATE,			/* "rate-connections" */
	MX_REF_PROXY_NOT_TRUSTED,	/* "proxy-not-trusted" */
	MX_REF_PROXY_HEADER,		/* "proxy-header": bad, late, none */
	MX_REF_ENOMEM,			/* "enomem" */
	MX_REF_MAX
};

/* how a transaction ended for the client */
enum mx_tx {
	MX_TX_RELAYED,		/* 2xx to the final dot */
	MX_TX_REFUSED,		/* 5xx */
	MX_TX_TEMPFAIL,		/* 4xx */
	MX_TX_MAX
};

/*
 * The class of a transaction's end: a gw_fail class (FAIL_NONE for a
 * relayed one), or one of these beyond them.
 */
enum mx_class {
	MX_CLASS_UPSTREAM = FAIL_MAX,	/* "upstream": its own reply */
	MX_CLASS_SPOOL,			/* "spool": our spool failed */
	MX_CLASS_DKIM,			/* "dkim": signing failed or required */
	MX_CLASS_SMIME,			/* "smime": S/MIME failed or refused */
	MX_CLASS_MAX
};

enum mx_auth {
	MX_AUTH_UP_REFUSED,	/* upstream refused our credentials */
	MX_AUTH_UP_NOCRED,	/* inject: no credentials to send */
	MX_AUTH_LS_INVALID,	/* listener: the client's refused */
	MX_AUTH_LS_LOCKED,	/* listener: too many failures */
	MX_AUTH_LS_TEMP,	/* listener: could not be checked */
	MX_AUTH_MAX
};

enum mx_dkim {
	MX_DKIM_SIGNED,
	MX_DKIM_UNSIGNED,	/* no key applies */
	MX_DKIM_FAILED,
	MX_DKIM_MAX
};

struct mx_hist {
	const double	*bounds;	/* MX_HIST_MAX at most, ascending */
	size_t		 nbounds;
	uint64_t	 counts[MX_HIST_MAX + 1];	/* per bucket, last +Inf */
	uint64_t	 count;
	double		 sum;
};

/* one upstream, by section name */
struct mx_up {
	char		 name[MX_NAME_MAX];
	uint64_t	 messages;	/* relayed: 2xx to the final dot */
	uint64_t	 bytes;
	uint64_t	 opened;	/* new connections started */
	uint64_t	 reused;	/* idle ones leased again */
	uint64_t	 resumed;	/* new ones whose TLS session resumed */
	uint64_t	 probes_ok, probes_failed;
	uint64_t	 idle;		/* gauge, set before each format */
	struct mx_hist	 setup;		/* connect to ready, seconds */
	/* readiness (CLOCK_MONOTONIC seconds; 0: never) */
	time_t		 last_ok;
	time_t		 last_fail;
	enum gw_fail	 last_class;
};

struct metrics {
	uint64_t	 accepted;
	uint64_t	 refused[MX_REF_MAX];
	uint64_t	 tx[MX_TX_MAX][MX_CLASS_MAX];
	uint64_t	 rcpt_refused_upstream, rcpt_refused_gateway;
	uint64_t	 tls_up[FAIL_MAX];	/* upstream TLS by class */
	uint64_t	 tls_listener;		/* listener handshakes */
	uint64_t	 tls_listener_timeout;	/* ... not done in time */
	uint64_t	 auth[MX_AUTH_MAX];
	uint64_t	 dkim[MX_DKIM_MAX];
	uint64_t	 sessions;		/* gauge, set before a format */
	/* delivery = queue: gauges set before a format; queue 0: none */
	int		 queue;
	uint64_t	 queue_messages, queue_bytes;
	uint64_t	 queue_oldest_age;	/* seconds */
	uint64_t	 reloads_ok, reloads_failed;
	int		 last_reload_failed;	/* the last SIGHUP kept the old */
	struct mx_hist	 txtime;		/* MAIL to final reply, seconds */
	struct mx_up	 up[MX_UP_MAX];
	size_t		 nup;
	struct mx_up	 spill;			/* past MX_UP_MAX: not shown */
};

/* the registry */
extern struct metrics	gw_metrics;

/* metrics_reset - all to zero (start-up, tests) */
void	metrics_reset(void);
/* metrics_up - the slot of upstream name, made at first use; never NULL */
struct mx_up *metrics_up(const char *name);

/* counting: each one call where the event happens */
void	metrics_accepted(void);
void	metrics_refused(enum mx_refuse);
/* cls: a gw_fail or an mx_class; seconds from MAIL */
void	metrics_tx(enum mx_tx, int cls, double seconds);
/*
 * metrics_tx_nomail - a transaction that ended at MAIL for want of an
 * upstream (connect, DNS, TLS checks): counted, with no time observed
 */
void	metrics_tx_nomail(enum mx_tx, int cls);
void	metrics_rcpt_refused(int by_upstream);
void	metrics_relayed(struct mx_up *, unsigned long long bytes);
void	metrics_up_opened(struct mx_up *);
void	metrics_up_reused(struct mx_up *);
/* a connection became ready: set-up seconds (< 0: a reused one) */
void	metrics_up_ready(struct mx_up *, double setup, int resumed);
/* a new connection (or a probe) failed before it was ready */
void	metrics_up_failed(struct mx_up *, enum gw_fail);
void	metrics_up_probe(struct mx_up *, enum gw_fail);
void	metrics_tls_listener(void);
void	metrics_tls_listener_timeout(void);
/* metrics_reload - a SIGHUP's outcome (ok: the new configuration is used) */
void	metrics_reload(int ok);
void	metrics_auth(enum mx_auth);
void	metrics_dkim(enum mx_dkim);

/* metrics_tls_class - 1 if a failure class is a TLS one */
int	metrics_tls_class(enum gw_fail);

/*
 * metrics_format - the exposition text of m appended to out (a bounded
 * buf); 0, or -1 if out is full (nothing useful then).  Pure.
 */
int	metrics_format(const struct metrics *, struct buf *out);
/*
 * metrics_label - v escaped as a label value (\\, \", \n) into dst;
 * -1 if it does not fit.  Pure.
 */
int	metrics_label(char *dst, size_t len, const char *v);

#endif
