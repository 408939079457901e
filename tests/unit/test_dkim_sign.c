/*
 * test_dkim_sign.c - the DKIM-Signature header: tags, h= selection,
 * folding, and b= checked against wolfCrypt's own verify (RSA, Ed25519).
 * Independent verifiers are in tests/dkim/test_dkim_verify.py.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "dkim/dkim_local.h"	/* wolfssl/options.h first */
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/hash.h>

#include "util/base64.h"

static char tmpdir[] = "/tmp/test_dkim_sign.XXXXXX";
static char rsapath[128], edpath[128];
static struct dkim_key *rsakey, *edkey;

static const char MSG[] =
    "Received: from x\r\n"
    "From: Joe <joe@example.com>\r\n"
    "To: a@example.org\r\n"
    "Subject: Hello\r\n"
    "\tfolded   subject\r\n"
    "To: b@example.org\r\n"
    "Date: Sun, 22 Nov 2026 16:00:00 +0000\r\n"
    "Message-ID: <1@example.com>\r\n"
    "\r\n"
    "Body line\r\n\r\n";

static int
setup(void **state)
{
	char err[256];
	int weak;

	(void)state;
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(rsapath, sizeof rsapath, "%s/rsa.pem", tmpdir);
	snprintf(edpath, sizeof edpath, "%s/ed.pem", tmpdir);
	if (dkim_keygen(DKIM_RSA_SHA256, 2048, rsapath, err, sizeof err) ||
	    dkim_keygen(DKIM_ED25519_SHA256, 0, edpath, err, sizeof err) ||
	    dkim_key_load(rsapath, &rsakey, &weak, err, sizeof err) ||
	    dkim_key_load(edpath, &edkey, &weak, err, sizeof err)) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	return 0;
}

