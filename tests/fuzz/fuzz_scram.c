/*
 * fuzz_scram - the upstream's SCRAM server-first and server-final
 * messages (decoded, as after base64) through scram_step.
 *
 * Input: byte 0 bit 0 picks SCRAM-SHA-1 or -256, bit 1 the message: the
 * server-first one (step 0), or the server-final one (step 1) after a
 * valid server-first; the rest is the message.  Iteration counts above 64
 * are skipped (PBKDF2 would make each run slow, not find more).
 *
 * Invariants: an accepted server-first yields a base64 line and a server
 * signature of the hash's length to expect; an accepted server-final
 * sets proved and answers an empty line; nothing else sets proved; the
 * auth message never outgrows its buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl_mech.h"
#include "fuzz.h"

static char	 out[SASL_LINE_MAX];

static int
slow_iterations(const uint8_t *d, size_t n)
{
	size_t	 i, j;
	long	 v;

	for (i = 0; i + 3 <= n; i++) {
		if (memcmp(d + i, "i=", 2) != 0)
			continue;
		for (v = 0, j = i + 2; j < n && d[j] >= '0' && d[j] <= '9' &&
		    v <= 64; j++)
			v = v * 10 + (d[j] - '0');
		if (v > 64)
			return 1;
	}
	return 0;
}

static void
check_b64(const char *s)
{
	size_t	 i, n = strnlen(s, sizeof(out));

	FUZZ_CHECK(n < sizeof(out), "line not terminated");
	for (i = 0; i < n; i++)
		FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789+/=", s[i]) != NULL,
		    "octet 0x%02x in a response", (unsigned char)s[i]);
}

/* LLVMFuzzerTestOneInput - one server message */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sf[] = "r=fuzznonceSERVER,s=c2FsdHNhbHQ=,i=2";
	struct sasl_cred	 cr = { .user = "user", .password = "pencil",
	    .host = "h", .port = 25 };
	struct sasl_state	 st;
	const char		*e;
	int			 mech, final;

	if (size < 1 || slow_iterations(data, size))
		return 0;
	mech = data[0] & 1 ? AUTH_MECH_SCRAM_SHA_256 : AUTH_MECH_SCRAM_SHA_1;
	final = data[0] & 2;
	memset(&st, 0, sizeof(st));
	e = scram_start(mech, &cr, "fuzznonce", &st, out, sizeof(out));
	FUZZ_CHECK(e == NULL, "start: %s", e);
	if (final) {
		e = scram_step(mech, 0, &cr, &st, (const uint8_t *)sf,
		    strlen(sf), out, sizeof(out));
		FUZZ_CHECK(e == NULL, "valid server-first refused: %s", e);
	}
	e = scram_step(mech, final ? 1 : 0, &cr, &st, data + 1, size - 1, out,
	    sizeof(out));
	FUZZ_CHECK(st.scram_msglen < sizeof(st.scram_msg), "auth message %zu",
	    st.scram_msglen);
	if (e == NULL && !final) {
		check_b64(out);
		FUZZ_CHECK(st.scram_siglen == (mech == AUTH_MECH_SCRAM_SHA_256 ?
		    32u : 20u), "signature length %zu", st.scram_siglen);
	}
	if (e == NULL && final)
		FUZZ_CHECK(st.proved && out[0] == '\0', "final accepted");
	if (e != NULL)
		FUZZ_CHECK(!st.proved, "proved by a refused message");
	sasl_state_clear(&st);
	return 0;
}
