# shellcheck shell=bash
# SPDX-License-Identifier: Apache-2.0
# Shared by proxy/bench/run.sh and proxy/bench/profile.sh (sourced): the
# shunt-proxy binary's default place, and the configs both benchmarks run
# (nginx backend returning 3 bytes, the same allow GET /public/* policy in
# HAProxy and shunt-proxy).

# pb_find_shunt DIR: the first built shunt-proxy next to DIR (proxy/bench), or "".
pb_find_shunt() {
	local c
	for c in "$1/../../build/proxy/shunt-proxy" "$1/../../build-proxy/proxy/shunt-proxy"; do
		[ -x "$c" ] && { echo "$c"; return 0; }
	done
	echo ""
}

# pb_backend_conf DIR BACK: nginx.conf of the backend (one worker, temp
# files and pid in DIR, listening on BACK, 200 "ok\n" to everything).
pb_backend_conf() {
	cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log stderr error;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $1; proxy_temp_path $1; fastcgi_temp_path $1;
  uwsgi_temp_path $1; scgi_temp_path $1;
  keepalive_requests 1000000;
  server { listen $2; location / { return 200 "ok\n"; } }
}
EOF
}

# pb_haproxy_cfg PORT BACK: HAProxy (one thread) on 127.0.0.1:PORT to BACK,
# allowing GET /public/* only.
pb_haproxy_cfg() {
	cat <<EOF
global
  nbthread 1
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend fe
  bind 127.0.0.1:$1
  acl allowed method GET
  acl public path_beg /public/
  http-request deny deny_status 403 unless allowed public
  default_backend be
backend be
  server s1 $2
EOF
}

# pb_shunt_cfg PORT BACK [EXTRA_RULES]: shunt-proxy config on 127.0.0.1:PORT
# to BACK with the same policy; EXTRA_RULES (JSON rules, each followed by a
# comma) come before the allow rule.
pb_shunt_cfg() {
	cat <<EOF
{
 "workloads": [
  {"name": "client", "namespace": "default", "addresses": ["127.0.0.1"]},
  {"name": "backend", "namespace": "default", "labels": {"app": "backend"}, "addresses": ["127.0.0.2"]}],
 "authorizationPolicies": [
  {"metadata": {"name": "backend-allow", "namespace": "default"},
   "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "ALLOW",
    "rules": [${3:-}{"to": [{"operation": {"methods": ["GET"], "paths": ["/public/*"]}}]}]}}],
 "proxy": {"listeners": [{"name": "bench", "address": "127.0.0.1:$1", "upstream": "$2"}]}
}
EOF
}

# pb_shunt_cfg_1k PORT BACK: the same policy with 999 non-matching rules before
# the allow rule (1,000 rules).
pb_shunt_cfg_1k() {
	local i rules=""
	for i in $(seq 1 999); do
		rules+="{\"to\": [{\"operation\": {\"methods\": [\"GET\"], \"paths\": [\"/svc$i/*\"]}}]},"
	done
	pb_shunt_cfg "$1" "$2" "$rules"
}

# pb_shunt_cfg_all PORT BACK: shunt-proxy with no policy at all (allow-all).
pb_shunt_cfg_all() {
	cat <<EOF
{
 "workloads": [{"name": "backend", "namespace": "default", "addresses": ["127.0.0.2"]}],
 "proxy": {"listeners": [{"name": "bench", "address": "127.0.0.1:$1", "upstream": "$2"}]}
}
EOF
}

# pb_stop_pids PID...: TERM each and wait for it.
pb_stop_pids() {
	local p
	for p in "$@"; do kill "$p" 2>/dev/null || true; done
	for p in "$@"; do wait "$p" 2>/dev/null || true; done
}
