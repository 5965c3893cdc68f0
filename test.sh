#!/usr/bin/env bash
# Switchyard's test command: unit, golden and property tests, and the OVS-backed suite
# (real ovsdb-server / ovs-vswitchd with the userspace datapath, real namespaces).
# As root it first installs what is missing (deploy/install-deps.sh). As a normal user
# the OVS-backed tests print SKIP; with CI=true they fail instead.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" = 0 ]; then bash deploy/install-deps.sh; fi
# The end-to-end tests run the binaries (yard-controller, yardctl, yard-agent).
cargo build --workspace --bins
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast --profile "${NEXTEST_PROFILE:-default}"
else
    cargo test --workspace --no-fail-fast --lib --bins --tests
fi
cargo test --workspace --doc --quiet
