/*
 * log - levelled, facility-filtered logging to stderr or syslog.
 *
 * Each call is one event and produces exactly one line: control
 * characters in the formatted text are escaped here, as a last line of
 * defence, so that hostile text a caller forgot to str_vis() cannot
 * forge a second log line.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/logfmt.h"
#include "util/str.h"

/* longest formatted message kept; longer ones end in "..." */
#define LOG_MSG_MAX	4096
/* one JSON line: a whole message with every octet escaped (\u00NN) */
#define LOG_JSON_MAX	(LOG_MSG_MAX * 6 + 512)
/* the socket syslog(3) writes to */
#define LOG_SYSLOG_PATH	"/dev/log"

static int	 log_syslog;			/* 0 stderr, 1 syslog */
static int	 log_json;			/* log_format = json */
static int	 log_level = GW_LOG_INFO;
static unsigned	 log_facilities = LOGF_ALL;

static const struct {
	const char	*name;		/* in log_facilities */
	const char	*label;		/* on trace lines */
	unsigned	 bit;
} log_facility_names[] = {
	{ "protocol",	"debug/protocol",	LOGF_PROTOCOL },
	{ "tls",	"debug/tls",		LOGF_TLS },
	{ "auth",	"debug/auth",		LOGF_AUTH },
	{ "dkim",	"debug/dkim",		LOGF_DKIM },
	{ "proxy",	"debug/proxy",		LOGF_PROXY },
};
#define NFACILITIES \
	(sizeof(log_facility_names) / sizeof(log_facility_names[0]))

static long	 log_pid = -1;			/* getpid(), cached */

/*
 * Lines at notice level and below written while a loop callback runs
 * (log_hold) wait here and go out in one write when it ends: a relayed
 * message logs two or three lines at once.  At most PIPE_BUF, so that a
 * pipe (journald's stdout stream) still takes the write whole.  Warnings
 * and errors flush first and are written at once.
 */
#define LOG_PEND_MAX	4096
static __thread int	 log_held;
static __thread size_t	 log_pendlen;
static __thread char	 log_pend[LOG_PEND_MAX];

static long	log_getpid(void);
static void	log_atfork_child(void);
static void	log_escape(char *, size_t, const char *);
static void	log_emit(int, const char *, const char *);
static void	log_put(int, const char *, const char *);
static void	log_vformat(char *, size_t, const char *, va_list)
		    GW_PRINTF(3, 0);
static void	log_vemit(int, const char *, const char *, va_list)
		    GW_PRINTF(3, 0);
static int	log_word_eq(const char *, size_t, const char *);

/*
 * log_syslog_usable - can a datagram or stream socket reach syslog's
 * socket?  glibc's syslog(3) says nothing when it cannot: without this
 * check a machine (or container) with no syslog daemon loses every line.
 */
int
log_syslog_usable(char *why, size_t len)
{
	struct sockaddr_un	 sun;
	int			 fd, types[] = { SOCK_DGRAM, SOCK_STREAM };
	size_t			 i;
	int			 err = 0;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	(void)gw_strlcpy(sun.sun_path, LOG_SYSLOG_PATH, sizeof(sun.sun_path));
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if ((fd = socket(AF_UNIX, types[i] | SOCK_CLOEXEC, 0)) == -1) {
			err = errno;
			continue;
		}
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			(void)close(fd);
			return 1;
		}
		err = errno;
		(void)close(fd);
	}
	(void)snprintf(why, len, "%s: %s", LOG_SYSLOG_PATH, strerror(err));
	return 0;
}

/* log_setformat - text (0) or one JSON object per line (1) */
void
log_setformat(int json)
{
	log_json = json != 0;
}

/*
 * log_init - choose the target (0 stderr, 1 syslog), level and facilities.
 * Syslog without a reachable socket falls back to stderr, and says so
 * there: lines on stderr are better than none.
 */
