#!/usr/bin/env bash
# e2e fault injection (issue 9): kill -9 shuntd while HTTP traffic flows
# through two shunt-proxy sidecars with accelerated legs, restart it.
# Runs inside tests/harness/with-pods.sh --pod 1:app1 --pod 1:app2.
#   fault_shuntd_test.sh BUILD_DIR [http|relay]
# relay: app2's sidecar has its outbound listener as a TCP relay, which the
# kernel splices: the transfer then goes app1's sidecar -> app2's client past
# the relay, and must go on doing so across the kill and the restart.
# shuntd --capture istio on node 1; sidecars in app1 and app2 are started as
# root WITHOUT --user: they drop to 1337:1337 themselves, and shuntd recognises
# them by that uid (--proxy-uid 1337, the default); the inbound sidecar finds
# the original destination through the cgroup/getsockopt hook as a non-root
# process. app2 downloads a 256 KiB file 240 times over one keep-alive
# connection (curl, rate-limited so that the transfer spans the fault) through
# app2's sidecar -> app1's sidecar -> nginx. In the middle shuntd is killed
# with SIGKILL and started again. Checked: every byte (sha256 of all bodies),
# one client connection and one connection per proxy leg for the whole
# transfer, the legs still redirected afterwards, the new shuntd adopted the
# pinned state (counters carried over, no "replacing" in its log), and the
# sidecars are uid 1337 with no capabilities.
set -euo pipefail
B=$1
MODE=${2:-http}

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=intercept_lib.sh
. "$HERE/intercept_lib.sh"

require_root
require_cmds jq nginx curl sha256sum head

e2e_init
N=160
SIZE=131072
trap e2e_cleanup EXIT

A1=$SHUNT_POD_APP1_IP

echo "== nginx in app1 on $A1:80 serving a $SIZE-byte file; access log with connection ids"
mkdir -p "$T/www/public"
head -c "$SIZE" /dev/urandom >"$T/www/public/blob"
chmod -R a+rX "$T/www"
cat >"$T/nginx.conf" <<NGX
worker_processes 1;
pid $T/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  log_format conn '\$connection \$connection_requests \$status \$body_bytes_sent';
  access_log $T/nginx-access.log conn;
  keepalive_requests 1000000;
  client_body_temp_path $T/nginx-body;
  proxy_temp_path $T/nginx-proxy;
  fastcgi_temp_path $T/nginx-fcgi;
  uwsgi_temp_path $T/nginx-uwsgi;
  scgi_temp_path $T/nginx-scgi;
  server { listen $A1:80; root $T/www; location /public/ { try_files /public/blob =404; } }
}
NGX
start_logged nginx "start worker process" "$SHUNT_POD_EXEC" app1 nginx -c "$T/nginx.conf" \
	-g "daemon off;"

echo "== shuntd --capture istio on node 1"
write_config "$T/node.json" ""
start_shuntd --config "$T/node.json" --capture istio

echo "== sidecars in app1 and app2, started as root (default drop to 1337:1337)"
for p in app1 app2; do
	OUTBOUND_MODE=http
	[ "$MODE:$p" != relay:app2 ] || OUTBOUND_MODE=tcp
	write_config "$T/sidecar-$p.json" "$p" proxy
	start_logged "sidecar-$p" "listening:" "$SHUNT_POD_EXEC" "$p" \
		"$B/proxy/shunt-proxy" --config "$T/sidecar-$p.json" --log-level info
done
for p in app1 app2; do
	check "sidecar $p logged its privilege drop" 1 \
		"$(grep -c 'privileges: uid 1337 gid 1337' "$T/sidecar-$p.log" || true)"
	pid=$(pgrep -f -- "--config $T/sidecar-$p.json" | head -n1 || true)
	check "sidecar $p: uid, gid, CapEff, CapBnd" "1337 1337 0000000000000000 0000000000000000" \
		"$(awk '/^Uid:/ {u=$2} /^Gid:/ {g=$2} /^CapEff:/ {e=$2} /^CapBnd:/ {b=$2}
		        END {print u, g, e, b}' "/proc/$pid/status")"
done
check "one request through both sidecars (original-dst via the getsockopt hook)" 200 \
	"$("$SHUNT_POD_EXEC" app2 curl -s -o /dev/null -w '%{http_code}' "http://$A1/public/first" || true)"

echo "== app2: $N x $SIZE bytes on one connection, rate-limited; kill -9 shuntd mid-way"
: >"$T/nginx-access.log"
redir0=$(counter msgs_redirected)
"$SHUNT_POD_EXEC" app2 curl -s --limit-rate 3M -w '%{stderr}%{num_connects} %{http_code}\n' \
	"http://$A1/public/blob[1-$N]" 2>"$T/curl.log" | sha256sum >"$T/got.sha" &
