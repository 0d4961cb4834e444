#!/usr/bin/env bash
# Istio capture annotations carried by pod registrations (issue 6/8): shuntd
# --capture istio --cni-socket applies a registered pod's
# traffic.sidecar.istio.io/excludeOutboundPorts and excludeOutboundIPRanges.
# Inside
#   with-pods.sh --pod 1:app1 --pod 1:app2 --pod 1:app3 -- \
#     registry_annot_test.sh BUILD_DIR INTERCEPT_TOOL REG_SEND
# app1 is an unregistered server (nginx on :80, :8080, [v6]:80). app2 and app3
# are registered clients, each with an unmodified SO_ORIGINAL_DST reader as
# its outbound listener (uid 1337). app2: excludeOutboundPorts "8080",
# excludeOutboundIPRanges "<app1 v6>/128"; app3: the same range but a bad
# port list ("8080, http"): logged naming the pod and the annotation, the
# registration is kept, app3 has the global capture settings.
# Asserts, per connection, the connect result and the exact
# captured_outbound delta, the original destination the reader sees; then a
# re-ADD with other annotations, and a restart replaying the state file.
set -euo pipefail
B=$1
TOOL=$2
REG_SEND=$3
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/e2e/intercept_lib.sh
. "$HERE/../e2e/intercept_lib.sh"
: "${SHUNT_POD_APP3_IP:?run under with-pods.sh --pod 1:app1 --pod 1:app2 --pod 1:app3}"
require_cmds jq nginx setpriv

e2e_init
RUN=$T/run
SOCK=$RUN/cni.sock
STATE=$RUN/registry.json
trap e2e_cleanup EXIT

OUT0=0
# captured POD HOST PORT: connect from POD, then "<result> out=<captures it caused>"
captured() {
	local pod=$1 r
	shift
	OUT0=$(counter captured_outbound)
	r=$("$SHUNT_POD_EXEC" "$pod" "$TOOL" connect "$@" || true)
	echo "$r out=$(($(counter captured_outbound) - OUT0))"
}

# register POD ANNOTATIONS_JSON: ADD over the registry socket, prints the answer
register() {
	local up=${1^^} ip ip6 cg ns
	ip=$(eval echo "\$SHUNT_POD_${up}_IP")
	ip6=$(eval echo "\$SHUNT_POD_${up}_IP6")
	cg=$(eval echo "\$SHUNT_POD_${up}_CGROUP")
	ns=$(eval echo "\$SHUNT_POD_${up}_NETNS")
	jq -cn --arg id "sandbox-$1" --arg name "$1" --arg ns "$ns" --arg ip "$ip" --arg ip6 "$ip6" \
		--arg cg "$cg" --argjson ann "$2" \
		'{op: "ADD", containerId: $id, namespace: "default", name: $name, netns: $ns,
		  ips: [$ip, $ip6], cgroup: $cg, sidecar: true, annotations: $ann}' |
		"$REG_SEND" "$SOCK"
}

applied() { grep -c "pods applied:" "$T/shuntd.log" || true; }
# wait_applied BEFORE N: shuntd logged "pods applied" after its first BEFORE such
# lines with N pods registered, all with their cgroup (polled, 10 s deadline)
wait_applied() {
	local deadline=$((SECONDS + 10))
	while [ $SECONDS -lt $deadline ]; do
		if grep "pods applied:" "$T/shuntd.log" | tail -n +$(($1 + 1)) |
			grep -q "pods applied: $2 registered, $2 with a cgroup"; then
			echo applied
			return
		fi
		sleep 0.05 # polling a condition with a deadline
	done
	echo "not applied"
}

P=traffic.sidecar.istio.io
A1=$SHUNT_POD_APP1_IP
A16=$SHUNT_POD_APP1_IP6
ANN2='{"'$P'/excludeOutboundPorts": "8080", "'$P'/excludeOutboundIPRanges": "'$A16'/128"}'
ANN3='{"'$P'/excludeOutboundPorts": "8080, http", "'$P'/excludeOutboundIPRanges": "'$A16'/128"}'

