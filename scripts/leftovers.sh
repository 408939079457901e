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

# Run with the marker in our own environment (by hand, from a shell of the
# run), this script and the subshells it forks would match it: drop it.
[ -n "${SMTPGATE_TEST_RUN+set}" ] &&
    exec env -u SMTPGATE_TEST_RUN bash "$0" "$@"

mark=${1:?usage: leftovers.sh MARK}
want="SMTPGATE_TEST_RUN=$mark"
total=0

# scan: the live processes (not zombies) whose environment holds the
# marker as one whole entry; one grep over every environ file (-z: the
# entries are NUL-separated), not two processes per pid
scan() {
	local f pid state
	grep -lsxzF -- "$want" /proc/[0-9]*/environ 2>/dev/null |
	while IFS= read -r f; do
		pid=${f#/proc/}
		pid=${pid%/environ}
		[ "$pid" = "$$" ] && continue
		# the state follows "(comm) ", and comm may hold blanks
		state=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null |
		    cut -d' ' -f1)
		# gone meanwhile, or dead and waiting for its parent
		[ -n "$state" ] && [ "$state" != "Z" ] && echo "$pid"
	done
}

# A leftover may fork between the scan and the kill: scan again until a
# scan finds nothing, a few rounds at most.
for round in 1 2 3 4 5; do
	mapfile -t found < <(scan)
	[ ${#found[@]} -eq 0 ] && break
	for pid in "${found[@]}"; do
		cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
		echo "leftover process $pid: ${cmd:-?}" >&2
	done
	kill -KILL "${found[@]}" 2>/dev/null
	total=$((total + ${#found[@]}))
	sleep 0.1
done
[ "$total" -eq 0 ] && exit 0
echo "leftovers.sh: $total process(es) left behind by the tests" \
    "(killed now)" >&2
exit 1
