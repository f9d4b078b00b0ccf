#!/usr/bin/env bash
# Per-epoch training time of 0.2.0's training defaults against 0.1.0's
# settings on the reference shape of test/bench/torch_agreement.sh (issue 8:
# "within 2x of today's per-epoch time"), and adaptation / scoring throughput
# of a model with the wide head against the same model without it.
#
#   bash test/bench/train_defaults.sh        (as root or postgres; not part of CI)
#
# Builds nothing: uses the installed extension (install your build first).
# Starts a throwaway cluster (test/lib/cluster.sh), plants 2,000 members x 60
# interactions (test/data/planted.sql), and trains, interleaved, REPEAT times:
#
#   0.1.0       support_weight => 0, random_splits => false, weight_decay => 0,
#               lr_schedule => 'constant' (no item ids, so no wide head)
#   defaults    no training options (0.2.0: 0.5, true, 0.1, 'cosine')
#   sw, rs, wd+cos   one new default at a time on top of 0.1.0's settings
#   ids 0.1.0   item ids (item_buckets 256) + the wide head (its default), 0.1.0's settings
#   ids default item ids + the wide head, no training options
#   ids nowide  item ids, wide => false, no training options
#
# Each model: embedding_dim 16, meta_hidden {32}, global_hidden {64}, bce,
# K = 5, inner_lr 1, support 50, query 10; limaml_train with meta_batch 32,
# validation_fraction 0, one backend.  Per epoch = (t(epochs=3) - t(epochs=1)) / 2
# (reading the source excluded), median of REPEAT; t(epochs=1) is shown too.
#
# Environment: N_MEMBERS (2000), PER_MEMBER (60), REPEAT (5), ORDERS ("1 2"),
# SERVE=0 skips the adaptation/scoring part, CANDIDATES (200000) for scoring.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
N_MEMBERS=${N_MEMBERS:-2000}
PER_MEMBER=${PER_MEMBER:-60}
REPEAT=${REPEAT:-5}
ORDERS=${ORDERS:-1 2}
CANDIDATES=${CANDIDATES:-200000}
echo "+ $0 $*  (N_MEMBERS=$N_MEMBERS PER_MEMBER=$PER_MEMBER REPEAT=$REPEAT ORDERS=\"$ORDERS\" CANDIDATES=$CANDIDATES)"
echo "  $(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "  installed: $(ls -l --time-style=+%H:%M "$(/usr/lib/postgresql/15/bin/pg_config --pkglibdir)/limaml.so" | awk '{print $6, $7}')"

# shellcheck source=../lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"
CLUSTER_OPTS="-c shared_buffers=256MB -c work_mem=64MB -c max_parallel_workers_per_gather=0 -c fsync=off"
cluster_start
trap cluster_stop EXIT
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -c "CREATE EXTENSION limaml"
psql -v n_members="$N_MEMBERS" -v n_items=200 -v n_genres=8 -v per_member="$PER_MEMBER" \
     -v p_fav=0.8 -v p_other=0.2 -v seed=0.42 -f test/data/planted.sql >/dev/null
# the same interactions with their item ids (every planted item's features are unique)
psql <<'SQL'
CREATE TABLE planted_ids AS
SELECT p.member_id, p.member_features, p.item_features, p.label, p.ts, i.item_id
  FROM planted_interactions p JOIN planted_items i ON i.features = p.item_features;
CREATE INDEX ON planted_ids (member_id, ts);
ANALYZE planted_ids;
SQL
[ "$(psql -Atc 'SELECT (SELECT count(*) FROM planted_ids) = (SELECT count(*) FROM planted_interactions)')" = t ] ||
    { echo "train_defaults: item ids do not match the interactions" >&2; exit 1; }

SHAPE="embedding_dim => 16, meta_hidden => '{32}', global_hidden => '{64}', loss => 'bce',
       inner_steps => 5, inner_lr => 1.0, support_size => 50, query_size => 10, seed => 7"
MODELS="SELECT limaml_create_model('ref', 'planted_interactions', $SHAPE);
SELECT limaml_create_model('ids', 'planted_ids', item_buckets => 256, $SHAPE);
SELECT limaml_create_model('ids_nowide', 'planted_ids', item_buckets => 256, wide => false, $SHAPE);"
echo "$MODELS"
psql -c "$MODELS" >/dev/null
psql -Atc "SELECT 'wide head: ' || string_agg(name || ' ' || coalesce(limaml_model_export(name, 0)->'config'->>'wide', 'false'), ', ' ORDER BY name) FROM limaml_model"

OLD="support_weight => 0, random_splits => false, weight_decay => 0, lr_schedule => 'constant'"
# config | model | options
CONFIGS=(
    "0.1.0|ref|$OLD"
    "defaults|ref|"
    "sw 0.5 only|ref|support_weight => 0.5, random_splits => false, weight_decay => 0, lr_schedule => 'constant'"
    "random_splits only|ref|support_weight => 0, random_splits => true, weight_decay => 0, lr_schedule => 'constant'"
    "wd 0.1 + cosine only|ref|support_weight => 0, random_splits => false, weight_decay => 0.1, lr_schedule => 'cosine'"
    "ids+wide, 0.1.0|ids|$OLD"
    "ids+wide, defaults|ids|"
    "ids no wide, defaults|ids_nowide|"
)

