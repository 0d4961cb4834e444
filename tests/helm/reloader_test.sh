#!/usr/bin/env bash
# docker/shunt-reloader.sh: a ConfigMap-style update (atomic symlink swap, as the kubelet
# does it) makes the reloader validate the file and SIGHUP the target processes; an
# invalid file is reported and NOT signalled; SIGTERM stops it. Synchronisation is by
# blocking reads on FIFOs (the reloader's log lines, the target's "hup" lines).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RELOADER=$HERE/../../docker/shunt-reloader.sh
WORK=$(mktemp -d /tmp/shunt-reloader.XXXXXX)
NAME=shfk$$ # target process name (comm), unique to this run, <= 15 chars
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }

# The config as the kubelet lays out a ConfigMap volume: file -> ..data/file, ..data -> ..<ts>.
mkdir -p "$WORK/cm/..v1"
echo '{"ok":true,"v":1}' >"$WORK/cm/..v1/config.json"
ln -s ..v1 "$WORK/cm/..data"
ln -s ..data/config.json "$WORK/cm/config.json"
swap() { # version json
	mkdir "$WORK/cm/..$1"
	echo "$2" >"$WORK/cm/..$1/config.json"
	ln -s "..$1" "$WORK/cm/..data.tmp"
	mv -T "$WORK/cm/..data.tmp" "$WORK/cm/..data"
}

# A stand-in daemon: reports each SIGHUP with the config it would reload.
cat >"$WORK/$NAME" <<TARGET
#!/bin/bash
trap 'echo "hup \$(cat "$WORK/cm/config.json")" >&3' HUP
echo ready >&3
# No child process: block in the read builtin on a FIFO nobody writes (a trapped
# signal interrupts it, the trap runs, the loop goes on).
while :; do read -r -t 3600 <>"$WORK/never.fifo" || :; done
TARGET
chmod +x "$WORK/$NAME"
mkfifo "$WORK/target.fifo" "$WORK/log.fifo" "$WORK/never.fifo"
"$WORK/$NAME" 3>"$WORK/target.fifo" &
pids+=($!)
exec 3<"$WORK/target.fifo"
if ! read -r -t 30 line <&3 || [ "$line" != ready ]; then
	echo "target did not start"
	exit 1
fi

SHUNT_CONFIG=$WORK/cm/config.json SHUNT_RELOAD_INTERVAL=1 SHUNT_RELOAD_TARGETS="$NAME shfk-absent" \
	SHUNT_VALIDATE="jq -e .ok" "$RELOADER" 2>"$WORK/log.fifo" &
rpid=$!
pids+=("$rpid")
exec 4<"$WORK/log.fifo"
# until_log PATTERN: read the reloader's log until a line matches (30 s cap).
until_log() {
	local l
	while read -r -t 30 l <&4; do
		echo "  reloader: $l"
		case "$l" in *$1*) return 0 ;; esac
	done
	return 1
}
if until_log "watching"; then ok "reloader started"; else bad "reloader did not start"; fi

swap v2 '{"ok":true,"v":2}'
if read -r -t 30 line <&3 && [ "$line" = 'hup {"ok":true,"v":2}' ]; then ok "valid update -> SIGHUP (target saw v2)"; else bad "valid update: got '${line:-nothing}'"; fi
if until_log "no shfk-absent process"; then ok "missing target reported"; else bad "missing target not reported"; fi

swap v3 '{"ok":false,"v":3}'
if until_log "invalid; not reloading"; then ok "invalid update reported"; else bad "invalid update not reported"; fi
swap v4 '{"ok":true,"v":4}'
# Had the invalid file been signalled, its "hup" line (v3) would come first.
if read -r -t 30 line <&3 && [ "$line" = 'hup {"ok":true,"v":4}' ]; then ok "invalid update not signalled; next valid one is"; else bad "after invalid: got '${line:-nothing}'"; fi

kill -TERM "$rpid"
if wait "$rpid"; then ok "SIGTERM: reloader exits 0"; else bad "SIGTERM: reloader exit $?"; fi

echo "reloader_test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
