#!/usr/bin/env bash
# Starts a real `pulsarish bookie` (Release) on temp dirs, runs `pulsarish perf bookie` against it, stops it.
# Prints the perf report plus the bookie's CPU time per add (utime+stime from /proc over the whole run, warm-up
# included, divided by the adds of the run scaled to warm-up + measured time).
# usage: bench/bookie-perf.sh GROUP_WAIT_MICROS WRITERS ENTRY_BYTES PIPELINE DURATION [more perf args]
#   e.g. --transport single (one Add stream and one message per add per writer) instead of the default
#   --transport batch (writers share one AddBatch stream, as the ledger client does).
set -euo pipefail
cd "$(dirname "$0")/.."
G=$1; W=$2; E=$3; P=$4; T=$5; shift 5
dotnet build src/Cli -c Release -nologo -v:q >/dev/null
B=src/Cli/bin/Release/net10.0/pulsarish.dll
D=$(mktemp -d /tmp/pulsarish-bench.XXXX)
trap 'rm -rf "$D"' EXIT
dotnet $B bookie --journal-dir $D/j --ledgers-dir $D/l --index-dir $D/i --port 0 --log-level Warning \
  --group-wait-micros $G > $D/out.txt 2>$D/err.txt &
PID=$!
for _ in $(seq 1 200); do grep -q "bookie ready" $D/out.txt && break; sleep 0.1; done
ADDR=$(awk '/bookie ready/{print $3}' $D/out.txt)
ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
T0=$(ticks)
timeout 180 dotnet $B perf bookie --address "$ADDR" --writers $W --entry-bytes $E --pipeline $P --duration $T \
  --warmup 2s --ceiling-dir $D/j "$@" | tee $D/perf.txt
T1=$(ticks)
kill -TERM $PID; wait $PID || true
HZ=$(getconf CLK_TCK)
awk -v t0=$T0 -v t1=$T1 -v hz=$HZ -v dur=${T%s} '/adds\/s/ {rate=$2} END {
  adds = rate * (dur + 2); printf "  bookie CPU %.1f µs per add (%.1f s CPU over ~%d adds)\n", (t1-t0)/hz*1e6/adds, (t1-t0)/hz, adds }' $D/perf.txt
