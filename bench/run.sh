#!/bin/bash
# bench/run.sh - measure smtpgate against stunnel4 and a plaintext baseline.
#
#   scripts/install-deps.sh --bench && bench/run.sh
#   BENCH_QUICK=1 bench/run.sh          # smaller counts, about 2.5 minutes
#
# Everything runs on 127.0.0.1 and is stopped at the end.  The upstream is
# Postfix's smtp-sink (plaintext, fast) behind stunnel4 in server mode, with
# an ECDSA P-256 certificate from certs/mkpki.sh (implicit-TLS port), and
# behind a private Postfix smtpd instance (STARTTLS port; smtpd offers
# STARTTLS and hands each transaction to smtp-sink with smtpd_proxy_filter,
# so nothing is queued; BENCH_STLS=smtpgate puts a second smtpgate there
# instead).  stunnel's server side is not used for STARTTLS: with
# protocol = smtp it waits 200 ms on every new connection.  In front of the
# upstream, one at a time:
#
#   plain        the load generator straight to smtp-sink (no TLS at all)
#   plain-pf     straight to the STARTTLS upstream (Postfix's smtpd, or
#                the smtpgate front of BENCH_STLS=smtpgate), in
#                plaintext: that upstream's own rate and latency, which
#                cap the STARTTLS rows (one message per session, latency)
#   smtpgate     plaintext listener, upstream = the sink's TLS port, chain
#                and host-name verification against the test CA
#   stunnel      stunnel4 in client mode towards the same port, with
#                verifyChain = yes, checkHost = localhost, CAfile = test CA
#
# Two load shapes, each on both upstream TLS modes (implicit TLS and
# STARTTLS): one message per session (the upstream set-up is paid per
# message, unless the proxy reuses connections) and many messages per
# session (bulk relaying).  Then session latency at concurrency 1, CPU per
# message, and a summary against issue 11's targets.  The load generator
# is bench/smtpload.c (built here with gcc); it reports messages/s and the
# p50/p99 latency per message (MAIL to final 250) and per session (connect
# to the final 250).  Postfix's smtp-source gives a second throughput
# figure.  Memory: peak RSS (VmHWM) of each proxy under load, RSS per
# idle open session with BENCH_IDLE (1000) sessions held open, and RSS per
# idle pooled upstream connection (when smtpgate has a `pool` key).  See
# docs/performance.md.
#
# TLS client side (issue 12): the clients speak implicit TLS (smtpload -T,
# wolfSSL, a full handshake per session, chain and name checked against
# the test CA) and the sink is the plaintext smtp-sink itself, so only the
# client-side TLS is measured:
#
#   tlsc-smtpgate  a listener with tls = implicit (the same certificate),
#                  [upstream] tls = none straight to smtp-sink
#   tlsc-stunnel   stunnel4 in server mode, accept TLS, connect to the sink
#
# Both load shapes, msg/s, CPU per message (the proxy's, and the load
# generator's, which does the expensive side of each handshake), peak RSS,
# RSS per idle TLS client session (handshake done, greeting read).  With
# BENCH_HOLD=N, smtpgate then holds N plaintext and N implicit-TLS client
# sessions at once (greeting read, then idle), each in a fresh process:
# total VmRSS, kB per session, the time to open them and smtpgate's CPU
# per session opened; stunnel too when the open-file limit allows 2N.
#
# Pipelining load (issue 13): both load shapes again with smtpload -P, which
# sends MAIL, RCPT and DATA in one write when the EHLO reply lists
# PIPELINING (as msmtp and Postfix's smtp client do; the dot's 250 is read
# before the next batch), for the plain floor, smtpgate and stunnel on the
# implicit-TLS upstream.  stunnel is a byte pipe, so the client's batch
# reaches the sink as it is; smtpgate answers the client itself.  Rows
# "-P", ratios smtpgate / stunnel next to the lockstep rows, and sessions
# that found no PIPELINING (lockstep=) are reported.  No smtp-source
# figure for these rows (it does not pipeline).
#
# Big message (issue 13): one message of BENCH_BIG_MB MiB relayed end to
# end, BENCH_BIG_RUNS times, through smtpgate (plaintext listener, implicit
# TLS upstream, max_message_size raised) and through stunnel: MiB/s of
# each (connect to the final 250), the ratio, the proxy's CPU per MiB, and
# its memory: idle VmRSS before the first run against the peak VmRSS that
# smtpload -R samples every 20 ms during the runs, and VmHWM after a reset
# (clear_refs) before them.  bench/bigmsg.sh.  The figures are checked
# against issue 13's targets at the end.
#
# Environment:
#   BENCH_QUICK=1       smaller counts (smoke run, about 2.5 minutes on a
#                       busy 2-core machine; the issue 13 rows ~30-40 s)
#   BENCH_PORT=N        first of 4 consecutive loopback ports (29250;
#                       below the kernel's ephemeral range, 32768 up)
#   BENCH_SIZE=BYTES    message size (10000)
#   BENCH_CONC=N        parallel sessions (10)
#   BENCH_N1=N          messages, one per session (2000; quick: 400)
#   BENCH_NM=N          messages, many per session (10000; quick: 3000)
#   BENCH_ROUNDS=N      rounds of every load run; the figures are medians
#                       (peak RSS: the highest) (3; quick: 1)
#   BENCH_IDLE=N        idle sessions to hold open (1000)
#   BENCH_LAT=N         sessions for the latency at concurrency 1 (1000;
#                       quick: 200)
#   BENCH_POOLIDLE=N    idle pooled upstream connections to open (50)
#   BENCH_GW_EXTRA=TEXT lines appended to smtpgate's [upstream] section in
#                       every smtpgate configuration ("\n" separates lines),
#                       e.g. BENCH_GW_EXTRA='tls_resume = no'
#   BENCH_STLS=smtpgate the STARTTLS upstream is a second smtpgate
#                       (listener tls = starttls, plaintext pool to the
#                       sink) instead of Postfix's smtpd, whose proxy
#                       filter opens a sink connection per transaction
#                       and caps those rows; default postfix
#   BENCH_TLSCLIENT=0   skip the TLS client side row (default 1)
#   BENCH_HOLD=N        also hold N plaintext, then N TLS client sessions
#                       open through smtpgate (e.g. 10000; default 0: off)
#   BENCH_PIPE=0        skip the pipelining load rows (default 1)
#   BENCH_BIG=0         skip the big message row (default 1, also quick)
#   BENCH_BIG_MB=N      its size in MiB, 1 to 1000 (50)
#   BENCH_BIG_RUNS=N    messages through each proxy, 1 to 10 (3)
#   SMTPGATE_BIN=PATH   the binary to measure (default build/smtpgate,
#                       built RelWithDebInfo into build/ if missing)
#   KEEP=1              keep the temporary directory (configs and logs)
set -euo pipefail
# smtpgate refuses a group- or world-writable configuration file
umask 022

top=$(cd "$(dirname "$0")/.." && pwd)
quick=${BENCH_QUICK:-0}
base=${BENCH_PORT:-29250}
size=${BENCH_SIZE:-10000}
conc=${BENCH_CONC:-10}
if [ "$quick" = 1 ]; then
	n1=${BENCH_N1:-400}
	nm=${BENCH_NM:-3000}
	rounds=${BENCH_ROUNDS:-1}
	nlat=${BENCH_LAT:-200}
else
	n1=${BENCH_N1:-2000}
	nm=${BENCH_NM:-10000}
	rounds=${BENCH_ROUNDS:-3}
	nlat=${BENCH_LAT:-1000}
fi
idle=${BENCH_IDLE:-1000}
tlsclient=${BENCH_TLSCLIENT:-1}
stls_want=${BENCH_STLS:-postfix}
hold=${BENCH_HOLD:-0}
pipe=${BENCH_PIPE:-1}
big=${BENCH_BIG:-1}
bigmb=${BENCH_BIG_MB:-50}
bigruns=${BENCH_BIG_RUNS:-3}
poolidle=${BENCH_POOLIDLE:-50}
gw_extra=$(printf '%b' "${BENCH_GW_EXTRA:-}")
warm=20			# messages through a fresh proxy before measuring
tlimit=120		# seconds: upper bound for any one load run

# die, note, wait_port, wait_gone, cpu_ticks, kv, ratio, verdict ...
source "$top/bench/lib.sh"

