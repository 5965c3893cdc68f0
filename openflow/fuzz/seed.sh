#!/usr/bin/env bash
# Seeds fuzz corpora from the golden files and a few hand-written JSON messages, into
# DIR/<target> (default: seeds/, the small corpus kept in the repo; after
# seeding, minimise with `cargo +nightly fuzz cmin <target> seeds/<target>`).
#   decode        every FLOW_MOD / GROUP_MOD ovs-ofctl sent and every reply OVS sent
#   text          every flow and group line, as written and as dumped
#   ovsdb_framer  JSON-RPC messages back to back (first byte: chunk size)
#   ovsdb_value   OVSDB values, rows and a small schema
#   api_bodies    request bodies of the controller's API
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/seeds}
data=$here/../tests/data
for t in decode text ovsdb_framer ovsdb_value api_bodies; do mkdir -p "$out/$t"; done
i=0
grep -hv '^#' "$data/flows.hex" "$data/groups.hex" "$data/replies.txt" | while read -r l; do
    i=$((i + 1))
    printf '%s' "$l" | xxd -r -p > "$out/decode/golden$i"
done
i=0
grep -hv '^#' "$data/flows.txt" "$data/flows.in" "$data/groups.txt" "$data/groups.in" | while read -r l; do
    i=$((i + 1))
    printf '%s' "$l" > "$out/text/golden$i"
done
w() { printf '%s' "$2" > "$out/$1/$3"; }
# ovsdb_framer takes its first byte as the chunk size.
wf() { printf "\\$(printf '%03o' "$1")%s" "$2" > "$out/ovsdb_framer/$3"; }
wf 4 '{"id":1,"result":[{"rows":[{"name":"br-int"}]}],"error":null} {"id":null,"method":"update2","params":[null,{"Bridge":{"5cd2aba3-e39d-4c63-b2d4-9daebad98724":{"modify":{"ports":["set",[]]}}}}]}' rpc1
wf 7 '{"id":"echo","method":"echo","params":["a}\"{b"]}[{"id":7,"error":{"error":"unknown"}}]' rpc2
wf 31 '{"id":3,"result":null,"error":"not a db"}
{"id":null,"method":"locked","params":["lock"]}' rpc3
w ovsdb_value '["set",[["uuid","5cd2aba3-e39d-4c63-b2d4-9daebad98724"],["named-uuid","row1"]]]' set
w ovsdb_value '["map",[["a","b"],["c",1.5],[true,-3]]]' map
w ovsdb_value '{"name":"br-int","ports":["set",[]],"other_config":["map",[["k","v"]]],"ofport":1}' row
w ovsdb_value '"5cd2aba3-e39d-4c63-b2d4-9daebad98724"' uuid
w ovsdb_value '{"name":"T","version":"1.0.0","tables":{"A":{"columns":{"n":{"type":"integer"},"s":{"type":{"key":{"type":"string","enum":["set",["x","y"]]},"min":0,"max":"unlimited"}},"m":{"type":{"key":"string","value":{"type":"uuid","refTable":"A"},"min":0,"max":1}}},"indexes":[["n"]],"isRoot":true}}}' schema
w api_bodies '{"name":"n1","ip":"192.168.56.11","uplink":"eth1","datapath":"netdev"}' node
w api_bodies '{"name":"p1","node":"n1","netns":"/run/netns/p1"}' pod
w api_bodies '{"pods":[{"name":"p1","node":"n1"},{"name":"p2","node":"n2"}]}' batch
w api_bodies '{"state":"error","reason":"no veth","host_if":"yv-p1","ofport":3}' status
w api_bodies '{"name":"web","protocol":"tcp","port":80,"target_port":8080,"type":"NodePort","node_port":30080,"backends":["p1"]}' service
w api_bodies '{"pods":["p1","p2"]}' backends
du -sh "$out"/*
