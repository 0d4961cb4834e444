#!/usr/bin/env bash
# e2e: the config's "capture" section and per-workload capture settings, the
# proxy recognised by SO_MARK, and the IPv6 two-sidecar path. Runs inside
# tests/harness/with-pods.sh --pod 1:app1 --pod 1:app2 --pod 1:app3.
#   intercept_capture_test.sh BUILD_DIR INTERCEPT_TOOL
# Part 1 (no sidecar; an unmodified SO_ORIGINAL_DST reader stands in for app2's
# outbound listener, nginx on app1:15006 for app1's inbound listener): mode
# "istio" from the config alone, includeOutboundCidrs / excludeOutboundCidrs
# (exclude wins), app2's excludeOutboundPorts, app1's includeInboundPorts,
# app3 with "sidecar": false, proxyMark overridden by --proxy-mark.
# Part 2: includeOutboundPorts (global, per workload, --include-outbound-port)
# against the include/exclude ranges and excluded ports, in istio-iptables'
# order; a workload's "excludeOutboundCidrs": [] clears the global exclusions;
# shuntctl status lists the capture settings.
# Part 3: app2 -> app1 over IPv6 through both shunt-proxy sidecars: 200 and
# 403, every leg accelerated.
set -euo pipefail
B=$1
TOOL=$2
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"

require_cmds jq nginx curl setpriv

e2e_init
trap e2e_cleanup EXIT

OUT0=0
IN0=0
mark_counters() {
	OUT0=$(counter captured_outbound)
	IN0=$(counter captured_inbound)
}
# captured POD [ENV=V] HOST PORT: connect, then "<result> out=<n> in=<n>" (captures it caused)
captured() {
	local pod=$1 r
	shift
	mark_counters
	r=$("$SHUNT_POD_EXEC" "$pod" env "$@" || true)
	echo "$r out=$(($(counter captured_outbound) - OUT0)) in=$(($(counter captured_inbound) - IN0))"
}

A1=$SHUNT_POD_APP1_IP
A16=$SHUNT_POD_APP1_IP6
A3=$SHUNT_POD_APP3_IP
A36=$SHUNT_POD_APP3_IP6
NET24=${A1%.*}.0/24

echo "== servers: app1 nginx on $A1:80, :8080, :15006 (inbound stand-in), [$A16]:80; app3 on :80"
start_nginx app1 "$A1:80" "$A1:8080" "$A1:$ISTIO_IN" "[$A16]:80"
start_nginx app3 "$A3:80" "[$A36]:80" "$A3:8081" "[$A36]:8081" "[$A36]:8082" "[$A36]:8083" \
	"[$A36]:8084" "[$A36]:15020"

echo "== part 1: shuntd with the capture settings in the config only (+ --proxy-mark 77)"
{
	printf '{"workloads": [\n  %s,\n  %s,\n  %s],\n' \
		"$(workload_json app1 "$A1" "$A16" "$SHUNT_POD_APP1_CGROUP")" \
		"$(workload_json app2 "$SHUNT_POD_APP2_IP" "$SHUNT_POD_APP2_IP6" "$SHUNT_POD_APP2_CGROUP")" \
		"$(workload_json app3 "$A3" "$A36" "$SHUNT_POD_APP3_CGROUP")"
	printf ' "capture": {"mode": "istio", "proxyMark": 66,\n'
	printf '   "includeOutboundCidrs": ["%s", "%s/128"], "excludeOutboundCidrs": ["%s/32"]}}\n' \
		"$NET24" "$A16" "$A3"
} >"$T/raw.json"
jq '.workloads |= map(
      if .name == "app1" then .capture = {"includeInboundPorts": [80]}
      elif .name == "app2" then .capture = {"excludeOutboundPorts": [8080]}
      elif .name == "app3" then .sidecar = false else . end)' "$T/raw.json" >"$T/node.json"
chmod 644 "$T/node.json"
"$B/sockmap/shuntctl" validate "$T/node.json" >"$T/validate.log"
start_shuntd --config "$T/node.json" --proxy-mark 77
check "capture mode from the config" "true istio 77" \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json |
		jq -r '.interception | "\(.attached) \(.capture) \(.proxy_mark)"')"

mkfifo "$T/od.out"
as_proxy app2 "$TOOL" origdst-server "$ISTIO_OUT" 4 >"$T/od.out" 2>>"$T/od.log" &
PIDS+=($!)
exec 7<"$T/od.out"
read -r line <&7
check "app2's outbound stand-in up" listening "$line"

check "app2 -> $A1:80 (in $NET24): to app2's outbound listener" "connected out=1 in=0" \
	"$(captured app2 "$TOOL" connect "$A1" 80)"
read -r line <&7
check "  original destination" "orig $A1:80" "$line"
check "app2 -> [$A16]:80 (in $A16/128)" "connected out=1 in=0" \
	"$(captured app2 "$TOOL" connect "$A16" 80)"
