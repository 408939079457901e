/*
 * metrics.c - the registry and its Prometheus text exposition
 * (metrics.h).  Format: text/plain; version=0.0.4.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "obs/metrics.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

struct metrics	gw_metrics;

/* mail: from a local submission (ms) to a slow upstream (a minute) */
static const double txtime_bounds[] = {
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
/* connect, TLS, EHLO, AUTH: from loopback to another continent */
static const double setup_bounds[] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};

/* as listener.c and proxywait.c log them */
static const char *const refuse_names[] = {
	"not-allowed", "max-sessions", "max-sessions-per-client",
	"rate-connections", "proxy-not-trusted", "proxy-header", "enomem"
};
static const char *const tx_names[] = { "relayed", "refused", "tempfail" };
static const char *const auth_side[] = {
	"upstream", "upstream", "listener", "listener", "listener"
};
static const char *const auth_names[] = {
	"refused", "no-credentials", "invalid", "locked", "temporary"
};
static const char *const dkim_names[] = { "signed", "unsigned", "failed" };

_Static_assert(sizeof(refuse_names) / sizeof(refuse_names[0]) == MX_REF_MAX,
    "refuse_names");
_Static_assert(sizeof(auth_names) / sizeof(auth_names[0]) == MX_AUTH_MAX,
    "auth_names");
_Static_assert(sizeof(auth_side) / sizeof(auth_side[0]) == MX_AUTH_MAX,
    "auth_side");
_Static_assert(sizeof(txtime_bounds) / sizeof(double) <= MX_HIST_MAX, "txt");
_Static_assert(sizeof(setup_bounds) / sizeof(double) <= MX_HIST_MAX, "set");

static void
hist_init(struct mx_hist *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n;
}

