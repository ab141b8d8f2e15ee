#!/usr/bin/env bash
# Browser tests of the web UI: installs Debian's chromium (apt-get, only if missing) and
# playwright-core (npm, into .playwright/, only if missing), starts `jira-sync demo --serve`
# on 127.0.0.1 (a free port), runs tests-ui/browser.mjs against it in headless Chromium,
# stops the server, and fails when a flow fails. Screenshots go to target/ui-screenshots/.
#
# Environment: JIRA_SYNC_BIN the binary to run (default: the release build when present,
# else a debug build made here); UI_SCREENSHOTS where screenshots go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PW_DIR="$ROOT/.playwright"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
SHOTS="${UI_SCREENSHOTS:-$TARGET/ui-screenshots}"

if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi
if [ ! -d "$PW_DIR/node_modules/playwright-core" ]; then
    mkdir -p "$PW_DIR"
    echo "installing playwright-core@1 into $PW_DIR" >&2
    npm install --prefix "$PW_DIR" --no-audit --no-fund --loglevel=error "playwright-core@1" >&2
fi

BIN="${JIRA_SYNC_BIN:-}"
if [ -z "$BIN" ]; then
    if [ -x "$TARGET/release/jira-sync" ]; then
        BIN="$TARGET/release/jira-sync"
    else
        cargo build -q -p server-bin --bin jira-sync
        BIN="$TARGET/debug/jira-sync"
    fi
fi

LOG="$(mktemp)"
"$BIN" demo --serve >"$LOG" 2>&1 &
PID=$!
stop() {
    if kill -0 "$PID" 2>/dev/null; then
        kill -INT "$PID" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$PID" 2>/dev/null || true
    fi
    rm -f "$LOG"
}
trap stop EXIT

for _ in $(seq 1 600); do
    grep -q '^UI: http' "$LOG" && break
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "jira-sync demo --serve exited; its output:" >&2
        cat "$LOG" >&2
        exit 1
    fi
    sleep 0.2
done
if ! grep -q '^UI: http' "$LOG"; then
    echo "jira-sync demo --serve did not print its UI address; its output:" >&2
    cat "$LOG" >&2
    exit 1
fi

UI_LINE="$(grep '^UI: http' "$LOG")"
export UI_BASE="$(sed -n 's|^UI: \(http://[^/ ]*\)/ui.*|\1|p' <<<"$UI_LINE")"
export ADMIN_TOKEN="$(sed -n 's/^Admin token: //p' "$LOG")"
export READ_TOKEN="$(sed -n 's/^Read-only token: //p' "$LOG")"
export CONFLICT_ITEM="$(sed -n 's/.* on work item \([^:]*\): .*/\1/p' <<<"$UI_LINE")"
export UNPUSHED_ITEM="$(sed -n 's/.*; work item \([^ ]*\) is not pushed yet.*/\1/p' <<<"$UI_LINE")"
export SHOTS PW_MODULE="$PW_DIR/node_modules/playwright-core"
echo "ui-test: $UI_BASE, conflict on $CONFLICT_ITEM, unpushed $UNPUSHED_ITEM" >&2

status=0
node tests-ui/browser.mjs || status=$?
if [ "$status" -ne 0 ]; then
    echo "ui-test: failed; the server's output:" >&2
    tail -n 50 "$LOG" >&2
fi
exit "$status"
