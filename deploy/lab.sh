#!/usr/bin/env bash
# Switchyard lab: a whole cluster in network namespaces on this machine. No VMs, no kernel
# module: every node runs its own ovsdb-server and ovs-vswitchd (userspace datapath).
#
#   lab-underlay   Linux bridge br0 standing for the physical network 192.168.56.0/24
#   lab-ctl        yard-controller, 192.168.56.10
#   lab-n1..lab-nN a node each: ovsdb-server (also on ptcp:6640:NODE_IP), ovs-vswitchd,
#                  br-ex holding the uplink eth1 and the node IP 192.168.56.1K, yard-agent
#   lab-ext        "the outside world", 192.168.56.200
#   lab-pod-nK-a, lab-pod-nK-b   the demo pods (namespaces the agent wires)
#
# Usage: deploy/lab.sh COMMAND
#   up [--nodes N] [--no-demo]   build (or use $LAB_BIN_DIR), start the cluster, register the
#                                nodes n1..nN, add two demo pods per node and a NodePort
#                                service, then prove it works (see `prove`)
#   down                         remove every namespace, process and file the lab made
#   status                       what runs, and the controller's view
#   exec NODE|POD|ctl|ext -- CMD run CMD in that namespace; on a node, the OVS tools find
#                                that node's daemons (ovs-vsctl show, ovs-ofctl dump-flows br-int)
#   restart controller | agent NODE | ovs NODE
#   logs controller | agent NODE | ovs-vswitchd NODE | ovsdb-server NODE | http POD
#   prove                        pod-to-pod ping matrix, curl from lab-ext to every node's
#                                NodePort, flow count per node
#
# Environment: LAB_PREFIX (namespace prefix, default lab), LAB_DIR (state and logs, default
# /run/switchyard-lab), LAB_SOCKET (controller API socket, default the one yardctl uses
# without flags), LAB_BIN_DIR (directory with yard-controller, yard-agent and yardctl; when
# unset the script runs `cargo build --release --bins`), LAB_NODEPORT (default 30080),
# LAB_WAIT (seconds to wait for bridges and pods, default 60).
#
# Nothing in the root namespace's addresses, routes or firewall changes: every link and
# address is made inside the lab's namespaces.
set -euo pipefail

P=${LAB_PREFIX:-lab}
D=${LAB_DIR:-/run/switchyard-lab}
SOCK=${LAB_SOCKET:-/run/switchyard/controller.sock}
NODEPORT=${LAB_NODEPORT:-30080}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCHEMA=/usr/share/openvswitch/vswitch.ovsschema
NET=192.168.56
CTL_IP=$NET.10
EXT_IP=$NET.200
UNDERLAY=$P-underlay
UPLINK=eth1
WAIT=${LAB_WAIT:-60}

