#!/usr/bin/env bash
# Builds Pulsarish and runs every test. Installs what the tests need when it is missing.
# Last line: "tests: N passed, N failed, N skipped" (counted from the TRX results).
set -uo pipefail
cd "$(dirname "$0")"

need_zk() { [ -x /usr/share/zookeeper/bin/zkServer.sh ] && command -v java >/dev/null 2>&1; }
if ! need_zk; then
  echo "== installing the Debian zookeeper package (needs root)"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq zookeeper >/dev/null \
    || { echo "could not install zookeeper"; echo "tests: 0 passed, 1 failed, 0 skipped"; exit 1; }
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
echo "== building"
# CheckInvariants keeps Debug.Assert in the optimized build (Directory.Build.props).
if ! dotnet build Pulsarish.sln -c Release -p:CheckInvariants=true -nologo -v:q; then
  echo "tests: 0 passed, 1 failed, 0 skipped"; exit 1
fi

results="$PWD/TestResults"
rm -rf "$results"
echo "== testing"
# One test assembly at a time: the integration tests start real processes on a 2-core machine.
dotnet test Pulsarish.sln -c Release --no-build -m:1 --logger "trx" --logger "console;verbosity=normal" \
  --results-directory "$results" ${TEST_FILTER:+--filter "$TEST_FILTER"} 2>&1 | tee "$results.log" \
  | grep -E '^\s*(Passed|Failed|Skipped|Total|Error Message|Stack Trace|  Failed )|error|Results File' | grep -v '^\s*Passed ' | head -400
rc=${PIPESTATUS[0]}

passed=0; failed=0; skipped=0
shopt -s nullglob
for f in "$results"/*.trx; do
  line=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  get() { echo "$line" | grep -o "$1=\"[0-9]*\"" | grep -o '[0-9]*'; }
  p=$(get passed); fl=$(get failed); ne=$(get notExecuted); ic=$(get inconclusive); er=$(get error); to=$(get timeout); ab=$(get aborted)
  passed=$((passed + ${p:-0})); failed=$((failed + ${fl:-0} + ${er:-0} + ${to:-0} + ${ab:-0})); skipped=$((skipped + ${ne:-0} + ${ic:-0}))   # an Assume that fails is inconclusive: not a pass
done
files=("$results"/*.trx)
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi   # a crashed test host counts as a failure
if [ ${#files[@]} -eq 0 ]; then failed=$((failed + 1)); fi
if [ "$failed" -ne 0 ]; then
  echo "== failure details"
  # Each failed test's message and stack as the console logger printed them.
  awk '/^  Failed /{n=40} /^  (Passed|Skipped) /{n=0} n>0{print; n--}' "$results.log" | head -300
fi
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$rc" -eq 0 ]
