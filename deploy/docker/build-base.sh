#!/usr/bin/env bash
# Makes the base image the Dockerfiles start FROM (default debian:trixie) on a machine
# that can reach a Debian mirror but no container registry: a debootstrap of Debian
# (minbase) imported with `docker import` under the very name the Dockerfiles use, so
# they build unchanged here and where a registry exists. Does nothing when the image is
# already there (pulled or built before).
#
#   deploy/docker/build-base.sh            BASE_IMAGE=debian:trixie BASE_SUITE=trixie
#
# Needs root (debootstrap) and the debootstrap package (installed if missing).
set -euo pipefail
IMAGE=${BASE_IMAGE:-debian:trixie}
SUITE=${BASE_SUITE:-${IMAGE#*:}}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "base image $IMAGE exists"
    exit 0
fi
[ "$(id -u)" = 0 ] || { echo "build-base.sh: debootstrap needs root (run with sudo)" >&2; exit 1; }
if ! command -v debootstrap >/dev/null; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
fi
root=$(mktemp -d /var/tmp/switchyard-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap --variant=minbase $SUITE from $MIRROR (about a minute)"
debootstrap --variant=minbase "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 || {
    tail -n 20 "$root.log" >&2
    rm -f "$root.log"
    exit 1
}
rm -f "$root.log"
# What the official image also leaves out: downloaded packages and package lists.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
echo "docker import -> $IMAGE"
tar --numeric-owner -C "$root" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$IMAGE" >/dev/null
docker image ls "$IMAGE"
