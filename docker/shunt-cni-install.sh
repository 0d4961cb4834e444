#!/bin/sh
# shunt-cni-install install|uninstall|token-watch
#
# install: copy shunt-cni into CNI_BIN_DIR (atomically) and append it to the plugin
#   chain of the node's primary CNI configuration: the first *.conflist/*.conf/*.json
#   in CNI_CONF_DIR by name, as the container runtime picks it. A single-plugin .conf
#   is converted into an equivalent .conflist (the original is kept as
#   <file>.shunt-orig, which no runtime loads, and restored on uninstall). Idempotent:
#   an existing shunt-cni entry is replaced with the current settings. If no network
#   configuration exists yet (the primary CNI is still starting), wait up to
#   SHUNT_CNI_WAIT_SECONDS (default 300) for one.
#   With SHUNT_CNI_KUBECONFIG (the path the plugin sees on the node; it must be
#   <host CNI conf dir>/shunt-kubeconfig) install first writes, in CNI_CONF_DIR, a JSON
#   kubeconfig for the in-cluster API server (KUBERNETES_SERVICE_HOST/_PORT, the cluster
#   CA inline) and a copy of this pod's service account token (shunt-cni-token, named by
#   the kubeconfig's relative tokenFile), both mode 0600 and replaced atomically; the
#   entry then carries kubeconfig, apiFailure and apiTimeoutMs. Without it, both files
#   of an earlier install are removed.
# uninstall: remove every shunt-cni entry, restore converted .conf files, remove the
#   binary, the kubeconfig and the token copy.
# token-watch: keep the token copy equal to the pod's (the kubelet rotates projected
#   tokens) every SHUNT_CNI_TOKEN_POLL_SECONDS (60) until SIGTERM; only while the
#   kubeconfig exists (an uninstall is not undone).
#
# Environment: CNI_BIN_DIR (/host/cni/bin), CNI_CONF_DIR (/host/cni/net.d),
# SHUNT_CNI_BINARY (/usr/local/bin/shunt-cni), SHUNT_CNI_SOCKET (/run/shunt/cni.sock),
# SHUNT_CNI_FAIL_POLICY (ignore), SHUNT_CNI_TIMEOUT_MS (2000), SHUNT_CNI_WAIT_SECONDS (300),
# SHUNT_CNI_KUBECONFIG (unset), SHUNT_CNI_API_FAILURE (fail), SHUNT_CNI_API_TIMEOUT_MS (2000),
# SHUNT_CNI_SA_DIR (/var/run/secrets/kubernetes.io/serviceaccount),
# SHUNT_CNI_TOKEN_POLL_SECONDS (60).
# Needs: jq, coreutils.
set -eu

BIN_DIR=${CNI_BIN_DIR:-/host/cni/bin}
CONF_DIR=${CNI_CONF_DIR:-/host/cni/net.d}
BINARY=${SHUNT_CNI_BINARY:-/usr/local/bin/shunt-cni}
SOCKET=${SHUNT_CNI_SOCKET:-/run/shunt/cni.sock}
FAIL_POLICY=${SHUNT_CNI_FAIL_POLICY:-ignore}
TIMEOUT_MS=${SHUNT_CNI_TIMEOUT_MS:-2000}
WAIT=${SHUNT_CNI_WAIT_SECONDS:-300}
KUBECONFIG_HOST=${SHUNT_CNI_KUBECONFIG:-}
API_FAILURE=${SHUNT_CNI_API_FAILURE:-fail}
API_TIMEOUT_MS=${SHUNT_CNI_API_TIMEOUT_MS:-2000}
SA_DIR=${SHUNT_CNI_SA_DIR:-/var/run/secrets/kubernetes.io/serviceaccount}
POLL=${SHUNT_CNI_TOKEN_POLL_SECONDS:-60}
# In CNI_CONF_DIR; no .conf/.conflist/.json suffix, so no runtime loads them.
KUBECONFIG_NAME=shunt-kubeconfig
TOKEN_NAME=shunt-cni-token

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

# Write stdin to $1 atomically, readable by root only (a secret, or names one).
write_private() {
	tmp=$(mktemp "$(dirname "$1")/.shunt-cni.XXXXXX")
	cat >"$tmp" && chmod 0600 "$tmp" && mv -f "$tmp" "$1"
}

# This pod's service account token, copied for the plugin (mktemp makes it 0600 from
# the start). Unchanged tokens are not rewritten.
copy_token() {
	[ -s "$SA_DIR/token" ] || die "no service account token in $SA_DIR (automountServiceAccountToken off?)"
	cmp -s "$SA_DIR/token" "$CONF_DIR/$TOKEN_NAME" 2>/dev/null && return 0
	write_private "$CONF_DIR/$TOKEN_NAME" <"$SA_DIR/token"
	log "service account token for shunt-cni updated"
}

