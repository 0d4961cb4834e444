#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Bulk TCP through a relay: iperf3 (128 KiB writes, one stream) directly and
# through an L4 relay, on loopback in one simulated pod, every mode in the
# same run. Not a test: prints numbers.
#
#   tests/harness/with-pods.sh --pod 1:a -- proxy/bench/relay.sh BUILD_DIR [SECONDS] [ROUNDS]
#
# Modes:
#   direct_tcp      iperf3 client -> server, plain TCP (no shuntd)
#   direct_accel    the same with shuntd (sockmap redirect)
#   haproxy         through HAProxy "mode tcp" (one thread), no shuntd
#   haproxy_splice  the same with "option splice-auto" (HAProxy's splice(2) via pipes)
#   relay_tcp       through a shunt-proxy "mode": "tcp" listener, no shuntd (it copies)
#   relay_splice    the same with shuntd: the relay's sockets spliced in the kernel
# Placements (PLACEMENTS, default "one split"): one = everything on CPU 1;
# split = the iperf3 client on CPU 0, relay and server on CPU 1.
# Per run: receiver Gbit/s (iperf3 -J) and CPU per GiB = the node cgroup's
# cpu.stat usage_usec over the run / GiB received (client, relay, server and
# the softirq work charged to them).
set -euo pipefail
B=$(cd "$1" && pwd)
SECS=${2:-4}
ROUNDS=${3:-3}
MODES=${MODES:-direct_tcp direct_accel haproxy haproxy_splice relay_tcp relay_splice}
PLACEMENTS=${PLACEMENTS:-one split}
for c in iperf3 haproxy jq taskset; do
	command -v "$c" >/dev/null || { echo "relay.sh: $c not installed" >&2; exit 2; }
done
[ -n "${SHUNT_POD_A_CGROUP:-}" ] || { echo "run inside tests/harness/with-pods.sh --pod 1:a" >&2; exit 2; }

T=$(mktemp -d)
chmod 755 "$T"
PIN=$SHUNT_PIN_DIR/shunt
PIDS=()
SHUNTD=
cleanup() {
	[ -z "$SHUNTD" ] || kill -TERM "$SHUNTD" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE

SRV=5201 HAP=15101 HAPS=15102 RELAY=15103
cat >"$T/relay.json" <<EOF
{"proxy": {"listeners": [{"name": "relay", "address": "127.0.0.1:$RELAY",
  "upstream": "127.0.0.1:$SRV", "mode": "tcp", "enforce": false}]}}
EOF
chmod 644 "$T/relay.json"
hap_cfg() { # hap_cfg PORT [extra option]
	printf 'global\n  nbthread 1\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n%s\nlisten relay\n  bind 127.0.0.1:%s\n  server s 127.0.0.1:%s\n' \
		"${2:-}" "$1" "$SRV"
}
hap_cfg $HAP >"$T/hap.cfg"
hap_cfg $HAPS "  option splice-auto" >"$T/haps.cfg"

cpu_usec() { awk '$1 == "usage_usec" { print $2 }' "$SHUNT_NODE1_CGROUP/cpu.stat"; }
bg() { # bg CPU CMD...: a background process in pod a on CPU (output to $T/bg.log)
	local cpu=$1
	shift
	"$SHUNT_POD_EXEC" a taskset -c "$cpu" "$@" >>"$T/bg.log" 2>&1 &
	PIDS+=($!)
}
wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT in pod a
	local end=$((SECONDS + 10))
	until "$SHUNT_POD_EXEC" a ss -Htln "sport = :$1" | grep -q LISTEN; do
		[ $SECONDS -lt $end ] || { echo "nothing listens on $1" >&2; exit 1; }
		sleep 0.05
	done
}
start_shuntd() {
	"$B/sockmap/shuntd" --cgroup "$SHUNT_NODE1_CGROUP" --pin-dir "$PIN" --capture l7 \
		--ready-fd 3 3>"$T/ready" 2>"$T/shuntd.log" &
	SHUNTD=$!
	until [ -s "$T/ready" ]; do
		kill -0 "$SHUNTD" 2>/dev/null || { cat "$T/shuntd.log" >&2; exit 1; }
		sleep 0.05
	done
	rm -f "$T/ready"
}
stop_shuntd() {
	kill -TERM "$SHUNTD"
	wait "$SHUNTD" 2>/dev/null || true
	SHUNTD=
}

