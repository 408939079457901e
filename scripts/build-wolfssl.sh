#!/bin/bash
# build-wolfssl.sh [BUILD_DIR] - build a static wolfSSL from Debian 12's own
# source package with the x86-64 assembly and AES-NI, for the opt-in tuned
# build (issue 13 section 3):
#
#	scripts/build-wolfssl.sh			# into build-wolfssl/
#	cmake -S . -B build-tuned -DGW_WOLFSSL_PREFIX=$PWD/build-wolfssl/prefix
#
# Debian's libwolfssl is built without WOLFSSL_AESNI / USE_INTEL_SPEEDUP,
# so AES-GCM runs in portable C.  This script takes the same source and
# the same feature set (debian/rules: --enable-distro --enable-pkcs11,
# with Debian's patches applied) and adds --enable-aesni --enable-intelasm
# --enable-sp --enable-sp-asm, static and position-independent, installed
# into BUILD_DIR/prefix.  It then checks that every feature define of
# Debian's /usr/include/wolfssl/options.h is still in the new options.h.
#
# Needs root (or sudo) only for what is missing: a deb-src entry for the
# mirror the deb entries use, and autoconf, automake, libtool.  Idempotent:
# a finished prefix (stamp file) is kept; a changed script rebuilds.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$top/build-wolfssl}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
prefix=$dir/prefix
stamp=$prefix/.smtpgate-stamp
log=$dir/build.log

die() {
	echo "build-wolfssl: $*" >&2
	exit 1
}

# Extra flags over Debian's; the x86-64 assembly needs an x86-64 host.
tuned_flags=(--enable-aesni --enable-intelasm --enable-sp --enable-sp-asm)
# What debian/rules passes (checked against the unpacked rules below).
debian_flags=(--enable-distro --enable-pkcs11)
# (--enable-distro turns shared back on; the .so is removed after install)
common_flags=(--enable-static --disable-shared --with-pic
	--disable-examples --disable-dependency-tracking)

[ "$(uname -m)" = x86_64 ] || die "the tuned build is for x86-64 only"

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
elif command -v sudo >/dev/null; then
	sudo=(sudo)
else
	sudo=(false)
fi

# The Debian version to build: the installed libwolfssl-dev's, so that
# the tuned library carries the same Debian patches (security fixes) as
# the package; a new package version, or a changed script, rebuilds.
ver=$(dpkg-query -W -f='${Version}' libwolfssl-dev 2>/dev/null) || ver=
want="$(sha256sum "$0" | cut -c1-16) ${ver:-newest}"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
    [ -f "$prefix/lib/libwolfssl.a" ]; then
	echo "build-wolfssl: $prefix is up to date"
	exit 0
fi

# has_deb_src - true when apt already knows a deb-src for wolfssl
has_deb_src() {
	# grep without -q: an early exit would fail the pipe (pipefail)
	apt-cache showsrc wolfssl 2>/dev/null | grep '^Package: wolfssl' >/dev/null
}

# add_deb_src - a deb-src twin of every Debian deb entry (same mirror,
# suites, components), in a file of its own, then apt-get update
add_deb_src() {
	local out=/etc/apt/sources.list.d/smtpgate-deb-src.sources tmp
	tmp=$(mktemp)
	if [ -f /etc/apt/sources.list.d/debian.sources ]; then
		# deb822: each stanza whose Types has deb, Types turned into deb-src
		awk 'BEGIN { RS=""; ORS="\n\n" }
		    /(^|\n)Types:[^\n]*(^| )deb( |\n|$)/ && /debian/ {
			sub(/Types:[^\n]*/, "Types: deb-src"); print }' \
		    /etc/apt/sources.list.d/debian.sources >"$tmp"
	fi
	if [ -f /etc/apt/sources.list ]; then
		grep -E '^deb [^#]*debian' /etc/apt/sources.list |
		    sed 's/^deb /deb-src /' >"$tmp.list" || true
	fi
	[ -s "$tmp" ] || [ -s "$tmp.list" ] ||
	    die "no Debian deb entry to copy as deb-src in /etc/apt"
	echo "build-wolfssl: adding deb-src entries (same mirrors as deb)"
	if [ -s "$tmp" ]; then
		"${sudo[@]}" install -m 644 "$tmp" "$out" ||
		    die "cannot write $out (run as root)"
	fi
	if [ -s "$tmp.list" ]; then
		"${sudo[@]}" install -m 644 "$tmp.list" "${out%.sources}.list" ||
		    die "cannot write ${out%.sources}.list (run as root)"
	fi
	rm -f "$tmp" "$tmp.list"
	"${sudo[@]}" apt-get update -q >/dev/null ||
	    die "apt-get update failed"
}

