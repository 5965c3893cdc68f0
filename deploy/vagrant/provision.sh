#!/usr/bin/env bash
# Provisions one Switchyard node VM (run by the Vagrantfile as root, settings in the
# environment: NODE, NODE_IP, UPLINK, DATAPATH, CONTROLLER_IP, API_PORT, TOKEN,
# RUN_CONTROLLER). `provision.sh br-ex` only moves the node IP onto br-ex. Safe to repeat.
set -euo pipefail
: "${NODE:?}" "${NODE_IP:?}" "${UPLINK:?}" "${DATAPATH:?}" "${CONTROLLER_IP:?}" "${API_PORT:?}" "${TOKEN:?}"
BIN=/opt/switchyard/bin
API=http://$CONTROLLER_IP:$API_PORT

# The node IP lives on br-ex, which owns the uplink (the "shared gateway" layout; the
# userspace datapath also needs it there to route and ARP its tunnels).
br_ex() {
    ovs-vsctl --may-exist add-br br-ex -- set bridge br-ex datapath_type="$DATAPATH"
    ovs-vsctl --may-exist add-port br-ex "$UPLINK"
    ip link set br-ex up
    ip addr del "$NODE_IP/24" dev "$UPLINK" 2>/dev/null || true
    ip addr replace "$NODE_IP/24" dev br-ex
    # The controller opens OVSDB on tcp:NODE_IP:6640 (kept in the database).
    ovs-vsctl set-manager "ptcp:6640:$NODE_IP"
}

if [ "${1:-}" = br-ex ]; then
    br_ex
    exit 0
fi

echo "== $NODE: packages"
export DEBIAN_FRONTEND=noninteractive
if ! command -v ovs-vsctl >/dev/null; then
    apt-get update -q
    apt-get install -y -q --no-install-recommends openvswitch-switch iproute2 iptables ethtool curl
fi
systemctl enable --now openvswitch-switch

echo "== $NODE: binaries and units"
for b in yard-controller yard-agent yardctl; do
    [ -x "$BIN/$b" ] || { echo "$BIN/$b missing: run 'cargo build --release --bins' on the host, then 'vagrant rsync' and 'vagrant provision'" >&2; exit 1; }
    install -m 0755 "$BIN/$b" /usr/local/bin/
done
install -m 0644 /opt/switchyard/systemd/yard-controller.service /opt/switchyard/systemd/yard-agent.service /etc/systemd/system/
install -d -m 0700 /etc/switchyard

echo "== $NODE: br-ex with $UPLINK and $NODE_IP"
br_ex

if [ "${RUN_CONTROLLER:-0}" = 1 ]; then
    echo "== $NODE: yard-controller (API unix socket and $API)"
    cat >/etc/switchyard/controller.env <<ENV
YARD_CONTROLLER_ARGS=--listen $CONTROLLER_IP:$API_PORT
YARD_TOKEN=$TOKEN
ENV
    chmod 0600 /etc/switchyard/controller.env
    systemctl daemon-reload
    systemctl enable yard-controller
    systemctl restart yard-controller
fi

# yardctl on every node talks to the controller over TCP with the cluster's token.
cat >/etc/profile.d/switchyard.sh <<ENV
export YARD_CONTROLLER=$API
ENV
cat >/etc/switchyard/yardctl.env <<ENV
YARD_CONTROLLER=$API
YARD_TOKEN=$TOKEN
ENV
chmod 0600 /etc/switchyard/yardctl.env
yardctl() { env YARD_CONTROLLER="$API" YARD_TOKEN="$TOKEN" /usr/local/bin/yardctl "$@"; }

for i in $(seq 1 60); do
    yardctl status >/dev/null 2>&1 && break
    [ "$i" = 60 ] && { echo "the controller at $API does not answer (journalctl -u yard-controller on n1)" >&2; exit 1; }
    sleep 1
done

echo "== $NODE: yardctl node add $NODE --ip $NODE_IP --uplink $UPLINK --datapath $DATAPATH"
if ! yardctl node show "$NODE" >/dev/null 2>&1; then
    yardctl node add "$NODE" --ip "$NODE_IP" --uplink "$UPLINK" --datapath "$DATAPATH"
fi

echo "== $NODE: yard-agent"
cat >/etc/switchyard/agent.env <<ENV
YARD_CONTROLLER=$API
YARD_TOKEN=$TOKEN
YARD_NODE=$NODE
YARD_OVSDB=unix:/var/run/openvswitch/db.sock
YARD_AGENT_ARGS=
ENV
chmod 0600 /etc/switchyard/agent.env
systemctl daemon-reload
systemctl enable yard-agent
systemctl restart yard-agent
yardctl status
