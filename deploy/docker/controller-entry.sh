#!/usr/bin/env bash
# Entry of the controller image. YARD_TOKEN guards the TCP API on :8080. Extra arguments go
# to yard-controller. The controller dials every node's bridges (NODE_IP:6655 and :6654).
set -euo pipefail
: "${YARD_TOKEN:?set YARD_TOKEN, the bearer token of the TCP API}"
# Nodes run the userspace datapath, which does not complete partial checksums: what this
# container sends them must carry full ones (LAB-NOTES.md). Needs NET_ADMIN.
ethtool -K eth0 tx off >/dev/null 2>&1 || echo "controller: warning: cannot turn off TX checksum offload on eth0 (add NET_ADMIN)" >&2
exec yard-controller \
    --state /var/lib/switchyard/state.json \
    --socket /run/switchyard/controller.sock \
    --listen 0.0.0.0:8080 \
    "$@"
