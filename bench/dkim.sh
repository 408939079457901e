#!/bin/bash
# bench/dkim.sh - DKIM signing throughput: bench/dkimbench.c (gw_dkim,
# wolfCrypt) with RSA-2048 and Ed25519 keys made by openssl, 4 KB and 1 MB
# bodies, then OpenSSL's own sign and SHA-256 speed on the same machine as
# a reference.  See docs/performance.md ("DKIM signing").
#
#   bench/dkim.sh                  about half a minute
#   DKIM_COUNT=500 DKIM_SECONDS=1 bench/dkim.sh
#
# Environment: DKIMBENCH_BIN (default build/bench-dkimbench, built
# RelWithDebInfo into build/ if missing), DKIM_COUNT (messages per run at
# most, 2000), DKIM_SECONDS (seconds per run at most, 3).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
bin=${DKIMBENCH_BIN:-$top/build/dkimbench}
if [ ! -x "$bin" ]; then
	echo "dkim.sh: building dkimbench (cmake -B build, RelWithDebInfo)"
	cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build" -j 2 --target dkimbench >/dev/null
	bin=$top/build/dkimbench
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/dkimbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$tmp/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$tmp/ed.pem"
chmod 600 "$tmp"/*.pem

echo "=== gw_dkim (wolfCrypt): whole messages, relaxed/relaxed"
"$bin" -n "${DKIM_COUNT:-2000}" -s "${DKIM_SECONDS:-3}" \
    "$tmp/rsa.pem" "$tmp/ed.pem"

echo "=== the same, relaxed body hash only (dkim_msg_new_canons)"
"$bin" -1 -n "${DKIM_COUNT:-2000}" -s "${DKIM_SECONDS:-3}" \
    "$tmp/rsa.pem" "$tmp/ed.pem" | grep 1048576

echo "=== reference: OpenSSL $(openssl version | cut -d' ' -f2), 1 s each"
openssl speed -seconds 1 rsa2048 ed25519 2>/dev/null |
    grep -E 'sign|bits' || true
echo "sha256, 16 KB blocks, kB/s:"
openssl speed -seconds 1 -bytes 16384 sha256 2>/dev/null | tail -n 1
