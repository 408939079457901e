#!/bin/bash
# test.sh - build smtpgate and run every test, twice:
#   build/       the normal build (RelWithDebInfo): unit + integration tests
#   build-asan/  -DGW_SANITIZE=ON (AddressSanitizer + UBSan, leaks on)
# and compile (no tests run) the packagers' build:
#   build-release/  CMAKE_BUILD_TYPE=Release (-O3), so that warnings only
#                   the optimiser finds are caught here, not by a packager
# Every build here passes -DGW_WERROR=ON: warnings are errors in the
# project's own builds (CMakeLists.txt leaves -Werror off for Release by
# default, so that a packager's newer compiler does not break the build).
# Exits non-zero if a build or any test fails.  Dependencies come from
# scripts/install-deps.sh; the README's test command is
#   scripts/install-deps.sh && scripts/test.sh
#
# Then the fuzz targets for FUZZ_SECONDS each (scripts/fuzz.sh), the
# integration suite under valgrind (scripts/valgrind.sh), and the container
# image built and run (tests/container/run.sh; a machine that cannot run
# containers reports it skipped).
#
# Every process a test starts carries SMTPGATE_TEST_RUN, a marker unique to
# this run; after each suite scripts/leftovers.sh fails the run, naming
# them, if any of them is still there (a server a test did not stop).
#
# Environment: JOBS (parallel build jobs, default: number of CPUs),
# SKIP_ASAN=1 to run only the normal build, SKIP_RELEASE=1, SKIP_FUZZ=1,
# SKIP_VALGRIND=1, SKIP_CONTAINER=1,
# FUZZ_SECONDS (default 60), CTEST_ARGS (extra arguments to ctest, e.g.
# "-L unit" or "-R relay").
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
read -r -a ctest_args <<<"${CTEST_ARGS:-}"

# Sanitizer settings for every process the tests start: fail hard on the
# first report, find leaks at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-}

status=0
skips=''		# report_skips' lines of each suite, for the summary

# Unique to this run (host, pid, time); only the ctest runs get it, not
# this shell, so that the check below cannot find the script itself.
mark="test.sh-$(hostname)-$$-$(date +%s%N)"

# run_suite DIR [cmake args...]: configure, build, run ctest in DIR.
run_suite() {
	local dir=$1
	shift
	echo "=== $dir: configure"
	cmake -S "$top" -B "$top/$dir" "$@"
	echo "=== $dir: build"
	cmake --build "$top/$dir" -j "$jobs"
	echo "=== $dir: ctest"
	# --timeout is a backstop; the integration tests carry their own.
	local rc=0
	SMTPGATE_TEST_RUN=$mark ctest --test-dir "$top/$dir" -j "$jobs" \
	    --output-on-failure --timeout 600 "${ctest_args[@]}" || rc=1
	echo "=== $dir: processes left behind"
	if ! bash "$top/scripts/leftovers.sh" "$mark"; then
		echo "=== $dir: tests left processes behind" >&2
		rc=1
	fi
	skips+=$(report_skips "$dir")$'\n'
	return $rc
}

# report_skips DIR: every test skipped inside a ctest entry, named.  ctest
# shows a passing entry's output to nobody, so a skip (no root, no
# Dovecot, no network namespace) would pass unseen: gwtest.py prints
# "skip NAME: why", cmocka "[  SKIPPED ] NAME"; LastTest.log has both.
report_skips() {
	local log=$top/$1/Testing/Temporary/LastTest.log
	[ -f "$log" ] || return 0
	awk -v dir="$1" '
	    / Testing: / { entry = $NF }
	    # cmocka names each skipped test twice, and says how many
	    /^\[  SKIPPED \] [0-9]+ test\(s\)/ { next }
	    /^skip / || /^\[  SKIPPED \] / {
		sub(/^\[  SKIPPED \] /, "skip ")
		line = entry ": " substr($0, 6)
		if (!(line in seen)) {
			seen[line] = 1
			print "=== " dir ": skipped in " line
			n++
		}
	    }
	    END { print "=== " dir ": " n + 0 " test(s) skipped" }' "$log"
}

if ! run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_WERROR=ON; then
	echo "=== build: FAILED" >&2
	status=1
fi

if [ "${SKIP_ASAN:-0}" != "1" ]; then
	if ! run_suite build-asan -DGW_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug \
	    -DGW_WERROR=ON; then
		echo "=== build-asan: FAILED" >&2
		status=1
	fi
fi

# Release (-O3) finds what -O2 does not (GCC 12's use-after-free and
# maybe-uninitialized analyses run deeper); compiled with the tests, not run.
if [ "${SKIP_RELEASE:-0}" != "1" ]; then
	echo "=== build-release: configure and build (Release, compile only)"
	if ! { cmake -S "$top" -B "$top/build-release" \
	    -DCMAKE_BUILD_TYPE=Release -DGW_WERROR=ON &&
	    cmake --build "$top/build-release" -j "$jobs"; }; then
		echo "=== build-release: FAILED" >&2
		status=1
	fi
fi

# Fuzzing (clang, libFuzzer) for a bounded time per target, and the
# integration suite once more under valgrind memcheck.
if [ "${SKIP_FUZZ:-0}" != "1" ]; then
	echo "=== fuzz: ${FUZZ_SECONDS:-60} s per target"
	if ! FUZZ_SECONDS=${FUZZ_SECONDS:-60} bash "$top/scripts/fuzz.sh"; then
		echo "=== fuzz: FAILED" >&2
		status=1
	fi
fi
if [ "${SKIP_VALGRIND:-0}" != "1" ]; then
	echo "=== valgrind: integration suite under memcheck"
	if ! bash "$top/scripts/valgrind.sh"; then
		echo "=== valgrind: FAILED" >&2
		status=1
	fi
fi

# The container image (tests/container/run.sh): built from the
# Dockerfile on a base made with debootstrap, run, one message relayed
# through it, its health check.  Exit 77 is "this machine cannot run
# containers": reported as a skip, with the reason, not as a pass.
if [ "${SKIP_CONTAINER:-0}" != "1" ]; then
	echo "=== container: install the engine, build the image, relay"
	crc=0
	bash "$top/scripts/install-deps.sh" --container </dev/null &&
	    bash "$top/tests/container/run.sh" </dev/null || crc=$?
	case $crc in
	0) skips+="=== container: 0 test(s) skipped"$'\n' ;;
	77) skips+="=== container: skipped (see \"skip container:\" above)"$'\n' ;;
	*)
		echo "=== container: FAILED (exit $crc)" >&2
		status=1
		;;
	esac
fi

# the skips of every suite, named, at the end where a CI log is read
printf '%s' "$skips"
if [ $status -eq 0 ]; then
	echo "=== all tests passed"
else
	echo "=== some tests FAILED" >&2
fi
exit $status
