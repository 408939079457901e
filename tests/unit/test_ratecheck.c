/*
 * test_ratecheck - the listener's rate limits over the GCRA table:
 * rate_user_messages counts one user whatever the case of the name it
 * logged in with (an upstream that takes "Alice" for "alice" must not
 * give each spelling its own budget).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <string.h>

#include "conf/conf.h"
#include "net/ratecheck.h"

static struct sockaddr_in
peer(const char *ip)
{
	struct sockaddr_in	 sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

static void
test_user_case(void **state)
{
	static struct conf_listener	 l;
	struct sockaddr_in		 a = peer("192.0.2.1"),
					 b = peer("192.0.2.2"),
					 c = peer("192.0.2.3");
	const char			*r;

	(void)state;
	(void)strcpy(l.name, "case");
	l.rate_user_messages.count = 1;
	l.rate_user_messages.period = 3600;
	assert_null(ratecheck_mail(&l, (struct sockaddr *)&a,
	    "Alice@Example.org"));
	r = ratecheck_mail(&l, (struct sockaddr *)&b, "alice@example.org");
	assert_non_null(r);
	assert_string_equal(r, "rate_user_messages");
	r = ratecheck_mail(&l, (struct sockaddr *)&c, "ALICE@EXAMPLE.ORG");
	assert_non_null(r);
	/* another user still has its own budget */
	assert_null(ratecheck_mail(&l, (struct sockaddr *)&c,
	    "bob@example.org"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_case),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
