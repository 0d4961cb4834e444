#!/bin/sh
# shunt-reloader: reload shuntd and shunt-proxy when their ConfigMap changes.
#
# kubelet updates a mounted ConfigMap in place (atomic symlink swap) but does not
# tell the processes. This loop (a sidecar sharing the pod's process namespace)
# compares the file's checksum every SHUNT_RELOAD_INTERVAL seconds; on a change it
# validates the new file (SHUNT_VALIDATE, default `shuntctl validate`) and, if it is
# valid, sends SIGHUP to every process named in SHUNT_RELOAD_TARGETS. An invalid file
# is reported once and nothing is signalled (the daemons keep the running config;
# both also refuse a bad file on SIGHUP themselves).
#
# Environment: SHUNT_CONFIG (/etc/shunt/config.json), SHUNT_RELOAD_INTERVAL (5),
# SHUNT_RELOAD_TARGETS ("shuntd shunt-proxy"), SHUNT_VALIDATE ("shuntctl validate").
set -u

CONFIG=${SHUNT_CONFIG:-/etc/shunt/config.json}
INTERVAL=${SHUNT_RELOAD_INTERVAL:-5}
TARGETS=${SHUNT_RELOAD_TARGETS:-shuntd shunt-proxy}
VALIDATE=${SHUNT_VALIDATE:-shuntctl validate}

log() { echo "shunt-reloader: $*" >&2; }

sum() { cksum <"$CONFIG" 2>/dev/null || echo missing; }

waiter=
trap '[ -n "$waiter" ] && kill "$waiter" 2>/dev/null; exit 0' TERM INT

last=$(sum)
log "watching $CONFIG every ${INTERVAL}s; targets: $TARGETS"
while :; do
	sleep "$INTERVAL" &
	waiter=$!
	wait "$waiter"
	waiter=
	cur=$(sum)
	[ "$cur" = "$last" ] && continue
	last=$cur
	# shellcheck disable=SC2086 # VALIDATE is a command line
	if ! out=$($VALIDATE "$CONFIG" 2>&1); then
		log "new $CONFIG is invalid; not reloading:"
		printf '%s\n' "$out" >&2
		continue
	fi
	for name in $TARGETS; do
		pids=$(pgrep -x "$name" || true)
		if [ -z "$pids" ]; then
			log "no $name process to reload"
			continue
		fi
		for pid in $pids; do
			if kill -HUP "$pid"; then
				log "config changed: sent SIGHUP to $name (pid $pid)"
			fi
		done
	done
done
