#!/usr/bin/env bash
# e2e: L3/L4 policy at connect() without capture (issue 6). Inside with-pods.sh
# --pod 1:app1 --pod 1:app2 --pod 1:app3:
#   intercept_policy_test.sh BUILD_DIR INTERCEPT_TOOL
# shuntd --capture off --config (policy "app1:80 only from app2, GET /public/*"):
# app2 -> app1:80 allowed at connect ("L7" entry: a proxy in the path would
# decide per request) and accelerated; app3 -> app1:80 EPERM. With
# --no-l7-proxy (Istio's TCP semantics: an ALLOW rule that needs HTTP fields is
# ignored) app2 is denied too.
# Services: app1's ClusterIP VIP (10.250.96.10 and fd00:250:96::10, port 80 ->
# app1:80) is a secondary address of app1's eth0, routed by the node via
# app1's IP (standing in for kube-proxy's DNAT). The VIP is judged by its
# backend's policy at connect(): app2 -> VIP:80 gets 200, app3 gets EPERM at
# once; without the "services" section (SIGHUP) or without shuntd, app3
# connects. With --capture l7 and app2's sidecar (shunt-proxy with the same
# services), GET VIP/public/x -> 200 and GET VIP/restricted -> 403.
set -euo pipefail
B=$1
TOOL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"
require_cmds jq nginx curl
e2e_init
trap e2e_cleanup EXIT
A1=$SHUNT_POD_APP1_IP
VIP=10.250.96.10
VIP6=fd00:250:96::10
nsenter --net="$SHUNT_POD_APP1_NETNS" ip addr add "$VIP/32" dev eth0
nsenter --net="$SHUNT_POD_APP1_NETNS" ip -6 addr add "$VIP6/128" dev eth0 nodad
nsenter --net="$SHUNT_NODE1_NETNS" ip route add "$VIP/32" via "$A1"
nsenter --net="$SHUNT_NODE1_NETNS" ip -6 route add "$VIP6/128" via "$SHUNT_POD_APP1_IP6"
start_nginx app1 "$A1:80" "$VIP:80" "[$VIP6]:80"
write_config "$T/node.json" ""
# the same plus a Service for app1 (and a UDP port, which is ignored)
jq --arg v "$VIP" --arg v6 "$VIP6" '.services = [{"name": "app1", "namespace": "default",
  "clusterIPs": [$v, $v6], "selector": {"app": "app1"},
  "ports": [{"port": 80, "targetPort": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}]' \
	"$T/node.json" >"$T/svc.json"
chmod 644 "$T/svc.json"
check "shuntctl validate lists the service" "    backends: default/app1" \
	"$("$B/sockmap/shuntctl" validate "$T/svc.json" | grep -F '    backends:' || true)"
check "without shuntd: app3 connect VIP:80" connected \
	"$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"

echo "== shuntd --capture off --config: policy only"
start_shuntd --config "$T/node.json"
check "interception attached for the policy" "true off true" \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
		jq -r '.interception | "\(.attached) \(.capture) \(.policy)"')"
check "app2 GET app1:80 (allowed at connect, no proxy here)" "app1 /public/x" \
	"$("$SHUNT_POD_EXEC" app2 curl -s "http://$A1/public/x" || true)"
check "app3 connect app1:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
check "nothing captured" "0 0" "$(counter captured_outbound) $(counter captured_inbound)"
check "app2 -> app1 accelerated" true "$([ "$(counter msgs_redirected)" -ge 2 ] && echo true || echo false)"
stop_shuntd

echo "== services: a connection to app1's ClusterIP is judged by app1's policy"
start_shuntd --config "$T/svc.json"
check "status: 1 service, 1 more address block per VIP" "1 8" \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
		jq -r '.interception | "\(.services) \(.identity_address_blocks)"')"
check "app2 GET VIP:80" "app1 /public/x" \
	"$("$SHUNT_POD_EXEC" app2 curl -s "http://$VIP/public/x" || true)"
