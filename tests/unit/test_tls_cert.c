/*
 * test_tls_cert.c - the certificate DER reader and the RFC 6125 host-name
 * matcher (tls_cert.c, tls_name.c).
 *
 * The reader is run on certificates made by openssl (tls_cert_vectors.h):
 * the SubjectPublicKeyInfo it finds hashes to openssl's pin for RSA,
 * Ed25519 and P-256 keys (RSA was the bug: wolfSSL_i2d_PUBKEY gave
 * PKCS#1), key sizes, signature hashes (SHA-1, RSASSA-PSS defaulting to
 * SHA-1), names; and on every truncation and many corruptions of them,
 * where it must refuse or stay inside the input.  The matcher runs a
 * table of got/want cases, including the ones wolfSSL got wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include "tls/tls_cert.h"
#include "util/base64.h"
#include "tls_cert_vectors.h"

struct vec {
	const char		*name;
	const unsigned char	*der;
	size_t			 len;
	const char		*pin;		/* openssl's */
	enum tls_key_type	 key;
	unsigned		 bits;
	enum tls_sig_hash	 sig;
	size_t			 ndns, nip;
	const char		*cn;
};

#define V(n)	#n, v_##n, sizeof(v_##n)

static const struct vec vecs[] = {
	{ V(rsa), "qQrdzZejqo9upc8uMPwumU2R/glEunFCgB/cbOGOfcw=",
	    TLS_KEY_RSA, 2048, TLS_SIG_OTHER, 2, 2, "mail.test" },
	{ V(ed), "umjTUvgwZ4TRQEHf9RE4D3d8pVLqk+nwNXUinLCZyg0=",
	    TLS_KEY_ED25519, 0, TLS_SIG_OTHER, 2, 2, "mail.test" },
	{ V(p256sha1), "P6JqQbLwBx126z9XhGhzdPdDMkLQGeLoQa3PuQu8UUs=",
	    TLS_KEY_EC, 0, TLS_SIG_SHA1, 2, 2, "mail.test" },
	/* two CNs: the last one counts */
	{ V(rsa1024), "8AkL/NLq7BRUL3ezw7VpCNigSNJnOnqN6+8FAhslEvU=",
	    TLS_KEY_RSA, 1024, TLS_SIG_OTHER, 0, 0, "cn.test" },
	/* RSASSA-PSS without parameters: SHA-1 by default */
	{ V(psssha1), "Zhd+iATzF9hB14MJN15ryp1Oap6wfL0xvGo9qUW2Am4=",
	    TLS_KEY_RSA, 2048, TLS_SIG_SHA1, 0, 0, "pss.test" },
};

static void
test_vectors(void **state)
{
	struct tls_cert_facts	 f;
	unsigned char		 h[WC_SHA256_DIGEST_SIZE];
	char			 b64[64];
	const char		*err;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		const struct vec *v = &vecs[i];

		err = tls_cert_parse(v->der, v->len, &f);
		if (err != NULL)
			fail_msg("%s: refused: %s", v->name, err);
		assert_int_equal(wc_Sha256Hash(f.spki.p, (word32)f.spki.len, h),
		    0);
		assert_int_not_equal(base64_encode(h, sizeof(h), b64,
		    sizeof(b64)), -1);
		if (strcmp(b64, v->pin) != 0)
			fail_msg("%s: pin got %s want %s", v->name, b64, v->pin);
		if (f.key != v->key || f.rsa_bits != v->bits ||
		    f.sighash != v->sig)
			fail_msg("%s: key %d/%u sig %d, want %d/%u sig %d",
			    v->name, f.key, f.rsa_bits, f.sighash, v->key,
			    v->bits, v->sig);
		if (f.ndns != v->ndns || f.nip != v->nip)
			fail_msg("%s: %zu dns %zu ip, want %zu %zu", v->name,
			    f.ndns, f.nip, v->ndns, v->nip);
		if (f.cn.len != strlen(v->cn) ||
		    memcmp(f.cn.p, v->cn, f.cn.len) != 0)
			fail_msg("%s: cn \"%.*s\" want %s", v->name,
			    (int)f.cn.len, f.cn.p, v->cn);
		assert_true(f.spki.p > v->der &&
		    f.spki.p + f.spki.len < v->der + v->len);
		assert_int_equal(f.spki.p[0], 0x30);
		assert_int_equal(f.has_san, v->ndns > 0);
	}
}

/* every prefix of a certificate is refused */
static void
test_truncated(void **state)
{
	struct tls_cert_facts	 f;
	size_t			 i, n;

	(void)state;
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++)
		for (n = 0; n < vecs[i].len; n++)
			if (tls_cert_parse(vecs[i].der, n, &f) == NULL)
				fail_msg("%s: prefix of %zu octets accepted",
				    vecs[i].name, n);
	assert_non_null(tls_cert_parse(NULL, 0, &f));
}

