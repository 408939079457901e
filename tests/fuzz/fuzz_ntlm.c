/*
 * fuzz_ntlm - the upstream's NTLM CHALLENGE (type 2) message, decoded,
 * through ntlm_parse_type2 and the AUTHENTICATE message built from it.
 *
 * Input: the type 2 message's octets.
 *
 * Invariants: an accepted message keeps a target info within its
 * bounds, and the answer is a base64 line whose decoded type 3 message
 * carries that target info inside its NTLMv2 response; a refused one
 * yields no answer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_mech.h"
#include "util/base64.h"
#include "fuzz.h"

static char		 out[SASL_LINE_MAX];
static unsigned char	 dec[SASL_LINE_MAX];

/* LLVMFuzzerTestOneInput - one type 2 message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_cred	 cr = { .user = "DOM\\user", .password = "pass w\xc3\xb6rd",
	    .host = "h", .port = 25 };
	struct ntlm_challenge	 c;
	struct sasl_state	 st;
	const char		*e, *e2;
	ssize_t			 n;

	e = ntlm_parse_type2(data, size, &c);
	if (e == NULL)
		FUZZ_CHECK(c.tinfolen <= size && c.tinfolen <= sizeof(c.tinfo),
		    "target info %zu of %zu", c.tinfolen, size);
	memset(&st, 0, sizeof(st));
	memset(st.rnd, 0x42, sizeof(st.rnd));
	st.now = 1700000000;
	FUZZ_CHECK(ntlm_start(&cr, &st, out, sizeof(out)) == NULL, "start");
	out[0] = '\0';
	e2 = ntlm_step(1, &cr, &st, data, size, out, sizeof(out));
	FUZZ_CHECK((e == NULL) == (e2 == NULL), "parse %s, step %s",
	    e ? e : "ok", e2 ? e2 : "ok");
	if (e2 == NULL) {
		n = base64_decode(out, strlen(out), dec, sizeof(dec));
		FUZZ_CHECK(n >= 64 + 24 + 48 + (ssize_t)c.tinfolen,
		    "type 3 of %zd octets", n);
		FUZZ_CHECK(memcmp(dec, "NTLMSSP\0\3\0\0\0", 12) == 0,
		    "not a type 3 message");
		FUZZ_CHECK(memcmp(dec + n - 4 - c.tinfolen, c.tinfo,
		    c.tinfolen) == 0, "target info not in the response");
	}
	sasl_state_clear(&st);
	return 0;
}
