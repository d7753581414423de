#!/usr/bin/env bash
# Local dev stack: DynamoDB Local + moto, a demo organization with an admin
# token, `cargo lambda watch` serving the API on 127.0.0.1:9000, and the
# triggers AWS would run (folio-pump): the table's stream → the relay → the
# events queue, the events queue → the worker, and the deliveries queue → the
# deliverer (webhooks; receivers on 127.0.0.1 are allow-listed here only).
#   scripts/dev.sh        start (services are reused if running); prints a curl example
#   scripts/dev.sh stop   stop what it started, by the pids saved in .folio/
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$ROOT"

state=$ROOT/.folio
svc=$state/services
port=9000
api=http://127.0.0.1:$port

alive() { kill -0 "$1" 2>/dev/null; }

stop_pump() {
  [[ -f $state/pump.pid ]] || return 0
  local pid
  pid=$(cat "$state/pump.pid")
  if alive "$pid" && ps -o args= -p "$pid" | grep -q folio-pump; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$state/pump.pid"
}

stop_watch() {
  [[ -f $state/watch.pid ]] || return 0
  local pid
  pid=$(cat "$state/watch.pid")
  # watch leads its own process group (setsid below); signalling the group
  # also stops the function processes it spawned.
  if alive "$pid" && ps -o args= -p "$pid" | grep -q lambda; then
    kill -- "-$pid" 2>/dev/null || true
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 -- "-$pid" 2>/dev/null || true; fi
  fi
  rm -f "$state/watch.pid"
}

case ${1:-start} in
  start) ;;
  stop)
    stop_pump
    stop_watch
    scripts/services.sh stop "$svc"
    echo "dev stack stopped" >&2
    exit 0
    ;;
  *) echo "usage: $0 [start|stop]" >&2; exit 2 ;;
esac

scripts/tools.sh
mkdir -p "$state"
scripts/services.sh start "$svc" # a no-op when they are already running
cargo build --workspace --bins

set -a
source "$svc/services.env"
set +a

admin=target/debug/folio-admin
init=$("$admin" init) # creates table and queue if missing; prints their names
table=$(sed -n 's/^FOLIO_TABLE=//p' <<<"$init")
queue=$(sed -n 's/^FOLIO_QUEUE_URL=//p' <<<"$init")
dlq=$(sed -n 's/^FOLIO_DLQ_URL=//p' <<<"$init")
deliveries=$(sed -n 's/^FOLIO_DELIVERIES_QUEUE_URL=//p' <<<"$init")
deliveries_dlq=$(sed -n 's/^FOLIO_DELIVERIES_DLQ_URL=//p' <<<"$init")
media_bucket=$(sed -n 's/^FOLIO_MEDIA_BUCKET=//p' <<<"$init")
media_base=$(sed -n 's/^FOLIO_MEDIA_BASE_URL=//p' <<<"$init")
schedules=$(grep '^FOLIO_SCHEDULE' <<<"$init") # group, target, DLQ and role
# The key sealing webhook secrets: made once, kept with the local data
# (a new key would make the stored secrets unreadable).
if [[ ! -s $state/webhook-key ]]; then
  (umask 077 && head -c 32 /dev/urandom | base64 >"$state/webhook-key")
fi
if [[ -z $table || -z $queue ]]; then
  echo "folio-admin init did not print FOLIO_TABLE= and FOLIO_QUEUE_URL= lines:" >&2
  echo "$init" >&2
  exit 1
fi
export FOLIO_TABLE=$table FOLIO_QUEUE_URL=$queue
"$admin" org create demo --locales en,es --default-locale en # exits 0 if it exists
token=$("$admin" token create --org demo --scope admin --scope write --scope read)

{
  cat "$svc/services.env"
  echo "FOLIO_TABLE=$table"
  echo "FOLIO_QUEUE_URL=$queue"
  echo "FOLIO_DLQ_URL=$dlq"
  echo "FOLIO_DELIVERIES_QUEUE_URL=$deliveries"
  echo "FOLIO_DELIVERIES_DLQ_URL=$deliveries_dlq"
  echo "FOLIO_WEBHOOK_KEY='$(cat "$state/webhook-key")'"
  echo "FOLIO_OUTBOUND_ALLOW='127.0.0.1/32,::1/128'"
  echo "FOLIO_WEBHOOK_RETRY_BASE_SECONDS=5"
  echo "FOLIO_MEDIA_BUCKET=$media_bucket"
  echo "FOLIO_MEDIA_BASE_URL=$media_base"
  echo "$schedules"
  # A schedule may be a second ahead, so a person can watch one fire.
  echo "FOLIO_SCHEDULE_MIN_LEAD_SECONDS=1"
  echo "FOLIO_DEV_TOKEN=$token"
  echo "FOLIO_API=$api"
} >"$state/dev.env"
set -a
source "$state/dev.env"
set +a

