/*
 * errfirst - keep the first of a series of error messages (errfirst.h).
 */
#include "util/errfirst.h"
#include "util/str.h"

/* errfirst_init - empty buf, then keep the first message in it */
void
errfirst_init(struct errfirst *e, char *buf, size_t len, errfirst_fn fn,
    void *arg, int fn_first)
{
	e->buf = buf;
	e->len = len;
	e->n = 0;
	e->fn = fn;
	e->arg = arg;
	e->fn_first = fn_first;
	if (len > 0)
		buf[0] = '\0';
}

/* errfirst_cb - keep the first message; pass on as e->fn_first says */
void
errfirst_cb(void *arg, const char *msg)
{
	struct errfirst	*e = arg;

	if (e->n++ == 0) {
		(void)gw_strlcpy(e->buf, msg, e->len);
		if (!e->fn_first)
			return;
	}
	if (e->fn != NULL)
		e->fn(e->arg, msg);
}
