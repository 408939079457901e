/*
 * log - levelled, facility-filtered logging to stderr or syslog.
 *
 * Each call is one event and produces exactly one line: control
 * characters in the formatted text are escaped here, as a last line of
 * defence, so that hostile text a caller forgot to str_vis() cannot
 * forge a second log line.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "util/str.h"

/* longest formatted message kept; longer ones end in "..." */
#define LOG_MSG_MAX	4096

static int	 log_syslog;			/* 0 stderr, 1 syslog */
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

static void	log_escape(char *, size_t, const char *);
static void	log_emit(int, const char *, const char *);
static void	log_put(int, const char *, const char *);
static void	log_vformat(char *, size_t, const char *, va_list)
		    GW_PRINTF(3, 0);
static void	log_vemit(int, const char *, const char *, va_list)
		    GW_PRINTF(3, 0);
static int	log_word_eq(const char *, size_t, const char *);

/* log_init - choose the target (0 stderr, 1 syslog), level and facilities */
void
log_init(int to_syslog, int level, unsigned facilities)
{
	if (log_syslog && !to_syslog)
		closelog();
	log_syslog = to_syslog != 0;
	log_setlevel(level, facilities);
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

/*
 * log_stamp - the UTC time stamp of a line, formatted once a second
 * (a busy gateway writes a few lines per message), and the process id,
 * read once per stamp so that a forked child still shows its own.
 */
static const char *
log_stamp(long *pid)
{
	static char	 ts[32] = "-";
	static time_t	 last = (time_t)-1;
	static long	 lastpid = -1;
	struct tm	 tm;
	time_t		 now;

	now = time(NULL);
	if (now != last || (long)getpid() != lastpid) {
		if (gmtime_r(&now, &tm) == NULL ||
		    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			(void)gw_strlcpy(ts, "-", sizeof(ts));
		last = now;
		lastpid = (long)getpid();
	}
	*pid = lastpid;
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
	/* one write per event, so concurrent writers do not interleave */
	(void)fwrite(line, 1, (size_t)n, stderr);
	(void)fflush(stderr);
}

/* log_put - escape and emit one formatted event; errno is preserved */
static void
log_put(int pri, const char *label, const char *msg)
{
	char	 esc[LOG_MSG_MAX * 4];
	int	 saved = errno;

	log_escape(esc, sizeof(esc), msg);
	log_emit(pri, label, esc);
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