read -r line <&7
check "  original destination" "orig [$A16]:80" "$line"
check "app2 -> $A3:80 (excluded, exclude wins over $NET24): not captured" \
	"connected out=0 in=0" "$(captured app2 "$TOOL" connect "$A3" 80)"
check "app2 -> [$A36]:80 (outside the include ranges): not captured" "connected out=0 in=0" \
	"$(captured app2 "$TOOL" connect "$A36" 80)"
check "app2 -> $A1:8080 (app2 excludeOutboundPorts, app1 includeInboundPorts [80])" \
	"connected out=0 in=0" "$(captured app2 "$TOOL" connect "$A1" 8080)"
check "app3 (sidecar: false) -> $A1:80: not outbound, app1's inbound listener" \
	"app1 /x out=0 in=1" "$(captured app3 curl -s "http://$A1/x")"
check "app3 (sidecar: false) -> $A1:8080: not captured" "connected out=0 in=0" \
	"$(captured app3 "$TOOL" connect "$A1" 8080)"
check "app2 with SO_MARK 77 (--proxy-mark) is the proxy: inbound only" \
	"connected out=0 in=1" "$(captured app2 INTERCEPT_MARK=77 "$TOOL" connect "$A1" 80)"
check "app2 with SO_MARK 66 (the config's proxyMark, overridden by the flag)" \
	"connected out=1 in=0" "$(captured app2 INTERCEPT_MARK=66 "$TOOL" connect "$A1" 80)"
read -r line <&7
check "  original destination" "orig $A1:80" "$line"

echo "== SIGHUP re-applies the config: now $A1/32 is excluded instead of $A3/32"
jq --arg x "$A1/32" '.capture.excludeOutboundCidrs = [$x]' "$T/node.json" >"$T/node2.json"
cat "$T/node2.json" >"$T/node.json"
exec 9<>"$T/shuntd.events"
kill -HUP "$SHUNTD_PID"
read -r line <&9
exec 9<&-
echo "$line"
check "app2 -> $A3:80 after reload: captured" "connected out=1 in=0" \
	"$(captured app2 "$TOOL" connect "$A3" 80)"
read -r line <&7
check "  original destination" "orig $A3:80" "$line"
check "app2 -> $A1:80 after reload: excluded, app1's inbound listener" "connected out=0 in=1" \
	"$(captured app2 "$TOOL" connect "$A1" 80)"
exec 7<&-
stop_shuntd

echo "== part 2: includeOutboundPorts; app1's excludeOutboundCidrs [] clears the global list"
# global: include $NET24 (IPv4 only), exclude $A3/32, include port 8081, exclude port
# 8082; flags add 8082 (excluded: exclusion wins), 8083 and 15020 (Istio's own: stays
# excluded). app1: excludeOutboundCidrs [] and includeOutboundPorts [8084]. Inbound
# capture off, so only the source's own outbound capture counts.
jq --arg net "$NET24" --arg x "$A3/32" '.capture = {"mode": "istio", "inboundCapture": false,
      "includeOutboundCidrs": [$net], "excludeOutboundCidrs": [$x],
      "includeOutboundPorts": [8081], "excludeOutboundPorts": [8082]}
    | .workloads |= map(del(.sidecar) | del(.capture)
      | if .name == "app1" then .capture = {"excludeOutboundCidrs": [],
                                           "includeOutboundPorts": [8084]} else . end)' \
	"$T/raw.json" >"$T/ports.json"
chmod 644 "$T/ports.json"
"$B/sockmap/shuntctl" validate "$T/ports.json" >"$T/validate-ports.log"
start_shuntd --config "$T/ports.json" --include-outbound-port 8082 \
	--include-outbound-port 8083 --include-outbound-port 15020
check "status: global outbound ranges, ports, per-workload overrides" \
	"[\"$NET24\"] [\"$A3/32\"] [8081,8082,8083,15020] [8082,15000,15001,15004,15006,15008,15020,15021,15090] 1 0" \
	"$("$B/sockmap/shuntctl" --pin-dir "$PIN" status --json | jq -c -r '.interception |
		"\(.include_outbound_cidrs) \(.exclude_outbound_cidrs) \(.include_outbound_ports) \(.exclude_outbound_ports) \(.workload_capture_overrides) \(.workloads_without_sidecar)"')"
"$B/sockmap/shuntctl" --pin-dir "$PIN" status >"$T/status-ports.txt"
check "status (text): include outbound ports" \
	"  include outbound ports: 8081 8082 8083 15020" \
	"$(grep 'include outbound ports' "$T/status-ports.txt")"

