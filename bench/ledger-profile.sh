#!/usr/bin/env bash
# Where the CPU goes in `perf ledger` (needs `perf`): starts 3 real bookies (Release), runs the single-bookie ceiling
# and one replicated config, records a 10 s system-wide profile inside each measured window, and splits each
# process's CPU into busy work and spin-waiting (bench/cpu-split.py), per add.
# usage: bench/ledger-profile.sh [E,Qw,Qa]      (default 3,2,2; 64 writers, 1 KiB, pipeline 1 as ledger-perf.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-3,2,2}
dotnet build src/Cli -c Release -nologo -v:q >/dev/null
B=src/Cli/bin/Release/net10.0/pulsarish.dll
D=$(mktemp -d /tmp/pulsarish-bench.XXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait || true
  for p in "${PIDS[@]}"; do rm -f "/tmp/perf-$p.map" "/tmp/perfinfo-$p.map"; done
  rm -rf "$D"
}
trap cleanup EXIT
export DOTNET_PerfMapEnabled=1   # names for JIT-compiled frames
for i in 1 2 3; do
  dotnet $B bookie --journal-dir $D/b$i/j --ledgers-dir $D/b$i/l --index-dir $D/b$i/i --port 0 --log-level Warning \
    > $D/out$i.txt 2>$D/err$i.txt &
  PIDS+=($!)
done
ADDRS=()
for i in 1 2 3; do
  for _ in $(seq 1 300); do grep -q "bookie ready" $D/out$i.txt && break; sleep 0.1; done
  ADDRS+=($(awk '/bookie ready/{print $3}' $D/out$i.txt))
done
LIST=$(IFS=,; echo "${ADDRS[*]}")
# Each run: 2 s warm-up + 20 s measured; profiles at 6-16 s (ceiling) and 6-16 s into the replicated run.
timeout 120 dotnet $B perf ledger --bookies "$LIST" --writers 64 --entry-bytes 1024 --pipeline 1 --duration 20s \
  --warmup 2s --configs "$CONFIG" > $D/perf.txt &
GEN=$!
sleep 6
CLIENT=$(pgrep -P $GEN -x dotnet || echo $GEN)
PIDS+=($CLIENT)
perf record -q -F 999 -a -g -o $D/single.data -- sleep 10 2>/dev/null
sleep 12
perf record -q -F 999 -a -g -o $D/replicated.data -- sleep 10 2>/dev/null
wait $GEN
cat $D/perf.txt
SINGLE=$(awk 'NR==1{print $3}' $D/perf.txt)
REPL=$(awk 'NR==2{print $3}' $D/perf.txt)
WRITES=$(echo "$CONFIG" | cut -d, -f2)
BOOKIES=$(IFS=,; echo "${PIDS[*]:0:3}")
python3 bench/cpu-split.py $D/single.data 10 "bookie=${PIDS[0]}=$SINGLE" "client=$CLIENT=$SINGLE"
python3 bench/cpu-split.py $D/replicated.data 10 "bookies=$BOOKIES=$(awk -v r=$REPL -v w=$WRITES 'BEGIN{print r*w}')" \
  "client=$CLIENT=$REPL"
