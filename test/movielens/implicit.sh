#!/usr/bin/env bash
# MovieLens 100K as a positive-only log: every rating a "watched" event, negatives sampled by
# limaml (negatives => 4); top-10 hit rate, recall and NDCG of each held-out member's newest
# 20 % against popularity and a genre-mixture SQL rule.
#   bash test/movielens/implicit.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: SEEDS (3), BOOT (200 resamples), CREATE_ARGS / TRAIN_ARGS (extra named
#   arguments for limaml_create_model / limaml_train). Skips cleanly when the data is absent.
# Uses the limaml extension installed on this machine (bash test/setup.sh installs it).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
movielens_require_data "movielens implicit"
echo "command: bash test/movielens/implicit.sh $DATA  (SEEDS=$SEEDS BOOT=$BOOT CREATE_ARGS='${CREATE_ARGS#, }' TRAIN_ARGS='${TRAIN_ARGS#, }')"

CLUSTER_OPTS="-c max_parallel_workers_per_gather=0 -c work_mem=64MB ${CLUSTER_OPTS:-}"
trap cluster_stop EXIT
movielens_cluster extension
psql -X -q -At -v ON_ERROR_STOP=1 -v seeds="$SEEDS" -v boot="$BOOT" -v create_args="$CREATE_ARGS" \
     -v train_args="$TRAIN_ARGS" -f "$ROOT/test/movielens/implicit.sql"
