#!/usr/bin/env bash
# The architecture invariants that `cargo tree` can check (docs/ARCHITECTURE.md):
# - sync-domain is pure: no async runtime, database driver, HTTP client or event-sourcing
#   framework among its normal dependencies;
# - sync-engine knows no HTTP framework, API schema, CLI, TOML or simulator;
# - jira-content depends on comrak and serde_json (and thiserror) only among our choices;
# - server-bin reaches the simulator only through its `demo` feature.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

names() { cargo tree "$@" -e normal --prefix none | awk '{print $1}' | sort -u; }
fail=0
forbid() { # forbid <what> <regex> <cargo tree args…>
    local what="$1" re="$2"
    shift 2
    local bad
    bad="$(names "$@" | grep -E "^($re)\$" || true)"
    if [ -n "$bad" ]; then
        echo "architecture: $what, but its normal dependencies include:" >&2
        printf '  %s\n' $bad >&2
        fail=1
    fi
}

forbid "sync-domain must stay pure" 'tokio|sqlx|sqlx-core|reqwest|cqrs-es|postgres-es|hyper|axum' -p sync-domain
forbid "sync-engine must know no HTTP framework, API schema, CLI, TOML or simulator" \
    'axum|axum-core|utoipa|utoipa-axum|clap|toml|jira-sim|server-bin' -p sync-engine
forbid "jira-content must depend on comrak and serde_json only" \
    'sync-domain|jira-adapter|reqwest|tokio|axum' -p jira-content
forbid "server-bin without its demo must carry no simulator" 'jira-sim' -p server-bin --no-default-features
# With the demo (the default), the simulator is there, and only through the demo feature.
if ! names -p server-bin | grep -qx 'jira-sim'; then
    echo "architecture: server-bin's demo should bring jira-sim (is the demo feature gone?)" >&2
    fail=1
fi
[ "$fail" = 0 ] || exit 1
echo "architecture: sync-domain pure ($(names -p sync-domain | wc -l) crates); sync-engine free of HTTP, CLI, TOML and the simulator; jira-content on comrak and serde_json; server-bin carries the simulator only with its demo"
