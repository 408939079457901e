/*
 * fuzz_proxyproto - the PROXY protocol header parser, proxyproto_parse().
 *
 * The input is what a connection's first octets could be, parsed with
 * each accept mask (v1, v2, both).
 *
 * Invariants: DONE gives a length within the input and the version's
 * bound, a v1 header ends in CRLF, a non-local result has a source
 * address of AF_INET or AF_INET6 with a matching length; ERROR gives a
 * reason; every proper prefix of a DONE header is NEED_MORE (so the
 * caller may consume it), and the same header followed by any octets is
 * DONE with the same length (nothing after the header is taken); a
 * result is the same whether or not octets follow an incomplete input.
 */
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "fuzz.h"
#include "net/proxyproto.h"

static void
check_done(const uint8_t *data, size_t size, int accept,
    const struct proxy_hdr *h)
{
	struct proxy_hdr	 h2;
	const char		*why;
	size_t			 k;

	FUZZ_CHECK(h->len > 0 && h->len <= size, "len %zu of %zu", h->len,
	    size);
	FUZZ_CHECK(h->version == 1 || h->version == 2, "version %d",
	    h->version);
	if (h->version == 1) {
		FUZZ_CHECK(h->len <= PROXY_V1_MAX, "v1 len %zu", h->len);
		FUZZ_CHECK(h->len >= 2 && data[h->len - 2] == '\r' &&
		    data[h->len - 1] == '\n', "v1 without CRLF");
	} else
		FUZZ_CHECK(h->len <= PROXY_MAX_LEN, "v2 len %zu", h->len);
	if (!h->local) {
		FUZZ_CHECK((h->src.ss_family == AF_INET &&
		    h->srclen == sizeof(struct sockaddr_in)) ||
		    (h->src.ss_family == AF_INET6 &&
		    h->srclen == sizeof(struct sockaddr_in6)),
		    "family %d len %u", h->src.ss_family, (unsigned)h->srclen);
		FUZZ_CHECK(h->dst.ss_family == h->src.ss_family,
		    "mixed families");
	}
	for (k = 0; k < h->len; k++)
		FUZZ_CHECK(proxyproto_parse(data, k, accept, &h2, &why) ==
		    PROXY_NEED_MORE, "prefix %zu of %zu not NEED_MORE", k,
		    h->len);
	FUZZ_CHECK(proxyproto_parse(data, h->len, accept, &h2, &why) ==
	    PROXY_DONE && h2.len == h->len, "header alone differs");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int	 masks[] = { PROXY_ACCEPT_V1, PROXY_ACCEPT_V2,
				    PROXY_ACCEPT_V1 | PROXY_ACCEPT_V2 };
	struct proxy_hdr	 h;
	const char		*why;
	enum proxy_result	 r;
	size_t			 i;

	for (i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		why = NULL;
		r = proxyproto_parse(data, size, masks[i], &h, &why);
		switch (r) {
		case PROXY_DONE:
			check_done(data, size, masks[i], &h);
			break;
		case PROXY_ERROR:
			FUZZ_CHECK(why != NULL && why[0] != '\0',
			    "error without a reason");
			break;
		case PROXY_NEED_MORE:
			FUZZ_CHECK(size < PROXY_MAX_LEN, "NEED_MORE at %zu",
			    size);
			break;
		default:
			FUZZ_CHECK(0, "result %d", r);
		}
	}
	return 0;
}