static void
hist_observe(struct mx_hist *h, double v)
{
	size_t	i;

	for (i = 0; i < h->nbounds && v > h->bounds[i]; i++)
		;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

static void
up_init(struct mx_up *u, const char *name)
{
	memset(u, 0, sizeof(*u));
	(void)str_copy(u->name, name, sizeof(u->name));
	hist_init(&u->setup, setup_bounds, sizeof(setup_bounds) /
	    sizeof(setup_bounds[0]));
}

/* metrics_reset - all to zero */
void
metrics_reset(void)
{
	memset(&gw_metrics, 0, sizeof(gw_metrics));
	hist_init(&gw_metrics.txtime, txtime_bounds, sizeof(txtime_bounds) /
	    sizeof(txtime_bounds[0]));
	up_init(&gw_metrics.spill, "");
}

/* metrics_up - the slot of an upstream name (snapshot build time only) */
struct mx_up *
metrics_up(const char *name)
{
	struct metrics	*m = &gw_metrics;
	size_t		 i;

	if (m->txtime.bounds == NULL)
		metrics_reset();
	for (i = 0; i < m->nup; i++)
		if (strcmp(m->up[i].name, name) == 0)
			return &m->up[i];
	/* a long life of renamed upstreams: counted, not shown */
	if (m->nup == MX_UP_MAX || strlen(name) >= MX_NAME_MAX) {
		log_warnx("metrics: no slot for upstream %s: not shown", name);
		return &m->spill;
	}
	up_init(&m->up[m->nup], name);
	return &m->up[m->nup++];
}

void
metrics_accepted(void)
{
	gw_metrics.accepted++;
}

void
metrics_refused(enum mx_refuse r)
{
	if ((unsigned)r < MX_REF_MAX)
		gw_metrics.refused[r]++;
}

void
metrics_tx(enum mx_tx t, int cls, double seconds)
{
	if ((unsigned)t >= MX_TX_MAX || cls < 0 || cls >= MX_CLASS_MAX)
		return;
	gw_metrics.tx[t][cls]++;
	if (gw_metrics.txtime.bounds != NULL)
		hist_observe(&gw_metrics.txtime, seconds);
}

void
metrics_tx_nomail(enum mx_tx t, int cls)
{
	if ((unsigned)t < MX_TX_MAX && cls >= 0 && cls < MX_CLASS_MAX)
		gw_metrics.tx[t][cls]++;
}

void
metrics_rcpt_refused(int by_upstream)
{
	if (by_upstream)
		gw_metrics.rcpt_refused_upstream++;
	else
		gw_metrics.rcpt_refused_gateway++;
}

void
metrics_relayed(struct mx_up *u, unsigned long long bytes)
{
	u->messages++;
	u->bytes += bytes;
}

void
metrics_up_opened(struct mx_up *u)
{
	u->opened++;
}

void
metrics_up_reused(struct mx_up *u)
{
	u->reused++;
}

static time_t
mono_now(void)
{
	struct timespec	ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	/* 0 means never: a clock starting at 0 must not look like it */
	return ts.tv_sec + 1;
}

void
metrics_up_ready(struct mx_up *u, double setup, int resumed)
{
	u->last_ok = mono_now();
	if (setup < 0)
		return;
	hist_observe(&u->setup, setup);
	if (resumed)
		u->resumed++;
}

int
metrics_tls_class(enum gw_fail f)
{
	switch (f) {
	case FAIL_TLS_PROTOCOL:
	case FAIL_CERT_UNTRUSTED:
	case FAIL_CERT_EXPIRED:
	case FAIL_CERT_NOT_YET_VALID:
	case FAIL_CERT_NAME_MISMATCH:
	case FAIL_CERT_REVOKED:
	case FAIL_REVOCATION_UNKNOWN:
	case FAIL_PIN_MISMATCH:
	case FAIL_STARTTLS_UNAVAILABLE:
	case FAIL_CLIENT_CERT_REJECTED:
		return 1;
	default:
		return 0;
	}
}

/*
 * A set-up failure: TLS ones counted by class, AUTH as refused
 * credentials.  For readiness only the upstream's reachability counts:
 * a refused login (a client's wrong password under passthrough) and our
 * own failures say nothing about it.
 */
void
metrics_up_failed(struct mx_up *u, enum gw_fail cls)
{
	if ((unsigned)cls >= FAIL_MAX)
		return;
	if (metrics_tls_class(cls))
		gw_metrics.tls_up[cls]++;
	if (cls == FAIL_AUTH)
		gw_metrics.auth[MX_AUTH_UP_REFUSED]++;
	if (cls == FAIL_AUTH || cls == FAIL_INTERNAL || cls == FAIL_NONE)
		return;
	u->last_fail = mono_now();
	u->last_class = cls;
}

void
metrics_up_probe(struct mx_up *u, enum gw_fail cls)
{
	if (cls == FAIL_NONE) {
		u->probes_ok++;
		u->last_ok = mono_now();
		return;
	}
	u->probes_failed++;
	if (cls == FAIL_INTERNAL)
		return;
	u->last_fail = mono_now();
	u->last_class = cls;
}

void
metrics_tls_listener(void)
{
	gw_metrics.tls_listener++;
}

void
metrics_reload(int ok)
{
	if (ok)
		gw_metrics.reloads_ok++;
	else
		gw_metrics.reloads_failed++;
	gw_metrics.last_reload_failed = !ok;
}

void
metrics_tls_listener_timeout(void)
{
	gw_metrics.tls_listener_timeout++;
}

void
metrics_auth(enum mx_auth a)
{
	if ((unsigned)a < MX_AUTH_MAX)
		gw_metrics.auth[a]++;
}

void
metrics_dkim(enum mx_dkim d)
{
	if ((unsigned)d < MX_DKIM_MAX)
		gw_metrics.dkim[d]++;
}

/* formatting */

/* metrics_label - a label value escaped: backslash, quote, line feed */
int
metrics_label(char *dst, size_t len, const char *v)
{
	size_t	o = 0;

	for (; *v != '\0'; v++) {
		const char *e = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" :
		    *v == '\n' ? "\\n" : NULL;
		size_t n = e != NULL ? 2 : 1;

		if (o + n >= len)
			return -1;
		if (e != NULL)
			memcpy(dst + o, e, 2);
		else
			dst[o] = *v;
		o += n;
	}
	if (len == 0)
		return -1;
	dst[o] = '\0';
	return 0;
}

static int out_printf(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static int
out_printf(struct buf *b, const char *fmt, ...)
{
	char	 line[512];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return buf_append(b, line, (size_t)n);
}

static int
head(struct buf *b, const char *name, const char *type, const char *help)
{
	return out_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

/* a sample: name{labels} value; labels "" or already escaped k="v",... */
static int
sample(struct buf *b, const char *name, const char *labels, uint64_t v)
{
	return out_printf(b, "%s%s%s%s %llu\n", name, labels[0] ? "{" : "",
	    labels, labels[0] ? "}" : "", (unsigned long long)v);
}

static int
hist(struct buf *b, const char *name, const char *labels,
    const struct mx_hist *h)
{
	uint64_t	 cum = 0;
	size_t		 i;
	const char	*sep = labels[0] ? "," : "";

	for (i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		if (out_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name,
		    labels, sep, h->bounds[i], (unsigned long long)cum) == -1)
			return -1;
	}
	cum += h->counts[h->nbounds];
	if (out_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels,
	    sep, (unsigned long long)cum) == -1)
		return -1;
	if (out_printf(b, "%s_sum%s%s%s %.6f\n", name, labels[0] ? "{" : "",
	    labels, labels[0] ? "}" : "", h->sum) == -1)
		return -1;
	return out_printf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" :
	    "", labels, labels[0] ? "}" : "", (unsigned long long)h->count);
}

