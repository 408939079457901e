#!/bin/bash
# install-deps.sh [--runtime] - install what smtpgate needs from Debian 12.
#
# Without arguments: everything to build, test and run the demo.
# --runtime: only the shared libraries the binary needs (for the Docker
# image's runtime stage).
#
# Idempotent: when every package is already installed it changes nothing
# and does not touch the network.  Runs non-interactively (CI has no
# stdin); uses sudo when not root.
set -euo pipefail

build_pkgs=(
	build-essential cmake pkg-config
	libwolfssl-dev libevent-dev libinih-dev libcmocka-dev
	python3 python3-aiosmtpd openssl swaks libnet-ssleay-perl
	ca-certificates
)
runtime_pkgs=(libwolfssl35 libevent-2.1-7 libinih1 ca-certificates)

usage() {
	echo "usage: $0 [--runtime]" >&2
	exit 2
}

pkgs=("${build_pkgs[@]}")
case $# in
0) ;;
1) [ "$1" = "--runtime" ] || usage; pkgs=("${runtime_pkgs[@]}") ;;
*) usage ;;
esac

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	echo "install-deps: run as root (or install sudo)" >&2
	exit 1
fi

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages already installed"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o Dpkg::Options::=--force-confdef
	-o Dpkg::Options::=--force-confold)
# A few tries: a mirror hiccup should not fail a CI run.
for try in 1 2 3; do
	if "${sudo[@]}" apt-get update -q </dev/null &&
	    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	    apt-get install "${apt_opts[@]}" --no-install-recommends \
	    "${missing[@]}" </dev/null; then
		echo "install-deps: done"
		exit 0
	fi
	echo "install-deps: apt-get failed (try $try of 3)" >&2
	sleep $((try * 5))
done
exit 1
