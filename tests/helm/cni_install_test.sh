#!/usr/bin/env bash
# docker/shunt-cni-install.sh on temporary CNI dirs: chaining into a .conflist,
# idempotence, settings update, .conf conversion, first-file-wins, uninstall
# restoring the original exactly, and refusals (no config, bad JSON, bad policy).
# The kubeconfig for shunt-cni's API lookup (fake service account dir via
# SHUNT_CNI_SA_DIR): files 0600, entry members, refusals, token rotation by
# token-watch, removal; the written kubeconfig is loaded by the real plugin (STATUS),
# and (as root, with openssl + python3) an ADD through it reaches a fake HTTPS API
# server with the copied token and registers the pod's identity with shunt-registryd.
#
#   cni_install_test.sh PATH/TO/shunt-cni [PATH/TO/shunt-registryd]
# shellcheck disable=SC2016 # jq programs use $vars
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALL=$HERE/../../docker/shunt-cni-install.sh
PLUGIN=$1
REGISTRYD=${2:-}
WORK=$(mktemp -d /tmp/shunt-cni-install.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
t() { # name command...
	local name=$1
	shift
	if "$@" >/dev/null; then
		passed=$((passed + 1))
		echo "ok   $name"
	else
		failed=$((failed + 1))
		echo "FAIL $name"
	fi
}

setup() {
	rm -rf "${WORK:?}/bin" "${WORK:?}/net.d"
	mkdir -p "$WORK/bin" "$WORK/net.d"
	export CNI_BIN_DIR=$WORK/bin CNI_CONF_DIR=$WORK/net.d SHUNT_CNI_BINARY=$PLUGIN
	export SHUNT_CNI_SOCKET=/run/shunt/cni.sock SHUNT_CNI_FAIL_POLICY=ignore SHUNT_CNI_TIMEOUT_MS=2000
	export SHUNT_CNI_WAIT_SECONDS=0
}

run() { "$INSTALL" "$@" 2>>"$WORK/log"; }

BRIDGE='{"cniVersion":"1.0.0","name":"k8s","plugins":[{"type":"bridge","bridge":"cni0","ipam":{"type":"host-local","subnet":"10.244.1.0/24"}},{"type":"portmap","capabilities":{"portMappings":true}}]}'

# 1. .conflist: shunt-cni appended last, the rest untouched, binary installed and working.
setup
echo "$BRIDGE" | jq . >"$WORK/net.d/10-k8s.conflist"
cp "$WORK/net.d/10-k8s.conflist" "$WORK/orig.conflist"
t "install into a conflist" run install
t "shunt-cni is the last plugin, with socket/failPolicy/timeoutMs" \
	jq -e '.plugins[-1] == {"type":"shunt-cni","socket":"/run/shunt/cni.sock","failPolicy":"ignore","timeoutMs":2000}' "$WORK/net.d/10-k8s.conflist"
t "the primary plugins are unchanged" \
	jq -e --slurpfile o "$WORK/orig.conflist" '.plugins[:-1] == $o[0].plugins and .name == "k8s" and .cniVersion == "1.0.0"' "$WORK/net.d/10-k8s.conflist"
t "binary installed executable" test -x "$WORK/bin/shunt-cni"
t "installed binary answers VERSION" bash -c "CNI_COMMAND=VERSION '$WORK/bin/shunt-cni' </dev/null | jq -e '.supportedVersions | index(\"1.0.0\")' >/dev/null"
t "no temp files left behind" bash -c "[ -z \"\$(ls -A '$WORK/net.d' | grep -v '^10-k8s.conflist$')\" ] && [ -z \"\$(ls -A '$WORK/bin' | grep -v '^shunt-cni$')\" ]"

# 2. Idempotent; 3. a new setting replaces the entry.
cp "$WORK/net.d/10-k8s.conflist" "$WORK/after1"
t "second install succeeds" run install
t "second install changes nothing" cmp -s "$WORK/after1" "$WORK/net.d/10-k8s.conflist"
SHUNT_CNI_FAIL_POLICY=fail SHUNT_CNI_TIMEOUT_MS=500 run install
t "settings update replaces the single entry" \
	jq -e '[.plugins[] | select(.type == "shunt-cni")] == [{"type":"shunt-cni","socket":"/run/shunt/cni.sock","failPolicy":"fail","timeoutMs":500}]' "$WORK/net.d/10-k8s.conflist"

# 4. Uninstall restores the plugin list and removes the binary.
t "uninstall" run uninstall
t "conflist back to the original plugins" \
	jq -e --slurpfile o "$WORK/orig.conflist" '. == $o[0]' "$WORK/net.d/10-k8s.conflist"
t "binary removed" test ! -e "$WORK/bin/shunt-cni"
t "uninstall twice is fine" run uninstall

# 5. A single-plugin .conf is converted, and restored byte for byte.
setup
printf '%s\n' '{"cniVersion":"0.4.0","name":"flat","type":"bridge","bridge":"br0","ipam":{"type":"host-local","subnet":"10.9.0.0/16"}}' >"$WORK/net.d/10-flat.conf"
cp "$WORK/net.d/10-flat.conf" "$WORK/orig.conf"
t "install converts a .conf" run install
t "converted conflist: bridge then shunt-cni, version and name kept" \
	jq -e '.cniVersion == "0.4.0" and .name == "flat" and [.plugins[].type] == ["bridge","shunt-cni"] and .plugins[0].bridge == "br0" and (.plugins[0] | has("cniVersion") | not)' "$WORK/net.d/10-flat.conflist"
t "the runtime no longer sees the .conf" test ! -e "$WORK/net.d/10-flat.conf"
t "uninstall restores the .conf" run uninstall
t "restored .conf is byte-identical, conflist gone" bash -c "cmp -s '$WORK/orig.conf' '$WORK/net.d/10-flat.conf' && [ ! -e '$WORK/net.d/10-flat.conflist' ] && [ ! -e '$WORK/net.d/10-flat.conf.shunt-orig' ]"

# 6. Only the file the runtime loads (first by name) is chained.
setup
echo "$BRIDGE" >"$WORK/net.d/05-first.conflist"
echo "$BRIDGE" >"$WORK/net.d/10-second.conflist"
echo "not a cni file" >"$WORK/net.d/00-readme.txt"
run install
t "first conflist chained, second untouched" bash -c "jq -e '.plugins[-1].type == \"shunt-cni\"' '$WORK/net.d/05-first.conflist' >/dev/null && jq -e '[.plugins[].type] == [\"bridge\",\"portmap\"]' '$WORK/net.d/10-second.conflist' >/dev/null"

# 7-9. Refusals.
setup
t "no network configuration (no wait) fails" bash -c "! '$INSTALL' install 2>'$WORK/err' && grep -q 'no CNI network configuration' '$WORK/err'"
setup
echo '{"cniVersion": ' >"$WORK/net.d/10-broken.conflist"
cp "$WORK/net.d/10-broken.conflist" "$WORK/broken"
t "a broken conflist is refused and left alone" bash -c "! '$INSTALL' install 2>'$WORK/err' && grep -q 'not a JSON object' '$WORK/err' && cmp -s '$WORK/broken' '$WORK/net.d/10-broken.conflist'"
setup
echo "$BRIDGE" >"$WORK/net.d/10-k8s.conflist"
t "bad failPolicy refused" bash -c "! SHUNT_CNI_FAIL_POLICY=maybe '$INSTALL' install 2>/dev/null && jq -e '[.plugins[].type] == [\"bridge\",\"portmap\"]' '$WORK/net.d/10-k8s.conflist' >/dev/null"
t "usage error" bash -c "! '$INSTALL' 2>/dev/null"

# ---- 10. kubeconfig for the plugin's API lookup ----
# A CA, and a server certificate for 127.0.0.1 signed by it (the fake API server below).
mkdir -p "$WORK/pki" "$WORK/sa"
(
	cd "$WORK/pki"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key \
		-out ca.pem -days 1 -subj /CN=shunt-test-ca
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout srv.key \
		-out srv.csr -subj /CN=127.0.0.1
	printf 'subjectAltName=IP:127.0.0.1\n' >ext.cnf
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem \
		-days 1 -extfile ext.cnf
) >/dev/null 2>&1 || { echo "FAIL cannot make test certificates with openssl"; exit 1; }
cp "$WORK/pki/ca.pem" "$WORK/sa/ca.crt"
printf 'token-one-%s' "$RANDOM" >"$WORK/sa/token"

kube_setup() { # setup + the kubeconfig environment (the fake SA dir; this dir is "the node's")
	setup
	echo "$BRIDGE" >"$WORK/net.d/10-k8s.conflist"
	export SHUNT_CNI_SA_DIR=$WORK/sa SHUNT_CNI_KUBECONFIG=$WORK/net.d/shunt-kubeconfig
	export SHUNT_CNI_API_FAILURE=fail SHUNT_CNI_API_TIMEOUT_MS=2000
	export KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=6443
}
KC=$WORK/net.d/shunt-kubeconfig
TOK=$WORK/net.d/shunt-cni-token
mode() { stat -c %a "$1"; }
# The plugin's configuration as the runtime passes it: the chained entry + name/version.
plugin_conf() { jq -c '.plugins[-1] + {cniVersion: .cniVersion, name: .name}' "$WORK/net.d/10-k8s.conflist"; }
plugin_status() { plugin_conf | CNI_COMMAND=STATUS "$PLUGIN" >"$WORK/status.out" 2>>"$WORK/log"; }

kube_setup
t "install with SHUNT_CNI_KUBECONFIG" run install
t "entry carries kubeconfig, apiFailure, apiTimeoutMs" \
	jq -e --arg k "$KC" '.plugins[-1] == {"type":"shunt-cni","socket":"/run/shunt/cni.sock","failPolicy":"ignore","timeoutMs":2000,"kubeconfig":$k,"apiFailure":"fail","apiTimeoutMs":2000}' "$WORK/net.d/10-k8s.conflist"
t "kubeconfig and token copy are mode 0600" bash -c "[ \"\$(stat -c %a '$KC')\" = 600 ] && [ \"\$(stat -c %a '$TOK')\" = 600 ]"
t "token copy equals the service account token" cmp -s "$WORK/sa/token" "$TOK"
t "kubeconfig: server from KUBERNETES_SERVICE_*, CA inline, relative tokenFile, context resolves" \
	jq -e --arg ca "$(base64 -w0 "$WORK/sa/ca.crt")" '.kind == "Config" and ."current-context" as $c | (.contexts[] | select(.name == $c) | .context) as $x | (.clusters[] | select(.name == $x.cluster) | .cluster) == {"server":"https://127.0.0.1:6443","certificate-authority-data":$ca} and (.users[] | select(.name == $x.user) | .user) == {"tokenFile":"shunt-cni-token"}' "$KC"
t "no temp files left in the conf dir" bash -c "[ \"\$(ls -A '$WORK/net.d' | sort | tr '\n' ' ')\" = '10-k8s.conflist shunt-cni-token shunt-kubeconfig ' ]"
t "the plugin loads the written kubeconfig and its token (STATUS, apiFailure fail)" plugin_status
mv "$TOK" "$WORK/tok.saved"
status_50() { ! plugin_status && jq -e '.code == 50' "$WORK/status.out" >/dev/null; }
t "without the token copy the plugin's STATUS reports error 50" status_50
mv "$WORK/tok.saved" "$TOK"
cp "$WORK/net.d/10-k8s.conflist" "$WORK/kube1"
t "second install changes nothing" bash -c "'$INSTALL' install 2>/dev/null && cmp -s '$WORK/kube1' '$WORK/net.d/10-k8s.conflist'"
printf 'token-two-%s' "$RANDOM" >"$WORK/sa/token"
run install
t "a reinstall picks up a rotated token (still 0600)" bash -c "cmp -s '$WORK/sa/token' '$TOK' && [ \"\$(stat -c %a '$TOK')\" = 600 ]"
KUBERNETES_SERVICE_HOST=fd00:10:96::1 KUBERNETES_SERVICE_PORT=443 run install
t "IPv6 service host is bracketed" jq -e '.clusters[0].cluster.server == "https://[fd00:10:96::1]:443"' "$KC"
t "the plugin loads the IPv6 kubeconfig (STATUS)" plugin_status
SHUNT_CNI_API_FAILURE=ignore SHUNT_CNI_API_TIMEOUT_MS=500 run install
t "apiFailure/apiTimeoutMs updated in place" \
	jq -e '[.plugins[] | select(.type == "shunt-cni")] | length == 1 and .[0].apiFailure == "ignore" and .[0].apiTimeoutMs == 500' "$WORK/net.d/10-k8s.conflist"
t "uninstall removes the kubeconfig and the token copy" bash -c "'$INSTALL' uninstall 2>/dev/null && [ ! -e '$KC' ] && [ ! -e '$TOK' ] && jq -e --slurpfile o '$WORK/orig.conflist' '. == \$o[0]' '$WORK/net.d/10-k8s.conflist' >/dev/null"
run install
unset SHUNT_CNI_KUBECONFIG
run install
t "install without SHUNT_CNI_KUBECONFIG drops the members and removes both files" \
	bash -c "jq -e '.plugins[-1] | has(\"kubeconfig\") or has(\"apiFailure\") | not' '$WORK/net.d/10-k8s.conflist' >/dev/null && [ ! -e '$KC' ] && [ ! -e '$TOK' ]"

# Refusals: nothing chained, no secret written.
refused() { # name expected-message env-assignment...
	local name=$1 want=$2
	shift 2
	kube_setup
	cp "$WORK/net.d/10-k8s.conflist" "$WORK/before"
	t "$name refused" bash -c "! env $(printf "'%s' " "$@") '$INSTALL' install 2>'$WORK/err' && grep -qF -- '$want' '$WORK/err' && cmp -s '$WORK/before' '$WORK/net.d/10-k8s.conflist' && [ ! -e '$KC' ] && [ ! -e '$TOK' ]"
}
refused "kubeconfig path not named shunt-kubeconfig" "must be an absolute path" SHUNT_CNI_KUBECONFIG=/etc/cni/net.d/kubeconfig
refused "relative kubeconfig path" "must be an absolute path" SHUNT_CNI_KUBECONFIG=net.d/shunt-kubeconfig
refused "apiFailure maybe" "SHUNT_CNI_API_FAILURE must be" SHUNT_CNI_API_FAILURE=maybe
refused "apiTimeoutMs 0" "SHUNT_CNI_API_TIMEOUT_MS must be" SHUNT_CNI_API_TIMEOUT_MS=0
refused "apiTimeoutMs 60001" "SHUNT_CNI_API_TIMEOUT_MS must be" SHUNT_CNI_API_TIMEOUT_MS=60001
refused "apiTimeoutMs 2s" "SHUNT_CNI_API_TIMEOUT_MS must be" SHUNT_CNI_API_TIMEOUT_MS=2s
refused "no KUBERNETES_SERVICE_HOST" "KUBERNETES_SERVICE_HOST is not set" KUBERNETES_SERVICE_HOST=
refused "no service account dir" "no $WORK/no-such-sa/ca.crt" SHUNT_CNI_SA_DIR="$WORK/no-such-sa"
mkdir -p "$WORK/sa-no-token"
cp "$WORK/sa/ca.crt" "$WORK/sa-no-token/"
refused "no service account token" "no service account token" SHUNT_CNI_SA_DIR="$WORK/sa-no-token"

# ---- 11. token-watch keeps the copy fresh, exits 0 on SIGTERM ----
wait_for() { # deadline-seconds command...: poll a condition
	local end=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.05
	done
}
kube_setup
run install
SHUNT_CNI_TOKEN_POLL_SECONDS=1 "$INSTALL" token-watch 2>>"$WORK/log" &
watcher=$!
pids+=("$watcher")
printf 'token-three-%s' "$RANDOM" >"$WORK/sa/token.new"
mv "$WORK/sa/token.new" "$WORK/sa/token"
t "token-watch copies a rotated token (10 s deadline)" wait_for 10 cmp -s "$WORK/sa/token" "$TOK"
t "the refreshed copy is 0600" test "$(mode "$TOK")" = 600
kill -TERM "$watcher"
rc=0
wait "$watcher" || rc=$?
t "token-watch exits 0 on SIGTERM (it may be PID 1)" test "$rc" -eq 0
t "token-watch refuses a poll interval of 0" bash -c "! SHUNT_CNI_TOKEN_POLL_SECONDS=0 '$INSTALL' token-watch 2>/dev/null"

# ---- 12. ADD through the written kubeconfig against a fake HTTPS API server ----
if [ "$(id -u)" != 0 ] || [ -z "$REGISTRYD" ] || ! command -v python3 >/dev/null; then
	echo "note: ADD through the kubeconfig skipped (needs root, shunt-registryd and python3)"
	[ "${CI:-}" != true ] || { echo "FAIL CI=true: the ADD part must run"; failed=$((failed + 1)); }
else
	# Answers only GET of pod team-a/web, and only with the current service account token.
	python3 - "$WORK/pki" "$WORK/sa/token" "$WORK/api.port" <<'PY' 2>>"$WORK/log" &
import http.server, json, ssl, sys
pki, token_file, port_file = sys.argv[1:4]
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "team-a", "uid": "uid-web",
                    "labels": {"app": "web", "security.istio.io/tlsMode": "istio"}},
       "spec": {"serviceAccountName": "web-sa"}}
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        want = "Bearer " + open(token_file).read()
        if self.headers.get("Authorization") != want:
            code, body = 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"}
        elif self.path == "/api/v1/namespaces/team-a/pods/web":
            code, body = 200, POD
        else:
            code, body = 404, {"kind": "Status", "code": 404, "reason": "NotFound"}
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(pki + "/srv.pem", pki + "/srv.key")
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
srv.serve_forever()
PY
	pids+=($!)
	mkdir -m 0700 "$WORK/reg"
	"$REGISTRYD" --socket="$WORK/reg/cni.sock" --state="$WORK/reg/state.json" 2>>"$WORK/log" &
	pids+=($!)
	if wait_for 10 test -s "$WORK/api.port" && wait_for 10 "$REGISTRYD" --check --socket="$WORK/reg/cni.sock" 2>/dev/null; then
		kube_setup
		export KUBERNETES_SERVICE_PORT
		KUBERNETES_SERVICE_PORT=$(cat "$WORK/api.port")
		SHUNT_CNI_SOCKET=$WORK/reg/cni.sock SHUNT_CNI_FAIL_POLICY=fail run install
		add() { # container-id pod-name: ADD as the runtime calls it (host netns as the pod's)
			plugin_conf | jq -c '. + {prevResult: {cniVersion: "1.0.0", interfaces: [{name: "eth0", sandbox: "/proc/self/ns/net"}], ips: [{address: "10.244.1.7/24", interface: 0}]}}' |
				CNI_COMMAND=ADD CNI_CONTAINERID=$1 CNI_NETNS=/proc/self/ns/net CNI_IFNAME=eth0 \
					CNI_ARGS="K8S_POD_NAMESPACE=team-a;K8S_POD_NAME=$2;K8S_POD_UID=uid-$2" \
					CNI_PATH=$WORK/bin "$WORK/bin/shunt-cni" >"$WORK/add.out" 2>>"$WORK/log"
		}
		# ADD fails with CNI error 5 and the container id is not registered.
		add_fails_5() {
			! add "$1" "$2" && jq -e '.code == 5' "$WORK/add.out" >/dev/null &&
				! "$REGISTRYD" --list --state="$WORK/reg/state.json" | grep -qF "$1"
		}
		t "ADD through the installed kubeconfig succeeds (TLS against the inline CA, copied token)" add cid-web web
		t "shunt-registryd (umask 077): socket and state file 0600" \
			bash -c "[ \"\$(stat -c %a '$WORK/reg/cni.sock')\" = 600 ] && [ \"\$(stat -c %a '$WORK/reg/state.json')\" = 600 ]"
		t "the registered pod has the API's identity (sa web-sa, sidecar 1, labels)" \
			bash -c "'$REGISTRYD' --list --state='$WORK/reg/state.json' | grep -F 'team-a/web' | grep -qF 'sa=web-sa sidecar=1 labels=app=web,security.istio.io/tlsMode=istio'"
		t "a pod the API does not have: ADD fails with error 5 (HTTP 404), not registered" \
			add_fails_5 cid-gone gone
		# The service account's token changes on the API side: the old copy is refused
		# until the installer (or token-watch) copies the new one.
		printf 'token-four-%s' "$RANDOM" >"$WORK/sa/token.api"
		cp "$WORK/sa/token" "$WORK/sa/token.old"
		mv "$WORK/sa/token.api" "$WORK/sa/token"
		cp "$WORK/sa/token.old" "$TOK"
		t "a stale token copy: ADD fails (401), not registered" \
			add_fails_5 cid-web2 web
		run install
		t "after the token is copied again, ADD succeeds" add cid-web2 web
	else
		t "fake API server and shunt-registryd started (10 s deadline)" false
	fi
fi

echo "cni_install_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
