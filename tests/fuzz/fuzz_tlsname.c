/*
 * fuzz_tlsname - the RFC 6125 host-name matcher on names as a hostile
 * certificate may present them.
 *
 * Input: the reference name (what tls_name says), a '\n', then presented
 * names separated by '\n' (any bytes, NUL included): each goes through
 * tls_name_match_dns(); all of them, as dNSNames, and the last one alone,
 * as a CN, go through tls_name_match().
 *
 * Invariants: an exact match means the two names are equal but for ASCII
 * case and one trailing dot, with no '*' in them; a wildcard match means
 * the presented name is "*." followed by at least two labels that equal
 * everything after the reference's first label, and that first label is
 * not empty; no match ever involves a NUL; an address reference is never
 * matched by a name or a CN; the CN counts only without dNSNames.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#include "tls/tls_cert.h"
#include "fuzz.h"

#define REF_MAX	300

static size_t	strip_dot(const unsigned char *, size_t);
static void	check_one(const char *, const unsigned char *, size_t, int);

static size_t
strip_dot(const unsigned char *s, size_t len)
{
	return len > 1 && s[len - 1] == '.' ? len - 1 : len;
}

/* what a verdict of tls_name_match_dns promises */
static void
check_one(const char *ref, const unsigned char *pat, size_t patlen, int m)
{
	size_t		 rlen = strip_dot((const unsigned char *)ref,
			    strlen(ref)), plen = strip_dot(pat, patlen), n;
	const char	*dot;
	const unsigned char *base;

	FUZZ_CHECK(m == TLS_NAME_NONE || m == TLS_NAME_DNS ||
	    m == TLS_NAME_WILDCARD, "verdict %d", m);
	if (m == TLS_NAME_NONE)
		return;
	FUZZ_CHECK(memchr(pat, '\0', patlen) == NULL, "NUL in a match");
	FUZZ_CHECK(strchr(ref, '*') == NULL, "'*' in a matched reference");
	/* an all-digit last label is an address in some form, not a name */
	for (n = rlen; n > 0 && ref[n - 1] != '.'; n--)
		;
	FUZZ_CHECK(strspn(ref + n, "0123456789") < rlen - n,
	    "a name with an all-digit last label matched");
	if (m == TLS_NAME_DNS) {
		FUZZ_CHECK(plen == rlen && strncasecmp(ref, (const char *)pat,
		    rlen) == 0, "exact match of different names");
		FUZZ_CHECK(memchr(pat, '*', patlen) == NULL, "'*' matched "
		    "exactly");
		return;
	}
	FUZZ_CHECK(plen >= 5 && pat[0] == '*' && pat[1] == '.',
	    "wildcard match without \"*.\"");
	base = pat + 2;
	n = plen - 2;
	FUZZ_CHECK(memchr(base, '*', n) != NULL ? 0 : 1, "second '*'");
	FUZZ_CHECK(memchr(base, '.', n) != NULL, "wildcard over one label");
	dot = strchr(ref, '.');
	FUZZ_CHECK(dot != NULL && dot != ref, "wildcard for an empty label");
	FUZZ_CHECK(rlen - (size_t)(dot + 1 - ref) == n &&
	    strncasecmp(dot + 1, (const char *)base, n) == 0,
	    "wildcard base differs");
}

/* LLVMFuzzerTestOneInput - reference, then presented names */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_cert_facts	 f;
	char				 ref[REF_MAX + 1];
	const uint8_t			*p, *end = data + size, *nl;
	unsigned char			 a[16];
	size_t				 rlen;
	int				 m, isip;

	if ((nl = memchr(data, '\n', size)) == NULL)
		return 0;
	rlen = (size_t)(nl - data);
	if (rlen > REF_MAX || memchr(data, '\0', rlen) != NULL)
		return 0;
	memcpy(ref, data, rlen);
	ref[rlen] = '\0';
	isip = inet_pton(AF_INET, ref, a) == 1 ||
	    inet_pton(AF_INET6, ref, a) == 1;

	memset(&f, 0, sizeof(f));
	for (p = nl + 1; p <= end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		m = tls_name_match_dns(ref, p, (size_t)(nl - p));
		check_one(ref, p, (size_t)(nl - p), m);
		if (f.ndns < TLS_CERT_MAX_DNS) {
			f.dns[f.ndns].p = p;
			f.dns[f.ndns++].len = (size_t)(nl - p);
		}
		f.cn.p = p;
		f.cn.len = (size_t)(nl - p);
		if (nl == end)
			break;
	}
	m = tls_name_match(ref, &f);
	FUZZ_CHECK(m != TLS_NAME_CN && m != TLS_NAME_IP, "verdict %d with "
	    "dNSNames only", m);
	FUZZ_CHECK(!isip || m == TLS_NAME_NONE, "address %s matched by a name",
	    ref);
	/* the same, with the last name as the only identifier, a CN */
	f.ndns = 0;
	m = tls_name_match(ref, &f);
	FUZZ_CHECK(m == TLS_NAME_NONE || m == TLS_NAME_CN, "verdict %d for a "
	    "CN", m);
	FUZZ_CHECK(!isip || m == TLS_NAME_NONE, "address %s matched by a CN",
	    ref);
	return 0;
}