static const char *
class_name(int cls)
{
	if (cls < FAIL_MAX)
		return fail_name((enum gw_fail)cls);
	return cls == MX_CLASS_UPSTREAM ? "upstream" : cls == MX_CLASS_SPOOL ?
	    "spool" : cls == MX_CLASS_SMIME ? "smime" : "dkim";
}

static int
fmt_sessions(const struct metrics *m, struct buf *b)
{
	char	 l[128];
	size_t	 i;

	if (head(b, "smtpgate_sessions_accepted_total", "counter",
	    "Client connections given a session.") == -1 ||
	    sample(b, "smtpgate_sessions_accepted_total", "", m->accepted) ==
	    -1 || head(b, "smtpgate_sessions_refused_total", "counter",
	    "Client connections refused before a session, by reason.") == -1)
		return -1;
	for (i = 0; i < MX_REF_MAX; i++) {
		(void)snprintf(l, sizeof(l), "reason=\"%s\"", refuse_names[i]);
		if (sample(b, "smtpgate_sessions_refused_total", l,
		    m->refused[i]) == -1)
			return -1;
	}
	if (head(b, "smtpgate_sessions_active", "gauge",
	    "Client sessions open now.") == -1 ||
	    sample(b, "smtpgate_sessions_active", "", m->sessions) == -1)
		return -1;
	/* a reload that failed keeps the old configuration: alert on it */
	if (head(b, "smtpgate_reloads_total", "counter",
	    "SIGHUP reloads, by result.") == -1 ||
	    sample(b, "smtpgate_reloads_total", "result=\"ok\"",
	    m->reloads_ok) == -1 ||
	    sample(b, "smtpgate_reloads_total", "result=\"failed\"",
	    m->reloads_failed) == -1 ||
	    head(b, "smtpgate_last_reload_failed", "gauge",
	    "1 when the last reload failed and the previous configuration "
	    "runs.") == -1 ||
	    sample(b, "smtpgate_last_reload_failed", "",
	    (uint64_t)m->last_reload_failed) == -1)
		return -1;
	return 0;
}