# Restart watch so that it serves with the env just written.
# The triggers AWS would run: every committed change → the relay → SQS, and
# SQS → the worker. The stream position survives restarts (as on AWS).
stop_pump
FOLIO_PUMP_CHECKPOINT=$state/stream-checkpoint.json \
  target/debug/folio-pump </dev/null >"$state/pump.log" 2>&1 &
echo $! >"$state/pump.pid"

stop_watch
setsid cargo lambda watch -A 127.0.0.1 -P "$port" --env-file "$state/dev.env" \
  </dev/null >"$state/watch.log" 2>&1 &
echo $! >"$state/watch.pid"

# The first request waits for watch to compile and boot the function; any HTTP
# status means the stack is serving.
echo "waiting for $api (log: $state/watch.log)" >&2
deadline=$((SECONDS + 900))
until [[ $(curl -s -o /dev/null -m 600 -w '%{http_code}' "$api/v2/collections/") != 000 ]]; do
  if ! alive "$(cat "$state/watch.pid")" || ((SECONDS > deadline)); then
    echo "cargo lambda watch did not come up; last lines of $state/watch.log:" >&2
    tail -n 30 "$state/watch.log" >&2
    stop_watch
    exit 1
  fi
  sleep 1
done

# `cargo lambda watch` starts a function on its first request (a `cargo run`
# each, ~4 s, queued on cargo's lock when many start at once). Start them all
# now, one at a time, so that a person's first request to any endpoint is
# answered at once: one request without a token per function (its 401).
echo "starting every function" >&2
python3 - "$ROOT/Cargo.toml" <<'PY' |
import sys, tomllib
routes = tomllib.load(open(sys.argv[1], "rb"))["workspace"]["metadata"]["lambda"]["watch"]["router"]
class Ids(dict):
    # Any path parameter a route adds gets a value that parses as an id.
    def __missing__(self, name):
        return "01JF0000000000000000000000"
ids = Ids({"collection_key": "warm", "item_id": "01JF0000000000000000000000",
           "webhook_id": "warm", "delivery_id": "msg_0", "version": "1", "other": "2"})
seen = set()
for path, targets in routes.items():
    if not path.endswith("/"):
        continue
    for t in targets:
        if t["function"] not in seen:
            seen.add(t["function"])
            print(t["method"], path.format_map(ids), t["function"])
PY
  while read -r method path function; do
    code=$(curl -s -o /dev/null -m 300 -w '%{http_code}' -X "$method" "$api$path")
    [[ $code == 401 ]] || echo "  $function answered $code to its warm-up request" >&2
  done

cat <<EOF

Folio is serving on $api (log: $state/watch.log). The pipeline's log is
$state/pump.log: the relay's batches, the worker's "event received" and
"job done" lines, and every "webhook attempt" (tail -f it to watch events
flow). Try:

set -a; . $state/dev.env; set +a
curl -sS -w '\n' -X PUT "\$FOLIO_API/v2/collections/team_members/" \\
  -H "Authorization: Token \$FOLIO_DEV_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"name":"Team members","fields":[{"key":"name","type":"text","required":true}]}'
curl -sS -w '\n' -X POST "\$FOLIO_API/v2/content/" \\
  -H "Authorization: Token \$FOLIO_DEV_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"key":"team_members","status":"published","fields":[{"en":{"name":"Ada"}}]}'

Webhooks: register a receiver on 127.0.0.1 (allow-listed in make dev only),
then start it with the secret the 201 shows (once) and create an item:

curl -sS -w '\n' -X PUT "\$FOLIO_API/v2/webhooks/local/" \\
  -H "Authorization: Token \$FOLIO_DEV_TOKEN" -H 'Content-Type: application/json' \\
  -d '{"url":"http://127.0.0.1:4000/","events":["collectionitem.*"]}'
FOLIO_WEBHOOK_SECRET=whsec_... target/debug/folio-receiver 4000

Stop everything with: make dev-stop
EOF
