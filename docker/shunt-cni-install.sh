#!/bin/sh
# shunt-cni-install install|uninstall
#
# install: copy shunt-cni into CNI_BIN_DIR (atomically) and append it to the plugin
#   chain of the node's primary CNI configuration: the first *.conflist/*.conf/*.json
#   in CNI_CONF_DIR by name, as the container runtime picks it. A single-plugin .conf
#   is converted into an equivalent .conflist (the original is kept as
#   <file>.shunt-orig, which no runtime loads, and restored on uninstall). Idempotent:
#   an existing shunt-cni entry is replaced with the current settings. If no network
#   configuration exists yet (the primary CNI is still starting), wait up to
#   SHUNT_CNI_WAIT_SECONDS (default 300) for one.
# uninstall: remove every shunt-cni entry, restore converted .conf files, remove the binary.
#
# Environment: CNI_BIN_DIR (/host/cni/bin), CNI_CONF_DIR (/host/cni/net.d),
# SHUNT_CNI_BINARY (/usr/local/bin/shunt-cni), SHUNT_CNI_SOCKET (/run/shunt/cni.sock),
# SHUNT_CNI_FAIL_POLICY (ignore), SHUNT_CNI_TIMEOUT_MS (2000), SHUNT_CNI_WAIT_SECONDS (300).
# Needs: jq, coreutils.
set -eu

BIN_DIR=${CNI_BIN_DIR:-/host/cni/bin}
CONF_DIR=${CNI_CONF_DIR:-/host/cni/net.d}
BINARY=${SHUNT_CNI_BINARY:-/usr/local/bin/shunt-cni}
SOCKET=${SHUNT_CNI_SOCKET:-/run/shunt/cni.sock}
FAIL_POLICY=${SHUNT_CNI_FAIL_POLICY:-ignore}
TIMEOUT_MS=${SHUNT_CNI_TIMEOUT_MS:-2000}
WAIT=${SHUNT_CNI_WAIT_SECONDS:-300}

log() { echo "shunt-cni-install: $*" >&2; }
die() { log "$*"; exit 1; }

# The file the runtime loads: first by name among .conf, .conflist, .json.
primary_conf() {
	for f in "$CONF_DIR"/*; do
		case "$f" in
		*.conf | *.conflist | *.json) [ -f "$f" ] && { echo "$f"; return 0; } ;;
		esac
	done
	return 1
}

# Write stdin to $1 atomically (temp file in the same dir, not matching any CNI extension).
write_atomic() {
	tmp=$(mktemp "$(dirname "$1")/.shunt-cni.XXXXXX")
	cat >"$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$1"
}

do_install() {
	[ -x "$BINARY" ] || die "$BINARY not found"
	mkdir -p "$BIN_DIR" "$CONF_DIR"
	case "$FAIL_POLICY" in ignore | fail) ;; *) die "SHUNT_CNI_FAIL_POLICY must be ignore or fail" ;; esac
	tmp=$(mktemp "$BIN_DIR/.shunt-cni.XXXXXX")
	cp "$BINARY" "$tmp" && chmod 0755 "$tmp" && mv -f "$tmp" "$BIN_DIR/shunt-cni"
	log "installed $BIN_DIR/shunt-cni"

	waited=0
	while ! conf=$(primary_conf); do
		[ "$waited" -lt "$WAIT" ] || die "no CNI network configuration in $CONF_DIR after ${WAIT}s"
		[ "$waited" -eq 0 ] && log "waiting for the primary CNI to write its configuration in $CONF_DIR"
		sleep 2
		waited=$((waited + 2))
	done
	jq -e 'type == "object"' "$conf" >/dev/null 2>&1 || die "$conf is not a JSON object"

	entry=$(jq -nc --arg s "$SOCKET" --arg p "$FAIL_POLICY" --argjson t "$TIMEOUT_MS" \
		'{type: "shunt-cni", socket: $s, failPolicy: $p, timeoutMs: $t}')
	case "$conf" in
	*.conflist)
		target=$conf
		jq --argjson e "$entry" \
			'.plugins = ([.plugins[]? | select(.type != "shunt-cni")] + [$e])' "$conf" |
			write_atomic "$target"
		;;
	*)
		if jq -e 'has("plugins")' "$conf" >/dev/null; then
			# A .json file holding a list.
			target=$conf
			jq --argjson e "$entry" \
				'.plugins = ([.plugins[] | select(.type != "shunt-cni")] + [$e])' "$conf" |
				write_atomic "$target"
		else
			target="${conf%.*}.conflist"
			jq --argjson e "$entry" \
				'{cniVersion: .cniVersion, name: .name, plugins: [del(.cniVersion, .name), $e]}' \
				"$conf" | write_atomic "$target"
			mv -f "$conf" "$conf.shunt-orig"
			log "converted $conf into $target (original kept as $conf.shunt-orig)"
		fi
		;;
	esac
	log "chained shunt-cni into $target (socket $SOCKET, failPolicy $FAIL_POLICY)"
}

do_uninstall() {
	for f in "$CONF_DIR"/*.conflist "$CONF_DIR"/*.json; do
		[ -f "$f" ] || continue
		jq -e '[.plugins[]? | select(.type == "shunt-cni")] | length > 0' "$f" >/dev/null 2>&1 || continue
		base=${f%.*}
		if [ -f "$base.conf.shunt-orig" ] && [ "$f" = "$base.conflist" ]; then
			mv -f "$base.conf.shunt-orig" "$base.conf"
			rm -f "$f"
			log "restored $base.conf"
		else
			jq '.plugins = [.plugins[] | select(.type != "shunt-cni")]' "$f" | write_atomic "$f"
			log "removed shunt-cni from $f"
		fi
	done
	rm -f "$BIN_DIR/shunt-cni"
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
*) die "usage: shunt-cni-install install|uninstall" ;;
esac
