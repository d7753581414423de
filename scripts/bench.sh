#!/usr/bin/env bash
# Run the benchmark (package folio-bench) against fresh local services.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

# Where the time goes: each phase before the bench, in seconds, handed to
# it (FOLIO_BENCH_PHASES) with when the run began.
export FOLIO_BENCH_STARTED_AT=$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)
phases=()
lap_start=${EPOCHREALTIME/./}
secs() { echo "$(($1 / 1000000)).$(($1 % 1000000 / 100000))"; }
lap() {
  local now=${EPOCHREALTIME/./}
  phases+=("$1=$(secs $((now - lap_start)))")
  lap_start=$now
}

scripts/tools.sh
# The Node.js peer of the cold start (bench/peers/): the AWS SDK v3's
# DynamoDB client, pinned, beside a copy of the handler (an ES module finds
# its packages from where it lies).
NODE_PEER_SDK=@aws-sdk/client-dynamodb@3.1178.0
peer=.tools/bench-node
if [[ ! -d $peer/node_modules/@aws-sdk/client-dynamodb || "$(cat "$peer/.sdk" 2>/dev/null)" != "$NODE_PEER_SDK" ]]; then
  npm install --prefix "$peer" --no-fund --no-audit --loglevel=error "$NODE_PEER_SDK" >/dev/null
  echo "$NODE_PEER_SDK" >"$peer/.sdk"
fi
cp bench/peers/node_sdk_v3.mjs "$peer/"
lap tools

# What is measured: x86_64 release binaries (cold start) and the arm64
# bootstraps Lambda would run (size); cargo lambda adds the Rust target if missing.
cargo build --release --workspace --bins
lap build_x86_64
cargo lambda build --release --arm64 $(for f in functions/*/; do printf -- '-p %s ' "$(basename "$f")"; done)
lap build_arm64

svc=$ROOT/target/bench-services
trap 'scripts/services.sh stop "$svc"' EXIT
services_us=0
fresh_services() {
  local t=${EPOCHREALTIME/./}
  scripts/services.sh stop "$svc" >/dev/null
  rm -rf "$svc"
  scripts/services.sh start "$svc"
  set -a
  # shellcheck disable=SC1091
  source "$svc/services.env"
  set +a
  services_us=$((services_us + ${EPOCHREALTIME/./} - t))
}

# The binary the workspace build made: `cargo run -p folio-bench` would
# resolve features for that package alone and build its dependencies again.
target=${CARGO_TARGET_DIR:-$ROOT/target}
bench=$target/release/folio-bench

if [[ -n ${FOLIO_BENCH_ONLY:-} ]]; then
  # One section: target/bench-<section>.json, BENCHMARKS.md left alone.
  fresh_services
  "$bench" "$@"
  exit
fi

# A whole run: each section in a process of its own on fresh services
# (DynamoDB Local slows down as a run's writes pile up), then one JSON and
# one page from all of them. A section that fails is reported missing; the
# others still land.
rm -f "$target"/bench-*.json
sections=()
for section in $("$bench" --sections); do
  fresh_services
  started=${EPOCHREALTIME/./}
  FOLIO_BENCH_ONLY=$section "$bench" >/dev/null || echo "bench: section $section failed" >&2
  sections+=("$section=$(secs $((${EPOCHREALTIME/./} - started)))")
done
phases+=("services=$(secs "$services_us")" "${sections[@]}")
FOLIO_BENCH_PHASES=$(IFS=,; echo "${phases[*]}") FOLIO_BENCH_MERGE=1 "$bench"