for v in base size conc n1 nm idle rounds nlat poolidle; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$base" -ge 1024 ] && [ "$base" -le 65525 ] || die "BENCH_PORT must be 1024..65525"
[[ $hold =~ ^[0-9]+$ ]] && [ "$hold" -le 100000 ] || die "BENCH_HOLD must be 0..100000"
[[ $pipe =~ ^[01]$ ]] || die "BENCH_PIPE must be 0 or 1"
case $stls_want in postfix | smtpgate) ;; *) die "BENCH_STLS must be postfix or smtpgate" ;; esac
[[ $big =~ ^[01]$ ]] || die "BENCH_BIG must be 0 or 1"
[[ $bigmb =~ ^[0-9]+$ ]] && [ "$bigmb" -ge 1 ] && [ "$bigmb" -le 1000 ] ||
    die "BENCH_BIG_MB must be 1..1000"
[[ $bigruns =~ ^[0-9]+$ ]] && [ "$bigruns" -ge 1 ] && [ "$bigruns" -le 10 ] ||
    die "BENCH_BIG_RUNS must be 1..10"
bigbytes=$((bigmb * 1048576))
bigmax=$((bigmb + 1))		# smtpgate's max_message_size, in MiB (headers)
bigtl=$((60 + bigmb * 2))	# seconds: bound of one big message (0.5 MiB/s)
mps=$(( (nm + conc - 1) / conc ))	# messages per session, many-per-session shape

for c in smtp-sink smtp-source stunnel4 gcc ss; do
	command -v "$c" >/dev/null ||
	    PATH=$PATH:/usr/sbin command -v "$c" >/dev/null ||
	    die "$c missing: run scripts/install-deps.sh --bench"
done
export PATH=$PATH:/usr/sbin

bin=${SMTPGATE_BIN:-$top/build/smtpgate}
if [ ! -x "$bin" ]; then
	note "building smtpgate (cmake -B build, RelWithDebInfo)"
	cmake -S "$top" -B "$top/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$top/build" -j "$(nproc 2>/dev/null || echo 2)" --target smtpgate >/dev/null
	bin=$top/build/smtpgate
fi
[ -x "$bin" ] || die "no smtpgate binary at $bin"

# 1000 idle sessions through stunnel take 2000 descriptors in each stunnel
# and 1000 in the sink and in the load generator.
need=$(( idle * 2 + 200 ))
[ "$need" -lt 4096 ] && need=4096
# holding N sessions: N descriptors in smtpgate and in the load generator
# (stunnel: 2N, and N in the sink); root may raise the hard limit
if [ "$hold" -gt 0 ]; then
	[ "$need" -ge $((hold + 200)) ] || need=$((hold + 200))
	ulimit -Hn 65536 2>/dev/null || true
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge "$need" ] ||
    die "open-file limit $(ulimit -n) is below $need (raise ulimit -n)"

P_SINK=$base			# smtp-sink, plaintext
P_TLS=$((base + 1))		# stunnel server -> sink, implicit TLS
P_STLS=$((base + 2))		# Postfix smtpd (or an smtpgate) -> sink, STARTTLS
P_PROXY=$((base + 3))		# the proxy being measured
for p in $(seq "$base" $((base + 3))); do
	if ss -Hltn "sport = :$p" | grep -q .; then
		die "port $p is in use (set BENCH_PORT)"
	fi
done

tmp=$(mktemp -d /tmp/smtpgate-bench.XXXXXX)
sink_pid=
stsrv_pid=
pf_pid=
proxy_pid=
hold_pid=
cleanup() {
	local p
	# (in braces: a bare "exec 9>&- 2>/dev/null" would also send the
	# rest of standard error, the KEEP note included, to /dev/null)
	{ exec 9>&-; } 2>/dev/null || true
	# Postfix's master stops the smtpd processes of its own process group
	for p in $hold_pid $proxy_pid $stsrv_pid $pf_pid $sink_pid; do
		kill "$p" 2>/dev/null || true
	done
	for p in $hold_pid $proxy_pid $stsrv_pid $pf_pid $sink_pid; do
		wait_gone "$p"
	done
	if [ "${KEEP:-0}" = 1 ]; then
		note "files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

hz=$(getconf CLK_TCK)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
note "load average before the run: $load_before"
note "building the load generator"
gcc -O2 -Wall -o "$tmp/smtpload" "$top/bench/smtpload.c" -lwolfssl
note "making the test PKI"
bash "$top/certs/mkpki.sh" "$tmp/pki" >/dev/null
pki=$tmp/pki
# smtpgate's listener key must be private (the Postfix set-up below opens
# good.key to its smtpd)
cp "$pki/good.key" "$pki/gw.key"
chmod 600 "$pki/gw.key"

# --- the upstream: smtp-sink behind stunnel in server mode ---------------
sink_user=()
[ "$(id -u)" -eq 0 ] && sink_user=(-u nobody)
# -a: no AUTH offered; -t: idle sessions may be held for a while;
# -m: enough simultaneous sessions for the idle test.
sink_max=$((idle + 500))
[ "$sink_max" -ge $((hold + 500)) ] || sink_max=$((hold + 500))
smtp-sink "${sink_user[@]}" -a -t 600 -m "$sink_max" \
    "127.0.0.1:$P_SINK" 1024 >"$tmp/sink.log" 2>&1 &
sink_pid=$!
cat >"$tmp/stunnel-sink.conf" <<EOF
foreground = quiet
pid =
syslog = no
debug = warning
output = $tmp/stunnel-sink.log
[sink-tls]
accept = 127.0.0.1:$P_TLS
connect = 127.0.0.1:$P_SINK
cert = $pki/good-chain.pem
key = $pki/good.key
EOF
# The STARTTLS port: stunnel's server side with protocol = smtp waits 200
# ms on each new connection (to see whether the client speaks first), which
# would swamp one message per session.  A private Postfix instance does not
# wait: its master runs one smtpd (TLS at "may", the same certificate)
# that hands each transaction to smtp-sink (smtpd_proxy_filter), so nothing
# is queued or delivered.  Postfix's master must start as root; without
# root the old stunnel port is used, and one message per session over
# STARTTLS is not measured.  BENCH_STLS=smtpgate needs no root.
stls_sink=$stls_want
if [ "$stls_sink" = smtpgate ]; then
	# BENCH_STLS=smtpgate: the binary under test as the STARTTLS server,
	# its own pool of plaintext connections to the sink; no warm-up of
	# processes is needed (one process, one loop)
	cat >"$tmp/stls-front.ini" <<EOF
[gateway]
hostname = sink.bench.test
log_level = warning
log_facilities = none
log_target = stderr
max_sessions = $((idle + 1000))
[listener front]
listen = 127.0.0.1:$P_STLS
allow = 127.0.0.0/8
upstream = sink
max_sessions_per_client = $((idle + 1000))
tls = starttls
tls_cert = $pki/good-chain.pem
tls_key = $pki/gw.key
[upstream sink]
host = 127.0.0.1
port = $P_SINK
tls = none
EOF
	"$bin" -t -c "$tmp/stls-front.ini" >"$tmp/check.out" 2>&1 ||
	    die "the smtpgate STARTTLS upstream: configuration refused: $(cat "$tmp/check.out")"
	setsid "$bin" -c "$tmp/stls-front.ini" >"$tmp/stls-front.log" 2>&1 &
	pf_pid=$!
elif [ "$(id -u)" -ne 0 ] || [ ! -x /usr/lib/postfix/sbin/master ] ||
    ! getent passwd postfix >/dev/null; then
	stls_sink=stunnel
	note "not root or no Postfix master: STARTTLS upstream is stunnel (protocol = smtp, 200 ms per connection); one message per session over STARTTLS is skipped"
	cat >>"$tmp/stunnel-sink.conf" <<EOF
[sink-starttls]
accept = 127.0.0.1:$P_STLS
connect = 127.0.0.1:$P_SINK
protocol = smtp
cert = $pki/good-chain.pem
key = $pki/good.key
EOF
else
	pf=$tmp/postfix
	mkdir -p "$pf/q/pid" "$pf/q/private" "$pf/q/public" "$pf/data"
	chown -R postfix "$pf/q" "$pf/data"
	chmod 700 "$pf/q/private"
	chgrp postdrop "$pf/q/public" 2>/dev/null || true
	chmod 710 "$pf/q/public"
	chmod 755 "$tmp"	# smtpd (user postfix) reads the key below $tmp
	chmod 644 "$pki/good.key"
	cat >"$pf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/q
data_directory = $pf/data
mail_owner = postfix
myhostname = sink.bench.test
mydestination =
mynetworks = 127.0.0.0/8
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = $pf/maillog
maillog_file_prefixes = $tmp
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_tls_security_level = may
smtpd_tls_chain_files = $pki/good.key, $pki/good-chain.pem
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions =
smtpd_reject_unlisted_recipient = no
smtpd_proxy_filter = 127.0.0.1:$P_SINK
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_error_sleep_time = 0
default_process_limit = $((idle + 500))
max_use = 100000
max_idle = 600
message_size_limit = 0
EOF
	cat >"$pf/master.cf" <<EOF
127.0.0.1:$P_STLS inet n - n - - smtpd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
anvil     unix  -       -       n       -       1       anvil
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
	# its own session: on SIGTERM the master stops its process group
	setsid /usr/lib/postfix/sbin/master -d -c "$pf" >"$tmp/postfix.out" 2>&1 &
	pf_pid=$!
fi
stunnel4 "$tmp/stunnel-sink.conf" >>"$tmp/stunnel-sink.log" 2>&1 &
stsrv_pid=$!
for p in $P_SINK $P_TLS $P_STLS; do
	wait_port "$p" || die "the sink did not come up on port $p (see logs in KEEP=1 run)"
done
if [ "$stls_sink" = postfix ]; then
	# Postfix's master starts smtpd processes on demand (each loads the
	# certificate): have enough of them running before anything is measured
	"$tmp/smtpload" -p "$P_STLS" -n $((conc * 4)) -c $((conc * 2)) -m 1 -s 100 \
	    -t 30 -l pf-warmup >/dev/null ||
	    die "the Postfix STARTTLS sink does not take mail (log: $(tail -3 "$tmp/postfix/maillog" 2>/dev/null))"
	# Short sessions one after another are served by the same few smtpd
	# processes; the master starts another only while all are busy, one
	# at a time (about 0.1 s each here).  A pooled proxy keeps its
	# connections, so its first seconds waited for process starts (a
	# staircase of 0.1 to 0.6 s transactions, which decided a quick
	# run's msg/s).  Hold 3 x BENCH_CONC sessions open at once for a
	# moment, so that many are started before anything is measured.
	(sleep 3 | "$tmp/smtpload" -p "$P_STLS" -I $((conc * 3)) -t 30 \
	    >"$tmp/pf-hold.out" 2>&1) || true
	grep -q "^held $((conc * 3))" "$tmp/pf-hold.out" ||
	    die "could not hold $((conc * 3)) sessions open at the Postfix STARTTLS sink: $(tail -2 "$tmp/pf-hold.out")"
fi

# --- the proxies under test ---------------------------------------------
# write_conf NAME: the configuration file for proxy NAME
write_conf() {
	case $1 in
	smtpgate-*)
		local port=$P_TLS tls=implicit more=$gw_extra lmore=
		case $1 in *-starttls) port=$P_STLS tls=starttls ;; esac
		case $1 in
		smtpgate-big-*)
			# the big message, and nothing else changed
			lmore="max_message_size = ${bigmax}M"
			;;
		smtpgate-nopool-*)
			# pool = no first; a pool line of BENCH_GW_EXTRA would
			# repeat the key
			more=$(printf 'pool = no\n%s' "$(grep -v '^[[:space:]]*pool[[:space:]]*=' <<<"$gw_extra" || true)")
			;;
		smtpgate-poolidle-*)
			[ "$has_pool_max_idle" = 0 ] ||
			    more=$(printf 'pool_max_idle = %s\n%s' "$poolidle" "$(grep -v '^[[:space:]]*pool_max_idle[[:space:]]*=' <<<"$gw_extra" || true)")
			;;
		smtpgate-poolwarm-*)
			# pre-warmed: the idle connections and nothing else
			more=$(printf 'pool_max_idle = %s\npool_min_idle = %s\n%s' "$poolidle" "$poolidle" "$(grep -v '^[[:space:]]*pool_m[a-z]*_idle[[:space:]]*=' <<<"$gw_extra" || true)")
			;;
		esac
		cat >"$tmp/$1.ini" <<EOF
