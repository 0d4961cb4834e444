#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Where the fast path's remaining cost goes: the kernel-side counts behind
# the shunt-bench targets that are missed (README, "Benchmarks").
#
#   bench/explain.sh [-b path/to/shunt-bench] [-c CPU] [-d SECONDS]
#
# Each measurement runs one shunt-bench cell with both ends pinned to CPU
# (default 1) and counts, over a window in the middle of the cell, events on
# that CPU only (perf stat -C, software tracepoints: no PMU needed):
#  1. round trip, 64 B, tcp vs accel: context switches per round trip, and
#     the sk_msg program's own run time per message (kernel.bpf_stats_enabled
#     is switched on for the cell and restored after; it adds ~20-40 ns); and
#     a pipe round trip between two processes (perf bench sched pipe), the
#     floor of any round trip on one vCPU.
#  2. stream, 16 KiB and 64 KiB writes, tcp vs accel:redirect (no small-write
#     fallback): context switches per second and sends per receive (how many
#     messages a reader finds queued when it wakes).
#  3. connection setup (connect, one 64-byte exchange, close; one at a time),
#     tcp vs accel: kernel worker runs and context switches per connection.
# Needs root, perf (linux-perf) and bpftool. Takes about 2 minutes.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
BENCH=$here/../build/bench/shunt-bench
CPU=1
DUR=6
while getopts "b:c:d:h" o; do
	case $o in
	b) BENCH=$OPTARG ;;
	c) CPU=$OPTARG ;;
	d) DUR=$OPTARG ;;
	*) sed -n '2,20p' "$0"; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "explain.sh: needs root" >&2; exit 2; }
for b in "$BENCH" perf bpftool jq; do
	command -v "$b" >/dev/null || { echo "explain.sh: missing $b" >&2; exit 2; }
done
[ "$DUR" -ge 4 ] 2>/dev/null || { echo "explain.sh: -d wants >= 4 seconds" >&2; exit 2; }

W=$(mktemp -d /tmp/shunt-explain.XXXXXX)
stats0=$(sysctl -n kernel.bpf_stats_enabled)
bench_pid=""
cleanup() {
	[ -z "$bench_pid" ] || kill "$bench_pid" 2>/dev/null || true
	[ -z "$bench_pid" ] || wait "$bench_pid" 2>/dev/null || true
	sysctl -qw kernel.bpf_stats_enabled="$stats0"
	rm -rf "$W"
}
trap cleanup EXIT

# cell NAME SHUNT-BENCH-ARGS...: run one cell for DUR s in the background; after
# 2 s of it, count EVENTS on CPU for DUR-3 s into $W/NAME.perf (name,count CSV).
EVENTS=sched:sched_switch,workqueue:workqueue_execute_start
EVENTS+=,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_connect
cell() {
	local name=$1
	shift
	"$BENCH" "$@" --placement same --cpus "$CPU/$CPU" --reps 1 --duration "$DUR" \
		>"$W/$name.out" 2>&1 &
	bench_pid=$!
	sleep 2 # let the cell start: its own warm-up is 10% of DUR
	[ "$name" != rr-accel ] || prog_stats >"$W/prog0"
	perf stat -x, -o "$W/$name.perf" -C "$CPU" -e "$EVENTS" -- sleep "$((DUR - 3))"
	[ "$name" != rr-accel ] || prog_stats >"$W/prog1"
	wait "$bench_pid" || { cat "$W/$name.out" >&2; exit 1; }
	bench_pid=""
}
n() { # NAME EVENT -> count
	awk -F, -v e="$2" '$3 == e { print $1 }' "$W/$1.perf"
}
prog_stats() { # "run_time_ns run_cnt" of the loaded shunt_sk_msg program
	bpftool -j prog show name shunt_sk_msg 2>/dev/null |
		jq -r 'if type == "array" then .[0] else . end | "\(.run_time_ns) \(.run_cnt)"'
}
per() { # A B -> A/B with 2 decimals
	awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
}
win=$((DUR - 3))

echo "== 1. round trip, 64 B, both ends on CPU $CPU"
# the floor of any round trip between two processes on one vCPU: a pipe ping-pong
floor=$(taskset -c "$CPU" perf bench sched pipe -l 100000 2>/dev/null | awk '/usecs\/op/ { print $1 }')
echo "pipe round trip (perf bench sched pipe): ${floor:-?} us, the floor for any IPC here"
sysctl -qw kernel.bpf_stats_enabled=1
for p in tcp accel; do
	cell "rr-$p" rr --sizes 64 --paths "$p"
	rtt=$(($(n "rr-$p" syscalls:sys_enter_sendto) / 2))
	echo "$p: $(per "$(n "rr-$p" sched:sched_switch)" "$rtt") context switches per round trip" \
		"($rtt round trips in ${win} s)"
done
sysctl -qw kernel.bpf_stats_enabled="$stats0"
read -r t0 c0 <"$W/prog0"
read -r t1 c1 <"$W/prog1"
echo "sk_msg program: $(per "$((t1 - t0))" "$((c1 - c0))") ns per message (bpf_stats)"

echo "== 2. stream, both ends on CPU $CPU (accel:redirect = every message redirected)"
for ws in 16K 64K; do
	for p in tcp accel:redirect; do
		name="st-$ws-${p%%:*}"
		cell "$name" stream --write-sizes "$ws" --paths "$p" --small-writes none
		sw=$(n "$name" sched:sched_switch)
		echo "$ws $p: $((sw / win)) context switches/s," \
			"$(per "$(n "$name" syscalls:sys_enter_sendto)" "$(n "$name" syscalls:sys_enter_recvfrom)") sends per receive," \
			"$(awk '$1 == "same" && $2 ~ /^[0-9]/ { print $5, "MB/s" }' "$W/$name.out")"
	done
done

echo "== 3. connection setup, one connection at a time, CPU $CPU"
for p in tcp accel; do
	cell "conn-$p" connect --paths "$p" --conns 1
	nc=$(n "conn-$p" syscalls:sys_enter_connect)
	echo "$p: $(per "$(n "conn-$p" workqueue:workqueue_execute_start)" "$nc") kernel worker runs and" \
		"$(per "$(n "conn-$p" sched:sched_switch)" "$nc") context switches per connection" \
		"($((nc / win)) connections/s)"
done
