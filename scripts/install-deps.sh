#!/bin/bash
# install-deps.sh [--build-only | --runtime | --bench | --container] -
# install what smtpgate needs from Debian 12.
#
# Without arguments: everything to build, test and run the demo.
# --build-only: only what compiling the binary needs, no test or bench
# tools (the container image's build stage).
# --runtime: only the shared libraries the binary needs (for the Docker
# image's runtime stage).
# --container: what tests/container/run.sh needs to make a base image
# (debootstrap) and build and run the image (docker.io, docker-compose to
# check deploy/compose.yaml; the Docker daemon is not started here, the
# test starts a private one when none runs).
# --bench: everything of the default set, plus what bench/run.sh needs:
# Postfix (for smtp-sink and smtp-source, and a private smtpd instance the
# bench runs from its temporary directory as its STARTTLS upstream;
# installed as "No configuration", and no Postfix mail system is left
# running or enabled) and stunnel4 (the TLS peer to compare against).
#
# Postfix with Cyrus SASL (sasl2-bin: saslpasswd2) is a private NTLM
# server in the SASL tests; Dovecot (POP-before-SMTP tests, and its
# submission service for SCRAM, DIGEST-MD5 and GSSAPI), the MIT Kerberos
# KDC (krb5kdc, kdb5_util, kadmin.local: a private realm on loopback for
# the GSSAPI tests), HAProxy (PROXY protocol tests), dante-server and
# tinyproxy (SOCKS5 and HTTP CONNECT proxy tests) and
# Prometheus (promtool, and one private scrape in test_metrics) are only
# ever run by the tests, as private instances from temporary
# directories: the packages' own services are kept from starting while
# they install (policy-rc.d) and left disabled.
#
# mandoc (mandoc -T lint of the man pages) and systemd (systemd-analyze
# verify of deploy/systemd/smtpgate.service) are only used as checkers:
# no systemd is started by the tests.
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
	clang libclang-rt-14-dev valgrind iproute2
	libcrypt-dev
	dovecot-core dovecot-pop3d dovecot-submissiond haproxy dante-server
	tinyproxy postfix sasl2-bin libsasl2-modules
	libkrb5-dev krb5-kdc krb5-admin-server dovecot-gssapi
	python3-dkim python3-nacl libmail-dkim-perl libnet-dns-perl
	mandoc systemd
	prometheus
)
build_only_pkgs=(build-essential cmake pkg-config
	libwolfssl-dev libevent-dev libinih-dev libcrypt-dev libkrb5-dev)
runtime_pkgs=(libwolfssl35 libevent-2.1-7 libinih1 libcrypt1 libgssapi-krb5-2
	ca-certificates)
bench_pkgs=(postfix stunnel4 procps iproute2)
container_pkgs=(docker.io docker-compose debootstrap iproute2 util-linux)

usage() {
	echo "usage: $0 [--build-only | --runtime | --bench | --container]" >&2
	exit 2
}

pkgs=("${build_pkgs[@]}")
bench=0
case $# in
0) ;;
1) case $1 in
	--build-only) pkgs=("${build_only_pkgs[@]}") ;;
	--runtime) pkgs=("${runtime_pkgs[@]}") ;;
	--container) pkgs=("${container_pkgs[@]}") ;;
	--bench) pkgs+=("${bench_pkgs[@]}"); bench=1 ;;
	*) usage ;;
	esac ;;
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

# --bench: make sure the Postfix package left no mail system running or
# enabled (nothing may listen on port 25 because of it), and that the
# stunnel4 package starts no tunnels of its own at boot.
no_mail_service() {
	local now=()
	[ -d /run/systemd/system ] && now=(--now)
	if command -v systemctl >/dev/null; then
		# Works without a running systemd too (it edits the links).
		"${sudo[@]}" systemctl disable "${now[@]}" postfix.service \
		    stunnel4.service >/dev/null 2>&1 || true
	elif command -v update-rc.d >/dev/null; then
		"${sudo[@]}" update-rc.d postfix disable >/dev/null 2>&1 || true
		"${sudo[@]}" update-rc.d stunnel4 disable >/dev/null 2>&1 || true
	fi
	# The system instance (if one was ever configured and started).
	if "${sudo[@]}" postfix status >/dev/null 2>&1; then
		echo "install-deps: stopping the running Postfix mail system"
		"${sudo[@]}" postfix stop >/dev/null 2>&1 || true
	fi
	if command -v ss >/dev/null &&
	    ss -Hltn 'sport = :25' 2>/dev/null | grep -q .; then
		echo "install-deps: warning: something still listens on port 25:" >&2
		ss -Hltnp 'sport = :25' >&2 || true
	fi
}

# no_test_services - after installing: the system Dovecot, HAProxy,
# danted, tinyproxy, saslauthd, the KDC and kadmind stay disabled
no_test_services() {
	local now=()
	[ -d /run/systemd/system ] && now=(--now)
	if command -v systemctl >/dev/null; then
		"${sudo[@]}" systemctl disable "${now[@]}" dovecot.service \
		    dovecot.socket haproxy.service prometheus.service \
		    danted.service tinyproxy.service saslauthd.service \
		    krb5-kdc.service krb5-admin-server.service \
		    >/dev/null 2>&1 || true
	elif command -v update-rc.d >/dev/null; then
		"${sudo[@]}" update-rc.d dovecot disable >/dev/null 2>&1 || true
		"${sudo[@]}" update-rc.d haproxy disable >/dev/null 2>&1 || true
		"${sudo[@]}" update-rc.d prometheus disable >/dev/null 2>&1 ||
		    true
		"${sudo[@]}" update-rc.d danted disable >/dev/null 2>&1 || true
		"${sudo[@]}" update-rc.d saslauthd disable >/dev/null 2>&1 ||
		    true
		"${sudo[@]}" update-rc.d tinyproxy disable >/dev/null 2>&1 ||
		    true
		"${sudo[@]}" update-rc.d krb5-kdc disable >/dev/null 2>&1 ||
		    true
		"${sudo[@]}" update-rc.d krb5-admin-server disable \
		    >/dev/null 2>&1 || true
	fi
}

missing=()
for p in "${pkgs[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = "installed" ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#pkgs[@]} packages already installed"
	no_mail_service
	exit 0
fi

# While packages install, no service may start (invoke-rc.d asks this
# script; 101 = action forbidden).  Only ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
	"${sudo[@]}" chmod 755 "$policy"
	trap '"${sudo[@]}" rm -f "$policy"' EXIT
fi

if [[ " ${missing[*]} " == *" postfix "* ]]; then
	# Postfix is wanted only for its smtp-sink and smtp-source tools and
	# private test instances (Cyrus SASL's NTLM): "No configuration"
	# makes the package set up no mail system.
	echo "postfix postfix/main_mailer_type select No configuration" |
	    "${sudo[@]}" debconf-set-selections
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
		no_mail_service
		no_test_services
		echo "install-deps: done"
		exit 0
	fi
	echo "install-deps: apt-get failed (try $try of 3)" >&2
	sleep $((try * 5))
done
exit 1
