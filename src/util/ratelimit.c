/*
 * ratelimit - the COUNT/PERIOD tables (see ratelimit.h).
 *
 * Why GCRA: one number per key (the time its bucket is full again), no
 * window edge at which a client may send twice its COUNT in a moment as
 * with fixed windows, and a key that falls idle frees its slot by
 * itself, without a sweep.  Why set-associative (as auth/authfail.c):
 * the bound is fixed at start, a lookup touches RATELIMIT_WAYS slots,
 * and a flood of new keys can only push out slots of the sets it lands
 * in, the least indebted first.
 */
#include <sys/random.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/ratelimit.h"
#include "util/str.h"

#define NSETS		(RATELIMIT_SLOTS / RATELIMIT_WAYS)
#define US		1000000ULL	/* microseconds in a second */
#define DIGEST		0xff		/* len of a key kept as a digest */

/* a key as stored: a long name becomes a 16-octet digest */
struct skey {
	unsigned char	 kind;
	unsigned char	 len;
	unsigned char	 b[RATELIMIT_KEY_MAX];
};

struct slot {
	uint64_t	 full;	/* microseconds: bucket full again; free if <= now */
	uint64_t	 step;	/* microseconds per event when last counted */
	struct skey	 key;
};

struct ratelimit {
	uint64_t	 seed[3];
	struct slot	 slots[RATELIMIT_SLOTS];
};

static uint64_t	 mix(uint64_t);
static uint64_t	 hash(uint64_t, const unsigned char *, size_t);
static void	 mkkey(const struct ratelimit *, int, const void *, size_t,
		    struct skey *);
static struct slot *lookup(const struct ratelimit *, const struct skey *,
		    uint64_t);
static int	 next_full(const struct slot *, uint64_t, const struct rate *,
		    uint64_t *);
static const char *parse_period(const char *, unsigned *);

/* ratelimit_parse - "COUNT/PERIOD", "off" or "" */
const char *
ratelimit_parse(const char *s, struct rate *out)
{
	char		 num[16];
	const char	*slash, *e;
	long long	 c;
	size_t		 n;

	if (s == NULL || *s == '\0' || str_ieq(s, "off")) {
		out->count = out->period = 0;
		return NULL;
	}
	if ((slash = strchr(s, '/')) == NULL)
		return "must be COUNT/PERIOD, as 100/1h, or off";
	if ((n = (size_t)(slash - s)) == 0 || n >= sizeof(num))
		return "bad COUNT";
	memcpy(num, s, n);
	num[n] = '\0';
	if ((e = str_tonum(num, 1, RATELIMIT_COUNT_MAX, &c)) != NULL)
		return "COUNT must be a number from 1 to 1000000";
	if ((e = parse_period(slash + 1, &out->period)) != NULL)
		return e;
	out->count = (unsigned)c;
	return NULL;
}

/* digits, then s, m, h or d; 1s..7d */
static const char *
parse_period(const char *s, unsigned *out)
{
	unsigned long long	 v = 0, mult = 1;

	if (*s < '0' || *s > '9')
		return "PERIOD must be a number of seconds, or with s, m, h or d";
	for (; *s >= '0' && *s <= '9'; s++) {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > RATELIMIT_PERIOD_MAX)
			return "PERIOD must be at most 7d";
	}
	switch (*s) {
	case '\0':
		break;
	case 's': case 'S':
		s++;
		break;
	case 'm': case 'M':
		mult = 60;
		s++;
		break;
	case 'h': case 'H':
		mult = 3600;
		s++;
		break;
	case 'd': case 'D':
		mult = 86400;
		s++;
		break;
	default:
		return "bad PERIOD suffix (use s, m, h or d)";
	}
	if (*s != '\0')
		return "trailing garbage after PERIOD";
	if (v * mult > RATELIMIT_PERIOD_MAX)
		return "PERIOD must be at most 7d";
	if (v == 0)
		return "PERIOD must be at least 1s";
	*out = (unsigned)(v * mult);
	return NULL;
}

/* ratelimit_format - the largest whole unit: "100/1h", "3/90s" */
const char *
ratelimit_format(const struct rate *r, char *buf, size_t len)
{
	static const struct { unsigned s; char c; } unit[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' }
	};
	size_t	 i;

	if (r->count == 0 || r->period == 0) {
		(void)snprintf(buf, len, "off");
		return buf;
	}
	for (i = 0; r->period % unit[i].s != 0; i++)
		;
	(void)snprintf(buf, len, "%u/%u%c", r->count, r->period / unit[i].s,
	    unit[i].c);
	return buf;
}

struct ratelimit *
ratelimit_new(void)
{
	struct ratelimit	*t;
	size_t			 i;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	/* without randomness the table still works, only predictably */
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t->seed))
		for (i = 0; i < 3; i++)
			t->seed[i] = mix((uint64_t)(uintptr_t)t ^
			    (uint64_t)time(NULL) ^ i);
	return t;
}

