#!/usr/bin/env bash
# Run every limaml test suite (unit, unit-sanitize, fuzz, pg_regress, TAP)
# and print one summary.
# Usage (as root, Debian 12):  bash test/run_all.sh
# Last line is always "N passed, N failed"; exit status is non-zero on any
# failure.  A suite that dies without reporting counts is 1 failure.
# No `set -e`: every suite must run and be counted even if an earlier one fails.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
LOGDIR=$(mktemp -d /tmp/limaml-logs.XXXXXX)
WORK=
# shellcheck disable=SC2317  # invoked via trap
cleanup() {
    rm -rf "$LOGDIR"
    if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

TOTAL_PASS=0 TOTAL_FAIL=0 SUMMARY=()
record() {  # record SUITE PASSED FAILED [NOTE]
    TOTAL_PASS=$((TOTAL_PASS + $2)); TOTAL_FAIL=$((TOTAL_FAIL + $3))
    SUMMARY+=("$(printf '  %-13s %4d passed, %4d failed%s' "$1" "$2" "$3" "${4:+  ($4)}")")
}
finish() {
    echo "=== summary ==="
    printf '%s\n' "${SUMMARY[@]}"
    echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
    if [ "$TOTAL_FAIL" -eq 0 ]; then exit 0; fi
    exit 1
}
count() { grep -cE "$1" "$2" || true; }  # grep -c prints 0 but exits 1 on no match

# a. dependencies, build, install.  Nothing else can run if this fails.
echo "=== setup ==="
if ! bash "$ROOT/test/setup.sh"; then
    record setup 0 1 "setup/build failed"
    finish
fi

# b. suites of the numeric core without a server (plain C, fine as root, run
#    in the repo); each make prints "LABEL: N passed, N failed" last.
make_suite() {  # make_suite LABEL MAKE-ARGS...
    local label=$1; shift
    echo "=== $label ==="
    make "$@" 2>&1 | tee "$LOGDIR/$label.log"
    local rc=${PIPESTATUS[0]} line p f
    line=$(grep -E "^$label: [0-9]+ passed, [0-9]+ failed" "$LOGDIR/$label.log" | tail -n 1)
    if [ -z "$line" ]; then
        record "$label" 0 1 "no '$label:' line, rc=$rc"
        return
    fi
    read -r p f < <(sed -E "s/^$label: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/" <<<"$line")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi  # crashed after reporting
    record "$label" "$p" "$f" "$([ "$rc" -ne 0 ] && echo "rc=$rc")"
}
make_suite unit -C "$ROOT" unittest PG_CONFIG="$PG_CONFIG"
# the same tests under AddressSanitizer and UBSan (a report fails the binary)
make_suite unit-sanitize -C "$ROOT/test/unit" run SANITIZE=1
# libFuzzer targets of the bytea and model-config readers, a short run each;
# clang and libFuzzer are installed by setup.sh, so a missing one fails here
make_suite fuzz -C "$ROOT/test/fuzz" run FUZZ_SECONDS="${LIMAML_FUZZ_SECONDS:-20}"

# c. pg_regress and TAP start real servers, which refuse to run as root: work
#    in a postgres-owned copy of the tree (mktemp dir is 700 -> open it up).
WORK=$(mktemp -d /tmp/limaml-test.XXXXXX)
chmod 755 "$WORK"
tar -C "$ROOT" --exclude=./.git --exclude=./tmp_check --exclude=./results \
    --exclude='./regression.*' -cf - . | tar -C "$WORK" -xf -
chown -R postgres:postgres "$WORK"
as_pg() { (cd "$WORK" && runuser -u postgres -- "$@"); }

echo "=== regress (pg_virtualenv + make installcheck, as postgres) ==="
as_pg pg_virtualenv -v 15 make installcheck PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$LOGDIR/regress.log"
rc=${PIPESTATUS[0]}
# pg_regress 15 prints "test foo   ... ok   12 ms" (or "     foo ..." inside a
# parallel group) and "... FAILED"; "failed (ignored)" is not a failure.  The
# anchor keeps prove's "t/x.pl ..... ok" out should installcheck also run TAP.
RX='^(test | {5})[^ ]+ +\.\.\. '
p=$(count "$RX"'ok( |$)' "$LOGDIR/regress.log")
f=$(grep -E "$RX"'(FAILED|failed)' "$LOGDIR/regress.log" | grep -vc '(ignored)' || true)
note=
if [ "$rc" -ne 0 ]; then
    note="rc=$rc"
    if [ "$f" -eq 0 ]; then f=1; fi  # errored out before/without reporting a failure
    [ -f "$WORK/regression.diffs" ] && head -n 200 "$WORK/regression.diffs"
fi
record regress "$p" "$f" "$note"

# Citus for the cluster test (test/t/070_citus.pl), from ../shared/citus
# beside the tree; without it that test skips and says so
CITUS_WANTED=
if [ -f "$ROOT/../shared/citus/build.sh" ]; then
    echo "=== citus (../shared/citus/build.sh) ==="
    if PG_CONFIG="$PG_CONFIG" bash "$ROOT/../shared/citus/build.sh"; then
        CITUS_WANTED=1
    else
        record citus 0 1 "build.sh failed"
    fi
else
    echo "=== citus: ../shared/citus is absent, test/t/070_citus.pl skips ==="
fi

if compgen -G "$ROOT/test/t/*.pl" >/dev/null; then
    echo "=== tap (make prove_installcheck, as postgres) ==="
    as_pg env LIMAML_CITUS="$CITUS_WANTED" make prove_installcheck PG_CONFIG="$PG_CONFIG" PROVE_FLAGS=-v 2>&1 | tee "$LOGDIR/tap.log"
    rc=${PIPESTATUS[0]}
    # Top-level TAP lines only (indented ones are subtests, already summarised
    # by their parent).  "not ok ... # TODO" is an expected failure.
    p=$(count '^ok [0-9]' "$LOGDIR/tap.log")
    f=$(grep -E '^not ok [0-9]' "$LOGDIR/tap.log" | grep -vc '# TODO' || true)
    note=
    if [ "$rc" -ne 0 ] || grep -q '^Result: FAIL' "$LOGDIR/tap.log"; then
        note="rc=$rc"
        if [ "$f" -eq 0 ]; then f=1; fi  # died, bad plan, or never ran
        # Per-test server/harness logs vanish with $WORK: show their tails now.
        for l in "$WORK"/tmp_check/log/regress_log_*; do
            [ -f "$l" ] && { echo "--- $l (tail)"; tail -n 40 "$l"; }
        done
    fi
    record tap "$p" "$f" "$note"
else
    record tap 0 0 "skipped: no test/t/*.pl"
fi

finish
