#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL 15 cluster for the store's tests and benchmark.
#
# The cluster is created with `initdb` as an unprivileged user (`initdb` refuses root: when run
# as root, the system user `jirasync` is created if missing and the cluster runs as it), listens
# on 127.0.0.1 only, on a free port, and is deleted by `stop`.
#
# Usage:
#   scripts/pg.sh start          # create and start; prints `export DATABASE_URL=...`
#   scripts/pg.sh env            # prints `export DATABASE_URL=...` of the running cluster
#   scripts/pg.sh stop           # stop the cluster and remove its files
#   scripts/pg.sh run CMD ARGS   # start, run CMD with DATABASE_URL set, stop (even on failure)
#
#   eval "$(scripts/pg.sh start)" && cargo test -p sync-store; scripts/pg.sh stop
#
# Environment: PG_BIN (default /usr/lib/postgresql/15/bin), PG_USER (default jirasync when
# root, else the current user), PG_PORT forces a port, PG_STATE the state file.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
STATE="${PG_STATE:-$ROOT/target/pg-cluster.env}"
DB_NAME="jirasync"

if [ "$(id -u)" = "0" ]; then
    RUN_USER="${PG_USER:-jirasync}"
else
    RUN_USER="$(id -un)"
fi

as_user() {
    if [ "$(id -u)" = "0" ]; then
        runuser -u "$RUN_USER" -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    if [ "$(id -u)" = "0" ] && ! id "$RUN_USER" >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin "$RUN_USER"
    fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

print_env() {
    # shellcheck disable=SC1090
    . "$STATE"
    echo "export DATABASE_URL=postgres://$RUN_USER@127.0.0.1:$PG_PORT_USED/$DB_NAME"
}

is_running() {
    [ -f "$STATE" ] || return 1
    # shellcheck disable=SC1090
    . "$STATE"
    [ -d "$PG_DATA_DIR" ] && as_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" status >/dev/null 2>&1
}

start() {
    if [ ! -x "$PG_BIN/initdb" ]; then
        echo "PostgreSQL 15 not found in $PG_BIN (Debian package postgresql-15)" >&2
        exit 1
    fi
    if is_running; then
        print_env
        return
    fi
    ensure_user
    mkdir -p "$(dirname "$STATE")"
    local dir port
    dir="$(mktemp -d /tmp/jirasync-pg.XXXXXX)"
    chmod 700 "$dir"
    port="${PG_PORT:-$(free_port)}"
    chown "$RUN_USER" "$dir" 2>/dev/null || true
    as_user "$PG_BIN/initdb" -D "$dir/data" -U "$RUN_USER" --auth=trust --encoding=UTF8 \
        --no-locale >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        exit 1
    }
    # A throwaway cluster: durability is traded for speed (fsync off); listens on loopback only.
    as_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=400 \
            -c fsync=off -c full_page_writes=off -c shared_buffers=256MB" start >/dev/null || {
        cat "$dir/server.log" >&2
        exit 1
    }
    as_user "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U "$RUN_USER" "$DB_NAME"
    printf 'PG_DATA_DIR=%s\nPG_PORT_USED=%s\nPG_DIR=%s\n' "$dir/data" "$port" "$dir" >"$STATE"
    print_env
}

stop() {
    if [ ! -f "$STATE" ]; then
        return
    fi
    # shellcheck disable=SC1090
    . "$STATE"
    if [ -d "$PG_DATA_DIR" ]; then
        as_user "$PG_BIN/pg_ctl" -D "$PG_DATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
    fi
    case "$PG_DIR" in
        /tmp/jirasync-pg.*) rm -rf "$PG_DIR" ;;
    esac
    rm -f "$STATE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env)
        if is_running; then print_env; else
            echo "no cluster running; use: $0 start" >&2
            exit 1
        fi
        ;;
    run)
        shift
        eval "$(start)"
        export DATABASE_URL
        trap stop EXIT
        "$@"
        ;;
    *)
        echo "usage: $0 start|stop|env|run CMD..." >&2
        exit 2
        ;;
esac
