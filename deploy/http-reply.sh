#!/usr/bin/env bash
# A tiny HTTP responder for the lab's demo service: answers every request on PORT with
# TEXT (one line, text/plain). No name lookups, so it works in a namespace without DNS
# (python3 -m http.server does not; see LAB-NOTES.md).
#
#   http-reply.sh PORT TEXT
#
# socat accepts the connections (one process per request); this same script, called as
# `http-reply.sh --answer`, reads the request head and writes the reply.
set -euo pipefail
export LC_ALL=C

if [ "${1:-}" = --answer ]; then
    # The request line and headers end with an empty line; a client that sends nothing
    # gets its answer after 5 s.
    while IFS= read -r -t 5 line; do
        line=${line%$'\r'}
        [ -z "$line" ] && break
    done
    body="${HTTP_REPLY_TEXT}"$'\n'
    printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' \
        "${#body}" "$body"
    exit 0
fi

if [ $# -ne 2 ]; then
    echo "usage: $0 PORT TEXT" >&2
    exit 2
fi
command -v socat >/dev/null || { echo "http-reply.sh: socat is not installed (deploy/install-deps.sh installs it)" >&2; exit 1; }
export HTTP_REPLY_TEXT=$2
exec socat -T 10 "TCP-LISTEN:$1,reuseaddr,fork" "EXEC:$(realpath "$0") --answer"
