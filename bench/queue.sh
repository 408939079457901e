#!/bin/bash
# bench/queue.sh - store and forward (issue 15, section 4): what queue mode
# costs and gives, against lockstep with the pool and against stunnel.
#
#   scripts/install-deps.sh --bench && bench/queue.sh
#   BENCH_QUICK=1 bench/queue.sh        # smaller counts, a few minutes
#
# The upstream is the one bench/run.sh uses: Postfix's smtp-sink behind
# stunnel4 in server mode (implicit TLS, ECDSA P-256 certificate from
# certs/mkpki.sh), verified by every proxy (chain against the test CA, name
# localhost).  Everything on 127.0.0.1, stopped at the end.
#
# 1. Accept rate.  bench/smtpload.c, both of run.sh's load shapes (one
#    message per session; many per session), BENCH_CONC sessions at once,
#    through one proxy at a time, each fresh and warmed up:
#
#      stunnel       stunnel4 in client mode (the project's reference)
#      lockstep      smtpgate, delivery = lockstep, pool as configured
#                    (default on): the 250 is the upstream's
#      queue         smtpgate, delivery = queue, queue_dir on the disk: the
#                    250 once the message and envelope are fsync'd; the
#                    runner delivers meanwhile through the same pool
#      queue-tmpfs   the same with queue_dir on tmpfs (/dev/shm), where
#                    fsync costs nothing: the difference is the fsync cost
#
#    msg/s seen by the client, latency (MAIL to final 250, and connect to
#    the last 250 of a session), smtpgate's CPU per message while the load
#    runs, and for the queue rows also until the queue is empty again (the
#    deliveries included) and how long that took after the load.
#
# 2. Backlog.  BENCH_BACKLOG messages queued while the upstream cannot be
#    reached (a closed port, queue_retry = 1h), the gateway stopped, then
#    started with the real upstream and `smtpgate queue flush`: the time
#    until no message is left in queue_dir (checked by counting ID.msg
#    files, and by the log's "removed" lines and smtpgate_queue_messages
#    at the end), delivered msg/s, against the lockstep rates of step 1.
#    For each queue_parallel of BENCH_QPAR, in every round after step 1.
#
# 3. Where queue_dir is: its file system and device are printed (the disk,
#    not tmpfs, except the queue-tmpfs row).
#
# Environment (as bench/run.sh where the name is the same):
#   BENCH_QUICK=1       smaller counts
#   BENCH_PORT=N        first of 5 consecutive loopback ports (29260;
#                       below the kernel's ephemeral range, 32768 up)
#   BENCH_SIZE=BYTES    message size (10000)
#   BENCH_CONC=N        parallel sessions (10)
#   BENCH_N1=N          messages, one per session (2000; quick: 400)
#   BENCH_NM=N          messages, many per session (10000; quick: 3000)
#   BENCH_ROUNDS=N      rounds of steps 1 and 2; figures are medians (3; quick: 1)
#   BENCH_BACKLOG=N     messages in the backlog (10000; quick: 2000)
#   BENCH_QPAR="4 8"    queue_parallel values for the backlog (quick: "4")
#   BENCH_TMPFS=0       leave out the queue-tmpfs row (default 1)
#   BENCH_QDIR=DIR      make the queue directories below DIR (an existing
#                       directory on the file system to measure; default:
#                       the temporary directory in /tmp)
#   BENCH_GW_EXTRA=TEXT lines appended to smtpgate's [upstream] section
#   SMTPGATE_BIN=PATH   the binary (default build/smtpgate)
#   KEEP=1              keep the temporary directory (configurations, logs)
set -euo pipefail
umask 022

top=$(cd "$(dirname "$0")/.." && pwd)
source "$top/bench/lib.sh"
quick=${BENCH_QUICK:-0}
base=${BENCH_PORT:-29260}
size=${BENCH_SIZE:-10000}
conc=${BENCH_CONC:-10}
if [ "$quick" = 1 ]; then
	n1=${BENCH_N1:-400}
	nm=${BENCH_NM:-3000}
	rounds=${BENCH_ROUNDS:-1}
	nback=${BENCH_BACKLOG:-2000}
	qpars=${BENCH_QPAR:-4}
else
	n1=${BENCH_N1:-2000}
	nm=${BENCH_NM:-10000}
	rounds=${BENCH_ROUNDS:-3}
	nback=${BENCH_BACKLOG:-10000}
	qpars=${BENCH_QPAR:-4 8}
