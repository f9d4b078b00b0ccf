#!/usr/bin/env bash
# Event-log ("shop") evaluation of LiMAML against popularity and SQL rules.
#   bash test/shop/evaluate.sh
# Environment: SEEDS (3), N_CUSTOMERS (5000), N_PRODUCTS (600), N_CATEGORIES (12),
#   TASTE (categories: clicks follow the favourite categories; full: also a favourite brand
#   and a price taste, see generate.sql),
#   CUT (2026-05-16: held-out customers are adapted on their events before it and
#   evaluated on their clicks and purchases after it), ITEM_BUCKETS (NULL: limaml's default, item ids sized to the catalogue),
#   POSITIVES (false; true: train and adapt on clicks and purchases only, for
#   CREATE_ARGS="negatives => 4, items => 'shop_product_features'"), BOOT (200 bootstrap resamples), CREATE_ARGS / TRAIN_ARGS (extra named
#   arguments for limaml_create_model / limaml_train, e.g. TRAIN_ARGS="epochs => 30").
# Uses the limaml extension installed on this machine (it builds and installs
# nothing): starts a throwaway cluster (test/lib/cluster.sh), and for each seed
# generates the data (test/shop/generate.sql), builds the source views
# (test/shop/source.sql) and runs test/shop/evaluate.sql; then prints Markdown
# tables (test/shop/report.sql).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SEEDS=${SEEDS:-3}
N_CUSTOMERS=${N_CUSTOMERS:-5000}
N_PRODUCTS=${N_PRODUCTS:-600}
N_CATEGORIES=${N_CATEGORIES:-12}
TASTE=${TASTE:-categories}
CUT=${CUT:-2026-05-16}
ITEM_BUCKETS=${ITEM_BUCKETS:-NULL}
BOOT=${BOOT:-200}
POSITIVES=${POSITIVES:-false}
CREATE_ARGS=${CREATE_ARGS:-}
TRAIN_ARGS=${TRAIN_ARGS:-}
[ -n "$CREATE_ARGS" ] && CREATE_ARGS=", $CREATE_ARGS"
[ -n "$TRAIN_ARGS" ] && TRAIN_ARGS=", $TRAIN_ARGS"

echo "command: bash test/shop/evaluate.sh  (SEEDS=$SEEDS N_CUSTOMERS=$N_CUSTOMERS N_PRODUCTS=$N_PRODUCTS" \
     "N_CATEGORIES=$N_CATEGORIES TASTE=$TASTE CUT=$CUT ITEM_BUCKETS=$ITEM_BUCKETS BOOT=$BOOT" \
     "CREATE_ARGS='${CREATE_ARGS#, }' TRAIN_ARGS='${TRAIN_ARGS#, }')"

. "$ROOT/test/lib/cluster.sh"
CLUSTER_OPTS="-c max_parallel_workers_per_gather=0 -c work_mem=64MB ${CLUSTER_OPTS:-}"
cluster_start
trap cluster_stop EXIT

start=$(date +%s)
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -c "CREATE EXTENSION limaml"
for seed in $(seq 1 "$SEEDS"); do
    t0=$(date +%s)
    "${PSQL[@]}" -v seed="$seed" -v n_customers="$N_CUSTOMERS" -v n_products="$N_PRODUCTS" \
        -v n_categories="$N_CATEGORIES" -v taste="$TASTE" -f "$ROOT/test/shop/generate.sql" >/dev/null
    "${PSQL[@]}" -f "$ROOT/test/shop/source.sql"
    "${PSQL[@]}" -P footer=off -v seed="$seed" -v cut="$CUT" -v item_buckets="$ITEM_BUCKETS" -v positives="$POSITIVES" \
        -v create_args="$CREATE_ARGS" -v train_args="$TRAIN_ARGS" -f "$ROOT/test/shop/evaluate.sql"
    echo "seed $seed: $(( $(date +%s) - t0 )) s"
done
"${PSQL[@]}" -At -v boot="$BOOT" -f "$ROOT/test/shop/report.sql"
echo
echo "total: $(( $(date +%s) - start )) s"
