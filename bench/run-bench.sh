#!/usr/bin/env bash
# Full shunt-bench run into a results directory: table (results.txt), JSON,
# PNG plot, plus the machine's load before the run. Needs root for the accel
# path and a build containing sockmap/ and bench/.
#   bench/run-bench.sh [BUILD_DIR] [OUT_DIR] [shunt-bench options...]
set -euo pipefail
build=${1:-build}
out=${2:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
shift $(( $# > 2 ? 2 : $# ))
bin=$build/bench/shunt-bench
if [ ! -x "$bin" ]; then
  echo "run-bench.sh: $bin not found; build first: cmake --build $build" >&2
  exit 2
fi
mkdir -p "$out"
{
  echo "# $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus"
  echo "# loadavg: $(cat /proc/loadavg)"
} >"$out/machine.txt"
"$bin" --json "$out/results.json" --plot "$out/results.png" "$@" | tee "$out/results.txt"
echo "run-bench.sh: results in $out" >&2
