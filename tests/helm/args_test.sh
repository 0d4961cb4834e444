#!/usr/bin/env bash
# The command lines the chart renders are accepted by the real binaries: for each values
# scenario, shuntd runs with the rendered args (cgroup and pin dir pointed at paths that
# do not exist, --config at the rendered ConfigMap) and must get past option and config
# parsing to its cgroup preflight (exit 2, "not a cgroup v2 directory"), never attaching
# anything; shunt-proxy runs with the rendered args plus --check and must exit 0.
#
#   args_test.sh PATH/shuntd PATH/shunt-proxy
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SHUNTD=$1
PROXY=$2
TOOLS=$("$ROOT/scripts/helm-tools.sh")
HELM=$TOOLS/bin/helm
export SHUNT_NODE_MODULES=$TOOLS/npm/node_modules
WORK=$(mktemp -d /tmp/shunt-args-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# shuntd without the embedded registry does not know --cni-socket/--cni-state yet.
has_cni_flags=0
"$SHUNTD" --help 2>&1 | grep -q -- '--cni-socket' && has_cni_flags=1

for values in default "$HERE"/values/*.yaml; do
	name=$(basename "$values" .yaml)
	args=()
	[ "$values" = default ] || args=(-f "$values")
	"$HELM" template shunt "$ROOT/helm" --namespace shunt-system "${args[@]}" >"$WORK/$name.yaml"
	node "$HERE/validate.mjs" "$WORK/$name.yaml" --dump-json "$WORK/$name.json" >/dev/null
	jq -r '.[] | select(.kind == "ConfigMap") | .data["config.json"]' "$WORK/$name.json" >"$WORK/$name.config.json"

	mapfile -t sargs < <(jq -r '.[] | select(.kind == "DaemonSet") | .spec.template.spec.containers[] | select(.name == "shuntd") | .args[]' "$WORK/$name.json")
	run=()
	for a in "${sargs[@]}"; do
		case "$a" in
		--cgroup=*) run+=("--cgroup=$WORK/no-such-cgroup") ;;
		--pin-dir=*) run+=("--pin-dir=$WORK/no-such-bpffs/shunt") ;;
		--config=*) run+=("--config=$WORK/$name.config.json") ;;
		--cni-socket=* | --cni-state=*) [ "$has_cni_flags" = 1 ] && run+=("$a") ;;
		*) run+=("$a") ;;
		esac
	done
	set +e
	"$SHUNTD" "${run[@]}" >"$WORK/out" 2>&1
	rc=$?
	set -e
	if [ "$rc" -eq 2 ] && grep -q "no-such-cgroup is not a cgroup v2 directory" "$WORK/out" && ! grep -q "see shuntd --help" "$WORK/out"; then
		ok "$name: shuntd accepts the rendered args and config (${#sargs[@]} args)"
	else
		cat "$WORK/out"
		bad "$name: shuntd rejected the rendered command line (exit $rc): ${run[*]}"
	fi

	mapfile -t pargs < <(jq -r '.[] | select(.kind == "DaemonSet") | .spec.template.spec.containers[] | select(.name == "proxy") | .args[]' "$WORK/$name.json")
	[ "${#pargs[@]}" -gt 0 ] || continue
	run=()
	for a in "${pargs[@]}"; do
		case "$a" in
		--config=*) run+=("--config=$WORK/$name.config.json") ;;
		*) run+=("$a") ;;
		esac
	done
	if "$PROXY" "${run[@]}" --check >"$WORK/out" 2>&1; then
		ok "$name: shunt-proxy --check accepts the rendered args and config"
	else
		cat "$WORK/out"
		bad "$name: shunt-proxy rejected: ${run[*]}"
	fi
done
[ "$has_cni_flags" = 1 ] || echo "note: this shuntd has no --cni-socket/--cni-state (cni.registry=shuntd needs the registry integration)"

echo "args_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
