#!/usr/bin/env bash
# Local stand-ins for AWS: DynamoDB Local (DynamoDB) and moto (SQS, S3).
# services.env also lengthens the SDK timeouts: the stand-ins answer far
# slower than AWS under a test run's load.
#   scripts/services.sh start DIR  start both on free loopback ports; writes
#                                  DIR/services.env, DIR/pids, DIR/*.log
#   scripts/services.sh stop DIR   stop exactly the processes in DIR/pids
# Several DIRs can run side by side (parallel test runs).
set -euo pipefail
source "$(dirname "$0")/common.sh"

[[ $# -eq 2 && ($1 == start || $1 == stop) ]] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[[ $1 == start || -d $2 ]] || exit 0 # stopping a DIR that never existed
mkdir -p "$2"
dir=$(cd "$2" && pwd)

alive() { kill -0 "$1" 2>/dev/null; }

# Kill the pids listed in DIR/pids, wait for them to exit, forget them (logs stay).
stop() {
  [[ -f $dir/pids ]] || return 0
  local pid pids
  pids=$(cat "$dir/pids")
  for pid in $pids; do
    # Guard against pid reuse: only kill what still looks like one of ours.
    if alive "$pid" && ps -o args= -p "$pid" | grep -qE 'DynamoDBLocal|moto_server'; then
      kill "$pid"
    fi
  done
  for pid in $pids; do
    for _ in $(seq 100); do alive "$pid" || break; sleep 0.1; done
    if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -f "$dir/pids" "$dir/services.env"
}

# Any HTTP answer at all (even 400/404) means the server is up.
answers() { [[ $(curl -s -o /dev/null -m 2 -w '%{http_code}' "$1") != 000 ]]; }

if [[ $1 == stop ]]; then
  stop
  exit 0
fi

# Already running for this DIR? Then there is nothing to do.
if [[ -f $dir/pids && -f $dir/services.env ]]; then
  running=1
  for pid in $(cat "$dir/pids"); do alive "$pid" || running=0; done
  if ((running)); then echo "services already running ($dir)" >&2; exit 0; fi
  stop # a half-dead set: clear it and start afresh
fi

# Two distinct free ports, both held open while picking so they differ.
read -r ddb_port moto_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')

ddb=$(ddb_local_dir)
[[ -f $ddb/DynamoDBLocal.jar ]] || { echo "DynamoDB Local missing: run scripts/tools.sh" >&2; exit 1; }

# If anything below fails, do not leave half a stack behind.
trap 'stop' ERR

# DynamoDB Local has no bind-address flag: it listens on all interfaces.
# -disableTelemetry: it would otherwise try to reach AWS, which is unreachable here.
(cd "$dir" && exec java -Djava.library.path="$ddb/DynamoDBLocal_lib" -jar "$ddb/DynamoDBLocal.jar" \
  -inMemory -disableTelemetry -port "$ddb_port") </dev/null >"$dir/dynamodb.log" 2>&1 &
echo $! >"$dir/pids"
moto_server -H 127.0.0.1 -p "$moto_port" </dev/null >"$dir/moto.log" 2>&1 &
echo $! >>"$dir/pids"

for url in "http://127.0.0.1:$ddb_port/" "http://127.0.0.1:$moto_port/moto-api/"; do
  for _ in $(seq 300); do
    answers "$url" && break
    for pid in $(cat "$dir/pids"); do
      alive "$pid" || { echo "a service died on start; see $dir/*.log" >&2; tail -n 20 "$dir"/*.log >&2; false; }
    done
    sleep 0.2
  done
  answers "$url" || { echo "$url did not answer within 60 s; see $dir/*.log" >&2; false; }
done
trap - ERR

cat >"$dir/services.env.tmp" <<EOF
AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$ddb_port
AWS_ENDPOINT_URL_DYNAMODB_STREAMS=http://127.0.0.1:$ddb_port
AWS_ENDPOINT_URL_SQS=http://127.0.0.1:$moto_port
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$moto_port
AWS_ENDPOINT_URL_SCHEDULER=http://127.0.0.1:$moto_port
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
AWS_REGION=us-east-1
AWS_DEFAULT_REGION=us-east-1
AWS_EC2_METADATA_DISABLED=true
FOLIO_AWS_ATTEMPT_TIMEOUT_SECONDS=60
FOLIO_AWS_OPERATION_TIMEOUT_SECONDS=120
EOF
mv "$dir/services.env.tmp" "$dir/services.env" # appears only once complete
echo "services up: dynamodb :$ddb_port, moto :$moto_port ($dir)" >&2
