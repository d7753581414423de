#!/usr/bin/env bash
# Everything CI checks: pinned tools, fresh local services, build, tests, template lint.
# The services it starts are always stopped, also when a step fails.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

scripts/tools.sh

svc=$ROOT/target/test-services
trap 'scripts/services.sh stop "$svc"; scripts/services.sh stop "$svc.old"' EXIT

# Fresh services (DynamoDB Local, moto) in $svc, their settings exported.
# The previous ones (or an interrupted run's) move to $svc.old and stop
# while the new ones start: a stop takes ~2 s, mostly the JVM exiting, and
# a start ~2 s; one after the other they cost ~4 s a restart.
fresh_services() {
  local stopping=
  scripts/services.sh stop "$svc.old"
  rm -rf "$svc.old"
  if [[ -d $svc ]]; then
    mv "$svc" "$svc.old"
    scripts/services.sh stop "$svc.old" &
    stopping=$!
  fi
  scripts/services.sh start "$svc"
  [[ -z $stopping ]] || wait "$stopping"
  set -a
  source "$svc/services.env"
  set +a
}

cargo build --workspace --bins
cargo test --workspace --no-run

# Each cargo test run below gets services of its own: DynamoDB Local slows
# as a run goes on, whatever the tables left (a test file took 25 s on fresh
# services and 92-115 s late in one long run, every earlier table already
# dropped), so one instance for the whole run made each file pay for the
# ones before it. A restart costs ~2 s. Every run runs, also after a
# failure; the script fails after.
log=$ROOT/target/test-output.log
: >"$log"
failed=()
run() {
  local name=$1
  shift
  fresh_services
  cargo test "$@" 2>&1 | tee -a "$log" || failed+=("$name")
}
threads=(--test-threads 8)
# The unit tests of every library (folio, folio-local, folio-tests).
run "unit tests" --workspace --lib -- "${threads[@]}"
# The integration tests are one binary, tests/tests/suite (linking the AWS
# SDK and folio once, not once per file), with a module per file; each
# module runs on its own services, by the exact names of its tests.
suite=(-p folio-tests --test suite)
listed=$(cargo test -q "${suite[@]}" -- --list --format terse | sed -n 's/: test$//p')
# A test file beside suite/ would be a binary of its own that no run below
# reaches: refuse it rather than skip it.
for t in tests/tests/*.rs; do
  [[ -e $t ]] || continue
  echo "$t: integration tests live in tests/tests/suite/ (a module in its main.rs)" >&2
  failed+=("$(basename "$t" .rs)")
done
scheduled=0
for t in tests/tests/suite/*.rs; do
  name=$(basename "$t" .rs)
  [[ $name != main ]] || continue
  mapfile -t tests < <(grep "^$name::" <<<"$listed" || true)
  if ((${#tests[@]} == 0)); then
    echo "$t: no tests listed (a mod in tests/tests/suite/main.rs?)" >&2
    failed+=("$name")
    continue
  fi
  scheduled=$((scheduled + ${#tests[@]}))
  run "$name" "${suite[@]}" -- --exact "${tests[@]}" "${threads[@]}"
done
# Every listed test ran in one module's run (none in main.rs or a mod.rs).
if ((scheduled != $(grep -c . <<<"$listed"))); then
  echo "the suite lists $(grep -c . <<<"$listed") tests, the module runs took $scheduled" >&2
  failed+=("suite listing")
fi
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}" >&2
  exit 1
fi
fresh_services # for the contract run below

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
