#!/usr/bin/env bash
# Seeds the fuzz corpora from the golden files: every flow as a FLOW_MOD (decode)
# and as text (text).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/corpus/decode" "$here/corpus/text"
cd "$here/../.."
cargo build -q -p openflow --bin ofp
ofp=${CARGO_TARGET_DIR:-target}/debug/ofp
i=0
grep -hv '^#' "$here/../tests/data/flows.txt" "$here/../tests/data/flows.in" | while read -r l; do
    i=$((i + 1))
    printf '%s' "$l" > "$here/corpus/text/flow$i"
    "$ofp" encode "$l" | xxd -r -p > "$here/corpus/decode/flow$i"
done