[gateway]
hostname = bench.test
log_level = info
log_facilities = none
log_target = stderr
max_sessions = $((idle + 1000))
[listener bench]
listen = 127.0.0.1:$P_PROXY
allow = 127.0.0.0/8
upstream = sink
max_sessions_per_client = $((idle + 1000))
$lmore
[upstream sink]
host = 127.0.0.1
port = $port
tls = $tls
tls_name = localhost
ca_file = $pki/ca-bundle.pem
verify_hostname = yes
$more
EOF
		;;
	tlsc-smtpgate | hold-plain | hold-tls)
		# clients in TLS (hold-plain: plaintext), upstream the
		# plaintext sink; the hold needs room for $hold sessions
		local ltls="tls = implicit
tls_cert = $pki/good-chain.pem
tls_key = $pki/gw.key" max=$((idle + 1000))
		[ "$1" != hold-plain ] || ltls="tls = none"
		[ "$max" -ge $((hold + 100)) ] || max=$((hold + 100))
		cat >"$tmp/$1.ini" <<EOF
[gateway]
hostname = bench.test
log_level = info
log_facilities = none
log_target = stderr
max_sessions = $max
[listener bench]
listen = 127.0.0.1:$P_PROXY
allow = 127.0.0.0/8
upstream = sink
max_sessions_per_client = $max
$ltls
[upstream sink]
host = 127.0.0.1
port = $P_SINK
tls = none
$gw_extra
EOF
		;;
	tlsc-stunnel | hold-stunnel)
		cat >"$tmp/$1.conf" <<EOF
foreground = quiet
pid =
syslog = no
output = $tmp/$1.log
[bench]
accept = 127.0.0.1:$P_PROXY
connect = 127.0.0.1:$P_SINK
cert = $pki/good-chain.pem
key = $pki/good.key
EOF
		;;
	stunnel-implicit | stunnel-starttls | stunnel-noresume)
		local port=$P_TLS extra=
		[ "$1" = stunnel-starttls ] && port=$P_STLS extra="protocol = smtp"
		[ "$1" = stunnel-noresume ] && extra="sessionResume = no"
		cat >"$tmp/$1.conf" <<EOF
foreground = quiet
pid =
syslog = no
output = $tmp/$1.log
[bench]
client = yes
accept = 127.0.0.1:$P_PROXY
connect = 127.0.0.1:$port
verifyChain = yes
CAfile = $pki/ca-bundle.pem
checkHost = localhost
$extra
EOF
		;;
	esac
}

# the STARTTLS upstream in row labels (short: in the targets table)
stls_up="Postfix smtpd" stls_short=Postfix
[ "$stls_sink" != smtpgate ] || stls_up="smtpgate front" stls_short=front

# pf_ticks: CPU ticks of the STARTTLS upstream, Postfix or smtpgate (0 without)
pf_ticks() { if [ -n "$pf_pid" ]; then group_ticks "$pf_pid"; else echo 0; fi; }

# gw_accepts LINE: smtpgate -t accepts LINE in its [upstream] section (a
# key it does not know fails the check, so keys of later work are only
# used once the binary has them)
gw_accepts() {
	local save=$gw_extra rc=0
	gw_extra=$1
	write_conf smtpgate-probe-implicit
	gw_extra=$save
	"$bin" -t -c "$tmp/smtpgate-probe-implicit.ini" >/dev/null 2>&1 || rc=1
	return $rc
}