# The kubeconfig shunt-cni reads (JSON form): in-cluster server, CA inline, and the token
# by a relative tokenFile, which resolves next to the kubeconfig on the node.
write_kubeconfig() {
	[ -n "${KUBERNETES_SERVICE_HOST:-}" ] || die "KUBERNETES_SERVICE_HOST is not set"
	host=$KUBERNETES_SERVICE_HOST
	case "$host" in *:*) host="[$host]" ;; esac
	[ -s "$SA_DIR/ca.crt" ] || die "no $SA_DIR/ca.crt"
	copy_token
	ca=$(base64 -w0 "$SA_DIR/ca.crt")
	jq -n --arg s "https://$host:${KUBERNETES_SERVICE_PORT:-443}" --arg ca "$ca" \
		--arg t "$TOKEN_NAME" \
		'{apiVersion: "v1", kind: "Config",
		  clusters: [{name: "local", cluster: {server: $s, "certificate-authority-data": $ca}}],
		  users: [{name: "shunt-cni", user: {tokenFile: $t}}],
		  contexts: [{name: "shunt-cni", context: {cluster: "local", user: "shunt-cni"}}],
		  "current-context": "shunt-cni"}' | write_private "$CONF_DIR/$KUBECONFIG_NAME"
	log "wrote $CONF_DIR/$KUBECONFIG_NAME (server https://$host:${KUBERNETES_SERVICE_PORT:-443})"
}

remove_kubeconfig() {
	# The kubeconfig first: token-watch stops refreshing once it is gone.
	rm -f "$CONF_DIR/$KUBECONFIG_NAME" "$CONF_DIR/$TOKEN_NAME"
}

is_uint() { case "$1" in '' | *[!0-9]*) return 1 ;; esac }

do_install() {
	[ -x "$BINARY" ] || die "$BINARY not found"
	mkdir -p "$BIN_DIR" "$CONF_DIR"
	case "$FAIL_POLICY" in ignore | fail) ;; *) die "SHUNT_CNI_FAIL_POLICY must be ignore or fail" ;; esac
	if [ -n "$KUBECONFIG_HOST" ]; then
		case "$KUBECONFIG_HOST" in
		/*/"$KUBECONFIG_NAME") ;;
		*) die "SHUNT_CNI_KUBECONFIG must be an absolute path ending in /$KUBECONFIG_NAME" ;;
		esac
		case "$API_FAILURE" in ignore | fail) ;; *) die "SHUNT_CNI_API_FAILURE must be ignore or fail" ;; esac
		if ! { is_uint "$API_TIMEOUT_MS" && [ "$API_TIMEOUT_MS" -ge 1 ] && [ "$API_TIMEOUT_MS" -le 60000 ]; }; then
			die "SHUNT_CNI_API_TIMEOUT_MS must be 1..60000"
		fi
		# Before the entry that names it, so the plugin never sees a missing kubeconfig.
		write_kubeconfig
	fi
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
	if [ -n "$KUBECONFIG_HOST" ]; then
		entry=$(echo "$entry" | jq -c --arg k "$KUBECONFIG_HOST" --arg af "$API_FAILURE" \
			--argjson at "$API_TIMEOUT_MS" '. + {kubeconfig: $k, apiFailure: $af, apiTimeoutMs: $at}')
	fi
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
	log "chained shunt-cni into $target (socket $SOCKET, failPolicy $FAIL_POLICY${KUBECONFIG_HOST:+, kubeconfig $KUBECONFIG_HOST, apiFailure $API_FAILURE})"
	# Without the API lookup, no token of an earlier install stays on the node.
	[ -n "$KUBECONFIG_HOST" ] || remove_kubeconfig
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
	remove_kubeconfig
}

# Long-running (the chart's cni-token container): the kubelet refreshes projected tokens
# at 80% of their lifetime (>= 10 min before expiry), so a 60 s poll is ample.
do_token_watch() {
	if ! { is_uint "$POLL" && [ "$POLL" -ge 1 ]; }; then
		die "SHUNT_CNI_TOKEN_POLL_SECONDS must be >= 1"
	fi
	sleeper=
	# PID 1 of its container ignores SIGTERM without a handler.
	trap '[ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM INT
	log "keeping $CONF_DIR/$TOKEN_NAME fresh (every ${POLL}s)"
	while :; do
		# A missing source token is logged and retried, not fatal (subshell).
		if [ -e "$CONF_DIR/$KUBECONFIG_NAME" ]; then
			(copy_token) || true
		fi
		sleep "$POLL" &
		sleeper=$!
		wait "$sleeper" || true
	done
}

case "${1:-}" in
install) do_install ;;
uninstall) do_uninstall ;;
token-watch) do_token_watch ;;
*) die "usage: shunt-cni-install install|uninstall|token-watch" ;;
esac
