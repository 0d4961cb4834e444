#!/usr/bin/env bash
# shuntd/shuntctl refusals: each environment problem gives one clear line and exit 2.
#   shuntd_cli_test.sh SHUNTD SHUNTCTL
set -u
SHUNTD=$1
SHUNTCTL=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

if [ "$(id -u)" -ne 0 ]; then
	[ "${CI:-}" = "true" ] && fail "needs root (CI=true)"
	echo "SKIP: needs root"; exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expect() { # expect RC PATTERN -- CMD...
	local rc=$1 pat=$2; shift 3
	"$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	[ "$got" -eq "$rc" ] || fail "'$*' exited $got, expected $rc: $(cat "$tmp/err")"
	grep -q -- "$pat" "$tmp/err" || fail "'$*': stderr lacks '$pat': $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || [ "$rc" -eq 0 ] ||
		fail "'$*': expected one error line, got: $(cat "$tmp/err")"
}

expect 2 "not a cgroup v2 directory" -- "$SHUNTD" --cgroup "$tmp" --pin-dir /sys/fs/bpf/shunt-cli-test
cg2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[ -n "$cg2" ] || { echo "SKIP: no cgroup2"; exit 77; }
expect 2 "not on a bpffs mount" -- "$SHUNTD" --cgroup "$cg2" --pin-dir "$tmp/pins"
expect 2 "must run as root" -- setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$SHUNTD" --cgroup "$cg2" --pin-dir /sys/fs/bpf/shunt-cli-test
# root without the BPF capabilities (a container without them): one line that says so
expect 2 "bpf() is not permitted" -- setpriv --inh-caps=-all --bounding-set=-bpf,-sys_admin,-perfmon \
	"$SHUNTD" --cgroup "$cg2" --pin-dir /sys/fs/bpf/shunt-cli-test
expect 2 "invalid value" -- "$SHUNTD" --small-writes sometimes
expect 2 "loopback" -- "$SHUNTD" --metrics 0.0.0.0:9100
if [ "${SHUNT_HAVE_CONFIG:-0}" = 1 ]; then
	echo '{"accelerate": {"excludePortz": [1]}}' >"$tmp/bad.json"
	expect 2 "unknown key" -- "$SHUNTD" --config "$tmp/bad.json" --pin-dir /sys/fs/bpf/shunt-cli-test
fi
expect 2 "no shunt state pinned" -- "$SHUNTCTL" --pin-dir /sys/fs/bpf/shunt-cli-test-none status
[ -e /sys/fs/bpf/shunt-cli-test ] && fail "a refused start left /sys/fs/bpf/shunt-cli-test"
echo ok
