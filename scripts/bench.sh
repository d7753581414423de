#!/usr/bin/env bash
# Run the benchmark (package folio-bench) against fresh local services.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

scripts/tools.sh

svc=$ROOT/target/bench-services
scripts/services.sh stop "$svc"
rm -rf "$svc"
trap 'scripts/services.sh stop "$svc"' EXIT
scripts/services.sh start "$svc"

set -a
source "$svc/services.env"
set +a

cargo run --release -p folio-bench -- "$@"
