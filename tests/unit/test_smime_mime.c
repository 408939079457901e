/*
 * test_smime_mime - the MIME structure of S/MIME messages (smime_mime.c)
 * and the recipient file names (relay/smime_keys.c, smime_cert_name).
 *
 * The header split: a table of messages, each with the outer fields and
 * the signed entity it must give (or the reason it is refused).  The
 * multipart/signed and application/pkcs7-mime entities and the message
 * put together, byte for byte.  Bounds: each output fits the size its
 * *_max() helper promises, and a buffer one octet too small is refused,
 * never cut.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "relay/smime_keys.h"
#include "smime/smime_mime.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define CTD		"Content-Type: text/plain; charset=us-ascii\r\n"

struct split_case {
	const char	*name;
	const char	*msg;
	const char	*outer;		/* NULL: refused */
	const char	*inner;		/* or the reason */
};

static const struct split_case split_cases[] = {
	{ "plain text with MIME headers",
	  "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n"
	  "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\nbody\r\n",
	  "From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n",
	  "Content-Type: text/plain; charset=utf-8\r\n"
	  "Content-Transfer-Encoding: 8bit\r\n\r\nbody\r\n" },
	{ "no Content-Type: the default written inside",
	  "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n",
	  "From: a@example.com\r\nSubject: hi\r\n",
	  CTD "\r\nbody\r\n" },
	{ "folded fields keep their folding, either side",
	  "Subject: a\r\n long\r\n\tsubject\r\nContent-Type: multipart/mixed;"
	  "\r\n boundary=\"b\"\r\nX-Mailer: x\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
	  "Subject: a\r\n long\r\n\tsubject\r\nX-Mailer: x\r\n",
	  "Content-Type: multipart/mixed;\r\n boundary=\"b\"\r\n\r\n"
	  "--b\r\n\r\nx\r\n--b--\r\n" },
	{ "any case; Content-* only, not Contents or Content alone",
	  "content-type: text/html\r\nCONTENT-ID: <x@y>\r\nContent: no\r\n"
	  "Contents: no\r\nmime-version: 1.0\r\n\r\n<p>\r\n",
	  "Content: no\r\nContents: no\r\n",
	  "content-type: text/html\r\nCONTENT-ID: <x@y>\r\n\r\n<p>\r\n" },
	{ "no body",
	  "From: a@example.com\r\nSubject: x\r\n",
	  "From: a@example.com\r\nSubject: x\r\n",
	  CTD "\r\n" },
	{ "empty body after the empty line",
	  "From: a@example.com\r\n\r\n",
	  "From: a@example.com\r\n", CTD "\r\n" },
	{ "no header fields",
	  "\r\njust a body\r\n", "", CTD "\r\njust a body\r\n" },
	{ "blank before the colon",
	  "Subject : x\r\nContent-Type : text/plain\r\n\r\nb\r\n",
	  "Subject : x\r\n", "Content-Type : text/plain\r\n\r\nb\r\n" },
	{ "a folded line first", " x: y\r\n\r\nb\r\n", NULL,
	  "the header block starts with a folded line" },
	{ "a line without a colon", "From: a\r\nnot a field\r\n\r\nb\r\n",
	  NULL, "a header line without a colon" },
	{ "an empty name", ": x\r\n\r\nb\r\n", NULL,
	  "a header field without a name" },
	{ "a blank inside the name", "Content Type: x\r\n\r\nb\r\n", NULL,
	  "a header field name with a character outside RFC 5322's" },
	{ "Content- alone stays outside", "Content-: x\r\n\r\nb\r\n",
	  "Content-: x\r\n", CTD "\r\nb\r\n" },
	{ "cut inside a field", "From: a\r\nSubject: x", NULL,
	  "the message ends inside a header field" },
};

static void
test_split(void **state)
{
	const struct split_case	*c;
	struct buf		 outer, inner;
	const char		*why;
	size_t			 i, len;

	(void)state;
	for (i = 0; i < NELEM(split_cases); i++) {
		c = &split_cases[i];
		len = strlen(c->msg);
		buf_init(&outer, smime_split_max(len));
		buf_init(&inner, smime_split_max(len));
		why = smime_split(c->msg, len, &outer, &inner);
		if (c->outer == NULL) {
			if (why == NULL || strcmp(why, c->inner) != 0)
				fail_msg("%s: want \"%s\", got \"%s\"", c->name,
				    c->inner, why != NULL ? why : "(ok)");
		} else {
			if (why != NULL)
				fail_msg("%s: refused: %s", c->name, why);
			if (buf_len(&outer) != strlen(c->outer) ||
			    (buf_len(&outer) > 0 && memcmp(buf_data(&outer),
			    c->outer, strlen(c->outer)) != 0))
				fail_msg("%s: outer \"%.*s\"", c->name,
				    (int)buf_len(&outer), buf_data(&outer));
			if (buf_len(&inner) != strlen(c->inner) ||
			    memcmp(buf_data(&inner), c->inner,
			    strlen(c->inner)) != 0)
				fail_msg("%s: inner \"%.*s\"", c->name,
				    (int)buf_len(&inner), buf_data(&inner));
		}
		buf_release(&outer);
		buf_release(&inner);
	}
}

/* a bound one short is refused, never cut */
static void
test_split_bound(void **state)
{
	const char	*m = "From: a\r\n\r\nbody\r\n";
	struct buf	 outer, inner;

	(void)state;
	buf_init(&outer, 64);
	buf_init(&inner, strlen(CTD "\r\nbody\r\n") - 1);
	assert_string_equal(smime_split(m, strlen(m), &outer, &inner),
	    "out of room");
	buf_release(&outer);
	buf_release(&inner);
}

