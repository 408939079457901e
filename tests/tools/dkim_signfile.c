/*
 * dkim_signfile - test tool: sign a message file with gw_dkim and print
 * the signed message (signature headers first), or print a key's record.
 *
 *   dkim_signfile [options] -k KEY [-k KEY2] MSGFILE
 *	-d DOMAIN -s SELECTOR	d= and s= (example.com, sel)
 *	-c CANON		canonicalization (relaxed/relaxed)
 *	-H a,b,c		headers to sign (default list)
 *	-O a,b			oversign (From)
 *	-i IDENTITY -x SECONDS -t TIME
 *	-D -M			leave Date / Message-ID out of h=
 *	-C N			feed the message in chunks of N bytes (4096)
 *	-k KEY:SELECTOR		a key with its own selector (dual signing)
 *   dkim_signfile -r KEY		print the DNS TXT value
 *   dkim_signfile -g rsa|ed25519 [-b BITS] OUTFILE	generate a key
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dkim/dkim.h"
#include "util/str.h"

#define MAXKEYS	4

static void	usage(void) __attribute__((noreturn));
static size_t	split(char *, const char **, size_t);

static void
usage(void)
{
	fprintf(stderr, "usage: dkim_signfile [-d dom] [-s sel] [-c canon] "
	    "[-H list] [-O list] [-i id] [-x secs] [-t time] [-D] [-M] "
	    "[-C chunk] -k key [-k key] msgfile\n"
	    "       dkim_signfile -r key\n"
	    "       dkim_signfile -g rsa|ed25519 [-b bits] outfile\n");
	exit(2);
}

static size_t
split(char *s, const char **out, size_t max)
{
	char *items[DKIM_MAX_HEADERS];
	int n, i;

	if (*s == '\0')
		return 0;
	n = str_split_list(s, items, (int)max);
	if (n < 0) {
		fprintf(stderr, "bad list\n");
		exit(2);
	}
	for (i = 0; i < n; i++)
		out[i] = items[i];
	return (size_t)n;
}

int
main(int argc, char **argv)
{
	struct dkim_signer sg;
	struct dkim_key *keys[MAXKEYS];
	const char *keypaths[MAXKEYS], *keysels[MAXKEYS], *gen = NULL, *why;
	const char *from;
	char err[256], sig[DKIM_SIG_MAX], rec[DKIM_RECORD_MAX];
	char *msg = NULL;
	size_t nkeys = 0, len = 0, cap = 0, chunk = 4096, off, i, j;
	time_t now = time(NULL);
	struct dkim_msg *m;
	unsigned bits = 0;
	int ch, weak, record = 0, rc;
	char *sel;
	FILE *fp;

	memset(&sg, 0, sizeof sg);
	sg.domain = "example.com";
	sg.selector = "sel";
	sg.hcanon = sg.bcanon = DKIM_CANON_RELAXED;
	sg.sign_date = sg.sign_message_id = 1;
	for (i = 0; dkim_default_headers[i] != NULL; i++)
		sg.headers[sg.nheaders++] = dkim_default_headers[i];
	sg.oversign[sg.noversign++] = "From";

	while ((ch = getopt(argc, argv, "b:c:d:g:i:k:rs:t:x:C:DH:MO:")) != -1) {
		switch (ch) {
		case 'b': bits = (unsigned)atoi(optarg); break;
		case 'c':
			if (dkim_canon_parse(optarg, &sg.hcanon,
			    &sg.bcanon) == -1)
				usage();
			break;
		case 'd': sg.domain = optarg; break;
		case 'g': gen = optarg; break;
		case 'i': sg.identity = optarg; break;
		case 'k':
			if (nkeys == MAXKEYS)
				usage();
			keypaths[nkeys] = optarg;
			keysels[nkeys] = NULL;
			if ((sel = strchr(optarg, ':')) != NULL) {
				*sel = '\0';
				keysels[nkeys] = sel + 1;
			}
			nkeys++;
			break;
		case 'r': record = 1; break;
		case 's': sg.selector = optarg; break;
		case 't': now = (time_t)atoll(optarg); break;
		case 'x': sg.expire = (unsigned)atoi(optarg); break;
		case 'C': chunk = (size_t)atoi(optarg); break;
		case 'D': sg.sign_date = 0; break;
		case 'M': sg.sign_message_id = 0; break;
		case 'H':
			sg.nheaders = split(optarg, sg.headers,
			    DKIM_MAX_HEADERS);
			break;
		case 'O':
			sg.noversign = split(optarg, sg.oversign,
			    DKIM_MAX_HEADERS);
			break;
		default: usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc != 1 || chunk == 0)
		usage();

	if (gen != NULL) {
		enum dkim_alg a = strcmp(gen, "rsa") == 0 ? DKIM_RSA_SHA256 :
		    DKIM_ED25519_SHA256;

		if (dkim_keygen(a, bits, argv[0], err, sizeof err) == -1) {
			fprintf(stderr, "keygen: %s\n", err);
			return 1;
		}
		return 0;
	}
	if (record) {
		if (dkim_key_load(argv[0], &keys[0], &weak, err,
		    sizeof err) == -1) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		if (dkim_key_record(keys[0], rec, sizeof rec) < 0) {
			fprintf(stderr, "record failed\n");
			return 1;
		}
		printf("%s\n", rec);
		dkim_key_free(keys[0]);
		return 0;
	}
	if (nkeys == 0)
		usage();
	for (i = 0; i < nkeys; i++) {
		if (dkim_key_load(keypaths[i], &keys[i], &weak, err,
		    sizeof err) == -1) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
	}

	if ((fp = fopen(argv[0], "rb")) == NULL) {
		perror(argv[0]);
		return 1;
	}
	for (;;) {
		size_t r;

		if (len == cap) {
			cap = cap ? cap * 2 : 65536;
			if ((msg = realloc(msg, cap)) == NULL)
				return 1;
		}
		if ((r = fread(msg + len, 1, cap - len, fp)) == 0)
			break;
		len += r;
	}
	fclose(fp);

	if ((m = dkim_msg_new()) == NULL)
		return 1;
	for (off = 0; off < len; off += chunk) {
		size_t n = len - off < chunk ? len - off : chunk;

		if (dkim_msg_write(m, msg + off, n) == -1)
			break;
	}
	if (dkim_msg_end(m) == -1 ||
	    (from = dkim_msg_from_domain(m, &why)) == NULL) {
		dkim_msg_from_domain(m, &why);
		fprintf(stderr, "unsignable: %s\n", why ? why : "?");
		rc = 3;
		goto out;
	}
	for (i = 0; i < nkeys; i++) {
		sg.key = keys[i];
		if (keysels[i] != NULL)
			sg.selector = keysels[i];
		if (dkim_msg_sign(m, &sg, now, sig, sizeof sig, err,
		    sizeof err) != 0) {
			fprintf(stderr, "sign: %s\n", err);
			rc = 1;
			goto out;
		}
		fputs(sig, stdout);
	}
	fwrite(msg, 1, len, stdout);
	rc = 0;
out:
	dkim_msg_free(m);
	for (j = 0; j < nkeys; j++)
		dkim_key_free(keys[j]);
	free(msg);
	return rc;
}
