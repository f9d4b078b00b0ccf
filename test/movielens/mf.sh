#!/usr/bin/env bash
# Matrix factorization on MovieLens 100K with the protocol of defaults.sh: the simple baseline
# the MovieLens aims (pooled AUC ≥ 0.80, MAE ≤ 0.757) are weighed against.
#   bash test/movielens/mf.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Environment: ALS_SEEDS (3 random starts per setting). Loads the data into a throwaway
# cluster only to draw the same held-out members (test/movielens/load.sql), then runs
# test/movielens/mf.py (numpy; installed from Debian when missing and run as root).
# Uses nothing of limaml. Skips cleanly when the data is absent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
movielens_numpy_run "movielens mf" mf