fi
tmpfs=${BENCH_TMPFS:-1}
gw_extra=$(printf '%b' "${BENCH_GW_EXTRA:-}")
warm=20			# messages through a fresh proxy before measuring
tlimit=120		# seconds: bound of one load run
dlimit=600		# seconds: bound of one wait for an empty queue

for v in base size conc n1 nm rounds nback; do
	[[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || die "$v must be a positive integer"
done
[ "$base" -ge 1024 ] && [ "$base" -le 65525 ] || die "BENCH_PORT must be 1024..65525"
[ "$nback" -le 1000000 ] || die "BENCH_BACKLOG must be at most 1000000"
for q in $qpars; do
	[[ $q =~ ^[0-9]+$ ]] && [ "$q" -ge 1 ] && [ "$q" -le 100 ] ||
	    die "BENCH_QPAR: $q is not 1..100"
done
[[ $tmpfs =~ ^[01]$ ]] || die "BENCH_TMPFS must be 0 or 1"
mps=$(( (nm + conc - 1) / conc ))	# messages per session, many-per-session shape
bps=$(( (nback + conc - 1) / conc ))	# the same for filling the backlog

for c in smtp-sink stunnel4 gcc ss curl; do
	command -v "$c" >/dev/null ||
	    PATH=$PATH:/usr/sbin command -v "$c" >/dev/null ||
	    die "$c missing: run scripts/install-deps.sh --bench"
done
export PATH=$PATH:/usr/sbin

bin=${SMTPGATE_BIN:-$top/build/smtpgate}
[ -x "$bin" ] || die "no smtpgate binary at $bin (cmake --build build first)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

P_SINK=$base			# smtp-sink, plaintext
P_TLS=$((base + 1))		# stunnel server -> sink, implicit TLS
P_PROXY=$((base + 2))		# the proxy being measured
P_HTTP=$((base + 3))		# smtpgate's /metrics
P_DEAD=$((base + 4))		# nothing listens: the unreachable upstream
for p in $(seq "$base" $((base + 4))); do
	if ss -Hltn "sport = :$p" | grep -q .; then
		die "port $p is in use (set BENCH_PORT)"
	fi
done

tmp=$(mktemp -d /tmp/smtpgate-qbench.XXXXXX)
shm=
qpar_dir=$tmp		# where the disk's queue directories go
sink_pid=
stsrv_pid=
proxy_pid=
cleanup() {
	local p
	for p in $proxy_pid $stsrv_pid $sink_pid; do
		kill "$p" 2>/dev/null || true
	done
	for p in $proxy_pid $stsrv_pid $sink_pid; do
		wait_gone "$p"
	done
	[ -z "$shm" ] || rm -rf "$shm"
	[ "$qpar_dir" = "$tmp" ] || rm -rf "$qpar_dir"
	if [ "${KEEP:-0}" = 1 ]; then
		note "files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
hz=$(getconf CLK_TCK)

uptime_before=$(uptime)
note "uptime before the run: $uptime_before"
gcc -O2 -Wall -o "$tmp/smtpload" "$top/bench/smtpload.c" -lwolfssl
bash "$top/certs/mkpki.sh" "$tmp/pki" >/dev/null
pki=$tmp/pki
if [ "$tmpfs" = 1 ]; then
	[ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] ||
	    die "/dev/shm is not tmpfs: set BENCH_TMPFS=0"
	shm=$(mktemp -d /dev/shm/smtpgate-qbench.XXXXXX)
fi
if [ -n "${BENCH_QDIR:-}" ]; then
	[ -d "$BENCH_QDIR" ] || die "BENCH_QDIR $BENCH_QDIR is not a directory"
	qpar_dir=$(mktemp -d "$BENCH_QDIR/smtpgate-qbench.XXXXXX")
fi
# qfs DIR: the file system of DIR, its device, and for ext4 whether it has
# a journal (a jbd2 entry in /proc; without one, fsync writes the blocks
# itself and a new inode is checked against recently deleted ones)
qfs() {
	local t d j=
	t=$(stat -f -c %T "$1"); d=$(findmnt -n -o SOURCE -T "$1" | head -1)
	if [ "$t" = ext2/ext3 ]; then
		t=ext4
		j=", no journal"
		ls -d "/proc/fs/jbd2/${d##*/}-"* >/dev/null 2>&1 && j=", journal"
	fi
	echo "$t on $d$j ($(findmnt -n -o OPTIONS -T "$1" | head -1))"
}

# --- the upstream: smtp-sink behind stunnel in server mode (as run.sh) ----
sink_user=()
[ "$(id -u)" -eq 0 ] && sink_user=(-u nobody)
smtp-sink "${sink_user[@]}" -a -t 600 -m 1500 "127.0.0.1:$P_SINK" 1024 \
    >"$tmp/sink.log" 2>&1 &
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
wait_port "$P_SINK" || die "the sink did not come up on port $P_SINK"

# stsrv_start: a fresh stunnel server in front of the sink, before every
# row.  One that served the rows before costs up to twice the CPU per
# message (0.13 against 0.26 ms per delivered message in a backlog after
# the three rounds of step 1), on the cores the row is measured on.
stsrv_start() {
	if [ -n "$stsrv_pid" ]; then
		kill "$stsrv_pid" 2>/dev/null || true
		wait_gone "$stsrv_pid"
	fi
	stunnel4 "$tmp/stunnel-sink.conf" >>"$tmp/stunnel-sink.log" 2>&1 &
	stsrv_pid=$!
	wait_port "$P_TLS" || die "the sink's stunnel did not come up on port $P_TLS"
}

# --- configurations -------------------------------------------------------
# gw_conf FILE DELIVERY UPSTREAM_PORT QUEUE_DIR QUEUE_PARALLEL QUEUE_RETRY
gw_conf() {
	local qkeys=
	[ "$2" != queue ] || qkeys="queue_dir = $4
queue_parallel = $5
queue_retry = $6
queue_retry_max = $6
queue_max_messages = $((nback + nm + 1000))"
	cat >"$1" <<EOF
[gateway]
hostname = bench.test
log_level = info
log_facilities = none
log_target = stderr
max_sessions = 1000
http_listen = 127.0.0.1:$P_HTTP
$qkeys
[listener bench]
listen = 127.0.0.1:$P_PROXY
allow = 127.0.0.0/8
upstream = sink
max_sessions_per_client = 1000
delivery = $2
[upstream sink]
host = 127.0.0.1
port = $3
tls = implicit
tls_name = localhost
ca_file = $pki/ca-bundle.pem
verify_hostname = yes
$gw_extra
EOF
}

# qdir_of NAME: queue_dir of a step 1 proxy (empty: not a queue)
qdir_of() {
	case $1 in
	queue) echo "$qpar_dir/queue" ;;
	queue-tmpfs) echo "$shm/queue" ;;
	esac
}

# qcount DIR: committed messages (ID.msg files; an ID.env exists only
# for a message whose envelope was rewritten) in DIR
qcount() { find "$1" -maxdepth 1 -name '*.msg' -printf . 2>/dev/null | wc -c; }

# qgauge: smtpgate_queue_messages into QLEFT ("" if /metrics did not
# answer), read with bash's own /dev/tcp: no process per poll.  (A find
# over a queue_dir of 20,000 names and the processes around it, 10 times
# a second, took a fifth of the CPU of the 2-core machine the backlog
# is measured on.)  The head is read with a timeout; the body, 9 kB, is
# not: bash's read -t blocks and unblocks signals around every octet it
# takes from a socket, which cost another seventh of that machine.  The
# body left with the head (HTTP/1.1, so that libevent sends its
# Content-Length), so exactly that many octets are there to read: no
# wait for a close that a wedged gateway might never make.
qgauge() {
	local fd line len= page
	QLEFT=
	# (braces: a bare exec's 2>/dev/null would stay for the whole script)
	{ exec {fd}<>"/dev/tcp/127.0.0.1/$P_HTTP"; } 2>/dev/null || return 0
	printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&"$fd"
	while IFS= read -r -t 5 line <&"$fd"; do
		line=${line%$'\r'}
		[ -n "$line" ] || break
		case ${line,,} in
		content-length:*) len=${line#*:}; len=${len// /} ;;
		esac
	done
	if [[ $len =~ ^[0-9]+$ ]] && [ "$len" -gt 0 ] && [ "$len" -le 1048576 ]; then
		LC_ALL=C IFS= read -r -N "$len" page <&"$fd" || true
		[[ $page =~ (^|$'\n')smtpgate_queue_messages\ ([0-9]+) ]] &&
		    QLEFT=${BASH_REMATCH[2]}
	fi
	exec {fd}<&-
}

# wait_empty DIR: until DIR holds no message (at most dlimit s); 1 if not.
# Polls the gateway's gauge (it falls when a delivered message's files
# are gone) ten times a second, sleeping on a fifo's read timeout (no
# process either), and checks DIR itself once at the end.
wait_empty() {
	local i sfd x
	[ -p "$tmp/tick" ] || mkfifo "$tmp/tick"
	exec {sfd}<>"$tmp/tick"
	for ((i = 0; i < dlimit * 10; i++)); do
		qgauge
		# the gauge at 0, or not answering: the directory decides
		case $QLEFT in
		0 | "") [ "$(qcount "$1")" = 0 ] && break ;;
		esac
		read -r -t 0.1 -u "$sfd" x || true
	done
	exec {sfd}<&-
	[ "$(qcount "$1")" = 0 ]
}