# start_proxy NAME: start it (fresh process), set proxy_pid, warm it up
start_proxy() {
	proxy_pid=
	case $1 in
	plain | plain-pf) return 0 ;;
	smtpgate-* | tlsc-smtpgate | hold-plain | hold-tls)
		write_conf "$1"
		"$bin" -t -c "$tmp/$1.ini" >"$tmp/check.out" 2>&1 ||
		    die "$1: configuration refused: $(cat "$tmp/check.out")"
		"$bin" -c "$tmp/$1.ini" >>"$tmp/$1.log" 2>&1 &
		proxy_pid=$!
		;;
	stunnel-* | tlsc-stunnel | hold-stunnel)
		write_conf "$1"
		stunnel4 "$tmp/$1.conf" >>"$tmp/$1.log" 2>&1 &
		proxy_pid=$!
		;;
	esac
	wait_port "$P_PROXY" || die "$1 did not come up (log: $(tail -3 "$tmp/$1.log"))"
	tlsf "$1"
	"$tmp/smtpload" "${tf[@]}" -p "$P_PROXY" -n "$warm" -c 2 -m 1 -s "$size" -t 30 \
	    -l warmup >/dev/null || die "$1: warm-up messages failed (log: $(tail -3 "$tmp/$1.log"))"
}

stop_proxy() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null || true
		wait_gone "$proxy_pid"
	fi
	proxy_pid=
	# the port must be free before the next proxy starts (at most 10 s)
	for _ in $(seq 100); do
		ss -Hltn "sport = :$P_PROXY" | grep -q . || return 0
		sleep 0.1
	done
	die "port $P_PROXY still in use"
}

# tlsf NAME: set tf to smtpload's TLS options for NAME (none: plaintext)
tlsf() {
	case $1 in
	tlsc-* | hold-tls | hold-stunnel) tf=(-T -C "$pki/ca-bundle.pem") ;;
	*) tf=() ;;
	esac
}

# is_gw NAME: NAME is an smtpgate configuration
is_gw() {
	case $1 in
	smtpgate-* | tlsc-smtpgate | hold-plain | hold-tls) return 0 ;;
	esac
	return 1
}

# port_of NAME: where the load goes
port_of() {
	case $1 in
	plain) echo "$P_SINK" ;;
	plain-pf) echo "$P_STLS" ;;
	*) echo "$P_PROXY" ;;
	esac
}

declare -A R	# R[shape,name,metric,round]

