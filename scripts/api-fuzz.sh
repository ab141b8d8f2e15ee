#!/usr/bin/env bash
# Checks the OpenAPI document against the server: Schemathesis (a property-based API tester
# driven by the document, installed from PyPI into .schemathesis/) sends schema-valid requests
# to every operation of `jira-sync demo --serve` and fails on a 5xx, an undocumented status, a
# response that does not match its schema, or a schema-valid request refused as malformed
# (scripts/schemathesis.toml).
#
# Usage: scripts/api-fuzz.sh [path to the jira-sync binary]   (default: target/release/jira-sync)
# Environment: API_FUZZ_EXAMPLES (default 50) examples per operation, API_FUZZ_SEED (default 11).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${1:-$ROOT/${CARGO_TARGET_DIR:-target}/release/jira-sync}"
case "$BIN" in /*) ;; *) BIN="$ROOT/$BIN" ;; esac
VENV="$ROOT/.schemathesis"
ST_VERSION="4.32.5"

if [ ! -x "$VENV/bin/st" ]; then
    echo "installing schemathesis $ST_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION" >&2
fi

log="$(mktemp)"
"$BIN" demo --serve >"$log" 2>&1 &
server=$!
cleanup() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -f "$log"
}
trap cleanup EXIT

for _ in $(seq 1 120); do
    grep -q "Admin token" "$log" && break
    kill -0 "$server" 2>/dev/null || { cat "$log" >&2; echo "api-fuzz: the demo server ended" >&2; exit 1; }
    sleep 1
done
addr="$(sed -n 's/.*API: \(http:[^ ]*\).*/\1/p' "$log")"
token="$(sed -n 's/^Admin token: //p' "$log")"
if [ -z "$addr" ] || [ -z "$token" ]; then
    cat "$log" >&2
    echo "api-fuzz: the demo server did not print its address and token" >&2
    exit 1
fi

"$VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$addr/api/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,positive_data_acceptance \
    --phases examples,coverage,fuzzing \
    --max-examples "${API_FUZZ_EXAMPLES:-50}" --seed "${API_FUZZ_SEED:-11}" --workers 2 \
    --exclude-path /metrics \
    --warnings off