# sync_ms DIR (next to queue_dir, on its file system): the disk's
# synchronous write latency right now: 200 writes of 4 KiB with O_DSYNC in
# DIR (dd), ms per write.  The queue rows depend
# on it, and it moves with whatever else uses the disk.
sync_ms() {
	local t0 t1
	t0=$(date +%s.%N)
	dd if=/dev/zero of="$1/sync-probe" bs=4k count=200 oflag=dsync 2>/dev/null ||
	    { echo -; return 0; }
	t1=$(date +%s.%N)
	rm -f "$1/sync-probe"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 1000 / 200 }'
}

# removed LOG: messages the runner delivered and removed so far
removed() { grep -c 'removed: every recipient done' "$1" 2>/dev/null || true; }

# metric NAME: a sample from smtpgate's /metrics (labels: the sum)
metric() {
	curl -s -m 5 "http://127.0.0.1:$P_HTTP/metrics" 2>/dev/null |
	    awk -v m="$1" '$1 == m || index($1, m "{") == 1 { t += $2; n++ }
		END { if (n) print t }'
}

# readies LOG: how many times smtpgate said "ready" in LOG
# (grep -c prints 0 and fails on a log without one: one number either way)
readies() {
	local n
	n=$(grep -c 'info: ready$' "$1" 2>/dev/null) || true
	echo "${n:-0}"
}

