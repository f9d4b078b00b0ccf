#!/usr/bin/env bash
# MovieLens 100K with limaml's defaults against the popularity and bias baselines and the
# conventional network, over several seeds, with bootstrap intervals over members.
#   bash test/movielens/defaults.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: SEEDS (3), BOOT (200 resamples), CREATE_ARGS (extra named arguments for
#   limaml_create_model, e.g. CREATE_ARGS="ridge_lambda => 1"), TRAIN_ARGS (the same for
#   limaml_train, e.g. TRAIN_ARGS="epochs => 20"). Skips cleanly when the data is absent.
# Uses the limaml extension installed on this machine (bash test/setup.sh installs it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
movielens_require_data "movielens"
echo "command: bash test/movielens/defaults.sh $DATA  (SEEDS=$SEEDS BOOT=$BOOT CREATE_ARGS='${CREATE_ARGS#, }' TRAIN_ARGS='${TRAIN_ARGS#, }')"

trap cluster_stop EXIT
movielens_cluster extension
psql -X -q -v ON_ERROR_STOP=1 -v seeds="$SEEDS" -v boot="$BOOT" -v create_args="$CREATE_ARGS" -v train_args="$TRAIN_ARGS" -f "$ROOT/test/movielens/defaults.sql"