mkfifo "$T/od2.out" "$T/od1.out"
as_proxy app2 "$TOOL" origdst-server "$ISTIO_OUT" 2 >"$T/od2.out" 2>>"$T/od2.log" &
OD2=$!
as_proxy app1 "$TOOL" origdst-server "$ISTIO_OUT" 2 >"$T/od1.out" 2>>"$T/od1.log" &
OD1=$!
PIDS+=("$OD2" "$OD1")
exec 7<"$T/od2.out" 8<"$T/od1.out"
read -r line <&7
check "app2's outbound stand-in up" listening "$line"
read -r line <&8
check "app1's outbound stand-in up" listening "$line"
orig() { # orig FD: the next original destination a stand-in read (10 s deadline)
	local l
	read -r -t 10 l <&"$1" || l=none
	echo "$l"
}

check "app2 -> $A3:80 (exclude range): not captured" "connected out=0 in=0" \
	"$(captured app2 "$TOOL" connect "$A3" 80)"
check "app2 -> $A3:8081 (included port, but the exclude range wins as in istio-iptables)" \
	"connected out=0 in=0" "$(captured app2 "$TOOL" connect "$A3" 8081)"
check "app2 -> [$A36]:80 (outside the include ranges): not captured" "connected out=0 in=0" \
	"$(captured app2 "$TOOL" connect "$A36" 80)"
check "app2 -> [$A36]:8081 (outside the include ranges, includeOutboundPorts): captured" \
	"connected out=1 in=0" "$(captured app2 "$TOOL" connect "$A36" 8081)"
check "  original destination" "orig [$A36]:8081" "$(orig 7)"
check "app2 -> [$A36]:8083 (--include-outbound-port adds to the file): captured" \
	"connected out=1 in=0" "$(captured app2 "$TOOL" connect "$A36" 8083)"
check "  original destination" "orig [$A36]:8083" "$(orig 7)"
check "app2 -> [$A36]:8082 (included and excluded: the exclusion wins)" \
	"connected out=0 in=0" "$(captured app2 "$TOOL" connect "$A36" 8082)"
check "app2 -> [$A36]:15020 (Istio's own port stays excluded)" "connected out=0 in=0" \
	"$(captured app2 "$TOOL" connect "$A36" 15020)"
check "app2 -> [$A36]:8084 (app1's port, not app2's): not captured" "connected out=0 in=0" \
	"$(captured app2 "$TOOL" connect "$A36" 8084)"
check "app1 -> $A3:80 (its excludeOutboundCidrs [] clears the global exclusion)" \
	"connected out=1 in=0" "$(captured app1 "$TOOL" connect "$A3" 80)"
check "  original destination" "orig $A3:80" "$(orig 8)"
check "app1 -> [$A36]:8084 (its own includeOutboundPorts)" "connected out=1 in=0" \
	"$(captured app1 "$TOOL" connect "$A36" 8084)"
check "  original destination" "orig [$A36]:8084" "$(orig 8)"
exec 7<&- 8<&-
# they exit after their two connections; after a failed check, free app1's :15001 for part 3
kill -TERM "$OD2" "$OD1" 2>/dev/null || true
wait "$OD2" "$OD1" 2>/dev/null || true
stop_shuntd

echo "== part 3: app2 -> [$A16]:80 through both sidecars over IPv6"
write_config "$T/node6.json" ""
start_shuntd --config "$T/node6.json" --capture istio
for p in app1 app2; do
	up=${p^^}
	ip6=$(eval echo "\${SHUNT_POD_${up}_IP6}")
	write_config "$T/raw-$p.json" "$p" proxy
	jq --arg o "[::1]:$ISTIO_OUT" --arg i "[$ip6]:$ISTIO_IN" '.proxy.listeners = [
	     {"name": "outbound", "address": $o, "upstream": "original-dst"},
	     {"name": "inbound", "address": $i, "upstream": "original-dst"}]' \
		"$T/raw-$p.json" >"$T/sidecar6-$p.json"
	chmod 644 "$T/sidecar6-$p.json"
	start_logged "sidecar6-$p" "listening:" as_proxy "$p" \
		"$B/proxy/shunt-proxy" --config "$T/sidecar6-$p.json" --log-level info
done
mark_counters
session_open app2 "$A16" 80
echo "GET /public/x" >&6
read -r line <&7
check "app2 GET [$A16]/public/x" "200 app1 /public/x" "$line"
echo "GET /restricted" >&6
read -r line <&7
check "app2 GET [$A16]/restricted (L7 deny in app1's sidecar)" 403 "${line%% *}"
check "outbound + inbound capture over IPv6" "1 1" \
	"$(($(counter captured_outbound) - OUT0)) $(($(counter captured_inbound) - IN0))"
check_legs "[::1]:$ISTIO_OUT" "[$A16]:$ISTIO_IN" "[$A16]:80"
session_close
stop_shuntd

[ "$FAILED" = 0 ] && echo "e2e_intercept_capture: all checks passed" || echo "e2e_intercept_capture: FAILED" >&2
exit "$FAILED"
