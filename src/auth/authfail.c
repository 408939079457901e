/*
 * authfail - the per-address failure table (see authfail.h).
 *
 * Why set-associative rather than an LRU list or a growing hash: the
 * bound is fixed at start, a lookup touches AUTHFAIL_WAYS slots, and a
 * flood of new addresses can only push out slots of the sets it lands
 * in, the least recently failed first.  Expired slots are reused before
 * live ones, so under normal load nothing live is ever evicted.
 */
#include <sys/random.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authfail.h"

#define NSETS	(AUTHFAIL_SLOTS / AUTHFAIL_WAYS)

struct slot {
	struct addr_key	 key;
	time_t			 last;	/* last failure; 0: none counted */
	unsigned		 count;
	unsigned		 pending; /* attempts without a verdict yet */
};

struct authfail {
	uint64_t	 seed[2];
	struct slot	 slots[AUTHFAIL_SLOTS];
};

static size_t		 set_of(const struct authfail *,
			    const struct addr_key *);
static struct slot	*lookup(const struct authfail *,
			    const struct addr_key *);
static struct slot	*claim(struct authfail *, const struct addr_key *,
			    time_t, unsigned);
static int		 counted(const struct slot *, time_t, unsigned);
static int		 live(const struct slot *, time_t, unsigned);
/* authfail_new - an empty table */
struct authfail *
authfail_new(void)
{
	struct authfail	*t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	/* without randomness the table still works, only predictably */
	if (getrandom(t->seed, sizeof(t->seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(t->seed)) {
		t->seed[0] = (uint64_t)(uintptr_t)t ^ (uint64_t)time(NULL);
		t->seed[1] = ~t->seed[0];
	}
	return t;
}

void
authfail_free(struct authfail *t)
{
	free(t);
}

/* a keyed mix (SplitMix64 finaliser) of the key: the set index */
static size_t
set_of(const struct authfail *t, const struct addr_key *k)
{
	uint64_t	 x, w;

	memcpy(&w, k->b, sizeof(w));
	x = w ^ t->seed[0] ^ ((uint64_t)k->v6 << 63);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= t->seed[1];
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return (size_t)(x % NSETS);
}

/* are the failures of s still within the window? */
static int
counted(const struct slot *s, time_t now, unsigned window)
{
	/* the caller's clock is monotonic: now is never before last */
	return s->last != 0 && now - s->last < (time_t)window;
}

/* may s not be given to another key? */
static int
live(const struct slot *s, time_t now, unsigned window)
{
	return s->pending > 0 || counted(s, now, window);
}

/* k's slot, or NULL; a slot with nothing counted or pending is free */
static struct slot *
lookup(const struct authfail *t, const struct addr_key *k)
{
	const struct slot	*s = &t->slots[set_of(t, k) * AUTHFAIL_WAYS];
	size_t			 i;

	for (i = 0; i < AUTHFAIL_WAYS; i++)
		if ((s[i].last != 0 || s[i].pending > 0) &&
		    s[i].key.v6 == k->v6 &&
		    memcmp(s[i].key.b, k->b, sizeof(k->b)) == 0)
			return (struct slot *)&s[i];
	return NULL;
}

/*
 * k's slot, its failures forgotten if they are past the window; or a new
 * one: a free or expired slot of k's set, else the one whose last failure
 * is the oldest (a slot with an attempt in flight counts as active now).
 */
static struct slot *
claim(struct authfail *t, const struct addr_key *k, time_t now,
    unsigned window)
{
	struct slot	*set = &t->slots[set_of(t, k) * AUTHFAIL_WAYS], *s;
	time_t		 age, oldest = -2;
	size_t		 i;

	if ((s = lookup(t, k)) != NULL) {
		if (!counted(s, now, window)) {
			s->count = 0;
			s->last = 0;
		}
		return s;
	}
	s = &set[0];
	for (i = 0; i < AUTHFAIL_WAYS; i++) {
		if (!live(&set[i], now, window)) {
			s = &set[i];
			break;
		}
		/* live: failures within the window, or an attempt pending */
		age = set[i].pending > 0 ? -1 : now - set[i].last;
		if (age > oldest) {
			oldest = age;
			s = &set[i];
		}
	}
	memset(s, 0, sizeof(*s));
	s->key = *k;
	return s;
}

/* authfail_count - failures of k within the window */
unsigned
authfail_count(const struct authfail *t, const struct addr_key *k,
    time_t now, unsigned window)
{
	const struct slot	*s = lookup(t, k);

	return s != NULL && counted(s, now, window) ? s->count : 0;
}

/* authfail_add - one more failure of k */
unsigned
authfail_add(struct authfail *t, const struct addr_key *k, time_t now,
    unsigned window)
{
	struct slot	*s;

	/* last == 0 means no failure counted */
	if (now <= 0)
		now = 1;
	s = claim(t, k, now, window);
	s->last = now;
	if (s->count < UINT_MAX)
		s->count++;
	return s->count;
}

/* authfail_inflight - attempts of k begun and not yet ended */
unsigned
authfail_inflight(const struct authfail *t, const struct addr_key *k)
{
	const struct slot	*s = lookup(t, k);

	return s != NULL ? s->pending : 0;
}

/* authfail_begin - an attempt of k is in flight */
void
authfail_begin(struct authfail *t, const struct addr_key *k, time_t now,
    unsigned window)
{
	struct slot	*s = claim(t, k, now <= 0 ? 1 : now, window);

	if (s->pending < UINT_MAX)
		s->pending++;
}

/* authfail_end - an attempt of k has its verdict (or was abandoned) */
void
authfail_end(struct authfail *t, const struct addr_key *k)
{
	struct slot	*s = lookup(t, k);

	/* its slot may have been taken by a flood meanwhile */
	if (s != NULL && s->pending > 0)
		s->pending--;
}

/* authfail_delay - 1, 2, 4, ... seconds, at most max */
unsigned
authfail_delay(unsigned n, unsigned max)
{
	unsigned	 d = 1;

	if (n == 0 || max == 0)
		return 0;
	while (--n > 0 && d < max)
		d *= 2;
	return d < max ? d : max;
}
