/*
 * qstorebench - the queue store alone, no network: T threads each store
 * N messages of S octets (qstore_msg_begin/write/commit) and remove each
 * one D messages later (a delivery that lags acceptance a little), as the
 * gateway's workers do.  Prints wall time, msg/s and the process's CPU
 * (user + system) per message.  Used by docs/performance.md to compare
 * qstore versions on one file system, independent of the network path.
 *
 *   qstorebench DIR [N [T [S [D]]]]    (defaults 2000 4 10000 8)
 *
 * DIR must not exist (made, and left for the caller to remove).
 */
#include <sys/resource.h>
#include <sys/time.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "queue/qstore.h"

#define MAXT	16
#define MAXD	64

struct arg {
	struct qstore	*qs;
	unsigned	 n, size, lag;
	int		 failed;
};

static char	body[1 << 20];

static int
store(struct qstore *qs, unsigned size, uint64_t *id)
{
	struct qstore_msg	*m;
	struct qenv		 e;
	char			 why[QSTORE_WHY_MAX];
	int			 rc;

	if ((*id = qstore_new_id()) == 0 ||
	    (m = qstore_msg_begin(qs, *id, why, sizeof(why))) == NULL)
		return -1;
	if (qstore_msg_write(m, body, size, why, sizeof(why)) == -1) {
		qstore_msg_abort(m);
		return -1;
	}
	memset(&e, 0, sizeof(e));
	e.id = *id;
	e.arrival = e.next = time(NULL);
	if (qenv_set(&e.listener, "bench") == -1 ||
	    qenv_set(&e.client, "[127.0.0.1]:1") == -1 ||
	    qenv_set(&e.sender, "s@example.com") == -1 ||
	    qenv_add_rcpt(&e, "r@example.net", 0, NULL) == -1) {
		qstore_msg_abort(m);
		qenv_free(&e);
		return -1;
	}
	rc = qstore_msg_commit(m, &e, why, sizeof(why));
	if (rc == -1)
		fprintf(stderr, "qstorebench: %s\n", why);
	qenv_free(&e);
	return rc;
}

static void *
worker(void *p)
{
	struct arg	*a = p;
	uint64_t	 ring[MAXD];
	char		 why[QSTORE_WHY_MAX];
	unsigned	 i;

	for (i = 0; i < a->n + a->lag && !a->failed; i++) {
		if (i >= a->lag && qstore_remove(a->qs, ring[(i - a->lag) %
		    MAXD], why, sizeof(why)) == -1)
			a->failed = 1;
		if (i < a->n && store(a->qs, a->size, &ring[i % MAXD]) == -1)
			a->failed = 1;
	}
	return NULL;
}

static double
secs(const struct timeval *tv)
{
	return (double)tv->tv_sec + (double)tv->tv_usec / 1e6;
}

int
main(int argc, char **argv)
{
	struct arg	 a[MAXT];
	pthread_t	 t[MAXT];
	struct rusage	 ru;
	struct timespec	 t0, t1;
	struct qstore	*qs;
	char		 why[QSTORE_WHY_MAX];
	unsigned	 n, nt, size, lag, i;
	double		 wall, cpu;
	int		 failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: qstorebench DIR [N [T [S [D]]]]\n");
		return 2;
	}
	n = argc > 2 ? (unsigned)atoi(argv[2]) : 2000;
	nt = argc > 3 ? (unsigned)atoi(argv[3]) : 4;
	size = argc > 4 ? (unsigned)atoi(argv[4]) : 10000;
	lag = argc > 5 ? (unsigned)atoi(argv[5]) : 8;
	if (n == 0 || nt == 0 || nt > MAXT || size > sizeof(body) ||
	    lag >= MAXD) {
		fprintf(stderr, "qstorebench: bad arguments\n");
		return 2;
	}
	memset(body, 'x', sizeof(body));
	if ((qs = qstore_open(argv[1], NULL, why, sizeof(why))) == NULL) {
		fprintf(stderr, "qstorebench: %s\n", why);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nt; i++) {
		a[i] = (struct arg){ qs, n / nt, size, lag, 0 };
		if (pthread_create(&t[i], NULL, worker, &a[i]) != 0)
			return 1;
	}
	for (i = 0; i < nt; i++) {
		pthread_join(t[i], NULL);
		failed |= a[i].failed;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	getrusage(RUSAGE_SELF, &ru);
	qstore_close(qs);
	n = n / nt * nt;
	wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec -
	    t0.tv_nsec) / 1e9;
	cpu = secs(&ru.ru_utime) + secs(&ru.ru_stime);
	printf("messages=%u threads=%u size=%u lag=%u wall_s=%.2f msg_per_s="
	    "%.0f cpu_ms_per_msg=%.3f sys_ms_per_msg=%.3f%s\n", n, nt, size,
	    lag, wall, n / wall, cpu * 1e3 / n, secs(&ru.ru_stime) * 1e3 / n,
	    failed ? " FAILED" : "");
	return failed;
}