say() { printf '==> %s\n' "$*"; }
warn() { printf 'lab: warning: %s\n' "$*" >&2; }
die() {
    printf 'lab: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------- small helpers

need_root() {
    [ "$(id -u)" = 0 ] || die "this needs root (network namespaces, Open vSwitch daemons): run it with sudo"
}

nsx() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

node_ip() { echo "$NET.$((10 + ${1#n}))"; }
node_dir() { echo "$D/$1"; }
node_count() { cat "$D/nodes" 2>/dev/null || echo 0; }
nodes() {
    local i
    for ((i = 1; i <= $(node_count); i++)); do echo "n$i"; done
}
pods() { cat "$D/pods" 2>/dev/null || true; }
pod_ns() { echo "$P-pod-$1"; }

# Runs a command in a node's namespace with that node's OVS environment: ovs-vsctl,
# ovs-ofctl and ovs-appctl find its database, bridges' management sockets and control
# sockets, as they find the system's on a real node.
on_node() {
    local node=$1
    shift
    nsx "$P-$node" env OVS_RUNDIR="$(node_dir "$node")" OVS_DBDIR="$(node_dir "$node")" \
        OVS_LOGDIR="$(node_dir "$node")" "$@"
}

# Polls CMD every 0.2 s until it succeeds or $2 seconds pass. CMD exiting with $GIVE_UP
# means "this will never succeed" and ends the wait at once.
GIVE_UP=86
wait_until() {
    local what=$1 secs=$2 rc
    shift 2
    local deadline=$((SECONDS + secs))
    while true; do
        rc=0
        "$@" >/dev/null 2>&1 || rc=$?
        ((rc != 0)) || return 0
        if ((rc == GIVE_UP)); then
            warn "gave up waiting for $what"
            return 1
        fi
        if ((SECONDS >= deadline)); then
            warn "timed out after ${secs}s waiting for $what"
            return 1
        fi
        sleep 0.2
    done
}

# Creates a namespace and records it first, so `down` removes it even if `up` dies here.
not_taken() {
    [ ! -e "/run/netns/$1" ] ||
        die "namespace $1 exists but is not this lab's (left from another run? 'ip netns del $1', or set LAB_PREFIX)"
}

add_ns() {
    not_taken "$1"
    echo "$1" >>"$D/netns"
    ip netns add "$1"
    ip -n "$1" link set lo up
}

# Starts a long-running program inside a namespace, detached from this terminal, its
# output in LOG and its pid in PIDFILE. `ip netns exec` execs the program, so the pid
# is the program's.
spawn() {
    local ns=$1 pidfile=$2 log=$3
    shift 3
    NO_COLOR=1 RUST_LOG=${RUST_LOG:-info} setsid ip netns exec "$ns" "$@" </dev/null >>"$log" 2>&1 &
    echo $! >"$pidfile"
}

# True if PIDFILE names a live process whose command name is COMM. A zombie (exited,
# waiting for its parent to reap it) is not live.
running() {
    local pidfile=$1 comm=$2 pid state
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
    state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# Stops the process PIDFILE names, if it is still COMM (a recycled pid is left alone):
# SIGTERM, up to 5 s, then SIGKILL.
stop_pid() {
    local pidfile=$1 comm=$2 pid signal i
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    for signal in TERM KILL; do
        running "$pidfile" "$comm" || break
        kill "-$signal" "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            running "$pidfile" "$comm" || break
            sleep 0.1
        done
    done
    rm -f "$pidfile"
}

# Stops an OVS daemon started with --monitor: the monitor first (or it restarts the
# daemon), then the daemon.
stop_ovs_daemon() {
    local dir=$1 daemon=$2 pid ppid
    pid=$(cat "$dir/$daemon.pid" 2>/dev/null) || return 0
    ppid=$(awk '{print $4}' "/proc/$pid/stat" 2>/dev/null || true)
    if [ -n "$ppid" ] && [ "$(cat "/proc/$ppid/comm" 2>/dev/null)" = "$daemon" ]; then
        echo "$ppid" >"$dir/$daemon.monitor.pid"
        stop_pid "$dir/$daemon.monitor.pid" "$daemon"
    fi
    stop_pid "$dir/$daemon.pid" "$daemon"
}

yardctl() { "$BIN/yardctl" --controller "unix:$SOCK" "$@"; }

# ---------------------------------------------------------------- binaries

find_bins() {
    if [ -n "${LAB_BIN_DIR:-}" ]; then
        BIN=$LAB_BIN_DIR
    elif [ -f "$D/bin" ]; then
        BIN=$(cat "$D/bin")
    else
        BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
    fi
}

build_bins() {
    find_bins
    if [ -z "${LAB_BIN_DIR:-}" ]; then
        local cargo=(cargo)
        if ! command -v cargo >/dev/null && [ -n "${SUDO_USER:-}" ]; then
            # sudo dropped the user's PATH: build as the user who asked.
            cargo=(sudo -u "$SUDO_USER" -i -- env -C "$ROOT" cargo)
        fi
        command -v "${cargo[0]}" >/dev/null || die "cargo not found: install Rust (https://rustup.rs) or set LAB_BIN_DIR"
        say "building release binaries (cargo build --release --bins)"
        (cd "$ROOT" && "${cargo[@]}" build --release --bins) || die "build failed"
    fi
    for b in yard-controller yardctl; do
        [ -x "$BIN/$b" ] || die "$BIN/$b not found: build it (cargo build --release --bins) or set LAB_BIN_DIR"
    done
}

# ---------------------------------------------------------------- up

# A veth from namespace NS (end IFNAME) to the underlay bridge (end TAG-u). Created from
# inside NS, so no name is ever taken in the root namespace.
plug() {
    local ns=$1 ifname=$2 tag=$3
    ip -n "$ns" link add "$ifname" type veth peer name "$tag-u" netns "$UNDERLAY"
    # The userspace datapath does not complete partial checksums (LAB-NOTES.md).
    nsx "$ns" ethtool -K "$ifname" tx off >/dev/null
    nsx "$UNDERLAY" ethtool -K "$tag-u" tx off >/dev/null
    ip -n "$UNDERLAY" link set "$tag-u" master br0 up
    ip -n "$ns" link set "$ifname" up
}

start_ovs() {
    local node=$1 dir ip
    dir=$(node_dir "$node")
    ip=$(node_ip "$node")
    # ptcp on the node IP: ovsdb-server retries the listen every few seconds until br-ex
    # holds the address, and --monitor restarts keep it (a runtime add-remote would not).
    on_node "$node" ovsdb-server "$dir/conf.db" \
        --remote="punix:$dir/db.sock" \
        --remote=db:Open_vSwitch,Open_vSwitch,manager_options \
        --remote="ptcp:6640:$ip" \
        --pidfile --log-file --detach --monitor --no-chdir 2>>"$dir/start.log"
    on_node "$node" ovs-vsctl --no-wait init
    on_node "$node" ovs-vswitchd "unix:$dir/db.sock" \
        --pidfile --log-file --detach --monitor --no-chdir 2>>"$dir/start.log"
}

# What an operator does before installing Switchyard: br-ex owns the uplink and the node
# IP, so the userspace datapath can route and ARP the tunnels' underlay itself. Safe to
# repeat (after `restart ovs`).
setup_br_ex() {
    local node=$1 dir ip
    dir=$(node_dir "$node")
    ip=$(node_ip "$node")
    on_node "$node" ovs-vsctl --timeout=20 --may-exist add-br br-ex -- set bridge br-ex datapath_type=netdev
    on_node "$node" ovs-vsctl --timeout=20 --may-exist add-port br-ex "$UPLINK"
    wait_until "br-ex on $node" 20 test -S "$dir/br-ex.mgmt" || return 1
    wait_until "br-ex's interface on $node" 20 ip -n "$P-$node" link show br-ex || return 1
    # The datapath reads the uplink with AF_PACKET, so the node's kernel sees its frames
    # too: it must not answer ARP for the node IP with the uplink's MAC.
    nsx "$P-$node" sysctl -qw "net.ipv4.conf.$UPLINK.arp_ignore=8"
    nsx "$P-$node" sysctl -qw "net.ipv6.conf.$UPLINK.disable_ipv6=1"
    ip -n "$P-$node" addr replace "$ip/24" dev br-ex
    ip -n "$P-$node" link set br-ex up
}

make_node() {
    local node=$1 dir
    dir=$(node_dir "$node")
    say "node $node: namespace $P-$node, Open vSwitch, br-ex with $UPLINK and $(node_ip "$node")"
    mkdir -p "$dir"
    add_ns "$P-$node"
    plug "$P-$node" "$UPLINK" "$node"
    ovsdb-tool create "$dir/conf.db" "$SCHEMA"
    start_ovs "$node"
    setup_br_ex "$node" || die "node $node: br-ex did not come up; see $dir/ovs-vswitchd.log"
}

start_controller() {
    mkdir -p "$(dirname "$SOCK")"
    spawn "$P-ctl" "$D/controller.pid" "$D/controller.log" "$BIN/yard-controller" \
        --state "$D/state.json" --socket "$SOCK"
    wait_until "the controller's API on $SOCK" 30 controller_answers ||
        die "the controller did not start; $D/controller.log says:
$(tail -n 20 "$D/controller.log")"
}

# The controller's API answers; gives up at once if the controller exited. (kill -0, not
# `running`: right after the spawn the process may still be `ip netns exec`.)
controller_answers() {
    kill -0 "$(cat "$D/controller.pid")" 2>/dev/null || return "$GIVE_UP"
    yardctl status
}

start_agent() {
    local node=$1 dir
    dir=$(node_dir "$node")
    spawn "$P-$node" "$dir/agent.pid" "$dir/agent.log" "$BIN/yard-agent" \
        --controller "unix:$SOCK" --node "$node" --ovsdb "unix:$dir/db.sock" --mount-ns auto
}

start_http() {
    local pod=$1
    spawn "$(pod_ns "$pod")" "$D/pods.d/$pod.http.pid" "$D/pods.d/$pod.http.log" \
        "$ROOT/deploy/http-reply.sh" 80 "hello from $pod"
}

pod_ip() { ip -n "$(pod_ns "$1")" -4 -o addr show scope global 2>/dev/null | awk '{print $4; exit}' | cut -d/ -f1; }
# The agent reported the pod wired (veth in br-int, addresses set) and its address shows.
pod_wired() {
    yardctl pod show "$1" 2>/dev/null | grep -Eq '^state:[[:space:]]+wired' && [ -n "$(pod_ip "$1")" ]
}
# The controller has pushed the pod's flows to its node (it learns the port from OVSDB after
# the agent attached it, so this follows `wired` by a moment, longer on a loaded machine).
pod_flows() {
    yardctl flows "${1%-*}" --owner "$1" 2>/dev/null | grep -q "owner=$1"
}

# The service's backends: the first pod of n1 and of n2 (both of n1's with one node).
backends() {
    if (($(node_count) >= 2)); then echo "n1-a n2-a"; else echo "n1-a n1-b"; fi
}

demo() {
    local node pod n
    mkdir -p "$D/pods.d"
    for node in $(nodes); do
        wait_until "node $node's br-int (made by the controller)" "$WAIT" \
            on_node "$node" ovs-vsctl --timeout=5 br-exists br-int ||
            die "node $node: the controller did not create br-int; see lab.sh logs controller"
    done
    for node in $(nodes); do
        for pod in "$node-a" "$node-b"; do
            say "pod $pod on $node (namespace $(pod_ns "$pod"))"
            echo "$pod" >>"$D/pods"
            add_ns "$(pod_ns "$pod")"
            yardctl pod add "$pod" --node "$node" --netns "$(pod_ns "$pod")" >/dev/null
        done
    done
    for pod in $(pods); do
        wait_until "pod $pod to be wired by the agent on ${pod%-*}" "$WAIT" pod_wired "$pod" ||
            die "pod $pod: not wired; see lab.sh logs agent ${pod%-*}"
        wait_until "pod $pod's flows on ${pod%-*}" "$WAIT" pod_flows "$pod" ||
            die "pod $pod: the controller pushed no flows for it; see lab.sh logs controller"
    done
    n=$(backends)
    say "service demo: NodePort $NODEPORT -> port 80 of $n (an HTTP responder in each)"
    for pod in $n; do start_http "$pod"; done
    local args=()
    for pod in $n; do args+=(--pod "$pod"); done
    if yardctl service --help >/dev/null 2>&1; then
        yardctl service add demo --port 80 --nodeport "$NODEPORT" "${args[@]}" >/dev/null
        echo "$NODEPORT" >"$D/nodeport"
    else
        warn "this yardctl has no 'service' command: the demo runs without the NodePort service"
    fi
}

cmd_up() {
    local n=2 demo=1 argv=("$@")
    while [ $# -gt 0 ]; do
        case $1 in
        --nodes) n=${2:?--nodes needs a number}; shift 2 ;;
        --nodes=*) n=${1#--nodes=}; shift ;;
        --no-demo) demo=0; shift ;;
        *) die "up: unknown argument $1 (usage: up [--nodes N] [--no-demo])" ;;
        esac
    done
    [[ $n =~ ^[1-9][0-9]?$ ]] && ((n <= 50)) || die "up: --nodes must be 1..50, not $n"
    if [ "$(id -u)" != 0 ]; then
        # Build as this user (their cargo and target dir), then do the rest as root.
        command -v sudo >/dev/null || die "this needs root (network namespaces, Open vSwitch daemons)"
        build_bins
        say "namespaces and daemons need root: continuing with sudo"
        exec sudo env LAB_BIN_DIR="$BIN" LAB_PREFIX="$P" LAB_DIR="$D" LAB_SOCKET="$SOCK" \
            LAB_NODEPORT="$NODEPORT" "$(realpath "${BASH_SOURCE[0]}")" up "${argv[@]}"
    fi
    if [ -e "$D/up" ]; then
        find_bins
        if [ "$(node_count)" != "$n" ]; then
            die "the lab is already up with $(node_count) nodes; run 'lab.sh down' first to start one with $n"
        fi
        say "the lab is already up ($n nodes); 'lab.sh status' shows it, 'lab.sh down' removes it"
        return 0
    fi
    if [ -e "$D" ]; then
        say "a previous 'up' did not finish: removing what it made first"
        cmd_down
    fi
    if [ -S "$SOCK" ]; then
        find_bins
        if [ -x "$BIN/yardctl" ] && yardctl status >/dev/null 2>&1; then
            die "a controller already answers on $SOCK: stop it, or set LAB_SOCKET to another path"
        fi
        say "removing the stale socket $SOCK (nothing answers on it)"
        rm -f "$SOCK"
    fi
    local ns
    for ns in "$UNDERLAY" "$P-ctl" "$P-ext" $(seq -f "$P-n%g" 1 "$n"); do not_taken "$ns"; done
    local start=$SECONDS
    say "installing missing packages (deploy/install-deps.sh)"
    bash "$ROOT/deploy/install-deps.sh"
    build_bins
    if ((demo)) && [ ! -x "$BIN/yard-agent" ]; then
        die "$BIN/yard-agent not found: the demo needs the agent (or use --no-demo)"
    fi
    [ -f "$SCHEMA" ] || die "$SCHEMA not found: install openvswitch-switch"
    local t0=$SECONDS
    mkdir -p "$D"
    : >"$D/netns"
    echo "$n" >"$D/nodes"
    echo "$BIN" >"$D/bin"
    echo "$SOCK" >"$D/socket"

    say "underlay: namespace $UNDERLAY with bridge br0 ($NET.0/24)"
    add_ns "$UNDERLAY"
    ip -n "$UNDERLAY" link add br0 type bridge
    ip -n "$UNDERLAY" link set br0 up
    say "controller namespace $P-ctl ($CTL_IP), outside world $P-ext ($EXT_IP)"
    add_ns "$P-ctl"
    plug "$P-ctl" eth0 ctl
    ip -n "$P-ctl" addr add "$CTL_IP/24" dev eth0
    add_ns "$P-ext"
    plug "$P-ext" eth0 ext
    ip -n "$P-ext" addr add "$EXT_IP/24" dev eth0
    for node in $(nodes); do make_node "$node"; done

    say "yard-controller in $P-ctl (API unix:$SOCK; it dials every node's br-int :6655 and br-ex :6654)"
    start_controller
    if [ -x "$BIN/yard-agent" ]; then
        for node in $(nodes); do
            say "yard-agent on $node"
            start_agent "$node"
        done
    else
        warn "$BIN/yard-agent not found: nodes run without an agent"
    fi
    for node in $(nodes); do
        say "yardctl node add $node --ip $(node_ip "$node") --uplink $UPLINK"
        yardctl node add "$node" --ip "$(node_ip "$node")" --uplink "$UPLINK" >/dev/null
    done
    ((demo)) && demo
    touch "$D/up"
    say "lab up: $n nodes in $((SECONDS - t0))s (total with install and build: $((SECONDS - start))s)"
    local yctl=yardctl
    [ "$SOCK" = /run/switchyard/controller.sock ] || yctl="yardctl --controller unix:$SOCK"
    cat <<EOF

  $yctl status          the controller and every node ($BIN/yardctl)
  $yctl flows n1        n1's live flow table, tables by name
  $0 exec n1 -- ovs-vsctl show
  $0 exec n1 -- ovs-ofctl -O OpenFlow13 dump-flows br-int
  $0 status | prove | down

EOF
    if ((demo)); then cmd_prove; fi
}