void
ratelimit_free(struct ratelimit *t)
{
	free(t);
}

/* SplitMix64's finaliser */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* a keyed hash of p; not cryptographic, but its key is never shown */
static uint64_t
hash(uint64_t seed, const unsigned char *p, size_t len)
{
	uint64_t	 x = mix(seed ^ len), w;
	size_t		 n;

	while (len > 0) {
		n = len < sizeof(w) ? len : sizeof(w);
		w = 0;
		memcpy(&w, p, n);
		x = mix(x ^ w) + seed;
		p += n;
		len -= n;
	}
	return mix(x);
}

static void
mkkey(const struct ratelimit *t, int kind, const void *key, size_t len,
    struct skey *k)
{
	uint64_t	 d[2];

	memset(k, 0, sizeof(*k));
	k->kind = (unsigned char)kind;
	if (len <= RATELIMIT_KEY_MAX) {
		memcpy(k->b, key, len);
		k->len = (unsigned char)len;
		return;
	}
	d[0] = hash(t->seed[1], key, len);
	d[1] = hash(t->seed[2], key, len);
	memcpy(k->b, d, sizeof(d));
	k->len = DIGEST;
}

static size_t
set_of(const struct ratelimit *t, const struct skey *k)
{
	return (size_t)(hash(t->seed[0], (const unsigned char *)k,
	    sizeof(*k)) % NSETS);
}

/* k's slot if it is in debt at now, else NULL */
static struct slot *
lookup(const struct ratelimit *t, const struct skey *k, uint64_t now)
{
	const struct slot	*s = &t->slots[set_of(t, k) * RATELIMIT_WAYS];
	size_t			 i;

	for (i = 0; i < RATELIMIT_WAYS; i++)
		if (s[i].full > now && memcmp(&s[i].key, k, sizeof(*k)) == 0)
			return (struct slot *)&s[i];
	return NULL;
}

/*
 * GCRA: 1 and *next (the new "full") if one more event at now fits r
 * given slot s (NULL: none); 0 if not, *next then the earliest time it
 * fits.  A limit changed by a reload applies to the events already
 * counted: the debt is converted to events at the step it was counted
 * with, and back at the new one, never more than one new period.
 */
static int
next_full(const struct slot *s, uint64_t now, const struct rate *r,
    uint64_t *next)
{
	uint64_t	 p = (uint64_t)r->period * US, step = p / r->count;
	uint64_t	 debt = 0, owed;

	if (s != NULL && s->full > now) {
		debt = s->full - now;
		if (s->step != step && s->step != 0) {
			owed = (debt + s->step - 1) / s->step;
			debt = owed > r->count ? p : owed * step;
		}
	}
	if (debt > p)
		debt = p;
	if (debt > p - step) {
		*next = now + debt - (p - step);
		return 0;
	}
	*next = now + debt + step;
	return 1;
}

int
ratelimit_ok(const struct ratelimit *t, int kind, const void *key,
    size_t len, uint64_t now, const struct rate *r)
{
	const struct slot	*s;
	struct skey		 k;
	uint64_t		 next;

	if (r->count == 0 || r->period == 0)
		return 1;
	now *= 1000;
	mkkey(t, kind, key, len, &k);
	s = lookup(t, &k, now);
	return next_full(s, now, r, &next);
}

uint64_t
ratelimit_wait(const struct ratelimit *t, int kind, const void *key,
    size_t len, uint64_t now, const struct rate *r)
{
	const struct slot	*s;
	struct skey		 k;
	uint64_t		 next;

	if (r->count == 0 || r->period == 0)
		return 0;
	now *= 1000;
	mkkey(t, kind, key, len, &k);
	s = lookup(t, &k, now);
	if (next_full(s, now, r, &next))
		return 0;
	return (next - now + 999) / 1000;
}

/*
 * ratelimit_take - k's slot, or a new one: a free slot of k's set, else
 * the one with the least debt (its key only loses what it owed).
 */
int
ratelimit_take(struct ratelimit *t, int kind, const void *key, size_t len,
    uint64_t now, const struct rate *r)
{
	struct slot	*set, *s;
	struct skey	 k;
	uint64_t	 next;
	size_t		 i;

	if (r->count == 0 || r->period == 0)
		return 1;
	now *= 1000;
	mkkey(t, kind, key, len, &k);
	if ((s = lookup(t, &k, now)) == NULL) {
		set = &t->slots[set_of(t, &k) * RATELIMIT_WAYS];
		s = &set[0];
		for (i = 0; i < RATELIMIT_WAYS; i++) {
			if (set[i].full <= now) {
				s = &set[i];
				break;
			}
			if (set[i].full < s->full)
				s = &set[i];
		}
		s->full = 0;
		s->step = 0;
		s->key = k;
	}
	if (!next_full(s, now, r, &next))
		return 0;
	s->full = next;
	s->step = (uint64_t)r->period * US / r->count;
	return 1;
}
