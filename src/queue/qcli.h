/*
 * qcli - "smtpgate queue -c FILE CMD [ID]": the command line of the
 * queue's control socket (qctl.h).  It reads the configuration for
 * [gateway] queue_dir and sends the command to queue_dir/control.
 */
#ifndef GW_QCLI_H
#define GW_QCLI_H

/*
 * qcli_main - argv[1] is "queue".  Exit code: 0 done, 1 the gateway
 * answered with an error, 2 usage, configuration, or the gateway could
 * not be reached.
 */
int	qcli_main(int argc, char **argv);

#endif
