#!/usr/bin/env bash
# Installs the Debian packages Switchyard's tests and lab need, if any is missing.
# Run as root. Safe to run again: it installs nothing when everything is there.
set -euo pipefail
need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
have ovs-vswitchd || need+=(openvswitch-switch)
have ip || need+=(iproute2)
have ping || need+=(iputils-ping)
have ethtool || need+=(ethtool)
have nft || need+=(nftables)
have iptables || need+=(iptables)
have curl || need+=(curl)
have nc || need+=(netcat-openbsd)
# deploy/lab.sh: the demo service's HTTP responder, sysctl inside namespaces, tables.
have socat || need+=(socat)
have sysctl || need+=(procps)
have column || need+=(bsdextrautils)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${need[@]}"
fi
