/*
 * conf_files - the files around a configuration: opening the INI file
 * itself safely, and checking that every file and command it names can be
 * used by the user the gateway runs as.
 *
 * Contract: conf_file_open() opens without blocking (a FIFO put in place of
 * the file must not hang start-up, -t or a SIGHUP), and refuses anything
 * but a regular file, or one that group or others may write: the file can
 * name a command to run (token_command).  conf_files_check() tries, with
 * the current credentials, to open every file a snapshot names (they are
 * read again after start: at each AUTH, and on SIGHUP) and to find
 * token_command's program; each problem goes to err as
 * "FILE:LINE: key: /path: not readable by user X (why)".
 * conf_files_check_as() runs the same check as the user start-up would
 * drop to: in a child process that drops to that user when we are root.
 */
#ifndef GW_CONF_FILES_H
#define GW_CONF_FILES_H

#include <stddef.h>
#include <stdio.h>

#include "conf/conf.h"

/*
 * conf_file_open - open path for reading as a configuration file.  NULL
 * with why set ("cannot open: ...", "not a regular file (a FIFO)", ...).
 */
FILE	*conf_file_open(const char *path, char *why, size_t wlen);
/*
 * conf_files_check - check, as the current user, what conf names; user
 * is the name used in messages.  Returns the number of problems.
 */
int	 conf_files_check(const struct gw_conf *, const char *user,
	    conf_error_fn err, void *arg);
/*
 * conf_files_check_as - conf_files_check() as the user the gateway would
 * run as: conf->user when we are root (a forked child drops to it), else
 * ourselves.  An unknown user, or one we cannot become, is one problem.
 * For "smtpgate -t".
 */
int	 conf_files_check_as(const struct gw_conf *, conf_error_fn err,
	    void *arg);
/* conf_self_name - the name of the user we run as (or its uid) */
const char *conf_self_name(char *buf, size_t len);
/*
 * conf_drop_privileges - become user (its uid, gid and only its primary
 * group).  0, or -1 with why set.
 */
int	 conf_drop_privileges(const char *user, char *why, size_t wlen);
/*
 * conf_command_word - the program a "/bin/sh -c" command line runs first,
 * into word: leading NAME=value assignments and "exec" are skipped.  A
 * first word with shell syntax (quotes, $, redirections...), a reserved
 * word or an option cannot be followed: word is then "".  Pure.  NULL, or
 * a static error string.
 */
const char *conf_command_word(const char *cmd, char *word, size_t len);

#endif
