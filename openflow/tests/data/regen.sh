#!/usr/bin/env bash
# Regenerates flows.txt and groups.txt from flows.in and groups.in with a real
# ovs-vswitchd (userspace datapath) in a temporary directory. Run as root.
set -euo pipefail
br=ofg$$
# The userspace datapath owns one "ovs-netdev" tap per network namespace: run in our own.
ns=ofgold$$
ip netns add "$ns"
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
export OVS_RUNDIR=$dir OVS_DBDIR=$dir OVS_LOGDIR=$dir
cleanup() {
    for p in ovs-vswitchd ovsdb-server; do
        [ -f "$dir/$p.pid" ] && kill "$(cat "$dir/$p.pid")" 2>/dev/null || true
    done
    [ -n "${KEEP:-}" ] || rm -rf "$dir"
    ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT
ovsdb-tool create "$dir/conf.db" /usr/share/openvswitch/vswitch.ovsschema
ovsdb-server "$dir/conf.db" --remote="punix:$dir/db.sock" --pidfile="$dir/ovsdb-server.pid" \
    --unixctl="$dir/ovsdb-server.ctl" --log-file="$dir/ovsdb-server.log" --detach 2>/dev/null
ovs-vsctl --db="unix:$dir/db.sock" --no-wait init
ip netns exec "$ns" ovs-vswitchd "unix:$dir/db.sock" --pidfile="$dir/ovs-vswitchd.pid" --unixctl="$dir/ovs-vswitchd.ctl" \
    --log-file="$dir/ovs-vswitchd.log" --detach 2>/dev/null
ovs-vsctl --db="unix:$dir/db.sock" add-br "$br" -- set bridge "$br" datapath_type=netdev
for _ in $(seq 100); do [ -S "$dir/$br.mgmt" ] && break; sleep 0.1; done
of() { ovs-ofctl -O OpenFlow13 "$@"; }
# flows.in uses meter 1.
of add-meter "$br" meter=1,kbps,band=type=drop,rate=1000
grep -v '^#' "$here/groups.in" | of add-groups "$br" -
grep -v '^#' "$here/flows.in" | of add-flows "$br" -
{
    echo "# Written by regen.sh: ovs-ofctl -O OpenFlow13 dump-flows --no-stats (OVS $(ovs-vswitchd --version | head -1 | awk '{print $NF}')), one flow per line."
    of dump-flows "$br" --no-stats | sed 's/^ //' | sort
} > "$here/flows.txt"
{
    echo "# Written by regen.sh: ovs-ofctl -O OpenFlow13 dump-groups, one group per line."
    of dump-groups "$br" | grep -v '^OFPST' | sed 's/^ //' | sort
} > "$here/groups.txt"
wc -l "$here/flows.txt" "$here/groups.txt"
# The bytes ovs-ofctl sends for each input (OFPT_FLOW_MOD / OFPT_GROUP_MOD add, xid 1).
hexof() { grep -E '^[0-9a-f]{8}  ' | cut -c11-58 | tr -dc '0-9a-f'; echo; }
{
    echo "# Written by regen.sh: ovs-ofctl -O OpenFlow13 -mmmmm parse-flow for each line of flows.in, in order."
    grep -v '^#' "$here/flows.in" | while read -r l; do of -mmmmm parse-flow "$l" | hexof; done
} > "$here/flows.hex"
{
    echo "# Written by regen.sh: ovs-ofctl -O OpenFlow13 -mmmmm parse-group for each line of groups.in, in order."
    grep -v '^#' "$here/groups.in" | while read -r l; do of -mmmmm parse-group "$l" | hexof; done
} > "$here/groups.hex"
