/*
 * errfirst - keep the first of a series of error messages.
 *
 * Contract: a loader that reports its errors one by one through a
 * callback (users_load, signers_load) gets errfirst_cb and a struct
 * errfirst as its argument.  The first message is kept in the caller's
 * buffer (cut to fit) for the one-line reason the caller returns; every
 * message, or every one after the first, goes on to fn (logging), so
 * that none is lost and none need be shown twice.
 */
#ifndef GW_ERRFIRST_H
#define GW_ERRFIRST_H

#include <stddef.h>

typedef void	(*errfirst_fn)(void *arg, const char *msg);

struct errfirst {
	char		*buf;		/* the first message; "" before it */
	size_t		 len;
	unsigned	 n;		/* messages seen */
	errfirst_fn	 fn;		/* the messages passed on; NULL: none */
	void		*arg;
	int		 fn_first;	/* 1: fn gets the first one too */
};

/* errfirst_init - empty buf, then keep the first message in it */
void	errfirst_init(struct errfirst *, char *buf, size_t len,
	    errfirst_fn fn, void *arg, int fn_first);
/* errfirst_cb - the error callback: arg is a struct errfirst */
void	errfirst_cb(void *arg, const char *msg);

#endif