CURL=$!
PIDS+=("$CURL")
served() { [ "$(wc -l <"$T/nginx-access.log")" -ge "$1" ]; }
wait_for "the first 30 responses" 30 served 30
kill -KILL "$SHUNTD_PID"
wait "$SHUNTD_PID" 2>/dev/null || true
SHUNTD_PID=
at_kill=$(wc -l <"$T/nginx-access.log")
wait_for "traffic while shuntd is dead" 30 served $((at_kill + 20))
# hold the client while shuntd starts (a busy machine may take seconds), so
# the transfer cannot end before the checks; TCP keeps what is in flight
CURL_PID=$(pgrep -f -- "public/blob\[1-$N\]" | head -n1 || true)
[ -n "$CURL_PID" ] && kill -STOP "$CURL_PID"
start_shuntd --config "$T/node.json" --capture istio
at_restart=$(wc -l <"$T/nginx-access.log")
bytes_restart=$(counter bytes_redirected)
spliced_restart=$(counter bytes_spliced)
# the client's connection (and the proxies' legs) survived, still redirected on both ends
"$B/sockmap/shuntctl" --pin-dir "$PIN" conns --json >"$T/conns.json"
"$B/sockmap/shuntctl" --pin-dir "$PIN" conns >"$T/conns.log"
legstate() {
	jq -r --arg s "$1" '
	  [.[] | select((.remote == $s and .side == "client") or (.local == $s and .side == "server"))
	       | .state] | unique | join(",")' "$T/conns.json"
}
check "client leg to 127.0.0.1:$ISTIO_OUT redirecting after the restart" redirect \
	"$(legstate "127.0.0.1:$ISTIO_OUT")"
for ep in "$A1:$ISTIO_IN" "$A1:80"; do
	# the sidecars' pooled upstream legs: one each for the whole transfer
	check "leg to $ep redirecting after the restart" redirect "$(legstate "$ep")"
done
[ -n "$CURL_PID" ] && kill -CONT "$CURL_PID"
if [ "$at_restart" -ge "$N" ] || [ -z "$CURL_PID" ]; then
	echo "FAIL: the transfer ended before shuntd was back ($at_restart of $N)" >&2
	FAILED=1
fi
wait "$CURL" || {
	echo "FAIL: curl failed" >&2
	FAILED=1
}
echo "killed after $at_kill responses, restarted after $at_restart, of $N"

echo "== checks"
for _ in $(seq "$N"); do cat "$T/www/public/blob"; done | sha256sum >"$T/want.sha"
check "every byte of $N bodies (sha256)" "$(cat "$T/want.sha")" "$(cat "$T/got.sha")"
check "all $N answered 200" "$N" "$(grep -c ' 200$' "$T/curl.log" || true)"
check "client -> sidecar: one connection for all $N" 1 \
	"$(awk '{s += $1} END {print s}' "$T/curl.log")"
# The proxies' pooled upstream connections carry all N too: a spurious
# wake-up of an idle pooled connection (read callback with nread == 0, which
# accelerated sockets produce) must not close it.
check "sidecar -> nginx: one connection for all $N" 1 \
	"$(awk '{print $1}' "$T/nginx-access.log" | sort -u | wc -l)"
check "nginx sent every byte" "$((N * SIZE))" \
	"$(awk '{s += $4} END {print s}' "$T/nginx-access.log")"
check "the new shuntd adopted the pins (no replacement)" "1 0" \
	"$(grep -c 'adopted the pinned state' "$T/shuntd.log" || true) $(grep -c 'replacing' "$T/shuntd.log" || true)"
"$B/sockmap/shuntctl" --pin-dir "$PIN" status --json >"$T/status.json"
check "shuntctl status: the new agent pid" "$SHUNTD_PID" "$(jq -r .agent_pid "$T/status.json")"
check_ge "counters carried over the restart (msgs_redirected)" "$redir0" "$(jq -r .counters.msgs_redirected "$T/status.json")"
check_ge "bytes redirected after the restart" $((bytes_restart + (N - at_restart - 1) * SIZE)) \
	"$(counter bytes_redirected)"
if [ "$MODE" = relay ]; then
	# app1's sidecar's answers go straight to the client, before and after
	check_ge "bytes spliced past the relay after the restart" \
		$(((N - at_restart - 1) * SIZE)) "$(($(counter bytes_spliced) - spliced_restart))"
	check_ge "the relay's pair linked (counter carried over)" 1 "$(counter splice_linked)"
fi
check "a new request after the restart" 200 \
	"$("$SHUNT_POD_EXEC" app2 curl -s -o /dev/null -w '%{http_code}' "http://$A1/public/last" || true)"

if [ "$FAILED" != 0 ]; then
	echo "e2e_fault_shuntd ($MODE): FAILED" >&2
	exit 1
fi
echo "e2e_fault_shuntd ($MODE): all checks passed"
