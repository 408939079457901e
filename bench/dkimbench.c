/*
 * dkimbench - DKIM signing throughput of gw_dkim: messages signed per
 * second, whole messages (header split, body hashed in both
 * canonicalisations, one signature), for given body sizes and keys.
 *
 *   dkimbench [-1] [-n MAXCOUNT] [-s SECONDS] KEYFILE...
 *
 * -1 hashes only the relaxed body (dkim_msg_new_canons), as a relay does
 * when all its signers use relaxed; by default both, like dkim_msg_new().
 *
 * Keys are PEM files (bench/dkim.sh makes them with openssl).  Each key is
 * run with a 4 KB and a 1 MB body, and then all keys together on each
 * message (dual signing, "all keys"), fed in 64 KB writes as the spool would;
 * each run stops at MAXCOUNT messages (default 2000) or SECONDS (default
 * 3), whichever comes first.  Output: one line per run,
 * "alg bits body msgs seconds msgs/s MB/s".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim.h"

#define WRITE_SIZE	65536
#define MAXKEYS		4

/* -1: hash the relaxed body only, as a relay whose signers all use it */
static unsigned body_mask = DKIM_BODY_SIMPLE | DKIM_BODY_RELAXED;

static double	now_s(void);
static char	*make_msg(size_t, size_t *);
static int	run(struct dkim_signer *, struct dkim_key **, int,
		    const char *, unsigned, size_t, long, double);

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* headers, then body lines of 78 octets up to about bodylen */
static char *
make_msg(size_t bodylen, size_t *len)
{
	static const char hdr[] =
	    "From: Bench <bench@example.com>\r\n"
	    "To: sink@example.org\r\n"
	    "Subject: dkimbench\r\n"
	    "Date: Sun, 22 Nov 2026 16:00:00 +0000\r\n"
	    "Message-ID: <bench@example.com>\r\n"
	    "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=us-ascii\r\n\r\n";
	size_t n = sizeof hdr - 1, i = 0;
	char *m = malloc(n + bodylen + 80);

	if (m == NULL)
		return NULL;
	memcpy(m, hdr, n);
	static const char pat[] = "the quick brown fox jumps over  the lazy "
	    "dog \t";
	size_t c;

	while (i < bodylen) {
		for (c = 0; c < 76; c++)
			m[n + c] = pat[(c + i / 78) % (sizeof pat - 1)];
		m[n + 76] = '\r';
		m[n + 77] = '\n';
		n += 78;
		i += 78;
	}
	*len = n;
	return m;
}

/* sign copies of one message with every key in keys[] until a bound */
static int
run(struct dkim_signer *s, struct dkim_key **keys, int nkeys,
    const char *label, unsigned bits, size_t bodylen, long maxcount,
    double maxsec)
{
	char err[256], sig[DKIM_SIG_MAX];
	size_t len, off;
	char *m = make_msg(bodylen, &len);
	double t0 = now_s(), t;
	long count = 0;
	int i;

	if (m == NULL)
		return -1;
	do {
		struct dkim_msg *dm = dkim_msg_new_canons(body_mask);

		if (dm == NULL)
			return -1;
		for (off = 0; off < len; off += WRITE_SIZE)
			(void)dkim_msg_write(dm, m + off, len - off <
			    WRITE_SIZE ? len - off : WRITE_SIZE);
		if (dkim_msg_end(dm) == -1) {
			fprintf(stderr, "message not signable\n");
			return -1;
		}
		for (i = 0; i < nkeys; i++) {
			s->key = keys[i];
			if (dkim_msg_sign(dm, s, 1700000000, sig, sizeof sig,
			    err, sizeof err) != 0) {
				fprintf(stderr, "sign: %s\n", err);
				return -1;
			}
		}
		dkim_msg_free(dm);
		count++;
		t = now_s() - t0;
	} while (count < maxcount && t < maxsec);
	printf("%-15s %5u %8zu %6ld %7.2f %9.1f %8.1f\n", label, bits,
	    bodylen, count, t, count / t, (double)len * count / t / 1e6);
	fflush(stdout);
	free(m);
	return 0;
}

int
main(int argc, char **argv)
{
	static const size_t bodies[] = { 4096, 1024 * 1024 };
	struct dkim_signer s;
	struct dkim_key *keys[MAXKEYS];
	char err[256];
	long maxcount = 2000;
	double maxsec = 3;
	int ch, a, weak, nkeys = 0, rc = 0;
	size_t b, i;

	while ((ch = getopt(argc, argv, "1n:s:")) != -1) {
		switch (ch) {
		case '1': body_mask = DKIM_BODY_RELAXED; break;
		case 'n': maxcount = atol(optarg); break;
		case 's': maxsec = atof(optarg); break;
		default:
			fprintf(stderr, "usage: dkimbench [-1] [-n max] [-s secs] "
			    "key...\n");
			return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > MAXKEYS) {
		fprintf(stderr, "dkimbench: 1 to %d keys\n", MAXKEYS);
		return 2;
	}
	memset(&s, 0, sizeof s);
	s.domain = "example.com";
	s.selector = "bench";
	s.hcanon = s.bcanon = DKIM_CANON_RELAXED;
	s.sign_date = s.sign_message_id = 1;
	for (i = 0; dkim_default_headers[i] != NULL; i++)
		s.headers[s.nheaders++] = dkim_default_headers[i];
	s.oversign[s.noversign++] = "From";
	for (a = optind; a < argc; a++) {
		if (dkim_key_load(argv[a], &keys[nkeys], &weak, err,
		    sizeof err) == -1) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		nkeys++;
	}

	printf("%-15s %5s %8s %6s %7s %9s %8s\n", "alg", "bits", "body",
	    "msgs", "seconds", "msgs/s", "MB/s");
	for (a = 0; a < nkeys && rc == 0; a++)
		for (b = 0; b < sizeof bodies / sizeof bodies[0] && rc == 0;
		    b++)
			rc = run(&s, &keys[a], 1,
			    dkim_alg_name(dkim_key_alg(keys[a])),
			    dkim_key_bits(keys[a]), bodies[b], maxcount,
			    maxsec);
	/* dual signing: one pass over the body, every key signs */
	for (b = 0; nkeys > 1 && b < sizeof bodies / sizeof bodies[0] &&
	    rc == 0; b++)
		rc = run(&s, keys, nkeys, "all keys", 0, bodies[b], maxcount,
		    maxsec);
	for (a = 0; a < nkeys; a++)
		dkim_key_free(keys[a]);
	return rc == 0 ? 0 : 1;
}
