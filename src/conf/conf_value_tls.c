/*
 * conf_value_tls.c - the values of the TLS keys that need more than a
 * word or a number: ca_file, pin_sha256, ciphers and ciphersuites,
 * tls_min_version (conf_value_int.h).  Called from key_parse.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf/conf_keys.h"
#include "conf/conf_table.h"
#include "conf/conf_value.h"
#include "conf/conf_value_int.h"
#include "util/base64.h"
#include "util/str.h"

#ifndef nitems
#define nitems(a)	(sizeof(a) / sizeof((a)[0]))
#endif

/*
 * The CA bundle is only named here (tls_ctx loads it), but a typo found at
 * load time is an error message; found at the first connection it is mail
 * that cannot be delivered.
 */
int
cval_cafile(const char *val, char *why, size_t wlen)
{
	struct stat	 st;

	/* the daemon may change directory; a relative path would move */
	if (val[0] != '/') {
		(void)snprintf(why, wlen,
		    "must be \"system\", \"none\" or an absolute path");
		return -1;
	}
	if (stat(val, &st) == -1) {
		(void)snprintf(why, wlen, "%s", strerror(errno));
		return -1;
	}
	/* OpenSSL's CAfile/CApath split: a directory is ca_path's job */
	if (S_ISDIR(st.st_mode)) {
		(void)snprintf(why, wlen, "a directory; ca_file takes one PEM "
		    "bundle: use ca_path = %s for a directory of hashed "
		    "certificates", val);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		(void)snprintf(why, wlen, "not a regular file");
		return -1;
	}
	if (access(val, R_OK) == -1)
		return cval_unreadable(why, wlen);
	return 0;
}

/* pin_sha256: each item the base64 of a 32-byte SHA-256 digest */
int
cval_pins(const struct conf_key *k, void *base, const char *val, char *why,
    size_t wlen)
{
	unsigned char	 pins[CONF_MAX_PINS][CONF_PIN_LEN], d[48];
	char		 copy[CONF_TEXT_MAX], q[64], *items[16];
	ssize_t		 len;
	int		 i, count;
	size_t		 n;

	if ((count = cval_split(val, copy, sizeof(copy), items,
	    (int)nitems(items), why, wlen)) == -1)
		return -1;
	if ((unsigned long long)count > k->max) {
		(void)snprintf(why, wlen, "more than %llu pins", k->max);
		return -1;
	}
	for (i = 0; i < count; i++) {
		len = base64_decode(items[i], strlen(items[i]), d, sizeof(d));
		/* a hex fingerprint or a SHA-1 pin is a different thing */
		if (len != CONF_PIN_LEN) {
			(void)snprintf(why, wlen, "\"%s\": not the base64 of "
			    "a SHA-256 digest (44 characters)",
			    conf_quote(q, sizeof(q), items[i]));
			return -1;
		}
		memcpy(pins[i], d, CONF_PIN_LEN);
	}
	if (count > 0)
		memcpy((char *)base + k->off, pins,
		    (size_t)count * CONF_PIN_LEN);
	n = (size_t)count;
	memcpy((char *)base + k->noff, &n, sizeof(n));
	return 0;
}

/*
 * ciphers (TLS 1.2) and ciphersuites (TLS 1.3): ':'-separated names.  The
 * library checks that it knows them; here, that each list holds only its
 * own kind, that no OpenSSL-style keyword ("ALL", "!aNULL", "@SECLEVEL")
 * slips in, and that nothing known to be broken is asked for: this build
 * has RC4, NULL, anonymous and DES suites compiled in.
 */
int
cval_ciphers(const struct conf_key *k, void *base, const char *val,
    char *why, size_t wlen)
{
	static const char *const weak[] = {
		"NULL", "RC4", "DES", "EXP", "ANON", "ADH", "AECDH", "MD5",
		NULL
	};
	char		 copy[CONF_TEXT_MAX], item[CONF_TEXT_MAX], q[64];
	char		*p, *colon;
	size_t		 i, j;
	int		 tls13;

	if (*val == '\0')
		goto store;
	if (str_copy(copy, val, sizeof(copy)) == -1) {
		(void)snprintf(why, wlen, "list too long");
		return -1;
	}
	for (p = copy;; p = colon + 1) {
		if ((colon = strchr(p, ':')) != NULL)
			*colon = '\0';
		if (*p == '\0') {
			(void)snprintf(why, wlen, "empty item in list");
			return -1;
		}
		(void)conf_quote(q, sizeof(q), p);
		if (strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuv"
		    "wxyz0123456789-_") != strlen(p) ||
		    strpbrk(p, "-_") == NULL) {
			(void)snprintf(why, wlen, "\"%s\": not a cipher "
			    "name (keywords and operators are not supported)", q);
			return -1;
		}
		tls13 = strncmp(p, "TLS13-", 6) == 0 || strncmp(p, "TLS_", 4) == 0;
		if (k->type == KT_CIPHERS12 && tls13) {
			(void)snprintf(why, wlen, "\"%s\": a TLS 1.3 suite; "
			    "list it in ciphersuites", q);
			return -1;
		}
		if (k->type == KT_CIPHERS13 && !tls13) {
			(void)snprintf(why, wlen, "\"%s\": not a TLS 1.3 suite "
			    "(TLS13-... or TLS_...); TLS 1.2 ciphers go in "
			    "ciphers", q);
			return -1;
		}
		for (i = 0; p[i] != '\0'; i++)
			item[i] = (char)((p[i] >= 'a' && p[i] <= 'z') ?
			    p[i] - 'a' + 'A' : p[i]);
		item[i] = '\0';
		for (j = 0; weak[j] != NULL; j++)
			if (strstr(item, weak[j]) != NULL) {
				(void)snprintf(why, wlen, "\"%s\": weak or "
				    "unauthenticated ciphers are not allowed",
				    q);
				return -1;
			}
		if (colon == NULL)
			break;
	}
store:
	if (str_copy((char *)base + k->off, val, k->size) == -1) {
		(void)snprintf(why, wlen, "longer than %zu characters",
		    k->size - 1);
		return -1;
	}
	return 0;
}

/*
 * tls_min_version: only "1.2" and "1.3".  Older names get their own message
 * so that nobody reads "must be 1.2 or 1.3" as a typo to work around.
 */
int
cval_tlsver(const char *val, int *out, char *why, size_t wlen)
{
	static const char *const old[] = {
		"1", "1.0", "1.1", "tls1", "tls1.0", "tls1.1", "tlsv1",
		"tlsv1.0", "tlsv1.1", "ssl2", "ssl3", "sslv2", "sslv3", NULL
	};
	size_t	 i;

	if (strcmp(val, "1.2") == 0) {
		*out = CONF_TLS_V12;
		return 0;
	}
	if (strcmp(val, "1.3") == 0) {
		*out = CONF_TLS_V13;
		return 0;
	}
	for (i = 0; old[i] != NULL; i++)
		if (str_ieq(val, old[i])) {
			(void)snprintf(why, wlen,
			    "TLS versions before 1.2 are not supported");
			return -1;
		}
	(void)snprintf(why, wlen, "must be 1.2 or 1.3");
	return -1;
}
