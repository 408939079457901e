# bench/bigmsg.sh - sourced by bench/run.sh: the big message row (issue 13):
# one message of BENCH_BIG_MB MiB relayed end to end, BENCH_BIG_RUNS times
# through one fresh proxy (smtpgate: plaintext listener, implicit TLS
# upstream, as the other rows; stunnel: client mode to the same port).
# It uses run.sh's variables and helpers.

declare -A B	# B[name,metric] and B[name,mbs,run]

# big_measure NAME: the runs through a fresh NAME.  Memory: VmRSS when idle
# (after the warm-up, before the first run), then smtpload -R samples the
# proxy's VmRSS every 20 ms during each run; peak = the highest sample of
# all runs.  VmHWM is also reset to the current RSS before the first run
# (writing 5 to /proc/PID/clear_refs, Linux 4.0 and later), so VmHWM after
# the last run is the exact peak, including spikes between two samples.
big_measure() {
	local name=$1 i out secs v peak=0 idle0 hwm=- c0 c1 fails=0
	start_proxy "$name"
	sleep 0.5
	idle0=$(status_kb "$proxy_pid" VmRSS)
	echo 5 2>/dev/null >"/proc/$proxy_pid/clear_refs" || hwm=n/a
	c0=$(cpu_ticks "$proxy_pid")
	for i in $(seq "$bigruns"); do
		out=$("$tmp/smtpload" -p "$P_PROXY" -n 1 -c 1 -m 1 -s "$bigbytes" \
		    -R "$proxy_pid" -t "$bigtl" -l "big-$name") || {
			note "big $name run $i: the message failed: $out"
			fails=$((fails + 1))
		}
		secs=$(kv "$out" secs)
		B[$name,mbs,$i]=$(awk -v s="$secs" -v m="$bigmb" -v ok="$(kv "$out" ok)" \
		    'BEGIN { if (ok == 1 && s > 0) printf "%.1f", m / s; else print "-" }')
		v=$(kv "$out" rss_max_kb)
		[ "${v:-0}" -le "$peak" ] || peak=$v
		note "big $name run $i: ${B[$name,mbs,$i]} MiB/s, $out load=$(load)"
	done
	c1=$(cpu_ticks "$proxy_pid")
	[ "$hwm" = n/a ] || hwm=$(status_kb "$proxy_pid" VmHWM)
	B[$name,idle]=$idle0 B[$name,peak]=$peak B[$name,hwm]=$hwm B[$name,fails]=$fails
	B[$name,delta]=$((peak - idle0))
	B[$name,hdelta]=$(awk -v h="$hwm" -v i="$idle0" \
	    'BEGIN { if (h ~ /^[0-9]+$/) print h - i; else print "-" }')
	B[$name,cpu]=$(awk -v a="$c0" -v b="$c1" -v n="$bigruns" -v m="$bigmb" -v hz="$hz" \
	    'BEGIN { printf "%.1f", (b - a) * 1000 / hz / n / m }')
	B[$name,mbs]=$(for i in $(seq "$bigruns"); do echo "${B[$name,mbs,$i]}"; done |
	    { grep -E '^[0-9.]+$' || true; } | sort -g | awk '{ v[NR] = $1 }
	    END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
		  else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	note "big $name: median ${B[$name,mbs]} MiB/s, VmRSS idle $idle0 kB, sampled peak $peak kB (+${B[$name,delta]}), VmHWM $hwm kB, ${B[$name,cpu]} ms CPU/MiB"
	stop_proxy
}

# big_wolfssl: which wolfSSL the binary uses (Debian's shared library, or
# linked in statically, as the tuned build is)
big_wolfssl() {
	local lib
	lib=$(ldd "$bin" 2>/dev/null | awk '/libwolfssl/ && l == "" { l = $3 } END { print l }')
	if [ -n "$lib" ]; then
		echo "shared $lib (package: $(dpkg -S "$(readlink -f "$lib")" 2>/dev/null |
		    cut -d: -f1 | head -1 || true))"
	else
		echo "not a shared library (linked in statically)"
	fi
}

# big_report: the table and the issue 13 figures of the row
big_report() {
	[ "$big" = 1 ] || return 0
	local n wl
	wl=$(big_wolfssl)
	echo
	echo "one message of $bigmb MiB ($bigbytes bytes of body), relayed end to end $bigruns times through a fresh proxy (implicit TLS upstream, plaintext client)"
	echo "MiB/s: body / (connect to the final 250), median of the runs; RSS: idle VmRSS before the first run, the peak sampled every 20 ms during the runs, and VmHWM (reset before the first run: the exact peak)"
	echo "smtpgate's wolfSSL: $wl"
	local bfmt='%-22s %8s %8s %8s %10s %10s %10s %10s %10s %6s\n'
	printf "$bfmt" "" "MiB/s" "lowest" "highest" "CPU ms" "idle RSS" "peak RSS" "peak-idle" "HWM-idle" "failed"
	printf "$bfmt" "" "median" "" "" "per MiB" "kB" "kB" "kB" "kB" "runs"
	for n in smtpgate-big-implicit stunnel-implicit; do
		printf "$bfmt" "$(label "$n")" "${B[$n,mbs]:--}" \
		    "$(for i in $(seq "$bigruns"); do echo "${B[$n,mbs,$i]:-}"; done | { grep -E '^[0-9.]+$' || true; } | sort -g | head -1)" \
		    "$(for i in $(seq "$bigruns"); do echo "${B[$n,mbs,$i]:-}"; done | { grep -E '^[0-9.]+$' || true; } | sort -g | tail -1)" \
		    "${B[$n,cpu]:--}" "${B[$n,idle]:--}" "${B[$n,peak]:--}" \
		    "${B[$n,delta]:--}" "${B[$n,hdelta]:--}" "${B[$n,fails]:--}"
	done
}

# big_targets: the big message lines of the issue 13 table
big_targets() {
	[ "$big" = 1 ] || return 0
	local r
	r=$(ratio "${B[smtpgate-big-implicit,mbs]:--}" "${B[stunnel-implicit,mbs]:--}")
	# (not ldd | grep -q: with pipefail, ldd's SIGPIPE fails the test)
	case $(big_wolfssl) in
	shared*)
		printf "$sfmt" "$bigmb MiB message, MiB/s smtpgate / stunnel" \
		    "report" "$r" "(shared wolfSSL: the ratio is reported; >= 1 with the tuned build)"
		;;
	*)
		srow "$bigmb MiB message, MiB/s smtpgate / stunnel" ">= 1.0" "$r" ge 1.0 \
		    "wolfSSL linked in statically"
		;;
	esac
	srow "$bigmb MiB message, smtpgate peak RSS - idle, kB (sampled)" "<= 1024" \
	    "${B[smtpgate-big-implicit,delta]:--}" le 1024 "no DKIM configured"
	srow "$bigmb MiB message, smtpgate VmHWM - idle, kB (exact)" "<= 1024" \
	    "${B[smtpgate-big-implicit,hdelta]:--}" le 1024
}
