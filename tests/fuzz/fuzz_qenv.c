/*
 * fuzz_qenv - the queue envelope parser (qenv_parse) on any bytes, and
 * the tail of ID.msg (qenv_tail_parse) that finds the envelope after the
 * message.
 *
 * Input: the file's text; the same bytes are also read as an ID.msg
 * (the message, an envelope, the tail).
 *
 * Invariants: a refused file says why and names a line; an accepted one
 * has an id, a sender (maybe empty) and 1..QENV_RCPT_MAX recipients with
 * non-empty addresses, formats again, and that text parses to the same
 * envelope and formats to the same text (the format is canonical).  A
 * tail that parses gives a length within QENV_FILE_MAX, formats back to
 * the same octets, and its envelope is checked as a file of its own.
 */
#include <stdlib.h>
#include <string.h>

#include "queue/qenv.h"
#include "fuzz.h"

static int
same_str(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static void
check_same(const struct qenv *a, const struct qenv *b)
{
	size_t	 i;

	FUZZ_CHECK(a->id == b->id && a->arrival == b->arrival &&
	    a->next == b->next && a->attempts == b->attempts &&
	    a->flags == b->flags && a->size == b->size && a->ret == b->ret,
	    "numbers differ after a round trip");
	FUZZ_CHECK(same_str(a->listener, b->listener) &&
	    same_str(a->client, b->client) && same_str(a->sender, b->sender) &&
	    same_str(a->mail_params, b->mail_params) &&
	    same_str(a->envid, b->envid) &&
	    same_str(a->last_error, b->last_error),
	    "strings differ after a round trip");
	FUZZ_CHECK(a->nrcpt == b->nrcpt, "rcpt count %zu vs %zu", a->nrcpt,
	    b->nrcpt);
	for (i = 0; i < a->nrcpt; i++)
		FUZZ_CHECK(same_str(a->rcpt[i].addr, b->rcpt[i].addr) &&
		    same_str(a->rcpt[i].orcpt, b->rcpt[i].orcpt) &&
		    same_str(a->rcpt[i].reply, b->rcpt[i].reply) &&
		    a->rcpt[i].state == b->rcpt[i].state &&
		    a->rcpt[i].notify == b->rcpt[i].notify,
		    "rcpt %zu differs after a round trip", i);
}

static void	check_env(const char *, size_t);

/* the input as an ID.msg: its tail, then the envelope it points at */
static void
check_tail(const char *data, size_t size)
{
	char	 again[QENV_TAIL_LEN + 1];
	size_t	 len;

	if (size < QENV_TAIL_LEN ||
	    qenv_tail_parse(data + size - QENV_TAIL_LEN, QENV_TAIL_LEN,
	    &len) == -1)
		return;
	FUZZ_CHECK(len <= QENV_FILE_MAX, "tail length %zu", len);
	qenv_tail_format(again, len);
	FUZZ_CHECK(memcmp(again, data + size - QENV_TAIL_LEN,
	    QENV_TAIL_LEN) == 0, "the tail does not format back");
	if (len <= size - QENV_TAIL_LEN)
		check_env(data + size - QENV_TAIL_LEN - len, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_tail((const char *)data, size);
	check_env((const char *)data, size);
	return 0;
}

/* the input as an envelope file */
static void
check_env(const char *data, size_t size)
{
	struct qenv	 e, f;
	char		 why[256], *t1, *t2;
	size_t		 n1, n2, i;

	why[0] = '\0';
	if (qenv_parse(data, size, &e, why, sizeof(why)) < 0) {
		FUZZ_CHECK(why[0] != '\0', "refused without a reason");
		qenv_free(&e);
		return;
	}
	FUZZ_CHECK(e.sender != NULL, "accepted without a sender");
	FUZZ_CHECK(e.nrcpt >= 1 && e.nrcpt <= QENV_RCPT_MAX, "%zu rcpts",
	    e.nrcpt);
	for (i = 0; i < e.nrcpt; i++)
		FUZZ_CHECK(e.rcpt[i].addr != NULL && e.rcpt[i].addr[0] != '\0',
		    "rcpt %zu without an address", i);
	if (qenv_format(&e, &t1, &n1, why, sizeof(why)) < 0) {
		/* only a file near QENV_FILE_MAX may not format again */
		FUZZ_CHECK(size > QENV_FILE_MAX / 4, "format: %s", why);
		qenv_free(&e);
		return;
	}
	FUZZ_CHECK(qenv_parse(t1, n1, &f, why, sizeof(why)) == 0,
	    "own output refused: %s", why);
	check_same(&e, &f);
	FUZZ_CHECK(qenv_format(&f, &t2, &n2, why, sizeof(why)) == 0,
	    "second format: %s", why);
	FUZZ_CHECK(n1 == n2 && memcmp(t1, t2, n1) == 0,
	    "format is not canonical");
	free(t1);
	free(t2);
	qenv_free(&e);
	qenv_free(&f);
}
