/*
 * fuzz_gsslayer - the server's unwrapped security layer offer (RFC 4752)
 * and the answer built from an authorization identity: any bytes parse
 * or are refused, and the answer is always "no security layer", size 0,
 * followed by exactly the identity.
 */
#include <string.h>

#include "auth/gsslayer.h"
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char	 out[4 + GSSLAYER_AUTHZ_MAX];
	char		 authz[GSSLAYER_AUTHZ_MAX + 8];
	const char	*e;
	unsigned	 layers = 0;
	uint32_t	 max = 0;
	size_t		 n = 0, alen;

	e = gsslayer_parse(data, size, &layers, &max);
	if (e == NULL) {
		FUZZ_CHECK(size == 4, "accepted %zu octets", size);
		FUZZ_CHECK(layers & GSSLAYER_NONE, "layers 0x%x", layers);
		FUZZ_CHECK(max <= 0xffffff, "max %u", (unsigned)max);
	}
	alen = size < sizeof(authz) - 1 ? size : sizeof(authz) - 1;
	memcpy(authz, data, alen);
	authz[alen] = '\0';
	e = gsslayer_answer(authz, out, sizeof(out), &n);
	if (e == NULL) {
		FUZZ_CHECK(n == 4 + strlen(authz), "length %zu", n);
		FUZZ_CHECK(memcmp(out, "\x01\x00\x00\x00", 4) == 0,
		    "not 'no layer, size 0'");
		FUZZ_CHECK(memchr(out + 4, '\n', n - 4) == NULL &&
		    memchr(out + 4, '\r', n - 4) == NULL, "CR or LF");
	}
	return 0;
}
