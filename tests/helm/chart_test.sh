#!/usr/bin/env bash
# Chart CI: helm lint --strict, helm template with the default and non-default values,
# every rendered manifest validated against the Kubernetes schemas (validate.mjs),
# assertions on what was rendered, the ConfigMap's config.json loaded by the real
# config parser, and a table of bad values files that must be rejected.
#
#   chart_test.sh [--config-check PATH]     (run from anywhere; needs node, npm, unzip, jq)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHART=$ROOT/helm
CONFIG_CHECK=
[ "${1:-}" = "--config-check" ] && CONFIG_CHECK=$2

TOOLS=$("$ROOT/scripts/helm-tools.sh")
HELM=$TOOLS/bin/helm
export SHUNT_NODE_MODULES=$TOOLS/npm/node_modules
WORK=$(mktemp -d /tmp/shunt-chart-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
# check NAME JQ-EXPR: assert on the rendered objects (a JSON array) of the current scenario.
check() {
	if jq -e "$2" "$WORK/$scenario.json" >/dev/null; then ok "$scenario: $1"; else bad "$scenario: $1 ($2)"; fi
}

# ---- lint ----
if "$HELM" lint --strict "$CHART" >"$WORK/lint.out" 2>&1; then ok "helm lint --strict (defaults)"; else
	cat "$WORK/lint.out"
	bad "helm lint --strict (defaults)"
fi
for f in "$HERE"/values/*.yaml; do
	if "$HELM" lint --strict "$CHART" -f "$f" >"$WORK/lint.out" 2>&1; then ok "helm lint --strict -f $(basename "$f")"; else
		cat "$WORK/lint.out"
		bad "helm lint --strict -f $(basename "$f")"
	fi
done

# ---- render + validate every scenario ----
render() { # scenario [helm args...]
	scenario=$1
	shift
	if ! "$HELM" template shunt "$CHART" --namespace shunt-system "$@" >"$WORK/$scenario.yaml" 2>"$WORK/$scenario.err"; then
		cat "$WORK/$scenario.err"
		bad "$scenario: helm template"
		return 1
	fi
	ok "$scenario: helm template"
	if node "$HERE/validate.mjs" "$WORK/$scenario.yaml" --dump-json "$WORK/$scenario.json" >"$WORK/$scenario.val"; then
		ok "$scenario: $(tail -1 "$WORK/$scenario.val") (Kubernetes schemas, strict fields)"
	else
		cat "$WORK/$scenario.val"
		bad "$scenario: Kubernetes schema validation"
	fi
	jq -r '.[] | select(.kind == "ConfigMap") | .data["config.json"]' "$WORK/$scenario.json" >"$WORK/$scenario.config.json"
	if [ -n "$CONFIG_CHECK" ]; then
		if "$CONFIG_CHECK" "$WORK/$scenario.config.json" 2>"$WORK/$scenario.cc"; then
			ok "$scenario: ConfigMap config.json accepted by the shunt config parser"
		else
			cat "$WORK/$scenario.cc"
			bad "$scenario: ConfigMap config.json rejected by the shunt config parser"
		fi
	fi
	return 0
}

DS='.[] | select(.kind == "DaemonSet")'
POD="$DS | .spec.template.spec"
C() { echo "$POD | .containers[] | select(.name == \"$1\")"; }

if render default; then
	check "one DaemonSet, ConfigMap, SA, ClusterRole(+Binding), no ServiceMonitor/Service" \
		'([.[].kind] | sort) == ["ClusterRole","ClusterRoleBinding","ConfigMap","DaemonSet","ServiceAccount"]'
	check "hostNetwork, ClusterFirstWithHostNet, no hostPID, shared process namespace" \
		"$POD | .hostNetwork == true and .dnsPolicy == \"ClusterFirstWithHostNet\" and .hostPID == false and .shareProcessNamespace == true"
	check "containers shuntd, proxy, cni-token, reloader (no registry sidecar: shuntd serves it); init cni-install" \
		"[$POD | .containers[].name] == [\"shuntd\",\"proxy\",\"cni-token\",\"reloader\"] and [$POD | .initContainers[].name] == [\"cni-install\"]"
	check "shuntd: drop ALL, add BPF NET_ADMIN SYS_ADMIN PERFMON, not privileged" \
		"$(C shuntd) | .securityContext | .privileged == false and .capabilities.drop == [\"ALL\"] and .capabilities.add == [\"BPF\",\"NET_ADMIN\",\"SYS_ADMIN\",\"PERFMON\"] and .allowPrivilegeEscalation == false"
	check "no container is privileged or keeps default capabilities" \
		"[$POD | (.containers + .initContainers)[] | .securityContext | (.privileged == false and .capabilities.drop == [\"ALL\"])] | all"
	check "bpffs hostPath with HostToContainer propagation (not privileged)" \
		"($POD | .volumes[] | select(.name == \"bpffs\") | .hostPath.path == \"/sys/fs/bpf\") and ($(C shuntd) | .volumeMounts[] | select(.name == \"bpffs\") | .mountPropagation == \"HostToContainer\")"
	check "cgroup2 root hostPath mounted, shuntd attaches to kubepods.slice under it" \
		"($POD | .volumes[] | select(.name == \"cgroup2\") | .hostPath.path == \"/sys/fs/cgroup\") and ($(C shuntd) | .args | index(\"--cgroup=/host/cgroup/kubepods.slice\") != null)"
	check "shuntd args: pin dir, loopback metrics, small-writes, config file, no capture" \
		"$(C shuntd) | .args | (index(\"--pin-dir=/sys/fs/bpf/shunt\") != null and index(\"--metrics=127.0.0.1:9190\") != null and index(\"--small-writes=adaptive\") != null and index(\"--config=/etc/shunt/config.json\") != null and index(\"-v\") == null and (map(test(\"capture\")) | any | not))"
	check "shuntd probes exec shuntctl status; preStop runs shuntctl + CNI uninstall" \
		"$(C shuntd) | (.livenessProbe.exec.command == [\"shuntctl\",\"--pin-dir\",\"/sys/fs/bpf/shunt\",\"status\"]) and (.readinessProbe.exec.command[0] == \"shuntctl\") and (.lifecycle.preStop.exec.command[2] | test(\"shuntctl --pin-dir /sys/fs/bpf/shunt status\") and test(\"shunt-cni-install uninstall\"))"
	check "proxy probes: httpGet 127.0.0.1:15000/ready" \
		"$(C proxy) | .readinessProbe.httpGet == {\"host\":\"127.0.0.1\",\"path\":\"/ready\",\"port\":15000} and .livenessProbe.httpGet.path == \"/ready\""
	check "reloader signals shuntd and shunt-proxy" \
		"$(C reloader) | .env[] | select(.name == \"SHUNT_RELOAD_TARGETS\") | .value == \"shuntd shunt-proxy\""
	check "no config checksum annotation (reload without restart)" \
		"$DS | .spec.template.metadata.annotations | keys | map(test(\"checksum\")) | any | not"
	check "updateStrategy RollingUpdate maxUnavailable 1, tolerate everything, node-critical" \
		"$DS | .spec.updateStrategy == {\"type\":\"RollingUpdate\",\"rollingUpdate\":{\"maxUnavailable\":1}} and .spec.template.spec.tolerations == [{\"operator\":\"Exists\"}] and .spec.template.spec.priorityClassName == \"system-node-critical\""
	check "cni-install gets socket + failPolicy ignore and the host CNI dirs" \
		"$POD | .initContainers[0] | ([.env[] | {(.name): .value}] | add) as \$e | \$e.SHUNT_CNI_SOCKET == \"/run/shunt/cni/cni.sock\" and \$e.SHUNT_CNI_FAIL_POLICY == \"ignore\" and ([.volumeMounts[].name] == [\"cni-bin\",\"cni-conf\"])"
	check "shuntd serves the registry: --cni-socket in its own dir under runDir, state file" \
		"$(C shuntd) | (.args | index(\"--cni-socket=/run/shunt/cni/cni.sock\") != null and index(\"--cni-state=/run/shunt/registry.json\") != null) and (.volumeMounts[] | select(.name == \"run\") | .mountPath == \"/run/shunt\")"
	check "resources on every container" "[$POD | .containers[] | .resources.requests.memory != null] | all"
	check "cni-install: kubeconfig on the node's confDir, apiFailure fail, apiTimeoutMs 2000" \
		"$POD | .initContainers[0] | ([.env[] | {(.name): .value}] | add) as \$e | \$e.SHUNT_CNI_KUBECONFIG == \"/etc/cni/net.d/shunt-kubeconfig\" and \$e.SHUNT_CNI_API_FAILURE == \"fail\" and \$e.SHUNT_CNI_API_TIMEOUT_MS == \"2000\""
	check "cni-token runs token-watch on the host CNI conf dir, root without capabilities" \
		"$(C cni-token) | .command == [\"shunt-cni-install\",\"token-watch\"] and .env == [{\"name\":\"CNI_CONF_DIR\",\"value\":\"/host/cni/net.d\"}] and .volumeMounts == [{\"name\":\"cni-conf\",\"mountPath\":\"/host/cni/net.d\"}] and .securityContext.runAsUser == 0 and .securityContext.capabilities.drop == [\"ALL\"] and (.securityContext.capabilities | has(\"add\") | not) and .securityContext.readOnlyRootFilesystem == true"
	check "the pod mounts its service account token (read by cni-install and cni-token)" \
		"$POD | .automountServiceAccountToken == true"
	check "ClusterRole grants get on pods (shunt-cni's API lookup)" \
		"[.[] | select(.kind == \"ClusterRole\") | .rules[] | select((.resources | index(\"pods\")) and (.verbs | index(\"get\")))] | length == 1"
	if jq -e '.proxy.admin == "127.0.0.1:15000" and .proxy.listeners[0].upstream == "original-dst" and (has("workloads") | not)' "$WORK/default.config.json" >/dev/null; then
		ok "default: config.json proxy section"
	else bad "default: config.json proxy section"; fi
fi

if render full -f "$HERE/values/full.yaml"; then
	check "ServiceMonitor + headless Service with shuntd relay and proxy admin endpoints" \
		"(.[] | select(.kind == \"ServiceMonitor\") | [.spec.endpoints[].port] == [\"shuntd-metrics\",\"proxy-admin\"] and .metadata.labels.release == \"prometheus\") and (.[] | select(.kind == \"Service\") | .spec.clusterIP == \"None\" and [.spec.ports[].port] == [9301,15100])"
	check "privileged: every container privileged, bpffs Bidirectional" \
		"([$POD | (.containers + .initContainers)[] | .securityContext.privileged] | all) and ($(C shuntd) | .volumeMounts[] | select(.name == \"bpffs\") | .mountPropagation == \"Bidirectional\")"
	check "metrics relay: socat from :9301 to shuntd's 127.0.0.1:9300" \
		"$(C metrics-relay) | .command == [\"socat\"] and .args == [\"TCP-LISTEN:9301,fork,reuseaddr\",\"TCP:127.0.0.1:9300\"]"
	check "shuntd args: cgroupfs path, redirect mode, cni registry flags, -v, extra arg" \
		"$(C shuntd) | .args | (index(\"--cgroup=/host/cgroup/kubepods\") != null and index(\"--small-writes=redirect\") != null and index(\"--cni-socket=/var/run/shunt/cni/cni.sock\") != null and index(\"-v\") != null and index(\"--small-min-run=16\") != null and index(\"--pin-dir=/sys/fs/bpf/shunt-prod\") != null)"
	check "no registry sidecar with cni.registry=shuntd; no CNI uninstall in preStop" \
		"([$POD | .containers[].name] | index(\"registry\") == null) and ($(C shuntd) | .lifecycle.preStop.exec.command[2] | test(\"uninstall\") | not)"
	check "cni.kubeconfig: path under a custom confDir (trailing / trimmed), apiFailure ignore, 750 ms" \
		"$POD | .initContainers[0] | ([.env[] | {(.name): .value}] | add) as \$e | \$e.SHUNT_CNI_KUBECONFIG == \"/etc/kubernetes/cni/net.d/shunt-kubeconfig\" and \$e.SHUNT_CNI_API_FAILURE == \"ignore\" and \$e.SHUNT_CNI_API_TIMEOUT_MS == \"750\""
	check "image, pull policy, pull secret, names" \
		"$(C shuntd) | .image == \"registry.example.test:5000/mesh/shunt:0.1.0-rc1\" and .imagePullPolicy == \"Always\""
	check "maxUnavailable 10%, custom toleration, node selector, grace period" \
		"$DS | .spec.updateStrategy.rollingUpdate.maxUnavailable == \"10%\" and (.spec.template.spec.tolerations[0].key == \"node-role.kubernetes.io/control-plane\") and .spec.template.spec.nodeSelector[\"shunt.io/enabled\"] == \"true\" and .spec.template.spec.terminationGracePeriodSeconds == 60 and .metadata.name == \"shunt-node\""
	check "service account name from values, used by the binding" \
		"(.[] | select(.kind == \"ServiceAccount\") | .metadata.name == \"shunt-agent\") and (.[] | select(.kind == \"ClusterRoleBinding\") | .subjects[0].name == \"shunt-agent\") and ($POD | .serviceAccountName == \"shunt-agent\")"
	check "proxy runs as uid 1337, non-root" \
		"$(C proxy) | .securityContext.runAsUser == 1337 and .securityContext.runAsNonRoot == true"
	check "access log dir mounted from the host" \
		"$(C proxy) | .volumeMounts[] | select(.name == \"proxy-log\") | .mountPath == \"/var/log/shunt\""
	if jq -e '(.workloads | length) == 2 and .authorizationPolicies[0].metadata.name == "app1-public" and .accelerate.excludePorts == [22,6443] and .accelerate.includeCidrs == ["10.0.0.0/8","fd00::/8"] and .proxy.admin == "0.0.0.0:15100" and .proxy.workers == 2 and .proxy.limits.maxHeaderBytes == 32768 and .proxy.accessLog == "/var/log/shunt/access.log" and .proxy.listeners[0].mode == "tcp" and .proxy.listeners[0].enforce == false' \
		"$WORK/full.config.json" >/dev/null; then
		ok "full: config.json carries policy, accelerate and proxy values (a tcp listener)"
	else bad "full: config.json carries policy, accelerate and proxy values (a tcp listener)"; fi
fi

if render istio -f "$HERE/values/istio.yaml"; then
	check "Istio mode: no shunt-proxy container, reloader signals shuntd only" \
		"([$POD | .containers[].name] | index(\"proxy\") == null) and ($(C reloader) | .env[] | select(.name == \"SHUNT_RELOAD_TARGETS\") | .value == \"shuntd\")"
	check "Istio mode: shuntd captures for Envoy (uid 1337, 15001/15006, inbound off, exclusions)" \
		"$(C shuntd) | .args | (index(\"--capture=istio\") != null and index(\"--proxy-uid=1337\") != null and index(\"--outbound-port=15001\") != null and index(\"--inbound-port=15006\") != null and index(\"--inbound-capture=off\") != null and index(\"--exclude-outbound-port=9000\") != null and index(\"--exclude-outbound-port=9001\") != null and index(\"--exclude-inbound-port=8443\") != null)"
	check "cni.registry=sidecar: shunt-registryd serves runDir/cni.sock, shuntd has no --cni-* flags" \
		"($(C registry) | .args == [\"--socket=/run/shunt/cni.sock\",\"--state=/run/shunt/registry.json\"]) and ($(C shuntd) | .args | map(test(\"^--cni-\")) | any | not) and ($POD | .initContainers[0].env[] | select(.name == \"SHUNT_CNI_SOCKET\") | .value == \"/run/shunt/cni.sock\")"
	if jq -e '(has("proxy") | not) and .accelerate.excludePorts == [22]' "$WORK/istio.config.json" >/dev/null; then
		ok "istio: config.json has no proxy section"
	else bad "istio: config.json has no proxy section"; fi
fi

if render minimal -f "$HERE/values/minimal.yaml"; then
	check "only shuntd, no init container, no process sharing, attach at the cgroup root" \
		"([$POD | .containers[].name] == [\"shuntd\"]) and ($POD | has(\"initContainers\") | not) and ($POD | .shareProcessNamespace == false) and ($(C shuntd) | .args | index(\"--cgroup=/host/cgroup\") != null)"
	check "no RBAC / ServiceAccount objects; existing SA used; OnDelete" \
		"([.[].kind] | sort) == [\"ConfigMap\",\"DaemonSet\"] and ($POD | .serviceAccountName == \"existing-sa\") and ($DS | .spec.updateStrategy == {\"type\":\"OnDelete\"})"
fi

if render nokube --set cni.kubeconfig.enabled=false; then
	check "cni.kubeconfig.enabled=false: no cni-token container, no SHUNT_CNI_KUBECONFIG/API_* env, no automount override" \
		"([$POD | .containers[].name] == [\"shuntd\",\"proxy\",\"reloader\"]) and ([$POD | .initContainers[0].env[].name | select(test(\"^SHUNT_CNI_(KUBECONFIG|API_)\"))] == []) and ($POD | has(\"automountServiceAccountToken\") | not)"
	check "cni.kubeconfig.enabled=false: the installer still chains shunt-cni" \
		"$POD | .initContainers[0].command == [\"shunt-cni-install\",\"install\"]"
fi

# --set on the command line (the README's install examples).
render cli --set shuntd.smallWrites.mode=pass --set 'shuntd.excludePorts={22,443}' --set cni.failPolicy=fail >/dev/null &&
	check "--set values reach shuntd and the CNI installer" \
		"($(C shuntd) | .args | index(\"--small-writes=pass\") != null) and ($POD | .initContainers[0].env[] | select(.name == \"SHUNT_CNI_FAIL_POLICY\") | .value == \"fail\")"

# ---- scripts/render-chart.sh renders exactly what helm template does; the packaged chart too ----
if "$ROOT/scripts/render-chart.sh" -o "$WORK/rc/shunt.yaml" -- -f "$HERE/values/full.yaml" 2>"$WORK/rc.err" &&
	"$HELM" template shunt "$CHART" --namespace shunt-system -f "$HERE/values/full.yaml" | cmp -s - "$WORK/rc/shunt.yaml"; then
	ok "render-chart.sh -o FILE == helm template"
else
	cat "$WORK/rc.err"
	bad "render-chart.sh -o FILE"
fi
if "$ROOT/scripts/render-chart.sh" --package "$WORK/pkg" 2>"$WORK/rc.err" &&
	"$HELM" template shunt "$WORK"/pkg/shunt-*.tgz --namespace shunt-system | cmp -s - "$WORK/default.yaml"; then
	ok "packaged chart renders like the source chart"
else
	cat "$WORK/rc.err"
	bad "render-chart.sh --package"
fi

# ---- bad values: each must make helm template fail with the expected message ----
for f in "$HERE"/bad/*.yaml; do
	want=$(sed -n 's/^# expect: //p' "$f")
	name=$(basename "$f" .yaml)
	if "$HELM" template shunt "$CHART" -f "$f" >"$WORK/bad.out" 2>&1; then
		bad "bad values $name: helm template succeeded"
	elif grep -qF -- "$want" "$WORK/bad.out"; then
		ok "bad values $name rejected ($want)"
	else
		cat "$WORK/bad.out"
		bad "bad values $name: rejected, but without '$want'"
	fi
done

# ---- schema-valid values the config parser must reject (rendered ConfigMap) ----
if [ -n "$CONFIG_CHECK" ]; then
	for f in "$HERE"/bad-config/*.yaml; do
		want=$(sed -n 's/^# expect: //p' "$f")
		name=$(basename "$f" .yaml)
		"$HELM" template shunt "$CHART" -f "$f" >"$WORK/bc.yaml"
		node "$HERE/validate.mjs" "$WORK/bc.yaml" --dump-json "$WORK/bc.json" >/dev/null
		jq -r '.[] | select(.kind == "ConfigMap") | .data["config.json"]' "$WORK/bc.json" >"$WORK/bc.config.json"
		if "$CONFIG_CHECK" "$WORK/bc.config.json" 2>"$WORK/bc.err"; then
			bad "bad policy $name accepted by the config parser"
		elif grep -qF -- "$want" "$WORK/bc.err"; then
			ok "bad policy $name rejected by the config parser ($want)"
		else
			cat "$WORK/bc.err"
			bad "bad policy $name: rejected without '$want'"
		fi
	done
else
	echo "note: config_check not built (no config component); ConfigMap contents not parsed"
fi

echo "chart_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
