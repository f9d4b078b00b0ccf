#!/usr/bin/env bash
# How far can any recommender go on the shop data?  Generates SEEDS (3) seeds of
# test/shop/generate.sql in a throwaway cluster, dumps each to CSV and runs
# test/shop/ceiling.py on it (popularity, the category-mixture rule, the wide
# head's member solve with ideal item features, a learned posterior over the
# customer's counts, and an oracle that knows the favourite categories).
#   bash test/shop/ceiling.sh            TASTE=full: generate.sql's taste beyond categories;
#                                        NEG=n: negatives per click in the ridge rows (4)
# Installs python3-numpy and python3-torch from Debian when they are missing
# (benchmark-only dependencies); without torch the learned posterior is skipped.
# Uses nothing of limaml: it measures the data, not the extension.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SEEDS=${SEEDS:-3}
TASTE=${TASTE:-categories}
PY=/usr/bin/python3
missing=()
for p in python3-numpy python3-torch; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ]; then
    apt-get update -q </dev/null >/dev/null && apt-get install -y -q "${missing[@]}" </dev/null >/dev/null || true
fi
$PY -c 'import numpy' 2>/dev/null || { echo "ceiling: python3-numpy is not installed; skipped"; exit 0; }

. "$ROOT/test/lib/cluster.sh"
cluster_start
OUT=$(mktemp -d /tmp/limaml-shop-ceiling.XXXXXX)
chmod 777 "$OUT"
trap 'cluster_stop; rm -rf "$OUT"' EXIT
PSQL=(psql -X -q -v ON_ERROR_STOP=1)
echo "command: bash test/shop/ceiling.sh  (SEEDS=$SEEDS TASTE=$TASTE NEG=${NEG:-4})"
for seed in $(seq 1 "$SEEDS"); do
    "${PSQL[@]}" -v seed="$seed" -v taste="$TASTE" -f "$ROOT/test/shop/generate.sql" >/dev/null
    "${PSQL[@]}" -f "$ROOT/test/shop/source.sql"
    d=$OUT/$seed
    mkdir -p "$d" && chmod 777 "$d"
    "${PSQL[@]}" <<SQL
\copy (SELECT i.member_id, i.item_id, i.label, extract(epoch FROM i.ts)::float8, h.member_id IS NOT NULL FROM shop_interactions i LEFT JOIN shop_held_out h USING (member_id) ORDER BY 1, 4, 2) TO '$d/inter.csv' CSV
\copy (SELECT product_id, category FROM shop_products ORDER BY 1) TO '$d/products.csv' CSV
\copy (SELECT customer_id, category FROM shop_truth ORDER BY 1, 2) TO '$d/truth.csv' CSV
SQL
    echo
    echo "seed $seed"
    echo
    nice $PY "$ROOT/test/shop/ceiling.py" "$d"
done
