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
#   relay_*         the same three ways (relay_iptables, relay_tcp, relay_splice =
#                   accelerated) with app2's outbound listener a TCP relay
#                   ("mode": "tcp", "enforce": false: Istio's model, where app1's
#                   inbound sidecar alone judges): with shuntd the kernel splices
#                   that relay out of the data path (client -> app1's sidecar
#                   directly), without it the relay copies bytes
# Placements (PLACEMENTS, default "one split"; each runs every mode and round):
#   one    every process of both pods (client, sidecars, nginx) on CPU ONE_CPU
#          (default 1): each hop is a context switch on that vCPU
#   split  pod app2 (client and its sidecar) on CPU 0, pod app1 (its sidecar
#          and nginx) on CPU 1: the two pods on their own vCPUs, so the
#          sidecar-to-sidecar hops cross vCPUs (needs 2 CPUs, else skipped)
# shuntd is not on the request path and is left unpinned.
# Per request: p50/p90/p99/p99.9 latency of one keep-alive connection
# (intercept_tool bench, after 100 warm-up requests) and CPU per request =
# node 1's cgroup cpu.stat usage_usec (client, sidecars, nginx, incl. softirq
# work charged to them) over the run / requests.
set -euo pipefail
B=$1
TOOL=$2
N=${3:-20000}
ROUNDS=${4:-3}
MODES=${MODES:-direct_tcp sidecars_iptables sidecars_tcp sidecars_pass sidecars_accel direct_accel relay_iptables relay_tcp relay_splice}
PLACEMENTS=${PLACEMENTS:-one split}
ONE_CPU=${ONE_CPU:-1}
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

cpu_of() { # cpu_of POD: the vCPU the current placement gives POD's processes
	if [ "$PLACEMENT" = split ]; then
		[ "$1" = app1 ] && echo 1 || echo 0
	else
		echo "$ONE_CPU"
	fi
}

pin() { # pin CPU PID...: each process, all its threads and its children (nginx's worker)
	local cpu=$1 p c
	shift
	for p in "$@"; do
		for c in "$p" $(pgrep -P "$p"); do
			taskset -a -p -c "$cpu" "$c" >/dev/null
		done
	done
}

run_mode() { # run_mode NAME [shuntd flags...] ; "-" = no shuntd
	local name=$1 c0 c1 res sidecars=0
	shift
	rm -f "$T"/sidecar-*.{err,rdy,log}
	if [ "${1:-}" != - ]; then
		start_shuntd "$@"
	fi
	if [[ $name == sidecars_* || $name == relay_* ]]; then
		OUTBOUND_MODE=http
		[[ $name != relay_* ]] || OUTBOUND_MODE=tcp
		PIDS=()
		start_sidecar app1
		pin "$(cpu_of app1)" "${PIDS[-1]}"
		start_sidecar app2
		pin "$(cpu_of app2)" "${PIDS[-1]}"
		sidecars=1
	fi
	c0=$(node_cpu_usec)
	res=$("$SHUNT_POD_EXEC" app2 taskset -c "$(cpu_of app2)" "$TOOL" bench "$A1" 80 /public/bench "$N")
	c1=$(node_cpu_usec)
	if [ $sidecars = 1 ]; then
		for p in "${PIDS[@]}"; do kill -TERM "$p"; done
		wait "${PIDS[@]}" 2>/dev/null || true
		PIDS=()
	fi
	if [ -n "$SHUNTD_PID" ]; then
		echo "$PLACEMENT $name: $("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
			jq -c '.counters | {msgs_redirected, captured_outbound, captured_inbound, splice_switched, msgs_spliced}')" >>"$T/counters.log"
		stop_shuntd
		SHUNTD_PID=
	fi
	echo "$PLACEMENT $name $res cpu_us_per_req $(awk -v a="$c0" -v b="$c1" -v n="$N" 'BEGIN { printf "%.1f", (b - a) / (n + 100) }')" |
		tee -a "$T/results"
}

# Istio-style iptables capture in the pods' own namespaces (-A add, -D delete).
iptables_capture() {
	nsenter --net="$SHUNT_POD_APP2_NETNS" -- iptables -t nat "$1" OUTPUT -p tcp -d "$A1" \
		--dport 80 -m owner ! --uid-owner $PROXY_UID -j REDIRECT --to-ports $ISTIO_OUT
	nsenter --net="$SHUNT_POD_APP1_NETNS" -- iptables -t nat "$1" PREROUTING -p tcp \
		--dport 80 -j REDIRECT --to-ports $ISTIO_IN
}

