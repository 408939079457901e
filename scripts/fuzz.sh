#!/bin/bash
# fuzz.sh - build the libFuzzer targets with clang and run each one for a
# bounded time.
#
#   scripts/fuzz.sh                 every target, FUZZ_SECONDS each
#   FUZZ_SECONDS=600 scripts/fuzz.sh data conf
#
# Builds build-fuzz/ with CC=clang -DGW_FUZZ=ON (libFuzzer, ASan, UBSan),
# then runs each target on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<target>/ is never written to).  Crash, leak, timeout
# and out-of-memory inputs are written to build-fuzz/fuzz-artifacts/<target>/
# and their paths printed.  Prints one summary line per target and
# "N passed, N failed" at the end; exits non-zero if any target failed.
#
# Environment: FUZZ_SECONDS (per target, default 60), JOBS (targets run at
# once, and parallel build jobs), FUZZ_ARGS (extra libFuzzer flags, e.g. "-jobs=4 -workers=4"),
# KEEP=1 to keep the temporary corpora (new inputs found by this run).
# Needs Debian's clang and libclang-rt-14-dev (libFuzzer's runtime).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
seconds=${FUZZ_SECONDS:-60}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"
build=$top/build-fuzz
artifacts=$build/fuzz-artifacts

# target:max_len.  Commands are at most 512 octets a line and replies 1000,
# so a few lines of each; DATA needs lines over 1000 octets and bodies past
# small limits; an INI file of a few KiB reaches every key; a users_file
# of a few lines; SASL lines reach 12288 octets; POP3 lines are at most
# 512 octets, a greeting and a CAPA reply fit in 4 KiB; a DKIM message
# needs a header block, a body and room for many headers; a certificate
# chain's members are a few KiB; host names are at most 253 octets, a
# certificate may present a hundred; a message for mime_qp needs lines over
# 998 octets behind its header block; a rate limit value is a few octets;
# a PROXY header is at most 1,040 octets, twice that reaches past it
# (and past a proxy reply line's 1 KiB bound, for proxyhs); a
# queue envelope of a few recipients fits 16 KiB; a control command is at
# most 127 octets, 256 reaches past it.
all_targets=(command:2048 reply:8192 data:8192 conf:4096 users:4096 smtp_sasl:16384 sasl:16384 scram:4096 ntlm:4096 gsslayer:512 pop3:4096 dkim:16384 cert:8192 tlsname:4096 mime_qp:16384 rate:64 proxyproto:2048 proxyhs:2048 qenv:16384 qctl:256 logjson:16384 smime_mime:16384)

case $seconds in
'' | *[!0-9]* | 0)
	echo "fuzz: FUZZ_SECONDS must be a positive number" >&2
	exit 2
	;;
esac

if ! command -v clang >/dev/null; then
	echo "fuzz: clang not found (apt-get install clang libclang-rt-14-dev)" >&2
	exit 2
fi
# clang finds its libFuzzer runtime here, or prints the bare name back
rt=$(clang -print-file-name=libclang_rt.fuzzer-x86_64.a)
if [ ! -f "$rt" ]; then
	echo "fuzz: libFuzzer runtime missing (apt-get install libclang-rt-14-dev)" >&2
	exit 2
fi

targets=()
for arg in "${@:-}"; do
	for t in "${all_targets[@]}"; do
		if [ -z "$arg" ] || [ "$arg" = "${t%%:*}" ]; then
			targets+=("$t")
		fi
	done
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: unknown target(s) $*; have: ${all_targets[*]%%:*}" >&2
	exit 2
fi

echo "=== build-fuzz: configure"
CC=clang cmake -S "$top" -B "$build" -DGW_FUZZ=ON -DGW_TESTS=ON \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGW_WERROR=ON >/dev/null
echo "=== build-fuzz: build"
names=()
for t in "${targets[@]}"; do
	names+=("fuzz_${t%%:*}")
done
cmake --build "$build" -j "$jobs" --target "${names[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/smtpgate-fuzz.XXXXXX")
cleanup() {
	if [ "${KEEP:-0}" = "1" ]; then
		echo "fuzz: corpora and logs kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT

# Fail hard on the first report of any sanitizer; libFuzzer sets the rest.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# fuzz_one NAME MAXLEN: one target; its summary lines in $tmp/NAME.sum,
# "PASS" or "FAIL" first.
fuzz_one() {
	local name=$1 maxlen=$2 corpus=$tmp/corpus-$1 log=$tmp/$1.log
	local rc=0 start=$SECONDS elapsed runs cov line repro r
	mkdir -p "$corpus" "$artifacts/$name"
	cp "$top/tests/fuzz/corpus/$name"/* "$corpus"/
	"$build/tests/fuzz/fuzz_$name" -max_total_time="$seconds" \
	    -max_len="$maxlen" -timeout=10 -rss_limit_mb=2048 \
	    -print_final_stats=1 -artifact_prefix="$artifacts/$name/" \
	    "${extra_args[@]}" "$corpus" >"$log" 2>&1 || rc=$?
	elapsed=$((SECONDS - start))

	# the last status line: "#1234 REDUCE cov: 105 ft: 278 corp: 11/2356b ..."
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	cov=$(grep -E '^#[0-9]+' "$log" | tail -n 1 |
	    sed -n 's/.* cov: \([0-9]*\) ft: \([0-9]*\) corp: \([^ ]*\).*/cov \1, ft \2, corpus \3/p')
	line="fuzz_$name: runs ${runs:-?}, ${cov:-cov ?}, ${elapsed}s"
	if [ $rc -eq 0 ]; then
		echo "PASS $line" >"$tmp/$name.sum"
		echo "=== fuzz_$name: done"
		return 0
	fi
	{
		echo "FAIL $line (exit $rc)"
		repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
		for r in $repro; do
			echo "     reproducer: $r"
			echo "     replay: $build/tests/fuzz/fuzz_$name $r"
		done
	} >"$tmp/$name.sum"
	echo "--- fuzz_$name failed (exit $rc); end of its log:" >&2
	tail -n 60 "$log" >&2
}

# JOBS targets at a time: each fuzzer is one single-threaded process.
running=0
for t in "${targets[@]}"; do
	if [ "$running" -ge "$jobs" ]; then
		wait -n || true
		running=$((running - 1))
	fi
	echo "=== fuzz_${t%%:*}: ${seconds}s, -max_len=${t#*:}"
	fuzz_one "${t%%:*}" "${t#*:}" &
	running=$((running + 1))
done
wait || true

passed=0
failed=0
summary=()
for t in "${targets[@]}"; do
	name=${t%%:*}
	if [ -f "$tmp/$name.sum" ] && head -n 1 "$tmp/$name.sum" | grep -q '^PASS'; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		[ -f "$tmp/$name.sum" ] || echo "FAIL fuzz_$name: no result" >"$tmp/$name.sum"
	fi
	mapfile -t lines <"$tmp/$name.sum"
	summary+=("${lines[@]}")
done

echo "=== summary"
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
