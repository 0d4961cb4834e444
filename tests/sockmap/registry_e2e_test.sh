#!/usr/bin/env bash
# shuntd serves the pod registry (--cni-socket) and enforces the L4 policy on
# the identities registered by the real shunt-cni (issue 8), with the modes of
# what it creates checked (issue 9). Inside
#   with-pods.sh --pod 1:srv --pod 1:good --pod 1:bad -- registry_e2e_test.sh BUILD_DIR SHUNT_CNI
# The policy names identities only by principal and namespace (no workload in
# the config):
#   srv:80 only from cluster.local/ns/good/sa/default, srv:81 only from namespace bad.
# The clients run in kubelet-like cgroups made under the node's cgroup
# (cgroupfs "kubepods/burstable/pod<uid>" for good, systemd
# "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice"
# for bad); good's is created only after its ADD (found lazily).
# Asserts: allowed/denied (EPERM) at connect() per registered identity, DEL
# removes it, a restarted shuntd replays the state file with the same result,
# modes of the socket, its directory, the state file and the pins,
# --metrics refuses non-loopback addresses.
set -euo pipefail
B=$1
CNI=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/intercept_lib.sh
. "$HERE/../e2e/intercept_lib.sh"
: "${SHUNT_POD_SRV_IP:?run under with-pods.sh --pod 1:srv --pod 1:good --pod 1:bad}"
require_cmds nginx nsenter timeout stat jq
e2e_init
RUN=$T/run # created by shuntd (0700)
SOCK=$RUN/cni.sock
STATE=$RUN/registry.json
KUBEPODS=$SHUNT_NODE1_CGROUP/kubepods
declare -A POD_UID=([srv]=5e4a0001-0000-4000-8000-000000000001
	[good]=5e4a0002-0000-4000-8000-000000000002 [bad]=5e4a0003-0000-4000-8000-000000000003)
CG_GOOD=$KUBEPODS/burstable/pod${POD_UID[good]}
CG_BAD=$KUBEPODS/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID[bad]//-/_}.slice
SRV=$SHUNT_POD_SRV_IP
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	e2e_cleanup
	if [ -d "$KUBEPODS" ]; then
		find "$KUBEPODS" -depth -type d -exec rmdir {} + 2>/dev/null || true
	fi
}
trap cleanup EXIT

# cni COMMAND POD: shunt-cni exactly as a runtime calls it (env + config on stdin)
cni() {
	local cmd=$1 pod=$2 up ns ip uid
	up=${pod^^}
	ns=$(eval echo "\$SHUNT_POD_${up}_NETNS")
	ip=$(eval echo "\$SHUNT_POD_${up}_IP")
	uid=${POD_UID[$pod]}
	CNI_COMMAND=$cmd CNI_CONTAINERID="sandbox-$pod" CNI_NETNS=$ns CNI_IFNAME=eth0 \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=$pod;K8S_POD_NAME=$pod;K8S_POD_INFRA_CONTAINER_ID=sandbox-$pod;K8S_POD_UID=$uid" \
		CNI_PATH=/opt/cni/bin "$CNI" >"$T/cni.out" <<JSON
{"cniVersion":"1.0.0","name":"k8s-pod-network","type":"shunt-cni","socket":"$SOCK","failPolicy":"fail",
 "prevResult":{"cniVersion":"1.0.0","interfaces":[{"name":"eth0","sandbox":"$ns"}],
               "ips":[{"address":"$ip/24","interface":0}]}}
JSON
}

# kconnect POD CGROUP PORT: connect() to srv:PORT from a process in CGROUP and POD's netns
kconnect() {
	local up ns out
	up=${1^^}
	ns=$(eval echo "\$SHUNT_POD_${up}_NETNS")
	out=$(sh -c 'echo $$ >"$1/cgroup.procs" && exec nsenter --net="$2" -- timeout 5 \
		bash -c "exec 3<>/dev/tcp/$3/$4 && echo connected" 2>&1' sh "$2" "$ns" "$SRV" "$3" || true)
	case $out in
	*connected*) echo connected ;;
	*"not permitted"*) echo EPERM ;;
	*) echo "other: $out" ;;
	esac
}

# eventually WANT POD CGROUP PORT: poll the verdict until it is WANT (10 s deadline)
eventually() {
	local want=$1 got="" deadline=$((SECONDS + 10))
	shift
	while [ $SECONDS -lt $deadline ]; do
		got=$(kconnect "$@")
		[ "$got" != "$want" ] || break
		sleep 0.05 # polling a condition with a deadline
	done
	echo "$got"
}

mode() { stat -c %a "$1" 2>/dev/null || echo missing; }

cat >"$T/policy.json" <<'JSON'
{"authorizationPolicies": [
  {"metadata": {"name": "srv-80", "namespace": "srv"},
   "spec": {"action": "ALLOW", "rules": [
     {"from": [{"source": {"principals": ["cluster.local/ns/good/sa/default"]}}],
      "to": [{"operation": {"ports": ["80"]}}]},
     {"from": [{"source": {"namespaces": ["bad"]}}],
      "to": [{"operation": {"ports": ["81"]}}]}]}}]}
