#!/usr/bin/env bash
# shuntd + shuntctl end to end on one simulated pod (run under with-pods.sh --pod 1:a):
# --ready-fd, status/conns (human and JSON), Prometheus metrics, SIGHUP reload, SIGTERM cleanup.
#   shuntd_status_test.sh SHUNTD SHUNTCTL
set -euo pipefail
SHUNTD=$1
SHUNTCTL=$2
CG=$SHUNT_NODE1_CGROUP
PIN=$SHUNT_PIN_DIR/shunt
POD_EXEC=${SHUNT_POD_EXEC:?run under with-pods.sh}
exec 18>&2 # the test's stderr, also where a command's own stderr is redirected
fail() { echo "FAIL: $*" >&18; exit 1; }
tmp=$(mktemp -d)
spid='' watchdog=''
cleanup() {
	# the watchdog subshell, then its sleep (an orphaned sleep would hold our output open)
	if [ -n "$watchdog" ]; then
		local kids
		kids=$(pgrep -P "$watchdog" || true)
		kill "$watchdog" 2>/dev/null || true
		echo "$kids" | xargs -r kill 2>/dev/null || true
	fi
	[ -n "$spid" ] && kill "$spid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
# Every step is bounded, yet this test twice hit ctest's 120 s timeout in CI
# with no output. A timestamped trace and a 90 s watchdog make a recurrence
# say where it stood and what every process of the run was waiting in.
exec 19>"$tmp/trace"
BASH_XTRACEFD=19
PS4='+ $(date +%T.%N) ${LINENO}: '
set -x
main=$$
(
	sleep 90
	{
		echo "WATCHDOG: still running after 90 s; last steps:"
		tail -n 25 "$tmp/trace"
		find "${SHUNT_RUN_CGROUP:?}" -name cgroup.procs -exec cat {} + 2>/dev/null |
			while read -r pid; do
				echo "pid $pid wchan=$(cat "/proc/$pid/wchan" 2>/dev/null):" \
					"$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline")"
			done
	} >&2
	kill -TERM "$main"
) &
watchdog=$!

# Read shuntd's output (stderr, plus "ready" from --ready-fd 1) line by line until one
# matches the glob pattern $1 as a whole (a substring match once took "already in use"
# for "ready"); the line is left in $line, every line is kept in shuntd.log. The read
# timeout only detects a hang.
wait_line() {
	local end=$((SECONDS + 30)) # a total bound, not only per line
	while [ "$SECONDS" -lt "$end" ] && IFS= read -r -t 20 -u 7 line; do
		echo "$line" >>"$tmp/shuntd.log"
		# shellcheck disable=SC2053 # $1 is a glob pattern
		[[ $line == $1 ]] && return 0
	done
	fail "shuntd never printed '$1': $(cat "$tmp/shuntd.log")"
}

# flags and the config file's accelerate section add up (without config/: flags only)
cfgargs=()
expect_ports="[9]" expect_inc='["10.250.0.0/16"]' expect_exc='["10.250.9.0/24"]'
if [ "${SHUNT_HAVE_CONFIG:-0}" = 1 ]; then
	cat >"$tmp/cfg.json" <<EOF
{"accelerate": {"excludePorts": [25], "includeCidrs": ["fd00:250::/32"], "excludeCidrs": ["10.250.8.0/24"]}}
EOF
	cfgargs=(--config "$tmp/cfg.json")
	expect_ports="[9, 25]"
	expect_inc='["10.250.0.0/16", "fd00:250::/32"]'
	expect_exc='["10.250.8.0/24", "10.250.9.0/24"]'
