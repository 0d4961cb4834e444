#!/usr/bin/env bash
# e2e: the kernel splices a TCP-relay sidecar out of the data path (issue 6).
# Runs inside tests/harness/with-pods.sh --pod 1:app1 --pod 1:app2.
#   intercept_splice_test.sh BUILD_DIR INTERCEPT_TOOL
# shuntd --capture istio on node 1; app1 (nginx :80) has an HTTP sidecar that
# judges (GET /public/* from app2 only); app2's sidecar has its outbound
# listener as a TCP relay ("mode": "tcp", "enforce": false: Istio's model).
# Checks: the relay links its two sockets and both directions switch past it
# (counters), requests keep their answers and order over a spliced
# connection, the inbound sidecar still judges (403), an HTTP tunnel
# (Upgrade) through app1's sidecar is spliced too and echoes every byte in
# order, the relay logs the spliced bytes, and stopping shuntd sends the same
# connection back through the relay without a broken request.
set -euo pipefail
B=$1
TOOL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"

require_root
require_cmds jq nginx curl setpriv

e2e_init
trap e2e_cleanup EXIT

A1=$SHUNT_POD_APP1_IP
PROXY_BY=uid
UPGRADE_PORT=8081 # policy_json: app2 may open a tunnel to app1:8081/ws
start_nginx app1 "$A1:80"
write_config "$T/node.json" ""
start_shuntd --config "$T/node.json" --capture istio
start_sidecar app1
# the relay (uid 1337) appends to its access log
touch "$T/access-app2.log"
chown "$PROXY_UID:$PROXY_UID" "$T/access-app2.log"
OUTBOUND_MODE=tcp ACCESS_LOG=$T/access-app2.log start_sidecar app2
RELAY_PID=${PIDS[-1]}

echo "== app2 -> app1:80 through app2's relay (spliced) and app1's sidecar"
l0=$(counter splice_linked)
s0=$(counter splice_switched)
m0=$(counter msgs_spliced)
session_open app2 "$A1" 80
for i in 1 2 3; do
	echo "GET /public/s$i" >&6
	read -r line <&7
	check "app2 GET /public/s$i (keep-alive)" "200 app1 /public/s$i" "$line"
done
check "relay sockets linked" 1 "$(($(counter splice_linked) - l0))"
# app1's sidecar's answers switch at once (nothing was sent the other way
# yet); the client's requests once the relay's "forwarded" report for the
# first request came before the client's next send
check_ge "answers (at least) switched past the relay" 1 "$(($(counter splice_switched) - s0))"
check_ge "messages sent past the relay" 2 "$(($(counter msgs_spliced) - m0))"

echo "== 2000 requests on one spliced connection: every answer right, in order"
l0=$(counter splice_linked)
s0=$(counter splice_switched)
m0=$(counter msgs_spliced)
check "intercept_tool bench over the splice" 0 \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" bench "$A1" 80 /public/bench 2000 >"$T/bench.out" 2>&1; echo $?)"
check "bench connection linked" 1 "$(($(counter splice_linked) - l0))"
check "bench connection: both directions switched" 2 "$(($(counter splice_switched) - s0))"
check_ge "bench messages spliced (2 per request, 2100 requests)" 4000 "$(($(counter msgs_spliced) - m0))"

echo "== app1's sidecar still judges every request (the relay does not)"
check "app2 GET /restricted" 403 \
	"$("$SHUNT_POD_EXEC" app2 curl -s -o /dev/null -w '%{http_code}' "http://$A1/restricted" || true)"

echo "== an HTTP tunnel (Upgrade) through the relay and app1's sidecar, both spliced"
mkfifo "$T/ws.out"
"$SHUNT_POD_EXEC" app1 "$TOOL" upgrade-server "$A1" $UPGRADE_PORT 1 >"$T/ws.out" 2>>"$T/ws.log" &
PIDS+=($!)
exec 5<"$T/ws.out"
read -r line <&5
check "upgrade server up" listening "$line"
exec 5<&-
l0=$(counter splice_linked)
s0=$(counter splice_switched)
m0=$(counter msgs_spliced)
check "app2 upgrade to app1:$UPGRADE_PORT/ws, 2 x 160 echoes" "echo 320 ok" \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" upgrade "$A1" $UPGRADE_PORT /ws 160 2>&1 || true)"
# the relay's pair and app1's sidecar's tunnel pair
check "two pairs linked (relay, tunnel)" 2 "$(($(counter splice_linked) - l0))"
# the client past the relay, app1's sidecar's answers past the relay (from the
# 101 on), the echo server past app1's sidecar (into the relay: in a chain each
# direction skips one proxy, see sk_msg.bpf.c)
check "three senders switched" 3 "$(($(counter splice_switched) - s0))"
check_ge "tunnel messages spliced" 320 "$(($(counter msgs_spliced) - m0))"
check "app2 upgrade to app1:$UPGRADE_PORT/other (not allowed: 403)" "status 403" \
	"$("$SHUNT_POD_EXEC" app2 "$TOOL" upgrade "$A1" $UPGRADE_PORT /other 16 2>&1 || true)"

echo "== stop shuntd: the spliced session goes back through the relay"
stop_shuntd
for i in 4 5; do
	echo "GET /public/s$i" >&6
	read -r line <&7
	check "app2 GET /public/s$i after shuntd stopped" "200 app1 /public/s$i" "$line"
done
session_close

echo "== the relay's access log: one line per connection, spliced bytes counted"
# the sidecar exits (and its last connections are logged) with e2e_cleanup: stop it now
kill -TERM "$RELAY_PID"
wait "$RELAY_PID" 2>/dev/null || true
grep -F '"tcp"' "$T/access-app2.log" >"$T/relay.log" || true
# session, bench, /restricted, two upgrades
check_ge "relay log lines" 5 "$(wc -l <"$T/relay.log")"
check_ge "relay log lines that say spliced" 4 "$(grep -c '"spliced":true' "$T/relay.log" || true)"

[ "$FAILED" = 0 ] && echo "e2e_intercept_splice: all checks passed" || echo "e2e_intercept_splice: FAILED" >&2
[ "$FAILED" = 0 ]
