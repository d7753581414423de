#!/usr/bin/env bash
# Everything CI checks: pinned tools, fresh local services, build, tests, template lint.
# The services it starts are always stopped, also when a step fails.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

scripts/tools.sh

svc=$ROOT/target/test-services
scripts/services.sh stop "$svc" # leftovers of an interrupted run, if any
rm -rf "$svc"
trap 'scripts/services.sh stop "$svc"' EXIT
scripts/services.sh start "$svc"

set -a
source "$svc/services.env"
set +a

cargo build --workspace --bins
cargo test --workspace -- --test-threads 8

# sam (Python) reads its region from AWS_DEFAULT_REGION, which services.env sets.
sam validate --lint
