#!/usr/bin/env bash
# Switchyard end to end in Docker: builds the node and controller images from the release
# binaries, starts the two-node compose cluster, registers the nodes, adds a pod on each,
# proves a cross-node pod ping (and, when this build has services, a NodePort curl to
# both nodes), and tears everything down again, also on failure. Prints each step's time.
#
#   deploy/docker/e2e.sh
#
# Environment: E2E_BIN_DIR (yard-controller, yard-agent, yardctl; default: build
# target/release), SWITCHYARD_TAG (image tag, default e2e), E2E_PROJECT (compose project,
# default switchyard-e2e). The images stay for the next run; containers and network go.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
export SWITCHYARD_TAG=${SWITCHYARD_TAG:-e2e}
export SWITCHYARD_TOKEN=${SWITCHYARD_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
PROJECT=${E2E_PROJECT:-switchyard-e2e}
BASE=debian:trixie
WAIT=${E2E_WAIT:-90}
start=$SECONDS

step() { printf '==> [%4ss] %s\n' "$((SECONDS - start))" "$*"; }
die() {
    printf 'e2e: %s\n' "$*" >&2
    exit 1
}

if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null; then
    COMPOSE=(docker-compose)
else
    die "neither 'docker compose' nor docker-compose is installed"
fi
FILES=(-f "$HERE/compose.yaml")
compose() { "${COMPOSE[@]}" -p "$PROJECT" "${FILES[@]}" "$@"; }
on() {
    local svc=$1
    shift
    compose exec -T "$svc" "$@"
}
yardctl() { on controller yardctl "$@"; }

# Polls CMD until it succeeds or $WAIT seconds pass.
wait_until() {
    local what=$1 deadline=$((SECONDS + WAIT))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "timed out after ${WAIT}s waiting for $what"
        sleep 0.5
    done
}

BIN=${E2E_BIN_DIR:-${CARGO_TARGET_DIR:-$ROOT/target}/release}
if [ -z "${E2E_BIN_DIR:-}" ]; then
    step "cargo build --release --bins"
    (cd "$ROOT" && cargo build --release --bins)
fi
for b in yard-controller yard-agent yardctl; do
    [ -x "$BIN/$b" ] || die "$BIN/$b not found (cargo build --release --bins, or set E2E_BIN_DIR)"
done

if ! docker image inspect "$BASE" >/dev/null 2>&1 && ! docker pull -q "$BASE" >/dev/null 2>&1; then
    step "no registry: building $BASE with debootstrap (deploy/docker/build-base.sh)"
    if [ "$(id -u)" = 0 ]; then "$HERE/build-base.sh"; else sudo "$HERE/build-base.sh"; fi
fi

ctx=$(mktemp -d)
cleanup() {
    local rc=$?
    if [ "$rc" != 0 ]; then
        echo "---- logs (e2e failed) ----" >&2
        compose logs --tail 40 >&2 2>/dev/null || true
    fi
    step "tearing down"
    compose down -v --remove-orphans -t 3 >/dev/null 2>&1 || true
    rm -rf "$ctx"
    exit "$rc"
}
trap cleanup EXIT

step "building images switchyard-node:$SWITCHYARD_TAG and switchyard-controller:$SWITCHYARD_TAG"
cp "$BIN/yard-controller" "$BIN/yard-agent" "$BIN/yardctl" "$HERE/node-entry.sh" \
    "$HERE/controller-entry.sh" "$ROOT/deploy/http-reply.sh" "$ctx/"
docker build -q -f "$HERE/Dockerfile.node" -t "switchyard-node:$SWITCHYARD_TAG" "$ctx" >/dev/null
docker build -q -f "$HERE/Dockerfile.controller" -t "switchyard-controller:$SWITCHYARD_TAG" "$ctx" >/dev/null

# Privileged node containers, unless this Docker daemon cannot start them (it lacks some
# capabilities itself); then the explicit capability list of compose.restricted.yaml.
if ! docker run --rm --privileged --entrypoint true "switchyard-node:$SWITCHYARD_TAG" >/dev/null 2>&1; then
    echo "this Docker daemon cannot run privileged containers: using compose.restricted.yaml"
    FILES+=(-f "$HERE/compose.restricted.yaml")
fi
step "compose up (controller, n1, n2)"
compose down -v --remove-orphans -t 3 >/dev/null 2>&1 || true
compose up -d
wait_until "the controller's API" yardctl status
for n in 1 2; do
    wait_until "Open vSwitch on n$n" on "n$n" ovs-vsctl br-exists br-ex
done

for n in 1 2; do
    step "yardctl node add n$n --ip 192.168.57.1$n --uplink eth0"
    yardctl node add "n$n" --ip "192.168.57.1$n" --uplink eth0 >/dev/null
done
for n in 1 2; do
    wait_until "the controller to create br-int on n$n" on "n$n" ovs-vsctl br-exists br-int
done

pod_ip() { on "$1" ip netns exec "yp-$2" ip -4 -o addr show scope global | awk '{split($4, a, "/"); print a[1]; exit}'; }
step "pods a on n1, b on n2"
yardctl pod add a --node n1 >/dev/null
yardctl pod add b --node n2 >/dev/null
pod_wired() { [ -n "$(pod_ip "$1" "$2")" ]; }
wait_until "pod a to be wired on n1" pod_wired n1 a
wait_until "pod b to be wired on n2" pod_wired n2 b
ip_a=$(pod_ip n1 a)
ip_b=$(pod_ip n2 b)

step "ping a ($ip_a, n1) -> b ($ip_b, n2) and back"
# Up to 20 s each: the first packet to a new tunnel peer is lost while OVS resolves its MAC.
on n1 ip netns exec yp-a ping -q -c 1 -w 20 "$ip_b" >/dev/null || die "pod a on n1 cannot ping pod b ($ip_b) on n2"
on n2 ip netns exec yp-b ping -q -c 1 -w 20 "$ip_a" >/dev/null || die "pod b on n2 cannot ping pod a ($ip_a) on n1"
echo "cross-node ping: ok"

if yardctl service --help >/dev/null 2>&1; then
    step "NodePort 30080 -> b:80, curl from the controller container to both nodes"
    compose exec -T -d n2 ip netns exec yp-b http-reply.sh 80 "hello from b"
    yardctl service add web --port 80 --nodeport 30080 --pod b >/dev/null
    for n in 1 2; do
        reply=$(on controller curl -s -m 5 --retry 5 --retry-all-errors "http://192.168.57.1$n:30080/") ||
            die "NodePort 30080 on n$n does not answer"
        echo "nodeport n$n: $reply"
    done
else
    echo "nodeport: skipped (this yardctl has no 'service' command)"
fi
step "E2E OK"