static int
teardown(void **state)
{
	char path[160];

	(void)state;
	dkim_key_free(rsakey);
	dkim_key_free(edkey);
	unlink(rsapath);
	unlink(edpath);
	snprintf(path, sizeof path, "%s/x.pem", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return 0;
}

static void
signer_init(struct dkim_signer *s, const struct dkim_key *k)
{
	size_t i;

	memset(s, 0, sizeof *s);
	s->key = k;
	s->domain = "example.com";
	s->selector = "sel";
	s->hcanon = s->bcanon = DKIM_CANON_RELAXED;
	s->sign_date = s->sign_message_id = 1;
	for (i = 0; dkim_default_headers[i] != NULL; i++)
		s->headers[s->nheaders++] = dkim_default_headers[i];
	s->oversign[s->noversign++] = "From";
}

static struct dkim_msg *
feed(const char *m)
{
	struct dkim_msg *dm = dkim_msg_new();

	assert_non_null(dm);
	assert_int_equal(dkim_msg_write(dm, m, strlen(m)), 0);
	assert_int_equal(dkim_msg_end(dm), 0);
	return dm;
}

/* the value of tag t, FWS removed, into out */
static int
tag(const char *sig, const char *t, char *out, size_t outlen)
{
	char flat[DKIM_SIG_MAX], *p, *save = NULL;
	size_t n = 0, tl = strlen(t);
	const char *s = strchr(sig, ':') + 1;

	for (; *s; s++)
		if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
			flat[n++] = *s;
	flat[n] = '\0';
	for (p = strtok_r(flat, ";", &save); p; p = strtok_r(NULL, ";", &save))
		if (strncmp(p, t, tl) == 0 && p[tl] == '=') {
			snprintf(out, outlen, "%s", p + tl + 1);
			return 0;
		}
	return -1;
}

/*
 * Recompute the header hash the way a verifier does (h= bottom-up, then
 * the signature header with b= emptied, no final CRLF) and check b= with
 * wolfCrypt.
 */
static void
verify(const char *m, const char *sig, const struct dkim_key *k,
    enum dkim_canon hc)
{
	char h[1024], b64[1024], *name, *save = NULL, buf[4096];
	unsigned char sigbin[1024], digest[32], enc[64];
	const char *bpos;
	size_t nh = 0;
	ssize_t siglen;
	wc_Sha256 sha;
	long n;
	char names[64][64];

	assert_int_equal(tag(sig, "h", h, sizeof h), 0);
	assert_int_equal(tag(sig, "b", b64, sizeof b64), 0);
	siglen = base64_decode(b64, strlen(b64), sigbin, sizeof sigbin);
	assert_true(siglen > 0);
	assert_int_equal(wc_InitSha256(&sha), 0);
	for (name = strtok_r(h, ":", &save); name;
	    name = strtok_r(NULL, ":", &save)) {
		const char *lines[64], *p = m;
		size_t lens[64], nl = 0, skip = 0, j;

		snprintf(names[nh++], sizeof names[0], "%s", name);
		for (j = 0; j + 1 < nh; j++)
			if (strcasecmp(names[j], name) == 0)
				skip++;
		/* the instances of name, top-down */
		while (*p && !(p[0] == '\r' && p[1] == '\n')) {
			const char *e = p;

			do {
				e = strstr(e, "\r\n") + 2;
			} while (*e == ' ' || *e == '\t');
			if (strncasecmp(p, name, strlen(name)) == 0 &&
			    (p[strlen(name)] == ':' || p[strlen(name)] == ' ')) {
				lines[nl] = p;
				lens[nl++] = (size_t)(e - p);
			}
			p = e;
		}
		if (skip < nl) {
			n = dkim_canon_header(hc, lines[nl - 1 - skip],
			    lens[nl - 1 - skip], buf, sizeof buf);
			assert_true(n > 0);
			wc_Sha256Update(&sha, (byte *)buf, (word32)n);
		}
	}
	/* the signature header up to and including "b=", no CRLF */
	bpos = strstr(sig, " b=");
	if (bpos == NULL)
		bpos = strstr(sig, "\tb=");
	assert_non_null(bpos);
	n = dkim_canon_header(hc, sig, (size_t)(bpos + 3 - sig), buf,
	    sizeof buf);
	assert_true(n > 2);
	wc_Sha256Update(&sha, (byte *)buf, (word32)(n - 2));
	wc_Sha256Final(&sha, digest);
	wc_Sha256Free(&sha);

	if (k->alg == DKIM_ED25519_SHA256) {
		int res = 0;

		assert_int_equal(siglen, 64);
		assert_int_equal(wc_ed25519_verify_msg(sigbin, 64, digest, 32,
		    &res, (ed25519_key *)&k->ed), 0);
		assert_int_equal(res, 1);
	} else {
		byte *out = NULL;
		word32 enclen = wc_EncodeSignature(enc, digest, 32,
		    wc_HashGetOID(WC_HASH_TYPE_SHA256));
		int r = wc_RsaSSL_VerifyInline(sigbin, (word32)siglen, &out,
		    (RsaKey *)&k->rsa);

		assert_int_equal(siglen, 256);
		assert_int_equal(r, (int)enclen);
		assert_memory_equal(out, enc, enclen);
	}
}

static void
sign_ok(const char *m, const struct dkim_signer *s, time_t now, char *out)
{
	struct dkim_msg *dm = feed(m);
	char err[256] = "";

	if (dkim_msg_sign(dm, s, now, out, DKIM_SIG_MAX, err,
	    sizeof err) != 0) {
		fprintf(stderr, "sign: %s\n", err);
		fail();
	}
	dkim_msg_free(dm);
}

static void
test_verify_all(void **state)
{
	struct dkim_signer s;
	char sig[DKIM_SIG_MAX], v[64];
	int h, b, k;

	(void)state;
	for (k = 0; k < 2; k++)
		for (h = 0; h < 2; h++)
			for (b = 0; b < 2; b++) {
				signer_init(&s, k ? edkey : rsakey);
				s.hcanon = (enum dkim_canon)h;
				s.bcanon = (enum dkim_canon)b;
				sign_ok(MSG, &s, 1700000000, sig);
				verify(MSG, sig, s.key, s.hcanon);
				assert_int_equal(tag(sig, "a", v, sizeof v), 0);
				assert_string_equal(v, k ? "ed25519-sha256" :
				    "rsa-sha256");
				assert_int_equal(tag(sig, "c", v, sizeof v), 0);
				assert_string_equal(v, h == 0 ? (b == 0 ?
				    "simple/simple" : "simple/relaxed") :
				    (b == 0 ? "relaxed/simple" :
				    "relaxed/relaxed"));
			}
}

static void
test_structure(void **state)
{
	struct dkim_signer s;
	char sig[DKIM_SIG_MAX], v[512], *line, *save = NULL;

	(void)state;
	signer_init(&s, edkey);
	sign_ok(MSG, &s, 1700000000, sig);
	assert_true(strncmp(sig, "DKIM-Signature: v=1; ", 21) == 0);
	assert_int_equal(strcmp(sig + strlen(sig) - 2, "\r\n"), 0);
	/* every line under 78 columns, continuation lines start with WSP */
	for (line = strtok_r(sig, "\n", &save); line;
	    line = strtok_r(NULL, "\n", &save)) {
		assert_true(strlen(line) < 78 + 1);	/* + the CR */
		assert_true(line[strlen(line) - 1] == '\r');
		assert_true(line == sig || line[0] == '\t');
	}
	sign_ok(MSG, &s, 1700000000, sig);
	assert_int_equal(tag(sig, "d", v, sizeof v), 0);
	assert_string_equal(v, "example.com");
	assert_int_equal(tag(sig, "s", v, sizeof v), 0);
	assert_string_equal(v, "sel");
	assert_int_equal(tag(sig, "t", v, sizeof v), 0);
	assert_string_equal(v, "1700000000");
	assert_int_equal(tag(sig, "x", v, sizeof v), -1);
	assert_int_equal(tag(sig, "i", v, sizeof v), -1);
	assert_int_equal(tag(sig, "bh", v, sizeof v), 0);
	assert_int_equal(strlen(v), 44);
	/* default list, config order, both To instances, From oversigned */
	assert_int_equal(tag(sig, "h", v, sizeof v), 0);
	assert_string_equal(v,
	    "From:From:To:To:Subject:Date:Message-ID");
}

static void
test_h_selection(void **state)
{
	struct dkim_signer s;
	char sig[DKIM_SIG_MAX], v[512];

	(void)state;
	signer_init(&s, rsakey);
	s.nheaders = 0;
	s.headers[s.nheaders++] = "subject";
	s.headers[s.nheaders++] = "TO";
	s.headers[s.nheaders++] = "Cc";		/* absent, not oversigned */
	s.headers[s.nheaders++] = "Date";
	s.headers[s.nheaders++] = "To";		/* listed twice: once */
	s.noversign = 0;
	s.oversign[s.noversign++] = "From";
	s.oversign[s.noversign++] = "Reply-To";	/* absent: once, empty */
	s.oversign[s.noversign++] = "to";
	s.sign_date = 0;
	sign_ok(MSG, &s, 1700000000, sig);
	assert_int_equal(tag(sig, "h", v, sizeof v), 0);
	/* From first (always signed), Date left out, oversigned ones +1 */
	assert_string_equal(v, "From:From:subject:TO:TO:TO:Reply-To");
	verify(MSG, sig, s.key, s.hcanon);

	s.sign_date = 1;
	s.sign_message_id = 0;
	s.nheaders = 0;
	s.headers[s.nheaders++] = "Date";
	s.headers[s.nheaders++] = "Message-ID";
	s.noversign = 0;
	sign_ok(MSG, &s, 1700000000, sig);
	assert_int_equal(tag(sig, "h", v, sizeof v), 0);
	assert_string_equal(v, "From:Date");
	verify(MSG, sig, s.key, s.hcanon);
}

static void
test_expire_identity(void **state)
{
	struct dkim_signer s;
	char sig[DKIM_SIG_MAX], v[128];

	(void)state;
	signer_init(&s, edkey);
	s.expire = 86400;
	s.identity = "joe@mail.example.com";
	sign_ok(MSG, &s, 1700000000, sig);
	assert_int_equal(tag(sig, "x", v, sizeof v), 0);
	assert_string_equal(v, "1700086400");
	assert_int_equal(tag(sig, "i", v, sizeof v), 0);
	assert_string_equal(v, "joe@mail.example.com");
	verify(MSG, sig, s.key, s.hcanon);
	s.identity = "@example.com";
	sign_ok(MSG, &s, 1700000000, sig);
	s.identity = "";
	sign_ok(MSG, &s, 1700000000, sig);
	assert_int_equal(tag(sig, "i", v, sizeof v), -1);
}

/* one body hash kept: the same bh=, and the other canonicalisation refused */
static void
test_one_body_canon(void **state)
{
	struct dkim_signer s;
	struct dkim_msg *all = feed(MSG), *one;
	char sig[DKIM_SIG_MAX], sig1[DKIM_SIG_MAX], err[128];
	int c;

	(void)state;
	assert_null(dkim_msg_new_canons(0));
	for (c = 0; c < 2; c++) {
		one = dkim_msg_new_canons(1u << c);
		assert_non_null(one);
		assert_int_equal(dkim_msg_write(one, MSG, strlen(MSG)), 0);
		assert_int_equal(dkim_msg_end(one), 0);
		signer_init(&s, edkey);
		s.bcanon = (enum dkim_canon)c;
		assert_int_equal(dkim_msg_sign(all, &s, 1, sig, sizeof sig,
		    err, sizeof err), 0);
		assert_int_equal(dkim_msg_sign(one, &s, 1, sig1, sizeof sig1,
		    err, sizeof err), 0);
		assert_string_equal(sig, sig1);	/* Ed25519: deterministic */
		s.bcanon = (enum dkim_canon)!c;
		assert_int_equal(dkim_msg_sign(one, &s, 1, sig1, sizeof sig1,
		    err, sizeof err), -1);
		assert_non_null(strstr(err, "not hashed"));
		dkim_msg_free(one);
	}
	dkim_msg_free(all);
}

static void
test_bad_values(void **state)
{
	static const char *const bad_ids[] = { "joe@example.org",
	    "joe@badexample.com", "joe", "joe@example.com; x=1",
	    "j oe@example.com", NULL };
	struct dkim_signer s;
	struct dkim_msg *dm = feed(MSG);
	char sig[DKIM_SIG_MAX], err[128];
	size_t i;

	(void)state;
	for (i = 0; bad_ids[i] != NULL; i++) {
		signer_init(&s, edkey);
		s.identity = bad_ids[i];
		assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig,
		    err, sizeof err), -1);
	}
	signer_init(&s, edkey);
	s.domain = "example.com; h=x";
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), -1);
	signer_init(&s, edkey);
	s.selector = "a\r\nX-Injected: 1";
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), -1);
	{
		char longdom[400];

		memset(longdom, 'a', sizeof longdom - 1);
		longdom[sizeof longdom - 1] = '\0';
		signer_init(&s, edkey);
		s.domain = longdom;
		assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig,
		    err, sizeof err), -1);
	}
	signer_init(&s, edkey);
	s.headers[0] = "From:To";
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), -1);
	dkim_msg_free(dm);
}