check "app2 GET [VIP6]:80" "app1 /public/y" \
	"$("$SHUNT_POD_EXEC" app2 curl -s "http://[$VIP6]/public/y" || true)"
check "app3 connect VIP:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"
check "app3 connect [VIP6]:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP6" 80 || true)"
check "app2 connect VIP:8080 (not a service port)" EPERM \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" connect "$VIP" 8080 || true)"
echo "-- SIGHUP without the services section: the VIP is an unknown address again"
exec 9<>"$T/shuntd.events"
cp "$T/node.json" "$T/svc.json.new"
mv "$T/svc.json.new" "$T/svc.json"
kill -HUP "$SHUNTD_PID"
read -r line <&9
echo "$line"
check "app3 connect VIP:80 (no services)" connected \
	"$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"
check "app3 connect app1:80 (still denied)" EPERM \
	"$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
echo "-- SIGHUP with the services section again"
jq --arg v "$VIP" --arg v6 "$VIP6" '.services = [{"name": "app1", "clusterIPs": [$v, $v6],
  "selector": {"app": "app1"}, "ports": [{"port": 80}]}]' "$T/node.json" >"$T/svc.json.new"
chmod 644 "$T/svc.json.new"
mv "$T/svc.json.new" "$T/svc.json"
kill -HUP "$SHUNTD_PID"
read -r line <&9
exec 9<&-
echo "$line"
check "app3 connect VIP:80 (services back)" EPERM \
	"$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"
check "app2 connect VIP:80 (services back)" connected \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" connect "$VIP" 80 || true)"
stop_shuntd
check "after stop: app3 connect VIP:80" connected \
	"$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"
check "after stop: app3 GET VIP:80" "app1 /restricted" \
	"$("$SHUNT_POD_EXEC" app3 curl -s "http://$VIP/restricted" || true)"

echo "== --no-l7-proxy: Istio's TCP semantics"
start_shuntd --config "$T/svc.json" --no-l7-proxy
check "app2 connect app1:80 (HTTP-only ALLOW rule ignored)" EPERM \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" connect "$A1" 80 || true)"
check "app2 connect VIP:80 (likewise)" EPERM \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" connect "$VIP" 80 || true)"
check "app3 connect app1:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
stop_shuntd

echo "== --capture l7 with app2's sidecar: the proxy judges requests to the VIP by app1's policy"
write_config "$T/sidecar-app2.base.json" app2 proxy
jq --arg v "$VIP" --arg v6 "$VIP6" '.services = [{"name": "app1", "clusterIPs": [$v, $v6],
  "selector": {"app": "app1"}, "ports": [{"port": 80}]}]' "$T/sidecar-app2.base.json" \
	>"$T/sidecar-app2.json"
chmod 644 "$T/sidecar-app2.json"
start_logged sidecar-app2 "listening:" as_proxy app2 \
	"$B/proxy/shunt-proxy" --config "$T/sidecar-app2.json" --log-level info
start_shuntd --config "$T/svc.json" --capture l7
out0=$(counter captured_outbound)
check "app2 GET VIP:80/public/x through its sidecar" "app1 /public/x" \
	"$("$SHUNT_POD_EXEC" app2 curl -s "http://$VIP/public/x" || true)"
check "app2 GET VIP:80/restricted: 403 from the sidecar" 403 \
	"$("$SHUNT_POD_EXEC" app2 curl -s -o /dev/null -w '%{http_code}' "http://$VIP/restricted" || true)"
# (IPv6 through a sidecar needs a [::1] outbound listener: intercept_capture_test.sh)
check_ge "captured to app2's sidecar" 2 "$(($(counter captured_outbound) - out0))"
check "app3 connect VIP:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$VIP" 80 || true)"
stop_shuntd

echo "== --l4-policy off: acceleration only, nothing attached for interception"
start_shuntd --config "$T/node.json" --l4-policy off
check "interception not attached" false \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json | jq -r .interception.attached)"
check "app3 connect app1:80" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
stop_shuntd
check "after stop: app3 connect app1:80" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
exit "$FAILED"
