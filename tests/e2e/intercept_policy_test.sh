#!/usr/bin/env bash
# e2e: L3/L4 policy at connect() without capture (issue 6). Inside with-pods.sh
# --pod 1:app1 --pod 1:app2 --pod 1:app3:
#   intercept_policy_test.sh BUILD_DIR INTERCEPT_TOOL
# shuntd --capture off --config (policy "app1:80 only from app2, GET /public/*"):
# app2 -> app1:80 allowed at connect ("L7" entry: a proxy in the path would
# decide per request) and accelerated; app3 -> app1:80 EPERM. With
# --no-l7-proxy (Istio's TCP semantics: an ALLOW rule that needs HTTP fields is
# ignored) app2 is denied too.
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
start_nginx app1 "$A1:80"
write_config "$T/node.json" ""

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

echo "== --no-l7-proxy: Istio's TCP semantics"
start_shuntd --config "$T/node.json" --no-l7-proxy
check "app2 connect app1:80 (HTTP-only ALLOW rule ignored)" EPERM \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" connect "$A1" 80 || true)"
check "app3 connect app1:80" EPERM "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
stop_shuntd

echo "== --l4-policy off: acceleration only, nothing attached for interception"
start_shuntd --config "$T/node.json" --l4-policy off
check "interception not attached" false \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json | jq -r .interception.attached)"
check "app3 connect app1:80" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
stop_shuntd
check "after stop: app3 connect app1:80" connected "$("$SHUNT_POD_EXEC" app3 "$TOOL" connect "$A1" 80 || true)"
exit "$FAILED"