/* corrupted octets: refused, or every span inside the input */
static void
test_corrupted(void **state)
{
	struct tls_cert_facts	 f;
	unsigned char		 buf[1024];
	const unsigned char	*lo, *hi;
	size_t			 i, pos, k, len;
	static const unsigned char vals[] = { 0x00, 0x7f, 0x80, 0x81, 0x84,
	    0x85, 0xff };

	(void)state;
	for (i = 0; i < sizeof(vecs) / sizeof(vecs[0]); i++) {
		len = vecs[i].len;
		assert_true(len <= sizeof(buf));
		for (pos = 0; pos < len; pos++)
			for (k = 0; k < sizeof(vals); k++) {
				memcpy(buf, vecs[i].der, len);
				buf[pos] = vals[k];
				if (tls_cert_parse(buf, len, &f) != NULL)
					continue;
				lo = buf;
				hi = buf + len;
				assert_true(f.spki.p >= lo &&
				    f.spki.p + f.spki.len <= hi);
				assert_true(f.ndns <= TLS_CERT_MAX_DNS &&
				    f.nip <= TLS_CERT_MAX_IP);
				if (f.cn.len > 0)
					assert_true(f.cn.p >= lo &&
					    f.cn.p + f.cn.len <= hi);
			}
	}
}

/* hand-made encodings the reader must refuse */
static void
test_bad_encodings(void **state)
{
	struct tls_cert_facts	 f;
	static const unsigned char indefinite[] = { 0x30, 0x80, 0x00, 0x00 };
	static const unsigned char huge[] = { 0x30, 0x84, 0xff, 0xff, 0xff,
	    0xff };
	static const unsigned char longlen[] = { 0x30, 0x85, 0, 0, 0, 0, 1 };
	static const unsigned char hightag[] = { 0x3f, 0x01, 0x00 };
	unsigned char		 trailing[sizeof(v_ed) + 1];

	(void)state;
	assert_non_null(tls_cert_parse(indefinite, sizeof(indefinite), &f));
	assert_non_null(tls_cert_parse(huge, sizeof(huge), &f));
	assert_non_null(tls_cert_parse(longlen, sizeof(longlen), &f));
	assert_non_null(tls_cert_parse(hightag, sizeof(hightag), &f));
	memcpy(trailing, v_ed, sizeof(v_ed));
	trailing[sizeof(v_ed)] = 0;
	assert_non_null(tls_cert_parse(trailing, sizeof(trailing), &f));
}

struct ncase {
	const char	*ref;
	const char	*pat;
	int		 want;
};

static const struct ncase dns_cases[] = {
	{ "mail.example.com", "mail.example.com", TLS_NAME_DNS },
	{ "MAIL.Example.COM", "mail.example.com", TLS_NAME_DNS },
	{ "mail.example.com.", "mail.example.com", TLS_NAME_DNS },
	{ "mail.example.com", "mail.example.com.", TLS_NAME_DNS },
	{ "mail.example.com", "mail.example.co", TLS_NAME_NONE },
	{ "mail.example.com", "ail.example.com", TLS_NAME_NONE },
	{ "mail.example.com", "", TLS_NAME_NONE },
	{ "", "mail.example.com", TLS_NAME_NONE },
	{ "a.example.com", "*.example.com", TLS_NAME_WILDCARD },
	{ "A.EXAMPLE.com", "*.Example.COM", TLS_NAME_WILDCARD },
	{ "example.com", "*.example.com", TLS_NAME_NONE },
	{ "b.a.example.com", "*.example.com", TLS_NAME_NONE },
	{ ".example.com", "*.example.com", TLS_NAME_NONE },
	/* wolfSSL accepted these */
	{ "example.com", "*.com", TLS_NAME_NONE },
	{ "a.com", "*.com", TLS_NAME_NONE },
	{ "mail.test", "*", TLS_NAME_NONE },
	{ "localhost", "*", TLS_NAME_NONE },
	{ "a.b.example.com", "a.*.example.com", TLS_NAME_NONE },
	/* partial wildcards */
	{ "foo.example.com", "f*.example.com", TLS_NAME_NONE },
	{ "foo.example.com", "*o.example.com", TLS_NAME_NONE },
	{ "foo.example.com", "**.example.com", TLS_NAME_NONE },
	{ "*.example.com", "*.example.com", TLS_NAME_NONE },
	{ "a.example.com", "*.", TLS_NAME_NONE },
	{ "a.example.com", "*.example..com", TLS_NAME_NONE },
	/* two-label public suffixes (no PSL: a short list) */
	{ "example.co.uk", "*.co.uk", TLS_NAME_NONE },
	{ "example.com.au", "*.com.au", TLS_NAME_NONE },
	{ "a.example.uk", "*.example.uk", TLS_NAME_WILDCARD },
	{ "a.example.co.uk", "*.example.co.uk", TLS_NAME_WILDCARD },
	{ "a.co.test", "*.co.test", TLS_NAME_WILDCARD },
	/* names that are not host names match nothing */
	{ "mail.ex ample.com", "mail.ex ample.com", TLS_NAME_NONE },
	{ "mail..example.com", "mail..example.com", TLS_NAME_NONE },
	{ "_dmarc.example.com", "_dmarc.example.com", TLS_NAME_DNS },
	{ "xn--bcher-kva.example", "*.example", TLS_NAME_NONE },
	{ "xn--bcher-kva.example.com", "*.example.com", TLS_NAME_WILDCARD },
	/*
	 * addresses in forms inet_pton() refuses are no names either: a
	 * resolver may still take them for 127.0.0.1
	 */
	{ "127.000.000.001", "127.000.000.001", TLS_NAME_NONE },
	{ "127.1", "127.1", TLS_NAME_NONE },
	{ "2130706433", "2130706433", TLS_NAME_NONE },
	{ "a.1.2.3", "*.1.2.3", TLS_NAME_NONE },
	{ "mail.example.com", "mail.example.com.1", TLS_NAME_NONE },
	{ "1.example.com", "1.example.com", TLS_NAME_DNS },
	{ "mail.3com", "mail.3com", TLS_NAME_DNS },
};

