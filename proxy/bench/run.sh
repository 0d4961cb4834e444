#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# shunt-proxy vs HAProxy vs nginx as L7 policy proxies, same run, same machine.
#
#   proxy/bench/run.sh [-p path/to/shunt-proxy] [-d seconds] [-r rounds] [-c conns]
#                      [-s path/to/shuntd | -n] [-P "split one"]
#
# Backend: nginx (1 worker) on 127.0.0.2 returning 3 bytes. Each proxy runs
# one worker/thread with the same policy (allow GET /public/*, deny the rest)
# and keep-alive to the backend. Load: wrk -t1 -cC against /public/x.
# CPU placements (-P, default both): "split" = the proxy under test on CPU 1,
# wrk and the backend on CPU 0 (req/s is bounded by CPU 0, so CPU per request
# is the proxy's measure there); "one" = wrk, backend and proxy all on CPU 1
# (req/s = 1 / the CPU the three spend per request, so a cheaper proxy shows
# as more req/s). Rounds interleave the proxies so drift hits all alike.
# Reported per proxy: median requests/s, median p99 latency, CPU time of the
# proxy process per request (utime+stime from /proc, measured over the run).
# "shunt-1k" is shunt-proxy with a 1,000-rule policy (999 non-matching rules
# + the allow rule) and "shunt-all" one with no policy at all (allow-all):
# their difference is the cost of the rule count.
# "shunt+acc" and "haproxy+acc" are the same proxies with every leg (wrk ->
# proxy -> backend) accelerated by shuntd: they and their wrk run in a cgroup
# shuntd is attached to (-n skips them; needs root).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
SHUNT=${SHUNT:-}
[ -n "$SHUNT" ] || SHUNT=$(pb_find_shunt "$here")
SHUNTD=${SHUNTD:-}
ACCEL=1
DUR=5
ROUNDS=3
CONNS=32
PLACEMENTS="split one"
while getopts "p:d:r:c:s:P:nh" o; do
	case $o in
	p) SHUNT=$OPTARG ;;
	s) SHUNTD=$OPTARG ;;
	n) ACCEL=0 ;;
	d) DUR=$OPTARG ;;
	r) ROUNDS=$OPTARG ;;
	c) CONNS=$OPTARG ;;
	P) PLACEMENTS=$OPTARG ;;
	*) sed -n '2,25p' "$0"; exit 2 ;;
	esac
done
for pl in $PLACEMENTS; do
	case $pl in
	split | one) ;;
	*) echo "-P: unknown placement '$pl' (want split and/or one)" >&2; exit 2 ;;
	esac
done
[ -n "$SHUNTD" ] || SHUNTD=$(dirname "$SHUNT")/../sockmap/shuntd
for b in "$SHUNT" haproxy nginx wrk taskset; do
	command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 2; }
done

if [ "$ACCEL" = 1 ]; then
	[ "$(id -u)" = 0 ] || { echo "accelerated variants need root (or -n)" >&2; exit 2; }
	[ -x "$SHUNTD" ] || { echo "shuntd not found at $SHUNTD (-s PATH, or -n)" >&2; exit 2; }
fi

W=$(mktemp -d /tmp/shunt-proxy-bench.XXXXXX)
chmod 755 "$W"
pids=()
CG=""
SHUNTD_PID=""
cleanup() {
	pb_stop_pids "${pids[@]}"
	if [ -n "$SHUNTD_PID" ]; then
		kill -TERM "$SHUNTD_PID" 2>/dev/null || true
		wait "$SHUNTD_PID" 2>/dev/null || true
	fi
	if [ -n "$CG" ] && [ -d "$CG" ]; then
		# every process of the run was waited for above; this only covers
		# stragglers (e.g. nginx workers) that exit just after their master
		for _ in $(seq 1 100); do
			grep -q '^populated 0' "$CG/cgroup.events" && break
			sleep 0.02
		done
		rmdir "$CG" || echo "warning: could not remove $CG" >&2
	fi
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP PIPE # through cleanup: no proxy, shuntd or cgroup left behind

# incg CMD...: exec CMD inside the accelerated cgroup (plain when -n). It
# replaces the calling shell, so call it only in a subshell: `incg ... &`
# or `$(incg ...)`; the pid of `incg ... &` is then CMD's own pid.
incg() {
	[ -z "$CG" ] || echo "$BASHPID" >"$CG/cgroup.procs"
	exec "$@"
}
if [ "$ACCEL" = 1 ]; then
	cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
	CG="$cg2/shunt-proxy-bench-$$"
	mkdir "$CG"
	mkfifo "$W/ready"
	"$SHUNTD" --cgroup "$CG" --pin-dir "/sys/fs/bpf/shunt-proxy-bench-$$" --ready-fd 3 \
		3>"$W/ready" >/dev/null 2>"$W/shuntd.log" &
	SHUNTD_PID=$!
	read -r line <"$W/ready" || true
	[ "$line" = ready ] || { cat "$W/shuntd.log" >&2; echo "shuntd did not start" >&2; exit 1; }
fi

BACK=127.0.0.2:18480
P_SHUNT=18481
P_SHUNT1K=18482
P_HAPROXY=18483
P_NGINX=18484
P_SHUNTALL=18485
P_SHUNT_ACC=18486
P_HAPROXY_ACC=18487

# ---- backend nginx ----
mkdir -p "$W/back" "$W/ngx"
pb_backend_conf "$W/back" "$BACK" >"$W/back/nginx.conf"
# The backend runs in the accelerated cgroup: its sockets join the sockhash
# only when the connecting proxy's socket is tracked, so the plain proxies'
# upstream legs stay plain TCP.
incg taskset -c 0 nginx -e stderr -p "$W/back" -c "$W/back/nginx.conf" &
pid_back=$!
pids+=("$pid_back")

# ---- nginx as proxy ----
cat >"$W/ngx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $W/ngx/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $W/ngx; proxy_temp_path $W/ngx; fastcgi_temp_path $W/ngx;
  uwsgi_temp_path $W/ngx; scgi_temp_path $W/ngx;
  keepalive_requests 1000000;
  upstream back { server $BACK; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$P_NGINX;
    location /public/ {
      limit_except GET { deny all; }
      proxy_pass http://back; proxy_http_version 1.1; proxy_set_header Connection "";
    }
    location / { return 403; }
  }
}
EOF

