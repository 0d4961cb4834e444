#!/usr/bin/env bash
# Benchmark (issue 6): request latency app2 -> app1:80 through two shunt-proxy
# sidecars, captured by shuntd (no iptables), plain TCP vs shunt acceleration,
# in the same run (rounds interleave the modes). Not a test: prints numbers.
#
#   tests/harness/with-pods.sh --pod 1:app1 --pod 1:app2 -- \
#     tests/e2e/intercept_bench.sh BUILD_DIR INTERCEPT_TOOL [REQUESTS] [ROUNDS]
#
# Modes (each round starts shuntd and fresh sidecars, so no pooled connection
# crosses modes):
#   direct_tcp      no shuntd: app2 -> nginx in app1 (the path without sidecars)
#   direct_accel    shuntd --capture off: the same path accelerated
#   sidecars_tcp    shuntd --capture istio --exclude-port 80,15001,15006: captured,
#                   two sidecars, every leg plain TCP (as with iptables REDIRECT;
#                   the connect hooks run, no socket enters the sockhash)
#   sidecars_iptables no shuntd: Istio's own capture, iptables REDIRECT inside the
#                   two pods' namespaces (app2 OUTPUT -> 15001 except uid 1337; app1
#                   PREROUTING :80 -> 15006), SO_ORIGINAL_DST from conntrack; the
#                   rules live and die with the pods' netns (needs iptables)
#   sidecars_pass   shuntd --capture istio --small-writes pass: as above, but the
#                   sockets are in the sockhash and every send runs sk_msg (hook cost)
#   sidecars_accel  shuntd --capture istio: captured, all three legs redirected
# Pin everything to one vCPU for steadier numbers: taskset -c 1 with-pods.sh ...
# Per request: p50/p99 latency of one keep-alive connection (intercept_tool
# bench, after 100 warm-up requests) and CPU per request = node 1's cgroup
# cpu.stat usage_usec (client, sidecars, nginx, incl. softirq work charged to
# them) over the run / requests.
set -euo pipefail
B=$1
TOOL=$2
N=${3:-20000}
ROUNDS=${4:-3}
MODES=${MODES:-direct_tcp sidecars_iptables sidecars_tcp sidecars_pass sidecars_accel direct_accel}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"

T=$(mktemp -d)
chmod 755 "$T"
PIN=$SHUNT_PIN_DIR/shunt
PIDS=()
SHUNTD_PID=
cleanup() {
	[ -z "$SHUNTD_PID" ] || kill -TERM "$SHUNTD_PID" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

A1=$SHUNT_POD_APP1_IP
write_config "$T/node.json" ""
start_nginx app1 "$A1:80"
NGINX_PIDS=("${PIDS[@]}")

run_mode() { # run_mode NAME [shuntd flags...] ; "-" = no shuntd
	local name=$1 c0 c1 res sidecars=0
	shift
	rm -f "$T"/sidecar-*.{err,rdy,log}
	if [ "${1:-}" != - ]; then
		start_shuntd "$@"
	fi
	if [[ $name == sidecars_* ]]; then
		PIDS=()
		start_sidecar app1
		start_sidecar app2
		sidecars=1
	fi
	c0=$(node_cpu_usec)
	res=$("$SHUNT_POD_EXEC" app2 "$TOOL" bench "$A1" 80 /public/bench "$N")
	c1=$(node_cpu_usec)
	if [ $sidecars = 1 ]; then
		for p in "${PIDS[@]}"; do kill -TERM "$p"; done
		wait "${PIDS[@]}" 2>/dev/null || true
		PIDS=()
	fi
	if [ -n "$SHUNTD_PID" ]; then
		echo "$name: $("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
			jq -c '.counters | {msgs_redirected, captured_outbound, captured_inbound}')" >>"$T/counters.log"
		stop_shuntd
		SHUNTD_PID=
	fi
	echo "$name $res cpu_us_per_req $(awk -v a="$c0" -v b="$c1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / (n + 100) }')" |
		tee -a "$T/results"
}

# Istio-style iptables capture in the pods' own namespaces (-A add, -D delete).
iptables_capture() {
	nsenter --net="$SHUNT_POD_APP2_NETNS" -- iptables -t nat "$1" OUTPUT -p tcp -d "$A1" \
		--dport 80 -m owner ! --uid-owner $PROXY_UID -j REDIRECT --to-ports $ISTIO_OUT
	nsenter --net="$SHUNT_POD_APP1_NETNS" -- iptables -t nat "$1" PREROUTING -p tcp \
		--dport 80 -j REDIRECT --to-ports $ISTIO_IN
}

