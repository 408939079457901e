/*
 * fuzz_users - the users_file line parser, users_parse_line().
 *
 * The input is a file's text, cut into lines at LF as users_load() does
 * (its bound applied); each line is parsed on its own.
 *
 * Invariants: a skipped line is blank or a comment; a parsed entry has
 * four terminated fields within their bounds, names without spaces or
 * control characters, a "$y$" or "$6$" hash, a secret without control
 * characters, and joined again with ':' it is exactly the line (the
 * secret being the rest of the line); an error leaves nothing behind.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "fuzz.h"

static void	check_line(const char *, size_t);
static void	check_field(const char *, size_t, int, const char *);

static void
check_field(const char *s, size_t size, int spaces_ok, const char *what)
{
	const unsigned char	*u;

	FUZZ_CHECK(memchr(s, '\0', size) != NULL, "%s not terminated", what);
	FUZZ_CHECK(s[0] != '\0', "empty %s", what);
	for (u = (const unsigned char *)s; *u != '\0'; u++)
		FUZZ_CHECK(*u != 0x7f && (*u > 0x20 || (spaces_ok &&
		    *u == ' ')), "octet 0x%02x in %s", *u, what);
}

static void
check_line(const char *line, size_t len)
{
	struct users_entry	 e;
	char			 joined[sizeof(e) + 4];
	const char		*err;
	size_t			 i;
	int			 skip, n;

	err = users_parse_line(line, len, &e, &skip);
	if (err == NULL && skip) {
		for (i = 0; i < len && (line[i] == ' ' || line[i] == '\t');
		    i++)
			;
		FUZZ_CHECK(i == len || line[i] == '#',
		    "skipped a line that is not blank or a comment");
		return;
	}
	if (err != NULL) {
		FUZZ_CHECK(e.user[0] == '\0' && e.up_secret[0] == '\0',
		    "error \"%s\" left a partial entry", err);
		return;
	}
	check_field(e.user, sizeof(e.user), 0, "user");
	check_field(e.up_user, sizeof(e.up_user), 0, "upstream user");
	check_field(e.up_secret, sizeof(e.up_secret), 1, "secret");
	FUZZ_CHECK(memchr(e.hash, '\0', sizeof(e.hash)) != NULL,
	    "hash not terminated");
	FUZZ_CHECK(strncmp(e.hash, "$y$", 3) == 0 ||
	    strncmp(e.hash, "$6$", 3) == 0, "hash method: %s", e.hash);
	FUZZ_CHECK(strchr(e.user, ':') == NULL && strchr(e.hash, ':') == NULL
	    && strchr(e.up_user, ':') == NULL, "':' inside a field");
	n = snprintf(joined, sizeof(joined), "%s:%s:%s:%s", e.user, e.hash,
	    e.up_user, e.up_secret);
	FUZZ_CHECK(n >= 0 && (size_t)n == len && memcmp(joined, line,
	    len) == 0, "entry does not join back to the line");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*p = (const char *)data, *end = p + size, *nl;
	size_t		 len;

	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		len = (size_t)(nl - p);
		/* users_load() refuses longer lines before parsing */
		if (len < USERS_LINE_MAX)
			check_line(p, len);
		p = nl + 1;
	}
	return 0;
}
