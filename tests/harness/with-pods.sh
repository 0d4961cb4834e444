#!/usr/bin/env bash
# Simulated Kubernetes node(s) for kernel and e2e tests.
#
#   with-pods.sh [--nodes 1|2] [--keep-on-fail] --pod NODE:NAME [--pod ...] -- CMD [ARGS...]
#   with-pods.sh --gc        remove what aborted runs (dead owner) left behind
#   with-pods.sh --check     exit 0 if this machine can run pods, else 77 (1 under CI=true)
#
# Each node is a network namespace holding a bridge (br0) that acts as the
# node's host network; each pod is a network namespace with eth0 (a veth whose
# other end sits in the node's bridge) and its own cgroup v2 directory under
# <cgroup2>/shunt-test-<id>/node<N>/<pod>. Node 2, when asked for, is reached
# from node 1 through a routed veth link, like a second machine.
#
# Nothing is created in the machine's own network namespace, so test traffic
# never leaves namespaces this script made. Everything carries the run id and
# is removed on exit, failure, SIGINT/SIGTERM/SIGHUP; a run killed with -9 is
# collected by the next run (or --gc) once its owner pid is gone.
#
# Exports for CMD (see pods.h): SHUNT_RUN_ID SHUNT_CGROUP2 SHUNT_RUN_CGROUP
# SHUNT_NODE<N>_CGROUP SHUNT_NODE<N>_NETNS SHUNT_PIN_DIR SHUNT_PODS
# SHUNT_POD_<NAME>_{NETNS,CGROUP,IP,IP6,NODE} SHUNT_POD_EXEC.
set -euo pipefail

HARNESS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE_ROOT=/run/shunt-test
PREFIX=sh

log() { echo "with-pods: $*" >&2; }

skip_or_fail() {
	if [ "${CI:-}" = "true" ]; then
		echo "FAIL: $* (CI=true: kernel tests may not skip)" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

find_cgroup2() {
	awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo
}

preflight() {
	[ "$(id -u)" -eq 0 ] || skip_or_fail "needs root"
	command -v ip >/dev/null || skip_or_fail "iproute2 (ip) not installed"
	command -v nsenter >/dev/null || skip_or_fail "nsenter (util-linux) not installed"
	CG2=$(find_cgroup2)
	[ -n "$CG2" ] || skip_or_fail "no cgroup v2 mount found"
	if ! mountpoint -q /sys/fs/bpf; then
		mount -t bpf bpf /sys/fs/bpf 2>/dev/null || skip_or_fail "cannot mount bpffs at /sys/fs/bpf"
	fi
	ip netns list >/dev/null 2>&1 || skip_or_fail "network namespaces unavailable"
}

# Kill every process in a cgroup subtree and remove its directories, deepest first.
remove_cgroup_tree() {
	local top=$1 d i
	[ -d "$top" ] || return 0
	if [ -e "$top/cgroup.kill" ]; then
		echo 1 >"$top/cgroup.kill" 2>/dev/null || true
	else
		find "$top" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -9 2>/dev/null || true
	fi
	# cgroup.kill is asynchronous: wait (bounded) for the subtree to empty.
	for i in $(seq 1 200); do
		grep -q '^populated 0' "$top/cgroup.events" 2>/dev/null && break
		sleep 0.025
	done
	find "$top" -depth -type d -exec rmdir {} + 2>/dev/null || true
	[ ! -d "$top" ] || log "warning: could not remove cgroup $top"
}

teardown_run() {
	local id=$1 cg2 ns
	cg2=$(find_cgroup2)
	[ -n "$cg2" ] && remove_cgroup_tree "$cg2/shunt-test-$id"
	for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep "^$PREFIX-$id-" || true); do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || log "warning: could not delete netns $ns"
	done
	rm -rf "/sys/fs/bpf/shunt-test-$id" 2>/dev/null || true
	rm -rf "${STATE_ROOT:?}/$id"
}