void
log_init(int to_syslog, int level, unsigned facilities)
{
	char	 why[256];
	int	 fallback = 0;

	if (log_syslog && !to_syslog)
		closelog();
	if (to_syslog && !log_syslog_usable(why, sizeof(why))) {
		to_syslog = 0;
		fallback = 1;
	}
	log_syslog = to_syslog != 0;
	log_setlevel(level, facilities);
	if (fallback)
		log_warnx("log_target = syslog, but %s: logging to stderr "
		    "instead", why);
	/*
	 * LOG_NDELAY opens the socket now, while /dev/log is still
	 * reachable: after a chroot or privilege drop it may not be.
	 */
	if (log_syslog)
		openlog("smtpgate", LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_setlevel - change level and facilities (reload) */
void
log_setlevel(int level, unsigned facilities)
{
	if (level < GW_LOG_ERROR)
		level = GW_LOG_ERROR;
	if (level > GW_LOG_DEBUG)
		level = GW_LOG_DEBUG;
	log_level = level;
	log_facilities = facilities & LOGF_ALL;
}

/* log_level_parse - "error|warning|info|debug" (any case) */
const char *
log_level_parse(const char *s, int *level)
{
	static const char *const names[] = {
		[GW_LOG_ERROR] = "error",
		[GW_LOG_WARNING] = "warning",
		[GW_LOG_INFO] = "info",
		[GW_LOG_DEBUG] = "debug",
	};
	int	 i;

	for (i = GW_LOG_ERROR; i <= GW_LOG_DEBUG; i++)
		if (str_ieq(s, names[i])) {
			*level = i;
			return NULL;
		}
	return "unknown log level";
}

/* log_word_eq - do the n bytes at w spell word (any case)? */
static int
log_word_eq(const char *w, size_t n, const char *word)
{
	const char	*end;

	if (n != strlen(word))
		return 0;
	end = str_iprefix(w, word);
	return end != NULL && (size_t)(end - w) == n;
}

/* log_facilities_parse - "protocol,tls,auth,dkim,proxy" or "all"/"none" */
const char *
log_facilities_parse(const char *s, unsigned *mask)
{
	const char	*p, *end, *comma;
	unsigned	 m = 0;
	size_t		 i;
	int		 items = 0, none = 0;

	for (p = s;; p = comma + 1) {
		comma = strchr(p, ',');
		end = comma != NULL ? comma : p + strlen(p);
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (p == end)
			return "empty item in log facility list";
		items++;
		if (log_word_eq(p, (size_t)(end - p), "all"))
			m |= LOGF_ALL;
		else if (log_word_eq(p, (size_t)(end - p), "none"))
			none = 1;
		else {
			for (i = 0; i < NFACILITIES; i++)
				if (log_word_eq(p, (size_t)(end - p),
				    log_facility_names[i].name))
					break;
			if (i == NFACILITIES)
				return "unknown log facility";
			m |= log_facility_names[i].bit;
		}
		if (comma == NULL)
			break;
	}
	/* "none,tls" contradicts itself; make the operator pick one */
	if (none && items > 1)
		return "log facility \"none\" must stand alone";
	*mask = m;
	return NULL;
}

/* log_would - would a message at this level be written? */
int
log_would(int level)
{
	return level <= log_level;
}

/* log_trace_enabled - debug level on and facility selected */
int
log_trace_enabled(unsigned facility)
{
	return log_level >= GW_LOG_DEBUG && (log_facilities & facility) != 0;
}

/*
 * log_escape - copy src to dst with control characters and non-ASCII
 * bytes as \xNN.  Unlike str_vis() a backslash stays as it is: callers
 * already str_vis() untrusted text, and escaping it twice would turn
 * their "\x0d" into an unreadable "\\x0d".
 */
static void
log_escape(char *dst, size_t dstlen, const char *src)
{
	static const char	 hex[] = "0123456789abcdef";
	size_t			 o = 0;
	unsigned char		 c;

	for (; *src != '\0'; src++) {
		c = (unsigned char)*src;
		if (c >= 0x20 && c < 0x7f) {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)c;
		} else {
			if (o + 4 >= dstlen)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 0xf];
		}
	}
	dst[o] = '\0';
}

/* log_atfork_child - a forked child reads its own id again */
static void
log_atfork_child(void)
{
	log_pid = -1;
	log_pendlen = 0;	/* the parent writes these */
	log_held = 0;
}

void
log_flush(void)
{
	if (log_pendlen == 0)
		return;
	(void)fwrite(log_pend, 1, log_pendlen, stderr);
	(void)fflush(stderr);
	log_pendlen = 0;
}

/* log_out - one finished line (with its newline) to stderr */
static void
log_out(int pri, const char *line, size_t n)
{
	/* at debug level lines are not held: a crash would take them along */
	if (log_held > 0 && pri >= LOG_NOTICE && n <= LOG_PEND_MAX &&
	    log_level < GW_LOG_DEBUG) {
		if (log_pendlen + n > LOG_PEND_MAX)
			log_flush();
		memcpy(log_pend + log_pendlen, line, n);
		log_pendlen += n;
		return;
	}
	log_flush();
	/* one write per event, so concurrent writers do not interleave */
	(void)fwrite(line, 1, n, stderr);
	(void)fflush(stderr);
}

