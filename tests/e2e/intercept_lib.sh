# shellcheck shell=bash
# Shared by the e2e scripts under tests/e2e and tests/sockmap/registry_*_test.sh
# (sourced; runs inside tests/harness/with-pods.sh with their pods).
# Needs: B (build dir), TOOL (intercept_tool), T (temp dir, mode 755), PIDS array
# (e2e_init sets T, PIN, PIDS, SHUNTD_PID and FAILED).

PROXY_UID=1337
ISTIO_OUT=15001
ISTIO_IN=15006

require_cmds() { # require_cmds CMD...: skip (77) if one is missing, fail under CI=true
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || {
			echo "SKIP: $c not installed" >&2
			[ "${CI:-}" = true ] && exit 1
			exit 77
		}
	done
}

require_root() { # skip (77) without root, fail under CI=true
	[ "$(id -u)" = 0 ] && return
	echo "SKIP: needs root" >&2
	[ "${CI:-}" = true ] && exit 1
	exit 77
}

# e2e_init: the state every test script starts from: T (temp dir, mode 755,
# removed by e2e_cleanup), PIN, PIDS (background jobs to stop), SHUNTD_PID, FAILED.
e2e_init() {
	T=$(mktemp -d)
	chmod 755 "$T"
	PIN=$SHUNT_PIN_DIR/shunt
	PIDS=()
	SHUNTD_PID=
	FAILED=0
}

