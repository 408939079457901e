/*
 * fuzz_cert - the certificate DER reader (tls_cert_parse) and, on what it
 * finds, the host-name matcher (tls_name_match).
 *
 * The input is one DER certificate, as a server would send it.
 *
 * Invariants: a refused input leaves no promise; an accepted one has every
 * span (SubjectPublicKeyInfo, names, SAN entries, CN) inside the input,
 * the SubjectPublicKeyInfo is a SEQUENCE, counts are within their bounds
 * and an RSA key has a size; the matcher says "IP" for an address only
 * when an iPAddress entry holds its octets, never "CN" when there is a
 * dNSName, and never matches an address through a name.
 */
#include <sys/socket.h>
#include <arpa/inet.h>
#include <string.h>

#include "tls/tls_cert.h"
#include "fuzz.h"

static void	check_span(const struct tls_span *, const uint8_t *, size_t,
		    const char *);

static void
check_span(const struct tls_span *s, const uint8_t *data, size_t size,
    const char *what)
{
	if (s->len == 0)
		return;
	FUZZ_CHECK(s->p >= data && s->len <= size &&
	    s->p + s->len <= data + size, "%s outside the input", what);
}

/* LLVMFuzzerTestOneInput - the input as one DER certificate */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tls_cert_facts	 f;
	static const char *const	 refs[] = { "mail.test", "a.mx.test",
	    "localhost", "example.com", "127.0.0.1", "::1" };
	unsigned char			 a[16];
	size_t				 i, j, alen;
	int				 m, found;

	if (tls_cert_parse(data, size, &f) != NULL)
		return 0;
	FUZZ_CHECK(f.spki.len >= 2 && f.spki.p[0] == 0x30,
	    "SubjectPublicKeyInfo is no SEQUENCE");
	check_span(&f.spki, data, size, "spki");
	check_span(&f.issuer, data, size, "issuer");
	check_span(&f.subject, data, size, "subject");
	check_span(&f.cn, data, size, "cn");
	FUZZ_CHECK(f.ndns <= TLS_CERT_MAX_DNS && f.nip <= TLS_CERT_MAX_IP,
	    "%zu dns %zu ip", f.ndns, f.nip);
	FUZZ_CHECK((f.ndns == 0 && f.nip == 0) || f.has_san,
	    "names without a subjectAltName");
	for (i = 0; i < f.ndns; i++)
		check_span(&f.dns[i], data, size, "dNSName");
	for (i = 0; i < f.nip; i++)
		check_span(&f.ip[i], data, size, "iPAddress");
	FUZZ_CHECK(f.key != TLS_KEY_RSA || f.rsa_bits > 0, "RSA of 0 bits");

	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		m = tls_name_match(refs[i], &f);
		alen = inet_pton(AF_INET, refs[i], a) == 1 ? 4 :
		    inet_pton(AF_INET6, refs[i], a) == 1 ? 16 : 0;
		if (alen != 0) {
			for (found = 0, j = 0; j < f.nip; j++)
				if (f.ip[j].len == alen &&
				    memcmp(f.ip[j].p, a, alen) == 0)
					found = 1;
			FUZZ_CHECK(m == (found ? TLS_NAME_IP : TLS_NAME_NONE),
			    "%s: got %d, iPAddress found %d", refs[i], m,
			    found);
			continue;
		}
		FUZZ_CHECK(m != TLS_NAME_IP, "%s matched by an address",
		    refs[i]);
		FUZZ_CHECK(m != TLS_NAME_CN || f.ndns == 0,
		    "%s matched by the CN beside %zu dNSNames", refs[i],
		    f.ndns);
	}
	return 0;
}
