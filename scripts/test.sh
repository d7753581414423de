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
log=$ROOT/target/test-output.log
cargo test --workspace -- --test-threads 8 2>&1 | tee "$log"

# The published contract: openapi.yaml is a valid OpenAPI 3.1 document (the
# cargo tests above check it is the one the endpoint table generates).
"$CONTRACT_VENV/bin/openapi-spec-validator" openapi.yaml
# ...which schemathesis holds the served API to, and the official ButterCMS
# clients read through (scripts/contract.sh: ~2 minutes).
scripts/contract.sh

# sam (Python) reads its region from AWS_DEFAULT_REGION, which services.env sets.
sam validate --lint

# One closing line for the whole run: every cargo test binary's counts summed.
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
