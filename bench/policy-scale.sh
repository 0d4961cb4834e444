#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The seed's scale, end to end in the kernel: shuntd loads the policy of a
# mesh of N services (default 20,000 services x 8 rules = 160,000 rules) into
# its BPF maps, then takes one policy change by SIGHUP.
#
#   bench/policy-scale.sh [-b BUILD_DIR] [-s SERVICES]
#
# Prints the time from start to "ready" (parse + validate + compile + map
# writes), the number of L4 map entries, and for each SIGHUP (one rule's port
# changed, then nothing changed) shuntd's own line: config time, map time and
# how many map entries were written and deleted. shuntd runs on a private
# cgroup (no process in it) and a private pin dir, both removed on exit.
# Needs root.
set -euo pipefail

BUILD=build
SVC=20000
while getopts "b:s:h" o; do
	case $o in
	b) BUILD=$OPTARG ;;
	s) SVC=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
SHUNTD=$BUILD/sockmap/shuntd
GEN=$BUILD/config/shunt-config-bench
[ "$(id -u)" = 0 ] || { echo "policy-scale.sh: needs root" >&2; exit 2; }
for b in "$SHUNTD" "$GEN"; do
	[ -x "$b" ] || { echo "policy-scale.sh: $b not built" >&2; exit 2; }
done
[ "$SVC" -ge 10001 ] 2>/dev/null || { echo "policy-scale.sh: -s wants >= 10001" >&2; exit 2; }

cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
W=$(mktemp -d /tmp/shunt-policy-scale.XXXXXX)
CG=$cg2/shunt-policy-scale-$$
PIN=/sys/fs/bpf/shunt-policy-scale-$$
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rmdir "$CG" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT

"$GEN" --services "$SVC" --write-mesh "$W/mesh.json"
chmod 644 "$W/mesh.json"
mkdir "$CG"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
# read shuntd's output until a line matches the glob $1 (30 s bound); leaves it in $line
wait_line() {
	local end=$((SECONDS + 30))
	while [ "$SECONDS" -lt "$end" ] && IFS= read -r -t 30 -u 7 line; do
		# shellcheck disable=SC2053 # $1 is a glob pattern
		[[ $line == $1 ]] && return 0
	done
	echo "policy-scale.sh: shuntd never printed '$1'" >&2
	exit 1
}

t0=$(now)
coproc SD { exec "$SHUNTD" --cgroup "$CG" --pin-dir "$PIN" --config "$W/mesh.json" --ready-fd 1 2>&1; }
pid=$SD_PID
exec 7<&"${SD[0]}"
wait_line "shuntd: attached connect4/connect6/getsockopt*"
entries=$(sed -E 's/.* ([0-9]+) L4 entries.*/\1/' <<<"$line")
wait_line ready
echo "start to ready: $(since "$t0") s ($entries L4 entries in the kernel map)"

# one rule changed: svc10000's rule for svc10002 moves from port 9001 to 9101
from='"cluster.local/ns/ns2/sa/svc10002"]}}], "to": [{"operation": {"ports": ["9001"]'
to='"cluster.local/ns/ns2/sa/svc10002"]}}], "to": [{"operation": {"ports": ["9101"]'
grep -qF "$from" "$W/mesh.json" || { echo "policy-scale.sh: rule to edit not found" >&2; exit 1; }
sed -i "s#${from//\[/\\[}#${to}#" "$W/mesh.json"
grep -qF "$to" "$W/mesh.json" || { echo "policy-scale.sh: edit failed" >&2; exit 1; }
for what in "one rule changed" "nothing changed"; do
	t0=$(now)
	kill -HUP "$pid"
	wait_line "shuntd: reloaded: *"
	echo "SIGHUP, $what: $(since "$t0") s; shuntd: ${line#*L4 entries; }"
done