# measure SHAPE NAME N PER_SESSION ROUND
measure() {
	local shape=$1 name=$2 n=$3 per=$4 rd=$5 port out t0 t1 k
	local c0=0 c1=0 s0 s1 f0 f1 u0 u1 b0 b1 dp ds df du own lf=()
	# shapes ending in P: the pipelining load
	case $shape in *P) lf=(-P) ;; esac
	start_proxy "$name"
	port=$(port_of "$name")
	[ -n "$proxy_pid" ] && c0=$(cpu_ticks "$proxy_pid")
	s0=$(cpu_ticks "$sink_pid"); f0=$(cpu_ticks "$stsrv_pid"); u0=$(pf_ticks)
	# the machine's busy time right around the load run: reading the
	# processes' times forks, and that must not count as other load
	tlsf "$name"
	b0=$(sys_busy); t0=$(date +%s.%N)
	out=$("$tmp/smtpload" "${tf[@]}" "${lf[@]}" -p "$port" -n "$n" -c "$conc" \
	    -m "$per" -s "$size" -t "$tlimit" -l "$name") ||
	    note "$shape $name: some messages failed: $out"
	t1=$(date +%s.%N); b1=$(sys_busy)
	[ -n "$proxy_pid" ] && c1=$(cpu_ticks "$proxy_pid")
	s1=$(cpu_ticks "$sink_pid"); f1=$(cpu_ticks "$stsrv_pid"); u1=$(pf_ticks)
	# ticks of the proxy, the sink, the stunnel server, the STARTTLS upstream
	dp=$((c1 - c0)) ds=$((s1 - s0)) df=$((f1 - f0)) du=$((u1 - u0))
	for k in ok msg_per_s mail_p50_ms mail_p99_ms sess_p50_ms sess_p99_ms \
	    lockstep; do
		R[$shape,$name,$k,$rd]=$(kv "$out" $k)
	done
	# CPU used by processes that are not part of this bench, in % of
	# the machine: a sign that another job disturbed the measurement
	own=$(awk -v c="$(kv "$out" cpu_s)" -v hz="$hz" 'BEGIN { print c * hz }')
	R[$shape,$name,other,$rd]=$(awk -v b=$((b1 - b0)) \
	    -v o=$((dp + ds + df + du)) -v l="$own" -v t0="$t0" \
	    -v t1="$t1" -v hz="$hz" -v np="$(nproc)" 'BEGIN {
		v = (b - o - l) * 100 / ((t1 - t0) * hz * np); if (v < 0) v = 0
		printf "%.0f", v }')
	# what the bench's other processes (sink, its TLS front, the
	# STARTTLS upstream, the loader) cost per message, and the share of
	# the machine all of the bench's processes used: "what this machine
	# allows" in the report; only for a row whose every message went
	# through and whose load generator reported its own CPU time
	if [ -n "$(kv "$out" cpu_s)" ] && [ "${R[$shape,$name,ok,$rd]}" = "$n" ]; then
		R[$shape,$name,rest,$rd]=$(awk -v t=$((ds + df + du)) -v l="$own" \
		    -v n="$n" -v hz="$hz" 'BEGIN { printf "%.4f", (t + l) * 1000 / hz / n }')
		R[$shape,$name,busy,$rd]=$(awk -v t=$((dp + ds + df + du)) \
		    -v l="$own" -v t0="$t0" -v t1="$t1" -v hz="$hz" -v np="$(nproc)" \
		    'BEGIN { printf "%.3f", (t + l) / ((t1 - t0) * hz * np) }')
		# each process's CPU in % of one core: one of the single-
		# threaded ones (loader, sink, an smtpgate) at 100 % holds
		# the row whatever the machine has left
		R[$shape,$name,cores,$rd]=$(awk -v p="$dp" -v l="$own" \
		    -v s="$ds" -v f="$df" -v u="$du" \
		    -v t0="$t0" -v t1="$t1" -v hz="$hz" 'BEGIN { w = (t1 - t0) * hz
			printf "%.0f %.0f %.0f %.0f %.0f", p * 100 / w, l * 100 / w,
			    s * 100 / w, f * 100 / w, u * 100 / w }')
	fi
	if [ -n "$proxy_pid" ]; then
		R[$shape,$name,hwm,$rd]=$(status_kb "$proxy_pid" VmHWM)
		R[$shape,$name,cpu,$rd]=$(awk -v t="$dp" -v n="$n" -v hz="$hz" \
		    'BEGIN { printf "%.3f", t * 1000 / hz / n }')
	fi
	# the load generator's own CPU per message (with TLS clients it
	# does the dearer half of every handshake)
	R[$shape,$name,lcpu,$rd]=$(awk -v c="$(kv "$out" cpu_s)" -v n="$n" \
	    'BEGIN { if (c != "") printf "%.3f", c * 1000 / n }')
	# the same load with Postfix's smtp-source, for throughput only (it
	# has no implicit TLS, and does not pipeline)
	local d=()
	[ "$per" -gt 1 ] && d=(-d)
	t0=$(date +%s.%N)
	if [ ${#tf[@]} -gt 0 ] || [ ${#lf[@]} -gt 0 ]; then
		R[$shape,$name,src,$rd]=-
	elif timeout "$tlimit" smtp-source "${d[@]}" -s "$conc" -m "$n" -l "$size" \
	    -f sender@bench.test -t rcpt@bench.test -M bench.test \
	    "127.0.0.1:$port" >"$tmp/source.out" 2>&1; then
		t1=$(date +%s.%N)
		R[$shape,$name,src,$rd]=$(awk -v a="$t0" -v b="$t1" -v n="$n" \
		    'BEGIN { printf "%.1f", n / (b - a) }')
	else
		note "$shape $name: smtp-source failed: $(tail -2 "$tmp/source.out")"
		R[$shape,$name,src,$rd]=fail
	fi
	note "round $rd $shape: $out other_cpu=${R[$shape,$name,other,$rd]}% smtp-source=${R[$shape,$name,src,$rd]}/s"
	stop_proxy
}

# med SHAPE NAME METRIC: the median over the rounds (max for peak RSS)
med() {
	local rd vals=()
	for rd in $(seq "$rounds"); do
		vals+=("${R[$1,$2,$3,$rd]:-}")
	done
	printf '%s\n' "${vals[@]}" | { grep -E '^[0-9.]+$' || true; } | sort -g | awk -v m="$3" '
	    { v[NR] = $1 }
	    END { if (NR == 0) print "-"; else if (m == "hwm") print v[NR]; else if (m == "ok") print v[1];
		  else if (NR % 2) print v[(NR + 1) / 2];
		  else printf "%.*f\n", (v[1] ~ /\./ ? 2 : 0), (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# idle NAME [-M] ROUND: RSS per idle session with $idle sessions held open
idle_measure() {
	local name=$1 key=$1 flag=() rd=$3 r0 r1 la got u0=0 u1=0 hs=n/a
	if [ "$2" = -M ]; then flag=(-M); key=$1-mail; fi
	start_proxy "$name"
	sleep 0.5
	r0=$(status_kb "$proxy_pid" VmRSS)
	la=$(load)
	! is_gw "$name" ||
	    u0=$(grep -c ' tls upstream=' "$tmp/$name.log" || true)
	# smtpload holds the sessions until its standard input closes; the
	# file must not hold "held N" from the last run when polling starts
	rm -f "$tmp/hold.out"
	tlsf "$name"
	exec 9> >(exec "$tmp/smtpload" "${tf[@]}" -p "$P_PROXY" -I "$idle" "${flag[@]}" \
	    -t "$tlimit" >"$tmp/hold.out" 2>&1)
	hold_pid=$!
	got=
	for _ in $(seq 600); do
		got=$(sed -n 's/^held \([0-9]*\).*/\1/p' "$tmp/hold.out" 2>/dev/null || true)
		[ -n "$got" ] && break
		sleep 0.1
	done
	sleep 1
	r1=$(status_kb "$proxy_pid" VmRSS)
	! is_gw "$name" ||
	    u1=$(grep -c ' tls upstream=' "$tmp/$name.log" || true)
	! is_gw "$name" || hs=$((u1 - u0))
	exec 9>&-
	wait_gone "$hold_pid"
	hold_pid=
	sleep 1		# let the proxy see the sessions close before it stops
	[ "$got" = "$idle" ] || note "idle $key: only ${got:-0} of $idle sessions held"
	R[idle,$key,held,$rd]=${got:-0}
	R[idle,$key,rss0,$rd]=$r0
	R[idle,$key,rss1,$rd]=$r1
	R[idle,$key,per,$rd]=$(awk -v a="$r0" -v b="$r1" -v n="${got:-0}" \
	    'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
	note "round $rd idle $key: held ${got:-0}, VmRSS ${r0} -> ${r1} kB," \
	    "${R[idle,$key,per,$rd]} kB/session, smtpgate's upstream TLS" \
	    "handshakes $hs, load=$la"
	stop_proxy
}

# range SHAPE NAME METRIC: "lowest-highest" over the rounds
range() {
	local rd
	for rd in $(seq "$rounds"); do
		echo "${R[$1,$2,$3,$rd]:-}"
	done | { grep -E '^[0-9.]+$' || true; } | sort -g | sed -n '1p;$p' | paste -sd- -
}

# --- what this binary can do ----------------------------------------------
has_pool=0 has_pool_max_idle=0 has_resume=0
# The pool keys are read and checked before the relay uses the pool
# (issue 11 lands in steps), so knowing the key is not enough: the binary
# must also say "upstream-pool" in its --version output.
if gw_accepts 'pool = no' &&
    "$bin" --version 2>&1 | grep -qw 'upstream-pool'; then
	has_pool=1
fi
gw_accepts "pool_max_idle = $poolidle" && has_pool_max_idle=1
gw_accepts 'tls_resume = yes' && has_resume=1
note "smtpgate keys: pool $has_pool, pool_max_idle $has_pool_max_idle, tls_resume $has_resume${gw_extra:+; BENCH_GW_EXTRA: $(paste -sd';' - <<<"$gw_extra")}"
pool_note="no pool in this binary: every session opens its own upstream connection"
[ "$has_pool" = 0 ] || pool_note="pool as configured (default on), warm: measured after $warm warm-up messages"

modes=(implicit starttls)
one_modes=(implicit)
[ "$stls_sink" = stunnel ] || one_modes=(implicit starttls)
one_names=(plain)
# the STARTTLS upstream's own rate: Postfix's smtpd (or the smtpgate
# front) in plaintext, no proxy
[ "$stls_sink" = stunnel ] || one_names+=(plain-pf)
for m in "${one_modes[@]}"; do
	one_names+=("smtpgate-$m" "stunnel-$m")
	if [ "$has_pool" = 1 ]; then one_names+=("smtpgate-nopool-$m"); fi
done
one_names+=(stunnel-noresume)
many_names=(plain smtpgate-implicit stunnel-implicit smtpgate-starttls stunnel-starttls)
pipe_names=(plain smtpgate-implicit stunnel-implicit)
lat_names=(plain)
[ "$stls_sink" = stunnel ] || lat_names+=(plain-pf)
for m in "${one_modes[@]}"; do
	lat_names+=("smtpgate-$m" "stunnel-$m")
done

# --- a check first: one message through each path, and what TLS it used --
note "checking each path with one message"
tlsc_names=()
[ "$tlsclient" != 1 ] || tlsc_names=(tlsc-smtpgate tlsc-stunnel)
declare -A CTLS	# the TLS the load generator got from each TLS-client proxy
for name in plain smtpgate-implicit smtpgate-starttls stunnel-implicit stunnel-starttls \
    "${tlsc_names[@]}"; do
	start_proxy "$name"
	tlsf "$name"
	out=$("$tmp/smtpload" "${tf[@]}" -p "$(port_of "$name")" -n 1 -c 1 -m 1 \
	    -s 100 -t 30 -l check) || die "$name: a message did not go through"
	CTLS[$name]=$(kv "$out" tls)
	stop_proxy
done
gw_tls=$(grep -o 'tls upstream=[^ ]* version=[^ ]* cipher=[^ ]* group=[^ ]*' \
    "$tmp/smtpgate-implicit.log" | head -1 | cut -d' ' -f3-)
# stunnel's client-side view of the handshake, from one more connection
sed -i 's/^output = .*/&\ndebug = info/' "$tmp/stunnel-implicit.conf"
stunnel4 "$tmp/stunnel-implicit.conf" >"$tmp/st-info.log" 2>&1 &
proxy_pid=$!
wait_port "$P_PROXY" || die "stunnel did not come up"
"$tmp/smtpload" -p "$P_PROXY" -n 3 -c 1 -m 1 -s 100 -t 30 >/dev/null || true
stop_proxy
st_tls="$(grep -ho 'TLSv1\.[23] ciphersuite: [^ ]*' "$tmp/stunnel-implicit.log" | head -1),\
 $(grep -ho 'Peer temporary key: [^,]*' "$tmp/stunnel-implicit.log" | head -1),\
 $(grep -c 'previous session reused' "$tmp/stunnel-implicit.log" || true) of 3 connections resumed"

# measure_lat NAME ROUND: session latency at concurrency 1 (connect to the
# final 250), one message per session, after the warm-up of start_proxy
measure_lat() {
	local name=$1 rd=$2 out k
	start_proxy "$name"
	out=$("$tmp/smtpload" -p "$(port_of "$name")" -n "$nlat" -c 1 -m 1 \
	    -s "$size" -t "$tlimit" -l "lat-$name") ||
	    note "latency $name: some messages failed: $out"
	for k in ok msg_per_s mail_p50_ms mail_p99_ms sess_p50_ms sess_p99_ms; do
		R[lat,$name,$k,$rd]=$(kv "$out" $k)
	done
	note "round $rd latency, concurrency 1: $out load=$(load)"
	stop_proxy
}

# upstream_conns: established connections of the proxy to the TLS sink
upstream_conns() {
	ss -Htnp state established "( dport = :$P_TLS )" 2>/dev/null |
	    grep -c "pid=$proxy_pid," || true
}

# pool_idle_measure ROUND: RSS per idle pooled upstream connection: VmRSS
# of smtpgate before and after BENCH_POOLIDLE one-message sessions at once,
# divided by the upstream connections left open (counted with ss).  An
# upper bound: it includes what the burst of client sessions left in the
# heap.
pool_idle_measure() {
	local rd=$1 r0 r1 n0 n1 out
	start_proxy smtpgate-poolidle-implicit
	sleep 1
	n0=$(upstream_conns); r0=$(status_kb "$proxy_pid" VmRSS)
	out=$("$tmp/smtpload" -p "$P_PROXY" -n "$poolidle" -c "$poolidle" -m 1 \
	    -s "$size" -t "$tlimit" -l poolidle) ||
	    note "pool idle: some messages failed: $out"
	sleep 1
	n1=$(upstream_conns); r1=$(status_kb "$proxy_pid" VmRSS)
	R[pool,idle,conns,$rd]=$((n1 - n0))
	R[pool,idle,per,$rd]=$(awk -v a="$r0" -v b="$r1" -v n=$((n1 - n0)) \
	    'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
	note "round $rd pooled idle: upstream connections $n0 -> $n1, VmRSS $r0 -> $r1 kB, ${R[pool,idle,per,$rd]} kB/connection"
	stop_proxy
	# exact: a gateway that pre-warms BENCH_POOLIDLE connections
	# (pool_min_idle) and has no client session, against r0 above
	start_proxy smtpgate-poolwarm-implicit
	local i=0
	while [ "$(upstream_conns)" -lt "$poolidle" ] && [ $i -lt 200 ]; do
		sleep 0.1; i=$((i + 1))
	done
	sleep 0.5
	n1=$(upstream_conns); r1=$(status_kb "$proxy_pid" VmRSS)
	R[pool,warm,conns,$rd]=$n1
	R[pool,warm,per,$rd]=$(awk -v a="$r0" -v b="$r1" -v n="$n1" \
	    'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
	note "round $rd pre-warmed idle: upstream connections $n1, VmRSS $r0 -> $r1 kB, ${R[pool,warm,per,$rd]} kB/connection"
	stop_proxy
}

# hold_measure, tlsc_report, hold_report: bench/tlsclient.sh
source "$top/bench/tlsclient.sh"
# big_measure, big_report, big_targets: bench/bigmsg.sh
source "$top/bench/bigmsg.sh"
declare -A H	# H[name,metric]: the hold step

# --- load ------------------------------------------------------------------
start_time=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
for rd in $(seq "$rounds"); do
	note "round $rd of $rounds: one message per session: $n1 messages of $size bytes, $conc sessions at once (${one_modes[*]})"
	for name in "${one_names[@]}"; do
		measure one "$name" "$n1" 1 "$rd"
	done
	note "round $rd of $rounds: many messages per session: $nm messages of $size bytes, $conc sessions of $mps messages (implicit, starttls)"
	for name in "${many_names[@]}"; do
		measure many "$name" "$nm" "$mps" "$rd"
	done
	if [ "$pipe" = 1 ]; then
		note "round $rd of $rounds: pipelining load (smtpload -P), implicit: many messages per session, then one per session"
		t_sec=$SECONDS
		for name in "${pipe_names[@]}"; do
			measure manyP "$name" "$nm" "$mps" "$rd"
		done
		for name in "${pipe_names[@]}"; do
			measure oneP "$name" "$n1" 1 "$rd"
		done
		note "round $rd pipelining rows: $((SECONDS - t_sec)) s"
	fi
	note "round $rd of $rounds: session latency at concurrency 1: $nlat sessions of one message"
	for name in "${lat_names[@]}"; do
		measure_lat "$name" "$rd"
	done
	[ "$tlsclient" = 1 ] || continue
	note "round $rd of $rounds: TLS client side: implicit TLS from the clients, plaintext sink, both shapes"
	for name in "${tlsc_names[@]}"; do
		measure one "$name" "$n1" 1 "$rd"
		measure many "$name" "$nm" "$mps" "$rd"
	done
done
for rd in $(seq "$rounds"); do
	note "round $rd of $rounds: idle sessions: $idle held open through each proxy"
	idle_measure smtpgate-implicit "" "$rd"
	idle_measure smtpgate-implicit -M "$rd"
	idle_measure stunnel-implicit "" "$rd"
	if [ "$has_pool" = 1 ]; then
		pool_idle_measure "$rd"
	fi
	for name in "${tlsc_names[@]}"; do
		idle_measure "$name" "" "$rd"
	done
done
if [ "$big" = 1 ]; then
	note "big message: $bigmb MiB, $bigruns times through smtpgate, then stunnel (implicit TLS upstream)"
	t_sec=$SECONDS
	big_measure smtpgate-big-implicit
	big_measure stunnel-implicit
	note "big message row: $((SECONDS - t_sec)) s"
fi
hold_names=()
if [ "$hold" -gt 0 ]; then
	hold_names=(hold-plain hold-tls hold-stunnel)
	# stunnel holds two descriptors per session (client and sink): as
	# many as the open-file limit allows
	hst=$hold
	if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((2 * hold + 200)) ]; then
		hst=$((($(ulimit -n) - 200) / 2))
		note "hold: stunnel gets $hst sessions: $((2 * hold + 200)) descriptors needed, limit $(ulimit -n)"
	fi
	note "holding $hold client sessions open at once (ulimit -n $(ulimit -n))"
	hold_measure hold-plain
	hold_measure hold-tls
	hold_measure hold-stunnel "$hst"
fi
end_load=$(cut -d' ' -f1-3 /proc/loadavg)
t_end=$(date +%s)

# --- report --------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "smtpgate bench, $start_time, $rounds round(s) in $((t_end - t_start)) s, figures are medians over the rounds (peak RSS: highest)"
echo "machine: $(nproc) CPUs, $cpu, kernel $(uname -r)"
echo "load average (1/5/15 min): before the run $load_before; at the end $end_load (includes the bench itself)"
echo "binary: $bin, built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC')"
echo "smtpgate $("$bin" --version 2>&1 | head -1), $(stunnel4 -version 2>&1 | grep -m1 '^stunnel')"
case $stls_sink in
postfix) stls_desc="Postfix $(postconf -d -h mail_version 2>/dev/null) smtpd (smtpd_proxy_filter to the sink)" ;;
smtpgate) stls_desc="smtpgate (the binary measured; listener tls = starttls, pooled plaintext to the sink; BENCH_STLS=smtpgate)" ;;
*) stls_desc="stunnel server, protocol = smtp (200 ms per connection)" ;;
esac
echo "sink: Postfix smtp-sink; implicit TLS: stunnel server in front; STARTTLS: $stls_desc (ECDSA P-256 certificate)"
echo "smtpgate: $pool_note; keys known: pool=$has_pool tls_resume=$has_resume${gw_extra:+; BENCH_GW_EXTRA: $(paste -sd';' - <<<"$gw_extra")}"
echo "TLS: smtpgate ${gw_tls:-?}; stunnel ${st_tls:-?}"
echo "message size $size bytes, $conc parallel sessions; latency: MAIL to final 250 (msg), connect to final 250 of the session's last message (ses)"
echo "cpu ms/msg: utime+stime of the proxy process per message; other %: CPU used by processes outside the bench during the run"
echo

fmt='%-28s %9s %9s %8s %8s %8s %8s %8s %9s %7s %6s\n'
row() {	# shape name label
	printf "$fmt" "$3" "$(med "$1" "$2" msg_per_s)" "$(med "$1" "$2" src)" \
	    "$(med "$1" "$2" mail_p50_ms)" "$(med "$1" "$2" mail_p99_ms)" \
	    "$(med "$1" "$2" sess_p50_ms)" "$(med "$1" "$2" sess_p99_ms)" \
	    "$(med "$1" "$2" cpu)" "$(med "$1" "$2" hwm)" "$(med "$1" "$2" ok)" \
	    "$(med "$1" "$2" other)"
}
hdr() {
	printf "$fmt" "$1" "msg/s" "msg/s" "msg p50" "msg p99" "ses p50" "ses p99" \
	    "cpu ms" "peak RSS" "ok" "other"
	printf "$fmt" "$2" "smtpload" "smtp-src" "ms" "ms" "ms" "ms" "per msg" "kB" "msgs" "CPU %"
}
# label NAME: a row label
label() {
	case $1 in
	plain) echo "plain floor (no TLS)" ;;
	plain-pf) echo "plain, $stls_up" ;;
	smtpgate-nopool-*) echo "smtpgate pool=no, ${1#smtpgate-nopool-}" ;;
	stunnel-noresume) echo "stunnel noresume, implicit" ;;
	smtpgate-big-*) echo "smtpgate, ${1#smtpgate-big-}" ;;
	tlsc-smtpgate) echo "smtpgate, tls = implicit" ;;
	tlsc-stunnel) echo "stunnel, server mode" ;;
	*) echo "${1%%-*}, ${1#*-}" ;;
	esac
}
hdr "one message/session" "($n1 msgs)"
for name in "${one_names[@]}"; do
	row one "$name" "$(label "$name")"
