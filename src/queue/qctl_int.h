/*
 * qctl_int - what qctl.c and qctl_client.c share beyond qctl.h, and the
 * one knob the unit test turns.
 */
#ifndef GW_QCTL_INT_H
#define GW_QCTL_INT_H

struct qctl;

/* the last line of an answer ("ok" or "error: why") is at most this */
#define QCTL_TAIL_MAX	256

/*
 * qctl_set_timeout_ms - the deadline of each connection (QCTL_TIMEOUT
 * seconds by default), for tests that must not wait ten seconds
 */
void	qctl_set_timeout_ms(struct qctl *, unsigned ms);

#endif
