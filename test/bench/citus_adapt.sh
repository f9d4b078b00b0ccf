#!/usr/bin/env bash
# Batch adaptation on Citus (a coordinator and 2 workers on loopback) against
# one server, on the same rows, in the same run: the pushed-down
#   INSERT INTO member_embedding SELECT member_id, limaml_adapt_agg(…) … GROUP BY member_id
# into a co-located table, against the same statement over a local table.
# Prints the plan and the ratio.  Run as root from the tree, after `make install`:
#   bash test/bench/citus_adapt.sh [members] [rows_per_member]
# Builds Citus from ../shared/citus if it is missing.  Clusters live under a
# temporary directory, run as postgres on free ports, and are removed at exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MEMBERS=${1:-50000}
PER=${2:-40}
BIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
[ -x "$BIN/initdb" ] || BIN=/usr/lib/postgresql/15/bin
if [ ! -f "$("$BIN/pg_config" --sharedir)/extension/citus.control" ]; then
	bash "$ROOT/../shared/citus/build.sh"
fi

DIR=$(mktemp -d /tmp/limaml-citus-bench.XXXXXX)
chown postgres "$DIR"
PORTS=()
for _ in 1 2 3; do
	PORTS+=("$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')")
done
as_pg() { runuser -u postgres -- "$@"; }
cleanup() {
	for p in "${PORTS[@]}"; do as_pg "$BIN/pg_ctl" -D "$DIR/$p" -m immediate stop >/dev/null 2>&1 || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT
for p in "${PORTS[@]}"; do
	as_pg "$BIN/initdb" -D "$DIR/$p" -A trust -U postgres >/dev/null
	cat >>"$DIR/$p/postgresql.conf" <<EOF
port = $p
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
shared_preload_libraries = 'citus'
citus.local_hostname = '127.0.0.1'
max_prepared_transactions = 20
fsync = off
EOF
	as_pg "$BIN/pg_ctl" -D "$DIR/$p" -l "$DIR/$p.log" -w start >/dev/null
	as_pg psql -h "$DIR" -p "$p" -XqAt -c 'CREATE EXTENSION citus' postgres
done
C=${PORTS[0]}
q() { PGOPTIONS="-c client_min_messages=warning" as_pg psql -h "$DIR" -p "$C" -XqAt -v ON_ERROR_STOP=1 postgres "$@"; }
q -c "SELECT citus_set_coordinator_host('127.0.0.1', $C)" \
  -c "SELECT citus_add_node('127.0.0.1', ${PORTS[1]})" -c "SELECT citus_add_node('127.0.0.1', ${PORTS[2]})" >/dev/null
q <<SQL >/dev/null
CREATE EXTENSION limaml;
SELECT setseed(0.5);
CREATE TABLE local_interactions AS
SELECT m::bigint AS member_id, (m * 7 + k * 13) % 2000 AS item_id,
       ARRAY[(m % 5) / 5.0, random()]::real[] AS member_features,
       ARRAY[((m + k) % 8) / 8.0, random(), random(), random(), random(), random(), random(), random()]::real[] AS item_features,
       (random() < 0.3)::int::real AS label,
       timestamptz '2026-01-01' + make_interval(mins => k) AS ts
  FROM generate_series(1, $MEMBERS) m, generate_series(1, $PER) k;
CREATE TABLE interactions AS SELECT * FROM local_interactions;
SELECT create_distributed_table('interactions', 'member_id');
SELECT truncate_local_data_after_distributing_table('interactions');
CREATE TABLE local_embedding (member_id bigint PRIMARY KEY, embedding bytea);
CREATE TABLE member_embedding (member_id bigint PRIMARY KEY, embedding bytea);
SELECT create_distributed_table('member_embedding', 'member_id', colocate_with => 'interactions');
ANALYZE;
SELECT limaml_create_model('bench', 'local_interactions', embedding_dim => 16, support_size => 30, query_size => 10, seed => 1);
SELECT count(*) FROM limaml_train('bench', epochs => 1);
SELECT limaml_publish('bench');
SQL

AGG="limaml_adapt_agg('bench', member_features, item_features, label, ts, item_id)"
echo "members: $MEMBERS, rows: $((MEMBERS * PER)), nodes: coordinator :$C, workers :${PORTS[1]} :${PORTS[2]}"
echo "plan (Citus):"
q -c "EXPLAIN (COSTS OFF) INSERT INTO member_embedding SELECT member_id, $AGG FROM interactions GROUP BY member_id" | sed 's/^/  /'
time_of() {  # time_of TABLE SOURCE [SETTING]: median of 3 runs, seconds
	local t=()
	for _ in 1 2 3; do
		q -c "TRUNCATE $1" >/dev/null
		t+=("$(q -c "${3:-SELECT 1}" -c '\timing on' -c "INSERT INTO $1 SELECT member_id, $AGG FROM $2 GROUP BY member_id" \
			| sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')")
	done
	printf '%s\n' "${t[@]}" | sort -n | sed -n 2p | awk '{printf "%.3f", $1 / 1000}'
}
ONE=$(time_of local_embedding local_interactions)
CIT=$(time_of member_embedding interactions)
# one connection per worker: each backend parses the model once, not once per shard task
CIT1=$(time_of member_embedding interactions "SET citus.max_adaptive_executor_pool_size = 1")
SAME=$(q -c "SELECT count(*) FILTER (WHERE l.embedding = d.embedding) || '/' || count(*) FROM local_embedding l JOIN member_embedding d USING (member_id)")
echo "one server:     $ONE s ($(awk -v s="$ONE" -v n="$MEMBERS" 'BEGIN{printf "%.0f", n / s}') members/s)"
echo "Citus, 2 workers: $CIT s ($(awk -v s="$CIT" -v n="$MEMBERS" 'BEGIN{printf "%.0f", n / s}') members/s)"
echo "Citus, 2 workers, one connection each: $CIT1 s ($(awk -v s="$CIT1" -v n="$MEMBERS" 'BEGIN{printf "%.0f", n / s}') members/s)"
echo "ratio (one server / Citus): $(awk -v a="$ONE" -v b="$CIT" 'BEGIN{printf "%.2f", a / b}')x, one connection per worker $(awk -v a="$ONE" -v b="$CIT1" 'BEGIN{printf "%.2f", a / b}')x; byte-identical embeddings: $SAME"