JSON
chmod 644 "$T/policy.json"

mkdir -p "$KUBEPODS/burstable" "$CG_BAD"
start_nginx srv "$SRV:80" "$SRV:81"

echo "== option checks"
set +e
"$B/sockmap/shuntd" --cni-state "$STATE" 2>"$T/err.log"
check "--cni-state without --cni-socket: exit 2" 2 "$?"
"$B/sockmap/shuntd" --metrics 0.0.0.0:9100 2>>"$T/err.log"
check "--metrics 0.0.0.0: refused (exit 2)" 2 "$?"
set -e

echo "== shuntd --cni-socket: no pod registered yet"
mkdir -m 0755 "$PIN" # a pin dir left world-readable (bpffs mkdir by hand) is tightened
start_shuntd --config "$T/policy.json" --cni-socket "$SOCK" --cni-state "$STATE"
check "socket dir created 0700" 700 "$(mode "$RUN")"
check "socket 0600" 600 "$(mode "$SOCK")"
check "pin dir 0700" 700 "$(mode "$PIN")"
check "pin version dir 0700" 700 "$(mode "$PIN/v1")"
n_pins=$(find "$PIN/v1" -mindepth 1 | wc -l)
open_pins=$(find "$PIN" -mindepth 1 -perm /077 | wc -l)
check "pins present (maps, links, programs)" true "$([ "$n_pins" -ge 10 ] && echo true || echo false)"
check "no pin readable by group/others (of $n_pins)" 0 "$open_pins"
check "srv unknown: good -> srv:80 (no policy selects it)" connected "$(kconnect good "$SHUNT_POD_GOOD_CGROUP" 80)"

echo "== ADD srv, bad (cgroup exists) and good (cgroup made after ADD)"
cni ADD srv
check "ADD srv: prevResult passed through" true "$(grep -q '"ips"' "$T/cni.out" && echo true || echo false)"
cni ADD bad
cni ADD good
check "state file 0600" 600 "$(mode "$STATE")"
check "good's cgroup not there yet: good -> srv:80 denied (no identity)" EPERM \
	"$(kconnect good "$SHUNT_POD_GOOD_CGROUP" 80)"
check "bad -> srv:81 (namespace bad, systemd cgroup layout)" connected \
	"$(eventually connected bad "$CG_BAD" 81)"
check "bad -> srv:80" EPERM "$(kconnect bad "$CG_BAD" 80)"
mkdir -p "$CG_GOOD/ctr" # kubelet makes the pod cgroup, the runtime a container below it
check "good -> srv:80 once its cgroup appears (container cgroup below pod<uid>)" connected \
	"$(eventually connected good "$CG_GOOD/ctr" 80)"
check "good -> srv:81" EPERM "$(kconnect good "$CG_GOOD/ctr" 81)"
check "unregistered cgroup -> srv:80" EPERM "$(kconnect good "$SHUNT_POD_GOOD_CGROUP" 80)"
check "shuntctl: 2 pod cgroups, 3 pod addresses" "2 3" \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
		jq -r '"\(.interception.identity_cgroups) \(.interception.identity_address_blocks)"')"

echo "== DEL good"
cni DEL good
check "good -> srv:80 after DEL" EPERM "$(eventually EPERM good "$CG_GOOD/ctr" 80)"
check "bad -> srv:81 unchanged" connected "$(kconnect bad "$CG_BAD" 81)"

echo "== restart: the state file is replayed"
stop_shuntd
check "socket removed at stop" missing "$(mode "$SOCK")"
check "state file kept" 600 "$(mode "$STATE")"
check "stopped: good -> srv:80 (nothing attached)" connected "$(kconnect good "$CG_GOOD/ctr" 80)"
start_shuntd --config "$T/policy.json" --cni-socket "$SOCK" --cni-state "$STATE"
check "replayed: bad -> srv:81" connected "$(kconnect bad "$CG_BAD" 81)"
check "replayed: bad -> srv:80" EPERM "$(kconnect bad "$CG_BAD" 80)"
check "replayed: good (deleted) -> srv:80" EPERM "$(kconnect good "$CG_GOOD/ctr" 80)"
cni ADD good
check "ADD good again -> srv:80" connected "$(eventually connected good "$CG_GOOD/ctr" 80)"
kill -HUP "$SHUNTD_PID"
line=
read -r -t 10 line <"$T/shuntd.events" || true
check "SIGHUP: config reloaded" true "$([[ $line == *"reloaded:"* ]] && echo true || echo false)"
check "after reload: good -> srv:80 (registered pods kept)" connected "$(kconnect good "$CG_GOOD/ctr" 80)"
check "after reload: bad -> srv:80" EPERM "$(kconnect bad "$CG_BAD" 80)"
grep -q "pod registry on $SOCK (state $STATE): 2 pods, 1 with a cgroup" "$T/shuntd.log" &&
	r=true || r=false
check "log: srv and bad replayed, bad's cgroup found at start" true "$r"
stop_shuntd
exit "$FAILED"
