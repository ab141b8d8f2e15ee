#!/usr/bin/env bash
# Installs Stoplight Prism (npm @stoplight/prism-cli@5) into .prism/ if missing and serves
# Atlassian's Jira Cloud OpenAPI spec on 127.0.0.1 for the jira-adapter contract test.
#
# Usage:
#   scripts/prism.sh start   # install if needed, start on a free port, print PRISM_URL=...
#   scripts/prism.sh stop    # stop the Prism started by `start`
#   scripts/prism.sh test    # start, run the contract test with PRISM_URL set, stop
#
# Environment: PRISM_SPEC overrides the spec path; PRISM_PORT forces a port.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PRISM_DIR="$ROOT/.prism"
SPEC="${PRISM_SPEC:-$ROOT/../shared/fixtures/jira-openapi/jira-cloud-platform-v3.json}"
PID_FILE="$PRISM_DIR/prism.pid"
URL_FILE="$PRISM_DIR/prism.url"
LOG_FILE="$PRISM_DIR/prism.log"
BIN="$PRISM_DIR/node_modules/.bin/prism"

install() {
    if [ ! -x "$BIN" ]; then
        mkdir -p "$PRISM_DIR"
        echo "installing @stoplight/prism-cli@5 into $PRISM_DIR" >&2
        npm install --prefix "$PRISM_DIR" --no-audit --no-fund --loglevel=error \
            "@stoplight/prism-cli@5" >&2
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start() {
    if [ ! -f "$SPEC" ]; then
        echo "spec not found: $SPEC" >&2
        exit 1
    fi
    install
    if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
        echo "PRISM_URL=$(cat "$URL_FILE")"
        return
    fi
    local port="${PRISM_PORT:-$(free_port)}"
    local url="http://127.0.0.1:$port"
    "$BIN" mock -h 127.0.0.1 -p "$port" "$SPEC" >"$LOG_FILE" 2>&1 &
    echo $! >"$PID_FILE"
    echo "$url" >"$URL_FILE"
    # The spec is large: Prism takes a few seconds to load it.
    for _ in $(seq 1 120); do
        if curl -s -o /dev/null "$url/rest/api/3/field"; then
            echo "PRISM_URL=$url"
            return
        fi
        if ! kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
            echo "prism exited; log:" >&2
            cat "$LOG_FILE" >&2
            exit 1
        fi
        sleep 0.5
    done
    echo "prism did not answer on $url; log:" >&2
    cat "$LOG_FILE" >&2
    exit 1
}

stop() {
    if [ -f "$PID_FILE" ]; then
        kill "$(cat "$PID_FILE")" 2>/dev/null || true
        rm -f "$PID_FILE" "$URL_FILE"
    fi
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
test)
    start >/dev/null
    trap stop EXIT
    PRISM_URL="$(cat "$URL_FILE")" cargo test -p jira-adapter --test contract_prism -- --nocapture
    ;;
*)
    echo "usage: $0 start|stop|test" >&2
    exit 2
    ;;
esac
