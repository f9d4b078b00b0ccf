#!/usr/bin/env bash
# Matrix factorization on MovieLens 100K with the protocol of defaults.sh: the simple baseline
# the MovieLens aims (pooled AUC ≥ 0.80, MAE ≤ 0.757) are weighed against.
#   bash test/movielens/mf.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: ALS_SEEDS (3 random starts per setting). Loads the data into a throwaway
# cluster only to draw the same held-out members (test/movielens/load.sql), then runs
# test/movielens/mf.py (numpy; installed from Debian when missing and run as root).
# Uses nothing of limaml. Skips cleanly when the data is absent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
PY=/usr/bin/python3
if [ -z "$DATA" ]; then
    echo "movielens mf: no MovieLens 100K data at ${1:-$ROOT/../shared/data/ml-100k}; skipping"
    exit 0
fi
if ! $PY -c 'import numpy' 2>/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -q </dev/null >/dev/null && apt-get install -y -q python3-numpy </dev/null >/dev/null || true
fi
$PY -c 'import numpy' 2>/dev/null || { echo "movielens mf: python3-numpy is not installed; skipped"; exit 0; }
echo "command: bash test/movielens/mf.sh $DATA  (ALS_SEEDS=${ALS_SEEDS:-3})"

trap cluster_stop EXIT
movielens_cluster
psql -X -q -At -c "SELECT member_id FROM movielens.held_out ORDER BY 1" > "$CLUSTER_DIR/held_out.csv"
nice $PY "$ROOT/test/movielens/mf.py" "$DATA" "$CLUSTER_DIR/held_out.csv"
