#!/bin/bash
# leftovers.sh MARK - fail if a test run left processes behind.
#
# scripts/test.sh and scripts/valgrind.sh give every test they start the
# environment variable SMTPGATE_TEST_RUN=MARK, a value unique to the run;
# the harness (tests/integration/gwtest.py) passes it on to every server
# it starts (upstream.py, faultup.py, stapleup.py and its openssl s_server,
# openssl ocsp, dovecot, smtpgate).  Once the tests are over, a process
# whose environment still holds it is a leftover: this names each one
# (pid and command line), kills it, and exits 1.  Exit 0: none.
#
# Keyed on the marker, not on names or users: other people's test runs on
# the same machine (often as the same user) never match.  Processes whose
# environment cannot be read are not ours to judge and are skipped.
set -uo pipefail

mark=${1:?usage: leftovers.sh MARK}
want="SMTPGATE_TEST_RUN=$mark"
found=()
for dir in /proc/[0-9]*; do
	pid=${dir#/proc/}
	[ "$pid" = "$$" ] && continue
	# a leftover's environment holds the marker as one whole entry
	if { tr '\0' '\n' <"$dir/environ" | grep -qxF -- "$want"; } \
	    2>/dev/null; then
		cmd=$(tr '\0' ' ' <"$dir/cmdline" 2>/dev/null)
		# the state follows "(comm) ", and comm may hold blanks
		state=$(sed 's/.*) //' "$dir/stat" 2>/dev/null | cut -d' ' -f1)
		[ "$state" = "Z" ] && continue	# dead, waiting for its parent
		found+=("$pid")
		echo "leftover process $pid: ${cmd:-?}" >&2
	fi
done
[ ${#found[@]} -eq 0 ] && exit 0
kill -KILL "${found[@]}" 2>/dev/null
echo "leftovers.sh: ${#found[@]} process(es) left behind by the tests" \
    "(killed now)" >&2
exit 1
