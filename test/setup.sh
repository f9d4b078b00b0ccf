#!/usr/bin/env bash
# Install build/test dependencies (Debian 12, as root) and build + install
# the extension.  Idempotent; works whether executed or sourced.  The body
# runs in a subshell so `set -e` and friends never leak into a sourcing shell.

limaml_setup() (
    set -euo pipefail
    ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
    PKGS=(build-essential postgresql-15 postgresql-server-dev-15 postgresql-common
          libopenblas0-serial libopenblas-serial-dev libipc-run-perl perl make gcc
          clang-14 libclang-rt-14-dev  # clang + libFuzzer: test/fuzz
          postgresql-15-cron)  # pg_cron: the shop tutorial's nightly refresh

    # Fast path: only touch apt when something is actually missing.
    missing=()
    for p in "${PKGS[@]}"; do
        st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$st" = installed ] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: missing packages: ${missing[*]}"
        if [ "$(id -u)" != 0 ]; then
            echo "setup: must run as root to install packages" >&2
            return 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        echo "setup: apt-get update"
        apt-get update -q </dev/null
        echo "setup: apt-get install"
        apt-get install -y -q "${PKGS[@]}" </dev/null
    else
        echo "setup: all packages already installed"
    fi

    echo "setup: building in $ROOT"
    make -C "$ROOT" -j2 PG_CONFIG="$PG_CONFIG"
    echo "setup: installing extension"
    make -C "$ROOT" install PG_CONFIG="$PG_CONFIG"
    echo "setup: done"
)

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    limaml_setup; exit $?
else
    limaml_setup; return $?
fi
