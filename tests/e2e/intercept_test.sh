#!/usr/bin/env bash
# e2e: iptables-free capture (issue 6). Runs inside tests/harness/with-pods.sh
# --nodes 2 --pod 1:app1 --pod 1:app2 --pod 1:app3 --pod 2:remote.
#   intercept_test.sh BUILD_DIR INTERCEPT_TOOL [istio|l7]
# Pods app1 (nginx on :80), app2, app3 each get shunt-proxy as sidecar
# (outbound 127.0.0.1:15001, inbound :15006, upstream original-dst); shuntd on
# node 1 with the policy "app1:80 only from app2, GET /public/*".
#   istio: --capture istio, sidecars recognised by uid 1337 (Istio's preset);
#   l7:    --capture l7 (only connections under L7 policy are captured),
#          sidecars run as root in a "sidecar" child cgroup (--proxy-cgroup).
# No iptables rule anywhere: rulesets are compared at the end.
set -euo pipefail
B=$1
TOOL=$2
MODE=${3:-istio}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"

require_cmds jq nginx curl setpriv iptables-save nft

e2e_init
trap e2e_cleanup EXIT

# Every ruleset shunt could have touched: the machine's and every namespace of this run.
strip() { grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//g' || true; }
rulesets() {
	local ns
	set +o pipefail
	{
		echo "== host"
		iptables-save 2>&1 | strip
		ip6tables-save 2>&1 | strip
		nft list ruleset 2>&1 || true
		for ns in "$SHUNT_NODE1_NETNS" "$SHUNT_NODE2_NETNS" "$SHUNT_POD_APP1_NETNS" \
			"$SHUNT_POD_APP2_NETNS" "$SHUNT_POD_APP3_NETNS" "$SHUNT_POD_REMOTE_NETNS"; do
			echo "== $ns"
			nsenter --net="$ns" -- iptables-save 2>&1 | strip
			nsenter --net="$ns" -- nft list ruleset 2>&1 || true
		done
	}
	set -o pipefail
}
rulesets >"$T/rules.before"

A1=$SHUNT_POD_APP1_IP
A16=$SHUNT_POD_APP1_IP6
R=$SHUNT_POD_REMOTE_IP
R6=$SHUNT_POD_REMOTE_IP6
if [ "$MODE" = istio ]; then
	PROXY_BY=uid
	SHUNTD_FLAGS=(--capture istio)
	# every outbound connection is captured: app3 -> remote, before app3's sidecar runs
	OD_POD=app3 OD4=$R OD6=$R6 OD_PORT=9999
	CROSS_CAPTURED=1
else
	PROXY_BY=cgroup
	mapfile -t SHUNTD_FLAGS < <(echo --capture; echo l7; echo --proxy-uid; echo none
		proxy_cgroup_flags app1 app2 app3)
	# only connections under L7 policy: app2 -> app1:80, before app2's sidecar runs
	OD_POD=app2 OD4=$A1 OD6=$A16 OD_PORT=80
	CROSS_CAPTURED=0
fi

echo "== servers: app1 nginx on $A1:80, remote (node 2) nginx on $R:8080 and :8081"
start_nginx app1 "$A1:80"
start_nginx remote "$R:8080" "$R:8081"

echo "== shuntd ${SHUNTD_FLAGS[*]} on node 1"
write_config "$T/node.json" ""
"$B/sockmap/shuntctl" validate "$T/node.json" >"$T/validate.log"
start_shuntd --config "$T/node.json" "${SHUNTD_FLAGS[@]}" --exclude-outbound-port 8081
"$B/sockmap/shuntctl" --pin-dir "$PIN" status --json >"$T/status.json"
# cgroups: the 3 workloads' (+ the 3 sidecar cgroups in l7 mode); addresses: v4 + v6 each
check "shuntctl status: interception" "true $MODE true $((CROSS_CAPTURED ? 3 : 6)) 8" \
	"$(jq -r '.interception | "\(.attached) \(.capture) \(.policy) \(.identity_cgroups) \(.identity_address_blocks)"' "$T/status.json")"
check_ge "shuntctl status: L4 entries" 2 "$(jq -r .interception.l4_entries "$T/status.json")"

echo "== an unmodified client reads SO_ORIGINAL_DST ($OD_POD, before its sidecar starts)"
mkfifo "$T/od.out"
as_proxy "$OD_POD" "$TOOL" origdst-server $ISTIO_OUT 3 >"$T/od.out" 2>>"$T/od.log" &
PIDS+=($!)
exec 7<"$T/od.out"
read -r line <&7
check "origdst server up" listening "$line"
check "$OD_POD connect $OD4:$OD_PORT (captured)" connected "$("$SHUNT_POD_EXEC" "$OD_POD" "$TOOL" connect "$OD4" $OD_PORT || true)"
read -r line <&7
check "SO_ORIGINAL_DST (IPv4)" "orig $OD4:$OD_PORT" "$line"
check "$OD_POD connect [$OD6]:$OD_PORT (captured)" connected "$("$SHUNT_POD_EXEC" "$OD_POD" "$TOOL" connect "$OD6" $OD_PORT || true)"
read -r line <&7
check "IP6T_SO_ORIGINAL_DST (IPv6)" "orig [$OD6]:$OD_PORT" "$line"
# a dual-stack socket connecting to an IPv4-mapped address: captured to ::ffff:127.0.0.1
check "$OD_POD connect [::ffff:$OD4]:$OD_PORT (captured)" connected "$("$SHUNT_POD_EXEC" "$OD_POD" "$TOOL" connect "::ffff:$OD4" $OD_PORT || true)"
read -r line <&7
check "SO_ORIGINAL_DST (IPv4-mapped)" "orig $OD4:$OD_PORT" "$line"
exec 7<&-
check "origdst answered" 3 "$(counter origdst_answered)"

echo "== sidecars (shunt-proxy, proxy by $PROXY_BY) in app1, app2, app3"
for p in app1 app2 app3; do start_sidecar "$p"; done

echo "== app2 -> app1:80 GET /public/x through both sidecars, one keep-alive session"
out0=$(counter captured_outbound)
in0=$(counter captured_inbound)
session_open app2 "$A1" 80
echo "GET /public/x" >&6
read -r line <&7
check "app2 GET /public/x" "200 app1 /public/x" "$line"
check "outbound capture (app2 -> its sidecar)" 1 "$(($(counter captured_outbound) - out0))"
check "inbound capture (app2 sidecar -> app1 sidecar)" 1 "$(($(counter captured_inbound) - in0))"
# every same-node leg is accelerated: both ends of the three legs are
# redirecting and each end redirected at least one message (request/response)
check_legs "127.0.0.1:$ISTIO_OUT" "$A1:$ISTIO_IN" "$A1:80"

echo "== app2 GET /restricted -> 403 (L7, from the sidecar)"
check "app2 GET /restricted" 403 "$("$SHUNT_POD_EXEC" app2 curl -s -o /dev/null -w '%{http_code}' "http://$A1/restricted" || true)"

echo "== app3 -> app1:80: connect() fails with EPERM (L3/L4 policy in the kernel)"
d0=$(counter connect_denied)
check "app3 connect $A1:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
check "app3 connect $A1:8080 (other port, also denied)" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 8080 || true)"
check "app3 connect [$A16]:80 (IPv6)" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A16" 80 || true)"
check "app3 connect [::ffff:$A1]:80 (IPv4-mapped)" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "::ffff:$A1" 80 || true)"
check "app3 curl http://$A1/public/x fails at once" 000 "$("$SHUNT_POD_EXEC" app3 curl -s -o /dev/null -w '%{http_code}' "http://$A1/public/x" || true)"
check "connect_denied counter" 5 "$(($(counter connect_denied) - d0))"