static void
test_errors(void **state)
{
	struct dkim_signer s;
	struct dkim_msg *dm;
	char sig[DKIM_SIG_MAX], small[64], err[128];

	(void)state;
	signer_init(&s, rsakey);
	dm = feed("Subject: no from\r\n\r\nx\r\n");
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), DKIM_ERR_MESSAGE);
	assert_non_null(strstr(err, "no From header"));
	dkim_msg_free(dm);
	dm = feed(MSG);
	assert_int_equal(dkim_msg_sign(dm, &s, 1, small, sizeof small, err,
	    sizeof err), DKIM_ERR_MESSAGE);
	assert_non_null(strstr(err, "too long"));
	s.key = NULL;
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), -1);
	dkim_msg_free(dm);
	/* not ended yet */
	dm = dkim_msg_new();
	assert_int_equal(dkim_msg_write(dm, MSG, 10), 0);
	s.key = rsakey;
	assert_int_equal(dkim_msg_sign(dm, &s, 1, sig, sizeof sig, err,
	    sizeof err), -1);
	dkim_msg_free(dm);
}

static void
test_keys(void **state)
{
	char rec[DKIM_RECORD_MAX], err[256], path[160];
	unsigned char pub[600];
	struct dkim_key *k;
	struct stat st;
	ssize_t n;
	int weak = -1;

	(void)state;
	assert_int_equal(dkim_key_alg(rsakey), DKIM_RSA_SHA256);
	assert_int_equal(dkim_key_bits(rsakey), 2048);
	assert_int_equal(dkim_key_alg(edkey), DKIM_ED25519_SHA256);
	assert_true(dkim_key_record(rsakey, rec, sizeof rec) > 0);
	assert_true(strncmp(rec, "v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEF",
	    42) == 0);
	n = base64_decode(rec + 18, strlen(rec + 18), pub, sizeof pub);
	assert_int_equal(n, 294);	/* SPKI of RSA-2048 */
	assert_true(dkim_key_record(edkey, rec, sizeof rec) > 0);
	assert_true(strncmp(rec, "v=DKIM1; k=ed25519; p=", 22) == 0);
	n = base64_decode(rec + 22, strlen(rec + 22), pub, sizeof pub);
	assert_int_equal(n, 32);
	assert_int_equal(dkim_key_record(edkey, rec, 20), -1);

	/* keygen: mode 0600, never overwrites */
	assert_int_equal(stat(rsapath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(dkim_keygen(DKIM_ED25519_SHA256, 0, edpath, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "exists"));
	assert_int_equal(dkim_keygen(DKIM_RSA_SHA256, 512, edpath, err,
	    sizeof err), -1);

	/* a key others can read is refused, with the fix in the message */
	assert_int_equal(chmod(edpath, 0640), 0);
	assert_int_equal(dkim_key_load(edpath, &k, &weak, err, sizeof err), -1);
	assert_null(k);
	snprintf(path, sizeof path, "chmod 600 %s", edpath);
	assert_non_null(strstr(err, path));
	assert_int_equal(chmod(edpath, 0604), 0);
	assert_int_equal(dkim_key_load(edpath, &k, &weak, err, sizeof err), -1);
	assert_int_equal(chmod(edpath, 0600), 0);

	/* RSA-1024 loads with the weak flag */
	snprintf(path, sizeof path, "%s/x.pem", tmpdir);
	assert_int_equal(dkim_keygen(DKIM_RSA_SHA256, 1024, path, err,
	    sizeof err), 0);
	assert_int_equal(dkim_key_load(path, &k, &weak, err, sizeof err), 0);
	assert_int_equal(weak, 1);
	assert_int_equal(dkim_key_bits(k), 1024);
	dkim_key_free(k);
	unlink(path);

	/* not a key */
	{
		FILE *fp = fopen(path, "w");

		assert_non_null(fp);
		fputs("-----BEGIN CERTIFICATE-----\nAAAA\n"
		    "-----END CERTIFICATE-----\n", fp);
		fclose(fp);
		chmod(path, 0600);
		assert_int_equal(dkim_key_load(path, &k, &weak, err,
		    sizeof err), -1);
		unlink(path);
	}
	assert_int_equal(dkim_key_load("/nonexistent/k.pem", &k, &weak, err,
	    sizeof err), -1);
	assert_non_null(strstr(err, "No such file"));
}

/*
 * RFC 8463 Appendix A: the RFC 8032 §7.1 test key, the RFC 6376 example
 * message, and the published relaxed/relaxed signature.  Ed25519 is
 * deterministic, so canonicalising the RFC's own signature header and
 * signing must give its b= exactly; the body hashes must match too.
 */
static void
test_rfc8463_known_answer(void **state)
{
	static const char pem[] = "-----BEGIN PRIVATE KEY-----\n"
	    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
	    "-----END PRIVATE KEY-----\n";
	static const char *const hdrs[] = {
	    "From: Joe SixPack <joe@football.example.com>\r\n",
	    "To: Suzie Q <suzie@shopping.example.net>\r\n",
	    "Subject: Is dinner ready?\r\n",
	    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n",
	    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n",
	    NULL };
	static const char body[] = "\r\nHi.\r\n\r\nWe lost the game.  "
	    "Are you hungry yet?\r\n\r\nJoe.\r\n\r\n\r\n";
	static const char sighdr[] =
	    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
	    " d=football.example.com; i=@football.example.com;\r\n"
	    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
	    " subject : date : message-id : from : subject : date;\r\n"
	    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
	    " b=";
	static const char want_b[] = "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9O"
	    "dqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
	char path[160], err[256], rec[DKIM_RECORD_MAX], buf[512], b64[128];
	unsigned char digest[32], sig[64];
	struct dkim_key *k;
	struct dkim_msg *dm;
	wc_Sha256 sha;
	FILE *fp;
	long n;
	int weak, i;

	(void)state;
	snprintf(path, sizeof path, "%s/rfc8463.pem", tmpdir);
	assert_non_null(fp = fopen(path, "w"));
	fputs(pem, fp);
	fclose(fp);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(dkim_key_load(path, &k, &weak, err, sizeof err), 0);
	unlink(path);
	assert_true(dkim_key_record(k, rec, sizeof rec) > 0);
	assert_string_equal(rec, "v=DKIM1; k=ed25519; "
	    "p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");

	/* body hashes: relaxed from RFC 8463, simple from its simple variant */
	dm = dkim_msg_new();
	for (i = 0; hdrs[i] != NULL; i++)
		assert_int_equal(dkim_msg_write(dm, hdrs[i], strlen(hdrs[i])),
		    0);
	assert_int_equal(dkim_msg_write(dm, body, sizeof body - 1), 0);
	assert_int_equal(dkim_msg_end(dm), 0);
	assert_true(base64_encode(dm->bh[DKIM_CANON_RELAXED], 32, b64,
	    sizeof b64) > 0);
	assert_string_equal(b64, "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=");
	assert_true(base64_encode(dm->bh[DKIM_CANON_SIMPLE], 32, b64,
	    sizeof b64) > 0);
	assert_string_equal(b64, "4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=");
	dkim_msg_free(dm);

	/* h=: the five present fields; the oversigned three hash nothing */
	assert_int_equal(wc_InitSha256(&sha), 0);
	for (i = 0; hdrs[i] != NULL; i++) {
		n = dkim_canon_header(DKIM_CANON_RELAXED, hdrs[i],
		    strlen(hdrs[i]), buf, sizeof buf);
		assert_true(n > 0);
		wc_Sha256Update(&sha, (byte *)buf, (word32)n);
	}
	n = dkim_canon_header(DKIM_CANON_RELAXED, sighdr, sizeof sighdr - 1,
	    buf, sizeof buf);
	assert_true(n > 2);
	wc_Sha256Update(&sha, (byte *)buf, (word32)(n - 2));
	wc_Sha256Final(&sha, digest);
	wc_Sha256Free(&sha);
	assert_int_equal(dkim_key_sign(k, digest, sig, sizeof sig), 64);
	assert_true(base64_encode(sig, 64, b64, sizeof b64) > 0);
	assert_string_equal(b64, want_b);
	dkim_key_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify_all),
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_h_selection),
		cmocka_unit_test(test_expire_identity),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_one_body_canon),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_rfc8463_known_answer),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