{
    cat <<'SQL'
SET client_min_messages = warning;
CREATE TABLE timing (config text, ord int, epochs int, rep int, seconds float8);
SQL
    for ((rep = 1; rep <= REPEAT; rep++)); do
        for order in $ORDERS; do
            for c in "${CONFIGS[@]}"; do
                IFS='|' read -r name model opts <<<"$c"
                for epochs in 1 3; do
                    cat <<SQL
SELECT clock_timestamp() AS t0 \\gset
SELECT count(*) FROM limaml_train('$model', epochs => $epochs, meta_batch => 32, validation_fraction => 0,
       maml_order => $order${opts:+, $opts}) \\g /dev/null
INSERT INTO timing VALUES ('$name', $order, $epochs, $rep, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));
SQL
                done
            done
        done
    done
} > "/tmp/train_defaults.$$.sql"
echo
echo "train_defaults: ${#CONFIGS[@]} configurations x orders ($ORDERS) x epochs 1 and 3 x $REPEAT, interleaved; e.g."
IFS='|' read -r _ model opts <<<"${CONFIGS[0]}"
echo "  limaml_train('ref', epochs => 3, meta_batch => 32, validation_fraction => 0, maml_order => 1, $opts)"
t0=$(date +%s)
psql -f "/tmp/train_defaults.$$.sql"
rm -f "/tmp/train_defaults.$$.sql"
echo "train_defaults: training runs took $(( $(date +%s) - t0 )) s; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "### Per-epoch training time, $N_MEMBERS members x $PER_MEMBER interactions, median of $REPEAT"
echo
psql -At <<'SQL'
WITH per_rep AS (
    SELECT config, ord, rep,
           max(seconds) FILTER (WHERE epochs = 1) AS t1,
           (max(seconds) FILTER (WHERE epochs = 3) - max(seconds) FILTER (WHERE epochs = 1)) / 2 AS per_epoch
      FROM timing GROUP BY config, ord, rep),
med AS (
    SELECT config, ord,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY t1) AS t1,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY per_epoch) AS per_epoch,
           min(per_epoch) AS lo, max(per_epoch) AS hi
      FROM per_rep GROUP BY config, ord),
base AS (SELECT ord, t1, per_epoch FROM med WHERE config = '0.1.0')
SELECT '| order | training settings | s per epoch (range) | ratio to 0.1.0 | epochs=1 incl. reading, s | ratio |'
UNION ALL SELECT '|---|---|---|---|---|---|'
UNION ALL
SELECT * FROM (
SELECT format('| %s | %s | %s (%s–%s) | **%s×** | %s | %s× |', m.ord, m.config,
              to_char(m.per_epoch, 'FM0.000'), to_char(m.lo, 'FM0.000'), to_char(m.hi, 'FM0.000'),
              to_char(m.per_epoch / b.per_epoch, 'FM0.00'),
              to_char(m.t1, 'FM0.000'), to_char(m.t1 / b.t1, 'FM0.00'))
  FROM med m JOIN base b USING (ord)
 ORDER BY m.ord, array_position(ARRAY['0.1.0', 'defaults', 'sw 0.5 only', 'random_splits only',
          'wd 0.1 + cosine only', 'ids+wide, 0.1.0', 'ids+wide, defaults', 'ids no wide, defaults'], m.config)) t;
SQL
echo
echo "(per epoch: (t(epochs=3) - t(epochs=1)) / 2; ratio: median over the 0.1.0 row's median, same order)"

[ "${SERVE:-1}" = 0 ] && exit 0

# ------------------------------------------------------------ adaptation and scoring with the wide head
# The trained 'ids' (wide head) and 'ids_nowide' models, and 'ref' (no item ids):
# limaml_adapt_agg over all members against a scan-and-group, and ranking
# CANDIDATES items (ORDER BY ... DESC LIMIT 100) against ORDER BY cardinality.
echo
echo "### Adaptation and scoring: wide head against no wide head (trained models above), median of $REPEAT"
psql <<SQL
CREATE TABLE cand AS
SELECT c::bigint AS item_id, i.features
  FROM generate_series(1, $CANDIDATES) c JOIN planted_items i ON i.item_id = 1 + c % 200;