echo "== app1: nginx on $A1:80, $A1:8080, [$A16]:80 (not registered: never an inbound target)"
start_nginx app1 "$A1:80" "$A1:8080" "[$A16]:80"
echo '{}' >"$T/empty.json"
chmod 644 "$T/empty.json"

# outbound listeners of app2 and app3: SO_ORIGINAL_DST readers for COUNT connections
mkfifo "$T/od2.out" "$T/od3.out"
as_proxy app2 "$TOOL" origdst-server "$ISTIO_OUT" 3 >"$T/od2.out" 2>>"$T/od2.log" &
PIDS+=($!)
as_proxy app3 "$TOOL" origdst-server "$ISTIO_OUT" 3 >"$T/od3.out" 2>>"$T/od3.log" &
PIDS+=($!)
exec 6<"$T/od2.out" 7<"$T/od3.out"
read -r line <&6
check "app2's outbound listener up" listening "$line"
read -r line <&7
check "app3's outbound listener up" listening "$line"

echo "== shuntd --capture istio --cni-socket; ADD app2 and app3 with annotations"
start_shuntd --config "$T/empty.json" --capture istio --cni-socket "$SOCK" --cni-state "$STATE"
n=$(applied)
check "ADD app2 (good annotations)" '{"ok":true}' "$(register app2 "$ANN2" | tr -d ' ')"
check "ADD app3 (a bad port list): registered all the same" '{"ok":true}' \
	"$(register app3 "$ANN3" | tr -d ' ')"
check "both applied with their cgroups" applied "$(wait_applied "$n" 2)"
check "app3's bad annotation logged with pod and annotation" 1 \
	"$(grep -cF "pod default/app3: \$.annotations[\"$P/excludeOutboundPorts\"]: bad port 'http' in '8080, http'" \
		"$T/shuntd.log" || true)"
check "app2's annotations are not complained about" 0 "$(grep -c "pod default/app2" "$T/shuntd.log" || true)"

check "app2 -> $A1:80: captured to app2's outbound listener" "connected out=1" \
	"$(captured app2 "$A1" 80)"
read -r line <&6
check "  original destination" "orig $A1:80" "$line"
check "app2 -> $A1:8080: excludeOutboundPorts, not captured" "connected out=0" \
	"$(captured app2 "$A1" 8080)"
check "app2 -> [$A16]:80: excludeOutboundIPRanges, not captured" "connected out=0" \
	"$(captured app2 "$A16" 80)"
check "app3 -> $A1:8080: bad annotations ignored, captured (global settings)" "connected out=1" \
	"$(captured app3 "$A1" 8080)"
read -r line <&7
check "  original destination" "orig $A1:8080" "$line"
check "app3 -> [$A16]:80: its (valid) range annotation ignored too" "connected out=1" \
	"$(captured app3 "$A16" 80)"
read -r line <&7
check "  original destination" "orig [$A16]:80" "$line"

echo "== re-ADD app3 with a valid port list: applied in place"
n=$(applied)
check "re-ADD app3" '{"ok":true}' \
	"$(register app3 '{"'$P'/excludeOutboundPorts": " 8080 , 9090 "}' | tr -d ' ')"
check "re-ADD applied" applied "$(wait_applied "$n" 2)"
check "app3 -> $A1:8080: now excluded" "connected out=0" "$(captured app3 "$A1" 8080)"
check "app3 -> [$A16]:80: range no longer excluded, captured" "connected out=1" \
	"$(captured app3 "$A16" 80)"
read -r line <&7
check "  original destination" "orig [$A16]:80" "$line"

echo "== restart: the state file carries the annotations"
stop_shuntd
start_shuntd --config "$T/empty.json" --capture istio --cni-socket "$SOCK" --cni-state "$STATE"
check "app2 -> $A1:8080 still excluded at ready" "connected out=0" "$(captured app2 "$A1" 8080)"
check "app2 -> $A1:80 still captured" "connected out=1" "$(captured app2 "$A1" 80)"
read -r line <&6
check "  original destination" "orig $A1:80" "$line"

[ "$FAILED" = 0 ] || exit 1
echo "registry annotations: all checks passed"