void
log_hold(void)
{
	log_held++;
}

void
log_release(void)
{
	if (log_held > 0 && --log_held == 0)
		log_flush();
}

/*
 * log_getpid - the process id, read once and again after a fork (a
 * system call per line was a tenth of the gateway's calls per message)
 */
static long
log_getpid(void)
{
	static int	registered;
	long		pid;

	if (log_pid != -1)
		return log_pid;
	pid = (long)getpid();
	if (!registered)
		registered = pthread_atfork(NULL, NULL, log_atfork_child) == 0;
	/* cached only with the handler: a child must not show our id */
	if (registered)
		log_pid = pid;
	return pid;
}

/*
 * log_stamp - the UTC time stamp of a line, formatted once a second
 * (a busy gateway writes a few lines per message), and the process id
 */
static const char *
log_stamp(long *pid)
{
	static char	 ts[32] = "-";
	static time_t	 last = (time_t)-1;
	struct tm	 tm;
	time_t		 now;

	now = time(NULL);
	if (now != last) {
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			(void)gw_strlcpy(ts, "-", sizeof(ts));
		last = now;
	}
	*pid = log_getpid();
	return ts;
}

/* log_emit - write one finished event to the target */
static void
log_emit(int pri, const char *label, const char *msg)
{
	char		 line[LOG_MSG_MAX * 4 + 128];
	const char	*ts;
	long		 pid;
	int		 n;

	if (log_syslog) {
		syslog(pri, "%s: %s", label, msg);
		return;
	}
	ts = log_stamp(&pid);
	n = snprintf(line, sizeof(line), "%s smtpgate[%ld]: %s: %s\n", ts,
	    pid, label, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		/* cannot happen with the sizes above; keep the newline */
		n = (int)sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	log_out(pri, line, (size_t)n);
}

/* log_line - one finished line (JSON) to the target */
static void
log_line(int pri, char *line, size_t n, size_t len)
{
	if (log_syslog) {
		/* the JSON object is the message */
		syslog(pri, "%s", line);
		return;
	}
	/* logfmt leaves room: its buffers are one larger than they say */
	if (n + 1 < len) {
		line[n++] = '\n';
		line[n] = '\0';
	}
	log_out(pri, line, n);
}

/*
 * log_head - the time (milliseconds, UTC), pid, level and facility of a
 * JSON line; label is "info", "debug/protocol" ...
 */
static void
log_head(struct logfmt_head *h, char *ts, size_t tslen, char *lv,
    size_t lvlen, const char *label)
{
	struct timespec	 now;
	struct tm	 tm;
	const char	*slash;
	char		 sec[32];

	(void)clock_gettime(CLOCK_REALTIME, &now);
	if (gmtime_r(&now.tv_sec, &tm) == NULL ||
	    strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		(void)gw_strlcpy(sec, "-", sizeof(sec));
	(void)snprintf(ts, tslen, "%s.%03ldZ", sec, now.tv_nsec / 1000000);
	(void)gw_strlcpy(lv, label, lvlen);
	h->facility = NULL;
	if ((slash = strchr(label, '/')) != NULL &&
	    (size_t)(slash - label) < lvlen) {
		lv[slash - label] = '\0';
		h->facility = slash + 1;
	}
	h->time = ts;
	h->level = lv;
	h->pid = log_getpid();
}

/* log_put - escape and emit one formatted event; errno is preserved */
static void
log_put(int pri, const char *label, const char *msg)
{
	static char		 line[LOG_JSON_MAX + 2];
	char			 esc[LOG_MSG_MAX * 4], ts[48], lv[16];
	struct logfmt_head	 h;
	size_t			 n;
	int			 saved = errno;

	if (log_json) {
		/* the JSON escaper handles any octet; no \x escaping first */
		log_head(&h, ts, sizeof(ts), lv, sizeof(lv), label);
		n = logfmt_json_msg(line, LOG_JSON_MAX, &h, msg, strlen(msg));
		log_line(pri, line, n, sizeof(line));
		errno = saved;
		return;
	}
	log_escape(esc, sizeof(esc), msg);
	log_emit(pri, label, esc);
	errno = saved;
}

/*
 * log_kv - one event with typed fields: "ID event key=value ..." in
 * the text form, one JSON object in the other.  Values are raw: each
 * form escapes them its own way.
 */
void
log_kv(int level, uint64_t id, const char *event, const struct log_field *f,
    size_t n)
{
	static const struct {
		int		 pri;
		const char	*label;
	} lv[] = {
		[GW_LOG_ERROR] = { LOG_ERR, "error" },
		[GW_LOG_WARNING] = { LOG_WARNING, "warning" },
		[GW_LOG_INFO] = { LOG_INFO, "info" },
		[GW_LOG_DEBUG] = { LOG_DEBUG, "debug" },
	};
	static char		 line[LOG_JSON_MAX + 2];
	char			 msg[LOG_MSG_MAX], ts[48], lvs[16];
	struct logfmt_head	 h;
	size_t			 len;
	int			 saved = errno;

	if (level < GW_LOG_ERROR || level > GW_LOG_DEBUG)
		level = GW_LOG_ERROR;
	if (!log_would(level))
		return;
	if (log_json) {
		log_head(&h, ts, sizeof(ts), lvs, sizeof(lvs), lv[level].label);
		len = logfmt_json(line, LOG_JSON_MAX, &h, id, event, f, n);
		log_line(lv[level].pri, line, len, sizeof(line));
	} else {
		(void)logfmt_text(msg, sizeof(msg), id, event, f, n);
		log_put(lv[level].pri, lv[level].label, msg);
	}
	errno = saved;
}

/* log_vformat - vsnprintf that marks truncation instead of hiding it */
static void
log_vformat(char *msg, size_t len, const char *fmt, va_list ap)
{
	int	 n;

	n = vsnprintf(msg, len, fmt, ap);
	if (n < 0)
		(void)gw_strlcpy(msg, "(log format error)", len);
	else if ((size_t)n >= len)
		memcpy(msg + len - 4, "...", 4);
}

/* log_vemit - format and emit one event */
static void
log_vemit(int pri, const char *label, const char *fmt, va_list ap)
{
	char	 msg[LOG_MSG_MAX];
	int	 saved = errno;

	log_vformat(msg, sizeof(msg), fmt, ap);
	log_put(pri, label, msg);
	errno = saved;
}

/* log_error - an error the daemon survives */
void
log_error(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_would(GW_LOG_ERROR))
		return;
	va_start(ap, fmt);
	log_vemit(LOG_ERR, "error", fmt, ap);
	va_end(ap);
}

/* log_warnx - something unexpected, handled */
void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_would(GW_LOG_WARNING))
		return;
	va_start(ap, fmt);
	log_vemit(LOG_WARNING, "warning", fmt, ap);
	va_end(ap);
}

