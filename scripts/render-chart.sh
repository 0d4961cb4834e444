#!/usr/bin/env bash
# Render the shunt Helm chart (helm/) to plain Kubernetes manifests, after
# `helm lint --strict`, with helm from scripts/helm-tools.sh (npm; no global install).
#
#   scripts/render-chart.sh [-o FILE|DIR] [-n NAMESPACE] [-r RELEASE] [-- HELM-TEMPLATE-ARGS...]
#   scripts/render-chart.sh -o build/chart/shunt.yaml -- -f my-values.yaml --set proxy.workers=2
#
# -o FILE writes one multi-document file, -o DIR/ (trailing slash) one file per
# template (helm --output-dir); default: stdout. Also: `scripts/render-chart.sh --package DIR`
# writes the packaged chart (shunt-<version>.tgz) into DIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=-
NS=shunt-system
RELEASE=shunt
PACKAGE=
while [ $# -gt 0 ]; do
	case "$1" in
	-o) OUT=$2; shift 2 ;;
	-n) NS=$2; shift 2 ;;
	-r) RELEASE=$2; shift 2 ;;
	--package) PACKAGE=$2; shift 2 ;;
	--) shift; break ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "render-chart: unknown argument $1 (helm arguments go after --)" >&2; exit 2 ;;
	esac
done

HELM=$("$ROOT/scripts/helm-tools.sh")/bin/helm
"$HELM" lint --strict "$ROOT/helm" "$@" >&2
if [ -n "$PACKAGE" ]; then
	mkdir -p "$PACKAGE"
	"$HELM" package "$ROOT/helm" -d "$PACKAGE" >&2
	exit 0
fi
case "$OUT" in
-) "$HELM" template "$RELEASE" "$ROOT/helm" --namespace "$NS" "$@" ;;
*/)
	mkdir -p "$OUT"
	"$HELM" template "$RELEASE" "$ROOT/helm" --namespace "$NS" --output-dir "$OUT" "$@" >&2
	;;
*)
	mkdir -p "$(dirname "$OUT")"
	"$HELM" template "$RELEASE" "$ROOT/helm" --namespace "$NS" "$@" >"$OUT.tmp"
	mv "$OUT.tmp" "$OUT"
	echo "render-chart: wrote $OUT" >&2
	;;
esac
