#!/usr/bin/env bash
# Fails when the pure domain crate depends (normal dependencies, transitively) on an async
# runtime, a database driver, an HTTP client or the event-sourcing framework.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tree="$(cargo tree -p sync-domain -e normal --prefix none)"
bad="$(printf '%s\n' "$tree" | awk '{print $1}' | grep -E '^(tokio|sqlx|sqlx-core|reqwest|cqrs-es|postgres-es|hyper|axum)$' | sort -u || true)"
if [ -n "$bad" ]; then
    echo "sync-domain must stay pure, but its normal dependencies include:" >&2
    printf '  %s\n' $bad >&2
    exit 1
fi
echo "sync-domain dependencies: pure ($(printf '%s\n' "$tree" | awk '{print $1}' | sort -u | wc -l) crates)"
