#!/usr/bin/env bash
# Batch adaptation benchmarks (issue 4): every one from this one command.
#
#   bash test/bench/adapt.sh            # as root on Debian 12 (installs what it needs)
#   bash test/bench/adapt.sh core       # only the core benchmark (no server)
#
# 1. core: C adaptation (µs/member) on the reference shape against PyTorch
#    eager (1 thread) and numpy, on identical data (test/bench/adapt_core.*);
# 2. in a throwaway cluster (test/lib/cluster.sh, jit=off; settings printed):
#    limaml_adapt_agg throughput against a scan-and-group, limaml_adapt per
#    member, 2 parallel workers against 1 on partitioned data, end to end
#    against a psycopg2 + PyTorch pipeline, and peak backend memory for 10k
#    against 100k members (test/bench/adapt_db.py).
# Every comparison prints a "RATIO" line.  Not part of CI: it installs
# python3-torch and takes a few minutes.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PY=/usr/bin/python3
WHAT=${1:-all}

need=()
for p in python3-torch python3-numpy python3-psycopg2 libopenblas-serial-dev gcc make; do
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "bench: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >/dev/null
    apt-get install -y -q "${need[@]}" </dev/null >/dev/null
fi

WORK=$(mktemp -d /tmp/limaml-bench.XXXXXX)
chmod 755 "$WORK"
cleanup() { [ "$(type -t cluster_stop)" = function ] && cluster_stop; rm -rf "$WORK"; }
trap cleanup EXIT

echo "bench: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load $(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- core
BLAS_INC=/usr/include/x86_64-linux-gnu/openblas-serial
BLAS_LIB=/usr/lib/x86_64-linux-gnu/openblas-serial
CC_CMD="gcc -std=gnu11 -O3 -fno-math-errno -I$ROOT/src/core -I$BLAS_INC $ROOT/src/core/*.c $ROOT/test/bench/adapt_core.c -o $WORK/adapt_core -L$BLAS_LIB -Wl,-rpath,$BLAS_LIB -lopenblas -lm"
echo
echo "# core adaptation, reference shape: 50 support rows, item_dim 32, member_dim 8, meta_hidden {32},"
echo "# embedding 32, global_hidden {64}, 5 inner steps; 2000 members, best of 5; 1 thread everywhere"
echo "  $CC_CMD && adapt_core DIR 2000 5"
echo "  OMP_NUM_THREADS=1 $PY test/bench/adapt_core.py DIR"
$CC_CMD
c_out=$("$WORK/adapt_core" "$WORK" 2000 5)
py_out=$(OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 $PY "$ROOT/test/bench/adapt_core.py" "$WORK")
echo "$c_out"
echo "$py_out"
c_us=$(awk '/core_us_per_member/ {print $2}' <<<"$c_out")
t_us=$(awk '/torch_us_per_member/ {print $2}' <<<"$py_out")
n_us=$(awk '/numpy_us_per_member/ {print $2}' <<<"$py_out")
awk -v c="$c_us" -v t="$t_us" 'BEGIN { r = t / c; printf "RATIO %-38s %10.2f (aim >= 30: %s)\n", "PyTorch eager / C core", r, (r >= 30 ? "reached" : "NOT reached") }'
awk -v c="$c_us" -v n="$n_us" 'BEGIN { printf "RATIO %-38s %10.2f\n", "numpy / C core", n / c }'
[ "$WHAT" = core ] && exit 0

# ---------------------------------------------------------------- in the database
echo
echo "bench: building and installing the extension into $PGBIN"
make -s -C "$ROOT" PG_CONFIG="$PGBIN/pg_config" >/dev/null
make -s -C "$ROOT" install PG_CONFIG="$PGBIN/pg_config" >/dev/null

# shellcheck source=../lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"
CLUSTER_OPTS="-c shared_buffers=512MB -c work_mem=256MB -c max_worker_processes=8 \
-c max_parallel_workers=8 -c max_parallel_workers_per_gather=2 -c fsync=off \
-c synchronous_commit=off -c checkpoint_timeout=1h -c max_wal_size=10GB"
cluster_start
echo "bench: cluster options: jit=off $CLUSTER_OPTS"
psql -X -q -c "CREATE EXTENSION limaml"
if [ "$WHAT" = all ]; then
    $PY "$ROOT/test/bench/adapt_db.py"
else
    $PY "$ROOT/test/bench/adapt_db.py" "$WHAT"
fi
