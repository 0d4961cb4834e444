#!/usr/bin/env bash
# Full shunt-bench run into a results directory, plus the machine's load
# before the run. Needs root for the accel paths and a build containing
# sockmap/, proxy/ and bench/.
#   bench/run-bench.sh [BUILD_DIR] [OUT_DIR] [shunt-bench options...]
# Sections (SECTIONS="fast http connect pods", the default, or any subset):
#   fast     rr + stream        -> results.txt, results.json, results.png
#   http     http, closed loop  -> http.txt, http.json, http.png
#            http, open loop at RATE req/s (default 5000; RATE=0 skips it)
#                               -> http-open.txt, http-open.json, http-open.png
#   connect  connection rate    -> connect.txt, connect.json, connect.png
#   pods     rr + stream between two simulated pods (--net pods: netns, veth,
#            bridge; tcp and accel)  -> pods.txt, pods.json, pods.png
# The extra shunt-bench options apply to the fast and pods sections.
set -euo pipefail
build=${1:-build}
out=${2:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
shift $(($# > 2 ? 2 : $#))
sections=${SECTIONS:-fast http connect pods}
rate=${RATE:-5000}
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
for s in $sections; do
	case $s in
	fast)
		"$bin" --json "$out/results.json" --plot "$out/results.png" "$@" |
			tee "$out/results.txt"
		;;
	http)
		"$bin" http --json "$out/http.json" --plot "$out/http.png" | tee "$out/http.txt"
		if [ "$rate" != 0 ]; then
			"$bin" http --rate "$rate" --json "$out/http-open.json" \
				--plot "$out/http-open.png" | tee "$out/http-open.txt"
		fi
		;;
	connect)
		"$bin" connect --json "$out/connect.json" --plot "$out/connect.png" |
			tee "$out/connect.txt"
		;;
	pods)
		"$bin" --net pods --json "$out/pods.json" --plot "$out/pods.png" "$@" |
			tee "$out/pods.txt"
		;;
	*)
		echo "run-bench.sh: unknown section '$s' (fast, http, connect, pods)" >&2
		exit 2
		;;
	esac
done
echo "run-bench.sh: results in $out" >&2
