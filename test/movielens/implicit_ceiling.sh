#!/usr/bin/env bash
# MovieLens 100K read as a positive-only log, in numpy: popularity, item-to-item, the wide head's
# member solve over fixed factors and PureSVD's folding-in, on implicit.sh's split.
#   bash test/movielens/implicit_ceiling.sh [DATA_DIR]     (default: ../shared/data/ml-100k)
# Loads the data into a throwaway cluster only to draw the same held-out members, then runs
# test/movielens/implicit_ceiling.py (numpy; installed from Debian when missing and run as
# root). Uses nothing of limaml. Skips cleanly when the data is absent.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh" "$@"
movielens_numpy_run "movielens implicit ceiling" implicit_ceiling
