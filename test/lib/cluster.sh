# shellcheck shell=bash
# Throwaway PostgreSQL 15 cluster for scripts outside pg_regress (demo, benchmarks).
#
# Usage (as root, or as postgres):
#   . test/lib/cluster.sh
#   CLUSTER_OPTS="-c shared_buffers=256MB"   # optional extra server settings
#   cluster_start || exit 1
#   trap cluster_stop EXIT                    # caller's job: always clean up
#   psql -c 'select 1'                        # PGHOST/PGPORT/... are exported
#
# The server listens only on a Unix socket inside its private temp dir
# (listen_addresses=''), so concurrent clusters never collide.

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

# PostgreSQL refuses to run as root: drop to postgres when we are root.
_cluster_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# A port is "free" if nothing answers on TCP localhost and no socket file
# for it exists in the usual socket dirs (the port also names our socket).
_cluster_port_free() {
    local p=$1
    [ -e "/var/run/postgresql/.s.PGSQL.$p" ] && return 1
    [ -e "/tmp/.s.PGSQL.$p" ] && return 1
    ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null
}

cluster_start() {
    local dir port p
    dir=$(mktemp -d /tmp/limaml-cluster.XXXXXX) || return 1
    # 755 so root (and other users) can reach the socket; postgres owns the data.
    chmod 755 "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; fi
    CLUSTER_DIR=$dir

    if ! _cluster_as_pg "$PGBIN/initdb" -D "$dir/data" -A trust -U postgres \
            --no-sync -E UTF8 --locale=C >"$dir/initdb.log" 2>&1; then
        echo "cluster: initdb failed:" >&2; cat "$dir/initdb.log" >&2
        cluster_stop; return 1
    fi

    port=
    for p in $(seq 54330 54400); do
        if _cluster_port_free "$p"; then port=$p; break; fi
    done
    if [ -z "$port" ]; then
        echo "cluster: no free port in 54330..54400" >&2
        cluster_stop; return 1
    fi

    if ! _cluster_as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
            -o "-p $port -k $dir -c listen_addresses='' -c jit=off ${CLUSTER_OPTS:-}" \
            start >/dev/null; then
        echo "cluster: pg_ctl start failed:" >&2; tail -n 30 "$dir/log" >&2
        cluster_stop; return 1
    fi

    export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres CLUSTER_DIR
    echo "cluster: started on $PGHOST port $PGPORT" >&2
}

# Safe to call more than once (explicitly and again from an EXIT trap).
cluster_stop() {
    local dir=${CLUSTER_DIR:-}
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    if [ -f "$dir/data/postmaster.pid" ]; then
        _cluster_as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    unset CLUSTER_DIR
}
