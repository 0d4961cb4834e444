#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Where shunt-proxy's CPU per request goes, next to HAProxy's: numbers that
# stay stable on a busy machine (unlike req/s).
#
#   proxy/bench/profile.sh [-p path/to/shunt-proxy] [-d seconds] [-r rounds] [-c conns] [-i]
#
# Same setup as run.sh (nginx backend on 127.0.0.2 returning 3 bytes, one
# worker/thread per proxy, allow GET /public/*, wrk -t1 -cC). For each proxy
# and round, `perf stat` (software events and syscall tracepoints, no
# hardware counters needed) counts over the wrk run: syscalls, epoll_wait and
# epoll_ctl calls, context switches per request, CPU time per request, and the
# user/system split from /proc. -i adds user-space instructions per request
# of shunt-proxy under valgrind --tool=callgrind (startup cost subtracted) for
# three configs: the bench policy, 1,000 rules, and no policy (allow-all).
# Root is needed for the syscall tracepoints.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
SHUNT=$(pb_find_shunt "$here")
DUR=3
ROUNDS=3
CONNS=32
INSTR=0
while getopts "p:d:r:c:ih" o; do
	case $o in
	p) SHUNT=$OPTARG ;;
	d) DUR=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	i) INSTR=1 ;;
	*) sed -n '2,17p' "$0"; exit 2 ;;
	esac
done
for b in "$SHUNT" haproxy nginx wrk perf; do
	command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 2; }
done
[ "$INSTR" = 0 ] || command -v valgrind >/dev/null || { echo "missing valgrind" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (syscall tracepoints)" >&2; exit 2; }

W=$(mktemp -d /tmp/shunt-proxy-profile.XXXXXX)
chmod 755 "$W"
pids=()
cleanup() {
	pb_stop_pids "${pids[@]}"
	rm -rf "$W"
}
trap cleanup EXIT

BACK=127.0.0.2:18680
P_SHUNT=18681
P_HAPROXY=18683
P_CG=18684

pb_backend_conf "$W" "$BACK" >"$W/back.conf"
pb_haproxy_cfg "$P_HAPROXY" "$BACK" >"$W/haproxy.cfg"
pb_shunt_cfg "$P_SHUNT" "$BACK" >"$W/shunt.json"
pb_shunt_cfg "$P_CG" "$BACK" >"$W/cg-policy.json"
pb_shunt_cfg_1k "$P_CG" "$BACK" >"$W/cg-1k.json"
pb_shunt_cfg_all "$P_CG" "$BACK" >"$W/cg-all.json"
chmod 644 "$W"/*.json

wait_port() { # port
	for _ in $(seq 1 200); do
		curl -s -o /dev/null "http://127.0.0.1:$1/public/x" && return 0
		sleep 0.05
	done
	echo "nothing answers on port $1" >&2
	exit 1
}

nginx -e stderr -p "$W" -c "$W/back.conf" &
pids+=($!)
"$SHUNT" --config "$W/shunt.json" --log-level warn &
pid_shunt=$!
pids+=("$pid_shunt")
haproxy -f "$W/haproxy.cfg" -db &
pid_haproxy=$!
pids+=("$pid_haproxy")
wait_port $P_SHUNT
wait_port $P_HAPROXY

ticks() { # pid -> "utime stime" (clock ticks)
	awk '{ print $14, $15 }' "/proc/$1/stat"
}

measure() { # name pid port
	local t0 t1 req
	t0=$(ticks "$2")
	perf stat -x, -o "$W/perf.txt" -p "$2" \
		-e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait \
		-e syscalls:sys_enter_epoll_ctl,context-switches,task-clock \
		-- sleep "$((DUR + 1))" &
	local perf_pid=$!
	sleep 0.3
	wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$3/public/x" >"$W/wrk.txt"
	wait "$perf_pid"
	t1=$(ticks "$2")
	req=$(awk '/requests in/ { print $1 }' "$W/wrk.txt")
	awk -F, -v name="$1" -v req="$req" -v t0="$t0" -v t1="$t1" -v hz="$(getconf CLK_TCK)" '
		$3 == "raw_syscalls:sys_enter" { sc = $1 }
		$3 == "syscalls:sys_enter_epoll_wait" { ew = $1 }
		$3 == "syscalls:sys_enter_epoll_ctl" { ec = $1 }
		$3 == "context-switches" { cs = $1 }
		$3 == "task-clock" { tc = $1 }
		END {
			split(t0, a, " "); split(t1, b, " ")
			u = (b[1] - a[1]) / hz * 1e6 / req; s = (b[2] - a[2]) / hz * 1e6 / req
			printf "%-8s %8d %9.2f %9.3f %9.4f %7.3f %9.2f %6.2f %6.2f\n", name, req,
			       sc / req, ew / req, ec / req, cs / req, tc * 1000 / req, u, s
		}' "$W/perf.txt"
}

echo "wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds, per request:"
printf "%-8s %8s %9s %9s %9s %7s %9s %6s %6s\n" proxy requests syscalls epoll_wait \
	epoll_ctl ctxsw "cpu_us" "usr_us" "sys_us"
for _ in $(seq 1 "$ROUNDS"); do
	measure shunt "$pid_shunt" $P_SHUNT
	measure haproxy "$pid_haproxy" $P_HAPROXY
done

if [ "$INSTR" = 1 ]; then
	# user-space instructions per request, deterministic (no timing noise):
	# for each config, one run with no request (startup + shutdown, which
	# includes compiling the policy) and one under wrk; the difference over
	# the request count. Configs: the bench policy (allow GET /public/*),
	# the same with 999 non-matching rules first (1,000 rules), no policy.
	cg() { # config out-file duration
		valgrind --tool=callgrind --callgrind-out-file="$W/$2" "$SHUNT" \
			--config "$W/cg-$1.json" --log-level warn --user root 2>"$W/cg.log" &
		local pid=$!
		wait_port $P_CG
		if [ "$3" != 0 ]; then
			wrk -t1 -c"$CONNS" -d"$3s" "http://127.0.0.1:$P_CG/public/x" >"$W/wrk-cg.txt"
		fi
		kill -TERM "$pid"
		wait "$pid" || true
	}
	irtotal() { callgrind_annotate "$W/$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }'; }
	echo "shunt-proxy user-space instructions per request (callgrind, wrk -c$CONNS -d${DUR}s):"
	for c in policy 1k all; do
		cg "$c" "$c-0.out" 0
		cg "$c" "$c-1.out" "$DUR"
		req=$(awk '/requests in/ { print $1 }' "$W/wrk-cg.txt")
		echo "$c $req $(irtotal "$c-0.out") $(irtotal "$c-1.out")"
	done | awk '{
		per[$1] = ($4 - $3) / $2
		name = $1 == "policy" ? "allow GET /public/*" : $1 == "1k" ? "1,000 rules" : "no policy (allow-all)"
		printf "  %-22s %8.0f  (%d requests)\n", name, per[$1], $2
	} END {
		printf "  1,000 rules vs allow-all: %+.1f%% instructions per request\n",
		       (per["1k"] / per["all"] - 1) * 100
	}'
fi