# ---- haproxy ----
pb_haproxy_cfg "$P_HAPROXY" "$BACK" >"$W/haproxy.cfg"

# ---- shunt-proxy ----
pb_shunt_cfg "$P_SHUNT" "$BACK" >"$W/shunt.json"
pb_shunt_cfg_1k "$P_SHUNT1K" "$BACK" >"$W/shunt1k.json"
pb_shunt_cfg_all "$P_SHUNTALL" "$BACK" >"$W/shuntall.json"

taskset -c 1 "$SHUNT" --config "$W/shunt.json" --log-level warn &
pid_shunt=$!
pids+=("$pid_shunt")
taskset -c 1 "$SHUNT" --config "$W/shunt1k.json" --log-level warn &
pid_shunt1k=$!
pids+=("$pid_shunt1k")
taskset -c 1 "$SHUNT" --config "$W/shuntall.json" --log-level warn &
pid_shuntall=$!
pids+=("$pid_shuntall")
taskset -c 1 haproxy -f "$W/haproxy.cfg" -db &
pid_haproxy=$!
pids+=("$pid_haproxy")
taskset -c 1 nginx -e stderr -p "$W/ngx" -c "$W/ngx/nginx.conf" &
pids+=($!)
PORTS="$P_SHUNT $P_SHUNT1K $P_SHUNTALL $P_HAPROXY $P_NGINX"
NAMES="shunt haproxy nginx shunt-1k shunt-all"
if [ -n "$CG" ]; then
	pb_shunt_cfg "$P_SHUNT_ACC" "$BACK" >"$W/shunt-acc.json"
	sed "s/127.0.0.1:$P_HAPROXY/127.0.0.1:$P_HAPROXY_ACC/" "$W/haproxy.cfg" >"$W/haproxy-acc.cfg"
	incg taskset -c 1 "$SHUNT" --config "$W/shunt-acc.json" --log-level warn &
	pid_shunt_acc=$!
	pids+=("$pid_shunt_acc")
	incg taskset -c 1 haproxy -f "$W/haproxy-acc.cfg" -db &
	pid_haproxy_acc=$!
	pids+=("$pid_haproxy_acc")
	PORTS+=" $P_SHUNT_ACC $P_HAPROXY_ACC"
	NAMES+=" shunt+acc haproxy+acc"
fi

wait_port() {
	for _ in $(seq 1 100); do
		curl -s -m 2 -o /dev/null "http://$1/public/x" && return 0
		sleep 0.05 # startup only, not a measurement
	done
	echo "nothing answers on $1" >&2
	exit 1
}
for p in $PORTS; do wait_port "127.0.0.1:$p"; done
# nginx proxy: the worker is a child of the master; measure the worker
pid_nginx=$(pgrep -P "$(cat "$W/ngx/nginx.pid")" | head -1)

# sanity: the policy is enforced by every proxy
for p in $PORTS; do
	[ "$p" != $P_SHUNTALL ] || continue
	code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$p/private")
	[ "$code" = 403 ] || { echo "port $p: /private gave $code, want 403" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)

