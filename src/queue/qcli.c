/*
 * qcli.c - "smtpgate queue ..." (qcli.h): arguments, the configuration's
 * queue_dir, then qctl_client.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "queue/qcli.h"
#include "queue/qctl.h"
#include "util/log.h"

#define QCLI_SOCKET	"control"

static void
qcli_usage(FILE *f)
{
	fprintf(f,
	    "usage: smtpgate queue -c FILE list | show ID | flush [ID] |\n"
	    "                      delete ID | hold ID | release ID\n");
}

static void
qcli_conf_err(void *arg, const char *msg)
{
	fprintf(stderr, "%s\n", msg);
}

/*
 * qcli_line - the words argv[from..argc) as one command line, checked
 * here as the gateway will check it, so that a slip is a usage error
 * without bothering the gateway.  0, or -1 with the reason printed.
 */
static int
qcli_line(int argc, char **argv, int from, char *line, size_t len)
{
	struct qctl_req	 req;
	const char	*e;
	size_t		 n = 0, w;
	int		 i;

	line[0] = '\0';
	for (i = from; i < argc; i++) {
		w = strlen(argv[i]);
		if (n + w + 2 > len) {
			fprintf(stderr, "smtpgate queue: command line too long\n");
			return -1;
		}
		if (n > 0)
			line[n++] = ' ';
		memcpy(line + n, argv[i], w + 1);
		n += w;
	}
	if ((e = qctl_parse(line, n, &req)) != NULL) {
		fprintf(stderr, "smtpgate queue: %s\n", e);
		return -1;
	}
	return 0;
}

/* qcli_socket - queue_dir/control from the configuration: 0, or -1 */
static int
qcli_socket(const char *conf_path, char *path, size_t len)
{
	struct gw_conf	*conf = NULL;
	int		 nerr, n;

	/* only errors: the file's warnings are for -t */
	log_init(0, GW_LOG_ERROR, LOGF_ALL);
	if ((nerr = conf_load(conf_path, &conf, qcli_conf_err, NULL)) != 0) {
		fprintf(stderr, "%s: %d error(s)\n", conf_path, nerr);
		return -1;
	}
	if (conf->queue_dir[0] == '\0') {
		fprintf(stderr, "smtpgate queue: %s: [gateway] queue_dir is not "
		    "set, so this gateway has no queue\n", conf_path);
		conf_unref(conf);
		return -1;
	}
	n = snprintf(path, len, "%s/%s", conf->queue_dir, QCLI_SOCKET);
	conf_unref(conf);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "smtpgate queue: %s: queue_dir too long\n",
		    conf_path);
		return -1;
	}
	return 0;
}

int
qcli_main(int argc, char **argv)
{
	const char	*conf_path = NULL;
	char		 line[QCTL_LINE_MAX], path[4096];
	int		 i;

	for (i = 2; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			conf_path = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			qcli_usage(stdout);
			return 0;
		} else {
			qcli_usage(stderr);
			return 2;
		}
	}
	if (conf_path == NULL || i == argc) {
		qcli_usage(stderr);
		return 2;
	}
	if (qcli_line(argc, argv, i, line, sizeof(line)) == -1) {
		qcli_usage(stderr);
		return 2;
	}
	if (qcli_socket(conf_path, path, sizeof(path)) == -1)
		return 2;
	return qctl_client(path, line);
}
