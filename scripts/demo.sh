#!/bin/bash
# demo.sh - see smtpgate relay one real message over STARTTLS, on loopback.
#
#   scripts/install-deps.sh && scripts/demo.sh
#
# Builds smtpgate (incrementally), makes a throw-away test PKI and an
# Ed25519 DKIM key, starts a real SMTP server (tests/integration/upstream.py,
# on aiosmtpd) that requires STARTTLS, starts smtpgate in front of it, sends
# one message through smtpgate with swaks in plaintext, and shows what TLS
# smtpgate negotiated upstream, the message as the server stored it, and
# its DKIM signature verified by python3-dkim.  Everything runs on
# 127.0.0.1 and is stopped at the end.  Exits non-zero if the message did
# not arrive or its signature does not verify.
#
# Environment: SMTPGATE_BIN to use another binary; KEEP=1 keeps the
# temporary directory.
set -euo pipefail
# smtpgate refuses a group- or world-writable configuration file
umask 022

top=$(cd "$(dirname "$0")/.." && pwd)
py=/usr/bin/python3		# Debian's, for python3-aiosmtpd

if [ -t 1 ]; then
	say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
else
	say() { printf '\n== %s\n' "$*"; }
fi
die() { echo "demo: $*" >&2; exit 1; }

bin=${SMTPGATE_BIN:-}
if [ -z "$bin" ]; then
	# always (incrementally): a binary left from an older checkout would
	# show old behaviour
	say "building smtpgate (cmake -B build)"
	cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build" -j "$(nproc 2>/dev/null || echo 2)" --target smtpgate
	bin=$top/build/smtpgate
fi
[ -x "$bin" ] || die "no smtpgate binary at $bin"
command -v swaks >/dev/null || die "swaks missing: run scripts/install-deps.sh"
[ -x "$py" ] || die "$py missing: run scripts/install-deps.sh"

tmp=$(mktemp -d /tmp/smtpgate-demo.XXXXXX)
up_pid=
gw_pid=
cleanup() {
	local p
	for p in $gw_pid $up_pid; do
		kill "$p" 2>/dev/null || true
	done
	for p in $gw_pid $up_pid; do
		wait "$p" 2>/dev/null || true
	done
	if [ "${KEEP:-0}" = 1 ]; then
		echo "demo: files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "making a test PKI (root CA, intermediate, server certificate)"
bash "$top/certs/mkpki.sh" "$tmp/pki"
echo "in $tmp/pki:" $(cd "$tmp/pki" && ls)

say "starting the upstream SMTP server (STARTTLS required)"
"$py" "$top/tests/integration/upstream.py" --mode starttls \
    --cert "$tmp/pki/good-chain.pem" --key "$tmp/pki/good.key" \
    --spool "$tmp/spool" --port 0 >"$tmp/upstream.out" 2>"$tmp/upstream.log" &
up_pid=$!
up_port=
for _ in $(seq 100); do
	up_port=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$tmp/upstream.out")
	[ -n "$up_port" ] && break
	kill -0 "$up_pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$up_port" ] || { cat "$tmp/upstream.log" >&2; die "upstream did not start"; }
echo "upstream.py listening on 127.0.0.1:$up_port"

say "making a DKIM key for demo.test (smtpgate dkim-keygen)"
"$bin" dkim-keygen --algorithm ed25519 --domain demo.test --selector demo \
    --out "$tmp/dkim-demo.key" || die "dkim-keygen failed"
dkim_record=$("$bin" dkim-record "$tmp/dkim-demo.key") ||
    die "dkim-record failed"

gw_port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/smtpgate.ini" <<EOF
[gateway]
hostname = gw.demo.test
log_level = info

[listener local]
listen = 127.0.0.1:$gw_port
allow = 127.0.0.0/8, ::1/128
upstream = provider

[upstream provider]
host = 127.0.0.1
port = $up_port
tls = starttls
ca_file = $tmp/pki/ca-bundle.pem
verify_hostname = yes
tls_name = localhost

[dkim demo]
domain = demo.test
selector = demo
key_file = $tmp/dkim-demo.key
EOF

say "smtpgate configuration ($tmp/smtpgate.ini)"
cat "$tmp/smtpgate.ini"

say "starting smtpgate on 127.0.0.1:$gw_port"
"$bin" -c "$tmp/smtpgate.ini" >"$tmp/smtpgate.log" 2>&1 &
gw_pid=$!
ready=0
for _ in $(seq 100); do
	kill -0 "$gw_pid" 2>/dev/null || break
	if (exec 3<>"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null; then
		ready=1
		break
	fi
	sleep 0.1
done
[ $ready = 1 ] || { cat "$tmp/smtpgate.log" >&2; die "smtpgate did not start"; }

say "sending a message to smtpgate in plaintext (swaks)"
swaks --server "127.0.0.1:$gw_port" --helo legacy-app.demo.test \
    --from app@demo.test --to user@example.test \
    --header "Subject: smtpgate demo" \
    --body "Hello from a legacy program that only speaks plaintext SMTP." \
    --timeout 30 || true

# The message is stored by the time the server answers the final dot.
msg=
for _ in $(seq 50); do
	msg=$(ls "$tmp/spool"/*.eml 2>/dev/null | head -n 1 || true)
	[ -n "$msg" ] && [ -e "${msg%.eml}.json" ] && break
	msg=
	sleep 0.1
done

say "TLS that smtpgate negotiated with the upstream (from its log)"
# One line per upstream connection ("tls upstream=... version=...") and
# one per transaction ("relay ... tls=..."); show the parts that matter.
tls_line=$(grep -E ' tls upstream=' "$tmp/smtpgate.log" | tail -n 1 || true)
if [ -n "$tls_line" ]; then
	echo "upstream connection:" $(grep -oE '(upstream|version|cipher|group|verify)=[^ ]+' <<<"$tls_line")
fi
grep -E ' relay .*tls=' "$tmp/smtpgate.log" | sed 's/^.*: [0-9a-f]\{16\} relay /transaction: /' ||
    echo "(no relay line with tls= in smtpgate's log)"

if [ -z "$msg" ]; then
	say "smtpgate log"
	cat "$tmp/smtpgate.log"
	die "the message did not arrive upstream"
fi

# keep the delivered message (the temp dir with its keys goes away)
out="$top/build/demo-mail"
mkdir -p "$out"
cp "$msg" "${msg%.eml}.json" "$out/"
cp "$tmp/smtpgate.log" "$out/smtpgate.log"
kept="$out/$(basename "$msg")"
say "what the upstream server recorded ($out/$(basename "${msg%.eml}").json)"
cat "${msg%.eml}.json"
say "the message as stored upstream, kept at $kept"
cat "$msg"
say "DKIM: the stored message checked by python3-dkim, the key given as its DNS record"
echo "record: demo._domainkey.demo.test TXT \"$dkim_record\""
PYTHONPATH="$top/tests/dkim" "$py" - "$msg" "$dkim_record" <<'PYEOF' ||
import sys
import dkimverify
with open(sys.argv[1], "rb") as f:
    msg = f.read()
res = dkimverify.dkimpy(msg, {"demo": sys.argv[2]})
print("DKIM-Signature headers: %d, verified: %s" % (len(res), res))
sys.exit(0 if res and all(res) else 1)
PYEOF
    die "the DKIM signature did not verify"
say "demo done: the message went client --plaintext--> smtpgate --TLS--> upstream, DKIM-signed"