/* relayed and refused always; the temporary failures seen */
static int
fmt_tx(const struct metrics *m, struct buf *b)
{
	char	 l[128];
	int	 t, c;

	if (head(b, "smtpgate_transactions_total", "counter",
	    "Transactions ended at the final dot, by result and failure "
	    "class.") == -1)
		return -1;
	for (t = 0; t < MX_TX_MAX; t++)
		for (c = 0; c < MX_CLASS_MAX; c++) {
			if (m->tx[t][c] == 0 && !(t == MX_TX_RELAYED &&
			    c == FAIL_NONE) && !(t == MX_TX_REFUSED &&
			    c == MX_CLASS_UPSTREAM))
				continue;
			(void)snprintf(l, sizeof(l), "result=\"%s\",class=\"%s\"",
			    tx_names[t], class_name(c));
			if (sample(b, "smtpgate_transactions_total", l,
			    m->tx[t][c]) == -1)
				return -1;
		}
	if (head(b, "smtpgate_transaction_seconds", "histogram",
	    "Time from MAIL to the reply to the final dot.") == -1 ||
	    hist(b, "smtpgate_transaction_seconds", "", &m->txtime) == -1)
		return -1;
	if (head(b, "smtpgate_recipients_refused_total", "counter",
	    "Recipients refused, by who refused them.") == -1 ||
	    sample(b, "smtpgate_recipients_refused_total", "by=\"upstream\"",
	    m->rcpt_refused_upstream) == -1 ||
	    sample(b, "smtpgate_recipients_refused_total", "by=\"gateway\"",
	    m->rcpt_refused_gateway) == -1)
		return -1;
	return 0;
}

/* one family over every upstream slot */
static int
fmt_up_family(const struct metrics *m, struct buf *b, const char *name,
    const char *type, const char *help, size_t off)
{
	char	 l[MX_NAME_MAX * 2 + 16], v[MX_NAME_MAX * 2];
	size_t	 i;

	if (head(b, name, type, help) == -1)
		return -1;
	for (i = 0; i < m->nup; i++) {
		if (metrics_label(v, sizeof(v), m->up[i].name) == -1)
			return -1;
		(void)snprintf(l, sizeof(l), "upstream=\"%s\"", v);
		if (sample(b, name, l, *(const uint64_t *)(const void *)
		    ((const char *)&m->up[i] + off)) == -1)
			return -1;
	}
	return 0;
}

static int
fmt_upstreams(const struct metrics *m, struct buf *b)
{
	static const struct {
		const char	*name, *type, *help;
		size_t		 off;
	} fam[] = {
		{ "smtpgate_upstream_messages_total", "counter",
		    "Messages the upstream accepted.",
		    offsetof(struct mx_up, messages) },
		{ "smtpgate_upstream_bytes_total", "counter",
		    "Message octets the upstream accepted.",
		    offsetof(struct mx_up, bytes) },
		{ "smtpgate_upstream_connections_opened_total", "counter",
		    "New upstream connections started.",
		    offsetof(struct mx_up, opened) },
		{ "smtpgate_upstream_connections_reused_total", "counter",
		    "Idle pooled connections used again.",
		    offsetof(struct mx_up, reused) },
		{ "smtpgate_upstream_tls_resumed_total", "counter",
		    "New connections whose TLS session was resumed.",
		    offsetof(struct mx_up, resumed) },
		{ "smtpgate_upstream_probes_ok_total", "counter",
		    "Readiness probes that reached the upstream.",
		    offsetof(struct mx_up, probes_ok) },
		{ "smtpgate_upstream_probes_failed_total", "counter",
		    "Readiness probes that failed.",
		    offsetof(struct mx_up, probes_failed) },
		{ "smtpgate_upstream_idle_connections", "gauge",
		    "Idle connections in the pool now.",
		    offsetof(struct mx_up, idle) },
	};
	char	 l[MX_NAME_MAX * 2 + 16], v[MX_NAME_MAX * 2];
	size_t	 i;

	for (i = 0; i < sizeof(fam) / sizeof(fam[0]); i++)
		if (fmt_up_family(m, b, fam[i].name, fam[i].type, fam[i].help,
		    fam[i].off) == -1)
			return -1;
	if (head(b, "smtpgate_upstream_setup_seconds", "histogram",
	    "Time from connect to ready (TLS, EHLO, AUTH) of new upstream "
	    "connections.") == -1)
		return -1;
	for (i = 0; i < m->nup; i++) {
		if (metrics_label(v, sizeof(v), m->up[i].name) == -1)
			return -1;
		(void)snprintf(l, sizeof(l), "upstream=\"%s\"", v);
		if (hist(b, "smtpgate_upstream_setup_seconds", l,
		    &m->up[i].setup) == -1)
			return -1;
	}
	return 0;
}

