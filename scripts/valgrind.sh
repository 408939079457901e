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
# one test file, default 2400).
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
# Given to the tests only (not exported): see scripts/leftovers.sh.
mark="valgrind.sh-$(hostname)-$$-$(date +%s%N)"
start=$(date +%s)
passed=0 failed=0 skipped=0 bad_files=() skip_lines=()
for f in "${files[@]}"; do
	name=$(basename "$f")
	echo "=== $name (under valgrind)"
	t0=$(date +%s)
	out=$(mktemp)
	set +e
	(cd "$top/tests/integration" &&
	    SMTPGATE_TEST_RUN=$mark timeout --kill-after=30 "$file_timeout" \
	    /usr/bin/python3 "$f") 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	set -e
	if ! bash "$top/scripts/leftovers.sh" "$mark"; then
		echo "FAIL $name: left processes behind"
		failed=$((failed + 1))
		[ "$rc" -ne 0 ] || rc=1
	fi
	# The harness's last line: "N passed, N failed, N skipped".
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 || true)
	# each skip, named again in the summary (not only in the scroll)
	while IFS= read -r line; do
		skip_lines+=("$name: ${line#skip }")
	done < <(grep -E '^skip ' "$out" || true)
	rm -f "$out"
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
	echo "=== $name: exit $rc, $(( $(date +%s) - t0 )) s"
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
