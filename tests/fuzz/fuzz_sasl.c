/*
 * fuzz_sasl - the upstream's 334 challenges through sasl_step, for every
 * mechanism and step, and its EHLO AUTH list through sasl_offered and
 * sasl_choose.
 *
 * Input: byte 0 picks the mechanism and the step, byte 1 the choice
 * facts; the rest is the challenge text (as after "334 ").
 *
 * Invariants: an accepted challenge yields a NUL-terminated line within
 * the buffer, base64 only (no CR, LF or other control character can reach
 * the wire); a refused one leaves no line behind; the choice is offered,
 * not tried and usable, or none.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "fuzz.h"

static char	 out[SASL_LINE_MAX];

static void
check_line(const char *s, size_t max)
{
	size_t	 i, n = strnlen(s, max);

	FUZZ_CHECK(n < max, "line not terminated");
	for (i = 0; i < n; i++)
		FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
		    "qrstuvwxyz0123456789+/=", s[i]) != NULL,
		    "octet 0x%02x in a response", (unsigned char)s[i]);
}

/* LLVMFuzzerTestOneInput - one challenge, one choice */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sasl_cred	 cr = { .user = "user@example.com",
	    .password = "pass word", .token = "tok.en-_~+/=",
	    .host = "smtp.example.com", .port = 587 };
	struct sasl_choice	 ch;
	struct sasl_state	 st;
	char			*list;
	const char		*e;
	unsigned		 usable;
	int			 mech, step, fail, clear, m;

	if (size < 2)
		return 0;
	mech = data[0] % (AUTH_MECH_MAX + 1);
	step = (data[0] >> 4) % 4;
	/* the stateful mechanisms answer a challenge only after their start */
	memset(&st, 0, sizeof(st));
	memset(st.rnd, data[1], sizeof(st.rnd));
	st.now = 1700000000;
	(void)sasl_start(mech, &cr, &st, out, sizeof(out));
	memset(out, 0x5a, sizeof(out));
	e = sasl_step(mech, step, &cr, &st, (const char *)data + 2, size - 2,
	    out, sizeof(out), &fail);
	sasl_state_clear(&st);
	if (e == NULL) {
		check_line(out, sizeof(out));
		FUZZ_CHECK(fail == 0 || fail == 1, "expect_fail %d", fail);
	}

	/* the same bytes as an EHLO AUTH list */
	if ((list = malloc(size - 1)) == NULL)
		return 0;
	memcpy(list, data + 2, size - 2);
	list[size - 2] = '\0';
	memset(&ch, 0, sizeof(ch));
	ch.offered = sasl_offered(list);
	FUZZ_CHECK((ch.offered & ~((SASL_BIT(AUTH_MECH_MAX) - 1) &
	    ~SASL_BIT(AUTH_MECH_NONE))) == 0, "offered 0x%x", ch.offered);
	ch.have_token = data[1] & 1;
	ch.tls = (data[1] >> 1) & 1;
	ch.cleartext_ok = (data[1] >> 2) & 1;
	ch.tried = (unsigned)(data[1] >> 3) << 1;
	m = sasl_choose(&ch, &clear);
	/* no allow list here: only what the built-in order may pick */
	usable = sasl_usable(ch.have_token, ch.tls, ch.cleartext_ok) &
	    sasl_default_set(ch.have_token, ch.tls);
	if (m != AUTH_MECH_NONE)
		FUZZ_CHECK((ch.offered & usable & ~ch.tried & SASL_BIT(m)) != 0,
		    "chose %d from offered 0x%x tried 0x%x", m, ch.offered,
		    ch.tried);
	else
		FUZZ_CHECK((ch.offered & usable & ~ch.tried) == 0,
		    "none chosen from 0x%x", ch.offered & usable & ~ch.tried);
	FUZZ_CHECK(!clear || !ch.tls, "cleartext flag under TLS");
	free(list);
	return 0;
}