# tools - the autotools and dpkg-dev, only when missing
tools() {
	local missing=() p
	for p in autoconf automake libtool dpkg-dev build-essential; do
		case $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) in
		*"ok installed") ;;
		*) missing+=("$p") ;;
		esac
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "build-wolfssl: installing ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends "${missing[@]}" \
	    >/dev/null </dev/null || die "apt-get install ${missing[*]} failed"
}

tools
has_deb_src || add_deb_src
has_deb_src || die "apt still has no source for wolfssl"

# The source of the installed package's version, unpacked with Debian's
# patches (dpkg-source -x); fetched once into BUILD_DIR/src/VERSION.
: >"$log"
mkdir -p "$dir/src/${ver:-newest}"
cd "$dir/src/${ver:-newest}"
srcdir=$(find . -maxdepth 1 -type d -name 'wolfssl-*' | head -n 1)
if [ -z "$srcdir" ]; then
	echo "build-wolfssl: apt-get source wolfssl${ver:+=$ver}"
	timeout 600 apt-get source -q "wolfssl${ver:+=$ver}" >"$log" 2>&1 ||
	    timeout 600 apt-get source -q wolfssl >>"$log" 2>&1 ||
	    die "apt-get source wolfssl failed (see $log)"
	srcdir=$(find . -maxdepth 1 -type d -name 'wolfssl-*' | head -n 1)
	[ -n "$srcdir" ] || die "no wolfssl-* folder after apt-get source"
fi
srcdir=$dir/src/${ver:-newest}/${srcdir#./}

# Debian's configure flags must still be what this script assumes.
for f in "${debian_flags[@]}"; do
	grep -q -- "$f" "$srcdir/debian/rules" ||
	    die "debian/rules no longer passes $f: review debian_flags"
done

# The orig tarball has no configure script: autoreconf in the source
# (once), then build out of tree, so a rebuild starts from a clean obj/.
cd "$srcdir"
if [ ! -x configure ]; then
	echo "build-wolfssl: autoreconf"
	timeout 600 autoreconf -fi >>"$log" 2>&1 || die "autoreconf failed (see $log)"
fi
rm -rf "$dir/obj" "$prefix"
mkdir -p "$dir/obj"
cd "$dir/obj"
# Debian's compiler flags (dh: hardening=+all), plus -fPIC for the
# archive.  CPPFLAGS' -D_FORTIFY_SOURCE=2 also lands in options.h, as in
# Debian's.
cflags="$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CFLAGS) -fPIC"
cppflags=$(DEB_BUILD_MAINT_OPTIONS=hardening=+all dpkg-buildflags --get CPPFLAGS)
echo "build-wolfssl: configure ${debian_flags[*]} ${tuned_flags[*]}"
timeout 600 "$srcdir/configure" --prefix="$prefix" "${debian_flags[@]}" \
    "${tuned_flags[@]}" "${common_flags[@]}" CFLAGS="$cflags" \
    CPPFLAGS="$cppflags" >>"$log" 2>&1 || die "configure failed (see $log)"
echo "build-wolfssl: make (a few minutes; log in $log)"
timeout 1800 make -j2 >>"$log" 2>&1 || die "make failed (see $log)"
timeout 600 make install >>"$log" 2>&1 || die "make install failed (see $log)"
# --enable-distro does not install options.h (multi-arch); Debian's
# libwolfssl-dev.install copies it from the build tree, so do we.
install -m 644 wolfssl/options.h "$prefix/include/wolfssl/options.h"
# Static only: --enable-distro turns the shared library back on.
rm -f "$prefix"/lib/libwolfssl.so* "$prefix"/lib/libwolfssl.la

# Every define Debian's options.h has must be in ours: the project relies
# on what Debian enables (OCSP, CRL, SESSION_CERTS, TLS 1.3, tickets...).
defs() {
	grep -E '^#define [A-Za-z_0-9]+' "$1" | awk '{ print $2 }' | sort -u
}
for d in WOLFSSL_AESNI USE_INTEL_SPEEDUP WOLFSSL_SP_X86_64_ASM; do
	grep -q "^#define $d" "$prefix/include/wolfssl/options.h" ||
	    die "$d is not in the new options.h"
done
if [ ! -f /usr/include/wolfssl/options.h ]; then
	echo "build-wolfssl: warning: libwolfssl-dev is not installed," \
	    "options.h not compared with Debian's" >&2
else
	lost=$(comm -23 <(defs /usr/include/wolfssl/options.h) \
	    <(defs "$prefix/include/wolfssl/options.h"))
	[ -z "$lost" ] || die "defines of Debian's options.h missing: $lost"
	echo "build-wolfssl: options.h keeps all of Debian's defines," \
	    "adds: $(comm -13 <(defs /usr/include/wolfssl/options.h) \
	    <(defs "$prefix/include/wolfssl/options.h") | tr '\n' ' ')"
fi
echo "$want" >"$stamp"
echo "build-wolfssl: done: -DGW_WOLFSSL_PREFIX=$prefix"