static const char signed_want[] =
	"Content-Type: multipart/signed;\r\n"
	" protocol=\"application/pkcs7-signature\"; micalg=sha-256;\r\n"
	" boundary=\"b-1\"\r\n"
	"\r\n"
	"This is an S/MIME signed message.\r\n"
	"\r\n"
	"--b-1\r\n"
	"Content-Type: text/plain\r\n\r\nhi\r\n"
	"\r\n"
	"--b-1\r\n"
	"Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n"
	"Content-Transfer-Encoding: base64\r\n"
	"Content-Disposition: attachment; filename=\"smime.p7s\"\r\n"
	"Content-Description: S/MIME Cryptographic Signature\r\n"
	"\r\n"
	"AAEC\r\n"
	"\r\n"
	"--b-1--\r\n";

static void
test_signed(void **state)
{
	const char		*inner = "Content-Type: text/plain\r\n\r\nhi\r\n";
	const unsigned char	 sig[3] = { 0, 1, 2 };
	struct buf		 out;

	(void)state;
	buf_init(&out, smime_signed_max(strlen(inner), sizeof(sig)));
	assert_null(smime_signed(inner, strlen(inner), sig, sizeof(sig),
	    "b-1", &out));
	assert_int_equal(buf_len(&out), strlen(signed_want));
	assert_memory_equal(buf_data(&out), signed_want, strlen(signed_want));
	buf_release(&out);
	/* the bound is exact enough: one short of the output is refused */
	buf_init(&out, strlen(signed_want) - 1);
	assert_string_equal(smime_signed(inner, strlen(inner), sig,
	    sizeof(sig), "b-1", &out), "out of room");
	buf_release(&out);
	/* a boundary found in the content, bad boundaries */
	buf_init(&out, 4096);
	assert_string_equal(smime_signed("x\r\n--b-1\r\n", 10, sig, 3, "b-1",
	    &out), "the boundary occurs in the content");
	assert_non_null(smime_signed(inner, strlen(inner), sig, 3, "", &out));
	assert_non_null(smime_signed(inner, strlen(inner), sig, 3, "a b",
	    &out));
	assert_non_null(smime_signed(inner, strlen(inner), sig, 3, "a\"b",
	    &out));
	buf_release(&out);
}

#define HEAD	"Content-Type: application/pkcs7-mime; " \
	"smime-type=enveloped-data;\r\n name=\"smime.p7m\"\r\n" \
	"Content-Transfer-Encoding: base64\r\n"

static void
test_enveloped(void **state)
{
	unsigned char	 der[120];
	struct buf	 out;
	const char	*p, *e, *body;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(der); i++)
		der[i] = (unsigned char)(i * 7);
	buf_init(&out, smime_enveloped_max(sizeof(der)));
	assert_null(smime_enveloped(der, sizeof(der), &out));
	assert_true(buf_append(&out, "", 1) == 0);	/* NUL for strstr */
	p = buf_data(&out);
	assert_true(strncmp(p, HEAD, strlen(HEAD)) == 0);
	body = strstr(p, "\r\n\r\n");
	assert_non_null(body);
	/* 120 octets: two lines of 76 and one of 8 */
	body += 4;
	e = strstr(body, "\r\n");
	assert_int_equal(e - body, 76);
	e = strstr(e + 2, "\r\n");
	assert_int_equal(e - body, 76 + 2 + 76);
	assert_int_equal(strlen(e + 2), 8 + 2);
	buf_release(&out);
}

static void
test_message(void **state)
{
	const char	*outer = "From: a\r\nSubject: s\r\n";
	const char	*ent = "Content-Type: text/plain\r\n\r\nx\r\n";
	const char	*want = "From: a\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
			    "Content-Type: text/plain\r\n\r\nx\r\n";
	struct buf	 out;

	(void)state;
	buf_init(&out, smime_message_max(strlen(outer), strlen(ent)));
	assert_null(smime_message(outer, strlen(outer), ent, strlen(ent),
	    &out));
	assert_int_equal(buf_len(&out), strlen(want));
	assert_memory_equal(buf_data(&out), want, strlen(want));
	buf_release(&out);
}

static void
test_cert_name(void **state)
{
	static const struct {
		const char	*file;
		int		 rc;
		const char	*addr;
	} t[] = {
		{ "user@example.org.pem", 1, "user@example.org" },
		{ "a.b+c@sub.example.org.pem", 1, "a.b+c@sub.example.org" },
		{ "README", 0, NULL },
		{ ".hidden@example.org.pem", 0, NULL },
		{ "user@example.org.crt", 0, NULL },
		{ ".pem", 0, NULL },
		{ "User@example.org.pem", -1, NULL },
		{ "user@EXAMPLE.org.pem", -1, NULL },
		{ "ca-bundle.pem", -1, NULL },
		{ "@example.org.pem", -1, NULL },
		{ "user@.pem", -1, NULL },
	};
	char		 out[CONF_ADDR_MAX];
	const char	*why;
	size_t		 i;
	int		 rc;

	(void)state;
	for (i = 0; i < NELEM(t); i++) {
		rc = smime_cert_name(t[i].file, out, sizeof(out), &why);
		if (rc != t[i].rc)
			fail_msg("%s: want %d, got %d", t[i].file, t[i].rc, rc);
		if (rc == 1)
			assert_string_equal(out, t[i].addr);
		if (rc == -1)
			assert_non_null(why);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_split_bound),
		cmocka_unit_test(test_signed),
		cmocka_unit_test(test_enveloped),
		cmocka_unit_test(test_message),
		cmocka_unit_test(test_cert_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
