/*
 * fuzz_dkim - a DKIM message state (dkim_msg) fed arbitrary bytes as a
 * message, then signed with an Ed25519 key made on the first call.
 *
 * The input is fed once whole (the reference) and once in chunks whose
 * sizes come from a generator seeded by the first input octets; the
 * signer's options (sign_date, sign_message_id, extra and oversigned
 * names, x=, i=) and the body hashes kept come from the last input octet.  Ed25519 is deterministic
 * and the time is fixed, so both runs must agree on everything: the write
 * results, the From domain or the reason, and the signature header in each
 * of the four canonicalisations.  A message with a From domain is signed
 * unless it has more instances of the signed fields than h= may list (then
 * a clear refusal).  A signature header must start with "DKIM-Signature:",
 * end in CRLF, hold no other CR or LF than its folds, and keep every line
 * under 78 columns.  The input is also given to the From parser and the
 * header canonicaliser directly, with output buffers that end exactly
 * where their allocation does.
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "dkim/dkim_canon.h"
#include "fuzz.h"

#define NOW	1700000000

struct result {
	int	wrote;		/* -1 if any write refused */
	int	ended;
	char	domain[256];	/* or the reason, prefixed with '!' */
	char	sig[4][DKIM_SIG_MAX];
	int	sigrc[4];
};

static struct dkim_key *key;

static void	init_key(void);
static void	run(const uint8_t *, size_t, uint32_t *, struct result *);
static void	check_sig(const char *);

static void
init_key(void)
{
	char dir[] = "/tmp/fuzz_dkim.XXXXXX", path[64], err[256];
	int weak;

	FUZZ_CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof path, "%s/ed.pem", dir);
	FUZZ_CHECK(dkim_keygen(DKIM_ED25519_SHA256, 0, path, err,
	    sizeof err) == 0, "keygen: %s", err);
	FUZZ_CHECK(dkim_key_load(path, &key, &weak, err, sizeof err) == 0,
	    "load: %s", err);
	unlink(path);
	rmdir(dir);
}

static void
run(const uint8_t *data, size_t size, uint32_t *rng, struct result *r)
{
	struct dkim_signer s;
	struct dkim_msg *m;
	const char *why = NULL, *d;
	size_t off = 0, i;
	char err[256];
	int c, opt;
	unsigned mask;

	/* signer options from the last input octet; body hashes from two bits */
	opt = size > 0 ? data[size - 1] : 0;
	mask = (opt & 64) ? DKIM_BODY_RELAXED : (opt & 128) ? DKIM_BODY_SIMPLE :
	    DKIM_BODY_SIMPLE | DKIM_BODY_RELAXED;
	m = dkim_msg_new_canons(mask);
	FUZZ_CHECK(m != NULL, "dkim_msg_new_canons");
	memset(r, 0, sizeof *r);
	while (off < size) {
		size_t n = size - off;

		if (rng != NULL)
			n = 1 + rng_next(rng) % (n < 300 ? n : 300);
		if (dkim_msg_write(m, (const char *)data + off, n) == -1)
			r->wrote = -1;
		off += n;
	}
	r->ended = dkim_msg_end(m);
	d = dkim_msg_from_domain(m, &why);
	FUZZ_CHECK((d == NULL) == (why != NULL), "domain xor reason");
	if (r->wrote == -1)
		FUZZ_CHECK(d == NULL && r->ended == -1, "write refused, yet ok");
	snprintf(r->domain, sizeof r->domain, "%s%s", d ? "" : "!",
	    d ? d : why);

	memset(&s, 0, sizeof s);
	s.key = key;
	s.domain = "example.com";
	s.selector = "fuzz";
	s.sign_date = !(opt & 1);
	s.sign_message_id = !(opt & 2);
	for (i = 0; dkim_default_headers[i] != NULL; i++)
		s.headers[s.nheaders++] = dkim_default_headers[i];
	if (opt & 4)
		s.headers[s.nheaders++] = "Received";
	if (!(opt & 8)) {
		s.oversign[s.noversign++] = "From";
		s.oversign[s.noversign++] = "Subject";
		s.oversign[s.noversign++] = "X-Absent";
	}
	s.expire = (opt & 16) ? 3600 : 0;
	s.identity = (opt & 32) ? "@example.com" : NULL;
	for (c = 0; c < 4; c++) {
		s.hcanon = (enum dkim_canon)(c >> 1);
		s.bcanon = (enum dkim_canon)(c & 1);
		r->sigrc[c] = dkim_msg_sign(m, &s, NOW, r->sig[c],
		    sizeof r->sig[c], err, sizeof err);
		/*
		 * Refusals: no From domain, too many fields for h=, or a body
		 * canonicalisation that was not hashed.
		 */
		FUZZ_CHECK(r->sigrc[c] == 0 || d == NULL ||
		    strstr(err, "too many") || strstr(err, "too long") ||
		    !(mask & (1u << s.bcanon)),
		    "signable message not signed: %s", err);
		FUZZ_CHECK(mask & (1u << s.bcanon) || r->sigrc[c] != 0,
		    "signed with a body hash not kept");
		if (r->sigrc[c] == 0)
			check_sig(r->sig[c]);
		else
			r->sig[c][0] = '\0';
	}
	dkim_msg_free(m);
}

