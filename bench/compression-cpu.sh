#!/usr/bin/env bash
# Broker CPU per message at saturation, per producer compression codec: for each codec a fresh `pulsarish standalone`
# (broker + 3 bookies in one process), `perf consume` draining, `perf produce` of a 1 KiB compressible JSON payload.
# CPU is the standalone process's utime+stime from /proc/<pid>/stat over the measured produce run (after a warm-up
# run), divided by the messages published in it. Every process binds 127.0.0.1 and is stopped by PID.
# Usage: bench/compression-cpu.sh [codec ...]   (default: none lz4); DURATION=20 WARMUP=10 seconds, RATE=0 (saturation).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dur="${DURATION:-20}"
warm="${WARMUP:-10}"
port="${PORT:-16661}"
rate="${RATE:-0}"   # messages/s of perf produce, 0 = saturation
codecs=("$@")
[ ${#codecs[@]} -eq 0 ] && codecs=(none lz4)
# PULSARISH_DLL: run a copy of the CLI's build output instead of building src/Cli here.
if [ -z "${PULSARISH_DLL:-}" ]; then dotnet build "$here/src/Cli" -c Release -nologo -v:q >/dev/null; fi
p="dotnet ${PULSARISH_DLL:-$here/src/Cli/bin/Release/net10.0/pulsarish.dll}"
work="$(mktemp -d)"
tick="$(getconf CLK_TCK)"
sa=""; pc=""
cleanup() { [ -n "$pc" ] && kill "$pc" 2>/dev/null; [ -n "$sa" ] && kill "$sa" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# 10 000 distinct 1 KiB lines of JSON order records (repetitive field names, varying values); perf produce sends a
# random line per message, so a batch holds distinct messages.
python3 - "$work/payload.json" <<'PY'
import json, random, sys
random.seed(1)
lines, i = [], 0
for _ in range(10000):
    line = ""
    while len(line) < 1024:
        line += json.dumps({"orderId": 100000 + i, "customer": f"customer-{random.randint(1, 100000)}",
                            "status": random.choice(["NEW", "PAID", "SHIPPED", "CANCELLED"]),
                            "amount": round(random.uniform(1, 5000), 2), "currency": random.choice(["EUR", "USD"]),
                            "sku": "%08x" % random.getrandbits(32), "items": random.randint(1, 9)}) + ","
        i += 1
    lines.append(line[:1024])
open(sys.argv[1], "w").write("\n".join(lines) + "\n")
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

printf '| codec | published msg/s | consumed msgs (whole run) | standalone CPU s | standalone CPU µs/msg | data dir MB |\n|---|---|---|---|---|---|\n'
run=0
for codec in "${codecs[@]}"; do
  run=$((run + 1))
  data="$work/data-$run-$codec"
  $p standalone --data-dir "$data" --port "$port" --metrics-port 0 >"$work/standalone-$codec.log" 2>&1 &
  sa=$!
  until grep -q "standalone ready" "$work/standalone-$codec.log"; do sleep 1; kill -0 "$sa"; done
  $p perf consume "bench-$codec" --service-url "127.0.0.1:$port" -d "$((warm + dur + 30))s" -i 60 --json >"$work/consume-$codec.json" 2>&1 &
  pc=$!
  sleep 3
  $p perf produce "bench-$codec" --service-url "127.0.0.1:$port" -d "${warm}s" -r "$rate" --compression "$codec" \
    --payload-file "$work/payload.json" -i 60 --json >/dev/null
  before="$(cpu_ticks "$sa")"
  $p perf produce "bench-$codec" --service-url "127.0.0.1:$port" -d "${dur}s" -r "$rate" --compression "$codec" \
    --payload-file "$work/payload.json" -i 60 --json >"$work/produce-$codec.json"
  after="$(cpu_ticks "$sa")"
  kill "$pc" 2>/dev/null || true; wait "$pc" 2>/dev/null || true; pc=""
  stored="$(du -sb "$data" | cut -f1)"
  kill "$sa"; wait "$sa" 2>/dev/null || true; sa=""
  python3 - "$work/produce-$codec.json" "$work/consume-$codec.json" "$before" "$after" "$tick" "$codec" "$stored" <<'PY'
import json, sys
def last_json(path):
    for line in reversed(open(path).read().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    return {}
produce, consume = last_json(sys.argv[1]), last_json(sys.argv[2])
before, after, tick, codec, stored = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6], int(sys.argv[7])
cpu = (after - before) / tick
msgs = produce.get("messages", 0)
rate = produce.get("messagesPerSecond", 0)
print(f"| {codec} | {rate:,.0f} | {consume.get('messages', 'n/a')} | {cpu:.1f} | {cpu * 1e6 / max(msgs, 1):.1f} | {stored / 1e6:.0f} |")
PY
done
