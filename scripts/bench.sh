#!/usr/bin/env bash
# Regenerates docs/benchmarks.md: builds the release `terrane` binary and the benchmark
# command once, then runs every benchmark (start-up, offline engine, API calls per
# resource, apply against the critical path) in one go. Needs moto in .venv
# (scripts/setup.sh). Extra arguments go to `terrane-bench all` (e.g. --runs 5).
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/moto_server ] || scripts/setup.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release -p terrane-cli -p terrane-bench
"$CARGO_TARGET_DIR/release/terrane-bench" all \
  --terrane "$CARGO_TARGET_DIR/release/terrane" \
  --out docs/benchmarks.md "$@"
