/*
 * test_gsslayer - RFC 4752's security layer messages: the server's offer
 * parsed, the client's "no security layer" answer built.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "auth/gsslayer.h"

static void
test_parse_offers(void **state)
{
	/* Dovecot's offer: every layer, 16 MiB - 1 */
	const unsigned char	 all[4] = { 0x07, 0xff, 0xff, 0xff };
	const unsigned char	 none[4] = { 0x01, 0x00, 0x00, 0x00 };
	const unsigned char	 size[4] = { 0x01, 0x01, 0x02, 0x03 };
	unsigned		 layers;
	uint32_t		 max;

	(void)state;
	assert_null(gsslayer_parse(all, 4, &layers, &max));
	assert_int_equal(layers, 7);
	assert_int_equal(max, 0xffffff);
	assert_null(gsslayer_parse(none, 4, &layers, &max));
	assert_int_equal(layers, GSSLAYER_NONE);
	assert_int_equal(max, 0);
	assert_null(gsslayer_parse(size, 4, &layers, &max));
	assert_int_equal(max, 0x010203);
}

static void
test_parse_refused(void **state)
{
	/* integrity or confidentiality only: no layer-less choice for us */
	const unsigned char	 integ[4] = { 0x02, 0x00, 0x10, 0x00 };
	const unsigned char	 conf[4] = { 0x06, 0x00, 0x10, 0x00 };
	const unsigned char	 longer[5] = { 0x01, 0, 0, 0, 'x' };
	unsigned		 layers;
	uint32_t		 max;

	(void)state;
	assert_non_null(strstr(gsslayer_parse(integ, 4, &layers, &max),
	    "requires a GSSAPI security layer"));
	assert_non_null(gsslayer_parse(conf, 4, &layers, &max));
	/* RFC 4752: not 4 octets long, the negotiation fails */
	assert_non_null(gsslayer_parse(longer, 5, &layers, &max));
	assert_non_null(gsslayer_parse(longer, 3, &layers, &max));
	assert_non_null(gsslayer_parse(longer, 0, &layers, &max));
}

static void
test_answer(void **state)
{
	unsigned char	 out[4 + GSSLAYER_AUTHZ_MAX];
	char		 big[GSSLAYER_AUTHZ_MAX + 2];
	size_t		 n = 99;

	(void)state;
	/* no authzid: the server derives the identity from the principal */
	assert_null(gsslayer_answer(NULL, out, sizeof(out), &n));
	assert_int_equal(n, 4);
	assert_memory_equal(out, "\x01\x00\x00\x00", 4);
	assert_null(gsslayer_answer("", out, sizeof(out), &n));
	assert_int_equal(n, 4);
	/* "no security layer", max size 0 (a MUST without a layer), authzid */
	assert_null(gsslayer_answer("relay@example.com", out, sizeof(out), &n));
	assert_int_equal(n, 4 + 17);
	assert_memory_equal(out, "\x01\x00\x00\x00relay@example.com", n);
	/* refused: CR/LF, too long, no room */
	assert_non_null(gsslayer_answer("a\r\nb", out, sizeof(out), &n));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_non_null(gsslayer_answer(big, out, sizeof(out), &n));
	assert_non_null(gsslayer_answer("abc", out, 6, &n));
	assert_null(gsslayer_answer("abc", out, 7, &n));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_offers),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
