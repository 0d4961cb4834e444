#!/usr/bin/env bash
# with-pods.sh must leave nothing behind: not after success, not after the
# test fails, not when the wrapper is interrupted, and (via --gc) not even
# after the wrapper is killed with -9. Also checks exit-status propagation.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
WP="$HERE/with-pods.sh"
"$WP" --check || exit $?

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CG2=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
fails=0

fail() {
	echo "not ok - $*"
	fails=$((fails + 1))
}

# leftovers ID: prints every object of run ID still present.
leftovers() {
	local id=$1
	ip netns list | awk '{print $1}' | grep -- "-$id-" || true
	[ ! -e "$CG2/shunt-test-$id" ] || echo "cgroup $CG2/shunt-test-$id"
	[ ! -e "/sys/fs/bpf/shunt-test-$id" ] || echo "pin dir /sys/fs/bpf/shunt-test-$id"
	[ ! -e "/run/shunt-test/$id" ] || echo "state /run/shunt-test/$id"
	pgrep -f "shunt-teardown-marker-$id" || true
}

expect_clean() {
	local what=$1 id
	id=$(cat "$TMP/id" 2>/dev/null || true)
	if [ -z "$id" ]; then
		fail "$what: the test command never reported its run id"
		return
	fi
	local left
	left=$(leftovers "$id")
	if [ -n "$left" ]; then
		fail "$what: left behind: $left"
	else
		echo "ok - $what: nothing left of run $id"
	fi
	rm -f "$TMP/id"
}

# The command under test: records the run id, leaves a long-lived process in a
# pod and a file in the pin dir (teardown must remove both), checks that pods
# exist, then exits with $1 or blocks on a fifo until killed.
cat >"$TMP/cmd.sh" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
echo "$SHUNT_RUN_ID" >"$TMPDIR_T/id.tmp"
[ -e "$SHUNT_POD_A_NETNS" ] && [ -d "$SHUNT_POD_A_CGROUP" ] && [ -d "$SHUNT_NODE2_CGROUP/c" ]
mkdir "$SHUNT_PIN_DIR/marker" # bpffs holds only dirs and pins
# a process inside pod a, blocked forever on a fifo nobody writes
mkfifo "$TMPDIR_T/block-$SHUNT_RUN_ID"
"$SHUNT_POD_EXEC" a bash -c "exec -a shunt-teardown-marker-$SHUNT_RUN_ID cat $TMPDIR_T/block-$SHUNT_RUN_ID" &
# wait until that process is really in the pod's cgroup
while ! grep -q . "$SHUNT_POD_A_CGROUP/cgroup.procs"; do :; done
mv "$TMPDIR_T/id.tmp" "$TMPDIR_T/id"
if [ "$1" = block ]; then
	echo ready
	read -r _ <"$TMPDIR_T/block-$SHUNT_RUN_ID"
fi
exit "$1"
EOF
chmod +x "$TMP/cmd.sh"
export TMPDIR_T=$TMP
PODS=(--nodes 2 --pod 1:a --pod 2:c)

# 1. success
set +e
"$WP" "${PODS[@]}" -- "$TMP/cmd.sh" 0
st=$?
set -e
[ "$st" -eq 0 ] || fail "success run exited $st"
expect_clean "after success"

# 2. failing test: status propagates, still cleaned
set +e
"$WP" "${PODS[@]}" -- "$TMP/cmd.sh" 3
st=$?
set -e
[ "$st" -eq 3 ] || fail "failing run exited $st, want 3"
expect_clean "after a failing test"

# start_blocked: runs the wrapper as a coprocess (WPC_PID is the wrapper itself)
# and waits for the test command's "ready" line; EOF means it died early.
start_blocked() {
	coproc WPC { exec "$WP" "${PODS[@]}" -- "$TMP/cmd.sh" block; }
	local line=""
	read -r line <&"${WPC[0]}" || true
	[ "$line" = ready ]
}

# 3. SIGTERM and SIGINT to the wrapper while the test blocks
for sig in TERM INT; do
	if ! start_blocked; then
		fail "SIG$sig: test command did not start"
		continue
	fi
	wp=$WPC_PID
	kill -"$sig" "$wp"
	set +e
	wait "$wp"
	st=$?
	set -e
	[ "$st" -ne 0 ] || fail "SIG$sig: wrapper exited 0"
	expect_clean "after SIG$sig"
done

# 4. kill -9 of the wrapper leaves state; --gc collects it
if start_blocked; then
	wp=$WPC_PID
	kill -9 "$wp"
	wait "$wp" 2>/dev/null || true
	id=$(cat "$TMP/id")
	[ -n "$(leftovers "$id")" ] || fail "kill -9 left nothing to collect (test is vacuous)"
	"$WP" --gc
	expect_clean "after kill -9 and --gc"
else
	fail "kill -9: test command did not start"
fi

# 5. bad arguments are refused before anything is created
for bad in "--pod 1:Bad" "--pod 3:x" "--pod 1:a --pod 1:a" "--pod nonode"; do
	set +e
	# shellcheck disable=SC2086
	out=$("$WP" $bad -- touch "$TMP/ran" 2>&1)
	st=$?
	set -e
	[ "$st" -eq 2 ] || fail "'$bad': exit $st, want 2"
	[ ! -e "$TMP/ran" ] || fail "'$bad': the command ran"
	case $out in *"with-pods: "*) ;; *) fail "'$bad': no error message" ;; esac
	case $out in *"SHUNT_RUN_ID"*|*collecting*) fail "'$bad': created state" ;; esac
done
echo "ok - bad arguments exit 2 before anything is created"

if [ "$fails" -ne 0 ]; then
	echo "harness_teardown: $fails failed"
	exit 1
fi
echo "harness_teardown: all passed"
