#!/usr/bin/env bash
# Serving benchmarks of limaml (issue 5).  One command, as root on Debian 12:
#
#   bash test/bench/serve.sh
#
# Builds and installs the extension (test/setup.sh; SKIP_SETUP=1 skips it),
# starts a throwaway cluster (test/lib/cluster.sh, jit=off, no parallel
# query), and for 32- and 64-dim item features over ROWS candidates:
#
#   baseline   ORDER BY cardinality(i.features) DESC LIMIT 100
#   score      ORDER BY limaml_score(m.embedding, i.features) DESC LIMIT 100
#   code       ORDER BY limaml_score(m.embedding, c.code) DESC LIMIT 100
#   floor      ORDER BY serve_floor_dot(q, i.features) DESC LIMIT 100
#              (a minimal C inner product built here from serve_floor.c)
#
# each ROUNDS times, interleaved, and prints the median times and the
# throughput ratios against the baseline (time_baseline / time_query).
# Then LATERAL against limaml_rank for many members, limaml_recommend
# against limaml_top_k for one member, and pgbench: clients
# 1, 2, 4, 8 ranking 1,000 candidates for random members while a refresh job
# re-adapts members, with QPS and p99 latency.  A model with feature
# transforms (issue 11 §2) ranks the same candidates from item codes, from
# precomputed vectors and by encoding every product per query.
#
# Settings (environment): ROWS (1000000), ROUNDS (5), SECS (pgbench seconds
# per client count, 20), MEMBERS (1000), LATERAL_MEMBERS (200),
# LATERAL_ITEMS (10000), DIMS ("32 64"), PGBIN (PostgreSQL binaries).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/test/bench
ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-20}
MEMBERS=${MEMBERS:-1000}
LATERAL_MEMBERS=${LATERAL_MEMBERS:-200}
LATERAL_ITEMS=${LATERAL_ITEMS:-10000}
DIMS=${DIMS:-32 64}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}

say() { printf '%s\n' "$*"; }

if [ "${SKIP_SETUP:-0}" != 1 ]; then
    bash "$ROOT/test/setup.sh" >/dev/null
fi

WORK=$(mktemp -d /tmp/limaml-bench.XXXXXX)
chmod 755 "$WORK"
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$WORK"; fi
# shellcheck source=../lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"
cleanup() { cluster_stop; rm -rf "$WORK"; }
trap cleanup EXIT

# the floor: a minimal C inner product, loaded by path (not installed)
gcc -O2 -fPIC -shared -I"$("$PG_CONFIG" --includedir-server)" \
    "$HERE/serve_floor.c" -o "$WORK/serve_floor.so"
chmod 755 "$WORK/serve_floor.so"

# shellcheck disable=SC2034  # read by cluster_start
CLUSTER_OPTS="-c shared_buffers=2GB -c work_mem=64MB -c max_parallel_workers_per_gather=0 -c max_connections=40"
cluster_start
P=(psql -X -q -v ON_ERROR_STOP=1)

say "# limaml serving benchmark: $(date -u +%F) $(nproc) CPU ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "# PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}'), settings: jit=off max_parallel_workers_per_gather=0 shared_buffers=2GB, tables prewarmed"

"${P[@]}" <<SQL
CREATE EXTENSION limaml;
CREATE EXTENSION pg_prewarm;
CREATE FUNCTION serve_floor_dot(real[], real[]) RETURNS real
    AS '$WORK/serve_floor.so', 'serve_floor_dot' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
SQL
say "# serving kernels: $("${P[@]}" -Atc "SELECT limaml_serving_isa()")"

# ------------------------------------------------------------------ data

# ROWS items and MEMBERS members with 20 interactions each, per dimension;
# a model with embedding = feature dimension, global_hidden {64}
for dim in $DIMS; do
    start=$(date +%s)
    "${P[@]}" <<SQL
SELECT setseed(0.$dim);
CREATE TABLE items$dim AS
SELECT i::bigint AS item_id,
       (SELECT array_agg((random() - 0.5)::real) FROM generate_series(1, $dim) WHERE i > 0) AS features
  FROM generate_series(1, $ROWS) i;
