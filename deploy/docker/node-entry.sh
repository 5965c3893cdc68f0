#!/usr/bin/env bash
# Entry of the node image: starts ovsdb-server (also on ptcp:6640:NODE_IP for the
# controller) and ovs-vswitchd with --monitor, moves the container's address from the
# uplink onto br-ex (userspace datapath: br-ex owns the uplink and the node IP), then
# runs yard-agent. Settings: YARD_NODE, YARD_CONTROLLER, YARD_TOKEN, YARD_UPLINK (eth0),
# YARD_AGENT_ARGS.
set -euo pipefail
: "${YARD_NODE:?set YARD_NODE, the name of this node}" "${YARD_CONTROLLER:?set YARD_CONTROLLER, e.g. http://CONTROLLER:8080}"
UPLINK=${YARD_UPLINK:-eth0}
RUN=/var/run/openvswitch

addr=$(ip -4 -o addr show dev "$UPLINK" scope global | awk '{print $4; exit}')
[ -n "$addr" ] || addr=$(ip -4 -o addr show dev br-ex scope global 2>/dev/null | awk '{print $4; exit}')
[ -n "$addr" ] || { echo "node $YARD_NODE: $UPLINK has no IPv4 address" >&2; exit 1; }
gw=$(ip -4 route show default | awk '{print $3; exit}')

# A container run without --privileged (compose.restricted.yaml) sees /proc/sys
# read-only; the sysctls below and the agent's need it writable (needs SYS_ADMIN).
if [ ! -w /proc/sys/net/ipv4/ip_forward ]; then
    mount -o remount,rw,bind /proc/sys || echo "node $YARD_NODE: warning: /proc/sys is read-only" >&2
fi

mkdir -p "$RUN" /var/log/openvswitch /etc/openvswitch
[ -f /etc/openvswitch/conf.db ] ||
    ovsdb-tool create /etc/openvswitch/conf.db /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server /etc/openvswitch/conf.db \
    --remote="punix:$RUN/db.sock" \
    --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
    --remote="ptcp:6640:${addr%/*}" \
    --pidfile --log-file --detach --monitor
ovs-vsctl --no-wait init
ovs-vswitchd --pidfile --log-file --detach --monitor

ovs-vsctl --may-exist add-br br-ex -- set bridge br-ex datapath_type=netdev
ovs-vsctl --may-exist add-port br-ex "$UPLINK"
for _ in $(seq 100); do ip link show br-ex >/dev/null 2>&1 && break; sleep 0.1; done
# The userspace datapath does not complete partial checksums; and it reads the uplink
# with AF_PACKET, so this kernel sees those frames too and must not answer ARP on it.
ethtool -K "$UPLINK" tx off >/dev/null
sysctl -qw "net.ipv4.conf.$UPLINK.arp_ignore=8"
sysctl -qw "net.ipv6.conf.$UPLINK.disable_ipv6=1" || true
ip addr del "$addr" dev "$UPLINK" 2>/dev/null || true
ip addr replace "$addr" dev br-ex
ip link set br-ex up
[ -z "$gw" ] || ip route replace default via "$gw" dev br-ex
echo "node $YARD_NODE: Open vSwitch up, br-ex holds $addr"

# shellcheck disable=SC2086 # YARD_AGENT_ARGS is a list of words
exec yard-agent --controller "$YARD_CONTROLLER" --node "$YARD_NODE" \
    --ovsdb "unix:$RUN/db.sock" ${YARD_AGENT_ARGS:-}
