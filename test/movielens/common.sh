# shellcheck shell=bash
# Shared by the MovieLens scripts (defaults.sh, implicit.sh, mf.sh):
#   . "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
# sets ROOT, DATA (the data directory, first argument, default ../shared/data/ml-100k; the
# caller exits 0 with a message when it is absent), SEEDS (3), BOOT (200), and CREATE_ARGS /
# TRAIN_ARGS ('' or ', ' and the environment's named arguments);
#   movielens_cluster [extension]
# starts a throwaway cluster (test/lib/cluster.sh, CLUSTER_OPTS), creates the extension when asked and loads the data
# (test/movielens/load.sql); the caller's EXIT trap is cluster_stop.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MOVIELENS_ARG=${1:-}
DATA=$(cd "${1:-$ROOT/../shared/data/ml-100k}" 2>/dev/null && pwd) || DATA=
[ -f "$DATA/u.data" ] || DATA=
SEEDS=${SEEDS:-3}
BOOT=${BOOT:-200}
CREATE_ARGS=${CREATE_ARGS:-}
[ -n "$CREATE_ARGS" ] && CREATE_ARGS=", $CREATE_ARGS"
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -n "$TRAIN_ARGS" ] && TRAIN_ARGS=", $TRAIN_ARGS"

# without the data: a message and exit 0 (the scripts skip cleanly);  movielens_require_data label
movielens_require_data() {
    if [ -z "$DATA" ]; then
        echo "$1: no MovieLens 100K data at ${MOVIELENS_ARG:-$ROOT/../shared/data/ml-100k}; skipping"
        exit 0
    fi
}

# shellcheck source=../lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"

movielens_cluster() {
    cluster_start || return 1
    cp -r "$DATA" "$CLUSTER_DIR/ml-100k"
    chmod -R a+rX "$CLUSTER_DIR/ml-100k"
    if [ "${1:-}" = extension ]; then
        psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION limaml"
    fi
    psql -X -q -v ON_ERROR_STOP=1 -v dir="$CLUSTER_DIR/ml-100k" -f "$ROOT/test/movielens/load.sql" 2>/dev/null
}

# the numpy baselines (mf.sh, implicit_ceiling.sh): skips without the data or numpy (installed
# from Debian when missing and run as root), loads the data to draw the held-out members and
# runs test/movielens/SCRIPT.py DATA HELD_OUT_CSV;  movielens_numpy_run label SCRIPT
movielens_numpy_run() {
    local label=$1 script=$2
    movielens_require_data "$label"
    if ! /usr/bin/python3 -c 'import numpy' 2>/dev/null && [ "$(id -u)" = 0 ]; then
        apt-get update -q </dev/null >/dev/null && apt-get install -y -q python3-numpy </dev/null >/dev/null || true
    fi
    /usr/bin/python3 -c 'import numpy' 2>/dev/null || { echo "$label: python3-numpy is not installed; skipped"; return 0; }
    echo "command: bash test/movielens/$script.sh $DATA"
    trap cluster_stop EXIT
    movielens_cluster
    psql -X -q -At -c "SELECT member_id FROM movielens.held_out ORDER BY 1" > "$CLUSTER_DIR/held_out.csv"
    nice /usr/bin/python3 "$ROOT/test/movielens/$script.py" "$DATA" "$CLUSTER_DIR/held_out.csv"
}
