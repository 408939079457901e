#!/bin/bash
# container-base.sh [--engine CMD] [--cache DIR] [--mirror URL] [--refresh]
#
# Makes the base images the Dockerfile names, debian:12 and debian:12-slim,
# from Debian's own packages with debootstrap, and imports them into the
# container engine: for machines that reach a Debian mirror but no image
# registry.  Run as root (debootstrap needs it).
#
#   --engine CMD   docker (default) or podman; DOCKER_HOST is honoured
#   --cache DIR    where the root file system tarballs are kept
#                  (default /var/cache/smtpgate/container-base)
#   --mirror URL   the Debian mirror (default: the first one in this
#                  machine's apt sources, else http://deb.debian.org/debian)
#   --refresh      debootstrap again even when the tarballs exist
#
# Cached: the tarballs are made once (about 2 minutes); a later run only
# imports them, and does nothing when the engine already holds images made
# from the same tarballs (a label records which).
#
# debian:12 is debootstrap's minbase variant (as Debian's official image);
# debian:12-slim is the same with documentation, man pages and locales
# removed and kept out of later installs (as the official -slim image).
# Both use the mirror for bookworm, bookworm-updates and bookworm-security.
set -euo pipefail

engine=docker
cache=/var/cache/smtpgate/container-base
mirror=
refresh=0
suite=bookworm

usage() {
	sed -n '2,3p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--engine) [ $# -ge 2 ] || usage; engine=$2; shift 2 ;;
	--cache) [ $# -ge 2 ] || usage; cache=$2; shift 2 ;;
	--mirror) [ $# -ge 2 ] || usage; mirror=$2; shift 2 ;;
	--refresh) refresh=1; shift ;;
	*) usage ;;
	esac
done

die() {
	echo "container-base: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap needs it)"
command -v debootstrap >/dev/null ||
    die "debootstrap is missing (scripts/install-deps.sh --container)"
command -v "$engine" >/dev/null || die "no $engine command"

# The mirror apt on this machine uses (deb822 first, then one-line form).
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -r "$f" ] || continue
		awk '/^URIs:/ && $2 ~ /\/debian\/?$/ { print $2; exit }' "$f"
	done | head -n1 | grep . && return 0
	awk '$1 == "deb" && $2 ~ /\/debian\/?$/ { print $2; exit }' \
	    /etc/apt/sources.list 2>/dev/null | grep . && return 0
	echo http://deb.debian.org/debian
}
[ -n "$mirror" ] || mirror=$(host_mirror)
mirror=${mirror%/}
security=${mirror%/debian}/debian-security

mkdir -p "$cache"
# One run at a time per cache (bounded wait).
exec 9>"$cache/.lock"
flock -w 600 9 || die "$cache is locked by another run for 10 minutes"

full=$cache/debian-12.tar
slim=$cache/debian-12-slim.tar
stamp=$cache/stamp

# configure ROOT - what a container base needs beyond debootstrap's result
configure() {
	local root=$1
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	# No service may start inside an image build (as Debian's images).
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	# The engine provides these at run time.
	: >"$root/etc/resolv.conf"
	: >"$root/etc/hostname"
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
	    "$root"/var/cache/apt/archives/*.deb "$root"/var/log/*.log \
	    "$root"/tmp/* "$root"/root/.bash_history 2>/dev/null || true
}

# slim ROOT - drop documentation, and keep it out of later installs
slim() {
	local root=$1
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
	find "$root/usr/share/doc" -mindepth 1 -not -type d \
	    -not -name copyright -delete
	find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$root"/usr/share/groff/* "$root"/usr/share/info/* \
	    "$root"/usr/share/linda/* "$root"/usr/share/lintian/* \
	    "$root"/usr/share/locale/* "$root"/usr/share/man/*
}

make_tarballs() {
	local work root
	work=$(mktemp -d "$cache/work.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	root=$work/rootfs
	echo "container-base: debootstrap $suite from $mirror (a few minutes)"
	if ! debootstrap --variant=minbase "$suite" "$root" "$mirror" \
	    >"$work/debootstrap.log" 2>&1; then
		tail -n 20 "$work/debootstrap.log" >&2
		die "debootstrap failed (log above)"
	fi
	configure "$root"
	tar -C "$root" --numeric-owner -cf "$work/full.tar" .
	slim "$root"
	tar -C "$root" --numeric-owner -cf "$work/slim.tar" .
	mv "$work/full.tar" "$full"
	mv "$work/slim.tar" "$slim"
	date -u +%Y%m%dT%H%M%SZ >"$stamp"
	rm -rf "$work"
	trap - EXIT
}

if [ "$refresh" = 1 ] || [ ! -s "$full" ] || [ ! -s "$slim" ] ||
    [ ! -s "$stamp" ]; then
	make_tarballs
fi
key=$suite-$(cat "$stamp")

# import NAME TARBALL - unless the engine holds it from the same tarball
import() {
	local name=$1 tarball=$2 have
	have=$("$engine" image inspect --format \
	    '{{index .Config.Labels "org.smtpgate.base"}}' "$name" \
	    2>/dev/null || true)
	if [ "$have" = "$key" ]; then
		echo "container-base: $name is up to date ($key)"
		return 0
	fi
	"$engine" import \
	    -c "LABEL org.smtpgate.base=$key" \
	    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	    -c 'CMD ["bash"]' \
	    "$tarball" "$name" >/dev/null
	echo "container-base: imported $name ($key)"
}

import debian:12 "$full"
import debian:12-slim "$slim"
