#!/usr/bin/env bash
# Run the benchmark (package folio-bench) against fresh local services.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

scripts/tools.sh

# What is measured: x86_64 release binaries (cold start) and the arm64
# bootstraps Lambda would run (size); cargo lambda adds the Rust target if missing.
cargo build --release --workspace --bins
cargo lambda build --release --arm64 $(for f in functions/*/; do printf -- '-p %s ' "$(basename "$f")"; done)

svc=$ROOT/target/bench-services
scripts/services.sh stop "$svc"
rm -rf "$svc"
trap 'scripts/services.sh stop "$svc"' EXIT
scripts/services.sh start "$svc"

set -a
source "$svc/services.env"
set +a

cargo run --release -p folio-bench -- "$@"