/* log_info - normal events (sessions, transactions) */
void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_would(GW_LOG_INFO))
		return;
	va_start(ap, fmt);
	log_vemit(LOG_INFO, "info", fmt, ap);
	va_end(ap);
}

/* log_debug_ - detail for debugging, any facility (log.h: log_debug) */
void
log_debug_(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_would(GW_LOG_DEBUG))
		return;
	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, "debug", fmt, ap);
	va_end(ap);
}

/* log_trace_ - debug-level, only if the facility is selected (log_trace) */
void
log_trace_(unsigned facility, const char *fmt, ...)
{
	const char	*label = "debug";
	va_list		 ap;
	size_t		 i;

	if (!log_trace_enabled(facility))
		return;
	/* label the trace with its facility so that one can grep for it */
	for (i = 0; i < NFACILITIES; i++)
		if (facility & log_facility_names[i].bit) {
			label = log_facility_names[i].label;
			break;
		}
	va_start(ap, fmt);
	log_vemit(LOG_DEBUG, label, fmt, ap);
	va_end(ap);
}

/* fatal - log with strerror(errno) and exit: environment errors */
void
fatal(const char *fmt, ...)
{
	char	 msg[LOG_MSG_MAX], full[LOG_MSG_MAX + 128];
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	(void)snprintf(full, sizeof(full), "%s: %s", msg, strerror(saved));
	log_put(LOG_CRIT, "fatal", full);
	exit(1);
}

/* fatalx - log and exit: a broken invariant, i.e. a bug */
void
fatalx(const char *fmt, ...)
{
	char	 msg[LOG_MSG_MAX];
	va_list	 ap;

	va_start(ap, fmt);
	log_vformat(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_put(LOG_CRIT, "fatal", msg);
	exit(1);
}