# gw_start CONF LOG: check and start smtpgate, set proxy_pid; returns once
# it logged "ready" (the listeners are bound earlier, but the queue is
# scanned and the control socket made before "ready"; at most 120 s)
gw_start() {
	local r0 i
	"$bin" -t -c "$1" >"$tmp/check.out" 2>&1 ||
	    die "$1: configuration refused: $(cat "$tmp/check.out")"
	r0=$(readies "$2")
	"$bin" -c "$1" >>"$2" 2>&1 &
	proxy_pid=$!
	for i in $(seq 1200); do
		[ "$(readies "$2")" -le "$r0" ] || break
		kill -0 "$proxy_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ "$(readies "$2")" -gt "$r0" ] || die "smtpgate did not come up (log: $(tail -3 "$2"))"
	wait_port "$P_PROXY" || die "smtpgate does not listen (log: $(tail -3 "$2"))"
}

# start_proxy NAME: a fresh proxy NAME, warmed up (queue: and drained)
start_proxy() {
	local qd
	qd=$(qdir_of "$1")
	stsrv_start
	case $1 in
	stunnel)
		cat >"$tmp/stunnel.conf" <<EOF
foreground = quiet
pid =
syslog = no
output = $tmp/stunnel.log
[bench]
client = yes
accept = 127.0.0.1:$P_PROXY
connect = 127.0.0.1:$P_TLS
verifyChain = yes
CAfile = $pki/ca-bundle.pem
checkHost = localhost
EOF
		stunnel4 "$tmp/stunnel.conf" >>"$tmp/stunnel.log" 2>&1 &
		proxy_pid=$!
		wait_port "$P_PROXY" || die "stunnel did not come up"
		;;
	lockstep)
		gw_conf "$tmp/lockstep.ini" lockstep "$P_TLS"
		gw_start "$tmp/lockstep.ini" "$tmp/lockstep.log"
		;;
	queue*)
		rm -rf "$qd"	# a fresh queue_dir: the gateway makes it
		gw_conf "$tmp/$1.ini" queue "$P_TLS" "$qd" 4 5s
		gw_start "$tmp/$1.ini" "$tmp/$1.log"
		;;
	esac
	"$tmp/smtpload" -p "$P_PROXY" -n "$warm" -c 2 -m 1 -s "$size" -t 30 \
	    -l warmup >/dev/null || die "$1: warm-up messages failed"
	[ -z "$qd" ] || wait_empty "$qd" || die "$1: the warm-up was not delivered"
}

stop_proxy() {
	if [ -n "$proxy_pid" ]; then
		kill "$proxy_pid" 2>/dev/null || true
		wait_gone "$proxy_pid"
	fi
	proxy_pid=
	for _ in $(seq 100); do
		ss -Hltn "sport = :$P_PROXY" | grep -q . || return 0
		sleep 0.1
	done
	die "port $P_PROXY still in use"
}

