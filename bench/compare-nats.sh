#!/usr/bin/env bash
# Pulsarish standalone vs NATS JetStream (file storage), same machine, same message size and client window.
# Needs: .NET 10 SDK, Debian package nats-server. Every process is bound to 127.0.0.1 and stopped by PID.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dur="${DURATION:-20}"
rate="${RATE:-0}"
warm="${WARMUP:-10}"   # seconds left out of the figures (JIT tier-up of server and clients)
data="$(mktemp -d)"
dotnet build "$here/src/Cli" -c Release -nologo -v:q >/dev/null
dotnet build "$here/bench/NatsBench" -c Release -nologo -v:q >/dev/null
p="dotnet $here/src/Cli/bin/Release/net10.0/pulsarish.dll"

pulsarish_half() {
  $p standalone --data-dir "$data/pulsarish" --port 16651 >"$data/standalone.log" 2>&1 &
  sa=$!
  until grep -q "standalone ready" "$data/standalone.log"; do sleep 1; done
  $p perf consume bench --url 127.0.0.1:16651 -d "$((dur + 4))s" -i 1 --warmup "$((warm + 3))s" >"$data/consume.log" 2>&1 &
  pc=$!
  sleep 3
  $p perf produce bench --url 127.0.0.1:16651 -d "${dur}s" -s 1024 -r "$rate" -i 10 --warmup "${warm}s" | tail -1
  wait $pc; tail -1 "$data/consume.log"
  kill $sa; wait $sa || true
}

nats_half() {
  nats-server -js -sd "$data/nats" -a 127.0.0.1 -p 14222 >"$data/nats.log" 2>&1 &
  ns=$!
  sleep 2
  dotnet "$here/bench/NatsBench/bin/Release/net10.0/NatsBench.dll" --url nats://127.0.0.1:14222 --duration "$dur" --size 1024 --window 1000 --rate "$rate" --warmup "$warm"
  kill $ns; wait $ns || true
}

# ORDER=nats-first runs NATS before Pulsarish (the machine drifts between the halves; alternate to see it).
if [ "${ORDER:-}" = nats-first ]; then nats_half; pulsarish_half; else pulsarish_half; nats_half; fi
rm -rf "$data"
