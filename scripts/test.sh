#!/usr/bin/env bash
# The whole test suite: installs the local AWS endpoint if needed, then runs every test
# (unit tests and the integration tests, which start their own endpoint per test).
set -euo pipefail
cd "$(dirname "$0")/.."
# One warm target directory outside the clone, shared by every checkout on this machine,
# so a fresh clone does not rebuild the AWS SDK crates.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/terrane/target}"
scripts/setup.sh
# The integration tests live outside their package (top-level tests/), and cargo tracks
# such files by absolute path: with a target directory shared between checkouts, a build
# from another checkout could pass for this one's. Forgetting the CLI crate's fingerprints
# makes cargo rebuild just that crate (under a minute), from this checkout.
rm -rf "$CARGO_TARGET_DIR"/debug/.fingerprint/terrane-cli-*
cargo fmt --all --check
cargo test --workspace --locked "$@"