static int
fmt_failures(const struct metrics *m, struct buf *b)
{
	char	 l[128];
	int	 c;
	size_t	 i;

	if (head(b, "smtpgate_tls_failures_total", "counter",
	    "TLS failures, by side and class.") == -1)
		return -1;
	for (c = 0; c < FAIL_MAX; c++) {
		if (!metrics_tls_class((enum gw_fail)c))
			continue;
		(void)snprintf(l, sizeof(l), "side=\"upstream\",class=\"%s\"",
		    fail_name((enum gw_fail)c));
		if (sample(b, "smtpgate_tls_failures_total", l,
		    m->tls_up[c]) == -1)
			return -1;
	}
	if (sample(b, "smtpgate_tls_failures_total",
	    "side=\"listener\",class=\"handshake\"", m->tls_listener) == -1 ||
	    sample(b, "smtpgate_tls_failures_total",
	    "side=\"listener\",class=\"timeout\"",
	    m->tls_listener_timeout) == -1)
		return -1;
	if (head(b, "smtpgate_auth_failures_total", "counter",
	    "AUTH failures, by side and class.") == -1)
		return -1;
	for (i = 0; i < MX_AUTH_MAX; i++) {
		(void)snprintf(l, sizeof(l), "side=\"%s\",class=\"%s\"",
		    auth_side[i], auth_names[i]);
		if (sample(b, "smtpgate_auth_failures_total", l,
		    m->auth[i]) == -1)
			return -1;
	}
	if (head(b, "smtpgate_dkim_messages_total", "counter",
	    "Messages a DKIM configuration saw, by result.") == -1)
		return -1;
	for (i = 0; i < MX_DKIM_MAX; i++) {
		(void)snprintf(l, sizeof(l), "result=\"%s\"", dkim_names[i]);
		if (sample(b, "smtpgate_dkim_messages_total", l,
		    m->dkim[i]) == -1)
			return -1;
	}
	return 0;
}

/* fmt_queue - the store-and-forward queue, when there is one */
static int
fmt_queue(const struct metrics *m, struct buf *b)
{
	if (!m->queue)
		return 0;
	if (head(b, "smtpgate_queue_messages", "gauge",
	    "Messages in the queue (queue_dir).") == -1 ||
	    sample(b, "smtpgate_queue_messages", "", m->queue_messages) == -1 ||
	    head(b, "smtpgate_queue_bytes", "gauge",
	    "Octets of the messages in the queue.") == -1 ||
	    sample(b, "smtpgate_queue_bytes", "", m->queue_bytes) == -1 ||
	    head(b, "smtpgate_queue_oldest_age_seconds", "gauge",
	    "Age of the oldest message waiting in the queue (0: empty).") ==
	    -1 || sample(b, "smtpgate_queue_oldest_age_seconds", "",
	    m->queue_oldest_age) == -1)
		return -1;
	return 0;
}

/* metrics_format - the whole exposition */
int
metrics_format(const struct metrics *m, struct buf *out)
{
	if (fmt_sessions(m, out) == -1 || fmt_queue(m, out) == -1 ||
	    fmt_tx(m, out) == -1 ||
	    fmt_upstreams(m, out) == -1 || fmt_failures(m, out) == -1)
		return -1;
	return 0;
}
