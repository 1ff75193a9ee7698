#!/usr/bin/env bash
# Runs each cargo-fuzz target of fuzz/ for a number of seconds; exits non-zero if one crashes.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 seconds, every target)
#
# The toolchain is stable: cargo-fuzz's nightly-only flags are let through with
# RUSTC_BOOTSTRAP=1. Builds go to $HOME/.cache/terrane/fuzz-target (outside the clone, so
# CI keeps it warm; not the workspace's target directory, whose flags differ).
# The committed corpus fuzz/corpus/<target> is read as seeds; what a run discovers goes to
# fuzz/target/corpus/<target> (kept between runs, not committed: to fold it back in, run
# `cargo fuzz cmin`, see fuzz/README.md). A crashing input is written to
# fuzz/artifacts/<target>/ and the script exits 1.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
    echo "usage: $0 [SECONDS] [TARGET...]" >&2
    exit 2
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(stack_parser expression)
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is not installed; installing it" >&2
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${TERRANE_FUZZ_TARGET_DIR:-$HOME/.cache/terrane/fuzz-target}"
# The targets write scratch stacks under $TMPDIR; keep them with the build, not in /tmp.
export TMPDIR="$CARGO_TARGET_DIR/tmp"
mkdir -p "$TMPDIR"
cd "$root/fuzz"

# Safe Rust: a panic is the bug sought, so speed beats AddressSanitizer. Debug assertions
# (overflow checks) stay on, as cargo-fuzz builds by default.
fuzz_flags=(--sanitizer none)

failed=()
summary=()
for t in "${targets[@]}"; do
    work="$root/fuzz/target/corpus/$t"
    mkdir -p "$work"
    log="$root/fuzz/target/fuzz-$t.log"
    echo "== $t: ${seconds}s (log: $log)"
    set +e
    cargo fuzz run "${fuzz_flags[@]}" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1
    status=$?
    set -e
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' || true)
    if [ "$status" -ne 0 ]; then
        failed+=("$t")
        summary+=("$t: FAILED (exit $status) after ${runs:-?} runs")
        grep -E 'panicked at|ERROR: libFuzzer|SUMMARY|Test unit written' "$log" | head -20 >&2 || true
        tail -5 "$log" >&2
    else
        summary+=("$t: ok, ${runs:-?} runs in ${seconds}s")
    fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
    echo "crashed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
