#!/usr/bin/env bash
# Starts a real `pulsarish bookie` (Release) on temp dirs, runs `pulsarish perf bookie` against it, stops it.
# Prints the perf report plus the bookie's CPU time per add (utime+stime from /proc over the whole run, warm-up
# included, divided by the adds of the run scaled to warm-up + measured time) and the load generator's.
# BENCH_JOURNAL_DIR puts the bookie's journal elsewhere (e.g. /dev/shm: fsync costs nothing there, which shows
# what the bookie and the load generator reach on this CPU alone); the disk ceiling stays on the temp dir.
# BOOKIE_ARGS adds arguments to the bookie process (e.g. --buffered-writes).
# usage: bench/bookie-perf.sh GROUP_WAIT_MICROS WRITERS ENTRY_BYTES PIPELINE DURATION [more perf args]
#   e.g. --transport single (one Add stream and one message per add per writer) instead of the default
#   --transport batch (writers share one AddBatch stream, as the ledger client does).
set -euo pipefail
cd "$(dirname "$0")/.."
G=$1; W=$2; E=$3; P=$4; T=$5; shift 5
dotnet build src/Cli -c Release -nologo -v:q >/dev/null
B=src/Cli/bin/Release/net10.0/pulsarish.dll
D=$(mktemp -d /tmp/pulsarish-bench.XXXX)
J=$D/j
if [ -n "${BENCH_JOURNAL_DIR:-}" ]; then J=$(mktemp -d "$BENCH_JOURNAL_DIR/pulsarish-journal.XXXX"); fi
trap 'rm -rf "$D" "$J"' EXIT
dotnet $B bookie --journal-dir $J --ledgers-dir $D/l --index-dir $D/i --port 0 --log-level Warning \
  --group-wait-micros $G ${BOOKIE_ARGS:-} > $D/out.txt 2>$D/err.txt &
PID=$!
for _ in $(seq 1 200); do grep -q "bookie ready" $D/out.txt && break; sleep 0.1; done
ADDR=$(awk '/bookie ready/{print $3}' $D/out.txt)
ticks() { awk '{print $14 + $15}' /proc/$PID/stat; }
T0=$(ticks)
TIMEFORMAT='%U %S'
{ time timeout 180 dotnet $B perf bookie --address "$ADDR" --writers $W --entry-bytes $E --pipeline $P --duration $T \
  --warmup 2s --ceiling-dir $D "$@" > $D/perf.txt ; } 2> $D/client-time.txt
T1=$(ticks)
cat $D/perf.txt
kill -TERM $PID; wait $PID || true
HZ=$(getconf CLK_TCK)
awk -v t0=$T0 -v t1=$T1 -v hz=$HZ -v dur=${T%s} '/adds\/s/ {rate=$2} END {
  adds = rate * (dur + 2); printf "  bookie CPU %.1f µs per add (%.1f s CPU over ~%d adds)\n", (t1-t0)/hz*1e6/adds, (t1-t0)/hz, adds }' $D/perf.txt
# The load generator's CPU includes its two 5 s disk-ceiling measurements (mostly waiting on fdatasync).
read -r CU CS < <(tail -1 $D/client-time.txt)
awk -v u=$CU -v s=$CS -v dur=${T%s} '/adds\/s/ {rate=$2} END {
  adds = rate * (dur + 2); printf "  load generator CPU %.1f µs per add (%.1f s CPU, ceiling runs included)\n", (u+s)*1e6/adds, u+s }' $D/perf.txt