ALTER TABLE items$dim ADD PRIMARY KEY (item_id);
CREATE TABLE src$dim AS
SELECT m::bigint AS member_id, NULL::real[] AS member_features, it.features AS item_features,
       (random() < 0.3)::int::real AS label, now() - make_interval(mins => k) AS ts
  FROM generate_series(1, $MEMBERS) m, generate_series(1, 20) k,
       LATERAL (SELECT features FROM items$dim WHERE item_id = 1 + ((m * 7919 + k * 104729) % $ROWS)) it;
CREATE INDEX ON src$dim (member_id, ts);
SELECT limaml_create_model('m$dim', 'src$dim', embedding_dim => $dim, meta_hidden => '{}',
                           global_hidden => '{64}', member_dim => 0, item_dim => $dim) \\g /dev/null
SELECT count(limaml_adapt(m, 'm$dim')) FROM generate_series(1, $MEMBERS) m \\g /dev/null
CREATE TABLE codes$dim AS SELECT item_id, limaml_item_encode('m$dim', features) AS code FROM items$dim;
ALTER TABLE codes$dim ADD PRIMARY KEY (item_id);
VACUUM ANALYZE items$dim, codes$dim, src$dim, limaml_meta_embedding;
SELECT pg_prewarm('items$dim'), pg_prewarm('codes$dim') \\g /dev/null
SQL
    say "# data ${dim}-dim: $ROWS items, $MEMBERS members, item codes: $(( $(date +%s) - start )) s;" \
        "table sizes: items $("${P[@]}" -Atc "SELECT pg_size_pretty(pg_table_size('items$dim'))")," \
        "codes $("${P[@]}" -Atc "SELECT pg_size_pretty(pg_table_size('codes$dim'))")"
done

# ------------------------------------------------------------------ ranking one member

median() { sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.1f", m}'; }

# time_queries FILE KEY... : runs the queries of the associative array Q for
# the keys ROUNDS + 1 times, interleaved, in one session; the first round
# warms up and is dropped.  Fills WALL[key] and CPU[key] with medians (ms);
# CPU is the backend's own CPU time (/proc/self/schedstat), which other
# processes on a shared machine disturb less than the wall clock.
declare -A WALL CPU
time_queries() {
    local file=$1 k i n; shift
    local keys=("$@")
    n=${#keys[@]}
    {
        for ((r = 0; r < ROUNDS + 1; r++)); do
            for k in "${keys[@]}"; do
                echo "SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint AS t0 \\gset"
                printf '%s\n' '\timing on'
                echo "${Q[$k]} \\g /dev/null"
                printf '%s\n' '\timing off'
                echo "SELECT 'cpu', (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :t0) / 1e6;"
            done
        done
    } > "$file.sql"
    "${P[@]}" -At -F ' ' -f "$file.sql" | grep -E '^(Time|cpu)' | paste - - | awk '{print $2, $5}' > "$file.times"
    i=0
    for k in "${keys[@]}"; do
        WALL[$k]=$(awk -v n="$n" -v i=$i 'NR > n && (NR - 1) % n == i {print $1}' "$file.times" | median)
        CPU[$k]=$(awk -v n="$n" -v i=$i 'NR > n && (NR - 1) % n == i {print $2}' "$file.times" | median)
        i=$((i + 1))
    done
}
ratio() { awk -v b="$1" -v t="$2" 'BEGIN {printf "%.2f", b / t}'; }

declare -A SUMMARY
declare -A Q
for dim in $DIMS; do
    Q=(
        [baseline]="SELECT i.item_id FROM items$dim i, limaml_meta_embedding m WHERE m.model = 'm$dim' AND m.member_id = 1 ORDER BY cardinality(i.features) DESC LIMIT 100"
        [score]="SELECT i.item_id FROM items$dim i, limaml_meta_embedding m WHERE m.model = 'm$dim' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, i.features) DESC LIMIT 100"
        [code]="SELECT c.item_id FROM codes$dim c, limaml_meta_embedding m WHERE m.model = 'm$dim' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, c.code) DESC LIMIT 100"
        [floor]="WITH q AS MATERIALIZED (SELECT limaml_embedding_array(embedding) AS q FROM limaml_meta_embedding WHERE model = 'm$dim' AND member_id = 1) SELECT i.item_id FROM items$dim i, q ORDER BY serve_floor_dot(q.q, i.features) DESC LIMIT 100"
    )
    order=(baseline score code floor)
    say ""
    say "## ${dim}-dim features, $ROWS candidates, median of $ROUNDS interleaved runs"
    for k in "${order[@]}"; do say "  $k: ${Q[$k]}"; done
    time_queries "$WORK/rank$dim" "${order[@]}"
    for k in "${order[@]}"; do
        say "$(printf '  %-9s wall %8s ms (ratio %s)   cpu %8s ms (ratio %s)   %4.0f ns/candidate' "$k" \
            "${WALL[$k]}" "$(ratio "${WALL[baseline]}" "${WALL[$k]}")" \
            "${CPU[$k]}" "$(ratio "${CPU[baseline]}" "${CPU[$k]}")" \
            "$(awk -v t="${CPU[$k]}" -v n="$ROWS" 'BEGIN {print t * 1e6 / n}')")"
        SUMMARY[$dim,$k]="${WALL[$k]} | $(ratio "${WALL[baseline]}" "${WALL[$k]}") | ${CPU[$k]} | $(ratio "${CPU[baseline]}" "${CPU[$k]}")"
    done
done

say ""
say "## summary: median ms, and throughput ratio against the cardinality baseline (wall clock; backend CPU time)"
say "| query | $(for dim in $DIMS; do printf '%s-dim wall ms | ratio | cpu ms | ratio | ' "$dim"; done)"
say "|---|$(for dim in $DIMS; do printf -- '---|---|---|---|'; done)"
for k in baseline score code floor; do
    say "| $k | $(for dim in $DIMS; do printf '%s | ' "${SUMMARY[$dim,$k]}"; done)"
done

# ------------------------------------------------------------------ many members: LATERAL or limaml_top_k

dim=${DIMS%% *}
"${P[@]}" -c "CREATE TABLE items_lateral AS SELECT * FROM items$dim WHERE item_id <= $LATERAL_ITEMS" \
    -c "VACUUM ANALYZE items_lateral" >/dev/null
Q=(
    [lateral]="SELECT m.member_id, t.item_id FROM limaml_meta_embedding m CROSS JOIN LATERAL (SELECT i.item_id, limaml_score(m.embedding, i.features) AS s FROM items_lateral i ORDER BY 2 DESC, 1 LIMIT 10) t WHERE m.model = 'm$dim' AND m.member_id <= $LATERAL_MEMBERS"
    [top_k]="SELECT member_id, item_id FROM limaml_top_k('m$dim', 'items_lateral', 10, (SELECT array_agg(m) FROM generate_series(1, $LATERAL_MEMBERS::bigint) m))"
)
say ""
say "## top 10 of $LATERAL_ITEMS items (${dim}-dim) for each of $LATERAL_MEMBERS members, median of $ROUNDS runs"
say "  lateral: ${Q[lateral]}"
say "  top_k: ${Q[top_k]}"
say "  same result: $("${P[@]}" -Atc "SELECT (SELECT array_agg(x ORDER BY x) FROM (${Q[lateral]}) x) = (SELECT array_agg(y ORDER BY y) FROM (${Q[top_k]}) y)")"
time_queries "$WORK/lateral" lateral top_k
pairs=$((LATERAL_MEMBERS * LATERAL_ITEMS))
for k in lateral top_k; do
    say "$(printf '  %-8s wall %8s ms   cpu %8s ms   %5.1f ns/pair' "$k" "${WALL[$k]}" "${CPU[$k]}" \
        "$(awk -v t="${CPU[$k]}" -v n="$pairs" 'BEGIN {print t * 1e6 / n}')")"
done
say "  limaml_top_k is $(ratio "${CPU[lateral]}" "${CPU[top_k]}")x faster (cpu), $(ratio "${WALL[lateral]}" "${WALL[top_k]}")x (wall)"

# ------------------------------------------------------------------ one member: limaml_recommend or limaml_top_k

dim=${DIMS%% *}
Q=(
    [top_k_one]="SELECT item_id FROM limaml_top_k('m$dim', 'items$dim', 100, '{1}')"
    [recommend]="SELECT item_id FROM limaml_recommend('m$dim', 1, 100, 'items$dim', exclude_seen => false)"
)
say ""
say "## top 100 of $ROWS items (${dim}-dim) for one member, median of $ROUNDS runs"
say "  same result: $("${P[@]}" -Atc "SELECT (SELECT array_agg(item_id ORDER BY rank) FROM limaml_top_k('m$dim', 'items$dim', 100, '{1}')) = (SELECT array_agg(item_id ORDER BY rank) FROM limaml_recommend('m$dim', 1, 100, 'items$dim', exclude_seen => false))")"
time_queries "$WORK/recommend" top_k_one recommend
for k in top_k_one recommend; do
    say "$(printf '  %-10s wall %8s ms   cpu %8s ms' "$k" "${WALL[$k]}" "${CPU[$k]}")"
done
say "  limaml_recommend takes $(ratio "${CPU[recommend]}" "${CPU[top_k_one]}")x limaml_top_k's time (cpu)"

# ------------------------------------------------------------------ model-owned feature transforms

# A model whose item features come from plain columns (category one-hot,
# log1p price, brand hashed into 25 buckets: 33 features), ranked over ROWS
# products: its item codes against the array model's (same scan), its
# precomputed vectors, and encoding every candidate per query.
dim=${DIMS%% *}
start=$(date +%s)
"${P[@]}" <<SQL
SELECT setseed(0.5);
CREATE TABLE products AS
SELECT item_id, (ARRAY['books', 'games', 'garden', 'music', 'sports', 'toys', 'tools'])[1 + item_id % 7] AS category,
       (5 + (item_id * 37) % 120)::numeric AS price, 'brand' || (item_id * 5) % 500 AS brand
  FROM items$dim;
ALTER TABLE products ADD PRIMARY KEY (item_id);
CREATE TABLE customers_t AS
SELECT m::bigint AS member_id, (ARRAY['DE', 'FR', 'IT'])[1 + m % 3] AS country, 18 + m % 50 AS age
  FROM generate_series(1, $MEMBERS) m;
ALTER TABLE customers_t ADD PRIMARY KEY (member_id);
CREATE TABLE src_t AS
SELECT m::bigint AS member_id, 1 + ((m * 7919 + k * 104729) % $ROWS)::bigint AS item_id,
       (random() < 0.3) AS label, now() - make_interval(mins => k) AS ts
  FROM generate_series(1, $MEMBERS) m, generate_series(1, 20) k;
CREATE INDEX ON src_t (member_id, ts);
SELECT limaml_create_model('t', 'src_t', members => 'customers_t', items => 'products',
         member_columns => '{"country": "onehot", "age": "standardize"}',
         item_columns => '{"category": "onehot", "price": "log1p", "brand": {"hash": 25}}',
         embedding_dim => $dim, meta_hidden => '{}', global_hidden => '{64}', item_buckets => 0) \\g /dev/null
SELECT count(limaml_adapt(m, 't')) FROM generate_series(1, 10) m \\g /dev/null
CREATE TABLE vectors_t AS SELECT item_id, limaml_item_features('t', p) AS features FROM products p;
ALTER TABLE vectors_t ADD PRIMARY KEY (item_id);
CREATE TABLE codes_t AS SELECT item_id, limaml_item_encode('t', features) AS code FROM vectors_t;
ALTER TABLE codes_t ADD PRIMARY KEY (item_id);
VACUUM ANALYZE products, vectors_t, codes_t, src_t, customers_t;
SELECT pg_prewarm('products'), pg_prewarm('vectors_t'), pg_prewarm('codes_t') \\g /dev/null
SQL
say ""
say "## model-owned transforms: $ROWS products (category, price, brand: 33 features), data and codes $(( $(date +%s) - start )) s"
Q=(
    [code_arrays]="SELECT c.item_id FROM codes$dim c, limaml_meta_embedding m WHERE m.model = 'm$dim' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, c.code) DESC LIMIT 100"
    [code_transforms]="SELECT c.item_id FROM codes_t c, limaml_meta_embedding m WHERE m.model = 't' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, c.code) DESC LIMIT 100"
    [vectors]="SELECT v.item_id FROM vectors_t v, limaml_meta_embedding m WHERE m.model = 't' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, v.features) DESC LIMIT 100"
    [encoded]="SELECT p.item_id FROM products p, limaml_meta_embedding m WHERE m.model = 't' AND m.member_id = 1 ORDER BY limaml_score(m.embedding, limaml_item_features('t', p)) DESC LIMIT 100"
    [top_k_vectors]="SELECT item_id FROM limaml_top_k('t', 'vectors_t', 100, '{1}')"
    [top_k_encoded]="SELECT item_id FROM limaml_top_k('t', 'products', 100, '{1}')"
)
order=(code_arrays code_transforms vectors encoded top_k_vectors top_k_encoded)
for k in "${order[@]}"; do say "  $k: ${Q[$k]}"; done
say "  same ranking (codes, vectors, encoded, top_k both ways): $("${P[@]}" -Atc "SELECT count(DISTINCT r) = 1 FROM (SELECT (SELECT array_agg(item_id ORDER BY s DESC, item_id) FROM (SELECT c.item_id, limaml_score(m.embedding, c.code) s FROM codes_t c, limaml_meta_embedding m WHERE m.model = 't' AND m.member_id = 1 ORDER BY 2 DESC, 1 LIMIT 100) x) r UNION ALL SELECT (SELECT array_agg(item_id ORDER BY rank) FROM limaml_top_k('t', 'products', 100, '{1}')) UNION ALL SELECT (SELECT array_agg(item_id ORDER BY rank) FROM limaml_top_k('t', 'vectors_t', 100, '{1}'))) y")"
time_queries "$WORK/transforms" "${order[@]}"
for k in "${order[@]}"; do
    say "$(printf '  %-15s wall %8s ms   cpu %8s ms   %4.0f ns/candidate' "$k" "${WALL[$k]}" "${CPU[$k]}" \
        "$(awk -v t="${CPU[$k]}" -v n="$ROWS" 'BEGIN {print t * 1e6 / n}')")"
done

# ------------------------------------------------------------------ pgbench

dim=${DIMS%% *}
say ""
say "## pgbench: rank 1,000 candidates (${dim}-dim) for a random member, LIMIT 100, while a refresh job re-adapts 20 random members per transaction"
sed 's/^/  /' "$HERE/serve_rank.pgbench"
say "  refresh job:"
sed 's/^/  /' "$HERE/serve_refresh.pgbench"
say "| clients | QPS | mean ms | p99 ms | refresh members/s |"
say "|---|---|---|---|---|"
pgbench_in_work() { (cd "$WORK" && _cluster_as_pg "$PGBIN/pgbench" -n "$@" 2>&1); }
for c in 1 2 4 8; do
    rm -f "$WORK"/rank_log*
    pgbench_in_work -T "$SECS" -c 1 -D dim="$dim" -D members="$MEMBERS" \
        -f "$HERE/serve_refresh.pgbench" > "$WORK/refresh.out" &
    refresh=$!
    pgbench_in_work -T "$SECS" -c "$c" -j "$c" -D dim="$dim" -D members="$MEMBERS" -D rows="$ROWS" \
        -l --log-prefix=rank_log -f "$HERE/serve_rank.pgbench" > "$WORK/rank.out"
    wait "$refresh"
    qps=$(awk '/^tps = / {printf "%.0f", $3}' "$WORK/rank.out")
    mean=$(awk '/^latency average/ {print $4}' "$WORK/rank.out")
    p99=$(cat "$WORK"/rank_log* | awk '{print $3 / 1000}' | sort -n |
          awk '{a[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", a[i]}')
    refresh_rate=$(awk '/^tps = / {printf "%.0f", $3 * 20}' "$WORK/refresh.out")
    say "| $c | $qps | $mean | $p99 | $refresh_rate |"
done
