#!/usr/bin/env bash
# Interception programs across shuntd restarts (label kernel; inside with-pods.sh --pod 1:a):
#   intercept_agent_test.sh SHUNTD SHUNTCTL
# start with --capture istio -> kill -9 -> adopt with --capture l7 (links switched to the
# new programs) -> kill -9 -> adopt without capture (interception links detached) ->
# kill -9 -> replace on another cgroup -> SIGTERM: nothing left anywhere.
set -euo pipefail
SHUNTD=$1
SHUNTCTL=$2
P=$SHUNT_PIN_DIR/s
T=$(mktemp -d)
PID=
FAILED=0
trap '[ -z "$PID" ] || kill -9 "$PID" 2>/dev/null; rm -rf "$T"' EXIT

check() {
	if [ "$2" == "$3" ]; then echo "ok: $1"; else
		echo "FAIL: $1: expected '$2', got '$3'" >&2
		FAILED=1
	fi
}
start() {
	local line=""
	rm -f "$T/rdy"
	mkfifo "$T/rdy"
	"$SHUNTD" --pin-dir "$P" --ready-fd 3 "$@" 3>"$T/rdy" 2>>"$T/log" &
	PID=$!
	read -r line <"$T/rdy" || true
	check "shuntd $* started" ready "$line"
}
crash() {
	kill -9 "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}
attached() { # attach types on a cgroup, sorted, one line
	bpftool cgroup show "$1" | awk 'NR > 1 { print $2 }' | sort | tr '\n' ' ' | sed 's/ $//'
}
ALL="cgroup_getsockopt cgroup_inet4_connect cgroup_inet6_connect cgroup_setsockopt cgroup_sock_ops"
N1=$SHUNT_NODE1_CGROUP
A=$SHUNT_POD_A_CGROUP

start --cgroup "$N1" --capture istio
check "istio: programs on node cgroup" "$ALL" "$(attached "$N1")"
ids1=$(bpftool cgroup show "$N1" | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')
crash
check "after kill -9 the programs stay" "$ALL" "$(attached "$N1")"

start --cgroup "$N1" --capture l7
check "adopted: same attach types" "$ALL" "$(attached "$N1")"
ids2=$(bpftool cgroup show "$N1" | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')
[ "$ids1" != "$ids2" ] && echo "ok: links switched to new programs" ||
	{ echo "FAIL: program ids unchanged after adoption" >&2; FAILED=1; }
check "status: capture l7" "true l7" \
	"$("$SHUNTCTL" --pin-dir "$P" status --json | jq -r '.interception | "\(.attached) \(.capture)"')"
grep -q "adopted the pinned state" "$T/log" || { echo "FAIL: not adopted" >&2; FAILED=1; }
crash

start --cgroup "$N1"
check "adopted without capture: interception detached" "cgroup_sock_ops" "$(attached "$N1")"
left=""
for f in "$P"/v1/link_*; do [ "$f" = "$P/v1/link_sockops" ] || left+="$f "; done
check "no interception link pinned" "" "$left"
crash

start --cgroup "$A" --capture istio
check "replaced: nothing left on node cgroup" "" "$(attached "$N1")"
check "programs on pod cgroup" "$ALL" "$(attached "$A")"
kill -TERM "$PID"
wait "$PID"
PID=
check "SIGTERM: nothing left on pod cgroup" "" "$(attached "$A")"
check "SIGTERM: pins removed" "gone" "$([ -e "$P" ] && echo present || echo gone)"
[ "$FAILED" = 0 ] || cat "$T/log" >&2
exit "$FAILED"