declare -A R	# R[shape,name,metric,round]

# measure SHAPE NAME N PER_SESSION ROUND
measure() {
	local shape=$1 name=$2 n=$3 per=$4 rd=$5 out t0 t1 t2 k qd
	local c0 c1 c2 s0 s1 k0 k1 b0 b1 own r0=0 log=
	qd=$(qdir_of "$name")
	start_proxy "$name"
	[ "$name" = stunnel ] || { log=$tmp/$name.log; r0=$(removed "$log"); }
	[ -z "$qd" ] || R[$shape,$name,sync,$rd]=$(sync_ms "${qd%/*}")
	c0=$(cpu_ticks "$proxy_pid")
	s0=$(cpu_ticks "$sink_pid"); k0=$(cpu_ticks "$stsrv_pid")
	b0=$(sys_busy); t0=$(date +%s.%N)
	out=$("$tmp/smtpload" -p "$P_PROXY" -n "$n" -c "$conc" -m "$per" \
	    -s "$size" -t "$tlimit" -l "$name") ||
	    note "$shape $name: some messages failed: $out"
	t1=$(date +%s.%N); b1=$(sys_busy)
	c1=$(cpu_ticks "$proxy_pid")
	s1=$(cpu_ticks "$sink_pid"); k1=$(cpu_ticks "$stsrv_pid")
	for k in ok msg_per_s mail_p50_ms mail_p99_ms sess_p50_ms sess_p99_ms; do
		R[$shape,$name,$k,$rd]=$(kv "$out" $k)
	done
	own=$(awk -v c="$(kv "$out" cpu_s)" -v hz="$hz" 'BEGIN { print c * hz }')
	R[$shape,$name,other,$rd]=$(awk -v b=$((b1 - b0)) \
	    -v o=$((c1 - c0 + s1 - s0 + k1 - k0)) -v l="$own" -v t0="$t0" \
	    -v t1="$t1" -v hz="$hz" -v np="$(nproc)" 'BEGIN {
		v = (b - o - l) * 100 / ((t1 - t0) * hz * np); if (v < 0) v = 0
		printf "%.0f", v }')
	R[$shape,$name,cpu,$rd]=$(awk -v a="$c0" -v b="$c1" -v n="$n" -v hz="$hz" \
	    'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')
	R[$shape,$name,left,$rd]=-
	if [ -n "$qd" ]; then
		R[$shape,$name,left,$rd]=$(qcount "$qd")
		wait_empty "$qd" || note "$shape $name: the queue is not empty after $dlimit s"
		t2=$(date +%s.%N); c2=$(cpu_ticks "$proxy_pid")
		R[$shape,$name,drain,$rd]=$(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }')
		R[$shape,$name,cpuall,$rd]=$(awk -v a="$c0" -v b="$c2" -v n="$n" -v hz="$hz" \
		    'BEGIN { printf "%.3f", (b - a) * 1000 / hz / n }')
		R[$shape,$name,dlv,$rd]=$(( $(removed "$log") - r0 ))
		[ "${R[$shape,$name,dlv,$rd]}" = "$(kv "$out" ok)" ] ||
		    note "$shape $name: ${R[$shape,$name,dlv,$rd]} removed after delivery, $(kv "$out" ok) accepted"
	fi
	if [ "$name" != stunnel ]; then
		R[$shape,$name,opened,$rd]=$(metric smtpgate_upstream_connections_opened_total)
		R[$shape,$name,reused,$rd]=$(metric smtpgate_upstream_connections_reused_total)
	fi
	note "round $rd $shape $name: $out cpu_ms=${R[$shape,$name,cpu,$rd]} left_at_end=${R[$shape,$name,left,$rd]} drain_s=${R[$shape,$name,drain,$rd]:--} cpu_all_ms=${R[$shape,$name,cpuall,$rd]:--} other_cpu=${R[$shape,$name,other,$rd]}% sync_ms=${R[$shape,$name,sync,$rd]:--} upstream_conns_opened=${R[$shape,$name,opened,$rd]:--} reused=${R[$shape,$name,reused,$rd]:--} load=$(load)"
	stop_proxy
}

