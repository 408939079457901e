/*
 * route - which upstreams a message leaves through, by its sender.
 *
 * A [route NAME] section names sender patterns and an ordered upstream
 * list.  Patterns: "user@example.com" (that address), "@example.com"
 * (that domain), "@.example.com" (any subdomain of it, not the domain
 * itself), "<>" (the null sender).  Matching ignores case (as the domain
 * part must, RFC 5321 2.4; the local part too, as Postfix's lookups do).
 * The most specific match wins: an address over a domain over a
 * subdomain pattern, the longer subdomain pattern over the shorter; on a
 * tie the route that comes first in the file.  No match: the listener's
 * own upstream list.  Pure; table test in tests/unit/test_route.c.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>

struct route {
	const char		 *name;
	const char *const	 *senders;
	size_t			  nsenders;
	const char *const	 *upstreams;
	size_t			  nupstreams;
};

/* route_pattern_ok - NULL, or why the pattern can never match */
const char	*route_pattern_ok(const char *pattern);

/*
 * route_choose - the route for sender (without <>, "" for the null
 * sender) among routes[0..n), or NULL.
 */
const struct route *route_choose(const struct route *routes, size_t n,
		    const char *sender);

#endif
