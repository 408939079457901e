#!/bin/bash
# valgrind.sh - run the integration tests with every smtpgate under
# valgrind's memcheck (SMTPGATE_VALGRIND=1, see tests/integration/gwtest.py).
#
# Builds build/ (the normal RelWithDebInfo build; incremental, so a build
# that is up to date costs nothing), then runs each
# tests/integration/test_*.py with Debian's /usr/bin/python3.  A memcheck
# error, a definite or indirect leak, or valgrind's exit status 99 fails the
# test that started that gateway; its valgrind.log is kept (the path is in
# the failure).  Tests that cannot run under valgrind in reasonable time
# (the 2000-session load test) report "skip".  Prints one summary line and
# exits non-zero on any failure, and also when a test file left a process
# behind (scripts/leftovers.sh, keyed on a marker unique to this run).
#
# Environment: BUILD_DIR (default build), JOBS (parallel build jobs),
# VALGRIND_FILES (space-separated test file names to run instead of all,
# e.g. "test_relay.py test_faults.py"), SMTPGATE_TIME_SCALE (the harness's
# wait multiplier, default 8 under valgrind), FILE_TIMEOUT (seconds for
# one test file, default 2400), VALGRIND_JOBS (test files run at once,
# default JOBS; each file's output is printed whole when all are done).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
build=${BUILD_DIR:-build}
case $build in /*) ;; *) build=$top/$build ;; esac
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
file_timeout=${FILE_TIMEOUT:-2400}

if [ ! -x /usr/bin/valgrind ]; then
	echo "valgrind.sh: /usr/bin/valgrind is missing (apt-get install valgrind)" >&2
	exit 2
fi

echo "=== $build: configure and build (RelWithDebInfo)"
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_WERROR=ON >/dev/null
cmake --build "$build" -j "$jobs" >/dev/null
bin=$build/smtpgate
[ -x "$bin" ] || { echo "valgrind.sh: no $bin" >&2; exit 2; }

if [ -n "${VALGRIND_FILES:-}" ]; then
	read -r -a files <<<"$VALGRIND_FILES"
	for i in "${!files[@]}"; do
		files[$i]=$top/tests/integration/$(basename "${files[$i]}")
	done
else
	files=("$top"/tests/integration/test_*.py)
fi

export SMTPGATE_VALGRIND=1 SMTPGATE_BIN=$bin SRCDIR=$top
# This pass logs JSON (issue 14): every gateway of the suite writes
# log_format = json and gwtest fails a test on any line of its log that
# is not a JSON object, so the whole suite's logs are checked once in
# each form (ctest runs it in text).  SMTPGATE_TEST_LOG_FORMAT=text
# turns it off.
export SMTPGATE_TEST_LOG_FORMAT=${SMTPGATE_TEST_LOG_FORMAT:-json}
[ "$SMTPGATE_TEST_LOG_FORMAT" != text ] || unset SMTPGATE_TEST_LOG_FORMAT
mark="valgrind.sh-$(hostname)-$$-$(date +%s%N)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpgate-valgrind.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# run_file FILE: one test file, its output in $tmp/NAME.out, its exit
# status in $tmp/NAME.rc.  Each file has a marker of its own, so that the
# leftovers check of one file does not see another file still running.
run_file() {
	local f=$1 name rc t0
	name=$(basename "$f")
	t0=$(date +%s)
	rc=0
	(cd "$top/tests/integration" &&
	    SMTPGATE_TEST_RUN=$mark-$name timeout --kill-after=30 \
	    "$file_timeout" /usr/bin/python3 "$f") >"$tmp/$name.out" 2>&1 || rc=$?
	if ! bash "$top/scripts/leftovers.sh" "$mark-$name" \
	    >>"$tmp/$name.out" 2>&1; then
		echo "FAIL $name: left processes behind" >>"$tmp/$name.out"
		echo left >"$tmp/$name.left"
		[ "$rc" -ne 0 ] || rc=1
	fi
	echo "$rc $(( $(date +%s) - t0 ))" >"$tmp/$name.rc"
	echo "=== $name: done, exit $rc"
}

# VALGRIND_JOBS files at a time (default: JOBS): memcheck is CPU-bound
# and single-threaded, so one file per core.
vjobs=${VALGRIND_JOBS:-$jobs}
start=$(date +%s)
running=0
for f in "${files[@]}"; do
	if [ "$running" -ge "$vjobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	echo "=== $(basename "$f") (under valgrind)"
	run_file "$f" &
	running=$((running + 1))
done
wait || true

passed=0 failed=0 skipped=0 bad_files=() skip_lines=()
for f in "${files[@]}"; do
	name=$(basename "$f")
	out=$tmp/$name.out
	echo "=== $name: output"
	cat "$out" 2>/dev/null || true
	read -r rc secs <"$tmp/$name.rc" 2>/dev/null || { rc=1; secs=?; }
	[ -f "$tmp/$name.left" ] && failed=$((failed + 1))
	# The harness's last line: "N passed, N failed, N skipped".
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 || true)
	# each skip, named again in the summary (not only in the scroll)
	while IFS= read -r line; do
		skip_lines+=("$name: ${line#skip }")
	done < <(grep -E '^skip ' "$out" || true)
	if [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed(,\ ([0-9]+)\ skipped)? ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + ${BASH_REMATCH[4]:-0}))
	else
		echo "FAIL $name: no summary line (exit status $rc)"
		failed=$((failed + 1))
	fi
	if [ "$rc" -ne 0 ]; then
		bad_files+=("$name")
	fi
	echo "=== $name: exit $rc, $secs s"
done

elapsed=$(( $(date +%s) - start ))
for line in "${skip_lines[@]}"; do
	echo "=== valgrind: skipped in $line"
done
echo "=== valgrind: $passed passed, $failed failed, $skipped skipped" \
    "in ${elapsed} s (${#files[@]} files)"
if [ "$failed" -ne 0 ] || [ ${#bad_files[@]} -ne 0 ]; then
	echo "=== valgrind: FAILED: ${bad_files[*]:-}" >&2
	exit 1
fi
echo "=== valgrind: all tests passed"
