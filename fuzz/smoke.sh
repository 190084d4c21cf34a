#!/usr/bin/env bash
# Fuzz smoke test, for CI: replay every known reproducer (fuzz/regressions/),
# then fuzz every target for a short, bounded time from its seeds.
# Goes through every target, then exits non-zero if any crashed, timed out
# or broke an invariant (or if a reproducer still fails).
#
#   fuzz/smoke.sh [SECONDS]      # per target, default 20
#
# Environment:
#   SMOKE_RUNS         cap on executions per target (default 2000000), so a
#                      run is bounded even on a very fast machine
#   CARGO_BUILD_JOBS   build parallelism (cargo's own variable)
#
# Needs rustup (installs the nightly toolchain and cargo-fuzz when missing).
# New inputs go to a scratch corpus that is thrown away: the committed
# corpora stay the seeds (fuzz/seeds/<target>/) and the reproducers.
set -euo pipefail

seconds=${1:-20}
runs=${SMOKE_RUNS:-2000000}

cd "$(dirname "$0")"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo +nightly fuzz build
mapfile -t targets < <(cargo +nightly fuzz list)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

status=0
for t in "${targets[@]}"; do
    # Known reproducers first: each must now pass.
    shopt -s nullglob
    repros=(regressions/"$t"-*.bin)
    shopt -u nullglob
    if ((${#repros[@]})); then
        echo "== $t: replaying ${#repros[@]} reproducer(s)"
        if ! cargo +nightly fuzz run "$t" "${repros[@]}" -- -runs=1 -timeout=10; then
            echo "FAIL: $t: a reproducer in fuzz/regressions/ still fails" >&2
            status=1
            continue
        fi
    fi
    echo "== $t: fuzzing for ${seconds}s (at most $runs runs)"
    mkdir -p "$scratch/$t"
    if ! cargo +nightly fuzz run "$t" "$scratch/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -runs="$runs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1; then
        echo "FAIL: $t: see the crash above and fuzz/artifacts/$t/" >&2
        status=1
    fi
done
exit "$status"
