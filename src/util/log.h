/*
 * log - levelled, facility-filtered logging to stderr or syslog.
 *
 * Contract: one event per line; callers put the session id first
 * ("%016" PRIx64) and key=value pairs after, or hand log_kv() typed
 * fields.  log_format = json writes each event as one JSON object
 * (logfmt.h): log_kv()'s fields as fields, other lines as "msg" (and
 * "session" when they start with an id).  Nothing here formats a
 * secret: redaction is the caller's choke point (smtp_client/smtp_server
 * log protocol lines by state).  fatal() appends strerror(errno) and exits 1;
 * fatalx() is for broken invariants (bugs) and exits 1.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "util/logfmt.h"

enum gw_loglevel {
	GW_LOG_ERROR = 0,
	GW_LOG_WARNING,
	GW_LOG_INFO,
	GW_LOG_DEBUG
};

/* facilities select which debug traces are emitted (log_trace) */
#define LOGF_PROTOCOL	0x01u
#define LOGF_TLS	0x02u
#define LOGF_AUTH	0x04u
#define LOGF_DKIM	0x08u
#define LOGF_PROXY	0x10u
#define LOGF_ALL	0x1fu

#define GW_PRINTF(a, b)	__attribute__((format(printf, a, b)))
#define GW_DEAD		__attribute__((noreturn))

/*
 * log_init - choose the target (0 stderr, 1 syslog), level and facilities;
 * syslog without a reachable /dev/log falls back to stderr, with a warning
 */
void	log_init(int to_syslog, int level, unsigned facilities);
/* log_setformat - text (0) or JSON (1) lines; before log_init */
void	log_setformat(int json);
/* log_syslog_usable - 1 if /dev/log takes a connection; else 0 and why */
int	log_syslog_usable(char *why, size_t len);
/* log_setlevel - change level and facilities (reload) */
void	log_setlevel(int level, unsigned facilities);
/* log_level_parse - "error|warning|info|debug"; NULL or static error */
const char *log_level_parse(const char *s, int *level);
/* log_facilities_parse - "protocol,tls,auth,dkim,proxy" or "all"/"none" */
const char *log_facilities_parse(const char *s, unsigned *mask);
/* log_would - would a message at this level be written? */
int	log_would(int level);
/* log_trace_enabled - debug level on and facility selected */
int	log_trace_enabled(unsigned facility);

/*
 * log_kv - one event at level (GW_LOG_*): session id (0: none), event
 * words ("relay rcpt refused"), typed fields (logfmt.h: LOGK_*), raw
 * values.  The lines an operator or a log pipeline reads use this.
 */
void	log_kv(int level, uint64_t id, const char *event,
	    const struct log_field *f, size_t n);
void	log_error(const char *, ...) GW_PRINTF(1, 2);
void	log_warnx(const char *, ...) GW_PRINTF(1, 2);
void	log_info(const char *, ...) GW_PRINTF(1, 2);
void	log_debug_(const char *, ...) GW_PRINTF(1, 2);
void	log_trace_(unsigned facility, const char *, ...) GW_PRINTF(2, 3);
/*
 * log_debug, log_trace (debug-level, only if the facility is selected):
 * macros, so that their arguments (often a str_vis() of a whole line, on
 * every command and reply) are not even evaluated when the level is off.
 */
#define log_debug(...)							\
	do {								\
		if (log_would(GW_LOG_DEBUG))				\
			log_debug_(__VA_ARGS__);			\
	} while (0)
#define log_trace(fac, ...)						\
	do {								\
		if (log_trace_enabled(fac))				\
			log_trace_((fac), __VA_ARGS__);			\
	} while (0)
/*
 * log_hold/log_release - lines below warning wait until the outermost
 * release and go out in one write (stderr only, not at debug level; the
 * io's loop callbacks hold).  Per thread.  log_flush writes what waits.
 */
void	log_hold(void);
void	log_release(void);
void	log_flush(void);
void	fatal(const char *, ...) GW_PRINTF(1, 2) GW_DEAD;
void	fatalx(const char *, ...) GW_PRINTF(1, 2) GW_DEAD;

#endif
