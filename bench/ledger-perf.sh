#!/usr/bin/env bash
# Starts 3 real `pulsarish bookie` processes (Release) on temp dirs, runs `pulsarish perf ledger` against them
# (a single-bookie ceiling run first, then each E,Qw,Qa), stops them.
# usage: bench/ledger-perf.sh WRITERS ENTRY_BYTES PIPELINE DURATION [more perf args, e.g. --configs "3,2,2 3,3,2"]
set -euo pipefail
cd "$(dirname "$0")/.."
W=$1; E=$2; P=$3; T=$4; shift 4
dotnet build src/Cli -c Release -nologo -v:q >/dev/null
B=src/Cli/bin/Release/net10.0/pulsarish.dll
D=$(mktemp -d /tmp/pulsarish-bench.XXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -TERM $p 2>/dev/null || true; done; wait; rm -rf "$D"' EXIT
ADDRS=()
for i in 1 2 3; do
  dotnet $B bookie --journal-dir $D/b$i/j --ledgers-dir $D/b$i/l --index-dir $D/b$i/i --port 0 --log-level Warning \
    > $D/out$i.txt 2>$D/err$i.txt &
  PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 1 300); do grep -q "bookie ready" $D/out$i.txt && break; sleep 0.1; done
  ADDRS+=($(awk '/bookie ready/{print $3}' $D/out$i.txt))
done
LIST=$(IFS=,; echo "${ADDRS[*]}")
timeout 600 dotnet $B perf ledger --bookies "$LIST" --writers $W --entry-bytes $E --pipeline $P --duration $T "$@"
