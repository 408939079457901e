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

#include <netinet/in.h>
#include <arpa/inet.h>

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/authfail.h"

#define NSETS	(AUTHFAIL_SLOTS / AUTHFAIL_WAYS)

struct slot {
	struct authfail_key	 key;
	time_t			 last;	/* last failure; 0: a free slot */
	unsigned		 count;
};

struct authfail {
	uint64_t	 seed[2];
	struct slot	 slots[AUTHFAIL_SLOTS];
};

static size_t		 set_of(const struct authfail *,
			    const struct authfail_key *);
static struct slot	*find(const struct authfail *,
			    const struct authfail_key *, time_t, unsigned);
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

/* authfail_key - IPv4 as is, IPv6 by its /64, IPv4-mapped IPv6 as IPv4 */
int
authfail_key(const struct sockaddr *sa, struct authfail_key *k)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;
	const unsigned char		*a;
	static const unsigned char	 mapped[12] = { 0, 0, 0, 0, 0, 0, 0,
					    0, 0, 0, 0xff, 0xff };

	memset(k, 0, sizeof(*k));
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		memcpy(k->b, &sin->sin_addr, 4);
		return 0;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		a = (const unsigned char *)&sin6->sin6_addr;
		if (memcmp(a, mapped, sizeof(mapped)) == 0) {
			memcpy(k->b, a + 12, 4);
			return 0;
		}
		memcpy(k->b, a, 8);
		k->v6 = 1;
		return 0;
	default:
		return -1;
	}
}

/* authfail_name - "192.0.2.1" or "2001:db8::/64" */
const char *
authfail_name(const struct authfail_key *k, char *buf, size_t len)
{
	struct in6_addr	 a6;
	char		 tmp[INET6_ADDRSTRLEN];

	if (!k->v6) {
		if (inet_ntop(AF_INET, k->b, buf, (socklen_t)len) == NULL)
			(void)snprintf(buf, len, "?");
		return buf;
	}
	memset(&a6, 0, sizeof(a6));
	memcpy(&a6, k->b, 8);
	if (inet_ntop(AF_INET6, &a6, tmp, sizeof(tmp)) == NULL ||
	    snprintf(buf, len, "%s/64", tmp) >= (int)len)
		(void)snprintf(buf, len, "?");
	return buf;
}

/* a keyed mix (SplitMix64 finaliser) of the key: the set index */
static size_t
set_of(const struct authfail *t, const struct authfail_key *k)
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

static int
live(const struct slot *s, time_t now, unsigned window)
{
	/* the caller's clock is monotonic: now is never before last */
	return s->last != 0 && now - s->last < (time_t)window;
}

static struct slot *
find(const struct authfail *t, const struct authfail_key *k, time_t now,
    unsigned window)
{
	const struct slot	*s = &t->slots[set_of(t, k) * AUTHFAIL_WAYS];
	size_t			 i;

	for (i = 0; i < AUTHFAIL_WAYS; i++)
		if (s[i].last != 0 && s[i].key.v6 == k->v6 &&
		    memcmp(s[i].key.b, k->b, sizeof(k->b)) == 0)
			return live(&s[i], now, window) ?
			    (struct slot *)&s[i] : NULL;
	return NULL;
}

/* authfail_count - failures of k within the window */
unsigned
authfail_count(const struct authfail *t, const struct authfail_key *k,
    time_t now, unsigned window)
{
	const struct slot	*s = find(t, k, now, window);

	return s != NULL ? s->count : 0;
}

/* authfail_add - one more failure of k */
unsigned
authfail_add(struct authfail *t, const struct authfail_key *k, time_t now,
    unsigned window)
{
	struct slot	*set = &t->slots[set_of(t, k) * AUTHFAIL_WAYS], *s;
	size_t		 i;

	/* last == 0 marks a free slot */
	if (now <= 0)
		now = 1;
	for (i = 0; i < AUTHFAIL_WAYS; i++) {
		s = &set[i];
		if (s->last != 0 && s->key.v6 == k->v6 &&
		    memcmp(s->key.b, k->b, sizeof(k->b)) == 0) {
			if (!live(s, now, window))
				s->count = 0;
			goto found;
		}
	}
	/* not there: a free or expired slot, else the least recent one */
	s = &set[0];
	for (i = 0; i < AUTHFAIL_WAYS; i++) {
		if (!live(&set[i], now, window)) {
			s = &set[i];
			break;
		}
		if (set[i].last < s->last)
			s = &set[i];
	}
	s->key = *k;
	s->count = 0;
found:
	s->last = now;
	if (s->count < UINT_MAX)
		s->count++;
	return s->count;
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
