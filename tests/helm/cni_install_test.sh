#!/usr/bin/env bash
# docker/shunt-cni-install.sh on temporary CNI dirs: chaining into a .conflist,
# idempotence, settings update, .conf conversion, first-file-wins, uninstall
# restoring the original exactly, and refusals (no config, bad JSON, bad policy).
#
#   cni_install_test.sh PATH/TO/shunt-cni
# shellcheck disable=SC2016 # jq programs use $vars
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
INSTALL=$HERE/../../docker/shunt-cni-install.sh
PLUGIN=$1
WORK=$(mktemp -d /tmp/shunt-cni-install.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

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

echo "cni_install_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