static void
check_sig(const char *sig)
{
	size_t len = strlen(sig), col = 0, i;

	FUZZ_CHECK(strncmp(sig, "DKIM-Signature:", 15) == 0, "%s", sig);
	FUZZ_CHECK(len >= 2 && strcmp(sig + len - 2, "\r\n") == 0, "no CRLF");
	for (i = 0; i < len; i++) {
		if (sig[i] == '\r') {
			FUZZ_CHECK(sig[i + 1] == '\n', "bare CR");
			FUZZ_CHECK(i + 2 == len || sig[i + 2] == '\t',
			    "fold without WSP");
			FUZZ_CHECK(col < 78, "line of %zu columns", col);
			col = 0;
			i++;
			continue;
		}
		FUZZ_CHECK(sig[i] != '\n', "bare LF");
		col++;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct result ref, chunked;
	uint32_t seed = 0;
	size_t i;
	char *out, dom[256];
	long n;

	if (key == NULL)
		init_key();
	for (i = 0; i < 4 && i < size; i++)
		seed = seed << 8 | data[i];
	run(data, size, NULL, &ref);
	run(data, size, &seed, &chunked);
	FUZZ_CHECK(ref.wrote == chunked.wrote, "write results differ");
	FUZZ_CHECK(ref.ended == chunked.ended, "end results differ");
	FUZZ_CHECK(strcmp(ref.domain, chunked.domain) == 0, "%s vs %s",
	    ref.domain, chunked.domain);
	for (i = 0; i < 4; i++) {
		FUZZ_CHECK(ref.sigrc[i] == chunked.sigrc[i], "sign rc");
		FUZZ_CHECK(strcmp(ref.sig[i], chunked.sig[i]) == 0,
		    "signatures differ in canonicalisation %zu", i);
	}

	/* the pure parts straight on the input */
	(void)dkim_from_parse((const char *)data, size, dom, sizeof dom);
	if ((out = malloc(size + 3)) != NULL) {
		n = dkim_canon_header(DKIM_CANON_RELAXED, (const char *)data,
		    size, out, size + 3);
		FUZZ_CHECK(n >= 2 && (size_t)n <= size + 2, "relaxed %ld", n);
		n = dkim_canon_header(DKIM_CANON_SIMPLE, (const char *)data,
		    size, out, size + 3);
		FUZZ_CHECK(n >= 2 && (size_t)n <= size + 2, "simple %ld", n);
		free(out);
	}
	return 0;
}