gc_stale() {
	local d id owner
	[ -d "$STATE_ROOT" ] || return 0
	for d in "$STATE_ROOT"/*; do
		[ -d "$d" ] || continue
		id=$(basename "$d")
		owner=$(cat "$d/owner" 2>/dev/null || echo 0)
		if [ "$owner" = 0 ] || ! kill -0 "$owner" 2>/dev/null; then
			log "collecting stale run $id (owner $owner gone)"
			teardown_run "$id"
		fi
	done
}

NODES=1
PODS=()
KEEP_ON_FAIL=0
while [ $# -gt 0 ]; do
	case $1 in
	--nodes) NODES=$2; shift 2 ;;
	--pod) PODS+=("$2"); shift 2 ;;
	--keep-on-fail) KEEP_ON_FAIL=1; shift ;;
	--gc) preflight; gc_stale; exit 0 ;;
	--check) preflight; exit 0 ;;
	--) shift; break ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	*) log "unknown argument '$1' (see --help)"; exit 2 ;;
	esac
done
[ $# -gt 0 ] || { log "missing -- CMD"; exit 2; }
case $NODES in 1|2) ;; *) log "--nodes must be 1 or 2"; exit 2 ;; esac
# Validate every pod spec before anything is created.
declare -A POD_SEEN
for spec in "${PODS[@]}"; do
	node=${spec%%:*} name=${spec#*:}
	[[ $spec == *:* ]] || { log "--pod wants NODE:NAME, got '$spec'"; exit 2; }
	# names become interface names (v<name>, at most 15 bytes) and env var names
	[[ $name =~ ^[a-z][a-z0-9]{0,13}$ ]] || { log "pod name '$name' must match [a-z][a-z0-9]{0,13}"; exit 2; }
	[[ $node =~ ^[12]$ ]] && [ "$node" -le "$NODES" ] || { log "pod '$name': node must be 1..$NODES"; exit 2; }
	[ -z "${POD_SEEN[$name]:-}" ] || { log "duplicate pod '$name'"; exit 2; }
	POD_SEEN[$name]=1
done

preflight
gc_stale

RUN_ID=$(printf '%04x%04x' $((RANDOM)) $$ | tail -c 8)
mkdir -p "$STATE_ROOT/$RUN_ID"
echo $$ >"$STATE_ROOT/$RUN_ID/owner"

CHILD=0
STATUS=0
on_exit() {
	trap - EXIT INT TERM HUP
	if [ "$CHILD" -gt 0 ] && kill -0 "$CHILD" 2>/dev/null; then
		kill -TERM "$CHILD" 2>/dev/null || true
	fi
	if [ "$KEEP_ON_FAIL" = 1 ] && [ "$STATUS" -ne 0 ] && [ "$STATUS" -ne 77 ]; then
		log "run $RUN_ID kept for inspection (remove with: $0 --gc after this shell exits)"
		echo 0 >"$STATE_ROOT/$RUN_ID/owner"
		exit "$STATUS"
	fi
	teardown_run "$RUN_ID"
	exit "$STATUS"
}
on_signal() {
	STATUS=$((128 + $1))
	on_exit
}
trap on_exit EXIT
trap 'on_signal 2' INT
trap 'on_signal 15' TERM
trap 'on_signal 1' HUP

RUN_CG="$CG2/shunt-test-$RUN_ID"
mkdir "$RUN_CG"
PIN_DIR="/sys/fs/bpf/shunt-test-$RUN_ID"
mkdir "$PIN_DIR"
export SHUNT_RUN_ID=$RUN_ID SHUNT_CGROUP2=$CG2 SHUNT_RUN_CGROUP=$RUN_CG SHUNT_PIN_DIR=$PIN_DIR
export SHUNT_POD_EXEC="$HARNESS_DIR/pod-exec"

nsx() { # run a command inside a netns without remounting /sys (unlike ip netns exec)
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# A fresh netns with lo up and IPv6 duplicate address detection off, so
# addresses (link-local ones too) are usable at once: no waiting, no flakes.
new_netns() {
	ip netns add "$1"
	nsx "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
	ip -n "$1" link set lo up
}

make_node() {
	local n=$1 ns
	ns="$PREFIX-$RUN_ID-node$n"
	new_netns "$ns"
	# no multicast snooping: IPv6 neighbour discovery is flooded from the start
	ip -n "$ns" link add br0 type bridge mcast_snooping 0
	ip -n "$ns" addr add "10.250.$n.1/24" dev br0
	ip -n "$ns" addr add "fd00:250:$n::1/64" dev br0 nodad
	ip -n "$ns" link set br0 up
	nsx "$ns" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
	mkdir "$RUN_CG/node$n"
	export "SHUNT_NODE${n}_CGROUP=$RUN_CG/node$n" "SHUNT_NODE${n}_NETNS=/run/netns/$ns"
}

link_nodes() {
	local a="$PREFIX-$RUN_ID-node1" b="$PREFIX-$RUN_ID-node2"
	ip -n "$a" link add wire type veth peer name wire netns "$b"
	ip -n "$a" addr add 10.250.0.1/30 dev wire
	ip -n "$b" addr add 10.250.0.2/30 dev wire
	ip -n "$a" addr add fd00:250::1/64 dev wire nodad
	ip -n "$b" addr add fd00:250::2/64 dev wire nodad
	ip -n "$a" link set wire up
	ip -n "$b" link set wire up
	ip -n "$a" route add 10.250.2.0/24 via 10.250.0.2
	ip -n "$b" route add 10.250.1.0/24 via 10.250.0.1
	ip -n "$a" -6 route add fd00:250:2::/64 via fd00:250::2
	ip -n "$b" -6 route add fd00:250:1::/64 via fd00:250::1
}

POD_NAMES=()
make_pod() {
	local spec=$1 node=${1%%:*} name=${1#*:} upper idx ns nodens
	POD_NAMES+=("$name")
	idx=$((${#POD_NAMES[@]} + 9))
	ns="$PREFIX-$RUN_ID-$name"
	nodens="$PREFIX-$RUN_ID-node$node"
	new_netns "$ns"
	ip -n "$nodens" link add "v$name" type veth peer name eth0 netns "$ns"
	ip -n "$nodens" link set "v$name" master br0 up
	ip -n "$ns" addr add "10.250.$node.$idx/24" dev eth0
	ip -n "$ns" addr add "fd00:250:$node::$idx/64" dev eth0 nodad
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "10.250.$node.1"
	ip -n "$ns" -6 route add default via "fd00:250:$node::1"
	mkdir "$RUN_CG/node$node/$name"
	upper=${name^^}
	export "SHUNT_POD_${upper}_NETNS=/run/netns/$ns" "SHUNT_POD_${upper}_CGROUP=$RUN_CG/node$node/$name"
	export "SHUNT_POD_${upper}_IP=10.250.$node.$idx" "SHUNT_POD_${upper}_IP6=fd00:250:$node::$idx"
	export "SHUNT_POD_${upper}_NODE=$node"
}

for n in $(seq 1 "$NODES"); do make_node "$n"; done
[ "$NODES" -lt 2 ] || link_nodes
for p in "${PODS[@]}"; do make_pod "$p"; done
export SHUNT_PODS="${POD_NAMES[*]}"
# netns creation waits on the kernel's namespace cleanup of earlier runs: say so when it is slow
[ "$SECONDS" -lt 10 ] || log "warning: setting up the pods took ${SECONDS} s"

# The test runs in its own cgroup of the run, so anything it leaves running
# is killed at teardown; this script stays outside so it survives that kill.
mkdir "$RUN_CG/runner"
(
	echo "$BASHPID" >"$RUN_CG/runner/cgroup.procs"
	trap - EXIT INT TERM HUP
	exec "$@"
) &
CHILD=$!
set +e
wait "$CHILD"
STATUS=$?
set -e
CHILD=0
exit "$STATUS"
