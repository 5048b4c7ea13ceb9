#!/usr/bin/env bash
# The long `pulsarish verify` campaign: starts `pulsarish cluster up` (ZooKeeper, 3 bookies, 2 brokers, Release
# build) on a free-ish port range in a temp directory, runs `pulsarish verify run` against it, prints the results
# table, and stops the cluster. Copy the table into bench/VERIFY.md with the date and the command.
# usage: bench/verify-campaign.sh [--runs 20] [--duration 60s] [--faults LIST] [--seed N] [more 'verify run' args]
# Environment: BASE_PORT (default 46100), BOOKIES (3), BROKERS (2), SESSION_MS (6000; pauses last SESSION_MS + 2 s),
# KEEP=1 keeps the data directory (ack logs, member logs).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=20
DURATION=60s
FAULTS=kill-broker,kill-bookie,kill-bookies:2,pause-broker,pause-bookie,kill-zookeeper,rolling-restart,torn-journal,isolate-broker-from-zookeeper,isolate-bookie-from-zookeeper
ARGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --faults) FAULTS=$2; shift 2 ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
dotnet build src/Cli -c Release -nologo -v:q -clp:ErrorsOnly
B=src/Cli/bin/Release/net10.0/pulsarish.dll
D=$(mktemp -d /tmp/pulsarish-verify.XXXX)
SESSION_MS=${SESSION_MS:-6000}
# The supervisor must not kill a member paused for SESSION_MS + 2 s: its heartbeat timeout is well above that.
dotnet $B cluster up --data "$D/cluster" --bookies "${BOOKIES:-3}" --brokers "${BROKERS:-2}" --base-port "${BASE_PORT:-46100}" \
  --zk-tick-ms 500 --metadata-session-timeout-ms "$SESSION_MS" --heartbeat-timeout-ms $((SESSION_MS * 3 + 10000)) \
  --restart-backoff-ms 500 --fault-proxies > "$D/cluster.out" 2>&1 &
SUP=$!
cleanup() {
  kill -TERM $SUP 2>/dev/null || true
  wait $SUP 2>/dev/null || true
  if [ -z "${KEEP:-}" ]; then rm -rf "$D"; else echo "data kept in $D"; fi
}
trap cleanup EXIT
for _ in $(seq 1 600); do grep -q "cluster ready" "$D/cluster.out" && break; sleep 0.5; done
grep -q "cluster ready" "$D/cluster.out" || { echo "cluster not ready:"; cat "$D/cluster.out"; exit 1; }
echo "$(date -u '+%Y-%m-%d %H:%M UTC') verify run --faults $FAULTS --runs $RUNS --duration $DURATION ${ARGS[*]:-}"
set +e
dotnet $B verify run --data "$D/cluster" --faults "$FAULTS" --runs "$RUNS" --duration "$DURATION" \
  --results "$D/results.md" "${ARGS[@]}"
CODE=$?
set -e
echo
cat "$D/results.md"
exit $CODE