declare -A RPS P99 CPU
WRK_CPU=0
run_one() { # name port pid [incg]; results under "$PL/name"
	local t0 t1 out rps p99 reqs cpu k=$PL/$1
	# 1 s unmeasured: fills the proxy's upstream pool and lets whatever the
	# previous run left behind (socket teardown) finish
	(${4:-} taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d1s "http://127.0.0.1:$2/public/x" >/dev/null)
	t0=$(cpu_ticks "$3")
	out=$(${4:-} taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d"${DUR}s" --latency "http://127.0.0.1:$2/public/x")
	t1=$(cpu_ticks "$3")
	rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
	reqs=$(awk '/requests in/ {print $1}' <<<"$out")
	p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; print v}' <<<"$out")
	non2xx=$(awk '/Non-2xx/ {print $4}' <<<"$out")
	[ -z "$non2xx" ] || { echo "$1: $non2xx non-2xx responses" >&2; exit 1; }
	cpu=$(awk -v a="$t0" -v b="$t1" -v r="$reqs" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz / r * 1e6}')
	RPS[$k]+="$rps "
	P99[$k]+="$p99 "
	CPU[$k]+="$cpu "
	printf '  %-9s %10.0f req/s  p99 %7.3f ms  cpu %s us/req\n' "$1" "$rps" "$p99" "$cpu"
}

median() { tr ' ' '\n' <<<"$1" | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# pin_tree CPU PID: the process, its threads and its children's (nginx's worker)
pin_tree() {
	local c
	for c in "$2" $(pgrep -P "$2"); do taskset -a -p -c "$1" "$c" >/dev/null; done
}

RUNS=("shunt $P_SHUNT $pid_shunt" "haproxy $P_HAPROXY $pid_haproxy" "nginx $P_NGINX $pid_nginx"
	"shunt-1k $P_SHUNT1K $pid_shunt1k" "shunt-all $P_SHUNTALL $pid_shuntall")
[ -z "$CG" ] || RUNS+=("shunt+acc $P_SHUNT_ACC $pid_shunt_acc incg"
	"haproxy+acc $P_HAPROXY_ACC $pid_haproxy_acc incg")
for PL in $PLACEMENTS; do
	if [ "$PL" = one ]; then
		WRK_CPU=1
		echo "placement one: wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds; wrk, backend nginx and the proxy on CPU 1"
	else
		WRK_CPU=0
		echo "placement split: wrk -t1 -c$CONNS -d${DUR}s, $ROUNDS rounds; proxies on CPU 1, wrk + backend nginx on CPU 0"
	fi
	pin_tree "$WRK_CPU" "$pid_back"
	for r in $(seq 1 "$ROUNDS"); do
		echo "round $r"
		# each round starts one proxy further down the list, so no proxy
		# always runs first (or right after an accelerated run)
		for ((i = 0; i < ${#RUNS[@]}; i++)); do
			# shellcheck disable=SC2086 # the entry is "name port pid [incg]"
			run_one ${RUNS[(i + r - 1) % ${#RUNS[@]}]}
		done
	done
done

med() { # med ARRAY PLACEMENT NAME
	local -n arr=$1
	median "${arr[$2/$3]}"
}
for PL in $PLACEMENTS; do
	echo
	echo "placement $PL"
	printf '%-11s %12s %12s %14s\n' proxy "req/s" "p99 ms" "cpu us/req"
	for n in $NAMES; do
		printf '%-11s %12.0f %12.3f %14.2f\n' "$n" "$(med RPS "$PL" "$n")" "$(med P99 "$PL" "$n")" \
			"$(med CPU "$PL" "$n")"
	done
	awk -v a="$(med RPS "$PL" shunt)" -v b="$(med RPS "$PL" haproxy)" \
		-v c="$(med CPU "$PL" shunt)" -v d="$(med CPU "$PL" haproxy)" \
		-v e="$(med RPS "$PL" shunt-1k)" -v f="$(med RPS "$PL" shunt-all)" \
		-v g="$(med CPU "$PL" shunt-1k)" -v h="$(med CPU "$PL" shunt-all)" \
		-v i="$(med P99 "$PL" shunt)" -v j="$(med P99 "$PL" haproxy)" 'BEGIN {
		printf "shunt/haproxy: req/s %.2fx (target >= 1.3x), cpu/req %.2fx (target <= 0.75x), p99 %.2fx (target <= 1x)\n", a / b, c / d, i / j
		printf "1,000-rule policy vs allow-all: %+.1f%% req/s, %+.1f%% cpu/req (target within 2%%)\n", (e - f) / f * 100, (g - h) / h * 100 }'
	if [ -n "$CG" ]; then
		awk -v a="$(med RPS "$PL" shunt+acc)" -v b="$(med RPS "$PL" haproxy)" \
			-v c="$(med CPU "$PL" shunt+acc)" -v d="$(med CPU "$PL" haproxy)" \
			-v i="$(med P99 "$PL" shunt+acc)" -v j="$(med P99 "$PL" haproxy)" \
			-v k="$(med RPS "$PL" haproxy+acc)" 'BEGIN {
		printf "shunt+acc/haproxy: req/s %.2fx, cpu/req %.2fx, p99 %.2fx; haproxy+acc/haproxy: req/s %.2fx\n", a / b, c / d, i / j, k / b }'
	fi
done
if [ -n "$CG" ]; then
	echo "shuntd counters:"
	"$(dirname "$SHUNTD")/shuntctl" --pin-dir "/sys/fs/bpf/shunt-proxy-bench-$$" status | sed -n '/counters:/,$p'
fi