# ---------------------------------------------------------------- prove

cmd_prove() {
    need_root
    [ -e "$D/nodes" ] || die "no lab is up (lab.sh up)"
    find_bins
    local all=() jobs=() p q ok=0 total=0 tmp
    mapfile -t all < <(pods)
    ((${#all[@]})) || die "the lab has no demo pods (it was started with --no-demo)"
    tmp=$(mktemp -d "$D/prove.XXXXXX")
    declare -A ipof
    for p in "${all[@]}"; do ipof[$p]=$(pod_ip "$p"); done
    # Every ping in parallel; each retries for up to 20 s (the first packet to a new
    # tunnel peer is lost while OVS resolves the peer's MAC; a loaded machine is slow).
    for p in "${all[@]}"; do
        for q in "${all[@]}"; do
            [ "$p" = "$q" ] && continue
            (nsx "$(pod_ns "$p")" ping -q -c 1 -w 20 "${ipof[$q]:-0.0.0.0}" >/dev/null 2>&1 &&
                echo ok >"$tmp/$p.$q" || echo FAIL >"$tmp/$p.$q") &
            jobs+=($!)
        done
    done
    # Only the pings: a bare `wait` would also wait for the daemons `up` started.
    wait "${jobs[@]}"
    echo
    echo "ping matrix (row pings column):"
    {
        printf 'from\\to'
        for q in "${all[@]}"; do printf '\t%s' "$q"; done
        echo
        printf 'ip'
        for q in "${all[@]}"; do printf '\t%s' "${ipof[$q]:--}"; done
        echo
        for p in "${all[@]}"; do
            printf '%s' "$p"
            for q in "${all[@]}"; do
                if [ "$p" = "$q" ]; then printf '\t-'; else
                    printf '\t%s' "$(cat "$tmp/$p.$q")"
                    total=$((total + 1))
                    [ "$(cat "$tmp/$p.$q")" = ok ] && ok=$((ok + 1))
                fi
            done
            echo
        done
    } >"$tmp/matrix"
    column -t -s $'\t' "$tmp/matrix" 2>/dev/null || cat "$tmp/matrix"
    echo "ping matrix: $ok/$total ok"
    local pass=$((ok == total))

    local np
    np=$(cat "$D/nodeport" 2>/dev/null || true)
    if [ -n "$np" ]; then
        local nok=0 ntotal=0 node reply
        echo
        echo "NodePort $np from $P-ext ($EXT_IP):"
        {
            printf 'node\taddress\treply\n'
            for node in $(nodes); do
                ntotal=$((ntotal + 1))
                reply=$(nsx "$P-ext" curl -s -m 5 --retry 2 --retry-all-errors \
                    "http://$(node_ip "$node"):$np/" 2>/dev/null || true)
                [ -n "$reply" ] && nok=$((nok + 1))
                printf '%s\t%s\t%s\n' "$node" "$(node_ip "$node"):$np" "${reply:-FAIL}"
            done
        } >"$tmp/nodeport"
        column -t -s $'\t' "$tmp/nodeport" 2>/dev/null || cat "$tmp/nodeport"
        echo "nodeport: $nok/$ntotal ok"
        ((nok == ntotal)) || pass=0
    else
        echo "nodeport: no demo service (this build has no services)"
    fi

    echo
    echo "flows per node:"
    {
        printf 'node\tbr-int\tbr-ex\n'
        for node in $(nodes); do
            printf '%s\t%s\t%s\n' "$node" "$(flow_count "$node" br-int)" "$(flow_count "$node" br-ex)"
        done
    } >"$tmp/flows"
    column -t -s $'\t' "$tmp/flows" 2>/dev/null || cat "$tmp/flows"
    rm -rf "$tmp"
    echo
    if ((pass)); then
        echo "PROOF OK"
    else
        echo "PROOF FAILED (lab.sh logs controller, lab.sh logs agent NODE)"
        return 1
    fi
}

flow_count() {
    on_node "$1" ovs-ofctl -O OpenFlow13 dump-flows "$2" 2>/dev/null | grep -c 'cookie=' || true
}

# ---------------------------------------------------------------- down

cmd_down() {
    need_root
    local node pod ns dir
    if [ ! -e "$D" ]; then
        say "no lab state in $D: nothing to remove"
        return 0
    fi
    say "stopping the lab in $D"
    for f in "$D"/pods.d/*.http.pid; do [ -e "$f" ] && stop_pid "$f" socat; done
    for dir in "$D"/n*/; do
        [ -d "$dir" ] || continue
        stop_pid "$dir/agent.pid" yard-agent
    done
    stop_pid "$D/controller.pid" yard-controller
    for dir in "$D"/n*/; do
        [ -d "$dir" ] || continue
        stop_ovs_daemon "${dir%/}" ovs-vswitchd
        stop_ovs_daemon "${dir%/}" ovsdb-server
    done
    # Anything still running inside the lab's namespaces was started by the lab.
    if [ -f "$D/netns" ]; then
        while read -r ns; do
            [ -n "$ns" ] || continue
            for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        done <"$D/netns"
        while read -r ns; do
            [ -n "$ns" ] || continue
            ip netns del "$ns" 2>/dev/null || true
        done <"$D/netns"
    fi
    if [ -f "$D/socket" ]; then
        local sock
        sock=$(cat "$D/socket")
        rm -f "$sock"
        rmdir "$(dirname "$sock")" 2>/dev/null || true
    fi
    rm -rf "$D"
    say "lab removed"
}

# ---------------------------------------------------------------- status, exec, logs

cmd_status() {
    [ -e "$D/nodes" ] || { echo "no lab is up (state dir $D)"; return 1; }
    find_bins
    local node state
    echo "lab in $D: $(node_count) nodes, namespaces $P-*, API unix:$SOCK$([ -e "$D/up" ] || echo ' (up did not finish)')"
    {
        printf 'what\tnamespace\taddress\tstate\n'
        printf 'controller\t%s\t%s\t%s\n' "$P-ctl" "$CTL_IP" "$(running "$D/controller.pid" yard-controller && echo running || echo STOPPED)"
        for node in $(nodes); do
            dir=$(node_dir "$node")
            state=""
            for d in ovsdb-server ovs-vswitchd; do
                running "$dir/$d.pid" "$d" && state+="$d " || state+="${d}:STOPPED "
            done
            running "$dir/agent.pid" yard-agent && state+="yard-agent" || state+="yard-agent:STOPPED"
            printf '%s\t%s\t%s\t%s\n' "$node" "$P-$node" "$(node_ip "$node")" "$state"
        done
        for pod in $(pods); do
            printf '%s\t%s\t%s\t%s\n' "pod $pod" "$(pod_ns "$pod")" "$(pod_ip "$pod" || true)" "on ${pod%-*}"
        done
        printf 'outside\t%s\t%s\t-\n' "$P-ext" "$EXT_IP"
    } >"$D/status.tmp"
    column -t -s $'\t' "$D/status.tmp" 2>/dev/null || cat "$D/status.tmp"
    rm -f "$D/status.tmp"
    echo
    if [ -x "$BIN/yardctl" ]; then yardctl status || true; fi
}

cmd_exec() {
    need_root
    local target=${1:?exec needs NODE, POD, ctl, ext or underlay}
    shift
    [ "${1:-}" = -- ] && shift
    [ $# -gt 0 ] || die "exec $target: no command (lab.sh exec $target -- CMD)"
    [ -e "$D/nodes" ] || die "no lab is up (lab.sh up)"
    if [ -d "$(node_dir "$target")" ] && [[ $target =~ ^n[0-9]+$ ]]; then
        on_node "$target" "$@"
    elif grep -qx -- "$target" "$D/pods" 2>/dev/null; then
        nsx "$(pod_ns "$target")" "$@"
    elif [[ $target =~ ^(ctl|ext|underlay)$ ]]; then
        nsx "$P-$target" "$@"
    else
        die "exec: no node or pod named $target (nodes: $(nodes | xargs), pods: $(pods | xargs))"
    fi
}

node_arg() {
    local node=${1:-}
    [ -n "$node" ] && [ -d "$(node_dir "$node")" ] && [[ $node =~ ^n[0-9]+$ ]] ||
        die "no node named '${node}' (nodes: $(nodes | xargs))"
}

cmd_restart() {
    need_root
    [ -e "$D/nodes" ] || die "no lab is up (lab.sh up)"
    find_bins
    case ${1:-} in
    controller)
        say "restarting yard-controller"
        stop_pid "$D/controller.pid" yard-controller
        start_controller
        ;;
    agent)
        node_arg "${2:-}"
        say "restarting yard-agent on $2"
        stop_pid "$(node_dir "$2")/agent.pid" yard-agent
        start_agent "$2"
        ;;
    ovs)
        node_arg "${2:-}"
        local dir
        dir=$(node_dir "$2")
        say "restarting ovsdb-server and ovs-vswitchd on $2"
        stop_ovs_daemon "$dir" ovs-vswitchd
        stop_ovs_daemon "$dir" ovsdb-server
        start_ovs "$2"
        setup_br_ex "$2" || die "node $2: br-ex did not come back; see $dir/ovs-vswitchd.log"
        ;;
    *) die "restart controller | agent NODE | ovs NODE" ;;
    esac
}

cmd_logs() {
    case ${1:-} in
    controller) cat "$D/controller.log" ;;
    agent) node_arg "${2:-}"; cat "$(node_dir "$2")/agent.log" ;;
    ovs-vswitchd | ovsdb-server) node_arg "${2:-}"; cat "$(node_dir "$2")/$1.log" ;;
    http) cat "$D/pods.d/${2:?logs http POD}.http.log" ;;
    *) die "logs controller | agent NODE | ovs-vswitchd NODE | ovsdb-server NODE | http POD" ;;
    esac
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
up) cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
exec) cmd_exec "$@" ;;
restart) cmd_restart "$@" ;;
logs) cmd_logs "$@" ;;
prove) cmd_prove ;;
-h | --help | help) usage ;;
*)
    usage >&2
    exit 2
    ;;
esac