# e2e_cleanup: for the EXIT trap (`trap e2e_cleanup EXIT`, or called from the
# script's own cleanup): closes fds 6 and 7 (session pipes), stops shuntd and
# every job in PIDS, shows the tail of each $T/*.log if a check failed, removes $T.
e2e_cleanup() {
	{ exec 6>&- 7<&-; } 2>/dev/null || true
	[ -z "$SHUNTD_PID" ] || kill -TERM "$SHUNTD_PID" 2>/dev/null || true
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "$FAILED" != 0 ]; then
		for f in "$T"/*.log; do
			[ -e "$f" ] || continue
			echo "---- $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	rm -rf "$T"
}

check() { # check DESC EXPECTED ACTUAL
	if [ "$2" == "$3" ]; then
		echo "ok: $1"
	else
		echo "FAIL: $1: expected '$2', got '$3'" >&2
		FAILED=1
	fi
}

check_ge() { # check_ge DESC MIN ACTUAL
	if [ "$3" -ge "$2" ]; then
		echo "ok: $1 ($3 >= $2)"
	else
		echo "FAIL: $1: expected >= $2, got $3" >&2
		FAILED=1
	fi
}

# wait_for DESC SECONDS CMD...: poll a condition with a deadline
wait_for() {
	local desc=$1 end=$((SECONDS + $2))
	shift 2
	until "$@"; do
		if [ $SECONDS -ge $end ]; then
			echo "FAIL: timed out waiting for $desc" >&2
			FAILED=1
			return 1
		fi
		sleep 0.02
	done
}

rel_cgroup() { # absolute pod cgroup -> path relative to the cgroup2 mount
	echo "${1#"$SHUNT_CGROUP2"}"
}

# workload_json NAME IP IP6 CGROUP [extra addresses...]
workload_json() {
	local name=$1 ip=$2 ip6=$3 cg=$4 extra=""
	shift 4
	for a in "$@"; do extra+=", \"$a\""; done
	printf '{"name": "%s", "namespace": "default", "serviceAccount": "%s", "labels": {"app": "%s"}, "addresses": ["%s", "%s"%s], "cgroups": ["%s"]}' \
		"$name" "$name" "$name" "$ip" "$ip6" "$extra" "$(rel_cgroup "$cg")"
}

POLICY_FROM='"cluster.local/ns/default/sa/app2"' # callers allowed to app1
# UPGRADE_PORT=P: the same callers may also open an HTTP tunnel (Upgrade) to
# app1:P/ws (a tunnel needs CONNECT listed explicitly)
policy_json() {
	local ws=""
	[ -z "${UPGRADE_PORT:-}" ] || ws=',
                     {"from": [{"source": {"principals": ['"$POLICY_FROM"']}}],
                      "to": [{"operation": {"methods": ["GET", "CONNECT"], "paths": ["/ws"], "ports": ["'"$UPGRADE_PORT"'"]}}]}'
	printf '%s' '{"metadata": {"name": "app1-from-app2", "namespace": "default"},
  "spec": {"selector": {"matchLabels": {"app": "app1"}}, "action": "ALLOW",
           "rules": [{"from": [{"source": {"principals": ['"$POLICY_FROM"']}}],
                      "to": [{"operation": {"methods": ["GET"], "paths": ["/public/*"], "ports": ["80"]}}]}'"$ws"']}}'
}

# write_config FILE SELF [with-proxy]: the workloads app1, app2, app3 and
# remote (those of the run's pods) and the policy; the node config (SELF empty) or a
# sidecar's config (SELF = its pod: 127.0.0.1/::1 are that workload's too,
# the source address the sidecar sees for its own app's connections).
# OUTBOUND_MODE=tcp: the sidecar's outbound listener is a TCP relay that does
# not judge (Istio's model: the destination's inbound sidecar enforces), which
# shuntd can splice out of the path; default http (parses and judges too).
# ACCESS_LOG=PATH: the sidecar writes its access log there (JSON lines).
write_config() {
	local file=$1 self=$2 proxy=${3:-} w="" name up ip ip6 cg extra
	for name in app1 app2 app3 remote; do
		up=${name^^}
		ip=$(eval echo "\${SHUNT_POD_${up}_IP:-}")
		[ -n "$ip" ] || continue
		ip6=$(eval echo "\${SHUNT_POD_${up}_IP6}")
		cg=$(eval echo "\${SHUNT_POD_${up}_CGROUP}")
		extra=()
		[ "$name" != "$self" ] || extra=(127.0.0.1 ::1)
		[ -z "$w" ] || w+=$',\n    '
		w+=$(workload_json "$name" "$ip" "$ip6" "$cg" "${extra[@]}")
	done
	{
		printf '{\n  "workloads": [\n    %s\n  ],\n  "authorizationPolicies": [%s]' "$w" "$(policy_json)"
		if [ -n "$proxy" ]; then
			printf ',\n  "proxy": {%s"listeners": [
    {"name": "outbound", "address": "127.0.0.1:%s", "upstream": "original-dst"%s},
    {"name": "inbound", "address": "0.0.0.0:%s", "upstream": "original-dst"}]}' \
				"$([ -z "${ACCESS_LOG:-}" ] || printf '"accessLog": "%s", ' "$ACCESS_LOG")" \
				"$ISTIO_OUT" \
				"$([ "${OUTBOUND_MODE:-http}" = http ] || echo ', "mode": "tcp", "enforce": false')" \
				"$ISTIO_IN"
		fi
		printf '\n}\n'
	} >"$file"
	chmod 644 "$file"
}

# start_logged NAME PATTERN CMD...: run CMD in the background, its stderr into
# $T/NAME.log; returns once a line contains PATTERN (fails if CMD exits first).
start_logged() {
	local name=$1 pat=$2 line=""
	shift 2
	mkfifo "$T/$name.err" "$T/$name.rdy"
	"$@" 2>"$T/$name.err" &
	PIDS+=($!)
	(
		sent=0
		while IFS= read -r l; do
			echo "$l" >>"$T/$name.log"
			if [ $sent = 0 ] && [[ $l == *"$pat"* ]]; then
				echo ready >&8
				exec 8>&-
				sent=1
			fi
		done
	) <"$T/$name.err" 8>"$T/$name.rdy" &
	read -r line <"$T/$name.rdy" || true
	if [ "$line" != ready ]; then
		echo "FAIL: $name did not start:" >&2
		cat "$T/$name.log" >&2 || true
		return 1
	fi
}

# as_proxy POD CMD...: run CMD in the pod as its proxy: with PROXY_BY=uid as
# uid 1337 in the pod's cgroup, with PROXY_BY=cgroup as root in the pod's
# child cgroup "sidecar" (shuntd --proxy-cgroup). Execs: call it only in a
# background job (`as_proxy ... &`), whose pid is then the process itself.
as_proxy() {
	local pod=$1 cg
	shift
	if [ "${PROXY_BY:-uid}" = uid ]; then
		exec "$SHUNT_POD_EXEC" "$pod" setpriv --reuid=$PROXY_UID --regid=$PROXY_UID \
			--clear-groups "$@"
	else
		cg=$(eval echo "\${SHUNT_POD_${pod^^}_CGROUP}")/sidecar
		mkdir -p "$cg"
		exec "$SHUNT_POD_EXEC" "$pod" sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
			sh "$cg" "$@"
	fi
}

proxy_cgroup_flags() { # --proxy-cgroup for every pod given
	local pod cg
	for pod in "$@"; do
		cg=$(eval echo "\${SHUNT_POD_${pod^^}_CGROUP}")/sidecar
		mkdir -p "$cg"
		printf -- '--proxy-cgroup\n%s\n' "$cg"
	done
}

# start_sidecar POD: shunt-proxy in the pod's netns as its proxy (as_proxy).
start_sidecar() {
	local pod=$1
	write_config "$T/sidecar-$pod.json" "$pod" proxy
	start_logged "sidecar-$pod" "listening:" as_proxy "$pod" \
		"$B/proxy/shunt-proxy" --config "$T/sidecar-$pod.json" --log-level info
}

# start_nginx POD LISTEN...: nginx answering 200 "POD <uri>" on each ADDR:PORT.
start_nginx() {
	local pod=$1 l listens=""
	shift
	for l in "$@"; do listens+="listen $l; "; done
	cat >"$T/nginx-$pod.conf" <<NGX
worker_processes 1;
pid $T/nginx-$pod.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $T/nginx-$pod-body;
  proxy_temp_path $T/nginx-$pod-proxy;
  fastcgi_temp_path $T/nginx-$pod-fcgi;
  uwsgi_temp_path $T/nginx-$pod-uwsgi;
  scgi_temp_path $T/nginx-$pod-scgi;
  server { $listens default_type text/plain; location / { return 200 "$pod \$uri\n"; } }
}
NGX
	start_logged "nginx-$pod" "start worker process" "$SHUNT_POD_EXEC" "$pod" \
		nginx -c "$T/nginx-$pod.conf" -g "daemon off;"
}

# start_shuntd ARGS...: shuntd on node 1's cgroup; SHUNTD_PID set. Its stderr
# goes to $T/shuntd.log; every "reloaded:" line is also written to the fifo
# $T/shuntd.events (the caller may hold it open: exec 9<>"$T/shuntd.events").
start_shuntd() {
	rm -f "$T/shuntd.ready" "$T/shuntd.err"
	mkfifo "$T/shuntd.ready" "$T/shuntd.err"
	[ -p "$T/shuntd.events" ] || mkfifo "$T/shuntd.events"
	"$B/sockmap/shuntd" --cgroup "$SHUNT_NODE1_CGROUP" --pin-dir "$PIN" --ready-fd 3 "$@" \
		3>"$T/shuntd.ready" 2>"$T/shuntd.err" &
	SHUNTD_PID=$!
	(
		exec 9<>"$T/shuntd.events"
		while IFS= read -r l; do
			echo "$l" >>"$T/shuntd.log"
			[[ $l != *"reloaded:"* ]] || echo "$l" >&9
		done
	) <"$T/shuntd.err" &
	local line=""
	read -r line <"$T/shuntd.ready" || true
	if [ "$line" != ready ]; then
		echo "FAIL: shuntd did not come up:" >&2
		cat "$T/shuntd.log" >&2
		return 1
	fi
}

stop_shuntd() { # SIGTERM, wait for a clean exit; SHUNTD_PID cleared
	kill -TERM "$SHUNTD_PID"
	wait "$SHUNTD_PID"
	SHUNTD_PID=
}

# session_open POD HOST PORT: a keep-alive HTTP session (intercept_tool
# session) from POD; write a request line to fd 6, read the answer from fd 7.
session_open() {
	mkfifo "$T/s.in" "$T/s.out"
	"$SHUNT_POD_EXEC" "$1" "$TOOL" session "$2" "$3" <"$T/s.in" >"$T/s.out" 2>>"$T/session.log" &
	SESSION=$!
	PIDS+=("$SESSION")
	exec 6>"$T/s.in"
	exec 7<"$T/s.out"
}

session_close() { # end the session; a failed check if it exited with an error
	exec 6>&-
	exec 7<&-
	wait "$SESSION" || {
		echo "FAIL: session exited with an error" >&2
		FAILED=1
	}
}

counter() { # counter NAME
	"$B/sockmap/shuntctl" --pin-dir "$PIN" status --json | jq -r ".counters.$1"
}

# check_legs ENDPOINT...: every leg (connection to a server ENDPOINT) is
# redirecting on both ends and each end redirected at least one message.
# The connection table is kept in $T/conns.json and $T/conns.log.
check_legs() {
	local ep cm sm st
	"$B/sockmap/shuntctl" --pin-dir "$PIN" conns --json >"$T/conns.json"
	"$B/sockmap/shuntctl" --pin-dir "$PIN" conns >>"$T/conns.log"
	for ep in "$@"; do
		read -r cm sm st <<<"$(jq -r --arg s "$ep" '
		  [.[] | select(.remote == $s and .side == "client")] as $c |
		  [.[] | select(.local == $s and .side == "server")] as $v |
		  "\([$c[].msgs_redirected] | max // 0) \([$v[].msgs_redirected] | max // 0) \(([$c[].state] + [$v[].state]) | unique | join(","))"' \
			"$T/conns.json")"
		check "leg to $ep redirecting on both ends" redirect "$st"
		check_ge "leg to $ep: client messages redirected" 1 "$cm"
		check_ge "leg to $ep: server messages redirected" 1 "$sm"
	done
}

# cgroup CPU time (usec) of node 1's pods, cpu.stat works without controllers
node_cpu_usec() {
	awk '$1 == "usage_usec" { print $2 }' "$SHUNT_NODE1_CGROUP/cpu.stat"
}
