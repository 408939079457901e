/*
 * tls_name.c - does a certificate name the host we meant to reach?
 * RFC 6125 (as updated by RFC 9525), checked by smtpgate itself: wolfSSL's
 * own check accepted "*.com" for example.com, a bare "*", "a.*.example.com",
 * a dNSName "127.0.0.1" for an IP address and a CN of an IP without SAN.
 *
 * The rules (docs/configuration.md, "Host-name check"):
 * - an IP literal tls_name matches iPAddress entries only, octet for
 *   octet; never a dNSName, never the CN;
 * - a host name matches a dNSName equal to it (ASCII case ignored, one
 *   trailing dot ignored on either side), or a wildcard "*.rest" where "*"
 *   is the whole left-most label, stands for exactly one non-empty label,
 *   and rest has at least two labels ("*.com" never) and is not a
 *   well-known two-label public suffix ("*.co.uk" never; see below);
 * - the CN is used only when the certificate has no dNSName at all, with
 *   the same rules;
 * - presented names with anything but letters, digits, '-' and '_' in
 *   their labels (NUL, spaces, a '*' elsewhere) match nothing.
 * Pure: no I/O; the caller logs.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <stddef.h>
#include <string.h>

#include "tls/tls_cert.h"

#define NAME_MAX_LEN	253

static int	name_char(int);
static int	name_labels(const unsigned char *, size_t);
static int	name_eq(const unsigned char *, const unsigned char *, size_t);
static int	public_suffix2(const unsigned char *, size_t);

static int
name_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/*
 * name_labels - the number of labels of s if it is a host name made of
 * non-empty labels of name characters, the last not all digits, else 0.
 */
static int
name_labels(const unsigned char *s, size_t len)
{
	size_t	 i, lab = 0;
	int	 n = 1;

	if (len == 0 || len > NAME_MAX_LEN)
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (lab == 0)
				return 0;
			lab = 0;
			n++;
		} else if (!name_char(s[i]) || ++lab > 63)
			return 0;
	}
	if (lab == 0)
		return 0;
	/*
	 * A top-level label of digits only is no DNS name (RFC 3696
	 * section 2): "127.1" or "127.000.000.001" is an address that
	 * inet_pton() refused, and must not be matched as a name.
	 */
	for (i = len - lab; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return n;
	return 0;
}

/* name_eq - equal ignoring ASCII case (the bytes are name characters) */
static int
name_eq(const unsigned char *a, const unsigned char *b, size_t len)
{
	size_t	 i;
	int	 x, y;

	for (i = 0; i < len; i++) {
		x = a[i] >= 'A' && a[i] <= 'Z' ? a[i] + 32 : a[i];
		y = b[i] >= 'A' && b[i] <= 'Z' ? b[i] + 32 : b[i];
		if (x != y)
			return 0;
	}
	return 1;
}

/*
 * public_suffix2 - s (two labels) looks like a registry's second level
 * under a country code: "co.uk", "com.au", "ac.jp".  We ship no Public
 * Suffix List (it changes weekly and a gateway is not updated that
 * often), so this is a short, conservative list of the second-level
 * labels registries use under two-letter TLDs; "*.example.uk" stays
 * allowed.  Publicly trusted CAs may not issue such wildcards anyway; the
 * rule is for private CAs and mistakes.
 */
static int
public_suffix2(const unsigned char *s, size_t len)
{
	static const char *const sld[] = {
		"ac", "co", "com", "edu", "gob", "gov", "go", "ltd", "mil",
		"ne", "net", "nic", "or", "org", "plc", "sch"
	};
	const unsigned char	*dot;
	size_t			 i, n;

	if ((dot = memchr(s, '.', len)) == NULL)
		return 0;
	n = (size_t)(dot - s);
	/* the top-level label: two letters */
	if (len - n - 1 != 2 || !((dot[1] | 32) >= 'a' && (dot[1] | 32) <= 'z') ||
	    !((dot[2] | 32) >= 'a' && (dot[2] | 32) <= 'z'))
		return 0;
	for (i = 0; i < sizeof(sld) / sizeof(sld[0]); i++)
		if (strlen(sld[i]) == n &&
		    name_eq(s, (const unsigned char *)sld[i], n))
			return 1;
	return 0;
}

/* tls_name_match_dns - one presented DNS identifier against ref */
int
tls_name_match_dns(const char *ref, const unsigned char *pat, size_t patlen)
{
	const unsigned char	*r = (const unsigned char *)ref, *rest, *dot;
	size_t			 rlen;
	int			 n;

	if (ref == NULL || pat == NULL)
		return TLS_NAME_NONE;
	rlen = strlen(ref);
	/* "mail.example.com." is the same name as "mail.example.com" */
	if (rlen > 1 && r[rlen - 1] == '.')
		rlen--;
	if (patlen > 1 && pat[patlen - 1] == '.')
		patlen--;
	if (name_labels(r, rlen) == 0)
		return TLS_NAME_NONE;
	if (patlen >= 1 && pat[0] == '*') {
		/* "*" alone, "*x.example.com", "*.": never */
		if (patlen < 3 || pat[1] != '.')
			return TLS_NAME_NONE;
		rest = pat + 2;
		n = name_labels(rest, patlen - 2);
		/* "*.com": a wildcard right under a top-level domain */
		if (n < 2 || (n == 2 && public_suffix2(rest, patlen - 2)))
			return TLS_NAME_NONE;
		/* "*" is exactly one label: the first of ref */
		if ((dot = memchr(r, '.', rlen)) == NULL || dot == r)
			return TLS_NAME_NONE;
		if (rlen - (size_t)(dot + 1 - r) != patlen - 2 ||
		    !name_eq(dot + 1, rest, patlen - 2))
			return TLS_NAME_NONE;
		return TLS_NAME_WILDCARD;
	}
	/* a '*' anywhere else, or any byte that is not a name character */
	if (name_labels(pat, patlen) == 0 || patlen != rlen ||
	    !name_eq(r, pat, rlen))
		return TLS_NAME_NONE;
	return TLS_NAME_DNS;
}

/* tls_name_match - does the certificate described by f name ref? */
int
tls_name_match(const char *ref, const struct tls_cert_facts *f)
{
	unsigned char	 a[16];
	size_t		 i, alen = 0;
	int		 m;

	if (ref == NULL || f == NULL)
		return TLS_NAME_NONE;
	if (inet_pton(AF_INET, ref, a) == 1)
		alen = 4;
	else if (inet_pton(AF_INET6, ref, a) == 1)
		alen = 16;
	if (alen != 0) {
		/*
		 * An address is named by an iPAddress entry only: a dNSName
		 * "127.0.0.1" or a CN holding it is not an identity for it
		 * (RFC 6125 section 1.7.2, RFC 5280 section 4.2.1.6).
		 */
		for (i = 0; i < f->nip; i++)
			if (f->ip[i].len == alen &&
			    memcmp(f->ip[i].p, a, alen) == 0)
				return TLS_NAME_IP;
		return TLS_NAME_NONE;
	}
	for (i = 0; i < f->ndns; i++)
		if ((m = tls_name_match_dns(ref, f->dns[i].p,
		    f->dns[i].len)) != TLS_NAME_NONE)
			return m;
	/*
	 * The CN only for certificates without any dNSName (RFC 6125 6.4.4;
	 * RFC 9525 drops it, but private CAs still issue such certificates).
	 */
	if (f->ndns == 0 && f->cn.len > 0 &&
	    tls_name_match_dns(ref, f->cn.p, f->cn.len) != TLS_NAME_NONE)
		return TLS_NAME_CN;
	return TLS_NAME_NONE;
}
