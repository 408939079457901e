# bench/tlsclient.sh - sourced by bench/run.sh: the hold step and the
# report of the TLS client side row (clients in implicit TLS, plaintext
# sink) and of BENCH_HOLD.  It uses run.sh's variables and helpers.

# hold_measure NAME [N]: N ($hold) client sessions held open at once through a
# fresh NAME (greeting read, then idle): VmRSS before and after, the time
# to open them, and the proxy's CPU per session opened
hold_measure() {
	local name=$1 n=${2:-$hold} r0 r1 c0 c1 got= secs la lim
	lim=$((60 + n / 50))
	start_proxy "$name"
	sleep 0.5
	r0=$(status_kb "$proxy_pid" VmRSS); c0=$(cpu_ticks "$proxy_pid"); la=$(load)
	rm -f "$tmp/hold.out"
	tlsf "$name"
	exec 9> >(exec "$tmp/smtpload" "${tf[@]}" -p "$P_PROXY" -I "$n" \
	    -t "$lim" >"$tmp/hold.out" 2>&1)
	hold_pid=$!
	for _ in $(seq $((lim * 10))); do
		got=$(sed -n 's/^held \([0-9]*\).*/\1/p' "$tmp/hold.out" 2>/dev/null || true)
		[ -n "$got" ] && break
		sleep 0.1
	done
	sleep 1
	r1=$(status_kb "$proxy_pid" VmRSS); c1=$(cpu_ticks "$proxy_pid")
	secs=$(sed -n 's/^held [0-9]* secs=\([0-9.]*\).*/\1/p' "$tmp/hold.out")
	exec 9>&-
	wait_gone "$hold_pid"
	hold_pid=
	sleep 1
	[ "$got" = "$n" ] || note "hold $name: only ${got:-0} of $n sessions held ($(grep -v '^held' "$tmp/hold.out" | head -3))"
	H[$name,held]=${got:-0} H[$name,rss0]=$r0 H[$name,rss1]=$r1 H[$name,secs]=${secs:--}
	H[$name,per]=$(awk -v a="$r0" -v b="$r1" -v n="${got:-0}" \
	    'BEGIN { if (n > 0) printf "%.1f", (b - a) / n; else print "-" }')
	H[$name,cpu]=$(awk -v a="$c0" -v b="$c1" -v n="${got:-0}" -v hz="$hz" \
	    'BEGIN { if (n > 0) printf "%.3f", (b - a) * 1000 / hz / n; else print "-" }')
	note "hold $name: held ${got:-0} in ${secs:-?} s, VmRSS $r0 -> $r1 kB, ${H[$name,per]} kB/session, ${H[$name,cpu]} ms CPU/session, load=$la"
	stop_proxy
}

# tlsc_report: the TLS client side tables (after the main report)
tlsc_report() {
	[ "$tlsclient" = 1 ] || return 0
	echo
	echo "TLS client side: clients in implicit TLS (smtpload -T: wolfSSL, full handshake per session, chain and name checked), plaintext to smtp-sink"
	echo "TLS seen by the clients: smtpgate ${CTLS[tlsc-smtpgate]:-?}; stunnel ${CTLS[tlsc-stunnel]:-?}"
	echo "smtpgate: upstream tls = none, $pool_note; stunnel: one sink connection per client session"
	for sh in one many; do
		if [ $sh = one ]; then
			hdr "one message/session" "($n1 msgs)"
		else
			hdr "many messages/session" "($nm msgs)"
		fi
		row $sh plain "$(label plain)"
		for name in "${tlsc_names[@]}"; do
			row $sh "$name" "$(label "$name")"
		done
		printf '%-28s' "  load generator cpu ms/msg"
		for name in "${tlsc_names[@]}"; do
			printf ' %s %s' "${name#tlsc-}" "$(med $sh "$name" lcpu)"
		done
		echo
	done
	echo
	printf '%-30s %6s %12s %12s %10s %14s\n' "$idle idle sessions" "held" "VmRSS before" "VmRSS after" "kB/session" "(lowest-highest)"
	for k in smtpgate-implicit tlsc-smtpgate tlsc-stunnel; do
		case $k in
		smtpgate-implicit) lb="smtpgate, plaintext client" ;;
		tlsc-smtpgate) lb="smtpgate, TLS client" ;;
		tlsc-stunnel) lb="stunnel, TLS (+ sink conn)" ;;
		esac
		printf '%-30s %6s %12s %12s %10s %14s\n' "$lb" "$(med idle "$k" held)" \
		    "$(med idle "$k" rss0)" "$(med idle "$k" rss1)" "$(med idle "$k" per)" \
		    "($(range idle "$k" per))"
	done
	echo
	echo "ratios smtpgate / stunnel, TLS client side (msg/s: above 1 = smtpgate faster; the others: above 1 = smtpgate slower or bigger)"
	printf "$rfmt" "" "msg/s" "msg p50" "msg p99" "ses p50" "ses p99" "cpu/msg" "peak RSS"
	for sh in one many; do
		args=()
		for m in msg_per_s mail_p50_ms mail_p99_ms sess_p50_ms sess_p99_ms cpu hwm; do
			args+=("$(ratio "$(med $sh tlsc-smtpgate $m)" "$(med $sh tlsc-stunnel $m)")")
		done
		printf "$rfmt" "$sh msg(s)/session, TLS clients" "${args[@]}"
	done
	printf '%-40s %8s\n' "idle TLS client session RSS" \
	    "$(ratio "$(med idle tlsc-smtpgate per)" "$(med idle tlsc-stunnel per)")"
}

# hold_report: the table of the hold step (BENCH_HOLD)
hold_report() {
	[ "$hold" -gt 0 ] || return 0
	echo
	echo "$hold client sessions held open at once (greeting read, then idle; a fresh process each; ulimit -n $(ulimit -n))"
	hfmt='%-30s %7s %9s %13s %13s %11s %13s\n'
	printf "$hfmt" "" "held" "open s" "VmRSS before" "VmRSS after" "kB/session" "cpu ms/sess"
	for name in "${hold_names[@]}"; do
		case $name in
		hold-plain) lb="smtpgate, plaintext clients" ;;
		hold-tls) lb="smtpgate, implicit TLS" ;;
		hold-stunnel) lb="stunnel, TLS (+ sink conns)" ;;
		esac
		printf "$hfmt" "$lb" "${H[$name,held]}" "${H[$name,secs]}" "${H[$name,rss0]}" \
		    "${H[$name,rss1]}" "${H[$name,per]}" "${H[$name,cpu]}"
	done
}
