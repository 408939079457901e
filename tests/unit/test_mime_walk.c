/*
 * test_mime_walk - the MIME structure, line by line: each message of the
 * table is fed line by line and every line's class and entity compared
 * with the expected string ("H0" header of entity 0, "E1" its end, "B2"
 * body of leaf 2, "O" other).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "smtp/mime_walk.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static const struct {
	const char	*name;
	const char	*msg;		/* lines joined by CRLF */
	const char	*want;		/* one class per line, space-separated */
	int		 signed_top;
} cases[] = {
	{ "single part",
	    "Subject: x\r\nContent-Type: text/plain\r\n\r\na\r\nb\r\n",
	    "H0 H0 E0 B0 B0", 0 },
	{ "multipart, two parts, preamble, epilogue",
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "pre\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n"
	    "--b\r\n\r\ntwo\r\n--b--\r\nepi\r\n",
	    "H0 E0 O O H1 E1 B1 O E2 B2 O O", 0 },
	{ "quoted boundary, folded, upper case",
	    "Content-Type: MULTIPART/mixed;\r\n\tBoundary=\"a b;c\"\r\n\r\n"
	    "--a b;c\r\n\r\nx\r\n--a b;c--\r\n",
	    "H0 H0 E0 O E1 B1 O", 0 },
	{ "nested",
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\n\r\np\r\n--i\r\n\r\nh\r\n--i--\r\n"
	    "--o\r\n\r\natt\r\n--o--\r\n",
	    "H0 E0 O H1 E1 O E2 B2 O E3 B3 O O E4 B4 O", 0 },
	{ "outer delimiter closes the inner multipart",
	    "Content-Type: multipart/mixed; boundary=o\r\n\r\n"
	    "--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n"
	    "--i\r\n\r\np\r\n--o\r\n\r\nq\r\n--i\r\n--o--\r\n",
	    "H0 E0 O H1 E1 O E2 B2 O E3 B3 B3 O", 0 },
	{ "delimiter with padding; lookalikes are body",
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
	    "--b \t\r\n\r\n--bx\r\n-b\r\n --b\r\n--b--  \r\nafter\r\n",
	    "H0 E0 O E1 B1 B1 B1 O O", 0 },
	{ "multipart without boundary is a leaf",
	    "Content-Type: multipart/mixed\r\n\r\n--b\r\nx\r\n",
	    "H0 E0 B0 B0", 0 },
	{ "boundary over 70 octets is not used",
	    "Content-Type: multipart/mixed; boundary="
	    "12345678901234567890123456789012345678901234567890123456789012345678901\r\n"
	    "\r\nx\r\n", "H0 E0 B0", 0 },
	{ "signed message",
	    "DKIM-Signature: v=1; a=rsa-sha256;\r\n b=x\r\nSubject: y\r\n\r\n"
	    "z\r\n", "H0 H0 H0 E0 B0", 1 },
	{ "DKIM-Signature in a part is not the message's",
	    "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
	    "DKIM-Signature: x\r\n\r\ny\r\n--b--\r\n",
	    "H0 E0 O H1 E1 B1 O", 0 },
	{ "empty header block", "\r\nbody\r\n", "E0 B0", 0 },
};

static void
test_cases(void **state)
{
	struct mime_walk	 w;
	const char		*p, *e;
	char			 got[1024];
	size_t			 n;
	unsigned		 part;
	enum mime_line		 cls;
	int			 bad = 0;
	size_t			 i;

	(void)state;
	for (i = 0; i < NELEM(cases); i++) {
		mime_walk_init(&w);
		got[0] = '\0';
		for (p = cases[i].msg; *p != '\0'; p = e + 2) {
			e = strstr(p, "\r\n");
			assert_non_null(e);
			cls = mime_walk_line(&w, p, (size_t)(e - p), &part);
			n = strlen(got);
			if (cls == ML_OTHER)
				snprintf(got + n, sizeof(got) - n, "%sO",
				    n ? " " : "");
			else
				snprintf(got + n, sizeof(got) - n, "%s%c%u",
				    n ? " " : "", cls == ML_HEADER ? 'H' :
				    cls == ML_HEADER_END ? 'E' : 'B', part);
		}
		if (strcmp(got, cases[i].want) != 0 ||
		    w.signed_top != cases[i].signed_top) {
			print_error("%s: got \"%s\" signed %d, want \"%s\" "
			    "signed %d\n", cases[i].name, got, w.signed_top,
			    cases[i].want, cases[i].signed_top);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* nesting deeper than MIME_WALK_DEPTH: the deepest is a leaf */
static void
test_depth(void **state)
{
	struct mime_walk	 w;
	char			 line[128];
	unsigned		 part;
	int			 d;

	(void)state;
	mime_walk_init(&w);
	for (d = 0; d <= MIME_WALK_DEPTH; d++) {
		snprintf(line, sizeof(line), "Content-Type: multipart/mixed; "
		    "boundary=b%d", d);
		assert_int_equal(mime_walk_line(&w, line, strlen(line), &part),
		    ML_HEADER);
		assert_int_equal(mime_walk_line(&w, "", 0, &part),
		    ML_HEADER_END);
		if (d < MIME_WALK_DEPTH) {
			snprintf(line, sizeof(line), "--b%d", d);
			assert_int_equal(mime_walk_line(&w, line, strlen(line),
			    &part), ML_OTHER);
		}
	}
	assert_int_equal(w.depth, MIME_WALK_DEPTH);
	assert_int_equal(mime_walk_line(&w, "--b8", 4, &part), ML_BODY);
	assert_int_equal(part, MIME_WALK_DEPTH);
	/* the outermost still closes everything */
	assert_int_equal(mime_walk_line(&w, "--b0--", 6, &part), ML_OTHER);
	assert_int_equal(w.depth, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_depth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
