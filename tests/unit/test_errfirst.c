/*
 * test_errfirst - the first error kept (cut to fit), the others passed
 * on, the first too when asked, nothing passed on without a callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "util/errfirst.h"

/* what the pass-on callback saw, joined by '|' */
struct seen {
	char	text[256];
	int	n;
};

static void
on_msg(void *arg, const char *msg)
{
	struct seen	*s = arg;
	size_t		 l = strlen(s->text);

	(void)snprintf(s->text + l, sizeof(s->text) - l, "%s%s",
	    s->n++ > 0 ? "|" : "", msg);
}

static const struct {
	const char	*name;
	int		 fn_first;
	size_t		 len;		/* of the kept buffer */
	const char	*kept;
	const char	*passed;
} cases[] = {
	{ "the others logged", 0, 64, "one", "two|three" },
	{ "all passed on", 1, 64, "one", "one|two|three" },
	{ "the first cut, never overrun", 0, 3, "on", "two|three" },
};

static void
test_cases(void **state)
{
	struct errfirst	 e;
	struct seen	 s;
	char		 buf[64];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&s, 0, sizeof(s));
		memset(buf, 'x', sizeof(buf));
		errfirst_init(&e, buf, cases[i].len, on_msg, &s,
		    cases[i].fn_first);
		assert_string_equal(buf, "");
		errfirst_cb(&e, "one");
		errfirst_cb(&e, "two");
		errfirst_cb(&e, "three");
		if (strcmp(buf, cases[i].kept) != 0 ||
		    strcmp(s.text, cases[i].passed) != 0)
			fail_msg("%s: kept \"%s\" passed \"%s\", want \"%s\" "
			    "\"%s\"", cases[i].name, buf, s.text,
			    cases[i].kept, cases[i].passed);
		/* nothing written past len */
		if (cases[i].len < sizeof(buf))
			assert_int_equal(buf[cases[i].len], 'x');
		assert_int_equal(e.n, 3);
	}
}

/* without a callback the first is still kept, the rest dropped */
static void
test_no_fn(void **state)
{
	struct errfirst	 e;
	char		 buf[16];

	(void)state;
	errfirst_init(&e, buf, sizeof(buf), NULL, NULL, 1);
	errfirst_cb(&e, "first");
	errfirst_cb(&e, "second");
	assert_string_equal(buf, "first");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_no_fn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