done
[ "$stls_sink" != stunnel ] || echo "(one message per session over STARTTLS: not measured, no Postfix sink)"
echo
hdr "many messages/session" "($nm msgs)"
for name in "${many_names[@]}"; do
	row many "$name" "$(label "$name")"
done
if [ "$pipe" = 1 ]; then
	echo
	echo "pipelining load (smtpload -P: MAIL, RCPT and DATA in one write when PIPELINING is listed; smtp-source does not pipeline)"
	hdr "many messages/session, -P" "($nm msgs)"
	for name in "${pipe_names[@]}"; do
		row manyP "$name" "$(label "$name")"
	done
	hdr "one message/session, -P" "($n1 msgs)"
	for name in "${pipe_names[@]}"; do
		row oneP "$name" "$(label "$name")"
	done
	for sh in manyP oneP; do
		for name in "${pipe_names[@]}"; do
			k=$(med "$sh" "$name" lockstep)
			case $k in
			0 | -) ;;	# none, or no figure (the row failed)
			*) echo "warning: $sh $(label "$name"): $k sessions in lockstep (no PIPELINING in the EHLO reply)" ;;
			esac
		done
	done
fi
echo
lfmt='%-28s %8s %8s %8s %8s %9s\n'
echo "session latency at concurrency 1 ($nlat sessions of one message; smtpgate: $pool_note)"
printf "$lfmt" "" "ses p50" "ses p99" "msg p50" "msg p99" "msg/s"
for name in "${lat_names[@]}"; do
	printf "$lfmt" "$(label "$name")" "$(med lat "$name" sess_p50_ms)" \
	    "$(med lat "$name" sess_p99_ms)" "$(med lat "$name" mail_p50_ms)" \
	    "$(med lat "$name" mail_p99_ms)" "$(med lat "$name" msg_per_s)"
