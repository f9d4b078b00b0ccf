#!/usr/bin/env bash
# A probe for the next model change: limaml's logit plus a folded-in term over its own trained
# factors, on implicit.sh's positive-only split (test/movielens/fold_in_probe.sql; one seed).
#   bash test/movielens/fold_in_probe.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: SEED (1), CREATE_ARGS (e.g. "wide_rank => 64"). Uses the installed extension.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
movielens_require_data "movielens fold-in probe"
echo "command: bash test/movielens/fold_in_probe.sh $DATA  (SEED=${SEED:-1} CREATE_ARGS='${CREATE_ARGS#, }')"
CLUSTER_OPTS="-c max_parallel_workers_per_gather=0 -c work_mem=64MB ${CLUSTER_OPTS:-}"
trap cluster_stop EXIT
movielens_cluster extension
psql -X -q -At -v ON_ERROR_STOP=1 -v seed="${SEED:-1}" -v create_args="$CREATE_ARGS" \
     -f "$ROOT/test/movielens/fold_in_probe.sql"