ANALYZE cand;
SELECT limaml_adapt(1, m) FROM unnest(ARRAY['ref', 'ids', 'ids_nowide']) m \\g /dev/null
CREATE TABLE codes_ref AS SELECT item_id, limaml_item_encode('ref', features, item_id => item_id) AS code FROM cand;
CREATE TABLE codes_ids AS SELECT item_id, limaml_item_encode('ids', features, item_id => item_id) AS code FROM cand;
CREATE TABLE codes_ids_nowide AS SELECT item_id, limaml_item_encode('ids_nowide', features, item_id => item_id) AS code FROM cand;
ANALYZE codes_ref, codes_ids, codes_ids_nowide;
SQL
declare -A Q
Q=(
    [adapt_base]="SELECT member_id, sum(cardinality(item_features)) FROM planted_ids GROUP BY member_id"
    [adapt_ref]="SELECT member_id, limaml_adapt_agg('ref', member_features, item_features, label, ts) FROM planted_ids GROUP BY member_id"
    [adapt_ids]="SELECT member_id, limaml_adapt_agg('ids', member_features, item_features, label, ts, item_id) FROM planted_ids GROUP BY member_id"
    [adapt_ids_nowide]="SELECT member_id, limaml_adapt_agg('ids_nowide', member_features, item_features, label, ts, item_id) FROM planted_ids GROUP BY member_id"
    [score_base]="SELECT c.item_id FROM cand c, limaml_meta_embedding e WHERE e.model = 'ref' AND e.member_id = 1 ORDER BY cardinality(c.features) DESC LIMIT 100"
    [score_ref]="SELECT c.item_id FROM cand c, limaml_meta_embedding e WHERE e.model = 'ref' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.features) DESC LIMIT 100"
    [score_ids]="SELECT c.item_id FROM cand c, limaml_meta_embedding e WHERE e.model = 'ids' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.features, c.item_id) DESC LIMIT 100"
    [score_ids_nowide]="SELECT c.item_id FROM cand c, limaml_meta_embedding e WHERE e.model = 'ids_nowide' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.features, c.item_id) DESC LIMIT 100"
    [code_ref]="SELECT c.item_id FROM codes_ref c, limaml_meta_embedding e WHERE e.model = 'ref' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.code) DESC LIMIT 100"
    [code_ids]="SELECT c.item_id FROM codes_ids c, limaml_meta_embedding e WHERE e.model = 'ids' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.code) DESC LIMIT 100"
    [code_ids_nowide]="SELECT c.item_id FROM codes_ids_nowide c, limaml_meta_embedding e WHERE e.model = 'ids_nowide' AND e.member_id = 1 ORDER BY limaml_score(e.embedding, c.code) DESC LIMIT 100"
)
KEYS=(adapt_base adapt_ref adapt_ids adapt_ids_nowide score_base score_ref score_ids score_ids_nowide code_ref code_ids code_ids_nowide)
for k in "${KEYS[@]}"; do echo "  $k: ${Q[$k]}"; done
{
    echo "SET work_mem = '256MB';"
    echo "CREATE TABLE qtiming (k text, rep int, ms float8);"
    for ((rep = 0; rep <= REPEAT; rep++)); do     # round 0 warms up and is dropped
        for k in "${KEYS[@]}"; do
            echo "SELECT clock_timestamp() AS t0 \\gset"
            echo "${Q[$k]} \\g /dev/null"
            echo "INSERT INTO qtiming VALUES ('$k', $rep, 1000 * extract(epoch FROM clock_timestamp() - :'t0'::timestamptz));"
        done
    done
} > "/tmp/train_defaults_q.$$.sql"
psql -f "/tmp/train_defaults_q.$$.sql"
rm -f "/tmp/train_defaults_q.$$.sql"
echo
psql -At -v rows="$(psql -Atc 'SELECT count(*) FROM planted_ids')" -v cand="$CANDIDATES" <<'SQL'
WITH med AS (
    SELECT k, percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS ms FROM qtiming WHERE rep > 0 GROUP BY k),
r AS (
    SELECT m.k, m.ms,
           CASE WHEN m.k LIKE 'adapt%' THEN (SELECT ms FROM med WHERE k = 'adapt_base')
                ELSE (SELECT ms FROM med WHERE k = 'score_base') END AS base_ms,
           CASE WHEN m.k LIKE 'adapt%' THEN :rows ELSE :cand END AS n
      FROM med m)
SELECT '| query | model | ms | ratio (baseline ms / ms) | ns per row or candidate |'
UNION ALL SELECT '|---|---|---|---|---|'
UNION ALL
SELECT * FROM (
SELECT format('| %s | %s | %s | %s | %s |', split_part(k, '_', 1),
              CASE WHEN k LIKE '%base' THEN 'baseline' ELSE substr(k, strpos(k, '_') + 1) END,
              to_char(ms, 'FM99990.0'), to_char(base_ms / ms, 'FM0.00'), to_char(ms * 1e6 / n, 'FM99990'))
  FROM r ORDER BY k LIKE 'code%', k LIKE 'score%', k NOT LIKE '%base', k) t;
SQL
echo
echo "(adapt: limaml_adapt_agg ... GROUP BY member_id over $N_MEMBERS members x $PER_MEMBER rows, baseline sum(cardinality(item_features));"
echo " score/code: $CANDIDATES candidates, baseline ORDER BY cardinality(features); ref = no item ids, ids = item ids + wide head,"
echo " ids_nowide = item ids, wide => false; load now $(cut -d' ' -f1-3 /proc/loadavg))"