done
echo
printf '%-30s %6s %12s %12s %10s %14s\n' "$idle idle sessions" "held" "VmRSS before" "VmRSS after" "kB/session" "(lowest-highest)"
for k in smtpgate-implicit smtpgate-implicit-mail stunnel-implicit; do
	case $k in
	smtpgate-implicit) lb="smtpgate (greeting only)" ;;
	smtpgate-implicit-mail) lb="smtpgate (after MAIL, TLS up)" ;;
	stunnel-implicit) lb="stunnel (TLS up at connect)" ;;
	esac
	printf '%-30s %6s %12s %12s %10s %14s\n' "$lb" "$(med idle "$k" held)" \
	    "$(med idle "$k" rss0)" "$(med idle "$k" rss1)" "$(med idle "$k" per)" \
	    "($(range idle "$k" per))"
done
if [ "$has_pool" = 1 ]; then
	pool_kb=$(med pool warm per)
	echo "idle pooled upstream connection (implicit TLS): $pool_kb kB each ($(med pool warm conns) pre-warmed with pool_min_idle, no client session)"
	echo "  upper bound after a burst: $(med pool idle per) kB each ($(med pool idle conns) left open by $poolidle sessions at once; includes the heap the sessions left)"
else
	pool_kb="n/a (no pool)"
	echo "idle pooled upstream connection: n/a (no pool)"
fi
echo "(median over the rounds; VmRSS in kB)"

echo
echo "ratios smtpgate / stunnel, same run (msg/s: above 1 = smtpgate faster; the others: above 1 = smtpgate slower or bigger)"
rfmt='%-40s %8s %8s %8s %8s %8s %8s %8s\n'
printf "$rfmt" "" "msg/s" "msg p50" "msg p99" "ses p50" "ses p99" "cpu/msg" "peak RSS"
pairs=()
for m in "${one_modes[@]}"; do
	pairs+=("one smtpgate-$m stunnel-$m one msg/session, $m")
	if [ "$has_pool" = 1 ]; then
		pairs+=("one smtpgate-nopool-$m stunnel-$m one msg/session, $m, pool=no")
	fi
done
pairs+=("one smtpgate-implicit stunnel-noresume one msg/session, vs stunnel noresume")
for m in "${modes[@]}"; do
	pairs+=("many smtpgate-$m stunnel-$m many msgs/session, $m")
done
if [ "$pipe" = 1 ]; then
	pairs+=("manyP smtpgate-implicit stunnel-implicit many msgs/session, implicit, -P")
	pairs+=("oneP smtpgate-implicit stunnel-implicit one msg/session, implicit, -P")
fi
for pair in "${pairs[@]}"; do
	read -r s a b lb <<<"$pair"
	args=()
	for m in msg_per_s mail_p50_ms mail_p99_ms sess_p50_ms sess_p99_ms cpu hwm; do
		args+=("$(ratio "$(med "$s" "$a" $m)" "$(med "$s" "$b" $m)")")
	done
	printf "$rfmt" "$lb" "${args[@]}"
done
printf '%-40s %8s\n' "idle session RSS, greeting only" \
    "$(ratio "$(med idle smtpgate-implicit per)" "$(med idle stunnel-implicit per)")"
printf '%-40s %8s\n' "idle session RSS, after MAIL" \
    "$(ratio "$(med idle smtpgate-implicit-mail per)" "$(med idle stunnel-implicit per)")"
echo
echo "msg/s against the plaintext floor of the same shape (smtpload straight to smtp-sink)"
ffmt='%-40s %9s %9s\n'
printf "$ffmt" "" "smtpgate" "stunnel"
for m in "${one_modes[@]}"; do
	printf "$ffmt" "one msg/session, $m" \
	    "$(ratio "$(med one "smtpgate-$m" msg_per_s)" "$(med one plain msg_per_s)")" \
	    "$(ratio "$(med one "stunnel-$m" msg_per_s)" "$(med one plain msg_per_s)")"
done
for m in "${modes[@]}"; do
	printf "$ffmt" "many msgs/session, $m" \
	    "$(ratio "$(med many "smtpgate-$m" msg_per_s)" "$(med many plain msg_per_s)")" \
	    "$(ratio "$(med many "stunnel-$m" msg_per_s)" "$(med many plain msg_per_s)")"
done
if [ "$pipe" = 1 ]; then
	for sh in manyP oneP; do
		printf "$ffmt" "$([ $sh = manyP ] && echo many msgs || echo one msg)/session, implicit, -P" \
		    "$(ratio "$(med $sh smtpgate-implicit msg_per_s)" "$(med $sh plain msg_per_s)")" \
		    "$(ratio "$(med $sh stunnel-implicit msg_per_s)" "$(med $sh plain msg_per_s)")"
	done
fi

