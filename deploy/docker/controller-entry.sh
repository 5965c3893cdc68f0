#!/usr/bin/env bash
# Entry of the controller image. YARD_ADVERTISE is the address switches reach the
# controller at; YARD_TOKEN guards the TCP API on :8080. Extra arguments go to
# yard-controller.
set -euo pipefail
: "${YARD_ADVERTISE:?set YARD_ADVERTISE to the controller address on the node network}"
: "${YARD_TOKEN:?set YARD_TOKEN, the bearer token of the TCP API}"
# Nodes run the userspace datapath, which does not complete partial checksums: what this
# container sends them must carry full ones (LAB-NOTES.md). Needs NET_ADMIN.
ethtool -K eth0 tx off >/dev/null 2>&1 || echo "controller: warning: cannot turn off TX checksum offload on eth0 (add NET_ADMIN)" >&2
exec yard-controller \
    --state /var/lib/switchyard/state.json \
    --socket /run/switchyard/controller.sock \
    --openflow-listen 0.0.0.0:6653 \
    --advertise "$YARD_ADVERTISE" \
    --listen 0.0.0.0:8080 \
    "$@"
