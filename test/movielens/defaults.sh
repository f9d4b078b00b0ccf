#!/usr/bin/env bash
# MovieLens 100K with limaml's defaults against the popularity and bias baselines and the
# conventional network, over several seeds, with bootstrap intervals over members.
#   bash test/movielens/defaults.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: SEEDS (3), BOOT (200 resamples), CREATE_ARGS (extra named arguments for
#   limaml_create_model, e.g. CREATE_ARGS="ridge_lambda => 1"), TRAIN_ARGS (the same for
#   limaml_train, e.g. TRAIN_ARGS="epochs => 20"). Skips cleanly when the data is absent.
# Uses the limaml extension installed on this machine (bash test/setup.sh installs it).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$(cd "${1:-$ROOT/../shared/data/ml-100k}" 2>/dev/null && pwd) || DATA=
SEEDS=${SEEDS:-3}
BOOT=${BOOT:-200}
CREATE_ARGS=${CREATE_ARGS:-}
[ -n "$CREATE_ARGS" ] && CREATE_ARGS=", $CREATE_ARGS"
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -n "$TRAIN_ARGS" ] && TRAIN_ARGS=", $TRAIN_ARGS"

if [ -z "$DATA" ] || [ ! -f "$DATA/u.data" ]; then
    echo "movielens: no MovieLens 100K data at ${1:-$ROOT/../shared/data/ml-100k}; skipping"
    exit 0
fi
echo "command: bash test/movielens/defaults.sh $DATA  (SEEDS=$SEEDS BOOT=$BOOT CREATE_ARGS='${CREATE_ARGS#, }' TRAIN_ARGS='${TRAIN_ARGS#, }')"

. "$ROOT/test/lib/cluster.sh"
cluster_start
trap cluster_stop EXIT
cp -r "$DATA" "$CLUSTER_DIR/ml-100k"
chmod -R a+rX "$CLUSTER_DIR/ml-100k"

psql -X -q -v ON_ERROR_STOP=1 -c "CREATE EXTENSION limaml"
psql -X -q -v ON_ERROR_STOP=1 -v dir="$CLUSTER_DIR/ml-100k" -f "$ROOT/test/movielens/load.sql" 2>/dev/null
psql -X -q -v ON_ERROR_STOP=1 -v seeds="$SEEDS" -v boot="$BOOT" -v create_args="$CREATE_ARGS" -v train_args="$TRAIN_ARGS" -f "$ROOT/test/movielens/defaults.sql"
