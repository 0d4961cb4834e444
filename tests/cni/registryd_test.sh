#!/usr/bin/env bash
# shunt-registryd (the chart's registry sidecar) with the real shunt-cni, in a
# simulated pod: --check, ADD/DEL logged and listed, state kept across a restart,
# SIGTERM removes the socket, a corrupt state file is refused (exit 2).
#   with-pods.sh --pod 1:a -- registryd_test.sh PATH/shunt-registryd PATH/shunt-cni
set -euo pipefail

REGD=$1
CNI=$2
: "${SHUNT_POD_A_NETNS:?run under with-pods.sh --pod 1:a}"
WORK=$(mktemp -d /tmp/shunt-registryd.XXXXXX)
SOCK=$WORK/cni.sock
STATE=$WORK/registry.json
rpid=
cleanup() {
	[ -n "$rpid" ] && kill "$rpid" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

start() {
	mkfifo "$WORK/log.$1"
	"$REGD" --socket="$SOCK" --state="$STATE" 2>"$WORK/log.$1" &
	rpid=$!
	exec 4<"$WORK/log.$1"
}
# until_log PATTERN: read the daemon's log until a line matches (blocking, 30 s cap).
until_log() {
	local l
	while read -r -t 30 l <&4; do
		echo "  registryd: $l"
		case "$l" in *$1*) return 0 ;; esac
	done
	return 1
}
cni() { # command container-id
	CNI_COMMAND=$1 CNI_CONTAINERID=$2 CNI_NETNS=$SHUNT_POD_A_NETNS CNI_IFNAME=eth0 \
		CNI_ARGS="K8S_POD_NAMESPACE=team;K8S_POD_NAME=a" CNI_PATH=/opt/cni/bin "$CNI" <<JSON
{"cniVersion":"1.0.0","name":"k8s","type":"shunt-cni","socket":"$SOCK",
 "prevResult":{"cniVersion":"1.0.0","ips":[{"address":"$SHUNT_POD_A_IP/24"}]}}
JSON
}

if "$REGD" --check --socket="$SOCK" 2>/dev/null; then bad "--check without a server succeeded"; else ok "--check fails without a server"; fi
start 1
if until_log "serving $SOCK"; then ok "started"; else bad "did not start"; fi
if "$REGD" --check --socket="$SOCK"; then ok "--check (readiness probe) succeeds"; else bad "--check failed"; fi
if cni ADD cid-a >/dev/null && until_log "ADD team/a container cid-a netns $SHUNT_POD_A_NETNS ips $SHUNT_POD_A_IP"; then
	ok "ADD registered and logged"
else bad "ADD"; fi
if "$REGD" --list --state="$STATE" | grep -qx "team/a	cid-a	$SHUNT_POD_A_NETNS	$SHUNT_POD_A_IP"; then ok "--list shows the pod"; else bad "--list"; fi
kill -TERM "$rpid"
if wait "$rpid" && until_log "stopping (1 pods kept"; then ok "SIGTERM: exit 0, state kept"; else bad "SIGTERM"; fi
rpid=
if [ ! -e "$SOCK" ]; then ok "socket removed"; else bad "socket left behind"; fi

start 2
if until_log "serving $SOCK (state $STATE, 1 pods)"; then ok "restart loads the registry"; else bad "restart"; fi
if cni DEL cid-a && until_log "DEL team/a container cid-a"; then ok "DEL logged"; else bad "DEL"; fi
if [ -z "$("$REGD" --list --state="$STATE")" ]; then ok "registry empty after DEL"; else bad "registry not empty"; fi
kill -TERM "$rpid"
wait "$rpid" || true
rpid=

echo '{"version":1,"pods":[{"containerId":' >"$STATE"
set +e
"$REGD" --socket="$SOCK" --state="$STATE" 2>"$WORK/err"
rc=$?
set -e
if [ "$rc" -eq 2 ] && grep -q "registry.json" "$WORK/err"; then ok "corrupt state refused (exit 2)"; else bad "corrupt state: exit $rc"; fi

echo "registryd_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