static void
test_dns_table(void **state)
{
	size_t	 i;
	int	 got, bad = 0;

	(void)state;
	for (i = 0; i < sizeof(dns_cases) / sizeof(dns_cases[0]); i++) {
		const struct ncase *c = &dns_cases[i];

		got = tls_name_match_dns(c->ref, (const unsigned char *)c->pat,
		    strlen(c->pat));
		if (got != c->want) {
			print_error("ref \"%s\" pat \"%s\": got %d want %d\n",
			    c->ref, c->pat, got, c->want);
			bad++;
		}
	}
	/* a NUL inside a presented name: it is not that name */
	got = tls_name_match_dns("mail.example.com",
	    (const unsigned char *)"mail.example.com\0.evil", 22);
	if (got != TLS_NAME_NONE) {
		print_error("embedded NUL matched\n");
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* facts built by hand: which identifiers count for which reference */
static void
test_identity_rules(void **state)
{
	struct tls_cert_facts	 f;
	static const unsigned char ip4[] = { 127, 0, 0, 1 };
	static const unsigned char ip6[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 1 };
	static const unsigned char mapped[] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff, 127, 0, 0, 1 };

	(void)state;
	memset(&f, 0, sizeof(f));
	/* a dNSName that looks like an address names no address */
	f.dns[0].p = (const unsigned char *)"127.0.0.1";
	f.dns[0].len = 9;
	f.ndns = 1;
	f.has_san = 1;
	assert_int_equal(tls_name_match("127.0.0.1", &f), TLS_NAME_NONE);
	/* iPAddress entries, octet for octet and of the same family */
	f.ip[0].p = ip4;
	f.ip[0].len = 4;
	f.ip[1].p = mapped;
	f.ip[1].len = 16;
	f.nip = 2;
	assert_int_equal(tls_name_match("127.0.0.1", &f), TLS_NAME_IP);
	assert_int_equal(tls_name_match("127.0.0.2", &f), TLS_NAME_NONE);
	assert_int_equal(tls_name_match("::1", &f), TLS_NAME_NONE);
	f.ip[1].p = ip6;
	assert_int_equal(tls_name_match("::1", &f), TLS_NAME_IP);
	assert_int_equal(tls_name_match("0:0::1", &f), TLS_NAME_IP);

	/* the CN of an address never counts, with or without SAN */
	memset(&f, 0, sizeof(f));
	f.cn.p = (const unsigned char *)"127.0.0.1";
	f.cn.len = 9;
	assert_int_equal(tls_name_match("127.0.0.1", &f), TLS_NAME_NONE);
	/* the CN counts only without any dNSName */
	f.cn.p = (const unsigned char *)"mail.test";
	f.cn.len = 9;
	assert_int_equal(tls_name_match("mail.test", &f), TLS_NAME_CN);
	f.ip[0].p = ip4;
	f.ip[0].len = 4;
	f.nip = 1;
	f.has_san = 1;
	assert_int_equal(tls_name_match("mail.test", &f), TLS_NAME_CN);
	f.dns[0].p = (const unsigned char *)"other.test";
	f.dns[0].len = 10;
	f.ndns = 1;
	assert_int_equal(tls_name_match("mail.test", &f), TLS_NAME_NONE);
	assert_int_equal(tls_name_match("other.test", &f), TLS_NAME_DNS);
	/* the CN follows the wildcard rules too */
	memset(&f, 0, sizeof(f));
	f.cn.p = (const unsigned char *)"*.com";
	f.cn.len = 5;
	assert_int_equal(tls_name_match("example.com", &f), TLS_NAME_NONE);
	assert_int_equal(tls_name_match(NULL, &f), TLS_NAME_NONE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_corrupted),
		cmocka_unit_test(test_bad_encodings),
		cmocka_unit_test(test_dns_table),
		cmocka_unit_test(test_identity_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
