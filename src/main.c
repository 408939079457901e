/*
 * main.c - command line, start-up order, privileges, signals, the loop.
 *
 * Start-up order matters: the configuration is read and checked, TLS
 * contexts are built and sockets are bound while we may still be root;
 * only then are privileges dropped and the loop started.  SIGHUP builds a
 * complete new configuration and TLS state beside the old one and swaps
 * only if every step worked.  SIGTERM stops accepting and lets sessions
 * finish their transactions for a bounded time.
 */
#include <sys/types.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/dns.h>

#include "conf/conf.h"
#include "conf/conf_files.h"
#include "conf/conf_print.h"
#include "dkim/dkim.h"
#include "net/listener.h"
#include "obs/httpd.h"
#include "obs/metrics.h"
#include "queue/qcli.h"
#include "relay/relay.h"
#include "relay/signers.h"
#include "smtp/smtp_probe.h"
#include "tls/tls.h"
#include "util/errfirst.h"
#include "util/log.h"
#include "util/sdnotify.h"
#include "util/str.h"

/* a TXT record's character-strings hold at most 255 bytes (RFC 1035) */
#define TXT_CHUNK		255

/* how long SIGTERM waits for transactions in flight */
#define DRAIN_SECONDS		30
#define DRAIN_POLL_MS		100

static struct event_base	*base;
static struct evdns_base	*dns;
static struct relay_env		*env;
static struct listener_set	*listeners;
static const char		*conf_path;
static struct event		*drain_ev;
static struct timeval		 drain_deadline;
static int			 draining;
static struct httpd		*httpd;		/* http_listen, or NULL */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: smtpgate [-n | -t] -c FILE\n"
	    "       smtpgate probe -c FILE UPSTREAM\n"
	    "       smtpgate queue -c FILE list | show ID | flush [ID] |\n"
	    "                delete ID | hold ID | release ID\n"
	    "       smtpgate dkim-keygen --algorithm rsa|ed25519 [--bits N]\n"
	    "                --domain D --selector S --out FILE\n"
	    "       smtpgate dkim-record FILE [--domain D --selector S]\n"
	    "       smtpgate --version | --help\n"
	    "\n"
	    "  -c FILE    configuration file (INI)\n"
	    "  -t         check the configuration and exit: 0 if good, 1 with\n"
	    "             every error as FILE:LINE: key: what is wrong\n"
	    "  -n         print the effective configuration: every key with\n"
	    "             its value, built-in defaults marked \"; default\",\n"
	    "             secrets as their file names only\n"
	    "  --version  print the version\n"
	    "  --help     this text\n"
	    "  probe      connect to [upstream UPSTREAM] as the relay would,\n"
	    "             show the dialogue, TLS, certificates and every check;\n"
	    "             exit 0 only if a relay would go ahead (no mail sent)\n"
	    "  queue      the running gateway's queue (queue_dir/control):\n"
	    "             list, show, flush, delete, hold, release a message\n"
	    "  dkim-keygen  write a new DKIM key (mode 0600, never overwrites;\n"
	    "             RSA bits 1024..4096, default 2048) and print the DNS\n"
	    "             TXT record to publish for it\n"
	    "  dkim-record  print the DNS TXT record of an existing key: a\n"
	    "             zone-file line with --domain and --selector, else\n"
	    "             the record's text alone\n"
	    "\n"
	    "smtpgate accepts SMTP from legacy programs and relays every\n"
	    "transaction to the configured upstream over verified TLS.\n"
	    "Signals: TERM drains and exits, HUP reloads the configuration.\n");
}

