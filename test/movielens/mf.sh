#!/usr/bin/env bash
# Matrix factorization on MovieLens 100K with the protocol of defaults.sh: the simple baseline
# the MovieLens aims (pooled AUC ≥ 0.80, MAE ≤ 0.757) are weighed against.
#   bash test/movielens/mf.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: ALS_SEEDS (3 random starts per setting). Loads the data into a throwaway
# cluster only to draw the same held-out members (test/movielens/load.sql), then runs
# test/movielens/mf.py (numpy; installed from Debian when missing and run as root).
# Uses nothing of limaml. Skips cleanly when the data is absent.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$(cd "${1:-$ROOT/../shared/data/ml-100k}" 2>/dev/null && pwd) || DATA=
PY=/usr/bin/python3
if [ -z "$DATA" ] || [ ! -f "$DATA/u.data" ]; then
    echo "movielens mf: no MovieLens 100K data at ${1:-$ROOT/../shared/data/ml-100k}; skipping"
    exit 0
fi
if ! $PY -c 'import numpy' 2>/dev/null && [ "$(id -u)" = 0 ]; then
    apt-get update -q </dev/null >/dev/null && apt-get install -y -q python3-numpy </dev/null >/dev/null || true
fi
$PY -c 'import numpy' 2>/dev/null || { echo "movielens mf: python3-numpy is not installed; skipped"; exit 0; }
echo "command: bash test/movielens/mf.sh $DATA  (ALS_SEEDS=${ALS_SEEDS:-3})"

. "$ROOT/test/lib/cluster.sh"
cluster_start
trap cluster_stop EXIT
cp -r "$DATA" "$CLUSTER_DIR/ml-100k"
chmod -R a+rX "$CLUSTER_DIR/ml-100k"
psql -X -q -v ON_ERROR_STOP=1 -v dir="$CLUSTER_DIR/ml-100k" -f "$ROOT/test/movielens/load.sql" 2>/dev/null
psql -X -q -At -c "SELECT member_id FROM movielens.held_out ORDER BY 1" > "$CLUSTER_DIR/held_out.csv"
nice $PY "$ROOT/test/movielens/mf.py" "$DATA" "$CLUSTER_DIR/held_out.csv"
