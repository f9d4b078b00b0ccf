#!/usr/bin/env bash
# MovieLens 100K evaluation of LiMAML against the conventional model and the
# popularity and bias baselines.
#   bash test/movielens/evaluate.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Skips cleanly when the data is absent.  Builds, starts a throwaway cluster,
# loads the data (test/movielens/load.sql), runs test/movielens/evaluate.sql.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$(cd "${1:-$ROOT/../shared/data/ml-100k}" 2>/dev/null && pwd) || DATA=
EPOCHS=${EPOCHS:-20}
EPISODES=${EPISODES:-4}

if [ -z "$DATA" ] || [ ! -f "$DATA/u.data" ]; then
    echo "movielens: no MovieLens 100K data at ${1:-$ROOT/../shared/data/ml-100k}; skipping"
    exit 0
fi
echo "command: bash test/movielens/evaluate.sh $DATA  (EPOCHS=$EPOCHS EPISODES=$EPISODES)"

bash "$ROOT/test/setup.sh"
. "$ROOT/test/lib/cluster.sh"
cluster_start
trap cluster_stop EXIT

# the server reads the files: give it a copy it may read
cp -r "$DATA" "$CLUSTER_DIR/ml-100k"
chmod -R a+rX "$CLUSTER_DIR/ml-100k"

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION limaml"
psql -X -q -v ON_ERROR_STOP=1 -v dir="$CLUSTER_DIR/ml-100k" -f "$ROOT/test/movielens/load.sql"
psql -X -q -v ON_ERROR_STOP=1 -v epochs="$EPOCHS" -v episodes="$EPISODES" \
    -f "$ROOT/test/movielens/evaluate.sql"
