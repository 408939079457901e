/* secret.c - inject credentials (see secret.h); stub */
#include <stddef.h>

#include "auth/secret.h"

struct secret_fetch *
secret_fetch(struct event_base *base, const struct conf_upstream *up,
    uint64_t id, secret_fn cb, void *arg)
{
	(void)base; (void)up; (void)id; (void)cb; (void)arg;
	return NULL;
}

void
secret_fetch_cancel(struct secret_fetch *f)
{
	(void)f;
}

int
secret_read_file(const char *path, char *buf, size_t len, char *why,
    size_t wlen)
{
	(void)path; (void)buf; (void)len; (void)why; (void)wlen;
	return -1;
}
