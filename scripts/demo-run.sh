#!/usr/bin/env bash
# Runs inside tests/harness/with-pods.sh (see demo.sh); pods app1/app2/app3.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=${BUILD_DIR:-$ROOT/build}
[[ $B = /* ]] || B=$ROOT/$B
CONFIG=$ROOT/config/demo.json
PIN=$SHUNT_PIN_DIR/shunt
TMP=$(mktemp -d)
chmod 755 "$TMP" # nginx workers (www-data) read the docroot below it
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# wait_port POD ADDR PORT: until something listens there (bounded).
wait_port() {
	local i
	for i in $(seq 1 500); do
		if "$SHUNT_POD_EXEC" "$1" ss -Hltn "sport = :$3" | grep -q "$2"; then return 0; fi
		sleep 0.01
	done
	echo "demo: nothing listens on $2:$3 in pod $1" >&2
	return 1
}

FAILED=0
# req POD PATH WANT: an HTTP request from a pod to app1's port 80 (its
# sidecar); the demo fails (exit 1) if the status is not WANT.
req() {
	local code
	printf '%s$ curl http://%s%s\n' "$1" "$SHUNT_POD_APP1_IP" "$2"
	code=$("$SHUNT_POD_EXEC" "$1" curl -s --path-as-is -o "$TMP/body" -w '%{http_code}' \
		"http://$SHUNT_POD_APP1_IP$2" || true)
	printf '  -> %s %s\n' "$code" "$(head -c 200 "$TMP/body")"
	if [ "$code" != "$3" ]; then
		echo "demo: expected $3" >&2
		FAILED=1
	fi
}

say "validate the config"
run "$B/sockmap/shuntctl" validate "$CONFIG"

say "start shuntd on the node's cgroup ($SHUNT_NODE1_CGROUP)"
mkfifo "$TMP/ready"
"$B/sockmap/shuntd" --cgroup "$SHUNT_NODE1_CGROUP" --pin-dir "$PIN" --ready-fd 3 3>"$TMP/ready" &
PIDS+=($!)
read -r line <"$TMP/ready" || true
[ "$line" = ready ] || { echo "demo: shuntd did not come up" >&2; exit 1; }

say "app1: nginx on :8080, shunt-proxy sidecar on :80"
mkdir -p "$TMP/www/public" "$TMP/www/restricted"
echo "hello from app1" >"$TMP/www/public/hello"
echo "top secret" >"$TMP/www/restricted/index.html"
cat >"$TMP/nginx.conf" <<NGX
worker_processes 1;
pid $TMP/nginx.pid;
error_log stderr;
events { worker_connections 256; }
http {
  access_log off;
  server { listen $SHUNT_POD_APP1_IP:8080; root $TMP/www; }
}
NGX
"$SHUNT_POD_EXEC" app1 nginx -c "$TMP/nginx.conf" -g 'daemon off;' &
PIDS+=($!)
"$SHUNT_POD_EXEC" app1 "$B/proxy/shunt-proxy" --config "$CONFIG" 2>"$TMP/access.log" &
PIDS+=($!)
wait_port app1 "$SHUNT_POD_APP1_IP" 8080
wait_port app1 "$SHUNT_POD_APP1_IP" 80

say "L7 policy: app2 may GET /public/*; /restricted is denied; app3 may not call app1"
req app2 /public/hello 200
req app2 /restricted/ 403
req app2 /public/../restricted/ 403
req app2 //restricted/ 403
req app3 /public/hello 403

say "acceleration: every same-node leg went socket to socket"
run "$B/sockmap/shuntctl" --pin-dir "$PIN" status | tee "$TMP/status"
redirected=$(awk '$1 == "msgs_redirected" { print $2 }' "$TMP/status")
if [ "${redirected:-0}" -lt 4 ]; then # >= 2 legs x request + response
	echo "demo: expected the allowed request's legs to be redirected" >&2
	FAILED=1
fi
run "$B/sockmap/shuntctl" --pin-dir "$PIN" conns

say "proxy access log (JSON lines)"
cat "$TMP/access.log"

say "stop shuntd: programs detached, pins removed"
kill -TERM "${PIDS[0]}"
wait "${PIDS[0]}"
PIDS=("${PIDS[@]:1}")
left=0
[ ! -e "$PIN" ] || left=$(find "$PIN" | wc -l)
printf 'pins left: %s\n' "$left"
[ "$left" -eq 0 ] || FAILED=1
[ "$FAILED" -eq 0 ] && say "demo: all as expected" || say "demo: FAILED"
exit "$FAILED"
