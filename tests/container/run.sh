#!/bin/bash
# tests/container/run.sh - build the container image and relay through it.
#
# 1. a container engine: the running Docker engine (DOCKER_HOST or the
#    default socket), else a private dockerd from Debian's docker.io,
#    started here and stopped at the end (no iptables rules; its images
#    and build cache are kept in /var/cache/smtpgate/dockerd, so a second
#    run is fast);
# 2. scripts/container-base.sh: debian:12 and debian:12-slim from Debian's
#    packages (debootstrap, cached), since no image registry is reachable;
# 3. docker build of the Dockerfile (apt inside the build uses the host's
#    network);
# 4. tests/container/relay.py: runs the image with the documented mounts,
#    relays one message to upstream.py on the host, checks /healthz, the
#    HEALTHCHECK and a clean stop.
#
# Also checks deploy/compose.yaml (docker-compose config) and parses
# deploy/kubernetes/pod.yaml.
#
# Needs root, docker.io, docker-compose and debootstrap
# (scripts/install-deps.sh --container; without them: skipped),
# python3-aiosmtpd (the upstream), a Debian mirror, about 1.5 GB in
# /var/cache/smtpgate.  Time on a 2-core machine: the base once, about 3
# minutes; a build without cache 2.5 (quiet) to 9 minutes (loaded); with
# the build cache and an unchanged tree the whole run takes 40 s (a
# changed tree compiles again).
#
# Exit status: 0 passed, 1 failed, 77 skipped: this machine cannot run
# containers (the line "skip container: REASON" says what failed).
set -uo pipefail

SKIP=77
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
image=smtpgate:test
state=/var/cache/smtpgate
t0=$SECONDS

skip() {
	echo "skip container: $*"
	exit "$SKIP"
}
fail() {
	echo "FAIL container: $*"
	exit 1
}
step() {
	echo "# $* ($((SECONDS - t0)) s)"
}

[ "$(id -u)" -eq 0 ] ||
    skip "needs root (debootstrap, and a private dockerd when none runs)"
command -v docker >/dev/null ||
    skip "no docker client (scripts/install-deps.sh --container)"
command -v debootstrap >/dev/null ||
    skip "no debootstrap (scripts/install-deps.sh --container)"

export DOCKER_BUILDKIT=0	# the classic builder: docker.io has no buildx
priv_pid='' priv_exec='' made_bridge=''

stop_private() {
	[ -n "$priv_pid" ] || return 0
	kill -TERM "$priv_pid" 2>/dev/null
	for _ in $(seq 1 60); do
		kill -0 "$priv_pid" 2>/dev/null || break
		sleep 0.5
	done
	kill -KILL "$priv_pid" 2>/dev/null
	priv_pid=
	# containerd's shims (their command lines name our directory) end
	# on their own a moment after their containers.
	local pids
	for _ in $(seq 1 40); do
		pids=$(pgrep -f -- "$priv_exec/" || true)
		[ -n "$pids" ] || break
		sleep 0.25
	done
	for p in $pids; do kill -KILL "$p" 2>/dev/null; done
	[ -z "$made_bridge" ] || ip link delete docker0 2>/dev/null
	# dockerd leaves its namespace mount (nsfs) behind.
	awk -v d="$priv_exec/" 'index($2, d) == 1 { print $2 }' /proc/mounts |
	    sort -r | while read -r m; do umount "$m"; done
	rm -rf "$priv_exec"
}
trap stop_private EXIT
trap 'exit 143' TERM INT

# start_private - a dockerd of our own: no iptables rules, the default
# bridge (created here, removed at the end) for the container's address.
start_private() {
	command -v dockerd >/dev/null ||
	    skip "no Docker engine runs and dockerd is not installed" \
	    "(scripts/install-deps.sh --container)"
	mkdir -p "$state/dockerd"
	# One private engine per data directory (bounded wait).
	exec 8>"$state/dockerd.lock"
	flock -w 900 8 || fail "$state/dockerd.lock held for 15 minutes"
	ip link show docker0 >/dev/null 2>&1 || made_bridge=1
	# Short: containerd's socket path must fit a sockaddr_un.
	priv_exec=$(mktemp -d /tmp/sgd.XXXXXX)
	export DOCKER_HOST=unix://$priv_exec/docker.sock
	dockerd --iptables=false --ip6tables=false \
	    --data-root "$state/dockerd" --exec-root "$priv_exec/x" \
	    --pidfile "$priv_exec/dockerd.pid" --host "$DOCKER_HOST" \
	    >"$priv_exec/dockerd.log" 2>&1 8>&- &
	priv_pid=$!
	for _ in $(seq 1 60); do
		docker info >/dev/null 2>&1 && return 0
		kill -0 "$priv_pid" 2>/dev/null || break
		sleep 0.5
	done
	local why
	why=$(grep -E 'level=(fatal|error)|failed to start' \
	    "$priv_exec/dockerd.log" | tail -n 1)
	[ -n "$why" ] || why=$(tail -n 1 "$priv_exec/dockerd.log")
	skip "dockerd --iptables=false did not start: ${why:-no output}"
}

# The sidecar examples: compose's own check, and the pod manifest parses
# into the three objects it documents.
step "deploy/ examples"
command -v docker-compose >/dev/null ||
    skip "no docker-compose (scripts/install-deps.sh --container)"
out=$(docker-compose -f "$src/deploy/compose.yaml" config 2>&1) ||
    fail "docker-compose config deploy/compose.yaml: $out"
kinds=$(/usr/bin/python3 -c 'import sys, yaml
print(" ".join(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1]))))' \
    "$src/deploy/kubernetes/pod.yaml" 2>&1) ||
    fail "deploy/kubernetes/pod.yaml: $kinds"
[ "$kinds" = "ConfigMap Secret Pod" ] ||
    fail "deploy/kubernetes/pod.yaml: want ConfigMap Secret Pod, got $kinds"
echo "ok examples: compose config, pod manifest ($kinds)"

step "container engine"
if timeout 20 docker info >/dev/null 2>&1; then
	echo "# using the running Docker engine (${DOCKER_HOST:-default socket})"
else
	start_private
	echo "# started a private dockerd ($DOCKER_HOST)"
fi

step "base images (scripts/container-base.sh)"
"$src/scripts/container-base.sh" --engine docker ||
    fail "scripts/container-base.sh failed"

# Can this machine run a container at all?  Its error is the reason.
if ! out=$(timeout 120 docker run --rm --network none debian:12-slim \
    true 2>&1); then
	skip "docker run debian:12-slim: $(echo "$out" | tail -n 1)"
fi

step "docker build -t $image"
log=$(mktemp /tmp/smtpgate-container-build.XXXXXX)
if ! timeout 1800 docker build --network host -t "$image" "$src" \
    >"$log" 2>&1; then
	tail -n 30 "$log"
	rm -f "$log"
	fail "docker build failed (last lines above)"
fi
echo "# $(grep -c 'Using cache' "$log") of $(grep -c '^Step ' "$log") build steps from the cache"
rm -f "$log"
# Old dangling images only: the build stage's images are dangling too, and
# they are the next build's cache.
docker image prune -f --filter until=24h >/dev/null 2>&1 || true

step "run and relay (tests/container/relay.py)"
CONTAINER_ENGINE=docker timeout 300 /usr/bin/python3 "$here/relay.py" \
    "$image"
rc=$?
step "done, exit status $rc"
[ "$rc" = 0 ] || exit 1
echo "ok container"