fi
coproc SD {
	exec "$SHUNTD" --cgroup "$CG" --pin-dir "$PIN" --ready-fd 1 --metrics 127.0.0.1:0 \
		--exclude-port 9 --include-cidr 10.250.0.0/16 --exclude-cidr 10.250.9.0/24 \
		"${cfgargs[@]}" 2>&1
}
spid=$SD_PID
exec 7<&"${SD[0]}" # bash unsets SD when shuntd exits; keep our own descriptor
# port 0: shuntd takes a free port and names it (a fixed port may be in use)
wait_line "shuntd: attached sockops to *; metrics on 127.0.0.1:*"
port=${line##*:}
[[ $port =~ ^[1-9][0-9]*$ ]] || fail "no metrics port in: $line"
wait_line ready

# Every command below that could block is bounded: after 20 s it fails the test,
# naming the step and where the command waits in the kernel.
bounded() {
	local p r=0
	"$@" &
	p=$!
	for _ in $(seq 400); do
		kill -0 "$p" 2>/dev/null || break
		sleep 0.05 # a deadline on a condition, not a synchronisation
	done
	if kill -0 "$p" 2>/dev/null; then
		echo "stalled 20 s: $* (pid $p, wchan $(cat "/proc/$p/wchan" 2>/dev/null)):" >&18
		cat "/proc/$p/stack" >&18 2>/dev/null || true
		{
			echo "first shuntd (pid $spid): $(ps -o stat=,comm= -p "$spid" || echo gone)"
			for f in "$tmp"/*.log; do echo "--- $f"; cat "$f"; done
			# the first shuntd's output not read yet
			timeout 1 cat <&7 || true
		} >&18 2>&1
		kill -9 "$p" 2>/dev/null || true
		fail "stalled: $*"
	fi
	wait "$p" || r=$?
	return "$r"
}

# a second shuntd on the same pin dir refuses and disturbs nothing
if bounded "$SHUNTD" --cgroup "$CG" --pin-dir "$PIN" 2>"$tmp/second.log"; then
	fail "second shuntd started"
fi
grep -q "another shuntd (pid $spid) owns" "$tmp/second.log" || fail "second: $(cat "$tmp/second.log")"

# loopback ping-pong inside pod a; lists the connections while they are open
# (socket timeouts: recv waits in poll(), which copes with the spurious EAGAIN a
# blocking recv() can see on a redirected socket, and a stall fails with a reason)
timeout 30 "$POD_EXEC" a python3 - "$SHUNTCTL" "$PIN" >"$tmp/conns.json" <<'PY' ||
import socket, subprocess, sys
socket.setdefaulttimeout(10)
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(("127.0.0.1", s.getsockname()[1])); a, _ = s.accept()
for i in range(20):
    c.sendall(b"q" * 500); d = b""
    while len(d) < 500: d += a.recv(4096)
    a.sendall(b"r" * 500); d = b""
    while len(d) < 500: d += c.recv(4096)
sys.stdout.write(subprocess.run([sys.argv[1], "--pin-dir", sys.argv[2], "conns", "--json"],
                                check=True, capture_output=True, text=True, timeout=10).stdout)
PY
	fail "ping-pong in pod a failed or stalled"
python3 - "$tmp/conns.json" <<'PY' || fail "conns --json: $(cat "$tmp/conns.json")"
import json, sys
conns = json.load(open(sys.argv[1]))
assert len(conns) == 2, conns
assert {c["side"] for c in conns} == {"client", "server"}, conns
assert all(c["state"] == "redirect" and c["msgs_redirected"] == 20 for c in conns), conns
assert all(c["bytes_redirected"] == 10000 and c["netns"] != 0 for c in conns), conns
PY

bounded "$SHUNTCTL" --pin-dir "$PIN" status >"$tmp/status.txt" || fail "status failed"
grep -q "shuntd pid $spid (running)" "$tmp/status.txt" || fail "status: $(cat "$tmp/status.txt")"
grep -q "cgroup: *$CG" "$tmp/status.txt" || fail "status cgroup: $(cat "$tmp/status.txt")"
bounded "$SHUNTCTL" --pin-dir "$PIN" status --json >"$tmp/status.json"
check_status() { fail "status --json: $(cat "$tmp/status.json")"; }
python3 - "$tmp/status.json" "$CG" "$spid" "$expect_ports" "$expect_inc" "$expect_exc" <<'PY' || check_status
import json, sys
s = json.load(open(sys.argv[1]))
assert s["agent_running"] and s["agent_pid"] == int(sys.argv[3]) and s["cgroup"] == sys.argv[2]
assert s["counters"]["msgs_redirected"] >= 40 and s["counters"]["sockets_tracked"] >= 2
assert s["counters"]["bytes_redirected"] >= 20000 and s["mode"] == "on"
assert [p["name"] for p in s["programs"]] == ["shunt_sockops", "shunt_sk_msg"]
assert sorted(s["exclude_ports"]) == json.loads(sys.argv[4]), s["exclude_ports"]
assert sorted(s["include_cidrs"]) == json.loads(sys.argv[5]), s["include_cidrs"]
assert sorted(s["exclude_cidrs"]) == json.loads(sys.argv[6]), s["exclude_cidrs"]
assert all(p["id"] > 0 for p in s["programs"])
PY

exec 5<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.0\r\n\r\n' >&5
timeout 10 cat <&5 >"$tmp/metrics.txt" || fail "metrics: no complete answer within 10 s"
exec 5<&-
grep -q '^HTTP/1.0 200 OK' "$tmp/metrics.txt" || fail "metrics: $(head -3 "$tmp/metrics.txt")"
grep -Eq '^shunt_msgs_redirected_total [0-9]+' "$tmp/metrics.txt" || fail "metrics body"
grep -q '^# TYPE shunt_bytes_redirected_total counter' "$tmp/metrics.txt" || fail "metrics TYPE"

# SIGHUP: the same flags and the (edited) config file are applied again
if [ "${SHUNT_HAVE_CONFIG:-0}" = 1 ]; then
	echo '{"accelerate": {"excludePorts": [25, 26]}}' >"$tmp/cfg.json"
	expect_ports="[9, 25, 26]" expect_inc='["10.250.0.0/16"]' expect_exc='["10.250.9.0/24"]'
fi
kill -HUP "$spid"
wait_line "shuntd: reloaded: *"
bounded "$SHUNTCTL" --pin-dir "$PIN" status --json >"$tmp/status.json"
python3 - "$tmp/status.json" "$expect_ports" "$expect_inc" "$expect_exc" <<'PY' || check_status
import json, sys
s = json.load(open(sys.argv[1]))
assert sorted(s["exclude_ports"]) == json.loads(sys.argv[2]), s["exclude_ports"]
assert sorted(s["include_cidrs"]) == json.loads(sys.argv[3]), s["include_cidrs"]
assert sorted(s["exclude_cidrs"]) == json.loads(sys.argv[4]), s["exclude_cidrs"]
assert s["counters"]["msgs_redirected"] >= 40  # counters survive a reload
PY

kill -TERM "$spid"
wait_line "shuntd: detached and unpinned; *"
for _ in $(seq 200); do # bounded: shuntd has said it is done, it must exit now
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$spid" 2>/dev/null && fail "shuntd still running 20 s after 'detached and unpinned'"
rc=0
wait "$spid" || rc=$?
spid=
[ "$rc" -eq 0 ] || fail "shuntd exited $rc: $(cat "$tmp/shuntd.log")"
[ ! -e "$PIN" ] || fail "pins left: $(ls -R "$PIN")"
left=$(bounded bpftool cgroup show "$CG" 2>/dev/null)
[ -z "$left" ] || fail "programs left on $CG: $left"
bounded "$SHUNTCTL" --pin-dir "$PIN" status 2>/dev/null && fail "status succeeded without shuntd"

# its log reader gone (stderr a pipe nobody reads any more), shuntd still stops cleanly
mkfifo "$tmp/log"
"$SHUNTD" --cgroup "$CG" --pin-dir "$PIN" 2>"$tmp/log" &
spid=$!
exec 6<"$tmp/log"
line=
while [[ $line != "shuntd: attached sockops to "* ]]; do
	IFS= read -r -t 20 -u 6 line || fail "shuntd (log reader to go away) did not start"
done
exec 6<&- # the reader is gone: shuntd's next log line meets EPIPE
kill -TERM "$spid"
for _ in $(seq 200); do # bounded: a stopping shuntd exits at once
	kill -0 "$spid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$spid" 2>/dev/null && fail "shuntd with its log reader gone still running after 20 s"
rc=0
wait "$spid" || rc=$?
spid=
[ "$rc" -eq 0 ] || fail "shuntd with its log reader gone exited $rc (SIGPIPE is 141)"
[ ! -e "$PIN" ] || fail "pins left after a stop with the log reader gone: $(ls -R "$PIN")"
echo ok
