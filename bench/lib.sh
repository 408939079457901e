# bench/lib.sh - helpers sourced by bench/run.sh and bench/queue.sh: small
# functions with no state of their own (waiting for a port or a process,
# CPU and memory of a process from /proc, key=value parsing, ratios and
# verdicts).  Sourcing it starts nothing.

die() { echo "bench: $*" >&2; exit 1; }
note() { echo "bench: $*" >&2; }

# wait_port PORT: until something listens there (at most 10 s)
wait_port() {
	for _ in $(seq 100); do
		ss -Hltn "sport = :$1" | grep -q . && return 0
		sleep 0.1
	done
	return 1
}

# wait_gone PID: until it exited (at most 10 s), then reap it
wait_gone() {
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

load() { cut -d' ' -f1 /proc/loadavg; }
# cpu_ticks PID: utime + stime, in clock ticks (all threads, also exited ones)
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# group_ticks PGID: utime + stime of a process group, with its reaped children
group_ticks() {
	local p files=()
	for p in $(pgrep -g "$1" 2>/dev/null); do
		files+=("/proc/$p/stat")
	done
	awk '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { print t + 0 }' \
	    "${files[@]}" /dev/null 2>/dev/null || echo 0
}
# status_kb PID FIELD: VmHWM, VmRSS ... in kB
status_kb() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }

# sys_busy: user + nice + system ticks of all CPUs, from /proc/stat
sys_busy() { awk '$1 == "cpu" { print $2 + $3 + $4; exit }' /proc/stat; }

# kv LINE KEY: the value of KEY=... in LINE
kv() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1"; }

# ratio A B: A / B to two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 != 0) printf "%.2f", a / b; else print "-" }'; }

# verdict VALUE OP TARGET: met / not met / n/a (OP: ge or le)
verdict() {
	awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
		if (v !~ /^-?[0-9.]+$/) { print "n/a"; exit }
		ok = (op == "ge") ? (v + 0 >= t + 0) : (v + 0 <= t + 0)
		print ok ? "met" : "NOT met" }'
}