# medv METRIC: the median of the numbers on stdin ("-" if none; the
# least for the counts of messages: a round that lost some shows)
medv() {
	{ grep -E '^[0-9.]+$' || true; } | sort -g | awk -v m="$1" '
	    { v[NR] = $1 }
	    END { if (NR == 0) print "-";
		  else if (m == "ok" || m == "queued" || m == "removed") print v[1];
		  else if (NR % 2) print v[(NR + 1) / 2];
		  else printf "%.*f\n", (v[1] ~ /\./ ? 2 : 0), (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# med SHAPE NAME METRIC: the median over the rounds
med() {
	local rd
	for rd in $(seq "$rounds"); do
		printf '%s\n' "${R[$1,$2,$3,$rd]:-}"
	done | medv "$3"
}

declare -A BL	# BL[qpar,metric,round]

# bmed QPAR METRIC: the backlog's median over the rounds
bmed() {
	local rd
	for rd in $(seq "$rounds"); do
		printf '%s\n' "${BL[$1,$2,$rd]:-}"
	done | medv "$2"
}

# blist QPAR METRIC: each round's value, in order
blist() {
	local rd out=
	for rd in $(seq "$rounds"); do
		out+="${out:+ }${BL[$1,$2,$rd]:--}"
	done
	printf '%s' "$out"
}

# backlog QPAR ROUND: fill the queue with the upstream unreachable, restart with
# it reachable, flush, time until empty
backlog() {
	local qp=$1 rd=$2 qd=$qpar_dir/backlog-$qp conf=$tmp/backlog-$qp.ini log=$tmp/backlog-$qp-$rd.log
	local out t0 t1 ts tu c0 c1 i d=0 left
	rm -rf "$qd"
	gw_conf "$conf" queue "$P_DEAD" "$qd" "$qp" 1h
	gw_start "$conf" "$log"
	t0=$(date +%s.%N)
	out=$("$tmp/smtpload" -p "$P_PROXY" -n "$nback" -c "$conc" -m "$bps" \
	    -s "$size" -t $((dlimit)) -l "backlog-$qp") ||
	    note "round $rd backlog $qp: some messages failed while filling: $out"
	t1=$(date +%s.%N)
	BL[$qp,fill,$rd]=$(kv "$out" msg_per_s)
	BL[$qp,n,$rd]=$(kv "$out" ok)
	# every message tried once (connection refused) and deferred for an
	# hour: nothing is being delivered when the gateway stops
	for i in $(seq 1200); do
		d=$(grep -c 'queue deferred=yes' "$log" || true)
		[ "$d" -lt "${BL[$qp,n,$rd]}" ] || break
		sleep 0.1
	done
	stop_proxy
	left=$(qcount "$qd")
	note "round $rd backlog $qp: $out; $d deferred; $left in $qd after the stop"
	[ "$left" = "${BL[$qp,n,$rd]}" ] || note "round $rd backlog $qp: $left queued, ${BL[$qp,n,$rd]} accepted"
	BL[$qp,queued,$rd]=$left
	BL[$qp,sync,$rd]=$(sync_ms "${qd%/*}")
	gw_conf "$conf" queue "$P_TLS" "$qd" "$qp" 1h
	stsrv_start
	ts=$(date +%s.%N)
	gw_start "$conf" "$log"
	tu=$(date +%s.%N)
	c0=$(cpu_ticks "$proxy_pid"); t0=$(date +%s.%N)
	# (a flush that fails leaves everything deferred for an hour: no wait)
	if "$bin" queue -c "$conf" flush >"$tmp/flush.out" 2>&1; then
		wait_empty "$qd" || note "round $rd backlog $qp: not empty after $dlimit s"
	else
		note "round $rd backlog $qp: flush failed: $(cat "$tmp/flush.out")"
	fi
	t1=$(date +%s.%N); c1=$(cpu_ticks "$proxy_pid")
	BL[$qp,metric,$rd]=$(metric smtpgate_queue_messages)
	BL[$qp,removed,$rd]=$(removed "$log")
	BL[$qp,opened,$rd]=$(metric smtpgate_upstream_connections_opened_total)
	BL[$qp,reused,$rd]=$(metric smtpgate_upstream_connections_reused_total)
	BL[$qp,start,$rd]=$(awk -v a="$ts" -v b="$tu" 'BEGIN { printf "%.2f", b - a }')
	BL[$qp,scanned,$rd]=$(sed -n 's/.* holds \([0-9]*\) message(s).*/\1/p' "$log" | tail -1)
	BL[$qp,secs,$rd]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
	BL[$qp,rate,$rd]=$(awk -v a="$t0" -v b="$t1" -v n="$left" 'BEGIN { printf "%.1f", n / (b - a) }')
	BL[$qp,rate0,$rd]=$(awk -v a="$ts" -v b="$t1" -v n="$left" 'BEGIN { printf "%.1f", n / (b - a) }')
	BL[$qp,cpu,$rd]=$(awk -v a="$c0" -v b="$c1" -v n="$left" -v hz="$hz" \
	    'BEGIN { if (n > 0) printf "%.3f", (b - a) * 1000 / hz / n; else print "-" }')
	note "round $rd backlog $qp: $left delivered in ${BL[$qp,secs,$rd]} s after the flush (${BL[$qp,rate,$rd]}/s), start ${BL[$qp,start,$rd]} s (${BL[$qp,scanned,$rd]:-?} found at start), ${BL[$qp,removed,$rd]} removed lines, upstream connections ${BL[$qp,opened,$rd]:-?} opened ${BL[$qp,reused,$rd]:-?} reused, smtpgate_queue_messages ${BL[$qp,metric,$rd]:-?}, load=$(load)"
	stop_proxy
	rm -rf "$qd"
}

# --- run ----------------------------------------------------------------
names=(stunnel lockstep queue)
[ "$tmpfs" = 0 ] || names+=(queue-tmpfs)
has_pool=0
"$bin" --version 2>&1 | grep -qw upstream-pool && has_pool=1
start_time=$(date -u '+%Y-%m-%d %H:%M UTC')
t_start=$(date +%s)
t_back=0
for rd in $(seq "$rounds"); do
	note "round $rd of $rounds: one message per session, $n1 messages of $size bytes, $conc at once"
	for name in "${names[@]}"; do
		measure one "$name" "$n1" 1 "$rd"
	done
	note "round $rd of $rounds: many messages per session, $nm messages, $conc sessions of $mps"
	for name in "${names[@]}"; do
		measure many "$name" "$nm" "$mps" "$rd"
	done
	# in every round, next to the lockstep rows it is compared with: a
	# single backlog moved by a third between runs of the same binary
	t_sec=$SECONDS
	for qp in $qpars; do
		note "round $rd of $rounds: backlog of $nback messages, upstream unreachable, then restart and flush, queue_parallel $qp"
		backlog "$qp" "$rd"
	done
	t_back=$((t_back + SECONDS - t_sec))
done
t_end=$(date +%s)
uptime_after=$(uptime)

# --- report ---------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
echo
echo "smtpgate queue bench, $start_time, $rounds round(s) of step 1 and the backlog in $((t_end - t_start)) s (backlog: $t_back s)"
echo "machine: $(nproc) CPUs, $cpu, kernel $(uname -r)"
echo "uptime before: $uptime_before"
echo "uptime after:  $uptime_after"
echo "binary: $bin, built $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC'); $("$bin" --version 2>&1 | head -1); pool $([ "$has_pool" = 1 ] && echo "on (default settings${gw_extra:+; BENCH_GW_EXTRA: $(paste -sd';' - <<<"$gw_extra")})" || echo "not in this binary")"
echo "upstream: smtp-sink behind stunnel server (implicit TLS, verified); $(stunnel4 -version 2>&1 | grep -m1 '^stunnel')"
echo "queue_dir: $qpar_dir: $(qfs "$qpar_dir")"
if [ -n "$shm" ]; then echo "queue-tmpfs: $shm: $(qfs "$shm")"; else echo "queue-tmpfs: not run"; fi
echo "message size $size bytes, $conc parallel sessions; queue rows: queue_parallel 4; figures are medians over the rounds"
echo "cpu ms/msg: smtpgate's utime+stime while the load runs; with delivery: until the queue is empty again;"
echo "upconns opened: smtpgate_upstream_connections_opened_total at the end of the row (the warm-up included);"
echo "dsync ms: one 4 KiB O_DSYNC write in queue_dir just before the row (dd, 200 writes): the disk's state then"
echo
fmt='%-14s %8s %8s %8s %8s %8s %8s %8s %6s %6s %6s %7s %6s\n'
hdr() {
	printf "$fmt" "$1" "msg/s" "msg p50" "msg p99" "ses p50" "ses p99" "cpu ms" "cpu ms" "drain" "ok" "other" "upconns" "dsync"
	printf "$fmt" "$2" "client" "ms" "ms" "ms" "ms" "per msg" "+deliv." "s" "msgs" "CPU %" "opened" "ms"
}
row() {
	printf "$fmt" "$2" "$(med "$1" "$2" msg_per_s)" "$(med "$1" "$2" mail_p50_ms)" \
	    "$(med "$1" "$2" mail_p99_ms)" "$(med "$1" "$2" sess_p50_ms)" \
	    "$(med "$1" "$2" sess_p99_ms)" "$(med "$1" "$2" cpu)" \
	    "$(med "$1" "$2" cpuall)" "$(med "$1" "$2" drain)" "$(med "$1" "$2" ok)" \
	    "$(med "$1" "$2" other)" "$(med "$1" "$2" opened)" "$(med "$1" "$2" sync)"
}
hdr "one msg/session" "($n1 msgs)"
for name in "${names[@]}"; do row one "$name"; done
echo
hdr "many msgs/sess" "($nm msgs)"
for name in "${names[@]}"; do row many "$name"; done
echo
bfmt='%-15s %7s %10s %8s %10s %11s %12s %7s %8s %8s %7s %8s\n'
echo "backlog: $nback messages queued with the upstream unreachable, gateway restarted with it reachable, then flush"
printf "$bfmt" "queue_parallel" "queued" "fill msg/s" "ready s" "empty in s" "deliv msg/s" "from start/s" "cpu ms" "removed" "upconns" "reused" "dsync ms"
for qp in $qpars; do
	printf "$bfmt" "$qp" "$(bmed "$qp" queued)" "$(bmed "$qp" fill)" "$(bmed "$qp" start)" \
	    "$(bmed "$qp" secs)" "$(bmed "$qp" rate)" "$(bmed "$qp" rate0)" \
	    "$(bmed "$qp" cpu)" "$(bmed "$qp" removed)" "$(bmed "$qp" opened)" "$(bmed "$qp" reused)" "$(bmed "$qp" sync)"
done
for qp in $qpars; do
	echo "queue_parallel $qp, each round: deliv msg/s $(blist "$qp" rate); cpu ms $(blist "$qp" cpu)"
done
echo "(ready s: from the restart to \"ready\", the queue scanned; deliv msg/s: from the flush to the last message removed; from start: from the restart;"
echo " upconns: upstream connections opened, reused: deliveries on a pooled one, smtpgate_upstream_connections_*_total at the end)"
echo "(medians over the rounds; smtpgate_queue_messages at the end of each:$(for qp in $qpars; do printf ' qp %s: %s;' "$qp" "$(blist "$qp" metric)"; done))"

echo
rfmt='%-42s %9s %9s %9s %9s\n'
echo "ratios, same run (msg/s: above 1 = faster; cpu: above 1 = dearer)"
printf "$rfmt" "" "msg/s" "msg p50" "cpu/msg" "cpu+deliv"
for s in one many; do
	sl="one msg/session"; [ $s = one ] || sl="many msgs/session"
	for pair in "lockstep stunnel" "queue stunnel" "queue lockstep" "queue queue-tmpfs"; do
		read -r a b <<<"$pair"
		[ "$tmpfs" = 1 ] || [ "$b" != queue-tmpfs ] || continue
		printf "$rfmt" "$sl: $a / $b" \
		    "$(ratio "$(med $s "$a" msg_per_s)" "$(med $s "$b" msg_per_s)")" \
		    "$(ratio "$(med $s "$a" mail_p50_ms)" "$(med $s "$b" mail_p50_ms)")" \
		    "$(ratio "$(med $s "$a" cpu)" "$(med $s "$b" cpu)")" \
		    "$(ratio "$(med $s "$a" cpuall)" "$(med $s "$b" cpu)")"
	done
done
lock_one=$(med one lockstep msg_per_s)
lock_many=$(med many lockstep msg_per_s)
lock_best=$(awk -v a="$lock_one" -v b="$lock_many" 'BEGIN { print (a + 0 > b + 0) ? a : b }')
for qp in $qpars; do
	printf "$rfmt" "backlog qp=$qp / lockstep one" "$(ratio "$(bmed "$qp" rate)" "$lock_one")"
	printf "$rfmt" "backlog qp=$qp / lockstep many" "$(ratio "$(bmed "$qp" rate)" "$lock_many")"
done

sfmt='%-58s %-8s %-10s %s\n'
srow() { printf "$sfmt" "$1" "$2" "$3" "$(verdict "$3" ge "$4")"; }
echo
echo "issue 15 section 4 targets, this run"
printf "$sfmt" "figure" "target" "measured" "verdict"
srow "one msg/session: msg/s queue / lockstep (pool)" ">= 1" \
    "$(ratio "$(med one queue msg_per_s)" "$lock_one")" 1
srow "many msgs/session: msg/s queue / lockstep (pool)" ">= 1" \
    "$(ratio "$(med many queue msg_per_s)" "$lock_many")" 1
for qp in $qpars; do
	srow "backlog, queue_parallel $qp: msg/s / best lockstep row" ">= 1" \
	    "$(ratio "$(bmed "$qp" rate)" "$lock_best")" 1
done
