#!/usr/bin/env bash
# limaml against PyTorch: agreement of one and three outer (Adam) steps of
# first- and second-order MAML, and per-epoch training time.  Not part of CI.
#
#   bash test/bench/torch_agreement.sh            (as root, on Debian 12)
#
# Installs python3-torch, python3-numpy and python3-psycopg2 from Debian,
# builds and installs the extension (test/setup.sh), starts a throwaway
# cluster, generates planted data, creates the models and runs
# test/bench/torch_maml.py.  Exits non-zero when the agreement check fails.
#
# Environment (optional): N_MEMBERS (2000), PER_MEMBER (60), AGREE=0 or
# SPEED=0 to skip a part, REPEAT (5) timing runs per figure (the fastest counts).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
echo "+ $0 $*"
echo "  $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(nproc) CPUs: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"

N_MEMBERS=${N_MEMBERS:-2000}
PER_MEMBER=${PER_MEMBER:-60}
REPEAT=${REPEAT:-5}
PY=/usr/bin/python3

# ---------------------------------------------------------------- packages
missing=()
for p in python3-torch python3-numpy python3-psycopg2; do
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "torch_agreement: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >/dev/null
    apt-get install -y -q "${missing[@]}" </dev/null >/dev/null
fi

bash test/setup.sh >/tmp/torch_agreement_setup.log 2>&1 ||
    { cat /tmp/torch_agreement_setup.log; exit 1; }
echo "torch_agreement: extension built and installed"
$PY -c 'import torch, psycopg2; print("torch_agreement: torch", torch.__version__, "psycopg2", psycopg2.__version__.split()[0])'
echo "torch_agreement: BLAS for PyTorch and limaml: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"

# ------------------------------------------------------------------ cluster
# shellcheck source=../lib/cluster.sh
. "$ROOT/test/lib/cluster.sh"
cluster_start
trap cluster_stop EXIT

psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -c "CREATE EXTENSION limaml"
psql -v n_members="$N_MEMBERS" -v n_items=200 -v n_genres=8 -v per_member="$PER_MEMBER" \
     -v p_fav=0.8 -v p_other=0.2 -v seed=0.42 -f test/data/planted.sql >/dev/null

# Agreement sources: members keep 1 .. PER_MEMBER of their rows (uneven support
# sets, members with a single row train the cold start); one with member
# features, one without (the meta block is then the learned vector).
psql <<SQL
CREATE VIEW torch_feat AS
SELECT member_id, member_features, item_features, label, ts
  FROM planted_interactions
 WHERE ts < timestamptz '2026-01-01' + make_interval(mins => 2 + (member_id * 37 % $PER_MEMBER)::int);
CREATE VIEW torch_nofeat AS
SELECT member_id, NULL::real[] AS member_features, item_features, label, ts FROM torch_feat;
SQL

MODEL_ARGS="embedding_dim => 16, global_hidden => '{64}', loss => 'bce', inner_steps => 5,
                     inner_lr => 1.0, support_size => 50, query_size => 10, seed => 7"
MODELS_SQL="SELECT limaml_create_model('agree_feat', 'torch_feat', meta_hidden => '{32}',
                     $MODEL_ARGS);
SELECT limaml_create_model('agree_nofeat', 'torch_nofeat',
                     $MODEL_ARGS);
SELECT limaml_create_model('speed', 'planted_interactions', meta_hidden => '{32}',
                     $MODEL_ARGS);"
echo "torch_agreement: planted data: $N_MEMBERS members x $PER_MEMBER interactions, 200 items, 8 genres;"
echo "  agreement sources torch_feat and torch_nofeat keep 1..$PER_MEMBER rows per member; models:"
echo "$MODELS_SQL"
psql -c "$MODELS_SQL" >/dev/null

status=0
if [ "${AGREE:-1}" != 0 ]; then
    $PY test/bench/torch_maml.py agree agree_feat agree_nofeat || status=1
fi
if [ "${SPEED:-1}" != 0 ]; then
    $PY test/bench/torch_maml.py speed speed --meta-batch 32 --repeat "$REPEAT" || status=1
fi
echo "torch_agreement: $([ $status = 0 ] && echo PASS || echo FAIL)"
exit $status
