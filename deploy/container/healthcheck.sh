#!/bin/bash
# smtpgate-healthcheck [ADDRESS:PORT] - exit 0 when smtpgate's HTTP
# listener ([gateway] http_listen) answers GET /healthz with 200.
#
# The container image's HEALTHCHECK, and a Kubernetes exec probe.  Bash
# only (its /dev/tcp), so the image needs no curl.  ADDRESS is an IPv4
# address or a name; default 127.0.0.1:8025, the built-in configuration's.
set -u
target=${1:-127.0.0.1:8025}
host=${target%:*}
port=${target##*:}
# Bounded: bash cannot time out a connect, so the whole probe runs under
# timeout (from coreutils, in every Debian image).
# shellcheck disable=SC2016  # $1 and $2 are the inner script's own
exec timeout 5 bash -c '
	exec 3<>"/dev/tcp/$1/$2" || exit 1
	printf "GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n" "$1" >&3
	# The status line ends in CR LF: CR is a separator too.
	IFS=" $(printf "\t\r")" read -r version status rest <&3 || exit 1
	[ "$status" = 200 ] || { echo "healthz: ${status:-no reply}" >&2; exit 1; }
' healthcheck "$host" "$port"