run() { # run MODE PORT: one iperf3 run; prints "PLACEMENT MODE gbps G cpu_s_per_gib C"
	local mode=$1 port=$2 c0 c1 bps
	c0=$(cpu_usec)
	bps=$("$SHUNT_POD_EXEC" a taskset -c "$CCPU" iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J |
		jq '.end.sum_received.bits_per_second')
	c1=$(cpu_usec)
	awk -v p="$PLACEMENT" -v m="$mode" -v b="$bps" -v c="$((c1 - c0))" -v t="$SECS" \
		'BEGIN { gib = b * t / 8 / 1073741824; printf "%s %s gbps %.2f cpu_s_per_gib %.3f\n", p, m, b / 1e9, c / 1e6 / gib }' |
		tee -a "$T/results"
}

echo "# iperf3 one stream, $SECS s per run, $ROUNDS rounds, $(nproc) vCPUs, $(uname -r)"
for PLACEMENT in $PLACEMENTS; do
	case $PLACEMENT in
	one) CCPU=1 ;;
	split) CCPU=0 ;;
	*) echo "unknown placement $PLACEMENT" >&2; exit 2 ;;
	esac
	PIDS=()
	bg 1 iperf3 -s -p $SRV -B 127.0.0.1
	bg 1 haproxy -f "$T/hap.cfg" -db
	bg 1 haproxy -f "$T/haps.cfg" -db
	for p in $SRV $HAP $HAPS; do wait_port $p; done
	for r in $(seq 1 "$ROUNDS"); do
		for m in $MODES; do
			case $m in
			direct_accel | relay_splice) start_shuntd ;;
			esac
			case $m in
			direct_tcp | direct_accel) run "$m" $SRV ;;
			haproxy) run "$m" $HAP ;;
			haproxy_splice) run "$m" $HAPS ;;
			relay_tcp | relay_splice)
				# a fresh relay per run: its sockets see this run's shuntd (or none)
				"$SHUNT_POD_EXEC" a taskset -c 1 "$B/proxy/shunt-proxy" --config "$T/relay.json" \
					--user root --log-level warn 2>>"$T/relay.log" &
				RP=$!
				wait_port $RELAY
				run "$m" $RELAY
				kill -TERM $RP
				wait $RP 2>/dev/null || true
				;;
			*) echo "unknown mode $m" >&2; exit 2 ;;
			esac
			if [ -n "$SHUNTD" ]; then
				echo "$PLACEMENT $m: $("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
					jq -c '.counters | {msgs_redirected, splice_linked, splice_switched, bytes_spliced}')" >>"$T/counters.log"
				stop_shuntd
			fi
		done
	done
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait "${PIDS[@]}" 2>/dev/null || true
	PIDS=()
done
echo "# shunt counters per accelerated run:"
cat "$T/counters.log"

med() { # med PLACEMENT MODE FIELD
	awk -v p="$1" -v m="$2" -v f="$3" '$1 == p && $2 == m { for (i = 3; i < NF; i++) if ($i == f) print $(i + 1) }' \
		"$T/results" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
for PLACEMENT in $PLACEMENTS; do
	grep -q "^$PLACEMENT " "$T/results" || continue
	echo
	echo "placement $PLACEMENT (medians)"
	printf '%-16s %8s %14s %16s\n' mode Gbit/s cpu_s_per_GiB "vs haproxy"
	h=$(med "$PLACEMENT" haproxy gbps)
	for m in $MODES; do
		g=$(med "$PLACEMENT" "$m" gbps)
		printf '%-16s %8s %14s %16s\n' "$m" "$g" "$(med "$PLACEMENT" "$m" cpu_s_per_gib)" \
			"$(awk -v a="$g" -v b="$h" 'BEGIN { if (b > 0) printf "%.2fx", a / b }')"
	done
done