echo "# $N requests per mode and round, $ROUNDS rounds, $(nproc) vCPUs, $(uname -r)"
for r in $(seq 1 "$ROUNDS"); do
	echo "# round $r"
	for m in $MODES; do
		case $m in
		direct_tcp) run_mode direct_tcp - ;;
		sidecars_tcp) run_mode sidecars_tcp --config "$T/node.json" --capture istio \
			--exclude-port 80 --exclude-port $ISTIO_OUT --exclude-port $ISTIO_IN ;;
		sidecars_pass) run_mode sidecars_pass --config "$T/node.json" --capture istio \
			--small-writes pass ;;
		sidecars_accel) run_mode sidecars_accel --config "$T/node.json" --capture istio ;;
		direct_accel) run_mode direct_accel ;;
		sidecars_iptables)
			command -v iptables >/dev/null || { echo "# no iptables: $m skipped"; continue; }
			iptables_capture -A
			run_mode sidecars_iptables -
			# proof that the rules captured: their packet counters
			echo "sidecars_iptables: REDIRECT packets app2 OUTPUT $(nsenter --net="$SHUNT_POD_APP2_NETNS" -- \
				iptables -t nat -L OUTPUT -v -n -x | awk '/REDIRECT/ { print $1 }'), app1 PREROUTING $(
				nsenter --net="$SHUNT_POD_APP1_NETNS" -- iptables -t nat -L PREROUTING -v -n -x |
				awk '/REDIRECT/ { print $1 }')" >>"$T/counters.log"
			iptables_capture -D
			;;
		*) echo "unknown mode $m" >&2; exit 2 ;;
		esac
	done
done
PIDS=("${NGINX_PIDS[@]}")
echo "# shunt counters per sidecar round (proves capture / redirection):"
cat "$T/counters.log"

# medians over rounds
med() { # med MODE FIELD
	awk -v m="$1" -v f="$2" '$1 == m { for (i = 2; i < NF; i++) if ($i == f) print $(i + 1) }' \
		"$T/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
echo
printf '%-16s %10s %10s %16s\n' mode p50_us p99_us cpu_us_per_req
for m in direct_tcp direct_accel sidecars_iptables sidecars_tcp sidecars_pass sidecars_accel; do
	grep -q "^$m " "$T/results" || continue
	printf '%-16s %10s %10s %16s\n' "$m" "$(med $m p50_us)" "$(med $m p99_us)" "$(med $m cpu_us_per_req)"
done
[ -n "$(med direct_tcp p50_us)" ] && [ -n "$(med sidecars_tcp p50_us)" ] &&
	[ -n "$(med sidecars_accel p50_us)" ] || exit 0
awk -v d50="$(med direct_tcp p50_us)" -v d99="$(med direct_tcp p99_us)" \
	-v t50="$(med sidecars_tcp p50_us)" -v t99="$(med sidecars_tcp p99_us)" \
	-v a50="$(med sidecars_accel p50_us)" -v a99="$(med sidecars_accel p99_us)" 'BEGIN {
	printf "\nlatency the two sidecars add over direct plain TCP:\n"
	printf "  plain TCP capture: p50 +%.1f us, p99 +%.1f us\n", t50 - d50, t99 - d99
	printf "  shunt accelerated: p50 +%.1f us, p99 +%.1f us\n", a50 - d50, a99 - d99
	printf "  ratio accelerated/plain: p50 %.2fx, p99 %.2fx (target <= 0.5x)\n",
		(a50 - d50) / (t50 - d50), (a99 - d99) / (t99 - d99)
}'
i50=$(med sidecars_iptables p50_us)
[ -z "$i50" ] || awk -v d50="$(med direct_tcp p50_us)" -v d99="$(med direct_tcp p99_us)" \
	-v i50="$i50" -v i99="$(med sidecars_iptables p99_us)" \
	-v a50="$(med sidecars_accel p50_us)" -v a99="$(med sidecars_accel p99_us)" 'BEGIN {
	printf "  iptables REDIRECT (Istio): p50 +%.1f us, p99 +%.1f us; accelerated/iptables: p50 %.2fx, p99 %.2fx\n",
		i50 - d50, i99 - d99, (a50 - d50) / (i50 - d50), (a99 - d99) / (i99 - d99)
}'