echo "== cross-node: app2 -> remote (node 2), captured only as configured"
# remote is a workload of node 2: never inbound-captured from here (its sidecar could not
# answer SO_ORIGINAL_DST for a rewrite made on node 1)
out0=$(counter captured_outbound)
in0=$(counter captured_inbound)
check "app2 GET $R:8080" "remote /c" "$("$SHUNT_POD_EXEC" app2 curl -s "http://$R:8080/c" || true)"
check "captured to app2's sidecar ($MODE mode)" "$CROSS_CAPTURED" "$(($(counter captured_outbound) - out0))"
check "no inbound capture towards node 2" 0 "$(($(counter captured_inbound) - in0))"
out0=$(counter captured_outbound)
check "app2 GET $R:8081 (--exclude-outbound-port 8081)" "remote /d" "$("$SHUNT_POD_EXEC" app2 curl -s "http://$R:8081/d" || true)"
check "not captured" 0 "$(($(counter captured_outbound) - out0))"

echo "== SIGHUP: shuntd re-reads the config; app3 may now call app1:80 too"
exec 9<>"$T/shuntd.events"
# shellcheck disable=SC2034 # read by write_config (intercept_lib.sh)
POLICY_FROM='"cluster.local/ns/default/sa/app2", "cluster.local/ns/default/sa/app3"'
write_config "$T/node.json" ""
kill -HUP "$SHUNTD_PID"
read -r line <&9
exec 9<&-
echo "$line"
check "app3 connect $A1:80 after reload" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
check "app3 connect $A1:8080 after reload (still denied)" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 8080 || true)"

echo "== stop shuntd: established connections keep working, new ones are plain TCP"
stop_shuntd
echo "GET /public/y" >&6
read -r line <&7
check "established session after shuntd stopped" "200 app1 /public/y" "$line"
session_close
check "new connection app2 -> app1:80 goes straight to nginx" "app1 /restricted" \
	"$("$SHUNT_POD_EXEC" app2 curl -s "http://$A1/restricted" || true)"
check "app3 connect $A1:80 (no policy without shuntd)" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
check "pins left" 0 "$( [ -e "$PIN" ] && find "$PIN" | wc -l || echo 0)"
check "programs left on node 1's cgroup" "" "$(bpftool cgroup show "$SHUNT_NODE1_CGROUP" 2>/dev/null | tail -n +2)"

echo "== no iptables / nft rule was added anywhere"
rulesets >"$T/rules.after"
if diff -u "$T/rules.before" "$T/rules.after"; then
	echo "ok: rulesets unchanged ($(wc -l <"$T/rules.before") lines compared)"
else
	echo "FAIL: rulesets changed" >&2
	FAILED=1
fi

[ "$FAILED" = 0 ] && echo "e2e_intercept ($MODE): all checks passed" || echo "e2e_intercept ($MODE): FAILED" >&2
exit "$FAILED"