static void
conf_err_stderr(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

static void
conf_err_log(void *arg, const char *msg)
{
	log_error("reload: %s", msg);
}

static void
conf_err_start(void *arg, const char *msg)
{
	log_error("%s", msg);
}

static void
session_done(void *arg, const struct sockaddr *peer)
{
	if (listeners != NULL)
		listeners_session_done(listeners, peer);
}

static void
on_accept(void *arg, const struct conf_listener *l, int fd,
    const struct sockaddr *peer, socklen_t peerlen,
    const struct sockaddr *proxy)
{
	if (relay_session_start(env, l, fd, peer, peerlen, proxy,
	    session_done, NULL) == -1) {
		log_warnx("session start failed: out of memory");
		listeners_session_done(listeners, peer);
	}
}

/* /metrics: the gauges are read from the running snapshot */
static void
http_refresh(void *arg)
{
	relay_env_gauges(env);
}

/* /readyz: listeners open (not draining), every upstream reached */
static int
http_ready(void *arg, char *why, size_t len)
{
	if (draining || listeners == NULL) {
		(void)snprintf(why, len, "draining: no new sessions");
		return 0;
	}
	return relay_env_ready(env, why, len);
}

static const struct httpd_cb http_cb = { http_refresh, http_ready, NULL };

/*
 * reload_http - http_listen after SIGHUP into *nh: the same address
 * keeps its socket (and its connections); a changed one is bound now,
 * as the running user, beside the old, so that a failure (a port under
 * 1024 after the privilege drop, an address in use) refuses the reload
 * and keeps everything running as it was.
 */
static int
reload_http(const struct gw_conf *nconf, struct httpd **nh, char *err,
    size_t errlen)
{
	*nh = NULL;
	if (nconf->nhttp_listen == 0)
		return 0;
	if (httpd_bound(httpd, &nconf->http_listen[0])) {
		*nh = httpd;
		return 0;
	}
	*nh = httpd_new(base, &nconf->http_listen[0], &http_cb, err, errlen);
	return *nh == NULL ? -1 : 0;
}

/*
 * reload - build everything new beside the old, swap only on success.
 * On failure, why holds the first error (for the service manager).
 */
static int
reload(char *why, size_t wlen)
{
	struct gw_conf		*nconf = NULL;
	struct relay_env	*nenv;
	struct errfirst		 ef;
	struct httpd		*nh;
	char			 err[512], first[512];
	int			 nerr;

	log_info("reload: reading %s", conf_path);
	/* every error logged, the first kept */
	errfirst_init(&ef, first, sizeof(first), conf_err_log, NULL, 1);
	if ((nerr = conf_load(conf_path, &nconf, errfirst_cb, &ef)) == 0 &&
	    (nerr = conf_files_check(nconf, conf_self_name(err, sizeof(err)),
	    errfirst_cb, &ef)) != 0)
		conf_unref(nconf);
	if (nerr != 0) {
		log_error("reload: %d error(s); keeping the running configuration",
		    nerr);
		(void)snprintf(why, wlen, "%s (%d error(s))", first, nerr);
		return -1;
	}
	if (relay_queue_check(nconf, err, sizeof(err)) == -1) {
		log_error("reload: %s; keeping the running configuration", err);
		(void)snprintf(why, wlen, "%s", err);
		conf_unref(nconf);
		return -1;
	}
	nenv = relay_env_new(base, dns, nconf, err, sizeof(err));
	conf_unref(nconf);	/* the env holds its own reference */
	if (nenv == NULL) {
		log_error("reload: %s; keeping the running configuration", err);
		(void)snprintf(why, wlen, "%s", err);
		return -1;
	}
	if (reload_http(relay_env_conf(nenv), &nh, err, sizeof(err)) == -1) {
		log_error("reload: %s; keeping the running configuration", err);
		(void)snprintf(why, wlen, "%s", err);
		relay_env_unref(nenv);
		return -1;
	}
	if (listeners_update(listeners, relay_env_conf(nenv), err,
	    sizeof(err)) == -1) {
		log_error("reload: %s; keeping the running configuration", err);
		(void)snprintf(why, wlen, "%s", err);
		if (nh != httpd)
			httpd_free(nh);
		relay_env_unref(nenv);
		return -1;
	}
	if (nh != httpd) {
		if (httpd != NULL)
			log_info("http: stopped serving the old http_listen");
		httpd_free(httpd);
		httpd = nh;
	}
	/* the old snapshot's idle connections go; none is handed out again */
	relay_env_retire(env);
	relay_env_unref(env);
	env = nenv;
	relay_queue_use(env);
	/* after SIGTERM nothing new may open: the drain waits for it all */
	if (draining)
		relay_env_shutdown(env);
	else
		relay_env_warm(env);
	log_setformat(relay_env_conf(env)->log_json);
	log_setlevel(relay_env_conf(env)->log_level,
	    relay_env_conf(env)->log_facilities);
	log_info("reload: new configuration in use for new sessions");
	return 0;
}

/* notify - tell the service manager (sdnotify.h); failures only logged */
static void
notify(const char *fields, const char *status)
{
	if (sdnotify_send(fields, status) == -1)
		log_warnx("%s: cannot notify the service manager: %s",
		    SDNOTIFY_ENV, strerror(errno));
}

/*
 * reload_notified - SIGHUP: RELOADING=1, the reload, then READY=1 with a
 * STATUS saying how it went.  A failed reload keeps the old configuration
 * serving, so the service stays up: the STATUS line ("systemctl status")
 * is how the supervisor sees the failure, besides the log.
 */
static void
reload_notified(void)
{
	/* room for the whole reason; sdnotify cuts the STATUS to its size */
	char	 why[600], status[768];
	int	 ok;

	/* after STOPPING=1 the manager waits for the exit, not a READY=1 */
	if (draining) {
		metrics_reload(reload(why, sizeof(why)) == 0);
		return;
	}
	if (sdnotify_reloading() == -1)
		log_warnx("%s: cannot notify the service manager: %s",
		    SDNOTIFY_ENV, strerror(errno));
	ok = reload(why, sizeof(why)) == 0;
	metrics_reload(ok);
	if (ok)
		(void)snprintf(status, sizeof(status), "ready; configuration "
		    "reloaded");
	else
		(void)snprintf(status, sizeof(status), "reload failed: %s; "
		    "running the previous configuration", why);
	notify("READY=1", status);
}

/*
 * print_conf - "-n": the effective configuration on stdout (conf_print.h).
 * Consumes the reference on conf.
 */
static int
print_conf(struct gw_conf *conf)
{
	char	 why[256];
	int	 r = conf_print(conf, stdout, why, sizeof(why));

	if (r == -1)
		fprintf(stderr, "%s: cannot print: %s\n", conf_path, why);
	conf_unref(conf);
	return r == -1 ? 1 : 0;
}

static void
drain_check(evutil_socket_t fd, short what, void *arg)
{
	struct timeval	now, tv = { 0, DRAIN_POLL_MS * 1000 };

	if (relay_session_count() == 0) {
		event_base_loopbreak(base);
		return;
	}
	(void)gettimeofday(&now, NULL);
	if (timercmp(&now, &drain_deadline, >)) {
		log_warnx("drain: %u session(s) still open after %d s; exiting",
		    relay_session_count(), DRAIN_SECONDS);
		event_base_loopbreak(base);
		return;
	}
	event_add(drain_ev, &tv);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct timeval	tv = { 0, 0 };

	switch (sig) {
	case SIGHUP:
		reload_notified();
		break;
	case SIGTERM:
	case SIGINT:
		if (draining) {
			log_info("second signal: exiting now");
			event_base_loopbreak(base);
			return;
		}
		draining = 1;
		notify("STOPPING=1", "stopping: draining sessions");
		log_info("signal %d: no new sessions; draining %u session(s)",
		    (int)sig, relay_session_count());
		listeners_stop(listeners);
		relay_drain_all();
		relay_queue_drain();
		/* idle upstream connections say QUIT; in use ones when back */
		relay_env_shutdown(env);
		(void)gettimeofday(&drain_deadline, NULL);
		drain_deadline.tv_sec += DRAIN_SECONDS;
		event_add(drain_ev, &tv);
		break;
	}
}

/*
 * drop_privileges - become conf->user after binding, then make sure that
 * user can use every file and the command the configuration names: they
 * are read again at each AUTH and on SIGHUP.  Refused here rather than
 * found as 451 to every message.
 */
static void
drop_privileges(const struct gw_conf *conf)
{
	FILE	*fp;
	char	 why[512], me[64];
	int	 nerr;

	if (geteuid() != 0) {
		if (conf->user[0] != '\0')
			log_info("not root: ignoring user=%s", conf->user);
	} else if (conf->user[0] == '\0')
		log_warnx("running as root: set user in [gateway] to drop "
		    "privileges after binding");
	else if (conf_drop_privileges(conf->user, why, sizeof(why)) == -1)
		fatalx("%s", why);
	else
		log_info("running as user=%s", conf->user);
	(void)conf_self_name(me, sizeof(me));
	if ((nerr = conf_files_check(conf, me, conf_err_start, NULL)) != 0)
		fatalx("%d file(s) or command(s) cannot be used by user %s; "
		    "not starting", nerr, me);
	/* the file itself: only SIGHUP needs it again, so a warning */
	if ((fp = conf_file_open(conf_path, why, sizeof(why))) == NULL)
		log_warnx("%s: %s: SIGHUP will not be able to reload it as "
		    "user %s", conf_path, why, me);
	else
		(void)fclose(fp);
}

/*
 * notify_open - take $NOTIFY_SOCKET at start, before anything can run a
 * child that would inherit it
 */
static void
notify_open(void)
{
	char	 why[256];

	if (sdnotify_open(why, sizeof(why)) == -1)
		log_warnx("%s; the service manager will not hear from us", why);
	else if (sdnotify_enabled())
		log_info("notifying the service manager (%s)", SDNOTIFY_ENV);
}

/* notify_ready - READY=1 once the listeners accept, as their user */
static void
notify_ready(const struct gw_conf *conf)
{
	char	 status[128];

	(void)snprintf(status, sizeof(status), "ready: %zu listener(s), %zu "
	    "upstream(s)", conf->nlisteners, conf->nupstreams);
	notify("READY=1", status);
}

/*
 * probe_main - "smtpgate probe -c FILE UPSTREAM": one upstream session
 * with the relay's own client and a probe-mode TLS context, on stdout.
 */
static int
probe_main(int argc, char *argv[])
{
	const struct conf_upstream	*up;
	struct gw_conf			*conf = NULL;
	struct event_base		*pbase;
	struct evdns_base		*pdns;
	struct tls_client_ctx		*tc = NULL;
	const char			*path = NULL, *name = NULL;
	char				 err[512];
	int				 i, nerr, rc;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (name == NULL && argv[i][0] != '-')
			name = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (path == NULL || name == NULL) {
		usage(stderr);
		return 2;
	}
	/* warnings (verify_chain = no) and errors on stderr, no info noise */
	log_init(0, GW_LOG_WARNING, LOGF_ALL);
	if ((nerr = conf_load(path, &conf, conf_err_stderr, NULL)) != 0) {
		fprintf(stderr, "%s: %d error(s)\n", path, nerr);
		return 1;
	}
	if ((up = conf_find_upstream(conf, name)) == NULL) {
		fprintf(stderr, "%s: no [upstream %s] section\n", path, name);
		conf_unref(conf);
		return 1;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	tls_init();
	if ((pbase = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	pdns = evdns_base_new(pbase, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (pdns == NULL && (pdns = evdns_base_new(pbase, 0)) == NULL)
		fatalx("evdns_base_new failed");
	if (up->tls != TLS_NONE) {
		if ((tc = tls_upstream_ctx_new(up, err, sizeof(err))) == NULL) {
			printf("verdict        REFUSED (internal): upstream %s: "
			    "%s\n", name, err);
			rc = 1;
			goto done;
		}
		tls_client_ctx_set_probe(tc);
	}
	rc = smtp_probe(pbase, pdns, up, up->helo_name, tc, stdout);
done:
	(void)fflush(stdout);
	tls_client_ctx_free(tc);
	evdns_base_free(pdns, 0);
	event_base_free(pbase);
	conf_unref(conf);
	tls_cleanup();
	return rc;
}

/* a domain or selector as it goes into a zone file line */
static int
dns_name_ok(const char *s)
{
	size_t	 len = strlen(s);

	return len > 0 && len < 254 && strspn(s,
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
	    == len && s[0] != '.' && s[len - 1] != '.';
}

/*
 * print_record - the TXT record of key: a zone-file line when domain and
 * selector are known, split into <= 255-byte strings; else the value.
 */
static int
print_record(const char *path, const char *domain, const char *selector)
{
	struct dkim_key	*key = NULL;
	char		 rec[DKIM_RECORD_MAX], err[512];
	int		 weak = 0, len, off;

	if (dkim_key_load(path, &key, &weak, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s: %s\n", path, err);
		return 1;
	}
	if (weak)
		fprintf(stderr, "%s: warning: RSA key of %u bits; use 2048 or "
		    "more\n", path, dkim_key_bits(key));
	len = dkim_key_record(key, rec, sizeof(rec));
	dkim_key_free(key);
	if (len < 0 || (size_t)len >= sizeof(rec)) {
		fprintf(stderr, "%s: cannot make the DNS record\n", path);
		return 1;
	}
	if (domain == NULL) {
		printf("%s\n", rec);
		return 0;
	}
	printf("%s._domainkey.%s. IN TXT (", selector, domain);
	for (off = 0; off < len; off += TXT_CHUNK)
		printf("%s\"%.*s\"", off == 0 ? " " : "\n\t",
		    len - off > TXT_CHUNK ? TXT_CHUNK : len - off, rec + off);
	printf(" )\n");
	return 0;
}

/*
 * dkim_main - "smtpgate dkim-keygen ..." and "smtpgate dkim-record ...";
 * argv[1] says which.
 */
static int
dkim_main(int argc, char *argv[])
{
	const char	*alg = NULL, *domain = NULL, *selector = NULL;
	const char	*out = NULL, *bits_s = NULL, *file = NULL, *e;
	int		 keygen = strcmp(argv[1], "dkim-keygen") == 0, i;
	long long	 bits = 0;
	char		 err[512];

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--algorithm") == 0 && i + 1 < argc)
			alg = argv[++i];
		else if (strcmp(argv[i], "--bits") == 0 && i + 1 < argc)
			bits_s = argv[++i];
		else if (strcmp(argv[i], "--domain") == 0 && i + 1 < argc)
			domain = argv[++i];
		else if (strcmp(argv[i], "--selector") == 0 && i + 1 < argc)
			selector = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (!keygen && file == NULL && argv[i][0] != '-')
			file = argv[i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if ((domain == NULL) != (selector == NULL) ||
	    (keygen && (alg == NULL || domain == NULL || out == NULL ||
	    file != NULL)) || (!keygen && (file == NULL || alg != NULL ||
	    out != NULL || bits_s != NULL))) {
		usage(stderr);
		return 2;
	}
	if (domain != NULL && (!dns_name_ok(domain) || !dns_name_ok(selector))) {
		fprintf(stderr, "smtpgate: --domain and --selector must be DNS "
		    "names\n");
		return 2;
	}
	if (!keygen)
		return print_record(file, domain, selector);
	if (strcmp(alg, "rsa") != 0 && strcmp(alg, "ed25519") != 0) {
		fprintf(stderr, "smtpgate: --algorithm must be rsa or ed25519\n");
		return 2;
	}
	if (bits_s != NULL) {
		if (strcmp(alg, "rsa") != 0) {
			fprintf(stderr, "smtpgate: --bits is for rsa only\n");
			return 2;
		}
		/* under 1024 no verifier accepts; over 4096 DNS gets awkward */
		if ((e = str_tonum(bits_s, 1024, 4096, &bits)) != NULL) {
			fprintf(stderr, "smtpgate: --bits %s: %s (1024..4096)\n",
			    bits_s, e);
			return 2;
		}
	}
	if (dkim_keygen(strcmp(alg, "rsa") == 0 ? DKIM_RSA_SHA256 :
	    DKIM_ED25519_SHA256, (unsigned)bits, out, err, sizeof(err)) == -1) {
		fprintf(stderr, "smtpgate: %s\n", err);
		return 1;
	}
	fprintf(stderr, "smtpgate: wrote %s (mode 0600); publish this record:\n",
	    out);
	return print_record(out, domain, selector);
}

/*
 * parse_args - the gateway's own options: -1 to go on, else the exit
 * status (--version, --help, a usage error)
 */
static int
parse_args(int argc, char *argv[], int *check_only, int *print_only)
{
	int	i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--version") == 0 ||
		    strcmp(argv[i], "-V") == 0) {
			/* features a benchmark or a test may look for */
			printf("smtpgate %s\nfeatures: tls-resume upstream-pool\n",
			    GW_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-t") == 0)
			*check_only = 1;
		else if (strcmp(argv[i], "-n") == 0)
			*print_only = 1;
		else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_path = argv[++i];
		else {
			usage(stderr);
			return 2;
		}
	}
	if (conf_path == NULL || (*check_only && *print_only)) {
		usage(stderr);
		return 2;
	}
	return -1;
}

/*
 * check_conf - -t: what start-up would load beyond the file (DKIM keys,
 * users_file, the files as the [gateway] user); the exit status.
 * Consumes the reference on conf.
 */
static int
check_conf(struct gw_conf *conf)
{
	struct signers	*set = NULL;
	char		 err[512];
	int		 nerr;

	/* -t finds what it finds, and reports it all */
	nerr = signers_load(conf, &set, conf_err_stderr, conf_err_stderr,
	    NULL);
	signers_free(set);
	nerr += relay_check_conf(conf, conf_err_stderr, NULL);
	/* as start-up after its privilege drop: as [gateway] user */
	nerr += conf_files_check_as(conf, conf_err_stderr, NULL);
	/* not an error: start-up falls back to stderr (log_init) */
	if (conf->log_syslog && !log_syslog_usable(err, sizeof(err)))
		fprintf(stderr, "%s: warning: log_target = syslog, but "
		    "%s: smtpgate would log to stderr\n", conf_path, err);
	conf_unref(conf);
	if (nerr != 0) {
		fprintf(stderr, "%s: %d error(s)\n", conf_path, nerr);
		return 1;
	}
	fprintf(stderr, "%s: configuration OK\n", conf_path);
	return 0;
}

/*
 * run - the gateway: started, served until a stop, torn down.  Consumes
 * the reference on conf.
 */
static int
run(struct gw_conf *conf)
{
	struct event	*sig_hup, *sig_term, *sig_int;
	char		 err[512];

	log_setformat(conf->log_json);
	log_init(conf->log_syslog, conf->log_level, conf->log_facilities);
	log_info("smtpgate %s starting, configuration %s", GW_VERSION, conf_path);
	notify_open();

	/* a peer reset during a write must not kill the gateway */
	(void)signal(SIGPIPE, SIG_IGN);
	/*
	 * nor a file size limit: the loop's own writes (a log file, a spool
	 * or a bounce on disk) fail with EFBIG, as the queue workers' do
	 */
	(void)signal(SIGXFSZ, SIG_IGN);
	tls_init();
	log_info("tls: default cipher order %s", tls_preference());
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
	if (dns == NULL && (dns = evdns_base_new(base, 0)) == NULL)
		fatalx("evdns_base_new failed");

	if ((env = relay_env_new(base, dns, conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	conf_unref(conf);
	conf = relay_env_conf(env);
	if ((listeners = listeners_open(conf, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	/* bound like the listeners, before the privilege drop */
	if (conf->nhttp_listen > 0 && (httpd = httpd_new(base,
	    &conf->http_listen[0], &http_cb, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	drop_privileges(conf);

	if (listeners_start(listeners, base, on_accept, NULL) == -1)
		fatalx("cannot start listeners");
	sig_hup = evsignal_new(base, SIGHUP, on_signal, NULL);
	sig_term = evsignal_new(base, SIGTERM, on_signal, NULL);
	sig_int = evsignal_new(base, SIGINT, on_signal, NULL);
	drain_ev = evtimer_new(base, drain_check, NULL);
	if (sig_hup == NULL || sig_term == NULL || sig_int == NULL ||
	    drain_ev == NULL || event_add(sig_hup, NULL) == -1 ||
	    event_add(sig_term, NULL) == -1 || event_add(sig_int, NULL) == -1)
		fatalx("cannot set up signal events");
	if (relay_queue_start(env, err, sizeof(err)) == -1)
		fatalx("%s", err);
	relay_env_warm(env);
	log_info("ready");
	notify_ready(conf);

	(void)event_base_dispatch(base);

	log_info("exiting");
	httpd_free(httpd);
	httpd = NULL;
	listeners_free(listeners);
	listeners = NULL;
	relay_queue_stop();
	event_free(sig_hup);
	event_free(sig_term);
	event_free(sig_int);
	event_free(drain_ev);
	relay_env_unref(env);
	evdns_base_free(dns, 0);
	event_base_free(base);
	tls_cleanup();
	sdnotify_close();
	return 0;
}

int
main(int argc, char *argv[])
{
	struct gw_conf	*conf = NULL;
	int		 check_only = 0, print_only = 0, nerr, r;

	/*
	 * SIGCHLD ignored by whoever started us survives exec, and then the
	 * kernel reaps our children itself: token_command's exit status
	 * (and the -t check's) would be lost, and every AUTH fail.
	 */
	(void)signal(SIGCHLD, SIG_DFL);
	if (argc > 1 && strcmp(argv[1], "probe") == 0)
		return probe_main(argc, argv);
	if (argc > 1 && strcmp(argv[1], "queue") == 0)
		return qcli_main(argc, argv);
	if (argc > 1 && (strcmp(argv[1], "dkim-keygen") == 0 ||
	    strcmp(argv[1], "dkim-record") == 0))
		return dkim_main(argc, argv);
	if ((r = parse_args(argc, argv, &check_only, &print_only)) != -1)
		return r;

	/*
	 * The file's warnings are logged as it loads, before log_format is
	 * known: a start (not -t) reads it quietly first, then again in the
	 * format it names, so that a JSON log holds no text line.
	 */
	log_init(0, check_only ? GW_LOG_INFO : GW_LOG_ERROR, LOGF_ALL);
	if ((nerr = conf_load(conf_path, &conf, conf_err_stderr, NULL)) == 0 &&
	    !check_only) {
		log_setformat(conf->log_json);
		log_setlevel(GW_LOG_INFO, LOGF_ALL);
		conf_unref(conf);
		conf = NULL;
		nerr = conf_load(conf_path, &conf, conf_err_stderr, NULL);
	}
	if (nerr != 0) {
		fprintf(stderr, "%s: %d error(s)\n", conf_path, nerr);
		return 1;
	}
	if (print_only)
		return print_conf(conf);
	if (check_only)
		return check_conf(conf);
	return run(conf);
}