echo "# $N requests per mode, round and placement, $ROUNDS rounds, $(nproc) vCPUs, $(uname -r)"
for PLACEMENT in $PLACEMENTS; do
	case $PLACEMENT in
	one) ;;
	split)
		if [ "$(nproc)" -lt 2 ]; then
			echo "# split placement skipped: one CPU"
			continue
		fi
		;;
	*) echo "unknown placement $PLACEMENT (want one or split)" >&2; exit 2 ;;
	esac
	pin "$(cpu_of app1)" "${NGINX_PIDS[@]}"
	for r in $(seq 1 "$ROUNDS"); do
		echo "# placement $PLACEMENT, round $r"
		for m in $MODES; do
			case $m in
			direct_tcp) run_mode direct_tcp - ;;
			sidecars_tcp | relay_tcp) run_mode $m --config "$T/node.json" --capture istio \
				--exclude-port 80 --exclude-port $ISTIO_OUT --exclude-port $ISTIO_IN ;;
			sidecars_pass) run_mode sidecars_pass --config "$T/node.json" --capture istio \
				--small-writes pass ;;
			sidecars_accel | relay_splice) run_mode $m --config "$T/node.json" --capture istio ;;
			direct_accel) run_mode direct_accel ;;
			sidecars_iptables | relay_iptables)
				command -v iptables >/dev/null || { echo "# no iptables: $m skipped"; continue; }
				iptables_capture -A
				run_mode $m -
				# proof that the rules captured: their packet counters
				echo "$PLACEMENT $m: REDIRECT packets app2 OUTPUT $(nsenter --net="$SHUNT_POD_APP2_NETNS" -- \
					iptables -t nat -L OUTPUT -v -n -x | awk '/REDIRECT/ { print $1 }'), app1 PREROUTING $(
					nsenter --net="$SHUNT_POD_APP1_NETNS" -- iptables -t nat -L PREROUTING -v -n -x |
					awk '/REDIRECT/ { print $1 }')" >>"$T/counters.log"
				iptables_capture -D
				;;
			*) echo "unknown mode $m" >&2; exit 2 ;;
			esac
		done
	done
done
PIDS=("${NGINX_PIDS[@]}")
echo "# shunt counters per sidecar round (proves capture / redirection):"
cat "$T/counters.log"

# medians over rounds
med() { # med PLACEMENT MODE FIELD
	awk -v p="$1" -v m="$2" -v f="$3" '$1 == p && $2 == m { for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }' \
		"$T/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# added P PLACEMENT MODE FIELD: what MODE adds over direct plain TCP at FIELD
added() { awk -v a="$(med "$1" "$2" "$3")" -v d="$(med "$1" direct_tcp "$3")" 'BEGIN { printf "%+.1f", a - d }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
# report PLACEMENT ACCEL TITLE BASELINE...: what the two sidecars add over direct
# plain TCP, accelerated (mode ACCEL) against each unaccelerated BASELINE mode
report() {
	local pl=$1 acc=$2 a50 a99 m t50 t99 label
	shift 2
	echo "$1 (target: accelerated <= 0.5x):"
	shift
	[ -n "$(med "$pl" "$acc" p50_us)" ] || return 0
	a50=$(added "$pl" "$acc" p50_us)
	a99=$(added "$pl" "$acc" p99_us)
	echo "  shunt accelerated ($acc): p50 $a50 us, p99 $a99 us"
	for m in "$@"; do
		[ -n "$(med "$pl" "$m" p50_us)" ] || continue
		t50=$(added "$pl" "$m" p50_us)
		t99=$(added "$pl" "$m" p99_us)
		case $m in
		*_tcp) label="shunt capture, plain TCP" ;;
		*) label="iptables REDIRECT (Istio)" ;;
		esac
		echo "  $label ($m): p50 $t50 us, p99 $t99 us; accelerated/this: p50 $(ratio "$a50" "$t50"), p99 $(ratio "$a99" "$t99")"
	done
}
for PLACEMENT in $PLACEMENTS; do
	grep -q "^$PLACEMENT " "$T/results" || continue
	echo
	echo "placement $PLACEMENT"
	printf '%-18s %8s %8s %8s %8s %16s\n' mode p50_us p90_us p99_us p999_us cpu_us_per_req
	for m in direct_tcp direct_accel sidecars_iptables sidecars_tcp sidecars_pass sidecars_accel \
		relay_iptables relay_tcp relay_splice; do
		grep -q "^$PLACEMENT $m " "$T/results" || continue
		printf '%-18s %8s %8s %8s %8s %16s\n' "$m" "$(med $PLACEMENT $m p50_us)" \
			"$(med $PLACEMENT $m p90_us)" "$(med $PLACEMENT $m p99_us)" \
			"$(med $PLACEMENT $m p999_us)" "$(med $PLACEMENT $m cpu_us_per_req)"
	done
	[ -n "$(med $PLACEMENT direct_tcp p50_us)" ] || continue
	report $PLACEMENT sidecars_accel "latency two HTTP sidecars add over direct plain TCP" \
		sidecars_tcp sidecars_iptables
	report $PLACEMENT relay_splice \
		"latency the sidecars add, app2's outbound one a TCP relay (spliced when accelerated)" \
		relay_tcp relay_iptables
done
