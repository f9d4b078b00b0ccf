#!/usr/bin/env bash
# limaml demo (the "main job"): on a fresh Debian 12 machine, as root,
#   bash test/demo.sh
# installs the dependencies, builds and installs the extension, starts a
# throwaway PostgreSQL 15 cluster, runs test/demo.sql against it and removes
# the cluster on exit.  Extra arguments go to psql, e.g. to change sizes:
#   bash test/demo.sh -v n_members=5000 -v epochs=50
# Exits non-zero if any step, or the demo's final smoke checks, fail.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
start_ns=$(date +%s%N)

echo "=== setup: dependencies, build, install"
bash "$ROOT/test/setup.sh"

echo "=== throwaway cluster"
# shellcheck source=lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"
trap cluster_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cluster_start

"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$@" -f "$ROOT/test/demo.sql"

cluster_stop
echo "=== demo finished in $(( ($(date +%s%N) - start_ns) / 1000000 )) ms"