# allows SHAPE A B: per round, the highest msg/s ratio of row A to row B
# that a proxy using no CPU at all could reach in A's place on this
# machine: B's CPU per message (every process of the bench) over A's
# without its proxy, with B's rate taken at the share of the machine B's
# row used and A's at all of it.  The median over the rounds.
allows() {
	local rd
	for rd in $(seq "$rounds"); do
		R[$1,$2:$3,allows,$rd]=$(awk -v ra="${R[$1,$2,rest,$rd]:-}" \
		    -v rb="${R[$1,$3,rest,$rd]:-}" -v cb="${R[$1,$3,cpu,$rd]:-0}" \
		    -v ub="${R[$1,$3,busy,$rd]:-}" 'BEGIN {
			if (ra == "" || rb == "" || ub == "" || ra <= 0 || ub <= 0) exit
			printf "%.2f", (rb + cb) / (ub * ra) }')
	done
	med "$1" "$2:$3" allows
}
# allows_note SHAPE A B: "this machine allows X" for a verdict, or nothing
allows_note() {
	local a
	a=$(allows "$@")
	[ "$a" = - ] || echo "this machine allows $a"
}
# share SHAPE A: the proxy's part of the CPU row A cost per message
share() {
	local rd
	for rd in $(seq "$rounds"); do
		R[$1,$2,share,$rd]=$(awk -v r="${R[$1,$2,rest,$rd]:-}" \
		    -v c="${R[$1,$2,cpu,$rd]:-}" 'BEGIN {
			if (r == "" || c == "" || r + c <= 0) exit
			printf "%.2f", c / (r + c) }')
	done
	med "$1" "$2" share
}
echo
echo "what this machine allows: the msg/s ratio of each row above, and the highest a proxy using no CPU could reach in smtpgate's place, from what the rest of the bench (loader, sink, TLS front, STARTTLS upstream) cost per message; busy: the bench's share of the machine (smtpgate's row; the other's)"
afmt='%-40s %8s %8s %8s %12s\n'
printf "$afmt" "" "ratio" "allows" "smtpgate" "busy %"
printf "$afmt" "" "" "" "CPU share" ""
busy_pct() { local b; b=$(med "$1" "$2" busy); [ "$b" = - ] && echo - || awk -v b="$b" 'BEGIN { printf "%.0f", b * 100 }'; }
for pair in "${pairs[@]}"; do
	read -r s a b lb <<<"$pair"
	printf "$afmt" "$lb" "$(ratio "$(med "$s" "$a" msg_per_s)" "$(med "$s" "$b" msg_per_s)")" \
	    "$(allows "$s" "$a" "$b")" "$(share "$s" "$a")" \
	    "$(busy_pct "$s" "$a"); $(busy_pct "$s" "$b")"
done
for m in "${one_modes[@]}"; do
	printf "$afmt" "one msg/session, $m, / plain floor" \
	    "$(ratio "$(med one "smtpgate-$m" msg_per_s)" "$(med one plain msg_per_s)")" \
	    "$(allows one "smtpgate-$m" plain)" "$(share one "smtpgate-$m")" \
	    "$(busy_pct one "smtpgate-$m"); $(busy_pct one plain)"
done
# cores SHAPE NAME: the median over the rounds of each process's % of
# one core (proxy, loader, sink, stunnel server front, STARTTLS upstream)
cores() {
	local i rd out=()
	for i in 1 2 3 4 5; do
		for rd in $(seq "$rounds"); do
			R[$1,$2,core$i,$rd]=$(cut -d' ' -f"$i" <<<"${R[$1,$2,cores,$rd]:-}")
		done
		out+=("$(med "$1" "$2" "core$i")")
	done
	echo "${out[*]}"
}
echo
if [ "$stls_sink" = stunnel ]; then
	stls_cols="stunnel: the stunnel server in front of the sink (implicit TLS, and STARTTLS too: no Postfix here); stls-up: none"
else
	stls_cols="stunnel: the stunnel server in front of the sink (implicit TLS); stls-up: the STARTTLS upstream ($stls_up)"
fi
echo "CPU of each bench process during the row, % of one core (median of the rounds); $stls_cols. A single-threaded one at 100 holds the row: the loader, smtp-sink and each smtpgate are; the stunnel server and Postfix are not. One under 100 may still wait for a core"
cfmt='%-38s %-28s %7s %7s %7s %7s %7s\n'
printf "$cfmt" "" "row" "proxy" "loader" "sink" "stunnel" "stls-up"
for pair in "${pairs[@]}"; do
	read -r s a b lb <<<"$pair"
	for x in "$a" "$b"; do
		# shellcheck disable=SC2046
		printf "$cfmt" "$lb" "$(label "$x")" $(cores "$s" "$x")
		lb=
	done
done

sfmt='%-58s %-8s %-14s %s\n'
srow() {	# label target value op threshold [note]
	printf "$sfmt" "$1" "$2" "$3" "$(verdict "$3" "$4" "$5")${6:+ ($6)}"
}
echo
echo "issue 11 targets, this run (smtpgate: $pool_note)"
printf "$sfmt" "figure" "target" "measured" "verdict"
for m in "${one_modes[@]}"; do
	srow "one msg/session, $m: msg/s smtpgate / stunnel" ">= 5" \
	    "$(ratio "$(med one "smtpgate-$m" msg_per_s)" "$(med one "stunnel-$m" msg_per_s)")" ge 5 \
	    "$(allows_note one "smtpgate-$m" "stunnel-$m")"
	srow "one msg/session, $m: msg/s smtpgate / plain floor" ">= 0.5" \
	    "$(ratio "$(med one "smtpgate-$m" msg_per_s)" "$(med one plain msg_per_s)")" ge 0.5 \
	    "$(allows_note one "smtpgate-$m" plain)"
	[ "$m" = starttls ] && [ "$stls_sink" != stunnel ] || continue
	# not a target: how close the row comes to what its upstream can take
	printf "$sfmt" "one msg/session, $m: smtpgate / $stls_short in plaintext" "report" \
	    "$(ratio "$(med one "smtpgate-$m" msg_per_s)" "$(med one plain-pf msg_per_s)")" \
	    "(stunnel: $(ratio "$(med one "stunnel-$m" msg_per_s)" "$(med one plain-pf msg_per_s)"))"
done
for m in "${one_modes[@]}"; do
	if [ "$has_pool" = 1 ]; then
		nt=$(allows_note one "smtpgate-nopool-$m" "stunnel-$m")
		[ "$has_resume" = 1 ] || nt="${nt:+$nt; }no tls_resume key"
		srow "one msg/session, $m, pool=no: smtpgate / stunnel" ">= 1.0" \
		    "$(ratio "$(med one "smtpgate-nopool-$m" msg_per_s)" "$(med one "stunnel-$m" msg_per_s)")" \
		    ge 1.0 "$nt"
	else
		printf "$sfmt" "one msg/session, $m, pool=no: smtpgate / stunnel" ">= 1.0" "n/a (no pool)" "n/a"
	fi
done
for m in "${one_modes[@]}"; do
	srow "session p50 at concurrency 1, $m, ms (warm pool)" "<= 1" \
	    "$(med lat "smtpgate-$m" sess_p50_ms)" le 1 \
	    "stunnel $(med lat "stunnel-$m" sess_p50_ms), floor $(med lat plain sess_p50_ms)$([ "$m" != starttls ] || [ "$stls_sink" = stunnel ] || echo ", $stls_short in plaintext $(med lat plain-pf sess_p50_ms)")"
done
for m in "${one_modes[@]}"; do
	srow "CPU/msg one msg/session, $m: smtpgate / stunnel" "<= 0.33" \
	    "$(ratio "$(med one "smtpgate-$m" cpu)" "$(med one "stunnel-$m" cpu)")" le 0.334
done
for m in "${modes[@]}"; do
	srow "CPU/msg many msgs/session, $m: smtpgate / stunnel" "<= 0.33" \
	    "$(ratio "$(med many "smtpgate-$m" cpu)" "$(med many "stunnel-$m" cpu)")" le 0.334
done
srow "idle client session, greeting only, kB" "< 10" "$(med idle smtpgate-implicit per)" le 9.999
srow "idle pooled upstream connection, kB" "< 100" "$pool_kb" le 99.999

big_report
echo
echo "issue 13 targets, this run (many messages per session, implicit TLS upstream)"
printf "$sfmt" "figure" "target" "measured" "verdict"
srow "many msgs/session: msg/s smtpgate / stunnel" ">= 1.5" \
    "$(ratio "$(med many smtpgate-implicit msg_per_s)" "$(med many stunnel-implicit msg_per_s)")" ge 1.5 \
    "$(allows_note many smtpgate-implicit stunnel-implicit)"
srow "many msgs/session: CPU/msg smtpgate / stunnel" "<= 1.0" \
    "$(ratio "$(med many smtpgate-implicit cpu)" "$(med many stunnel-implicit cpu)")" le 1.0
if [ "$pipe" = 1 ]; then
	srow "many msgs/session, -P: msg/s smtpgate / stunnel" ">= 1.5" \
	    "$(ratio "$(med manyP smtpgate-implicit msg_per_s)" "$(med manyP stunnel-implicit msg_per_s)")" ge 1.5 \
	    "$(allows_note manyP smtpgate-implicit stunnel-implicit)"
	srow "many msgs/session, -P: CPU/msg smtpgate / stunnel" "<= 1.0" \
	    "$(ratio "$(med manyP smtpgate-implicit cpu)" "$(med manyP stunnel-implicit cpu)")" le 1.0
fi
big_targets

tlsc_report
hold_report
