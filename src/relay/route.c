/*
 * route.c - the route for a sender (see route.h).
 */
#include <string.h>
#include <strings.h>

#include "relay/route.h"

/* how well pattern p matches sender s: 0 none; higher is more specific */
static size_t
match(const char *p, const char *s)
{
	const char	*at = strrchr(s, '@');
	size_t		 dl, pl;

	if (strcmp(p, "<>") == 0)
		return *s == '\0' ? (size_t)-1 : 0;
	if (*s == '\0' || at == NULL)
		return 0;
	if (p[0] != '@')	/* a whole address */
		return strcasecmp(p, s) == 0 ? (size_t)-1 : 0;
	if (p[1] != '.')	/* a domain */
		return strcasecmp(p + 1, at + 1) == 0 ? (size_t)-2 : 0;
	/* ".example.com": a proper suffix of the domain, at a label */
	pl = strlen(p + 1);
	dl = strlen(at + 1);
	if (dl <= pl || strcasecmp(at + 1 + dl - pl, p + 1) != 0)
		return 0;
	return pl;
}

const char *
route_pattern_ok(const char *p)
{
	const char	*at;

	if (strcmp(p, "<>") == 0)
		return NULL;
	if ((at = strrchr(p, '@')) == NULL)
		return "want user@domain, @domain, @.domain or <>";
	if (at[1] == '\0' || (at[1] == '.' && at[2] == '\0'))
		return "the domain is missing";
	if (p[0] == '@' && at != p)
		return "want user@domain, @domain, @.domain or <>";
	if (p[0] != '@' && at[1] == '.')
		return "@. only in a domain pattern (@.example.com)";
	return NULL;
}

const struct route *
route_choose(const struct route *routes, size_t n, const char *sender)
{
	const struct route	*best = NULL;
	size_t			 i, j, m, bestm = 0;

	for (i = 0; i < n; i++)
		for (j = 0; j < routes[i].nsenders; j++) {
			m = match(routes[i].senders[j], sender);
			if (m > bestm) {
				bestm = m;
				best = &routes[i];
			}
		}
	return best;
}
